//! What the demo measures: pushes per marketplace and how long an order took to reach every
//! other marketplace, read from the sims' own stock logs.

use super::shopper::PlacedOrder;
use super::world::listing_of;
use chrono::{DateTime, Utc};
use omnistock_sim::{StockRequestOutcome, StockRequestRecord};
use std::time::Duration;

/// Stock pushes one marketplace received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushCount {
    /// Stock-update requests applied.
    pub requests: usize,
    /// Listing updates in them.
    pub listings: usize,
}

pub(super) fn push_count(log: &[StockRequestRecord]) -> PushCount {
    log.iter()
        .filter(|request| request.outcome == StockRequestOutcome::Applied)
        .fold(PushCount::default(), |count, request| PushCount {
            requests: count.requests + 1,
            listings: count.listings + request.listing_ids.len(),
        })
}

/// Propagation delays of the orders that could be measured.
#[derive(Debug, Clone, Default)]
pub struct Propagation {
    /// Sorted.
    pub delays: Vec<Duration>,
    /// Orders whose new level was overtaken (a cancellation raised it again) before every
    /// marketplace showed it, so there is no single moment to measure.
    pub unmeasured: usize,
}

impl Propagation {
    /// For every order: from the moment it was placed (its webhook leaves at once) until every
    /// *other* marketplace applied a stock update of its SKU at or below the level the order
    /// left. `logs[i]` is marketplace `i`'s stock log.
    pub fn measure(orders: &[PlacedOrder], logs: &[Vec<StockRequestRecord>]) -> Self {
        let mut propagation = Self::default();
        for order in orders {
            let listing = listing_of(&order.sku);
            let mut slowest = Some(Duration::ZERO);
            for (market, log) in logs.iter().enumerate() {
                if market == order.market {
                    continue;
                }
                let reached = first_at_or_below(log, &listing, order.placed_at, order.level_after);
                slowest = match (slowest, reached) {
                    (Some(slowest), Some(at)) => {
                        let delay = (at - order.placed_at).to_std().unwrap_or_default();
                        Some(slowest.max(delay))
                    }
                    _ => None,
                };
            }
            match slowest {
                Some(delay) => propagation.delays.push(delay),
                None => propagation.unmeasured += 1,
            }
        }
        propagation.delays.sort();
        propagation
    }

    /// The `fraction` percentile (0..=1), nearest rank.
    pub fn percentile(&self, fraction: f64) -> Option<Duration> {
        if self.delays.is_empty() {
            return None;
        }
        let rank = (fraction * self.delays.len() as f64).ceil() as usize;
        self.delays
            .get(rank.clamp(1, self.delays.len()) - 1)
            .copied()
    }
}

fn first_at_or_below(
    log: &[StockRequestRecord],
    listing: &str,
    since: DateTime<Utc>,
    level: i64,
) -> Option<DateTime<Utc>> {
    log.iter()
        .filter(|request| {
            request.outcome == StockRequestOutcome::Applied && request.received_at >= since
        })
        .find(|request| {
            request
                .listing_ids
                .iter()
                .zip(&request.quantities)
                .any(|(id, quantity)| id == listing && *quantity <= level)
        })
        .map(|request| request.received_at)
}

/// Milliseconds for people.
pub(super) fn millis(duration: Option<Duration>) -> String {
    match duration {
        Some(duration) => format!("{} ms", duration.as_millis()),
        None => "n/a".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at_ms: i64, listing: &str, quantity: i64) -> StockRequestRecord {
        StockRequestRecord {
            received_at: DateTime::<Utc>::from_timestamp_millis(at_ms).unwrap_or_default(),
            listing_ids: vec![listing.to_string()],
            quantities: vec![quantity],
            outcome: StockRequestOutcome::Applied,
        }
    }

    fn order(market: usize, at_ms: i64, level_after: i64) -> PlacedOrder {
        PlacedOrder {
            market,
            order_id: "1".into(),
            sku: "S".into(),
            quantity: 1,
            placed_at: DateTime::<Utc>::from_timestamp_millis(at_ms).unwrap_or_default(),
            level_after,
            cancelled: false,
        }
    }

    #[test]
    fn the_slowest_other_marketplace_sets_the_delay() {
        let logs = vec![
            vec![record(1_000, "L-S", 9)],
            vec![record(1_040, "L-S", 9)],
            vec![record(1_010, "L-S", 10), record(1_090, "L-S", 8)],
        ];
        let propagation = Propagation::measure(&[order(0, 1_000, 9)], &logs);
        assert_eq!(propagation.delays, vec![Duration::from_millis(90)]);
        assert_eq!(propagation.unmeasured, 0);
    }

    #[test]
    fn an_order_never_reached_is_not_measured() {
        let logs = vec![vec![], vec![record(900, "L-S", 9)]];
        let propagation = Propagation::measure(&[order(0, 1_000, 9)], &logs);
        assert!(propagation.delays.is_empty());
        assert_eq!(propagation.unmeasured, 1);
        assert_eq!(propagation.percentile(0.5), None);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let propagation = Propagation {
            delays: (1..=100).map(Duration::from_millis).collect(),
            unmeasured: 0,
        };
        assert_eq!(propagation.percentile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(
            propagation.percentile(0.99),
            Some(Duration::from_millis(99))
        );
    }
}
