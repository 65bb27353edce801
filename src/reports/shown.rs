//! What each channel was shown over each period, from `listing_shown_history`: each row holds
//! from its `shown_at` until the listing's next row (the last one until now).

use crate::ledger::db::row_set::{rows_table, ColumnType, Columns};
use crate::ledger::error::DatabaseContext;
use crate::ledger::{Ledger, LedgerError};
use crate::reports::periods::Period;
use crate::reports::sales::period_rows;

/// One channel's shown quantities over one period.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ShownSums {
    pub period: i64,
    pub channel_id: String,
    /// ∫ Σ listings' shown quantity dt over the period, in unit-milliseconds.
    pub shown_unit_ms: i64,
    /// Σ listings' shown quantity at the period's end.
    pub shown_at_end: i64,
}

/// A stretch of time (unix milliseconds) a listing showed 0, cut to the range asked for.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ZeroStretch {
    pub channel_id: String,
    pub listing_id: String,
    pub start_at: i64,
    pub end_at: i64,
}

/// The end given to a listing's last row: later than any period.
const OPEN_END: i64 = 9_000_000_000_000_000;

const PERIOD_COLUMNS: Columns = &[
    ("n", ColumnType::BigInt),
    ("start_at", ColumnType::BigInt),
    ("end_at", ColumnType::BigInt),
];

/// The history as stretches `[seg_start, seg_end)` of one quantity, read up to `$2`.
fn segments_sql() -> String {
    format!(
        "WITH segments AS (SELECT h.history_key, h.quantity, h.shown_at AS seg_start, \
         COALESCE(LEAD(h.shown_at) OVER (PARTITION BY h.history_key ORDER BY h.shown_at), \
         {OPEN_END}) AS seg_end FROM listing_shown_history h WHERE h.shown_at < $2)"
    )
}

/// `periods` must already end no later than now: what is shown after now is not known.
pub(crate) async fn shown_sums(
    ledger: &Ledger,
    periods: &[Period],
) -> Result<Vec<ShownSums>, LedgerError> {
    let Some(until) = periods.iter().map(|period| period.end).max() else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "{} SELECT b.n AS period, l.channel_id, \
         CAST(SUM(s.quantity * ((CASE WHEN s.seg_end < b.end_at THEN s.seg_end ELSE b.end_at END) \
         - (CASE WHEN s.seg_start > b.start_at THEN s.seg_start ELSE b.start_at END))) AS BIGINT) \
         AS shown_unit_ms, \
         CAST(SUM(CASE WHEN s.seg_end >= b.end_at THEN s.quantity ELSE 0 END) AS BIGINT) \
         AS shown_at_end \
         FROM {} JOIN segments s ON s.seg_start < b.end_at AND s.seg_end > b.start_at \
         JOIN listings l ON l.history_key = s.history_key \
         WHERE b.end_at > b.start_at GROUP BY b.n, l.channel_id",
        segments_sql(),
        rows_table(ledger.backend(), "b", PERIOD_COLUMNS)
    );
    sqlx::query_as(&sql)
        .bind(period_rows(periods)?)
        .bind(until)
        .fetch_all(ledger.pool())
        .await
        .context("summing what channels were shown by period")
}

/// Every stretch in `[from, until)` a listing showed 0, cut to that range.
pub(crate) async fn zero_stretches(
    ledger: &Ledger,
    from: i64,
    until: i64,
) -> Result<Vec<ZeroStretch>, LedgerError> {
    if until <= from {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{} SELECT l.channel_id, l.listing_id, \
         CASE WHEN s.seg_start > $1 THEN s.seg_start ELSE $1 END AS start_at, \
         CASE WHEN s.seg_end < $2 THEN s.seg_end ELSE $2 END AS end_at \
         FROM segments s JOIN listings l ON l.history_key = s.history_key \
         WHERE s.quantity = 0 AND s.seg_end > $1 ORDER BY l.channel_id, l.listing_id, start_at",
        segments_sql()
    );
    sqlx::query_as(&sql)
        .bind(from)
        .bind(until)
        .fetch_all(ledger.pool())
        .await
        .context("reading when listings showed 0")
}
