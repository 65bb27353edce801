//! The store of quarantined orders (`quarantined_orders`), reached as [`Ledger::quarantine`]:
//! order events the ledger refuses for good (see [`LedgerError::is_refusal`]), kept with their
//! error so that one bad order does not hold up its channel's polling. An operator lists them,
//! books one again (after fixing what it needs) or discards it.

use omnistock_connector::{OrderEvent, OrderRef};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ledger::error::{corrupt_row, DatabaseContext};
use crate::ledger::records::channel_rows::rows_of_channel;
use crate::ledger::types::now_millis;
use crate::ledger::{Ledger, LedgerError};

/// How many characters of an order id a label shows.
const LABEL_CHARS: usize = 120;

/// A quarantined order event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QuarantinedOrder {
    pub id: i64,
    pub channel_id: String,
    /// The platform's order id, shortened and escaped for display (the whole id is in the
    /// event).
    pub order_label: String,
    /// The event's `updated_at`, unix milliseconds.
    pub platform_updated_at: i64,
    /// The normalized event, as JSON.
    pub event: String,
    /// Why the ledger refused it (the last time it was tried).
    pub error: String,
    /// Refusals since it was first quarantined: retries, and newer events of the order.
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl QuarantinedOrder {
    /// The stored event.
    pub fn order_event(&self) -> Result<OrderEvent, LedgerError> {
        serde_json::from_str(&self.event).map_err(|error| {
            corrupt_row(
                "quarantined_orders",
                &self.id.to_string(),
                "event",
                &self.event,
                &error.to_string(),
            )
        })
    }
}

/// What a quarantined entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuarantinedContent {
    /// An order event the ledger refused.
    Event(OrderEvent),
    /// An order a webhook named whose state could not be fetched (see `sync/receipts.rs`):
    /// a retry fetches it first.
    Unfetched(OrderRef),
}

/// How an unfetched order is stored in the `event` column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnfetchedOrder {
    unfetched_order_id: String,
    delivery_id: Option<String>,
}

impl QuarantinedOrder {
    /// The stored event, or the order that could not be fetched.
    pub fn content(&self) -> Result<QuarantinedContent, LedgerError> {
        if let Ok(unfetched) = serde_json::from_str::<UnfetchedOrder>(&self.event) {
            return Ok(QuarantinedContent::Unfetched(OrderRef {
                order_id: unfetched.unfetched_order_id,
                delivery_id: unfetched.delivery_id,
            }));
        }
        self.order_event().map(QuarantinedContent::Event)
    }
}

/// An order id as logs, errors and the quarantine show it: escaped (no control characters,
/// no NUL) and at most [`LABEL_CHARS`] characters.
pub fn order_label(external_order_id: &str) -> String {
    let mut label: String = external_order_id
        .chars()
        .flat_map(char::escape_debug)
        .take(LABEL_CHARS)
        .collect();
    if external_order_id
        .chars()
        .flat_map(char::escape_debug)
        .nth(LABEL_CHARS)
        .is_some()
    {
        label.push('…');
    }
    label
}

/// A key of bounded length for an order id of any length.
fn order_key(external_order_id: &str) -> String {
    Sha256::digest(external_order_id.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Text PostgreSQL can store: NUL characters escaped.
fn storable(text: &str) -> String {
    text.replace('\0', "\\0")
}

const COLUMNS: &str = "id, channel_id, order_label, platform_updated_at, event, error, attempts, \
                       created_at, updated_at";

/// The quarantined orders of a ledger's database.
#[derive(Debug, Clone, Copy)]
pub struct QuarantineStore<'a> {
    ledger: &'a Ledger,
}

impl Ledger {
    /// The quarantined orders.
    pub fn quarantine(&self) -> QuarantineStore<'_> {
        QuarantineStore { ledger: self }
    }
}

impl QuarantineStore<'_> {
    /// Quarantines `event` of `channel_id` with the error that refused it; the order's entry
    /// takes a newer event of the same order (counted as one more refusal; the same event read
    /// again by an overlapping poll is not). Returns its id.
    pub async fn add(
        &self,
        channel_id: &str,
        event: &OrderEvent,
        error: &str,
    ) -> Result<i64, LedgerError> {
        let json = serde_json::to_string(event).map_err(|error| {
            LedgerError::Corrupt(format!("an order event cannot be written: {error}"))
        })?;
        let now = now_millis();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO quarantined_orders (channel_id, order_key, order_label, \
             platform_updated_at, event, error, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) \
             ON CONFLICT (channel_id, order_key) DO UPDATE SET \
             event = CASE WHEN excluded.platform_updated_at >= quarantined_orders.platform_updated_at \
             THEN excluded.event ELSE quarantined_orders.event END, \
             platform_updated_at = CASE WHEN excluded.platform_updated_at >= \
             quarantined_orders.platform_updated_at THEN excluded.platform_updated_at \
             ELSE quarantined_orders.platform_updated_at END, \
             error = excluded.error, attempts = quarantined_orders.attempts + CASE WHEN \
             excluded.platform_updated_at > quarantined_orders.platform_updated_at THEN 1 ELSE 0 END, \
             updated_at = excluded.updated_at \
             RETURNING id",
        )
        .bind(channel_id)
        .bind(order_key(&event.external_order_id))
        .bind(order_label(&event.external_order_id))
        .bind(event.updated_at.timestamp_millis())
        .bind(json)
        .bind(storable(error))
        .bind(now)
        .fetch_one(&self.ledger.pool)
        .await
        .context("quarantining an order")?;
        Ok(id)
    }

    /// Quarantines an order a webhook named whose state could not be fetched, with the last
    /// error; an entry the order has already (a refused event, say) keeps its content and takes
    /// the error as one more refusal. Returns its id.
    pub async fn add_unfetched(
        &self,
        channel_id: &str,
        named: &OrderRef,
        error: &str,
    ) -> Result<i64, LedgerError> {
        let json = serde_json::to_string(&UnfetchedOrder {
            unfetched_order_id: named.order_id.clone(),
            delivery_id: named.delivery_id.clone(),
        })
        .map_err(|error| {
            LedgerError::Corrupt(format!("an unfetched order cannot be written: {error}"))
        })?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO quarantined_orders (channel_id, order_key, order_label, \
             platform_updated_at, event, error, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $5, 1, $6, $6) \
             ON CONFLICT (channel_id, order_key) DO UPDATE SET error = excluded.error, \
             attempts = quarantined_orders.attempts + 1, updated_at = excluded.updated_at \
             RETURNING id",
        )
        .bind(channel_id)
        .bind(order_key(&named.order_id))
        .bind(order_label(&named.order_id))
        .bind(json)
        .bind(storable(error))
        .bind(now_millis())
        .fetch_one(&self.ledger.pool)
        .await
        .context("quarantining an unfetched order")?;
        Ok(id)
    }

    /// Quarantined orders, oldest first; only `channel_id`'s when given.
    pub async fn list(
        &self,
        channel_id: Option<&str>,
    ) -> Result<Vec<QuarantinedOrder>, LedgerError> {
        rows_of_channel(
            self.ledger,
            "quarantined_orders",
            COLUMNS,
            channel_id,
            "listing quarantined orders",
        )
        .await
    }

    pub async fn get(&self, id: i64) -> Result<Option<QuarantinedOrder>, LedgerError> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM quarantined_orders WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.ledger.pool)
        .await
        .context("reading a quarantined order")
    }

    /// Removes a quarantined order (booked at last, or discarded); returns it, `None` when
    /// there was none.
    pub async fn release(&self, id: i64) -> Result<Option<QuarantinedOrder>, LedgerError> {
        sqlx::query_as(&format!(
            "DELETE FROM quarantined_orders WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(&self.ledger.pool)
        .await
        .context("releasing a quarantined order")
    }

    /// Records that booking a quarantined order again was refused again; returns it updated.
    pub async fn note_refused(
        &self,
        id: i64,
        error: &str,
    ) -> Result<Option<QuarantinedOrder>, LedgerError> {
        sqlx::query_as(&format!(
            "UPDATE quarantined_orders SET error = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE id = $3 RETURNING {COLUMNS}"
        ))
        .bind(storable(error))
        .bind(now_millis())
        .bind(id)
        .fetch_optional(&self.ledger.pool)
        .await
        .context("recording a refused quarantined order")
    }

    /// Quarantined orders per channel.
    pub async fn counts(&self) -> Result<std::collections::BTreeMap<String, i64>, LedgerError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT channel_id, CAST(COUNT(*) AS BIGINT) FROM quarantined_orders GROUP BY channel_id",
        )
        .fetch_all(&self.ledger.pool)
        .await
        .context("counting quarantined orders")?;
        Ok(rows.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_short() {
        assert_eq!(order_label("A-1"), "A-1");
        assert_eq!(order_label("a\0b"), "a\\0b");
        let long = "x".repeat(5_000);
        let label = order_label(&long);
        assert_eq!(label.chars().count(), LABEL_CHARS + 1);
        assert!(label.ends_with('…'));
        assert_eq!(order_key(&long).len(), 64);
    }
}
