//! The demo's buyers: place orders on random marketplaces, cancel some, and keep the model of
//! what the ledger must end up with.

use super::world::listing_of;
use crate::testkit::Marketplace;
use chrono::{DateTime, Utc};
use omnistock_sim::{NewOrderLine, SimActionError};
use std::collections::BTreeMap;

/// A small xorshift generator: the demo needs variety, not cryptography.
pub(super) struct Dice(u64);

impl Dice {
    pub(super) fn from_clock() -> Self {
        let seed = Utc::now().timestamp_nanos_opt().unwrap_or(1).unsigned_abs();
        Self(seed | 1)
    }

    /// A number in `0..sides` (`sides` > 0).
    pub(super) fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % u64::try_from(sides.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}

/// One order the demo placed.
#[derive(Debug, Clone)]
pub struct PlacedOrder {
    pub market: usize,
    pub order_id: String,
    pub sku: String,
    pub quantity: i64,
    pub placed_at: DateTime<Utc>,
    /// The SKU's availability once this order (and everything before it) is booked.
    pub level_after: i64,
    pub cancelled: bool,
}

/// What the buyers did, and what the ledger must therefore show.
pub(super) struct Shopper {
    dice: Dice,
    pub orders: Vec<PlacedOrder>,
    pub cancellations: usize,
    pub sold_out: usize,
    /// Expected availability per SKU.
    pub expected: BTreeMap<String, i64>,
}

/// One in this many steps also cancels an earlier open order.
const CANCEL_ONE_IN: usize = 8;

impl Shopper {
    pub(super) fn new(skus: &[String], on_hand: i64) -> Self {
        Self {
            dice: Dice::from_clock(),
            orders: Vec::new(),
            cancellations: 0,
            sold_out: 0,
            expected: skus.iter().map(|sku| (sku.clone(), on_hand)).collect(),
        }
    }

    /// Places one order of one or two units of a random SKU on a random marketplace, and now
    /// and then cancels an earlier one.
    pub(super) fn step(
        &mut self,
        markets: &[Marketplace],
        skus: &[String],
    ) -> Result<(), SimActionError> {
        let market = self.dice.roll(markets.len());
        let sku = skus[self.dice.roll(skus.len())].clone();
        let quantity = i64::try_from(1 + self.dice.roll(2)).unwrap_or(1);
        let placed = markets[market].sim.place_order(&[NewOrderLine {
            listing_id: listing_of(&sku),
            quantity,
            unit_price_minor: None,
        }]);
        match placed {
            Ok(order) => {
                let level = self.expected.entry(sku.clone()).or_default();
                *level -= quantity;
                self.orders.push(PlacedOrder {
                    market,
                    order_id: order.id,
                    sku,
                    quantity,
                    placed_at: Utc::now(),
                    level_after: *level,
                    cancelled: false,
                });
            }
            // The marketplace shows none left: the buyer goes away.
            Err(SimActionError::InsufficientStock { .. }) => self.sold_out += 1,
            Err(error) => return Err(error),
        }
        if self.dice.roll(CANCEL_ONE_IN) == 0 {
            self.cancel_one(markets)?;
        }
        Ok(())
    }

    fn cancel_one(&mut self, markets: &[Marketplace]) -> Result<(), SimActionError> {
        let open: Vec<usize> = (0..self.orders.len())
            .filter(|index| !self.orders[*index].cancelled)
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        let index = open[self.dice.roll(open.len())];
        let order = &mut self.orders[index];
        markets[order.market].sim.cancel_order(&order.order_id)?;
        order.cancelled = true;
        *self.expected.entry(order.sku.clone()).or_default() += order.quantity;
        self.cancellations += 1;
        Ok(())
    }
}
