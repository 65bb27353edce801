//! Durations written the way operators write them: `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"30d"`.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Parses `"<whole number><unit>"` with unit `ms`, `s`, `m` (or `min`), `h` or `d`; zero is refused
/// because every duration in the settings is an interval that must elapse.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid =
        || format!("expected a duration like \"30s\", \"5m\" or \"500ms\", got \"{text}\"");
    let trimmed = text.trim();
    let split_at = trimmed
        .find(|character: char| !character.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (count, unit) = trimmed.split_at(split_at);
    let count: u64 = count.parse().map_err(|_| invalid())?;
    if count == 0 {
        return Err(invalid());
    }
    let milliseconds_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid()),
    };
    count
        .checked_mul(milliseconds_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(invalid)
}

/// The shortest text that [`parse_duration`] reads back as the same duration.
pub fn format_duration(duration: Duration) -> String {
    let milliseconds = duration.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if milliseconds.is_multiple_of(size) && milliseconds > 0 {
            return format!("{}{unit}", milliseconds / size);
        }
    }
    format!("{milliseconds}ms")
}

/// `#[serde(with = "duration::required")]` for a `Duration` written as text.
pub(super) mod required {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(*value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "duration::optional")]` for an `Option<Duration>` written as text.
pub(super) mod optional {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_str(&format_duration(*duration)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        text.map(|text| parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit_and_round_trips() {
        for (text, millis) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2min", 120_000),
            ("1h", 3_600_000),
            ("30d", 2_592_000_000),
        ] {
            let duration = parse_duration(text);
            assert_eq!(duration, Ok(Duration::from_millis(millis)), "{text}");
            let duration = Duration::from_millis(millis);
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(36 * 3600)), "36h");
    }

    #[test]
    fn refuses_zero_missing_units_and_unknown_units() {
        for text in ["0s", "30", "s", "", "5 days", "1.5s", "-3s"] {
            assert!(parse_duration(text).is_err(), "{text} was accepted");
        }
    }
}
