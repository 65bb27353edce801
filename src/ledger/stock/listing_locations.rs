//! The location each listing sells from (`listings.location`): a channel that keeps stock per
//! location (TikTok Shop with `warehouses` mapped) says it per listing through its connector;
//! binding writes it, and [`Ledger::refresh_listing_locations`] brings a channel's listings in
//! line with the connector's settings at start (a warehouse mapped to another location, say).

use std::collections::BTreeSet;

use tracing::debug;

use crate::ledger::db::write::WriteTx;
use crate::ledger::error::DatabaseContext;
use crate::ledger::stock::catalog::read_components;
use crate::ledger::types::LocationChange;
use crate::ledger::{Ledger, LedgerError};

impl Ledger {
    /// Sets each listing of `channel_id` to the location `locate` gives it, in one
    /// transaction; a listing whose location changes is pushed again (its policy reads another
    /// location's stock now). Every location named is created when missing (named by its code),
    /// as the channel's own location is, so that orders can be booked there. Returns the
    /// changes.
    pub async fn refresh_listing_locations(
        &self,
        channel_id: &str,
        locate: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Vec<LocationChange>, LedgerError> {
        // Read first, outside a write transaction: on most starts nothing changed, and then
        // no write transaction (SQLite's one write lock) is taken. What `locate` says depends
        // on the listing id alone, so a listing bound meanwhile was bound with the same
        // location.
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT listing_id, location FROM listings WHERE channel_id = $1 ORDER BY listing_id",
        )
        .bind(channel_id)
        .fetch_all(&self.pool)
        .await
        .context("reading a channel's listing locations")?;
        let changes: Vec<LocationChange> = rows
            .into_iter()
            .filter_map(|(listing_id, before)| {
                let after = locate(&listing_id);
                (after != before).then_some(LocationChange {
                    listing_id,
                    before,
                    after,
                })
            })
            .collect();
        if changes.is_empty() {
            debug!(channel = %channel_id, "listing locations as the channel's settings say");
            return Ok(changes);
        }
        let mut transaction = WriteTx::begin(self).await?;
        let locations: BTreeSet<&str> = changes
            .iter()
            .filter_map(|change| change.after.as_deref())
            .collect();
        for location in locations {
            transaction.create_location_if_missing(location).await?;
        }
        for change in &changes {
            sqlx::query(
                "UPDATE listings SET location = $1 WHERE channel_id = $2 AND listing_id = $3",
            )
            .bind(change.after.as_deref())
            .bind(channel_id)
            .bind(&change.listing_id)
            .execute(transaction.connection())
            .await
            .context("setting a listing's location")?;
        }
        let changed: BTreeSet<(&str, &str)> = changes
            .iter()
            .map(|change| (channel_id, change.listing_id.as_str()))
            .collect();
        let backend = transaction.backend();
        let components = read_components(transaction.connection(), backend, &changed).await?;
        for component in components.into_values().flatten() {
            transaction.mark_changed(&component.sku);
        }
        transaction.commit().await?;
        debug!(channel = %channel_id, changed = changes.len(), "listing locations refreshed");
        Ok(changes)
    }
}
