//! The periods of a report: UTC days, ISO weeks (Monday to Monday) or calendar months,
//! cut to the report's range.

use chrono::{DateTime, Datelike, Duration, DurationRound, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// How long each period of a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Day,
    Week,
    Month,
}

impl Granularity {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "day" => Some(Granularity::Day),
            "week" => Some(Granularity::Week),
            "month" => Some(Granularity::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }
}

/// One period: `[start, end)` in unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Period {
    pub start: i64,
    pub end: i64,
}

/// The periods covering `[from, to)`: the first starts at `from`, the last ends at `to`, and
/// every boundary between them is a day's, a week's or a month's start (UTC).
pub(crate) fn periods(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    granularity: Granularity,
) -> Vec<Period> {
    let mut periods = Vec::new();
    let mut start = from;
    while start < to {
        let next = next_boundary(start, granularity).min(to);
        periods.push(Period {
            start: start.timestamp_millis(),
            end: next.timestamp_millis(),
        });
        start = next;
    }
    periods
}

/// The period holding `instant` (unix milliseconds), if any; `periods` are contiguous.
pub(crate) fn period_of(periods: &[Period], instant: i64) -> Option<usize> {
    let after = periods.partition_point(|period| period.start <= instant);
    let index = after.checked_sub(1)?;
    periods
        .get(index)
        .filter(|period| instant < period.end)
        .map(|_| index)
}

/// `instant` rounded down to a whole UTC hour.
pub(crate) fn hour_floor(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant
        .duration_trunc(Duration::hours(1))
        .unwrap_or(instant)
}

/// `instant` rounded up to a whole UTC hour.
pub(crate) fn hour_ceil(instant: DateTime<Utc>) -> DateTime<Utc> {
    let floor = hour_floor(instant);
    if floor == instant {
        instant
    } else {
        floor + Duration::hours(1)
    }
}

/// The first day, week or month boundary after `instant`.
fn next_boundary(instant: DateTime<Utc>, granularity: Granularity) -> DateTime<Utc> {
    let day = instant.date_naive();
    let next_day = match granularity {
        Granularity::Day => day + Duration::days(1),
        Granularity::Week => {
            day + Duration::days(7 - i64::from(day.weekday().num_days_from_monday()))
        }
        Granularity::Month => {
            let (year, month) = if day.month() == 12 {
                (day.year() + 1, 1)
            } else {
                (day.year(), day.month() + 1)
            };
            NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(day + Duration::days(31))
        }
    };
    Utc.from_utc_datetime(&next_day.and_time(chrono::NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn periods_start_at_from_end_at_to_and_break_on_boundaries() {
        let days = periods(
            utc("2026-03-01T12:00:00Z"),
            utc("2026-03-03T06:00:00Z"),
            Granularity::Day,
        );
        let starts: Vec<i64> = days.iter().map(|period| period.start).collect();
        assert_eq!(
            starts,
            vec![
                utc("2026-03-01T12:00:00Z").timestamp_millis(),
                utc("2026-03-02T00:00:00Z").timestamp_millis(),
                utc("2026-03-03T00:00:00Z").timestamp_millis(),
            ]
        );
        assert_eq!(
            days.last().map(|period| period.end),
            Some(utc("2026-03-03T06:00:00Z").timestamp_millis())
        );
        // 2026-03-04 is a Wednesday: the next week starts on Monday the 9th.
        let weeks = periods(
            utc("2026-03-04T00:00:00Z"),
            utc("2026-03-20T00:00:00Z"),
            Granularity::Week,
        );
        assert_eq!(weeks.len(), 3);
        assert_eq!(
            weeks[1].start,
            utc("2026-03-09T00:00:00Z").timestamp_millis()
        );
        let months = periods(
            utc("2026-11-15T00:00:00Z"),
            utc("2027-02-01T00:00:00Z"),
            Granularity::Month,
        );
        let starts: Vec<i64> = months.iter().map(|period| period.start).collect();
        assert_eq!(
            starts,
            vec![
                utc("2026-11-15T00:00:00Z").timestamp_millis(),
                utc("2026-12-01T00:00:00Z").timestamp_millis(),
                utc("2027-01-01T00:00:00Z").timestamp_millis(),
            ]
        );
        assert!(periods(
            utc("2026-03-02T00:00:00Z"),
            utc("2026-03-01T00:00:00Z"),
            Granularity::Day
        )
        .is_empty());
        let start = utc("2026-03-04T00:00:00Z").timestamp_millis();
        assert_eq!(period_of(&weeks, start - 1), None);
        assert_eq!(period_of(&weeks, start), Some(0));
        assert_eq!(period_of(&weeks, weeks[1].start), Some(1));
        assert_eq!(period_of(&weeks, weeks[2].end), None);
        assert_eq!(
            hour_floor(utc("2026-03-04T10:59:59Z")),
            utc("2026-03-04T10:00:00Z")
        );
        assert_eq!(
            hour_ceil(utc("2026-03-04T10:00:01Z")),
            utc("2026-03-04T11:00:00Z")
        );
        assert_eq!(
            hour_ceil(utc("2026-03-04T10:00:00Z")),
            utc("2026-03-04T10:00:00Z")
        );
    }
}
