//! The marketplace's state: listings, orders, faults, the rate limiter and what tests inspect
//! (counters, the stock-request log, webhook deliveries). Pure bookkeeping behind one mutex;
//! no I/O happens here.

use crate::cursor::OrderCursor;
use crate::wire::{
    ListingLevel, SimOrder, SimOrderLine, StockUpdate, StockUpdateResult, TOPIC_ORDER_CANCELLED,
    TOPIC_ORDER_CREATED, TOPIC_ORDER_FULFILLED,
};
use chrono::{DateTime, SecondsFormat, Utc};
use omnistock_connector::RateLimit;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::time::{Duration, Instant};

/// Why a control action on the sim was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimActionError {
    #[error("unknown listing {0}")]
    UnknownListing(String),
    #[error("unknown order {0}")]
    UnknownOrder(String),
    #[error("listing {listing_id} shows {shown}, {requested} requested")]
    InsufficientStock {
        listing_id: String,
        shown: i64,
        requested: i64,
    },
    #[error("order {id} is {status}")]
    OrderNotOpen { id: String, status: String },
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// Faults the sim injects into `/api/*` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Share of admitted `/api/*` requests answered 500 (0 to 1).
    #[serde(default)]
    pub error_rate: f64,
    /// Delay added before every `/api/*` answer, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Answer 503 to everything under `/api`.
    #[serde(default)]
    pub outage: bool,
}

/// What the sim counted since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimCounters {
    /// Every request under `/api`, whatever its answer.
    pub api_requests: u64,
    /// Refused 401 for a missing or wrong token.
    pub unauthorized: u64,
    /// Authenticated `GET /api/orders`.
    pub order_reads: u64,
    /// Authenticated `POST /api/stock`, admitted or not.
    pub stock_updates: u64,
    /// Authenticated `GET /api/stock`.
    pub stock_reads: u64,
    /// Authenticated `GET /api/listings` (catalog pages).
    pub catalog_reads: u64,
    /// Refused 429.
    pub rate_limited: u64,
    /// Answered 500 by the injected error rate.
    pub injected_errors: u64,
    /// Answered 503 by an outage.
    pub outage_refusals: u64,
    /// Webhook POST attempts, retries included.
    pub webhook_attempts: u64,
    /// Webhook events acknowledged with a 2xx.
    pub webhooks_delivered: u64,
    /// Webhook events given up after the last retry.
    pub webhooks_failed: u64,
}

/// What happened to one stock-update request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockRequestOutcome {
    /// Applied (item errors, if any, are in the answer).
    Applied,
    /// Refused 429.
    RateLimited,
    /// Answered 500 by the injected error rate; nothing applied.
    InjectedError,
    /// Refused for carrying more than `max_batch` updates.
    BatchTooLarge,
}

/// One stock-update request as the sim received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRequestRecord {
    pub received_at: DateTime<Utc>,
    pub listing_ids: Vec<String>,
    pub quantities: Vec<i64>,
    pub outcome: StockRequestOutcome,
}

/// What became of one webhook event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Pending,
    Delivered,
    Failed,
}

/// One webhook event and its delivery attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub delivery_id: String,
    pub order_id: String,
    pub topic: String,
    pub attempts: u32,
    pub outcome: DeliveryOutcome,
    /// The last failed attempt's status or error.
    pub last_error: Option<String>,
}

/// A webhook event to send, made under the state lock so that events keep their order.
#[derive(Debug, Clone)]
pub(crate) struct WebhookEvent {
    pub delivery_id: String,
    pub topic: &'static str,
    pub order: SimOrder,
    pub target: String,
}

/// One line to place, as the control API receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrderLine {
    pub listing_id: String,
    pub quantity: i64,
    /// Unit price in minor units; 1000 when left out.
    #[serde(default)]
    pub unit_price_minor: Option<i64>,
}

#[derive(Debug, Clone)]
struct Listing {
    sku: String,
    quantity: i64,
}

/// Sliding-window limiter: a request is admitted while fewer than `requests` were admitted in
/// the last `period`.
#[derive(Debug)]
struct SlidingWindow {
    limit: RateLimit,
    admitted: VecDeque<Instant>,
}

impl SlidingWindow {
    /// `Err(retry_after)` when the request must be refused.
    fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        while let Some(oldest) = self.admitted.front() {
            if now.duration_since(*oldest) >= self.limit.period {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        let capacity = usize::try_from(self.limit.requests).unwrap_or(usize::MAX);
        if self.admitted.len() < capacity {
            self.admitted.push_back(now);
            return Ok(());
        }
        let oldest = self.admitted.front().copied().unwrap_or(now);
        Err((oldest + self.limit.period).saturating_duration_since(now))
    }
}

pub(crate) struct SimState {
    listings: BTreeMap<String, Listing>,
    orders: HashMap<String, SimOrder>,
    /// Orders by their position, for cursor reads.
    positions: BTreeMap<OrderCursor, String>,
    next_order_number: u64,
    next_listing_number: u64,
    sequence: u64,
    last_updated_millis: i64,
    frozen_clock: Option<DateTime<Utc>>,
    pub faults: Faults,
    limiter: Option<SlidingWindow>,
    pub counters: SimCounters,
    pub stock_log: Vec<StockRequestRecord>,
    pub webhook_target: Option<String>,
    deliveries: Vec<DeliveryRecord>,
    delivery_index: HashMap<String, usize>,
    delivery_prefix: String,
    next_delivery_number: u64,
    currency: String,
}

impl SimState {
    pub(crate) fn new(
        rate_limit: Option<RateLimit>,
        faults: Faults,
        webhook_target: Option<String>,
        delivery_prefix: String,
    ) -> Self {
        Self {
            listings: BTreeMap::new(),
            orders: HashMap::new(),
            positions: BTreeMap::new(),
            next_order_number: 1001,
            next_listing_number: 1,
            sequence: 0,
            last_updated_millis: 0,
            frozen_clock: None,
            faults,
            limiter: rate_limit.map(Self::window),
            counters: SimCounters::default(),
            stock_log: Vec::new(),
            webhook_target,
            deliveries: Vec::new(),
            delivery_index: HashMap::new(),
            delivery_prefix,
            next_delivery_number: 1,
            currency: "EUR".to_string(),
        }
    }

    fn window(limit: RateLimit) -> SlidingWindow {
        SlidingWindow {
            limit,
            admitted: VecDeque::new(),
        }
    }

    pub(crate) fn set_rate_limit(&mut self, limit: Option<RateLimit>) {
        self.limiter = limit.map(Self::window);
    }

    pub(crate) fn rate_limit(&self) -> Option<RateLimit> {
        self.limiter.as_ref().map(|window| window.limit)
    }

    /// Checks a stock-update request against the rate limit: `Err(retry_after)` to refuse.
    pub(crate) fn admit_stock_update(&mut self) -> Result<(), Duration> {
        match self.limiter.as_mut() {
            Some(window) => window.admit(Instant::now()),
            None => Ok(()),
        }
    }

    pub(crate) fn set_clock(&mut self, frozen_at: Option<DateTime<Utc>>) {
        self.frozen_clock = frozen_at;
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.frozen_clock.unwrap_or_else(Utc::now)
    }

    /// Creates a listing, or replaces the sku and quantity of an existing one.
    pub(crate) fn upsert_listing(
        &mut self,
        listing_id: Option<String>,
        sku: String,
        quantity: i64,
    ) -> Result<ListingLevel, SimActionError> {
        if quantity < 0 {
            return Err(SimActionError::Invalid(
                "quantity must not be negative".into(),
            ));
        }
        let listing_id = match listing_id {
            Some(id) if !id.trim().is_empty() => id,
            Some(_) => return Err(SimActionError::Invalid("listing_id is empty".into())),
            None => loop {
                let candidate = format!("L{}", self.next_listing_number);
                self.next_listing_number += 1;
                if !self.listings.contains_key(&candidate) {
                    break candidate;
                }
            },
        };
        self.listings.insert(
            listing_id.clone(),
            Listing {
                sku: sku.clone(),
                quantity,
            },
        );
        Ok(ListingLevel {
            listing_id,
            sku,
            quantity,
        })
    }

    pub(crate) fn listings(&self) -> Vec<ListingLevel> {
        self.listings
            .iter()
            .map(|(id, listing)| ListingLevel {
                listing_id: id.clone(),
                sku: listing.sku.clone(),
                quantity: listing.quantity,
            })
            .collect()
    }

    /// Up to `limit` listings after `after` (by listing id), and whether more follow.
    pub(crate) fn listings_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<ListingLevel>, bool) {
        use std::ops::Bound;
        let start = match after {
            Some(after) => Bound::Excluded(after.to_string()),
            None => Bound::Unbounded,
        };
        let mut range = self.listings.range((start, Bound::Unbounded));
        let page: Vec<ListingLevel> = range
            .by_ref()
            .take(limit)
            .map(|(id, listing)| ListingLevel {
                listing_id: id.clone(),
                sku: listing.sku.clone(),
                quantity: listing.quantity,
            })
            .collect();
        (page, range.next().is_some())
    }

    pub(crate) fn shown_quantity(&self, listing_id: &str) -> Option<i64> {
        self.listings
            .get(listing_id)
            .map(|listing| listing.quantity)
    }

    pub(crate) fn read_levels(&self, listing_ids: &[String]) -> Vec<ListingLevel> {
        listing_ids
            .iter()
            .filter_map(|id| {
                self.listings.get(id).map(|listing| ListingLevel {
                    listing_id: id.clone(),
                    sku: listing.sku.clone(),
                    quantity: listing.quantity,
                })
            })
            .collect()
    }

    pub(crate) fn apply_stock_updates(
        &mut self,
        updates: &[StockUpdate],
    ) -> Vec<StockUpdateResult> {
        updates
            .iter()
            .map(|update| {
                let refused = |code: &str, message: String| StockUpdateResult {
                    listing_id: update.listing_id.clone(),
                    status: "error".into(),
                    quantity: None,
                    error: Some(code.into()),
                    message: Some(message),
                };
                if update.quantity < 0 {
                    return refused(
                        "invalid_quantity",
                        format!("quantity {} is negative", update.quantity),
                    );
                }
                match self.listings.get_mut(&update.listing_id) {
                    Some(listing) => {
                        listing.quantity = update.quantity;
                        StockUpdateResult {
                            listing_id: update.listing_id.clone(),
                            status: "ok".into(),
                            quantity: Some(update.quantity),
                            error: None,
                            message: None,
                        }
                    }
                    None => refused(
                        "unknown_listing",
                        format!("no listing {}", update.listing_id),
                    ),
                }
            })
            .collect()
    }

    pub(crate) fn log_stock_request(
        &mut self,
        updates: &[StockUpdate],
        outcome: StockRequestOutcome,
    ) {
        let received_at = Utc::now();
        self.stock_log.push(StockRequestRecord {
            received_at,
            listing_ids: updates.iter().map(|u| u.listing_id.clone()).collect(),
            quantities: updates.iter().map(|u| u.quantity).collect(),
            outcome,
        });
    }

    /// Orders after `cursor` (all when `None`), oldest first, at most `limit`, and whether
    /// more follow.
    pub(crate) fn orders_after(
        &self,
        cursor: Option<OrderCursor>,
        limit: usize,
    ) -> (Vec<SimOrder>, bool) {
        let lower = match cursor {
            Some(cursor) => Bound::Excluded(cursor),
            None => Bound::Unbounded,
        };
        let mut found = self.positions.range((lower, Bound::Unbounded));
        let page: Vec<SimOrder> = found
            .by_ref()
            .take(limit)
            .filter_map(|(_, id)| self.orders.get(id).cloned())
            .collect();
        let has_more = found.next().is_some();
        (page, has_more)
    }

    pub(crate) fn order(&self, order_id: &str) -> Option<SimOrder> {
        self.orders.get(order_id).cloned()
    }

    /// Places an order, taking its quantities off the shown stock as a platform does.
    pub(crate) fn place_order(
        &mut self,
        lines: &[NewOrderLine],
    ) -> Result<(SimOrder, Option<WebhookEvent>), SimActionError> {
        if lines.is_empty() {
            return Err(SimActionError::Invalid("an order needs a line".into()));
        }
        let mut wanted: BTreeMap<&str, i64> = BTreeMap::new();
        for line in lines {
            if line.quantity <= 0 {
                return Err(SimActionError::Invalid(format!(
                    "quantity of {} must be positive",
                    line.listing_id
                )));
            }
            *wanted.entry(line.listing_id.as_str()).or_default() += line.quantity;
        }
        for (listing_id, requested) in &wanted {
            let listing = self
                .listings
                .get(*listing_id)
                .ok_or_else(|| SimActionError::UnknownListing((*listing_id).to_string()))?;
            if listing.quantity < *requested {
                return Err(SimActionError::InsufficientStock {
                    listing_id: (*listing_id).to_string(),
                    shown: listing.quantity,
                    requested: *requested,
                });
            }
        }
        let order_id = self.next_order_number.to_string();
        self.next_order_number += 1;
        let mut order_lines = Vec::with_capacity(lines.len());
        for (index, line) in lines.iter().enumerate() {
            let sku = match self.listings.get_mut(&line.listing_id) {
                Some(listing) => {
                    listing.quantity -= line.quantity;
                    listing.sku.clone()
                }
                None => return Err(SimActionError::UnknownListing(line.listing_id.clone())),
            };
            order_lines.push(SimOrderLine {
                id: format!("{order_id}-{}", index + 1),
                listing_id: line.listing_id.clone(),
                sku,
                quantity: line.quantity,
                cancelled_quantity: 0,
                fulfilled_quantity: 0,
                unit_price_minor: line.unit_price_minor.unwrap_or(1000),
            });
        }
        let order = SimOrder {
            id: order_id.clone(),
            status: "open".into(),
            currency: self.currency.clone(),
            total_minor: 0,
            created_at: String::new(),
            updated_at: String::new(),
            updated_at_millis: 0,
            sequence: 0,
            lines: order_lines,
        };
        self.orders.insert(order_id.clone(), order);
        let (order, event) = self.touch(&order_id, TOPIC_ORDER_CREATED)?;
        Ok((order, event))
    }

    /// Cancels an open order; its unshipped units go back on the shown stock.
    pub(crate) fn cancel_order(
        &mut self,
        order_id: &str,
    ) -> Result<(SimOrder, Option<WebhookEvent>), SimActionError> {
        let order = self.open_order_mut(order_id)?;
        order.status = "cancelled".into();
        let mut restock = Vec::new();
        for line in &mut order.lines {
            let remaining = line.quantity - line.cancelled_quantity - line.fulfilled_quantity;
            line.cancelled_quantity += remaining;
            restock.push((line.listing_id.clone(), remaining));
        }
        for (listing_id, units) in restock {
            if let Some(listing) = self.listings.get_mut(&listing_id) {
                listing.quantity += units;
            }
        }
        self.touch(order_id, TOPIC_ORDER_CANCELLED)
    }

    /// Ships every unshipped unit of an open order.
    pub(crate) fn fulfil_order(
        &mut self,
        order_id: &str,
    ) -> Result<(SimOrder, Option<WebhookEvent>), SimActionError> {
        let order = self.open_order_mut(order_id)?;
        order.status = "fulfilled".into();
        for line in &mut order.lines {
            line.fulfilled_quantity = line.quantity - line.cancelled_quantity;
        }
        self.touch(order_id, TOPIC_ORDER_FULFILLED)
    }

    fn open_order_mut(&mut self, order_id: &str) -> Result<&mut SimOrder, SimActionError> {
        let order = self
            .orders
            .get_mut(order_id)
            .ok_or_else(|| SimActionError::UnknownOrder(order_id.to_string()))?;
        if order.status != "open" {
            return Err(SimActionError::OrderNotOpen {
                id: order_id.to_string(),
                status: order.status.clone(),
            });
        }
        Ok(order)
    }

    /// Stamps a changed order with a new position (time never goes backwards, the sequence
    /// breaks ties) and makes the webhook event for it.
    fn touch(
        &mut self,
        order_id: &str,
        topic: &'static str,
    ) -> Result<(SimOrder, Option<WebhookEvent>), SimActionError> {
        let millis = self.now().timestamp_millis().max(self.last_updated_millis);
        self.last_updated_millis = millis;
        self.sequence += 1;
        let sequence = self.sequence;
        let stamp = DateTime::<Utc>::from_timestamp_millis(millis)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        let order = self
            .orders
            .get_mut(order_id)
            .ok_or_else(|| SimActionError::UnknownOrder(order_id.to_string()))?;
        let old_position = OrderCursor {
            updated_at_millis: order.updated_at_millis,
            sequence: order.sequence,
        };
        if order.created_at.is_empty() {
            order.created_at = stamp.clone();
        }
        order.updated_at = stamp;
        order.updated_at_millis = millis;
        order.sequence = sequence;
        order.total_minor = order
            .lines
            .iter()
            .map(|line| line.unit_price_minor * (line.quantity - line.cancelled_quantity))
            .sum();
        let order = order.clone();
        self.positions.remove(&old_position);
        self.positions.insert(
            OrderCursor {
                updated_at_millis: millis,
                sequence,
            },
            order_id.to_string(),
        );
        let event = self.new_webhook_event(&order, topic);
        Ok((order, event))
    }

    fn new_webhook_event(&mut self, order: &SimOrder, topic: &'static str) -> Option<WebhookEvent> {
        let target = self.webhook_target.clone()?;
        let delivery_id = format!("{}-{}", self.delivery_prefix, self.next_delivery_number);
        self.next_delivery_number += 1;
        self.delivery_index
            .insert(delivery_id.clone(), self.deliveries.len());
        self.deliveries.push(DeliveryRecord {
            delivery_id: delivery_id.clone(),
            order_id: order.id.clone(),
            topic: topic.to_string(),
            attempts: 0,
            outcome: DeliveryOutcome::Pending,
            last_error: None,
        });
        Some(WebhookEvent {
            delivery_id,
            topic,
            order: order.clone(),
            target,
        })
    }

    pub(crate) fn record_delivery_attempt(&mut self, delivery_id: &str, error: Option<String>) {
        self.counters.webhook_attempts += 1;
        if let Some(record) = self
            .delivery_index
            .get(delivery_id)
            .and_then(|index| self.deliveries.get_mut(*index))
        {
            record.attempts += 1;
            match error {
                None => {
                    record.outcome = DeliveryOutcome::Delivered;
                    self.counters.webhooks_delivered += 1;
                }
                Some(error) => record.last_error = Some(error),
            }
        }
    }

    pub(crate) fn record_delivery_given_up(&mut self, delivery_id: &str) {
        self.counters.webhooks_failed += 1;
        if let Some(record) = self
            .delivery_index
            .get(delivery_id)
            .and_then(|index| self.deliveries.get_mut(*index))
        {
            record.outcome = DeliveryOutcome::Failed;
        }
    }

    pub(crate) fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.deliveries.clone()
    }

    /// The most stock-update requests received (admitted or refused) within any `window`.
    pub(crate) fn max_stock_requests_in_window(&self, window: Duration) -> usize {
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let times: Vec<DateTime<Utc>> = self.stock_log.iter().map(|r| r.received_at).collect();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_refuses_the_excess_and_says_when_to_retry() {
        let mut window = SlidingWindow {
            limit: RateLimit::per_second(2),
            admitted: VecDeque::new(),
        };
        let start = Instant::now();
        assert!(window.admit(start).is_ok());
        assert!(window.admit(start + Duration::from_millis(100)).is_ok());
        let refused = window.admit(start + Duration::from_millis(400));
        assert_eq!(refused, Err(Duration::from_millis(600)));
        assert!(window.admit(start + Duration::from_millis(1000)).is_ok());
    }

    #[test]
    fn orders_sharing_a_timestamp_keep_distinct_positions() {
        let mut state = SimState::new(None, Faults::default(), None, "t".into());
        let frozen = DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000);
        state.set_clock(frozen);
        let listing = state
            .upsert_listing(None, "SKU".into(), 10)
            .map(|l| l.listing_id)
            .unwrap_or_default();
        let line = NewOrderLine {
            listing_id: listing,
            quantity: 1,
            unit_price_minor: None,
        };
        for _ in 0..3 {
            assert!(state.place_order(std::slice::from_ref(&line)).is_ok());
        }
        let (first, more) = state.orders_after(None, 2);
        assert_eq!(first.len(), 2);
        assert!(more);
        let cursor = OrderCursor {
            updated_at_millis: first[1].updated_at_millis,
            sequence: first[1].sequence,
        };
        let (rest, more) = state.orders_after(Some(cursor), 2);
        assert_eq!(rest.len(), 1);
        assert!(!more);
        assert_eq!(rest[0].updated_at_millis, first[0].updated_at_millis);
        assert_eq!(state.shown_quantity(&rest[0].lines[0].listing_id), Some(7));
    }
}
