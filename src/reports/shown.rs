//! What each channel was shown over time: the closed stretches in `listing_shown_history`, each
//! holding its quantity from `shown_at` until `until_at`, and each listing's open stretch on the
//! listing itself (`shown_quantity` since `shown_since`, until now).
//!
//! The channel's total shown is a step function that moves up by a stretch's quantity at its
//! start and down by it at its end (an open stretch has none yet). The database sums those steps
//! per channel and UTC hour (and once for everything before the range), reading each row alone
//! (no window pairing rows); the report integrates them per period:
//! ∫ₐᵇ S dt = S(a)·(b − a) + Σ over steps at t in [a, b) of step·(b − t).

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use crate::ledger::error::DatabaseContext;
use crate::ledger::LedgerError;
use crate::reports::periods::Period;
use crate::reports::sales::HOUR;

/// One channel's shown quantities over one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShownSums {
    /// ∫ Σ listings' shown quantity dt over the period, in unit-milliseconds.
    pub shown_unit_ms: i128,
    /// Σ listings' shown quantity at the period's end.
    pub shown_at_end: i64,
}

/// The steps of one channel's total in one hour (`hour` −1: everything before the range).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct HourSteps {
    channel_id: String,
    hour: i64,
    /// Σ steps.
    steps: i64,
    /// Σ step × milliseconds after the hour's start.
    step_offsets: i64,
}

/// A stretch of time (unix milliseconds) a listing showed 0, cut to the range asked for.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ZeroStretch {
    pub channel_id: String,
    pub listing_id: String,
    pub start_at: i64,
    pub end_at: i64,
}

/// Per channel, per period (`past`: each period cut at now, beginning on a whole hour).
pub(crate) async fn shown_sums(
    connection: &mut AnyConnection,
    past: &[Period],
) -> Result<BTreeMap<String, Vec<ShownSums>>, LedgerError> {
    let (Some(first), Some(last)) = (past.first(), past.last()) else {
        return Ok(BTreeMap::new());
    };
    let (from, until) = (first.start, last.end);
    // Each stretch is a step up by its quantity at its start and down by it at its end
    // (stretches at 0 step by nothing); steps before the range go to hour −1. Closed stretches
    // come from the history, keyed by listing; open ones from the listings, by channel.
    let step = |row: &str, at: &str, quantity: &str, sign: &str| {
        format!(
            "CASE WHEN {row}.{at} < $1 THEN -1 ELSE {row}.{at} / {HOUR} END AS hour, \
             {sign}{row}.{quantity} AS step, CASE WHEN {row}.{at} < $1 THEN 0 \
             ELSE {sign}{row}.{quantity} * ({row}.{at} - ({row}.{at} / {HOUR}) * {HOUR}) END \
             AS step_offset"
        )
    };
    let closed = |at: &str, sign: &str| {
        format!(
            "SELECT h.history_key, {} FROM listing_shown_history h \
             WHERE h.{at} < $2 AND h.quantity <> 0",
            step("h", at, "quantity", sign)
        )
    };
    let sql = format!(
        "SELECT s.channel_id, s.hour, CAST(SUM(s.step) AS BIGINT) AS steps, \
         CAST(SUM(s.step_offset) AS BIGINT) AS step_offsets FROM ( \
         SELECT l.channel_id, c.hour, c.step, c.step_offset \
         FROM ({} UNION ALL {}) c JOIN listings l ON l.history_key = c.history_key \
         UNION ALL SELECT o.channel_id, {} FROM listings o \
         WHERE o.shown_since < $2 AND o.shown_quantity <> 0) s \
         GROUP BY s.channel_id, s.hour",
        closed("shown_at", ""),
        closed("until_at", "-"),
        step("o", "shown_since", "shown_quantity", "")
    );
    let rows: Vec<HourSteps> = sqlx::query_as(&sql)
        .bind(from)
        .bind(until)
        .fetch_all(connection)
        .await
        .context("summing what channels were shown by hour")?;
    let mut by_channel: BTreeMap<String, Vec<HourSteps>> = BTreeMap::new();
    for row in rows {
        by_channel
            .entry(row.channel_id.clone())
            .or_default()
            .push(row);
    }
    Ok(by_channel
        .into_iter()
        .map(|(channel_id, mut hours)| {
            hours.sort_by_key(|row| row.hour);
            (channel_id, integrate(&hours, past))
        })
        .collect())
}

/// The channel's steps, sorted by hour, integrated over each period.
fn integrate(hours: &[HourSteps], past: &[Period]) -> Vec<ShownSums> {
    let mut shown = 0_i64;
    let mut next = 0;
    if let Some(before) = hours.first().filter(|row| row.hour < 0) {
        shown = before.steps;
        next = 1;
    }
    past.iter()
        .map(|period| {
            let (start, end) = (period.start, period.end);
            let mut integral = i128::from(shown) * i128::from(end - start);
            while let Some(row) = hours.get(next).filter(|row| row.hour * HOUR < end) {
                // Σ step·(end − t) = end·Σ step − Σ step·(hour start + offset).
                let steps = i128::from(row.steps);
                integral +=
                    steps * i128::from(end - row.hour * HOUR) - i128::from(row.step_offsets);
                shown += row.steps;
                next += 1;
            }
            ShownSums {
                shown_unit_ms: integral,
                shown_at_end: shown,
            }
        })
        .collect()
}

/// Every stretch in `[from, until)` a listing showed 0, cut to that range.
pub(crate) async fn zero_stretches(
    connection: &mut AnyConnection,
    from: i64,
    until: i64,
) -> Result<Vec<ZeroStretch>, LedgerError> {
    if until <= from {
        return Ok(Vec::new());
    }
    // The closed stretches at 0 from the history, then the open ones (until now) from the
    // listings.
    let sql = "SELECT l.channel_id, l.listing_id, \
         CASE WHEN h.shown_at > $1 THEN h.shown_at ELSE $1 END AS start_at, \
         CASE WHEN h.until_at > $2 THEN $2 ELSE h.until_at END AS end_at \
         FROM listing_shown_history h JOIN listings l ON l.history_key = h.history_key \
         WHERE h.quantity = 0 AND h.shown_at < $2 AND h.until_at > $1 \
         UNION ALL SELECT o.channel_id, o.listing_id, \
         CASE WHEN o.shown_since > $1 THEN o.shown_since ELSE $1 END AS start_at, $2 AS end_at \
         FROM listings o WHERE o.shown_quantity = 0 AND o.shown_since < $2";
    sqlx::query_as(sql)
        .bind(from)
        .bind(until)
        .fetch_all(connection)
        .await
        .context("reading when listings showed 0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_integrate_to_the_time_weighted_total() {
        // 6 from before the range; −6 at 12:00 (hour 12), +4 at 18:30 (hour 18, 30 minutes in).
        let hours = [
            HourSteps {
                channel_id: "c".into(),
                hour: -1,
                steps: 6,
                step_offsets: 0,
            },
            HourSteps {
                channel_id: "c".into(),
                hour: 12,
                steps: -6,
                step_offsets: 0,
            },
            HourSteps {
                channel_id: "c".into(),
                hour: 18,
                steps: 4,
                step_offsets: 4 * HOUR / 2,
            },
        ];
        let past = [
            Period {
                start: 0,
                end: 12 * HOUR,
            },
            Period {
                start: 12 * HOUR,
                end: 24 * HOUR,
            },
            Period {
                start: 24 * HOUR,
                end: 24 * HOUR,
            },
        ];
        let sums = integrate(&hours, &past);
        assert_eq!(sums[0].shown_unit_ms, 6 * 12 * i128::from(HOUR));
        assert_eq!(sums[0].shown_at_end, 6);
        // 0 for 6.5 h, then 4 for 5.5 h.
        assert_eq!(sums[1].shown_unit_ms, 4 * 11 * i128::from(HOUR) / 2);
        assert_eq!(sums[1].shown_at_end, 4);
        assert_eq!(
            sums[2],
            ShownSums {
                shown_unit_ms: 0,
                shown_at_end: 4
            }
        );
    }
}
