//! What each channel sold in each hour of a range: orders, units and money, summed by the
//! database from `orders` in one statement, grouped by the UTC hour an order was placed in (the
//! report adds the hours up into its periods, which begin and end on whole hours). An order's
//! line sums are kept on it, rewritten whenever its lines are (`ORDER_LINE_SUMS`), so the
//! report reads no order line.

use sqlx::AnyConnection;

use crate::ledger::error::DatabaseContext;
use crate::ledger::LedgerError;

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
    /// Σ over their lines, in listing units (each order's sums are kept with it, see
    /// `ORDER_LINE_SUMS`): units open or shipped.
    pub units_sold: i64,
    pub units_returned: i64,
    /// Σ unit price × units sold over the lines that have a price.
    pub revenue_minor: i64,
    /// Units sold on lines without a price.
    pub unpriced_units: i64,
}

/// Milliseconds in an hour, the grain of every sum.
pub(crate) const HOUR: i64 = 3_600_000;

/// The orders placed in `[from, to)` (unix milliseconds) by channel, currency and hour.
pub(crate) async fn order_sums(
    connection: &mut AnyConnection,
    from: i64,
    to: i64,
) -> Result<Vec<OrderSums>, LedgerError> {
    let sql = format!(
        "SELECT o.placed_at / {HOUR} AS hour, o.channel_id, o.currency, COUNT(*) AS orders, \
         CAST(SUM(CASE WHEN o.status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled_orders, \
         CAST(SUM(CASE WHEN o.oversold <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS oversold_orders, \
         CAST(SUM(CASE WHEN o.status <> 'cancelled' AND o.total_minor IS NOT NULL \
         THEN o.total_minor ELSE 0 END) AS BIGINT) AS orders_total_minor, \
         CAST(SUM(o.units_sold) AS BIGINT) AS units_sold, \
         CAST(SUM(o.units_returned) AS BIGINT) AS units_returned, \
         CAST(SUM(o.lines_revenue_minor) AS BIGINT) AS revenue_minor, \
         CAST(SUM(o.unpriced_units) AS BIGINT) AS unpriced_units \
         FROM orders o WHERE o.placed_at >= $1 AND o.placed_at < $2 \
         GROUP BY o.placed_at / {HOUR}, o.channel_id, o.currency"
    );
    sqlx::query_as(&sql)
        .bind(from)
        .bind(to)
        .fetch_all(connection)
        .await
        .context("summing orders by channel and hour")
}
