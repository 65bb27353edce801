//! What each channel sold in each period: orders, units and money, summed by the database
//! from `orders` and `order_lines` (one statement each, the periods passed as a row set).

use serde::Serialize;

use crate::ledger::db::row_set::{rows_json, rows_table, ColumnType, Columns};
use crate::ledger::error::DatabaseContext;
use crate::ledger::{Ledger, LedgerError};
use crate::reports::periods::Period;

/// The orders of one channel placed in one period in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct OrderSums {
    pub period: i64,
    pub channel_id: String,
    pub currency: Option<String>,
    pub orders: i64,
    pub cancelled_orders: i64,
    pub oversold_orders: i64,
    /// Σ `total_minor` of the orders not cancelled that report one.
    pub orders_total_minor: i64,
}

/// The lines of those orders, in listing units.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct LineSums {
    pub period: i64,
    pub channel_id: String,
    pub currency: Option<String>,
    pub units_sold: i64,
    pub units_returned: i64,
    /// Σ unit price × units sold over the lines that have a price.
    pub revenue_minor: i64,
    /// Units sold on lines without a price.
    pub unpriced_units: i64,
}

#[derive(Serialize)]
struct PeriodRow {
    n: i64,
    start_at: i64,
    end_at: i64,
}

const PERIOD_COLUMNS: Columns = &[
    ("n", ColumnType::BigInt),
    ("start_at", ColumnType::BigInt),
    ("end_at", ColumnType::BigInt),
];

/// `periods` as a row set, numbered from 0.
pub(crate) fn period_rows(periods: &[Period]) -> Result<String, LedgerError> {
    let rows: Vec<PeriodRow> = periods
        .iter()
        .zip(0..)
        .map(|(period, n)| PeriodRow {
            n,
            start_at: period.start,
            end_at: period.end,
        })
        .collect();
    rows_json(&rows)
}

/// A booked line's units sold in listing units: what is open or shipped, over the stock units
/// one listing unit takes (a multipack's or a bundle component's count).
const UNITS_SOLD: &str = "((l.open_quantity + l.committed_quantity) / \
     CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END)";

pub(crate) async fn order_sums(
    ledger: &Ledger,
    periods: &[Period],
) -> Result<Vec<OrderSums>, LedgerError> {
    if periods.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT b.n AS period, o.channel_id, o.currency, COUNT(*) AS orders, \
         CAST(SUM(CASE WHEN o.status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled_orders, \
         CAST(SUM(CASE WHEN o.oversold <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS oversold_orders, \
         CAST(SUM(CASE WHEN o.status <> 'cancelled' AND o.total_minor IS NOT NULL \
         THEN o.total_minor ELSE 0 END) AS BIGINT) AS orders_total_minor \
         FROM {} JOIN orders o ON o.placed_at >= b.start_at AND o.placed_at < b.end_at \
         GROUP BY b.n, o.channel_id, o.currency",
        rows_table(ledger.backend(), "b", PERIOD_COLUMNS)
    );
    sqlx::query_as(&sql)
        .bind(period_rows(periods)?)
        .fetch_all(ledger.pool())
        .await
        .context("summing orders by channel and period")
}

pub(crate) async fn line_sums(
    ledger: &Ledger,
    periods: &[Period],
) -> Result<Vec<LineSums>, LedgerError> {
    if periods.is_empty() {
        return Ok(Vec::new());
    }
    // A bundle line is booked once per component, each with the line's quantity and price:
    // only its first component counts, so the platform's line counts once.
    let sql = format!(
        "SELECT b.n AS period, o.channel_id, o.currency, \
         CAST(SUM({UNITS_SOLD}) AS BIGINT) AS units_sold, \
         CAST(SUM(l.returned_quantity / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END) \
         AS BIGINT) AS units_returned, \
         CAST(SUM(CASE WHEN l.unit_price_minor IS NULL THEN 0 \
         ELSE l.unit_price_minor * {UNITS_SOLD} END) AS BIGINT) AS revenue_minor, \
         CAST(SUM(CASE WHEN l.unit_price_minor IS NULL THEN {UNITS_SOLD} ELSE 0 END) AS BIGINT) \
         AS unpriced_units \
         FROM {} JOIN orders o ON o.placed_at >= b.start_at AND o.placed_at < b.end_at \
         JOIN order_lines l ON l.order_id = o.id \
         WHERE l.sku IS NOT NULL AND (l.parent_line_id IS NULL OR NOT EXISTS (\
         SELECT 1 FROM order_lines s WHERE s.order_id = l.order_id \
         AND s.parent_line_id = l.parent_line_id AND s.line_id < l.line_id)) \
         GROUP BY b.n, o.channel_id, o.currency",
        rows_table(ledger.backend(), "b", PERIOD_COLUMNS)
    );
    sqlx::query_as(&sql)
        .bind(period_rows(periods)?)
        .fetch_all(ledger.pool())
        .await
        .context("summing order lines by channel and period")
}
