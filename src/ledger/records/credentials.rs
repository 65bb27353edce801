//! The store the daemon gives each channel for credentials its connector renews (see
//! [`omnistock_connector::CredentialStore`]): one row per channel in `channel_credentials`.

use crate::ledger::error::DatabaseContext;
use crate::ledger::types::now_millis;
use crate::ledger::Ledger;
use async_trait::async_trait;
use omnistock_connector::{CredentialStore, Secret};

/// One channel's credentials in the ledger.
#[derive(Clone)]
pub struct LedgerCredentialStore {
    ledger: Ledger,
    channel_id: String,
}

impl Ledger {
    /// The credential store of a channel.
    pub fn credentials(&self, channel_id: &str) -> LedgerCredentialStore {
        LedgerCredentialStore {
            ledger: self.clone(),
            channel_id: channel_id.to_string(),
        }
    }
}

#[async_trait]
impl CredentialStore for LedgerCredentialStore {
    async fn load(&self) -> Result<Option<Secret>, String> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM channel_credentials WHERE channel_id = $1")
                .bind(&self.channel_id)
                .fetch_optional(self.ledger.pool())
                .await
                .context("reading a channel's credentials")
                .map_err(|error| error.to_string())?;
        Ok(row.map(|(value,)| Secret::new(value)))
    }

    async fn save(&self, value: &Secret) -> Result<(), String> {
        sqlx::query(
            "INSERT INTO channel_credentials (channel_id, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (channel_id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(&self.channel_id)
        .bind(value.expose())
        .bind(now_millis())
        .execute(self.ledger.pool())
        .await
        .context("saving a channel's credentials")
        .map_err(|error| error.to_string())?;
        Ok(())
    }
}
