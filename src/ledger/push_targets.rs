//! What each listing of a channel should show: the quantities the stock push sends.

use tracing::debug;

use super::error::DatabaseContext;
use super::types::now_millis;
use super::{Ledger, LedgerError};

/// A sync-enabled listing with the quantity it should show now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub listing_id: String,
    pub sku: String,
    pub multiplier: i64,
    /// Whole listing units available now: the SKU's availability summed over all locations,
    /// divided by the multiplier, never below zero.
    pub quantity: i64,
    /// The quantity the channel last confirmed for this listing.
    pub last_pushed_quantity: Option<i64>,
}

type TargetRow = (String, String, i64, Option<i64>, i64);

impl Ledger {
    /// The SKUs with at least one sync-enabled listing on `channel_id`.
    pub async fn channel_skus(&self, channel_id: &str) -> Result<Vec<String>, LedgerError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT sku FROM listings WHERE channel_id = $1 AND sync_enabled = 1 \
             ORDER BY sku",
        )
        .bind(channel_id)
        .fetch_all(&self.pool)
        .await
        .context("reading a channel's skus")?;
        Ok(rows.into_iter().map(|(sku,)| sku).collect())
    }

    /// The sync-enabled listings of `channel_id` bound to one of `skus`, with the quantity each
    /// should show, read now (so a late or repeated stock message is harmless).
    pub async fn push_targets(
        &self,
        channel_id: &str,
        skus: &[String],
    ) -> Result<Vec<PushTarget>, LedgerError> {
        let mut targets = Vec::new();
        // Placeholders are numbered here because the Any driver cannot bind arrays.
        for chunk in skus.chunks(500) {
            let placeholders: Vec<String> = (2..chunk.len() + 2)
                .map(|index| format!("${index}"))
                .collect();
            let sql = format!(
                "SELECT l.listing_id, l.sku, l.multiplier, l.last_pushed_quantity, \
                 CAST(COALESCE((SELECT SUM(b.on_hand - b.reserved) FROM balances b \
                 WHERE b.sku = l.sku), 0) AS BIGINT) \
                 FROM listings l WHERE l.channel_id = $1 AND l.sync_enabled = 1 \
                 AND l.sku IN ({}) ORDER BY l.listing_id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_as::<_, TargetRow>(&sql).bind(channel_id);
            for sku in chunk {
                query = query.bind(sku);
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .context("reading push targets")?;
            targets.extend(rows.into_iter().map(
                |(listing_id, sku, multiplier, last_pushed_quantity, available)| PushTarget {
                    listing_id,
                    sku,
                    multiplier,
                    quantity: available.max(0) / multiplier.max(1),
                    last_pushed_quantity,
                },
            ));
        }
        debug!(channel = %channel_id, skus = skus.len(), targets = targets.len(), "push targets read");
        Ok(targets)
    }

    /// Remembers the quantities a channel confirmed, as `(listing_id, quantity)` pairs.
    pub async fn record_pushed(
        &self,
        channel_id: &str,
        confirmed: &[(String, i64)],
    ) -> Result<(), LedgerError> {
        if confirmed.is_empty() {
            return Ok(());
        }
        let now = now_millis();
        let mut transaction = self
            .pool
            .begin()
            .await
            .context("beginning to record pushes")?;
        for (listing_id, quantity) in confirmed {
            sqlx::query(
                "UPDATE listings SET last_pushed_quantity = $1, last_pushed_at = $2 \
                 WHERE channel_id = $3 AND listing_id = $4",
            )
            .bind(*quantity)
            .bind(now)
            .bind(channel_id)
            .bind(listing_id)
            .execute(&mut *transaction)
            .await
            .context("recording a listing push")?;
        }
        transaction
            .commit()
            .await
            .context("committing recorded pushes")?;
        Ok(())
    }
}
