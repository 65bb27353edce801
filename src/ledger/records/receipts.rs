//! The store of webhook receipts (`webhook_receipts`), reached as [`Ledger::webhook_receipts`]:
//! webhooks that name orders without their state (TikTok Shop), kept from the moment they are
//! verified until the orders they name are fetched and booked. One row per channel and delivery
//! id, so a redelivery stores nothing twice; a row is deleted only once its booking is durable.

use std::collections::BTreeMap;

use omnistock_connector::OrderRef;
use serde::{Deserialize, Serialize};

use crate::ledger::error::{corrupt_row, DatabaseContext};
use crate::ledger::types::now_millis;
use crate::ledger::{Ledger, LedgerError};

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookReceipt {
    pub id: i64,
    pub channel_id: String,
    /// The platform's id of the delivery (or, when it gives none, a digest of the body).
    pub delivery_id: String,
    /// The orders it names, as JSON (see [`WebhookReceipt::order_refs`]).
    pub order_refs: String,
    /// Unix milliseconds.
    pub received_at: i64,
    /// Fetch-and-book attempts that failed so far.
    pub attempts: i64,
    pub last_error: Option<String>,
    /// Unix milliseconds; the leader does not try it again before.
    pub next_attempt_at: i64,
}

/// One named order as stored.
#[derive(Debug, Serialize, Deserialize)]
struct StoredRef {
    order_id: String,
    delivery_id: Option<String>,
}

impl WebhookReceipt {
    /// The orders the webhook named.
    pub fn order_refs(&self) -> Result<Vec<OrderRef>, LedgerError> {
        let stored: Vec<StoredRef> = serde_json::from_str(&self.order_refs).map_err(|error| {
            corrupt_row(
                "webhook_receipts",
                &self.id.to_string(),
                "order_refs",
                &self.order_refs,
                &error.to_string(),
            )
        })?;
        Ok(stored
            .into_iter()
            .map(|stored| OrderRef {
                order_id: stored.order_id,
                delivery_id: stored.delivery_id,
            })
            .collect())
    }
}

const COLUMNS: &str =
    "id, channel_id, delivery_id, order_refs, received_at, attempts, last_error, next_attempt_at";

/// The webhook receipts of a ledger's database.
#[derive(Debug, Clone, Copy)]
pub struct WebhookReceiptStore<'a> {
    ledger: &'a Ledger,
}

impl Ledger {
    /// The receipts of webhooks whose orders are not booked yet.
    pub fn webhook_receipts(&self) -> WebhookReceiptStore<'_> {
        WebhookReceiptStore { ledger: self }
    }
}

impl WebhookReceiptStore<'_> {
    /// Stores the receipt of delivery `delivery_id` naming `refs`, due `first_attempt_after`
    /// milliseconds from now (the receiver tries it itself meanwhile); returns its id and
    /// whether it is new (`false`: this delivery's receipt was stored before and is still
    /// pending, and nothing was written).
    pub async fn add(
        &self,
        channel_id: &str,
        delivery_id: &str,
        refs: &[OrderRef],
        first_attempt_after: i64,
    ) -> Result<(i64, bool), LedgerError> {
        let stored: Vec<StoredRef> = refs
            .iter()
            .map(|named| StoredRef {
                order_id: named.order_id.clone(),
                delivery_id: named.delivery_id.clone(),
            })
            .collect();
        let json = serde_json::to_string(&stored).map_err(|error| {
            LedgerError::Corrupt(format!("a webhook receipt cannot be written: {error}"))
        })?;
        let now = now_millis();
        let inserted: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO webhook_receipts (channel_id, delivery_id, order_refs, received_at, \
             attempts, next_attempt_at) VALUES ($1, $2, $3, $4, 0, $5) \
             ON CONFLICT (channel_id, delivery_id) DO NOTHING RETURNING id",
        )
        .bind(channel_id)
        .bind(delivery_id)
        .bind(json)
        .bind(now)
        .bind(now.saturating_add(first_attempt_after.max(0)))
        .fetch_optional(&self.ledger.pool)
        .await
        .context("storing a webhook receipt")?;
        if let Some((id,)) = inserted {
            return Ok((id, true));
        }
        let (id,): (i64,) = sqlx::query_as(
            "SELECT id FROM webhook_receipts WHERE channel_id = $1 AND delivery_id = $2",
        )
        .bind(channel_id)
        .bind(delivery_id)
        .fetch_one(&self.ledger.pool)
        .await
        .context("reading a stored webhook receipt")?;
        Ok((id, false))
    }

    /// Receipts due at `now` (Unix milliseconds), oldest first, at most `limit`.
    pub async fn due(&self, now: i64, limit: i64) -> Result<Vec<WebhookReceipt>, LedgerError> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM webhook_receipts WHERE next_attempt_at <= $1 ORDER BY id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.ledger.pool)
        .await
        .context("reading due webhook receipts")
    }

    /// Every pending receipt, oldest first (tests and operators).
    pub async fn list(&self) -> Result<Vec<WebhookReceipt>, LedgerError> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM webhook_receipts ORDER BY id"
        ))
        .fetch_all(&self.ledger.pool)
        .await
        .context("listing webhook receipts")
    }

    /// Records a failed attempt of receipt `id`: one more attempt, its error, and when to try
    /// again (Unix milliseconds).
    pub async fn note_failure(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE webhook_receipts SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = $2 WHERE id = $3",
        )
        .bind(error.replace('\0', "\\0"))
        .bind(next_attempt_at)
        .bind(id)
        .execute(&self.ledger.pool)
        .await
        .context("recording a failed webhook receipt")?;
        Ok(())
    }

    /// Deletes receipt `id` (its booking is durable, or it went to the quarantine).
    pub async fn delete(&self, id: i64) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM webhook_receipts WHERE id = $1")
            .bind(id)
            .execute(&self.ledger.pool)
            .await
            .context("deleting a webhook receipt")?;
        Ok(())
    }

    /// Pending receipts per channel.
    pub async fn counts(&self) -> Result<BTreeMap<String, i64>, LedgerError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT channel_id, CAST(COUNT(*) AS BIGINT) FROM webhook_receipts GROUP BY channel_id",
        )
        .fetch_all(&self.ledger.pool)
        .await
        .context("counting webhook receipts")?;
        Ok(rows.into_iter().collect())
    }
}
