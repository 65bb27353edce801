//! The statements of a booking round, each over the whole round as one row set: a round of any
//! size costs the same few round trips.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use crate::ledger::db::row_set::{
    rows_json, rows_table, ChannelKeyRow, ColumnType, Columns, IdRow, KeyRow, CHANNEL_KEY_COLUMNS,
    ID_COLUMNS, KEY_COLUMNS,
};
use crate::ledger::db::write::WriteTx;
use crate::ledger::error::DatabaseContext;
use crate::ledger::stock::reads::LINE_COLUMNS;
use crate::ledger::types::OrderLineRecord;
use crate::ledger::LedgerError;

/// What a booking needs to know of the order's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelRules {
    /// Whether refunded units go back on hand.
    pub restock_returns: bool,
    /// The channel's cut-over (unix milliseconds): an order placed before it is booked as a
    /// baseline when first seen.
    pub cut_over_at: Option<i64>,
}

/// The channels' booking rules (returns, cut-over); refuses an unknown channel.
pub(crate) async fn channel_rules(
    transaction: &mut WriteTx<'_>,
    channel_ids: &BTreeSet<&str>,
) -> Result<HashMap<String, ChannelRules>, LedgerError> {
    let rows: Vec<KeyRow<'_>> = channel_ids.iter().map(|&key| KeyRow { key }).collect();
    let sql = format!(
        "SELECT c.id, c.restock_returns, c.cut_over_at FROM channels c JOIN {} ON c.id = k.key",
        rows_table(transaction.backend(), "k", KEY_COLUMNS)
    );
    let found: Vec<(String, i64, Option<i64>)> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(transaction.connection())
        .await
        .context("looking up channels")?;
    let rules: HashMap<String, ChannelRules> = found
        .into_iter()
        .map(|(id, restock, cut_over_at)| {
            let rules = ChannelRules {
                restock_returns: restock != 0,
                cut_over_at,
            };
            (id, rules)
        })
        .collect();
    match channel_ids.iter().find(|id| !rules.contains_key(**id)) {
        Some(unknown) => Err(LedgerError::UnknownChannel(unknown.to_string())),
        None => Ok(rules),
    }
}

/// Refuses a location that does not exist.
pub(crate) async fn ensure_locations(
    transaction: &mut WriteTx<'_>,
    locations: &BTreeSet<&str>,
) -> Result<(), LedgerError> {
    let rows: Vec<KeyRow<'_>> = locations.iter().map(|&key| KeyRow { key }).collect();
    let sql = format!(
        "SELECT l.code FROM locations l JOIN {} ON l.code = k.key",
        rows_table(transaction.backend(), "k", KEY_COLUMNS)
    );
    let found: Vec<(String,)> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(transaction.connection())
        .await
        .context("looking up locations")?;
    let found: HashSet<String> = found.into_iter().map(|(code,)| code).collect();
    match locations.iter().find(|code| !found.contains(**code)) {
        Some(unknown) => Err(LedgerError::UnknownLocation(unknown.to_string())),
        None => Ok(()),
    }
}

#[derive(Serialize)]
struct DeliveryRow<'a> {
    channel_id: &'a str,
    delivery_id: &'a str,
    received_at: i64,
}

const DELIVERY_COLUMNS: Columns = &[
    ("channel_id", ColumnType::Text),
    ("delivery_id", ColumnType::Text),
    ("received_at", ColumnType::BigInt),
];

/// Records the (channel, delivery id) pairs; returns those recorded now, not before.
pub(crate) async fn record_deliveries(
    transaction: &mut WriteTx<'_>,
    deliveries: &BTreeSet<(&str, &str)>,
) -> Result<HashSet<(String, String)>, LedgerError> {
    if deliveries.is_empty() {
        return Ok(HashSet::new());
    }
    let now = transaction.now;
    let rows: Vec<DeliveryRow<'_>> = deliveries
        .iter()
        .map(|&(channel_id, delivery_id)| DeliveryRow {
            channel_id,
            delivery_id,
            received_at: now,
        })
        .collect();
    let sql = format!(
        "INSERT INTO webhook_deliveries (channel_id, delivery_id, received_at) \
         SELECT d.channel_id, d.delivery_id, d.received_at FROM {} WHERE true \
         ON CONFLICT (channel_id, delivery_id) DO NOTHING RETURNING channel_id, delivery_id",
        rows_table(transaction.backend(), "d", DELIVERY_COLUMNS)
    );
    let recorded: Vec<(String, String)> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(transaction.connection())
        .await
        .context("recording webhook deliveries")?;
    Ok(recorded.into_iter().collect())
}

/// The ids of the orders booked under these (channel, external order id) pairs.
pub(crate) async fn order_ids(
    transaction: &mut WriteTx<'_>,
    orders: &BTreeSet<(&str, &str)>,
) -> Result<HashMap<(String, String), i64>, LedgerError> {
    if orders.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<ChannelKeyRow<'_>> = orders
        .iter()
        .map(|&(channel_id, key)| ChannelKeyRow { channel_id, key })
        .collect();
    let sql = format!(
        "SELECT o.channel_id, o.external_order_id, o.id FROM orders o JOIN {} \
         ON o.channel_id = k.channel_id AND o.external_order_id = k.key",
        rows_table(transaction.backend(), "k", CHANNEL_KEY_COLUMNS)
    );
    let found: Vec<(String, String, i64)> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(transaction.connection())
        .await
        .context("looking up orders")?;
    Ok(found
        .into_iter()
        .map(|(channel_id, order, id)| ((channel_id, order), id))
        .collect())
}

/// An order row as a booking finds it (after the upsert that locks it).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct BookedOrder {
    pub id: i64,
    pub channel_id: String,
    pub external_order_id: String,
    pub status: String,
    pub location: String,
    pub platform_updated_at: i64,
    pub revision: i64,
    pub oversold: i64,
    pub currency: Option<String>,
}

/// An order of a snapshot, for the upsert that creates or locks its row.
#[derive(Serialize)]
pub(crate) struct OrderUpsertRow<'a> {
    pub channel_id: &'a str,
    pub external_order_id: &'a str,
    pub status: &'a str,
    pub location: &'a str,
    pub platform_updated_at: i64,
    pub currency: Option<&'a str>,
    /// When the platform says the order was placed (unix milliseconds); `None`: when booked.
    pub placed_at: Option<i64>,
}

#[derive(Serialize)]
struct NumberedOrderRow<'a> {
    n: usize,
    #[serde(flatten)]
    order: &'a OrderUpsertRow<'a>,
    now: i64,
}

const ORDER_UPSERT_COLUMNS: Columns = &[
    ("n", ColumnType::BigInt),
    ("channel_id", ColumnType::Text),
    ("external_order_id", ColumnType::Text),
    ("status", ColumnType::Text),
    ("location", ColumnType::Text),
    ("platform_updated_at", ColumnType::BigInt),
    ("currency", ColumnType::Text),
    ("placed_at", ColumnType::BigInt),
    ("now", ColumnType::BigInt),
];

/// Creates the orders not booked before (revision 0) and locks every row, in the order given
/// (each (channel, order) at most once); returns the rows keyed by (channel, order).
pub(crate) async fn upsert_orders(
    transaction: &mut WriteTx<'_>,
    orders: &[OrderUpsertRow<'_>],
) -> Result<HashMap<(String, String), BookedOrder>, LedgerError> {
    if orders.is_empty() {
        return Ok(HashMap::new());
    }
    let now = transaction.now;
    let rows: Vec<NumberedOrderRow<'_>> = orders
        .iter()
        .enumerate()
        .map(|(n, order)| NumberedOrderRow { n, order, now })
        .collect();
    // The no-op update makes the statement return (and, in PostgreSQL, lock) an existing
    // row, so two connections booking the same order take turns.
    let sql = format!(
        "INSERT INTO orders (channel_id, external_order_id, status, location, \
         platform_updated_at, revision, oversold, currency, placed_at, created_at, updated_at) \
         SELECT o.channel_id, o.external_order_id, o.status, o.location, \
         o.platform_updated_at, 0, 0, o.currency, COALESCE(o.placed_at, o.now), o.now, o.now \
         FROM {} WHERE true ORDER BY o.n \
         ON CONFLICT (channel_id, external_order_id) DO UPDATE SET channel_id = excluded.channel_id \
         RETURNING id, channel_id, external_order_id, status, location, platform_updated_at, \
         revision, oversold, currency",
        rows_table(transaction.backend(), "o", ORDER_UPSERT_COLUMNS)
    );
    let booked: Vec<BookedOrder> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(transaction.connection())
        .await
        .context("upserting orders")?;
    Ok(booked
        .into_iter()
        .map(|order| {
            (
                (order.channel_id.clone(), order.external_order_id.clone()),
                order,
            )
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct BookedLineRow {
    order_id: i64,
    #[sqlx(flatten)]
    line: OrderLineRecord,
}

/// The booked lines of these orders, by order id.
pub(crate) async fn read_lines(
    transaction: &mut WriteTx<'_>,
    order_ids: &[i64],
) -> Result<HashMap<i64, Vec<OrderLineRecord>>, LedgerError> {
    if order_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<IdRow> = order_ids.iter().map(|&id| IdRow { id }).collect();
    let sql = format!(
        "SELECT order_id, {LINE_COLUMNS} FROM order_lines \
         WHERE order_id IN (SELECT r.id FROM {}) ORDER BY order_id, line_id",
        rows_table(transaction.backend(), "r", ID_COLUMNS)
    );
    let found: Vec<BookedLineRow> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(transaction.connection())
        .await
        .context("reading order lines")?;
    let mut lines: HashMap<i64, Vec<OrderLineRecord>> = HashMap::new();
    for row in found {
        lines.entry(row.order_id).or_default().push(row.line);
    }
    Ok(lines)
}

/// Which of `skus` are items.
pub(crate) async fn known_skus(
    transaction: &mut WriteTx<'_>,
    skus: &BTreeSet<&str>,
) -> Result<HashSet<String>, LedgerError> {
    if skus.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<KeyRow<'_>> = skus.iter().map(|&key| KeyRow { key }).collect();
    let sql = format!(
        "SELECT i.sku FROM items i JOIN {} ON i.sku = k.key",
        rows_table(transaction.backend(), "k", KEY_COLUMNS)
    );
    let found: Vec<(String,)> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(transaction.connection())
        .await
        .context("resolving line skus")?;
    Ok(found.into_iter().map(|(sku,)| sku).collect())
}

/// A booked line to write, with its order.
#[derive(Serialize)]
struct LineRow<'a> {
    order_id: i64,
    #[serde(flatten)]
    line: &'a OrderLineRecord,
}

const LINE_ROW_COLUMNS: Columns = &[
    ("order_id", ColumnType::BigInt),
    ("line_id", ColumnType::Text),
    ("parent_line_id", ColumnType::Text),
    ("listing_id", ColumnType::Text),
    ("sku", ColumnType::Text),
    ("location", ColumnType::Text),
    ("multiplier", ColumnType::BigInt),
    ("quantity", ColumnType::BigInt),
    ("open_quantity", ColumnType::BigInt),
    ("committed_quantity", ColumnType::BigInt),
    ("returned_quantity", ColumnType::BigInt),
    ("unit_price_minor", ColumnType::BigInt),
];

/// Writes (inserts or replaces) booked lines; for a line given twice the last one counts.
pub(crate) async fn write_lines(
    transaction: &mut WriteTx<'_>,
    lines: &[(i64, OrderLineRecord)],
) -> Result<(), LedgerError> {
    let unique: BTreeMap<(i64, &str), &OrderLineRecord> = lines
        .iter()
        .map(|(order_id, line)| ((*order_id, line.line_id.as_str()), line))
        .collect();
    if unique.is_empty() {
        return Ok(());
    }
    let rows: Vec<LineRow<'_>> = unique
        .iter()
        .map(|(&(order_id, _), &line)| LineRow { order_id, line })
        .collect();
    let sql = format!(
        "INSERT INTO order_lines (order_id, {LINE_COLUMNS}) \
         SELECT l.order_id, l.line_id, l.parent_line_id, l.listing_id, l.sku, l.location, \
         l.multiplier, l.quantity, l.open_quantity, l.committed_quantity, l.returned_quantity, \
         l.unit_price_minor FROM {} WHERE true \
         ON CONFLICT (order_id, line_id) DO UPDATE SET listing_id = excluded.listing_id, \
         parent_line_id = excluded.parent_line_id, \
         sku = excluded.sku, location = excluded.location, multiplier = excluded.multiplier, \
         quantity = excluded.quantity, open_quantity = excluded.open_quantity, \
         committed_quantity = excluded.committed_quantity, \
         returned_quantity = excluded.returned_quantity, \
         unit_price_minor = excluded.unit_price_minor",
        rows_table(transaction.backend(), "l", LINE_ROW_COLUMNS)
    );
    let rows_json = rows_json(&rows)?;
    sqlx::query(&sql)
        .bind(&rows_json)
        .execute(transaction.connection())
        .await
        .context("writing order lines")?;
    let sums_sql = format!(
        "UPDATE orders SET {ORDER_LINE_SUMS} WHERE orders.id IN (SELECT l.order_id FROM {})",
        rows_table(transaction.backend(), "l", LINE_ROW_COLUMNS)
    );
    sqlx::query(&sums_sql)
        .bind(rows_json)
        .execute(transaction.connection())
        .await
        .context("summing the lines of orders")?;
    Ok(())
}

/// An order's line sums in listing units, as the channel report reads them (README "Channel
/// reports"; migration 0022 holds the same expressions): units sold (open + shipped), units
/// returned, Σ unit price × units sold over priced lines, units sold without a price. Lines
/// without a known SKU count for nothing; of a bundle's component lines (each booked with the
/// platform line's quantity and price) only the first counts, so the platform's line counts
/// once. The `SET` clause of an `UPDATE orders`.
pub(crate) const ORDER_LINE_SUMS: &str =
    "(units_sold, units_returned, lines_revenue_minor, unpriced_units) = (SELECT \
     COALESCE(SUM((l.open_quantity + l.committed_quantity) \
     / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END), 0), \
     COALESCE(SUM(l.returned_quantity / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END), 0), \
     COALESCE(SUM(CASE WHEN l.unit_price_minor IS NULL THEN 0 ELSE l.unit_price_minor \
     * ((l.open_quantity + l.committed_quantity) \
     / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END) END), 0), \
     COALESCE(SUM(CASE WHEN l.unit_price_minor IS NULL THEN (l.open_quantity + l.committed_quantity) \
     / CASE WHEN l.multiplier > 0 THEN l.multiplier ELSE 1 END ELSE 0 END), 0) \
     FROM order_lines l WHERE l.order_id = orders.id AND l.sku IS NOT NULL \
     AND (l.parent_line_id IS NULL OR NOT EXISTS (SELECT 1 FROM order_lines s \
     WHERE s.order_id = l.order_id AND s.parent_line_id = l.parent_line_id \
     AND s.line_id < l.line_id)))";

/// Deletes one booked line (an unknown line that now resolves to a bundle's components).
pub(crate) async fn delete_line(
    transaction: &mut WriteTx<'_>,
    order_id: i64,
    line_id: &str,
) -> Result<(), LedgerError> {
    sqlx::query("DELETE FROM order_lines WHERE order_id = $1 AND line_id = $2")
        .bind(order_id)
        .bind(line_id)
        .execute(transaction.connection())
        .await
        .context("replacing an unknown order line")?;
    Ok(())
}

/// An order row's state once its booking is applied.
#[derive(Serialize)]
pub(crate) struct FinishedOrder<'a> {
    pub id: i64,
    pub status: &'a str,
    pub platform_updated_at: i64,
    pub revision: i64,
    pub oversold: i64,
    pub currency: Option<&'a str>,
    /// The order's total in minor units of `currency`; `None` keeps the one booked before.
    pub total_minor: Option<i64>,
}

#[derive(Serialize)]
struct FinishedOrderRow<'a> {
    #[serde(flatten)]
    order: &'a FinishedOrder<'a>,
    now: i64,
}

const FINISHED_ORDER_COLUMNS: Columns = &[
    ("id", ColumnType::BigInt),
    ("status", ColumnType::Text),
    ("platform_updated_at", ColumnType::BigInt),
    ("revision", ColumnType::BigInt),
    ("oversold", ColumnType::BigInt),
    ("currency", ColumnType::Text),
    ("total_minor", ColumnType::BigInt),
    ("now", ColumnType::BigInt),
];

/// Writes the order rows' final state (rows the round has locked already).
pub(crate) async fn finish_orders(
    transaction: &mut WriteTx<'_>,
    orders: &[FinishedOrder<'_>],
) -> Result<(), LedgerError> {
    if orders.is_empty() {
        return Ok(());
    }
    let now = transaction.now;
    let rows: Vec<FinishedOrderRow<'_>> = orders
        .iter()
        .map(|order| FinishedOrderRow { order, now })
        .collect();
    let sql = format!(
        "UPDATE orders SET status = f.status, platform_updated_at = f.platform_updated_at, \
         revision = f.revision, oversold = f.oversold, currency = f.currency, \
         total_minor = COALESCE(f.total_minor, orders.total_minor), updated_at = f.now \
         FROM {} WHERE orders.id = f.id",
        rows_table(transaction.backend(), "f", FINISHED_ORDER_COLUMNS)
    );
    sqlx::query(&sql)
        .bind(rows_json(&rows)?)
        .execute(transaction.connection())
        .await
        .context("updating orders")?;
    Ok(())
}
