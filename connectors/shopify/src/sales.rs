//! Shopify's own sales, as the connector's order events show them: how many units each order
//! took from a listing's `available` (Shopify lowers it itself when it sells, and raises it
//! when it restocks a cancel or a return), so that the compare value of the next stock update
//! is what Shopify holds instead of a stale value it would refuse (and with it the whole call).
//!
//! An order's take of a line is what it still holds or shipped and did not get back:
//! `open + committed − returned` of the line's ledger state. A change of take happened between
//! the order's previous `updated_at` (its `created_at` when first seen) and its new one, to the
//! second; [`crate::inventory::LevelCache::apply_sale`] applies it to a level observed before
//! that, ignores it for a level observed after, and forgets a level it cannot order against it.

use chrono::{DateTime, Duration, Utc};
use omnistock_connector::OrderEvent;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

/// Orders remembered; beyond it the memory starts over (an order seen again then counts as
/// first seen, whose change is dated from its creation: safe, at worst a level is re-read).
const MAX_ORDERS: usize = 100_000;

/// A change of what Shopify's sales took from one listing's `available`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleChange {
    pub listing_id: String,
    /// Units taken (positive: `available` went down; negative: restocked).
    pub taken: i64,
    /// The change happened at or after this instant …
    pub not_before: Option<DateTime<Utc>>,
    /// … and before this one.
    pub before: DateTime<Utc>,
}

#[derive(Debug)]
struct SeenOrder {
    updated_at: DateTime<Utc>,
    takes: BTreeMap<String, i64>,
}

/// What each order seen took, per listing.
#[derive(Debug, Default)]
pub struct SalesMemory(Mutex<HashMap<String, SeenOrder>>);

impl SalesMemory {
    /// Records `event` and returns the changes of take since the order was last seen; nothing
    /// for an event not newer than what was seen.
    pub fn observe(&self, event: &OrderEvent) -> Vec<SaleChange> {
        let mut takes: BTreeMap<String, i64> = BTreeMap::new();
        for line in &event.lines {
            let Some(listing_id) = &line.listing_id else {
                continue;
            };
            let state = line.target_state(event.status);
            *takes.entry(listing_id.clone()).or_default() +=
                state.open + state.committed - state.returned;
        }
        let Ok(mut orders) = self.0.lock() else {
            return Vec::new();
        };
        let before = event.updated_at + Duration::seconds(1);
        let (previous, not_before) = match orders.get(&event.external_order_id) {
            Some(seen) if seen.updated_at > event.updated_at => return Vec::new(),
            Some(seen) if seen.updated_at == event.updated_at && seen.takes == takes => {
                return Vec::new()
            }
            Some(seen) if seen.updated_at == event.updated_at => {
                // Two states in one second, in an order nobody knows: the order is forgotten,
                // and so is every level of its listings observed before that second ended
                // (no change is applied, so none can be applied twice later).
                let listings: BTreeSet<String> =
                    seen.takes.keys().chain(takes.keys()).cloned().collect();
                orders.remove(&event.external_order_id);
                return listings
                    .into_iter()
                    .map(|listing_id| SaleChange {
                        listing_id,
                        taken: 0,
                        not_before: None,
                        before,
                    })
                    .collect();
            }
            Some(seen) => (Some(&seen.takes), Some(seen.updated_at)),
            None => (None, event.created_at),
        };
        let empty = BTreeMap::new();
        let previous = previous.unwrap_or(&empty);
        let mut changes: Vec<SaleChange> = takes
            .iter()
            .map(|(listing, take)| (listing, take - previous.get(listing).copied().unwrap_or(0)))
            .chain(
                previous
                    .iter()
                    .filter(|(listing, _)| !takes.contains_key(*listing))
                    .map(|(listing, take)| (listing, -take)),
            )
            .filter(|(_, taken)| *taken != 0)
            .map(|(listing, taken)| SaleChange {
                listing_id: listing.clone(),
                taken,
                not_before,
                before,
            })
            .collect();
        changes.sort_by(|a, b| a.listing_id.cmp(&b.listing_id));
        if orders.len() >= MAX_ORDERS {
            orders.clear();
        }
        orders.insert(
            event.external_order_id.clone(),
            SeenOrder {
                updated_at: event.updated_at,
                takes,
            },
        );
        changes
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use omnistock_connector::{OrderLine, OrderStatus};

    fn event(second: u32, status: OrderStatus, shipped: i64, cancelled: i64) -> OrderEvent {
        let at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, second).unwrap();
        OrderEvent {
            external_order_id: "o".into(),
            delivery_id: None,
            status,
            updated_at: at,
            created_at: Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 1).unwrap()),
            currency: None,
            total_minor: None,
            location: None,
            lines: vec![OrderLine {
                line_id: "l".into(),
                listing_id: Some("v".into()),
                sku: None,
                quantity: 3,
                cancelled_quantity: cancelled,
                fulfilled_quantity: shipped,
                returned_quantity: 0,
                unit_price_minor: None,
            }],
        }
    }

    #[test]
    fn takes_change_once_per_newer_state() {
        let memory = SalesMemory::default();
        let placed = memory.observe(&event(1, OrderStatus::Open, 0, 0));
        assert_eq!(placed.len(), 1);
        assert_eq!(placed[0].taken, 3);
        assert_eq!(
            placed[0].not_before,
            event(1, OrderStatus::Open, 0, 0).created_at
        );
        // Shipping takes nothing more from `available`; a redelivery changes nothing.
        assert!(memory
            .observe(&event(2, OrderStatus::Open, 2, 0))
            .is_empty());
        assert!(memory
            .observe(&event(2, OrderStatus::Open, 2, 0))
            .is_empty());
        // Another state within the same second: no change applied, the levels forgotten.
        let conflict = memory.observe(&event(2, OrderStatus::Open, 2, 1));
        assert_eq!((conflict[0].taken, conflict[0].not_before), (0, None));
        // Forgotten: seen anew, dated from its creation.
        let anew = memory.observe(&event(2, OrderStatus::Open, 2, 1));
        assert_eq!(
            anew[0].not_before,
            event(1, OrderStatus::Open, 0, 0).created_at
        );
        // Cancelling gives units back.
        let cancelled = memory.observe(&event(3, OrderStatus::Cancelled, 1, 2));
        assert_eq!(cancelled[0].taken, -1);
        assert_eq!(
            cancelled[0].not_before,
            Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 2).unwrap())
        );
    }
}
