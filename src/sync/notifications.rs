//! Notification queues: orders a platform delivers into a queue the seller owns (Amazon's
//! `ORDER_CHANGE` notifications in an SQS queue) instead of as webhooks.
//!
//! The sync leader runs one [`run_notifications`] per channel whose connector has a queue: it
//! long-polls the queue through the channel's gateway, books every snapshot through the same
//! intake as webhooks and polls (`Intake::book_or_quarantine`: deduplicated on the
//! notification id as the delivery id, an older snapshot never replaces a newer one), and
//! acknowledges a message only after its booking committed (or it was quarantined, which is
//! durable too). A message whose booking failed is not acknowledged: the queue delivers it
//! again once its visibility timeout ends, and it books nothing twice. A message that cannot be
//! read is logged with its id and never acknowledged, so the queue's redrive policy moves it to
//! its dead-letter queue after its maximum receives; one with nothing to book is acknowledged.
//!
//! It runs on the leader alone, like polling: the queue's visibility timeout would make
//! consumers on every replica safe too, but one long poll per channel spends the fewest
//! requests, and the leader's gateway already holds the channel's health and metrics.

use crate::ledger::quarantine::order_label;
use crate::metrics::Metrics;
use crate::sync::channel::ChannelRuntime;
use crate::sync::intake::{Intake, IntakeError};
use crate::sync::quarantine::EventBooking;
use omnistock_connector::{ConnectorError, NotificationBatch, NotificationContent, OrderEvent};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// The first wait after a failed receive or booking; doubled after each failure in a row up
/// to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Why a batch of notifications is not settled.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("receiving from the notification queue failed: {0}")]
    Receive(ConnectorError),
    #[error("booking the notified orders failed: {0}")]
    Booking(#[from] IntakeError),
    #[error("acknowledging booked notifications failed: {0}")]
    Acknowledge(ConnectorError),
}

/// What one received batch came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub received: usize,
    /// Messages whose snapshots were booked (new, duplicate or stale alike) or quarantined.
    pub booked: usize,
    /// Messages with nothing to book.
    pub skipped: usize,
    /// Messages left in the queue for its redrive policy.
    pub unreadable: usize,
    pub acknowledged: usize,
}

/// Receives, books and acknowledges one batch of `channel`'s notification queue.
pub async fn receive_once(
    channel: &ChannelRuntime,
    intake: &Intake,
    metrics: &Metrics,
) -> Result<BatchReport, NotificationError> {
    let batch = channel
        .client
        .receive_notifications()
        .await
        .map_err(NotificationError::Receive)?;
    settle(channel, intake, metrics, batch).await
}

/// Books what `batch` carries and acknowledges what is durable.
async fn settle(
    channel: &ChannelRuntime,
    intake: &Intake,
    metrics: &Metrics,
    batch: NotificationBatch,
) -> Result<BatchReport, NotificationError> {
    let mut report = BatchReport {
        received: batch.notifications.len(),
        ..BatchReport::default()
    };
    if report.received == 0 {
        return Ok(report);
    }
    metrics.queue_notifications(&channel.id, "received", report.received as u64);
    let mut events: Vec<OrderEvent> = Vec::new();
    let mut booked_receipts = Vec::new();
    let mut acknowledge = Vec::new();
    for notification in batch.notifications {
        match notification.content {
            NotificationContent::Orders(orders) => {
                debug!(channel = %channel.id, message = %notification.message_id,
                    orders = orders.len(), "notification received");
                events.extend(orders);
                booked_receipts.push(notification.receipt);
            }
            NotificationContent::Nothing { reason } => {
                info!(channel = %channel.id, message = %notification.message_id, reason = %reason,
                    "notification with nothing to book; acknowledging it");
                report.skipped += 1;
                acknowledge.push(notification.receipt);
            }
            NotificationContent::Unreadable { error } => {
                warn!(channel = %channel.id, message = %notification.message_id,
                    deliveries = notification.deliveries, error = %error,
                    "unreadable notification left in the queue for its redrive policy");
                report.unreadable += 1;
            }
        }
    }
    metrics.queue_notifications(&channel.id, "skipped", report.skipped as u64);
    metrics.queue_notifications(&channel.id, "unreadable", report.unreadable as u64);
    let booking = if events.is_empty() {
        Ok(())
    } else {
        // Durable (booked or quarantined) once this returns Ok; an error leaves every message
        // of the batch to be delivered again.
        match intake.book_or_quarantine(channel, &events, None).await {
            Ok(bookings) => {
                log_bookings(channel, &events, &bookings);
                report.booked = booked_receipts.len();
                metrics.queue_notifications(&channel.id, "booked", report.booked as u64);
                acknowledge.append(&mut booked_receipts);
                Ok(())
            }
            Err(error) => Err(NotificationError::Booking(error)),
        }
    };
    if !acknowledge.is_empty() {
        channel
            .client
            .acknowledge_notifications(&acknowledge)
            .await
            .map_err(NotificationError::Acknowledge)?;
        report.acknowledged = acknowledge.len();
        metrics.queue_notifications(&channel.id, "acknowledged", report.acknowledged as u64);
    }
    booking.map(|()| report)
}

fn log_bookings(channel: &ChannelRuntime, events: &[OrderEvent], bookings: &[EventBooking]) {
    for (event, booking) in events.iter().zip(bookings) {
        let order = order_label(&event.external_order_id);
        let delivery = event.delivery_id.as_deref().unwrap_or_default();
        match booking {
            EventBooking::Booked(outcome) => info!(channel = %channel.id, order = %order,
                notification = %delivery, result = outcome.result.as_str(), "notified order booked"),
            EventBooking::Quarantined { id, .. } => info!(channel = %channel.id, order = %order,
                notification = %delivery, quarantine_id = id, "notified order quarantined"),
        }
    }
}

/// Receives `channel`'s notifications until `stopped`: one long poll after another; after a
/// failure, waits a backoff (1 s doubling to a minute, never less than a Retry-After). A stop
/// abandons a receive in flight (its messages come back after their visibility timeout) but
/// never a booking or an acknowledgement under way.
pub async fn run_notifications(
    channel: ChannelRuntime,
    intake: Intake,
    metrics: Metrics,
    mut stopped: watch::Receiver<bool>,
) {
    info!(channel = %channel.id, "reading the channel's notification queue");
    let mut backoff = BACKOFF_FIRST;
    loop {
        let batch = tokio::select! {
            biased;
            _ = crate::sync::stop_requested(&mut stopped) => return,
            batch = channel.client.receive_notifications() => batch,
        };
        let result = match batch {
            Ok(batch) => settle(&channel, &intake, &metrics, batch).await,
            Err(error) => Err(NotificationError::Receive(error)),
        };
        let wait = match result {
            Ok(report) => {
                if report.received > 0 {
                    debug!(channel = %channel.id, received = report.received, booked = report.booked,
                        skipped = report.skipped, unreadable = report.unreadable,
                        acknowledged = report.acknowledged, "notification batch settled");
                }
                backoff = BACKOFF_FIRST;
                continue;
            }
            Err(error) => {
                let asked = match &error {
                    NotificationError::Receive(error) | NotificationError::Acknowledge(error) => {
                        error.retry_after().unwrap_or_default()
                    }
                    NotificationError::Booking(_) => Duration::ZERO,
                };
                let wait = backoff.max(crate::sync::retry::bounded_wait(asked));
                warn!(channel = %channel.id, error = %error, retry_in_ms = wait.as_millis() as u64,
                    "notification queue step failed; unacknowledged messages come back after their visibility timeout");
                backoff = (backoff * 2).min(BACKOFF_MAX);
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = crate::sync::stop_requested(&mut stopped) => return,
        }
    }
}
