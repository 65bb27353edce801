//! A first stock count taken from what a channel shows, for a merchant whose stock lives in
//! that store today: the catalog read page by page through the channel's gateway, each item's
//! quantity taken from the listing carrying its SKU, and on hand at a location set so that the
//! ledger's available equals what the channel shows (on hand = shown + what open orders
//! reserve there). A dry run reports every change first; applied, every count is journaled as
//! a `count` whose actor is the channel (`channel:<id>`), in one transaction.
//!
//! A listing is left out when it has no SKU or no quantity, when its SKU is no item, when it
//! is bound to something else than its SKU alone (a multipack or bundle shows its own
//! quantity, not the item's), or when listings of one SKU at one location show different
//! quantities.
//!
//! A listing that sells from a location of its own (a TikTok Shop warehouse mapped to a ledger
//! location, [`omnistock_connector::Connector::listing_location`]) counts at that location;
//! the others at the location asked for.

use crate::ledger::{Ledger, StockCount};
use crate::ops::catalog_walk::{CatalogError, CatalogWalk, WalkProgress};
use crate::sync::gateway::Interrupt;
use crate::sync::ChannelRuntime;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tracing::info;

/// SKUs whose balances are read per statement.
const BALANCE_CHUNK: usize = 500;

/// Why listings were left out of the count.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    NoSku,
    NoQuantity,
    /// No item has the listing's SKU.
    Unmatched,
    /// Bound to another SKU, as a multipack or in a bundle.
    BoundDifferently,
    /// Listings of the SKU show different quantities.
    Conflicting,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSku => "no_sku",
            Self::NoQuantity => "no_quantity",
            Self::Unmatched => "unmatched",
            Self::BoundDifferently => "bound_differently",
            Self::Conflicting => "conflicting",
        }
    }
}

/// One item whose on hand the count changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CountChange {
    pub sku: String,
    /// Where it is counted: the listing's own location, else the count's.
    pub location: String,
    pub on_hand: i64,
    /// What open orders reserve at the location.
    pub reserved: i64,
    /// What the channel shows.
    pub channel_quantity: i64,
    /// On hand once counted: the channel's quantity plus what is reserved, never negative.
    pub counted: i64,
    pub change: i64,
}

/// What a count from a channel found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelCountReport {
    pub channel: String,
    /// Where listings without a location of their own are counted.
    pub location: String,
    pub pages: u64,
    pub listings: u64,
    /// Items whose on hand changes, by SKU.
    pub changes: Vec<CountChange>,
    /// Items already at the channel's quantity.
    pub unchanged: u64,
    /// Listings left out, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Counts applied now; `None` for a dry run.
    pub applied: Option<u64>,
}

/// The quantity one SKU shows on the channel.
#[derive(Debug, Clone, Copy)]
struct Shown {
    quantity: i64,
    listings: u32,
    conflicting: bool,
}

/// Reads the channel's catalog and counts its items at `location` (the channel's own when
/// `None`); with `apply`, sets every changed on hand in one transaction.
pub async fn count_from_channel(
    ledger: &Ledger,
    channel: &ChannelRuntime,
    location: Option<&str>,
    apply: bool,
    interrupt: Interrupt,
    mut on_page: impl FnMut(WalkProgress),
) -> Result<ChannelCountReport, CatalogError> {
    let location = location.unwrap_or(&channel.location).to_string();
    if !ledger.locations().await?.contains(&location) {
        return Err(CatalogError::UnknownLocation(location));
    }
    let mut walk = CatalogWalk::new(&channel.id, &channel.client, interrupt);
    let mut skipped: BTreeMap<SkipReason, u64> = BTreeMap::new();
    // By SKU and the location it is counted at.
    let mut shown: HashMap<(String, String), Shown> = HashMap::new();
    while let Some(listings) = walk.next_page().await? {
        let listing_ids: Vec<String> = listings.iter().map(|l| l.listing_id.clone()).collect();
        let skus: Vec<String> = listings.iter().filter_map(|l| l.sku.clone()).collect();
        let known = ledger
            .match_catalog_page(&channel.id, &listing_ids, &skus)
            .await?;
        for listing in listings {
            let reason = match (&listing.sku, listing.quantity) {
                (None, _) => Some(SkipReason::NoSku),
                (Some(_), None) => Some(SkipReason::NoQuantity),
                (Some(sku), Some(_)) if !known.items.contains(sku) => Some(SkipReason::Unmatched),
                (Some(sku), Some(_)) => match known.bindings.get(&listing.listing_id) {
                    Some(components)
                        if !(components.len() == 1
                            && &components[0].sku == sku
                            && components[0].quantity == 1) =>
                    {
                        Some(SkipReason::BoundDifferently)
                    }
                    _ => None,
                },
            };
            if let Some(reason) = reason {
                *skipped.entry(reason).or_default() += 1;
                continue;
            }
            let (Some(sku), Some(quantity)) = (listing.sku, listing.quantity) else {
                continue;
            };
            let place = channel
                .connector
                .listing_location(&listing.listing_id)
                .unwrap_or_else(|| location.clone());
            shown
                .entry((sku, place))
                .and_modify(|seen| {
                    seen.listings = seen.listings.saturating_add(1);
                    seen.conflicting |= seen.quantity != quantity;
                })
                .or_insert(Shown {
                    quantity,
                    listings: 1,
                    conflicting: false,
                });
        }
        on_page(walk.progress());
    }
    // By location, then SKU.
    let mut counted: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for ((sku, place), seen) in shown {
        if seen.conflicting {
            *skipped.entry(SkipReason::Conflicting).or_default() += u64::from(seen.listings);
        } else {
            counted.entry(place).or_default().push((sku, seen.quantity));
        }
    }
    let known_locations = ledger.locations().await?;
    if let Some(missing) = counted
        .keys()
        .find(|place| !known_locations.contains(*place))
    {
        return Err(CatalogError::UnknownLocation(missing.clone()));
    }
    let mut changes = Vec::new();
    let mut unchanged = 0;
    for (place, items) in &mut counted {
        items.sort();
        count_at(ledger, place, items, &mut changes, &mut unchanged).await?;
    }
    let applied = if apply {
        let counts: Vec<StockCount> = changes
            .iter()
            .map(|change| StockCount {
                sku: change.sku.clone(),
                location: change.location.clone(),
                on_hand: change.counted,
            })
            .collect();
        let key_prefix = format!(
            "channel-count:{}:{}",
            channel.id,
            uuid::Uuid::now_v7().simple()
        );
        let applied = ledger
            .import_counts(
                &counts,
                &key_prefix,
                Some(&format!("channel:{}", channel.id)),
                Some(&format!("first count from channel {}", channel.id)),
            )
            .await?;
        Some(applied as u64)
    } else {
        None
    };
    let progress = walk.progress();
    info!(channel = %channel.id, location = %location, listings = progress.listings,
        changes = changes.len(), unchanged, applied, "count from the channel done");
    Ok(ChannelCountReport {
        channel: channel.id.clone(),
        location,
        pages: progress.pages,
        listings: progress.listings,
        changes,
        unchanged,
        skipped,
        applied,
    })
}

/// The changes counting `items` (SKU, the channel's quantity) at `location` makes, in chunks of
/// [`BALANCE_CHUNK`] SKUs; items already there are counted in `unchanged`.
async fn count_at(
    ledger: &Ledger,
    location: &str,
    items: &[(String, i64)],
    changes: &mut Vec<CountChange>,
    unchanged: &mut u64,
) -> Result<(), CatalogError> {
    for chunk in items.chunks(BALANCE_CHUNK) {
        let skus: Vec<String> = chunk.iter().map(|(sku, _)| sku.clone()).collect();
        let balances = ledger.balances_at(location, &skus).await?;
        for (sku, quantity) in chunk {
            let (on_hand, reserved) = balances
                .get(sku)
                .map_or((0, 0), |balance| (balance.on_hand, balance.reserved));
            let target = quantity.saturating_add(reserved).max(0);
            if target == on_hand {
                *unchanged += 1;
                continue;
            }
            changes.push(CountChange {
                sku: sku.clone(),
                location: location.to_string(),
                on_hand,
                reserved,
                channel_quantity: *quantity,
                counted: target,
                change: target - on_hand,
            });
        }
    }
    Ok(())
}
