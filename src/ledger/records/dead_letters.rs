//! The store of dead letters (`dead_letters`), reached as [`Ledger::dead_letters`]: listing
//! updates a channel refused for good, parked by the pusher (`sync/push/park.rs`) and retried
//! or discarded by an operator (`ops/dead_letters.rs`).

use std::collections::{BTreeMap, BTreeSet};

use crate::ledger::db::write::WriteTx;
use crate::ledger::error::DatabaseContext;
use crate::ledger::push::targets::forget_pushed;
use crate::ledger::records::channel_rows::rows_of_channel;
use crate::ledger::types::now_millis;
use crate::ledger::{Ledger, LedgerError};

/// A listing update a channel refused for good.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadLetterRecord {
    pub id: i64,
    pub channel_id: String,
    pub listing_id: String,
    pub sku: String,
    /// The quantity that was refused.
    pub quantity: i64,
    pub error: String,
    /// How many times the update was refused since it was first parked.
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, channel_id, listing_id, sku, quantity, error, attempts, created_at, updated_at";

/// The dead letters of a ledger's database.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterStore<'a> {
    ledger: &'a Ledger,
}

impl Ledger {
    /// The dead letters.
    pub fn dead_letters(&self) -> DeadLetterStore<'_> {
        DeadLetterStore { ledger: self }
    }
}

impl DeadLetterStore<'_> {
    /// Parks a refused listing update, or counts one more refusal of a parked one.
    pub async fn park(
        &self,
        channel_id: &str,
        listing_id: &str,
        sku: &str,
        quantity: i64,
        error: &str,
    ) -> Result<(), LedgerError> {
        let now = now_millis();
        sqlx::query(
            "INSERT INTO dead_letters (channel_id, listing_id, sku, quantity, error, attempts, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) \
             ON CONFLICT (channel_id, listing_id) DO UPDATE SET quantity = excluded.quantity, \
             error = excluded.error, attempts = dead_letters.attempts + 1, \
             updated_at = excluded.updated_at",
        )
        .bind(channel_id)
        .bind(listing_id)
        .bind(sku)
        .bind(quantity)
        .bind(error)
        .bind(now)
        .execute(&self.ledger.pool)
        .await
        .context("parking a dead letter")?;
        Ok(())
    }

    /// Dead letters, oldest first; of one channel when `channel_id` is given.
    pub async fn list(
        &self,
        channel_id: Option<&str>,
    ) -> Result<Vec<DeadLetterRecord>, LedgerError> {
        rows_of_channel(
            self.ledger,
            "dead_letters",
            COLUMNS,
            channel_id,
            "listing dead letters",
        )
        .await
    }

    pub async fn get(&self, id: i64) -> Result<Option<DeadLetterRecord>, LedgerError> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM dead_letters WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.ledger.pool)
            .await
            .context("reading a dead letter")
    }

    /// Takes a dead letter out to send its update again: in one transaction the letter is
    /// removed, what the channel last confirmed for its listing is forgotten, and an outbox row
    /// for its SKU is written, so whichever replica is the sync leader pushes the listing at
    /// its quantity then. `None` when there was no dead letter with this id.
    pub async fn retry(&self, id: i64) -> Result<Option<DeadLetterRecord>, LedgerError> {
        let mut transaction = WriteTx::begin(self.ledger).await?;
        let letter: Option<DeadLetterRecord> = sqlx::query_as(&format!(
            "DELETE FROM dead_letters WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(transaction.connection())
        .await
        .context("taking out a dead letter")?;
        let Some(letter) = letter else {
            transaction.rollback().await?;
            return Ok(None);
        };
        let listing = (letter.channel_id.as_str(), letter.listing_id.as_str());
        forget_pushed(&mut transaction, &BTreeSet::from([listing])).await?;
        transaction.mark_changed(&letter.sku);
        transaction.commit().await?;
        Ok(Some(letter))
    }

    /// Removes a dead letter; `false` when there was none with this id.
    pub async fn delete(&self, id: i64) -> Result<bool, LedgerError> {
        let deleted = sqlx::query("DELETE FROM dead_letters WHERE id = $1")
            .bind(id)
            .execute(&self.ledger.pool)
            .await
            .context("removing a dead letter")?;
        Ok(deleted.rows_affected() > 0)
    }

    /// The listings of `channel_id` that are parked as dead letters.
    pub async fn parked_listings(&self, channel_id: &str) -> Result<BTreeSet<String>, LedgerError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT listing_id FROM dead_letters WHERE channel_id = $1")
                .bind(channel_id)
                .fetch_all(&self.ledger.pool)
                .await
                .context("reading dead-lettered listings")?;
        Ok(rows.into_iter().map(|(listing,)| listing).collect())
    }

    /// How many dead letters each channel has (channels without any are absent).
    pub async fn counts(&self) -> Result<BTreeMap<String, i64>, LedgerError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT channel_id, CAST(COUNT(*) AS BIGINT) FROM dead_letters GROUP BY channel_id",
        )
        .fetch_all(&self.ledger.pool)
        .await
        .context("counting dead letters")?;
        Ok(rows.into_iter().collect())
    }
}
