//! The outbox: SKUs whose availability changed, for the relay.

use crate::ledger::error::DatabaseContext;
use crate::ledger::types::{from_millis, OutboxEntry};
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
}
