//! The channels' poll cursors: where each channel's next order poll starts.

use crate::ledger::error::DatabaseContext;
use crate::ledger::types::now_millis;
use crate::ledger::{Ledger, LedgerError};

impl Ledger {
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
