//! What the connector knows of each listing's `available` quantity at its location: the
//! compare value of the next stock update.
//!
//! A level is observed (read, or set by a confirmed update) at some instant between a request
//! and its answer. Shopify's own sales change it afterwards; the connector learns of them from
//! its order events ([`crate::sales`]) and applies each to the level when the sale is known to
//! have come after the observation, ignores it when before, and forgets the level (to read it
//! again before the next push) when the two cannot be ordered. Sales are kept for a while, so
//! that a level observed by a request that was in flight when the sale was learnt still
//! takes it into account.

use crate::sales::SaleChange;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// How far Shopify's clock and this host's may disagree when ordering a sale against an
/// observed level.
const CLOCK_MARGIN_MS: i64 = 250;
/// How long a sale is kept for observations still in flight when it was learnt.
const SALE_MEMORY_SECONDS: i64 = 60;

/// When a request was sent and when it was answered.
pub type Observed = (DateTime<Utc>, DateTime<Utc>);

/// What the connector knows about one listing at the configured location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownLevel {
    pub inventory_item_id: String,
    pub sku: Option<String>,
    /// `None`: the item is not stocked at the location.
    pub available: Option<i64>,
    /// Shopify held `available` at some instant between these two: what orders changed
    /// before is in it, what they changed after is not.
    pub observed_from: DateTime<Utc>,
    pub observed_to: DateTime<Utc>,
}

/// How a sale stands to an observed level.
enum Order {
    After,
    Before,
    Unknown,
}

fn order(change: &SaleChange, level: &KnownLevel) -> Order {
    let margin = Duration::milliseconds(CLOCK_MARGIN_MS);
    if change
        .not_before
        .is_some_and(|at| at >= level.observed_to + margin)
    {
        Order::After
    } else if change.before + margin <= level.observed_from {
        Order::Before
    } else {
        Order::Unknown
    }
}

#[derive(Debug, Default)]
struct Levels {
    known: HashMap<String, KnownLevel>,
    /// Recent sales per listing, with when they were learnt.
    sales: HashMap<String, Vec<(DateTime<Utc>, SaleChange)>>,
}

impl Levels {
    /// Applies `change` to the level of its listing; `false` when the level must be forgotten.
    fn apply(level: &mut KnownLevel, change: &SaleChange) -> bool {
        let Some(available) = level.available else {
            return true;
        };
        match order(change, level) {
            Order::After => {
                level.available = Some(available - change.taken);
                true
            }
            Order::Before => true,
            Order::Unknown => false,
        }
    }

    /// Records a new observation, with the sales learnt while it was in flight.
    fn observe(&mut self, listing_id: &str, mut level: KnownLevel) {
        let sales = self.sales.get(listing_id).map(Vec::as_slice).unwrap_or(&[]);
        let sent = level.observed_from;
        let keep = sales
            .iter()
            .filter(|(learnt, _)| *learnt >= sent)
            .all(|(_, change)| Self::apply(&mut level, change));
        if keep {
            self.known.insert(listing_id.to_string(), level);
        } else {
            self.known.remove(listing_id);
        }
    }
}

/// The last known level of every listing this connector read or set.
#[derive(Debug, Default)]
pub struct LevelCache(Mutex<Levels>);

impl LevelCache {
    pub fn get(&self, listing_id: &str) -> Option<KnownLevel> {
        self.0.lock().ok()?.known.get(listing_id).cloned()
    }

    pub(crate) fn insert(&self, listing_id: &str, level: KnownLevel) {
        if let Ok(mut levels) = self.0.lock() {
            levels.observe(listing_id, level);
        }
    }

    pub(crate) fn set_available(
        &self,
        listing_id: &str,
        available: Option<i64>,
        observed: Observed,
    ) {
        if let Ok(mut levels) = self.0.lock() {
            if let Some(level) = levels.known.get(listing_id).cloned() {
                let (observed_from, observed_to) = observed;
                levels.observe(
                    listing_id,
                    KnownLevel {
                        available,
                        observed_from,
                        observed_to,
                        ..level
                    },
                );
            }
        }
    }

    /// Keeps a level true to a sale (or restock) Shopify made itself.
    pub fn apply_sale(&self, change: &SaleChange) {
        let Ok(mut levels) = self.0.lock() else {
            return;
        };
        let now = Utc::now();
        let forget_before = now - Duration::seconds(SALE_MEMORY_SECONDS);
        let sales = levels.sales.entry(change.listing_id.clone()).or_default();
        sales.retain(|(learnt, _)| *learnt >= forget_before);
        sales.push((now, change.clone()));
        if levels.sales.len() > 10_000 {
            levels
                .sales
                .retain(|_, sales| sales.iter().any(|(learnt, _)| *learnt >= forget_before));
        }
        let keep = match levels.known.get_mut(&change.listing_id) {
            Some(level) => Levels::apply(level, change),
            None => true,
        };
        if !keep {
            levels.known.remove(&change.listing_id);
        }
    }

    /// Whether Shopify sold the listing within the last [`SALE_MEMORY_SECONDS`], as learnt
    /// from orders: its next sale may reach Shopify before its order reaches omnistock.
    pub fn sold_lately(&self, listing_id: &str) -> bool {
        let Ok(levels) = self.0.lock() else {
            return false;
        };
        let since = Utc::now() - Duration::seconds(SALE_MEMORY_SECONDS);
        levels.sales.get(listing_id).is_some_and(|sales| {
            sales
                .iter()
                .any(|(learnt, change)| *learnt >= since && change.taken > 0)
        })
    }

    pub(crate) fn remove(&self, listing_id: &str) {
        if let Ok(mut levels) = self.0.lock() {
            levels.known.remove(listing_id);
        }
    }
}
