//! Binding the listings discovery found new, each checked again inside the transaction that
//! binds it: the catalog was classified page by page before, possibly long before (a dry run
//! an operator read, or a catalog of 100,000 listings read within the channel's rate limit),
//! and meanwhile an operator may have bound a listing, or an item may be gone. Such a listing
//! is left as it is and reported, never overwritten.

use std::collections::{BTreeSet, HashMap};

use crate::ledger::db::row_set::{rows_json, rows_table, ColumnType, Columns, KeyRow, KEY_COLUMNS};
use crate::ledger::db::write::WriteTx;
use crate::ledger::error::DatabaseContext;
use crate::ledger::stock::catalog::read_components;
use crate::ledger::types::ListingComponent;
use crate::ledger::{Ledger, LedgerError};
use serde::Serialize;
use tracing::info;

/// Candidates checked and bound per statement.
const CHUNK: usize = 500;

/// A listing to bind to its SKU, as a row of a row set.
#[derive(Serialize)]
struct CandidateRow<'a> {
    channel_id: &'a str,
    listing_id: &'a String,
    sku: &'a String,
    location: Option<&'a str>,
}

const CANDIDATE_COLUMNS: Columns = &[
    ("channel_id", ColumnType::Text),
    ("listing_id", ColumnType::Text),
    ("sku", ColumnType::Text),
    ("location", ColumnType::Text),
];

/// A listing discovery classified new, to bind to its SKU (one unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewListing {
    pub listing_id: String,
    pub sku: String,
    /// The location it sells from, on a channel that keeps stock per location.
    pub location: Option<String>,
}

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
    /// Binds each of `candidates` on `channel_id` to its SKU, one unit, at its location, in
    /// one transaction, unless the listing is bound already or the SKU is no item: both are
    /// read inside the transaction, and the insert never replaces a binding another writer
    /// made meanwhile. A location named is created when missing, as binding does.
    pub async fn bind_discovered(
        &self,
        channel_id: &str,
        candidates: &[NewListing],
    ) -> Result<DiscoveredBinding, LedgerError> {
        let mut outcome = DiscoveredBinding::default();
        let mut transaction = WriteTx::begin(self).await?;
        let locations: BTreeSet<&str> = candidates
            .iter()
            .filter_map(|candidate| candidate.location.as_deref())
            .collect();
        let prepared = async {
            transaction.ensure_channel(channel_id).await?;
            for location in locations {
                transaction.create_location_if_missing(location).await?;
            }
            Ok::<(), LedgerError>(())
        }
        .await;
        if let Err(error) = prepared {
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
    chunk: &[NewListing],
    outcome: &mut DiscoveredBinding,
) -> Result<(), LedgerError> {
    let backend = transaction.backend();
    let keys: BTreeSet<(&str, &str)> = chunk
        .iter()
        .map(|candidate| (channel_id, candidate.listing_id.as_str()))
        .collect();
    let mut bound = read_components(transaction.connection(), backend, &keys).await?;
    let rows: Vec<KeyRow<'_>> = chunk
        .iter()
        .map(|candidate| KeyRow {
            key: &candidate.sku,
        })
        .collect();
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
    let mut eligible: Vec<CandidateRow<'_>> = Vec::with_capacity(chunk.len());
    for candidate in chunk {
        let reason = match components.remove(&candidate.listing_id) {
            Some(components) => NotBound::BoundMeanwhile(components),
            None if !items.contains(&candidate.sku) => NotBound::ItemGone,
            None => {
                eligible.push(CandidateRow {
                    channel_id,
                    listing_id: &candidate.listing_id,
                    sku: &candidate.sku,
                    location: candidate.location.as_deref(),
                });
                continue;
            }
        };
        outcome
            .not_bound
            .push((candidate.listing_id.clone(), candidate.sku.clone(), reason));
    }
    if eligible.is_empty() {
        return Ok(());
    }
    // One statement per chunk; `DO NOTHING`: a binding another transaction committed since the
    // read above stays, and is not returned. (SQLite needs the `WHERE` to parse an upsert
    // over a `SELECT`.)
    let sql = format!(
        "INSERT INTO listings (channel_id, listing_id, sku, multiplier, sync_enabled, location) \
         SELECT r.channel_id, r.listing_id, r.sku, 1, 1, r.location FROM {} WHERE true \
         ON CONFLICT (channel_id, listing_id) DO NOTHING RETURNING listing_id",
        rows_table(backend, "r", CANDIDATE_COLUMNS)
    );
    let inserted: Vec<(String,)> = sqlx::query_as(&sql)
        .bind(rows_json(&eligible)?)
        .fetch_all(transaction.connection())
        .await
        .context("binding discovered listings")?;
    let inserted: BTreeSet<String> = inserted.into_iter().map(|(id,)| id).collect();
    let (bound_now, taken): (Vec<CandidateRow<'_>>, Vec<CandidateRow<'_>>) = eligible
        .into_iter()
        .partition(|row| inserted.contains(row.listing_id));
    for row in taken {
        let reason = NotBound::BoundMeanwhile(Vec::new());
        outcome
            .not_bound
            .push((row.listing_id.clone(), row.sku.clone(), reason));
    }
    if bound_now.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO listing_components (channel_id, listing_id, sku, quantity) \
         SELECT r.channel_id, r.listing_id, r.sku, 1 FROM {}",
        rows_table(backend, "r", CANDIDATE_COLUMNS)
    );
    sqlx::query(&sql)
        .bind(rows_json(&bound_now)?)
        .execute(transaction.connection())
        .await
        .context("writing discovered listings' components")?;
    for row in &bound_now {
        transaction.mark_changed(row.sku);
    }
    outcome.bound += bound_now.len() as u64;
    Ok(())
}
