//! What the ledger knows of a page of a channel's catalog, in two statements however long the
//! page: which of its SKUs are items, and how its listings are bound on the channel. Listing
//! discovery and the first count from a channel (`ops/discovery.rs`, `ops/channel_count.rs`)
//! read the catalog a page at a time and ask this of each page.

use std::collections::{BTreeSet, HashMap};

use crate::ledger::db::row_set::{rows_json, rows_table, KeyRow, KEY_COLUMNS};
use crate::ledger::db::write::begin_key_lookups;
use crate::ledger::error::DatabaseContext;
use crate::ledger::stock::catalog::read_components;
use crate::ledger::types::{Balance, ListingComponent};
use crate::ledger::{Ledger, LedgerError};

/// What the ledger holds for one page of a channel's catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogMatch {
    /// The page's SKUs that are items of the ledger.
    pub items: BTreeSet<String>,
    /// The page's listings bound on the channel, with their components (sorted by SKU).
    pub bindings: HashMap<String, Vec<ListingComponent>>,
}

impl Ledger {
    /// Which of `skus` are items, and how `listing_ids` are bound on `channel_id`.
    pub async fn match_catalog_page(
        &self,
        channel_id: &str,
        listing_ids: &[String],
        skus: &[String],
    ) -> Result<CatalogMatch, LedgerError> {
        let mut connection = begin_key_lookups(self).await?;
        let items = if skus.is_empty() {
            BTreeSet::new()
        } else {
            let rows: Vec<KeyRow<'_>> = skus.iter().map(|key| KeyRow { key }).collect();
            let sql = format!(
                "SELECT i.sku FROM {} JOIN items i ON i.sku = k.key",
                rows_table(self.backend, "k", KEY_COLUMNS)
            );
            let found: Vec<(String,)> = sqlx::query_as(&sql)
                .bind(rows_json(&rows)?)
                .fetch_all(&mut *connection)
                .await
                .context("looking up the items of a catalog page")?;
            found.into_iter().map(|(sku,)| sku).collect()
        };
        let keys: BTreeSet<(&str, &str)> = listing_ids
            .iter()
            .map(|listing_id| (channel_id, listing_id.as_str()))
            .collect();
        let bindings = read_components(&mut connection, self.backend, &keys)
            .await?
            .into_iter()
            .map(|((_, listing_id), components)| (listing_id, components))
            .collect();
        connection
            .commit()
            .await
            .context("ending a catalog lookup")?;
        Ok(CatalogMatch { items, bindings })
    }

    /// The balances of `skus` at `location` (a SKU without one there is left out).
    pub async fn balances_at(
        &self,
        location: &str,
        skus: &[String],
    ) -> Result<HashMap<String, Balance>, LedgerError> {
        if skus.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<KeyRow<'_>> = skus.iter().map(|key| KeyRow { key }).collect();
        let sql = format!(
            "SELECT b.sku, b.on_hand, b.reserved FROM {} JOIN balances b \
             ON b.sku = k.key AND b.location = $2",
            rows_table(self.backend, "k", KEY_COLUMNS)
        );
        let found: Vec<(String, i64, i64)> = sqlx::query_as(&sql)
            .bind(rows_json(&rows)?)
            .bind(location)
            .fetch_all(&self.pool)
            .await
            .context("reading the balances of a catalog page")?;
        Ok(found
            .into_iter()
            .map(|(sku, on_hand, reserved)| {
                let balance = Balance {
                    sku: sku.clone(),
                    location: location.to_string(),
                    on_hand,
                    reserved,
                };
                (sku, balance)
            })
            .collect())
    }
}
