//! Items, locations, channels and the listings that bind a channel's offers to SKUs.

use tracing::{debug, info};

use super::error::DatabaseContext;
use super::types::{from_millis, now_millis, Channel, Listing};
use super::write::WriteTx;
use super::{Ledger, LedgerError};

type ListingRow = (String, String, String, i64, i64, Option<i64>, Option<i64>);

const LISTING_COLUMNS: &str = "channel_id, listing_id, sku, multiplier, sync_enabled, \
                               last_pushed_quantity, last_pushed_at";

fn listing_from_row(row: ListingRow) -> Listing {
    let (channel_id, listing_id, sku, multiplier, sync_enabled, quantity, pushed_at) = row;
    Listing {
        channel_id,
        listing_id,
        sku,
        multiplier,
        sync_enabled: sync_enabled != 0,
        last_pushed_quantity: quantity,
        last_pushed_at: pushed_at.map(from_millis),
    }
}

impl Ledger {
    /// Creates the item or renames it.
    pub async fn upsert_item(&self, sku: &str, title: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO items (sku, title, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (sku) DO UPDATE SET title = excluded.title",
        )
        .bind(sku)
        .bind(title)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .context("upserting an item")?;
        debug!(sku = %sku, "item upserted");
        Ok(())
    }

    /// Creates the location or renames it.
    pub async fn upsert_location(&self, code: &str, name: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO locations (code, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name",
        )
        .bind(code)
        .bind(name)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .context("upserting a location")?;
        debug!(location = %code, "location upserted");
        Ok(())
    }

    /// Creates the channel or changes its kind.
    pub async fn upsert_channel(&self, id: &str, kind: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO channels (id, kind, paused, created_at) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind",
        )
        .bind(id)
        .bind(kind)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .context("upserting a channel")?;
        debug!(channel = %id, kind = %kind, "channel upserted");
        Ok(())
    }

    /// Pauses or resumes stock pushes to a channel.
    pub async fn set_channel_paused(&self, id: &str, paused: bool) -> Result<(), LedgerError> {
        let updated = sqlx::query("UPDATE channels SET paused = $1 WHERE id = $2")
            .bind(i64::from(paused))
            .bind(id)
            .execute(&self.pool)
            .await
            .context("pausing a channel")?;
        if updated.rows_affected() == 0 {
            return Err(LedgerError::UnknownChannel(id.to_string()));
        }
        info!(channel = %id, paused, "channel pause changed");
        Ok(())
    }

    pub async fn channels(&self) -> Result<Vec<Channel>, LedgerError> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT id, kind, paused FROM channels ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .context("listing channels")?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, paused)| Channel {
                id,
                kind,
                paused: paused != 0,
            })
            .collect())
    }

    /// Binds a channel's listing to a SKU (`multiplier` stock units per listing unit), or
    /// rebinds it. Writes an outbox row so that the listing's level gets pushed.
    pub async fn bind_listing(
        &self,
        channel_id: &str,
        listing_id: &str,
        sku: &str,
        multiplier: i64,
    ) -> Result<(), LedgerError> {
        if multiplier < 1 {
            return Err(LedgerError::InvalidQuantity {
                quantity: multiplier,
                reason: "a listing's multiplier must be at least 1",
            });
        }
        let mut transaction = WriteTx::begin(self).await?;
        transaction.ensure_channel(channel_id).await?;
        transaction.ensure_item(sku).await?;
        sqlx::query(
            "INSERT INTO listings (channel_id, listing_id, sku, multiplier, sync_enabled) \
             VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (channel_id, listing_id) DO UPDATE SET \
             sku = excluded.sku, multiplier = excluded.multiplier",
        )
        .bind(channel_id)
        .bind(listing_id)
        .bind(sku)
        .bind(multiplier)
        .execute(transaction.connection())
        .await
        .context("binding a listing")?;
        transaction.mark_changed(sku);
        transaction.commit().await?;
        info!(channel = %channel_id, listing = %listing_id, sku = %sku, multiplier, "listing bound");
        Ok(())
    }

    /// Turns stock pushes for one listing on or off.
    pub async fn set_listing_sync(
        &self,
        channel_id: &str,
        listing_id: &str,
        enabled: bool,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE listings SET sync_enabled = $1 WHERE channel_id = $2 AND listing_id = $3",
        )
        .bind(i64::from(enabled))
        .bind(channel_id)
        .bind(listing_id)
        .execute(&self.pool)
        .await
        .context("changing a listing's sync")?;
        Ok(())
    }

    pub async fn listing(
        &self,
        channel_id: &str,
        listing_id: &str,
    ) -> Result<Option<Listing>, LedgerError> {
        let row: Option<ListingRow> = sqlx::query_as(&format!(
            "SELECT {LISTING_COLUMNS} FROM listings WHERE channel_id = $1 AND listing_id = $2"
        ))
        .bind(channel_id)
        .bind(listing_id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a listing")?;
        Ok(row.map(listing_from_row))
    }

    /// Every listing of `sku`, on every channel.
    pub async fn listings_for_sku(&self, sku: &str) -> Result<Vec<Listing>, LedgerError> {
        let rows: Vec<ListingRow> = sqlx::query_as(&format!(
            "SELECT {LISTING_COLUMNS} FROM listings WHERE sku = $1 ORDER BY channel_id, listing_id"
        ))
        .bind(sku)
        .fetch_all(&self.pool)
        .await
        .context("reading the listings of a sku")?;
        Ok(rows.into_iter().map(listing_from_row).collect())
    }

    /// Every listing of a channel.
    pub async fn listings_for_channel(
        &self,
        channel_id: &str,
    ) -> Result<Vec<Listing>, LedgerError> {
        let rows: Vec<ListingRow> = sqlx::query_as(&format!(
            "SELECT {LISTING_COLUMNS} FROM listings WHERE channel_id = $1 ORDER BY listing_id"
        ))
        .bind(channel_id)
        .fetch_all(&self.pool)
        .await
        .context("reading the listings of a channel")?;
        Ok(rows.into_iter().map(listing_from_row).collect())
    }
}
