//! Admin API versions and what changes with them.

use std::fmt;

/// An Admin API version: a quarterly `YYYY-MM` release or `unstable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiVersion {
    Release { year: u16, month: u8 },
    Unstable,
}

/// The compare-and-set form `inventorySetQuantities` takes in a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareForm {
    /// `compareQuantity` per quantity (up to 2025-10).
    CompareQuantity,
    /// `changeFromQuantity` per quantity and an `@idempotent(key:)` directive. Shopify's
    /// changelog: 2026-01 added both (optional; a `changeFromQuantity` given overrides
    /// `compareQuantity` and `ignoreCompareQuantity`, which are deprecated, and a stale one is
    /// refused with `CHANGE_FROM_QUANTITY_STALE`); from 2026-04 every quantity must carry
    /// `changeFromQuantity` (null opts out of the check) and the directive is required at run
    /// time (the schema does not mark it).
    ChangeFromQuantity,
}

/// The versions omnistock claims: every document it sends is validated against each one's
/// schema (the contract test), and a channel configured with another is refused.
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-01", "2026-01", "2026-04"];

impl ApiVersion {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text == "unstable" {
            return Some(Self::Unstable);
        }
        let (year, month) = text.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let year: u16 = year.parse().ok()?;
        let month: u8 = month.parse().ok()?;
        // Shopify releases quarterly: January, April, July and October.
        if !matches!(month, 1 | 4 | 7 | 10) || year < 2020 {
            return None;
        }
        Some(Self::Release { year, month })
    }

    /// Whether the version is one of [`SUPPORTED_VERSIONS`].
    pub fn is_supported(self) -> bool {
        SUPPORTED_VERSIONS.contains(&self.to_string().as_str())
    }

    pub fn compare_form(self) -> CompareForm {
        if self
            >= (Self::Release {
                year: 2026,
                month: 1,
            })
        {
            CompareForm::ChangeFromQuantity
        } else {
            CompareForm::CompareQuantity
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Release { year, month } => write!(formatter, "{year:04}-{month:02}"),
            Self::Unstable => formatter.write_str("unstable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_pick_the_compare_form() {
        let form = |text: &str| ApiVersion::parse(text).map(ApiVersion::compare_form);
        assert_eq!(form("2025-01"), Some(CompareForm::CompareQuantity));
        assert_eq!(form("2025-10"), Some(CompareForm::CompareQuantity));
        assert_eq!(form("2026-01"), Some(CompareForm::ChangeFromQuantity));
        assert_eq!(form("2026-04"), Some(CompareForm::ChangeFromQuantity));
        assert_eq!(form("unstable"), Some(CompareForm::ChangeFromQuantity));
        assert_eq!(form("2025-02"), None);
        assert_eq!(form("latest"), None);
        assert_eq!(
            ApiVersion::parse("2025-07").map(|v| v.to_string()),
            Some("2025-07".into())
        );
        let supported = |text: &str| ApiVersion::parse(text).is_some_and(ApiVersion::is_supported);
        assert!(supported("2025-01") && supported("2026-01") && supported("2026-04"));
        assert!(!supported("2025-07") && !supported("unstable") && !supported("2026-07"));
    }
}
