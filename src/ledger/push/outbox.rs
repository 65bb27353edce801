//! The outbox (SKUs whose availability changed, for the relay) and the channels' poll cursors.

use crate::ledger::error::DatabaseContext;
use crate::ledger::types::{from_millis, now_millis, OutboxEntry};
use crate::ledger::{Ledger, LedgerError};

impl Ledger {
    /// Up to `limit` of the oldest outbox rows.
    pub async fn outbox_fetch(&self, limit: i64) -> Result<Vec<OutboxEntry>, LedgerError> {
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT id, sku, created_at FROM outbox ORDER BY id LIMIT $1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .context("reading the outbox")?;
        Ok(rows
            .into_iter()
            .map(|(id, sku, created_at)| OutboxEntry {
                id,
                sku,
                created_at: from_millis(created_at),
            })
            .collect())
    }

    /// Deletes outbox rows (after the bus confirmed them).
    pub async fn outbox_delete(&self, ids: &[i64]) -> Result<(), LedgerError> {
        // Placeholders are numbered here because the Any driver cannot bind arrays.
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> =
                (1..=chunk.len()).map(|index| format!("${index}")).collect();
            let sql = format!(
                "DELETE FROM outbox WHERE id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            query
                .execute(&self.pool)
                .await
                .context("deleting outbox rows")?;
        }
        Ok(())
    }

    /// How many rows wait in the outbox.
    pub async fn outbox_len(&self) -> Result<u64, LedgerError> {
        let (count,): (i64,) = sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM outbox")
            .fetch_one(&self.pool)
            .await
            .context("counting the outbox")?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// The poll cursor stored for a channel.
    pub async fn load_cursor(&self, channel_id: &str) -> Result<Option<String>, LedgerError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT cursor FROM channel_cursors WHERE channel_id = $1")
                .bind(channel_id)
                .fetch_optional(&self.pool)
                .await
                .context("reading a channel cursor")?;
        Ok(row.map(|(cursor,)| cursor))
    }

    /// Stores a channel's poll cursor (after the orders it covers are booked).
    pub async fn store_cursor(&self, channel_id: &str, cursor: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO channel_cursors (channel_id, cursor, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (channel_id) DO UPDATE SET cursor = excluded.cursor, \
             updated_at = excluded.updated_at",
        )
        .bind(channel_id)
        .bind(cursor)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .context("storing a channel cursor")?;
        Ok(())
    }
}
