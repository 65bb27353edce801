//! What each listing of a channel should show: the quantities the stock push sends.
//!
//! The ledger reads the state (listings, their components, balances per location) and
//! [`crate::policy::shown_quantity`] turns it into a quantity; nothing else decides it.

use std::collections::{BTreeMap, BTreeSet};

use tracing::debug;

use super::catalog::{parse_listing_policy, read_components};
use super::error::DatabaseContext;
use super::types::{now_millis, ListingComponent};
use super::{Ledger, LedgerError};
use crate::policy::{shown_quantity, ComponentStock, StockPolicy};

/// A sync-enabled listing with the quantity it should show now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub listing_id: String,
    /// The listing's first component (the only one unless it is a bundle).
    pub sku: String,
    pub multiplier: i64,
    /// Whole listing units the channel's policy (with the listing's overrides) lets it show,
    /// from the stock at the policy's locations; never below zero.
    pub quantity: i64,
    /// The quantity the channel last confirmed for this listing.
    pub last_pushed_quantity: Option<i64>,
}

type TargetRow = (String, String, i64, Option<i64>, Option<String>);

impl Ledger {
    /// The SKUs taken by at least one sync-enabled listing on `channel_id`.
    pub async fn channel_skus(&self, channel_id: &str) -> Result<Vec<String>, LedgerError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT c.sku FROM listing_components c JOIN listings l \
             ON l.channel_id = c.channel_id AND l.listing_id = c.listing_id \
             WHERE c.channel_id = $1 AND l.sync_enabled = 1 ORDER BY c.sku",
        )
        .bind(channel_id)
        .fetch_all(&self.pool)
        .await
        .context("reading a channel's skus")?;
        Ok(rows.into_iter().map(|(sku,)| sku).collect())
    }

    /// The sync-enabled listings of `channel_id` that take stock of one of `skus` (alone, as a
    /// multipack or in a bundle), with the quantity each should show under `policy`, read now
    /// (so a late or repeated stock message is harmless).
    pub async fn push_targets(
        &self,
        channel_id: &str,
        skus: &[String],
        policy: &StockPolicy,
    ) -> Result<Vec<PushTarget>, LedgerError> {
        let mut connection = self.pool.acquire().await.context("reading push targets")?;
        let mut rows: BTreeMap<String, TargetRow> = BTreeMap::new();
        // Placeholders are numbered here because the Any driver cannot bind arrays.
        for chunk in skus.chunks(500) {
            let placeholders: Vec<String> = (2..chunk.len() + 2)
                .map(|index| format!("${index}"))
                .collect();
            let sql = format!(
                "SELECT l.listing_id, l.sku, l.multiplier, l.last_pushed_quantity, \
                 l.policy_override FROM listings l \
                 WHERE l.channel_id = $1 AND l.sync_enabled = 1 AND EXISTS \
                 (SELECT 1 FROM listing_components c WHERE c.channel_id = l.channel_id \
                 AND c.listing_id = l.listing_id AND c.sku IN ({}))",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_as::<_, TargetRow>(&sql).bind(channel_id);
            for sku in chunk {
                query = query.bind(sku);
            }
            for row in query
                .fetch_all(&mut *connection)
                .await
                .context("reading push targets")?
            {
                rows.insert(row.0.clone(), row);
            }
        }
        let listing_ids: Vec<String> = rows.keys().cloned().collect();
        let components = read_components(&mut connection, channel_id, &listing_ids).await?;
        let component_skus: BTreeSet<String> = components
            .values()
            .flatten()
            .map(|component| component.sku.clone())
            .collect();
        let stock = read_available_by_location(&mut connection, &component_skus).await?;

        let mut targets = Vec::with_capacity(rows.len());
        for (listing_id, (_, sku, multiplier, last_pushed_quantity, policy_override)) in rows {
            let policy = policy.with_override(&parse_listing_policy(policy_override.as_deref()));
            let parts = components
                .get(&listing_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let quantity = shown_quantity(&component_stock(parts, &stock, &policy), &policy);
            targets.push(PushTarget {
                listing_id,
                sku,
                multiplier,
                quantity,
                last_pushed_quantity,
            });
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

/// Available (on hand minus reserved) per SKU and location.
type StockByLocation = BTreeMap<String, Vec<(String, i64)>>;

async fn read_available_by_location(
    connection: &mut sqlx::AnyConnection,
    skus: &BTreeSet<String>,
) -> Result<StockByLocation, LedgerError> {
    let skus: Vec<&String> = skus.iter().collect();
    let mut stock: StockByLocation = BTreeMap::new();
    for chunk in skus.chunks(500) {
        let placeholders: Vec<String> =
            (1..=chunk.len()).map(|index| format!("${index}")).collect();
        let sql = format!(
            "SELECT sku, location, on_hand - reserved FROM balances WHERE sku IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, (String, String, i64)>(&sql);
        for sku in chunk {
            query = query.bind(*sku);
        }
        for (sku, location, available) in query
            .fetch_all(&mut *connection)
            .await
            .context("reading availability by location")?
        {
            stock.entry(sku).or_default().push((location, available));
        }
    }
    Ok(stock)
}

/// Each component's availability summed over the locations that feed the policy's channel.
pub(crate) fn component_stock(
    components: &[ListingComponent],
    stock: &StockByLocation,
    policy: &StockPolicy,
) -> Vec<ComponentStock> {
    components
        .iter()
        .map(|component| ComponentStock {
            available: stock
                .get(&component.sku)
                .map(|places| {
                    places
                        .iter()
                        .filter(|(location, _)| policy.feeds_from(location))
                        .map(|(_, available)| *available)
                        .sum()
                })
                .unwrap_or(0),
            per_unit: component.quantity,
        })
        .collect()
}

/// Forgets what a channel last confirmed for these listings, inside the booking that changed
/// them: a sale or a cancellation on a channel moves the stock that channel shows by itself,
/// so its next push must not be skipped as "unchanged" — even when the ledger ends up where it
/// was (a sale there and a cancellation elsewhere in one coalescing window).
pub(crate) async fn forget_pushed(
    connection: &mut sqlx::AnyConnection,
    channel_id: &str,
    listing_ids: &[String],
) -> Result<(), LedgerError> {
    for chunk in listing_ids.chunks(500) {
        let placeholders: Vec<String> = (2..chunk.len() + 2)
            .map(|index| format!("${index}"))
            .collect();
        let sql = format!(
            "UPDATE listings SET last_pushed_quantity = NULL \
             WHERE channel_id = $1 AND listing_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(channel_id);
        for listing_id in chunk {
            query = query.bind(listing_id);
        }
        query
            .execute(&mut *connection)
            .await
            .context("forgetting pushed quantities")?;
    }
    Ok(())
}
