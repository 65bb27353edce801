//! Binding the listings discovery found new, each checked again inside the transaction that
//! binds it: the catalog was classified page by page before, possibly long before (a dry run
//! an operator read, or a catalog of 100,000 listings read within the channel's rate limit),
//! and meanwhile an operator may have bound a listing, or an item may be gone. Such a listing
//! is left as it is and reported, never overwritten.

use std::collections::{BTreeSet, HashMap};

use crate::ledger::db::row_set::{rows_json, rows_table, KeyRow, KEY_COLUMNS};
use crate::ledger::db::write::WriteTx;
use crate::ledger::error::DatabaseContext;
use crate::ledger::stock::catalog::read_components;
use crate::ledger::types::ListingComponent;
use crate::ledger::{Ledger, LedgerError};
use tracing::info;

/// Candidates checked per statement.
const CHUNK: usize = 500;

/// Why a listing discovery classified new was not bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotBound {
    /// The listing was bound meanwhile (to these components; empty when another transaction
    /// bound it while this one ran).
    BoundMeanwhile(Vec<ListingComponent>),
    /// No item has its SKU any more.
    ItemGone,
}

/// What binding discovered listings did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveredBinding {
    /// Listings bound, each to its SKU (one unit).
    pub bound: u64,
    /// Listings left alone, by listing id with their SKU.
    pub not_bound: Vec<(String, String, NotBound)>,
}

impl Ledger {
    /// Binds each of `candidates` (listing id, SKU) on `channel_id` to its SKU, one unit, in
    /// one transaction, unless the listing is bound already or the SKU is no item: both are
    /// read inside the transaction, and the insert never replaces a binding another writer
    /// made meanwhile.
    pub async fn bind_discovered(
        &self,
        channel_id: &str,
        candidates: &[(String, String)],
    ) -> Result<DiscoveredBinding, LedgerError> {
        let mut outcome = DiscoveredBinding::default();
        let mut transaction = WriteTx::begin(self).await?;
        if let Err(error) = transaction.ensure_channel(channel_id).await {
            transaction.rollback().await?;
            return Err(error);
        }
        for chunk in candidates.chunks(CHUNK) {
            if let Err(error) = bind_chunk(&mut transaction, channel_id, chunk, &mut outcome).await
            {
                transaction.rollback().await?;
                return Err(error);
            }
        }
        transaction.commit().await?;
        info!(channel = %channel_id, bound = outcome.bound, left_alone = outcome.not_bound.len(),
            "discovered listings bound");
        Ok(outcome)
    }
}

async fn bind_chunk(
    transaction: &mut WriteTx<'_>,
    channel_id: &str,
    chunk: &[(String, String)],
    outcome: &mut DiscoveredBinding,
) -> Result<(), LedgerError> {
    let backend = transaction.backend();
    let keys: BTreeSet<(&str, &str)> = chunk
        .iter()
        .map(|(listing_id, _)| (channel_id, listing_id.as_str()))
        .collect();
    let mut bound = read_components(transaction.connection(), backend, &keys).await?;
    let rows: Vec<KeyRow<'_>> = chunk.iter().map(|(_, sku)| KeyRow { key: sku }).collect();
    let sql = format!(
        "SELECT i.sku FROM {} JOIN items i ON i.sku = k.key",
        rows_table(backend, "k", KEY_COLUMNS)
    );
    let items: Vec<(String,)> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(transaction.connection())
        .await
        .context("looking up the items of discovered listings")?;
    let items: BTreeSet<String> = items.into_iter().map(|(sku,)| sku).collect();
    let mut components: HashMap<String, Vec<ListingComponent>> = bound
        .drain()
        .map(|((_, listing_id), components)| (listing_id, components))
        .collect();
    for (listing_id, sku) in chunk {
        if let Some(components) = components.remove(listing_id) {
            let reason = NotBound::BoundMeanwhile(components);
            outcome
                .not_bound
                .push((listing_id.clone(), sku.clone(), reason));
            continue;
        }
        if !items.contains(sku) {
            let reason = NotBound::ItemGone;
            outcome
                .not_bound
                .push((listing_id.clone(), sku.clone(), reason));
            continue;
        }
        // `DO NOTHING`: a binding another transaction committed since the read above stays.
        let inserted = sqlx::query(
            "INSERT INTO listings (channel_id, listing_id, sku, multiplier, sync_enabled) \
             VALUES ($1, $2, $3, 1, 1) ON CONFLICT (channel_id, listing_id) DO NOTHING",
        )
        .bind(channel_id)
        .bind(listing_id)
        .bind(sku)
        .execute(transaction.connection())
        .await
        .context("binding a discovered listing")?;
        if inserted.rows_affected() == 0 {
            let reason = NotBound::BoundMeanwhile(Vec::new());
            outcome
                .not_bound
                .push((listing_id.clone(), sku.clone(), reason));
            continue;
        }
        sqlx::query(
            "INSERT INTO listing_components (channel_id, listing_id, sku, quantity) \
             VALUES ($1, $2, $3, 1)",
        )
        .bind(channel_id)
        .bind(listing_id)
        .bind(sku)
        .execute(transaction.connection())
        .await
        .context("writing a discovered listing's component")?;
        transaction.mark_changed(sku);
        outcome.bound += 1;
    }
    Ok(())
}
