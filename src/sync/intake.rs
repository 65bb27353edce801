//! Order intake: books normalized order events from webhooks and polling in the ledger.
//!
//! Both paths end here, so a webhook copy and a polled copy of one order meet in the same
//! idempotent booking (the ledger applies an order snapshot only once, and ignores older ones).

use crate::ledger::{BookingOutcome, BookingResult, Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::sync::channel::ChannelRuntime;
use omnistock_connector::OrderEvent;
use tracing::{debug, info, warn};

#[derive(Clone)]
pub struct Intake {
    ledger: Ledger,
    metrics: Metrics,
}

impl Intake {
    pub fn new(ledger: Ledger, metrics: Metrics) -> Self {
        Self { ledger, metrics }
    }

    /// Books every event in order; each booking is durable when this returns `Ok`. On an error
    /// the events after the failed one are not booked: the caller answers so that the platform
    /// redelivers (webhooks) or keeps its cursor (polling), and the replay is harmless.
    pub async fn book(
        &self,
        channel: &ChannelRuntime,
        events: &[OrderEvent],
    ) -> Result<Vec<BookingOutcome>, LedgerError> {
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let outcome = self
                .ledger
                .book_order(&channel.id, &channel.location, event)
                .await?;
            self.report(channel, event, &outcome);
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn report(&self, channel: &ChannelRuntime, event: &OrderEvent, outcome: &BookingOutcome) {
        let order = event.external_order_id.as_str();
        match outcome.result {
            BookingResult::Applied => {
                self.metrics.order_booked(&channel.id);
                info!(
                    channel = %channel.id,
                    order = %order,
                    status = event.status.as_str(),
                    skus = ?outcome.changed_skus,
                    "order booked"
                );
            }
            BookingResult::Duplicate | BookingResult::Stale | BookingResult::Unchanged => {
                debug!(channel = %channel.id, order = %order, result = ?outcome.result, "order event had nothing new");
            }
        }
        if !outcome.oversold_skus.is_empty() {
            self.metrics.order_oversold(&channel.id);
            warn!(channel = %channel.id, order = %order, skus = ?outcome.oversold_skus, "order booked beyond available stock (oversold)");
        }
        if !outcome.unknown_lines.is_empty() {
            self.metrics
                .unknown_listing_lines(&channel.id, outcome.unknown_lines.len() as u64);
            warn!(channel = %channel.id, order = %order, lines = ?outcome.unknown_lines, "order lines for listings bound to no item were kept without reserving stock");
        }
    }
}
