//! The figures derived from one channel's sums over one period (README "Channel reports").

/// Milliseconds in an hour and in a day.
pub(crate) const HOUR_MS: f64 = 3_600_000.0;
pub(crate) const DAY_MS: f64 = 86_400_000.0;

/// `numerator ÷ denominator`, `None` when the denominator is not positive; rounded to 4
/// decimals so that reports read (and compare) the same everywhere.
pub(crate) fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| round(numerator / denominator))
}

/// Unix milliseconds as an instant.
pub(crate) fn instant(milliseconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(milliseconds).unwrap_or_default()
}

pub(crate) fn round(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// The derived figures of a channel over a period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Derived {
    pub average_units_shown: Option<f64>,
    pub sell_through: Option<f64>,
    pub inventory_turnover: Option<f64>,
    pub days_of_cover: Option<f64>,
}

/// `elapsed_ms`: the part of the period that is past (shown quantities after now are unknown).
pub(crate) fn derive(
    units_sold: i64,
    shown_unit_ms: f64,
    shown_at_end: i64,
    elapsed_ms: i64,
) -> Derived {
    let sold = units_sold as f64;
    let average = (elapsed_ms > 0).then(|| shown_unit_ms / elapsed_ms as f64);
    let sold_per_day = (elapsed_ms > 0).then(|| sold / (elapsed_ms as f64 / DAY_MS));
    Derived {
        average_units_shown: average.map(round),
        sell_through: ratio(sold, sold + shown_at_end as f64),
        inventory_turnover: average.and_then(|average| ratio(sold, average)),
        days_of_cover: sold_per_day.and_then(|rate| ratio(shown_at_end as f64, rate)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_their_definitions_and_are_absent_without_a_base() {
        // 4 sold in a day, 96 unit-hours shown, 4 shown at the end.
        let derived = derive(4, 96.0 * 3_600_000.0, 4, 86_400_000);
        assert_eq!(derived.average_units_shown, Some(4.0));
        assert_eq!(derived.sell_through, Some(0.5));
        assert_eq!(derived.inventory_turnover, Some(1.0));
        assert_eq!(derived.days_of_cover, Some(1.0));
        let idle = derive(0, 0.0, 0, 86_400_000);
        assert_eq!(idle.sell_through, None);
        assert_eq!(idle.inventory_turnover, None);
        assert_eq!(idle.days_of_cover, None);
        assert_eq!(derive(1, 0.0, 0, 0).average_units_shown, None);
    }
}
