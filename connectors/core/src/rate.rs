//! Request rates, written the way operators and platform documentation state them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A rate of `requests` per `period`, written `"N/s"` or `"N/min"` (for example `"2/s"`,
/// `"40/min"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub period: Duration,
}

impl RateLimit {
    pub fn per_second(requests: u32) -> Self {
        Self {
            requests,
            period: Duration::from_secs(1),
        }
    }

    pub fn per_minute(requests: u32) -> Self {
        Self {
            requests,
            period: Duration::from_secs(60),
        }
    }

    /// Requests per second as a float, for comparing two limits and for reports.
    pub fn per_second_f64(&self) -> f64 {
        f64::from(self.requests) / self.period.as_secs_f64()
    }

    /// How many requests the limit allows over `window` (fractional), for budgets and panels.
    pub fn allowed_in(&self, window: Duration) -> f64 {
        f64::from(self.requests) * window.as_secs_f64()
            / self.period.as_secs_f64().max(f64::EPSILON)
    }

    /// The stricter of two limits.
    pub fn min(self, other: RateLimit) -> RateLimit {
        if other.per_second_f64() < self.per_second_f64() {
            other
        } else {
            self
        }
    }
}

/// Why a text is not a rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected \"N/s\" or \"N/min\", got \"{0}\"")]
pub struct RateLimitParseError(pub String);

impl FromStr for RateLimit {
    type Err = RateLimitParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || RateLimitParseError(text.to_string());
        let (count, unit) = text.trim().split_once('/').ok_or_else(invalid)?;
        let requests: u32 = count.trim().parse().map_err(|_| invalid())?;
        if requests == 0 {
            return Err(invalid());
        }
        match unit.trim() {
            "s" | "sec" | "second" => Ok(Self::per_second(requests)),
            "min" | "minute" => Ok(Self::per_minute(requests)),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.period == Duration::from_secs(60) {
            write!(formatter, "{}/min", self.requests)
        } else {
            write!(formatter, "{}/s", self.requests)
        }
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_in_scales_the_limit_to_a_window() {
        let minute = Duration::from_secs(60);
        assert_eq!(RateLimit::per_second(2).allowed_in(minute), 120.0);
        assert_eq!(RateLimit::per_minute(40).allowed_in(minute), 40.0);
        assert_eq!(
            RateLimit::per_minute(40).allowed_in(Duration::from_secs(30)),
            20.0
        );
    }

    #[test]
    fn parses_both_units_and_refuses_the_rest() {
        assert_eq!("2/s".parse(), Ok(RateLimit::per_second(2)));
        assert_eq!("40/min".parse(), Ok(RateLimit::per_minute(40)));
        assert_eq!(
            "fast".parse::<RateLimit>(),
            Err(RateLimitParseError("fast".into()))
        );
        assert!("0/s".parse::<RateLimit>().is_err());
        assert!("3/h".parse::<RateLimit>().is_err());
        assert_eq!(
            "fast".parse::<RateLimit>().map_err(|e| e.to_string()),
            Err("expected \"N/s\" or \"N/min\", got \"fast\"".to_string())
        );
    }

    #[test]
    fn min_picks_the_stricter_limit_and_display_round_trips() {
        let limit = RateLimit::per_second(2).min(RateLimit::per_minute(60));
        assert_eq!(limit, RateLimit::per_minute(60));
        assert_eq!(limit.to_string(), "60/min");
        assert_eq!(RateLimit::per_second(5).to_string(), "5/s");
    }
}
