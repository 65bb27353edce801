//! Decimal amounts as platforms write them (`"19.99"`) turned into integer minor units, exactly
//! (no floating point): an amount with more decimals than its currency has is refused, not
//! rounded.

/// Digits of the minor unit of an ISO 4217 currency: 0 for the currencies without a minor
/// unit, 3 for the dinars and rials that have thousandths, 2 for every other code.
pub fn iso_exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `amount` (an optional `-`, digits, optionally `.` and digits) in units of 10^-`exponent`:
/// `"19.99"` at 2 is 1999, `"5"` at 2 is 500. `None` when it is not such a decimal, has
/// non-zero digits beyond `exponent` decimals, or does not fit an `i64`.
pub fn decimal_to_minor(amount: &str, exponent: u32) -> Option<i64> {
    let amount = amount.trim();
    let (negative, unsigned) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    let width = exponent as usize;
    if fraction.len() > width && fraction[width..].bytes().any(|byte| byte != b'0') {
        return None;
    }
    let kept = &fraction[..fraction.len().min(width)];
    let scaled = format!("{whole}{kept:0<width$}");
    let value: i64 = scaled.parse().ok()?;
    Some(if negative { -value } else { value })
}

/// `amount` in minor units of the ISO 4217 `currency` (see [`iso_exponent`]).
pub fn minor_units(amount: &str, currency: &str) -> Option<i64> {
    decimal_to_minor(amount, iso_exponent(currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_scale_by_the_currency_exponent() {
        assert_eq!(minor_units("19.99", "USD"), Some(1999));
        assert_eq!(minor_units("5", "EUR"), Some(500));
        assert_eq!(minor_units("5.5", "EUR"), Some(550));
        assert_eq!(minor_units("12.30", "GBP"), Some(1230));
        assert_eq!(minor_units("0.01", "USD"), Some(1));
        assert_eq!(minor_units("1500", "JPY"), Some(1500));
        assert_eq!(minor_units("1500.00", "JPY"), Some(1500));
        assert_eq!(minor_units("1.234", "KWD"), Some(1234));
        assert_eq!(minor_units("-3.10", "USD"), Some(-310));
        assert_eq!(minor_units(".5", "USD"), Some(50));
    }

    #[test]
    fn inexact_or_malformed_amounts_are_refused() {
        assert_eq!(minor_units("1.005", "USD"), None);
        assert_eq!(minor_units("1500.5", "JPY"), None);
        assert_eq!(minor_units("abc", "USD"), None);
        assert_eq!(minor_units("1.x", "USD"), None);
        assert_eq!(minor_units("1e3", "USD"), None);
        assert_eq!(minor_units("", "USD"), None);
        assert_eq!(minor_units(".", "USD"), None);
        assert_eq!(minor_units("+1", "USD"), None);
        assert_eq!(minor_units("99999999999999999999", "USD"), None);
    }
}
