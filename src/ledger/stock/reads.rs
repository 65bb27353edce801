//! Reads of balances, orders and the journal.

use omnistock_connector::OrderStatus;
use sqlx::AnyConnection;

use crate::ledger::error::{corrupt_row, DatabaseContext};
use crate::ledger::types::{
    from_millis, Balance, Movement, MovementReason, OrderLineRecord, OrderRecord, Reservation,
};
use crate::ledger::{Ledger, LedgerError};

type OrderRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<i64>,
);
/// A row of `movements` as the database holds it.
#[derive(Debug, sqlx::FromRow)]
struct MovementRow {
    id: i64,
    sku: String,
    location: String,
    on_hand_delta: i64,
    reserved_delta: i64,
    reason: String,
    reference: Option<String>,
    idempotency_key: String,
    actor: Option<String>,
    note: Option<String>,
    created_at: i64,
}

impl TryFrom<MovementRow> for Movement {
    type Error = LedgerError;

    fn try_from(row: MovementRow) -> Result<Self, LedgerError> {
        let reason = MovementReason::parse(&row.reason).ok_or_else(|| {
            corrupt_row(
                "movements",
                &row.id.to_string(),
                "reason",
                &row.reason,
                "not a movement reason",
            )
        })?;
        Ok(Movement {
            id: row.id,
            sku: row.sku,
            location: row.location,
            on_hand_delta: row.on_hand_delta,
            reserved_delta: row.reserved_delta,
            reason,
            reference: row.reference,
            idempotency_key: row.idempotency_key,
            actor: row.actor,
            note: row.note,
            created_at: from_millis(row.created_at),
        })
    }
}

impl Ledger {
    /// The balance of `sku` at `location` (zero when nothing was booked there yet).
    pub async fn balance(&self, sku: &str, location: &str) -> Result<Balance, LedgerError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT on_hand, reserved FROM balances WHERE sku = $1 AND location = $2",
        )
        .bind(sku)
        .bind(location)
        .fetch_optional(&self.pool)
        .await
        .context("reading a balance")?;
        if let Some((on_hand, reserved)) = row {
            return Ok(Balance {
                sku: sku.to_string(),
                location: location.to_string(),
                on_hand,
                reserved,
            });
        }
        let item: Option<(String,)> = sqlx::query_as("SELECT sku FROM items WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&self.pool)
            .await
            .context("looking up an item")?;
        if item.is_none() {
            return Err(LedgerError::UnknownSku(sku.to_string()));
        }
        let known: Option<(String,)> = sqlx::query_as("SELECT code FROM locations WHERE code = $1")
            .bind(location)
            .fetch_optional(&self.pool)
            .await
            .context("looking up a location")?;
        if known.is_none() {
            return Err(LedgerError::UnknownLocation(location.to_string()));
        }
        Ok(Balance {
            sku: sku.to_string(),
            location: location.to_string(),
            on_hand: 0,
            reserved: 0,
        })
    }

    /// The balances of `sku` at every location that has one.
    pub async fn balances(&self, sku: &str) -> Result<Vec<Balance>, LedgerError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT location, on_hand, reserved FROM balances WHERE sku = $1 ORDER BY location",
        )
        .bind(sku)
        .fetch_all(&self.pool)
        .await
        .context("reading balances")?;
        Ok(rows
            .into_iter()
            .map(|(location, on_hand, reserved)| Balance {
                sku: sku.to_string(),
                location,
                on_hand,
                reserved,
            })
            .collect())
    }

    /// Available units of `sku` summed over all locations (negative when oversold).
    pub async fn available(&self, sku: &str) -> Result<i64, LedgerError> {
        let (available,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(on_hand - reserved), 0) AS BIGINT) FROM balances \
             WHERE sku = $1",
        )
        .bind(sku)
        .fetch_one(&self.pool)
        .await
        .context("reading availability")?;
        Ok(available)
    }

    /// Whether the ledger knows the item.
    pub async fn item_exists(&self, sku: &str) -> Result<bool, LedgerError> {
        let item: Option<(String,)> = sqlx::query_as("SELECT sku FROM items WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&self.pool)
            .await
            .context("looking up an item")?;
        Ok(item.is_some())
    }

    /// The codes of every location.
    pub async fn locations(&self) -> Result<Vec<String>, LedgerError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT code FROM locations ORDER BY code")
            .fetch_all(&self.pool)
            .await
            .context("listing locations")?;
        Ok(rows.into_iter().map(|(code,)| code).collect())
    }

    /// Every balance, by SKU then location (for the stock export).
    pub async fn all_balances(&self) -> Result<Vec<Balance>, LedgerError> {
        sqlx::query_as(
            "SELECT sku, location, on_hand, reserved FROM balances ORDER BY sku, location",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading balances")
    }

    /// The open order lines holding stock of `sku`, oldest order first.
    pub async fn open_reservations(&self, sku: &str) -> Result<Vec<Reservation>, LedgerError> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT o.channel_id, o.external_order_id, l.line_id, l.location, l.open_quantity \
             FROM order_lines l JOIN orders o ON o.id = l.order_id \
             WHERE l.sku = $1 AND l.open_quantity <> 0 ORDER BY o.id, l.line_id",
        )
        .bind(sku)
        .fetch_all(&self.pool)
        .await
        .context("reading open reservations")?;
        Ok(rows
            .into_iter()
            .map(
                |(channel_id, external_order_id, line_id, location, quantity)| Reservation {
                    channel_id,
                    external_order_id,
                    line_id,
                    location,
                    quantity,
                },
            )
            .collect())
    }

    /// The booked order with its lines, if the ledger knows it.
    pub async fn order(
        &self,
        channel_id: &str,
        external_order_id: &str,
    ) -> Result<Option<OrderRecord>, LedgerError> {
        // One transaction, so the lines belong to the order row as read.
        let mut transaction = self.pool.begin().await.context("reading an order")?;
        let order = read_order(&mut transaction, channel_id, external_order_id).await?;
        transaction.commit().await.context("reading an order")?;
        Ok(order)
    }

    /// Up to `limit` journal rows of `sku` with an id above `after_id`, oldest first.
    pub async fn movements(
        &self,
        sku: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Movement>, LedgerError> {
        let rows: Vec<MovementRow> = sqlx::query_as(
            "SELECT id, sku, location, on_hand_delta, reserved_delta, reason, reference, \
             idempotency_key, actor, note, created_at FROM movements \
             WHERE sku = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(sku)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading movements")?;
        rows.into_iter().map(Movement::try_from).collect()
    }
}

pub(crate) async fn read_order(
    connection: &mut AnyConnection,
    channel_id: &str,
    external_order_id: &str,
) -> Result<Option<OrderRecord>, LedgerError> {
    let row: Option<OrderRow> = sqlx::query_as(
        "SELECT id, channel_id, external_order_id, status, location, platform_updated_at, \
         revision, oversold, currency, total_minor FROM orders \
         WHERE channel_id = $1 AND external_order_id = $2",
    )
    .bind(channel_id)
    .bind(external_order_id)
    .fetch_optional(&mut *connection)
    .await
    .context("reading an order")?;
    let Some((
        id,
        channel_id,
        external_order_id,
        status,
        location,
        updated_at,
        revision,
        oversold,
        currency,
        total_minor,
    )) = row
    else {
        return Ok(None);
    };
    let status = OrderStatus::parse(&status)
        .ok_or_else(|| LedgerError::Corrupt(format!("order {id} has status {status:?}")))?;
    let lines = read_order_lines(connection, id).await?;
    Ok(Some(OrderRecord {
        id,
        channel_id,
        external_order_id,
        status,
        location,
        platform_updated_at: from_millis(updated_at),
        revision,
        oversold: oversold != 0,
        currency,
        total_minor,
        lines,
    }))
}

/// The columns of [`OrderLineRecord`], as `order_lines` names them.
pub(crate) const LINE_COLUMNS: &str = "line_id, parent_line_id, listing_id, sku, location, \
     multiplier, quantity, open_quantity, committed_quantity, returned_quantity, unit_price_minor";

pub(crate) async fn read_order_lines(
    connection: &mut AnyConnection,
    order_id: i64,
) -> Result<Vec<OrderLineRecord>, LedgerError> {
    sqlx::query_as(&format!(
        "SELECT {LINE_COLUMNS} FROM order_lines WHERE order_id = $1 ORDER BY line_id"
    ))
    .bind(order_id)
    .fetch_all(&mut *connection)
    .await
    .context("reading order lines")
}
