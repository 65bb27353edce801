//! What each channel sold in each hour of a range: orders, units and money, summed by the
//! database from `orders` and `order_lines` (one statement each, grouped by the UTC hour an
//! order was placed in; the report adds the hours up into its periods, which begin and end on
//! whole hours).

use crate::ledger::error::DatabaseContext;
use crate::ledger::{Ledger, LedgerError};

/// The orders of one channel placed in one hour in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct OrderSums {
    /// Unix milliseconds ÷ 3,600,000: the UTC hour.
    pub hour: i64,
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
    /// Unix milliseconds ÷ 3,600,000: the UTC hour.
    pub hour: i64,
    pub channel_id: String,
    pub currency: Option<String>,
    pub units_sold: i64,
    pub units_returned: i64,
    /// Σ unit price × units sold over the lines that have a price.
    pub revenue_minor: i64,
    /// Units sold on lines without a price.
    pub unpriced_units: i64,
}

/// Milliseconds in an hour, the grain of every sum.
pub(crate) const HOUR: i64 = 3_600_000;

/// A booked line's units sold in listing units: what is open or shipped, over the stock units
/// one listing unit takes (a multipack's or a bundle component's count).
const UNITS_SOLD: &str = "((l.open_quantity + l.committed_quantity) / \
     CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END)";

/// The orders placed in `[from, to)` (unix milliseconds) by channel, currency and hour.
pub(crate) async fn order_sums(
    ledger: &Ledger,
    from: i64,
    to: i64,
) -> Result<Vec<OrderSums>, LedgerError> {
    let sql = format!(
        "SELECT o.placed_at / {HOUR} AS hour, o.channel_id, o.currency, COUNT(*) AS orders, \
         CAST(SUM(CASE WHEN o.status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled_orders, \
         CAST(SUM(CASE WHEN o.oversold <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS oversold_orders, \
         CAST(SUM(CASE WHEN o.status <> 'cancelled' AND o.total_minor IS NOT NULL \
         THEN o.total_minor ELSE 0 END) AS BIGINT) AS orders_total_minor \
         FROM orders o WHERE o.placed_at >= $1 AND o.placed_at < $2 \
         GROUP BY o.placed_at / {HOUR}, o.channel_id, o.currency"
    );
    sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .fetch_all(ledger.pool())
        .await
        .context("summing orders by channel and hour")
}

/// The lines of the orders placed in `[from, to)` by channel, currency and hour.
pub(crate) async fn line_sums(
    ledger: &Ledger,
    from: i64,
    to: i64,
) -> Result<Vec<LineSums>, LedgerError> {
    // A bundle line is booked once per component, each with the line's quantity and price:
    // only its first component counts, so the platform's line counts once.
    let sql = format!(
        "SELECT o.placed_at / {HOUR} AS hour, o.channel_id, o.currency, \
         CAST(SUM({UNITS_SOLD}) AS BIGINT) AS units_sold, \
         CAST(SUM(l.returned_quantity / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END) \
         AS BIGINT) AS units_returned, \
         CAST(SUM(CASE WHEN l.unit_price_minor IS NULL THEN 0 \
         ELSE l.unit_price_minor * {UNITS_SOLD} END) AS BIGINT) AS revenue_minor, \
         CAST(SUM(CASE WHEN l.unit_price_minor IS NULL THEN {UNITS_SOLD} ELSE 0 END) AS BIGINT) \
         AS unpriced_units \
         FROM orders o JOIN order_lines l ON l.order_id = o.id \
         WHERE l.sku IS NOT NULL AND (l.parent_line_id IS NULL OR NOT EXISTS (\
         SELECT 1 FROM order_lines s WHERE s.order_id = l.order_id \
         AND s.parent_line_id = l.parent_line_id AND s.line_id < l.line_id)) \
         AND o.placed_at >= $1 AND o.placed_at < $2 \
         GROUP BY o.placed_at / {HOUR}, o.channel_id, o.currency"
    );
    sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .fetch_all(ledger.pool())
        .await
        .context("summing order lines by channel and hour")
}
