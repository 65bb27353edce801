//! Webhooks that name orders without their state (TikTok Shop): the durable receipt first.
//!
//! A verified webhook naming orders is stored in the ledger (`webhook_receipts`) before
//! anything else; the webhook then tries to fetch and book the orders within
//! `http.webhook_booking_timeout` and is answered 200 once the receipt is durable, booked or
//! not, so a slow or failing platform API never makes the platform deliver again (TikTok
//! wants an answer within 3 s). The sync leader's receipt duty ([`run_receipts`]) fetches and
//! books the pending receipts with backoff and deletes one only after its booking is durable
//! (booked or quarantined by the intake). A receipt whose fetch is refused for good, or that
//! failed [`MAX_ATTEMPTS`] times, goes to the quarantine (each order as "unfetched", retried
//! from there by fetching it again) and leaves the receipts. A redelivery of a pending receipt
//! stores nothing (one row per channel and delivery id); one of a receipt already booked books
//! nothing twice (the ledger compares snapshots). A named order the platform's answer leaves
//! out is a failure like any other: tried again, then quarantined, never dropped unseen.

use crate::ledger::quarantine::order_label;
use crate::ledger::{Ledger, LedgerError, WebhookReceipt};
use crate::metrics::Metrics;
use crate::sync::channel::ChannelRuntime;
use crate::sync::gateway::{CallError, Interrupt};
use crate::sync::intake::{Intake, IntakeError};
use crate::sync::quarantine::EventBooking;
use omnistock_connector::{attach_delivery_ids, ConnectorError, OrderEvent, OrderRef};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How often the leader looks for due receipts.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Receipts tried per look.
const BATCH: i64 = 50;

/// The wait after a receipt's first failed attempt; doubled after each, up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(600);

/// Failed attempts after which a receipt goes to the quarantine (about 37 minutes of tries;
/// polling, the safety net, has read the orders by then unless the platform's API is down).
pub const MAX_ATTEMPTS: i64 = 12;

/// Why fetching and booking a receipt's orders did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("fetching the orders failed: {0}")]
    Fetch(#[from] CallError),
    #[error("fetching the orders took too long")]
    FetchTimedOut,
    #[error("booking the orders failed: {0}")]
    Booking(#[from] IntakeError),
    /// The platform's answer left out orders the webhook named (not visible yet, or unknown):
    /// tried again, and quarantined if it never comes.
    #[error("the platform did not return the named orders {0}")]
    NotReturned(String),
}

impl ReceiptError {
    /// Whether trying again cannot help: the platform refused the fetch for good.
    fn is_permanent(&self) -> bool {
        matches!(
            self,
            ReceiptError::Fetch(CallError::Connector(ConnectorError::Permanent(_)))
        )
    }
}

/// The key of a delivery: the platform's delivery ids of its orders, or, when it gives none,
/// a digest of the body (a redelivery carries the same bytes).
pub fn delivery_key(refs: &[OrderRef], body: &[u8]) -> String {
    let ids: Option<Vec<&str>> = refs
        .iter()
        .map(|named| named.delivery_id.as_deref())
        .collect();
    match ids {
        Some(mut ids) if !ids.is_empty() => {
            ids.sort_unstable();
            ids.dedup();
            ids.join(",")
        }
        _ => Sha256::digest(body)
            .iter()
            .fold(String::from("body:"), |mut key, byte| {
                key.push_str(&format!("{byte:02x}"));
                key
            }),
    }
}

/// The snapshots of the named orders, fetched through the channel's gateway within `within`;
/// an answer that leaves one out is an error, so that no named order is dropped unseen.
pub async fn fetch_named(
    channel: &ChannelRuntime,
    refs: &[OrderRef],
    within: Duration,
    interrupt: &Interrupt,
) -> Result<Vec<OrderEvent>, ReceiptError> {
    let ids: Vec<String> = refs.iter().map(|named| named.order_id.clone()).collect();
    let fetch = channel.client.fetch_orders(&ids, interrupt);
    let mut fetched = tokio::time::timeout(within, fetch)
        .await
        .map_err(|_| ReceiptError::FetchTimedOut)??;
    attach_delivery_ids(&mut fetched, refs);
    let missing: Vec<String> = refs
        .iter()
        .filter(|named| {
            !fetched
                .iter()
                .any(|event| event.external_order_id == named.order_id)
        })
        .map(|named| order_label(&named.order_id))
        .collect();
    if !missing.is_empty() {
        return Err(ReceiptError::NotReturned(missing.join(",")));
    }
    Ok(fetched)
}

/// How long (milliseconds) the leader leaves a new receipt to the webhook that stored it, which
/// tries it within `budget`: the two would otherwise fetch the same orders at once.
pub fn leader_waits(budget: Duration) -> i64 {
    i64::try_from(budget.saturating_add(BACKOFF_FIRST).as_millis()).unwrap_or(i64::MAX)
}

/// The wait before attempt `attempts + 1` of a receipt that failed `attempts` times.
fn backoff(attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    BACKOFF_FIRST
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(BACKOFF_MAX)
}

/// Records one more failed attempt of receipt `id` (which had failed `attempts` times before)
/// and when to try it again.
pub async fn note_failure(
    ledger: &Ledger,
    channel_id: &str,
    id: i64,
    attempts: i64,
    error: &ReceiptError,
) -> Result<(), LedgerError> {
    let wait = backoff(attempts + 1);
    let next = now_millis().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
    warn!(channel = %channel_id, receipt = id, attempts = attempts + 1, error = %error,
        retry_in_ms = wait.as_millis() as u64, "the orders of a webhook receipt are not booked yet");
    ledger
        .webhook_receipts()
        .note_failure(id, &error.to_string(), next)
        .await
}

/// Deletes receipt `id` now that its booking is durable; a failure only means the duty books
/// it once more, which books nothing twice.
pub async fn settle(ledger: &Ledger, channel_id: &str, id: i64) {
    if let Err(error) = ledger.webhook_receipts().delete(id).await {
        warn!(channel = %channel_id, receipt = id, error = %error,
            "a booked webhook receipt could not be deleted; it will be booked again");
    }
}

/// How long the duty's fetch of one receipt may take (the gateway's retries included).
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// What the leader's receipt duty is built from. Cheap to clone.
#[derive(Clone)]
pub struct ReceiptDuty {
    ledger: Ledger,
    intake: Intake,
    channels: Arc<BTreeMap<String, ChannelRuntime>>,
    metrics: Metrics,
}

impl ReceiptDuty {
    pub fn new(
        ledger: Ledger,
        intake: Intake,
        channels: &[ChannelRuntime],
        metrics: Metrics,
    ) -> Self {
        let channels = channels
            .iter()
            .map(|channel| (channel.id.clone(), channel.clone()))
            .collect();
        Self {
            ledger,
            intake,
            channels: Arc::new(channels),
            metrics,
        }
    }
}

/// Fetches and books the due receipts until `stopped`, every [`CHECK_EVERY`].
pub async fn run_receipts(duty: ReceiptDuty, mut stopped: watch::Receiver<bool>) {
    let interrupt = Interrupt::on_stop(stopped.clone());
    loop {
        match duty
            .ledger
            .webhook_receipts()
            .due(now_millis(), BATCH)
            .await
        {
            Ok(due) => {
                for receipt in due {
                    if *stopped.borrow() {
                        return;
                    }
                    if let Err(error) = duty.process(&receipt, &interrupt).await {
                        warn!(channel = %receipt.channel_id, receipt = receipt.id, error = %error,
                            "a webhook receipt could not be handled; trying again later");
                    }
                }
            }
            Err(error) => warn!(error = %error, "reading the due webhook receipts failed"),
        }
        duty.publish_counts().await;
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = crate::sync::stop_requested(&mut stopped) => return,
        }
    }
}

impl ReceiptDuty {
    /// Fetches and books one receipt; deletes it once booked, quarantines it when it keeps
    /// failing, or schedules its next attempt.
    async fn process(
        &self,
        receipt: &WebhookReceipt,
        interrupt: &Interrupt,
    ) -> Result<(), LedgerError> {
        let Some(channel) = self.channels.get(&receipt.channel_id) else {
            // A channel disabled since: its receipts wait for it to come back.
            return Ok(());
        };
        let refs = receipt.order_refs()?;
        let result = async {
            let events = fetch_named(channel, &refs, FETCH_TIMEOUT, interrupt).await?;
            let booked = self
                .intake
                .book_or_quarantine(channel, &events, None)
                .await?;
            Ok::<_, ReceiptError>((events, booked))
        }
        .await;
        match result {
            Ok((events, booked)) => {
                for (event, booking) in events.iter().zip(&booked) {
                    if let EventBooking::Booked(outcome) = booking {
                        info!(channel = %channel.id, receipt = receipt.id,
                            order = %order_label(&event.external_order_id),
                            result = outcome.result.as_str(), "webhook receipt booked");
                    }
                }
                self.ledger.webhook_receipts().delete(receipt.id).await
            }
            Err(ReceiptError::Fetch(CallError::Interrupted)) => Ok(()),
            Err(error) if error.is_permanent() || receipt.attempts + 1 >= MAX_ATTEMPTS => {
                self.quarantine(channel, receipt, &refs, &error).await
            }
            Err(error) => {
                note_failure(
                    &self.ledger,
                    &channel.id,
                    receipt.id,
                    receipt.attempts,
                    &error,
                )
                .await
            }
        }
    }

    /// Moves a receipt that keeps failing to the quarantine, one entry per order.
    async fn quarantine(
        &self,
        channel: &ChannelRuntime,
        receipt: &WebhookReceipt,
        refs: &[OrderRef],
        error: &ReceiptError,
    ) -> Result<(), LedgerError> {
        let error = error.to_string();
        for named in refs {
            let id = self
                .ledger
                .quarantine()
                .add_unfetched(&channel.id, named, &error)
                .await?;
            warn!(channel = %channel.id, receipt = receipt.id, order = %order_label(&named.order_id),
                quarantine_id = id, attempts = receipt.attempts + 1, error = %error,
                "a webhook receipt kept failing; its order is quarantined");
        }
        self.ledger.webhook_receipts().delete(receipt.id).await
    }

    /// Sets the pending-receipts gauge of every channel.
    async fn publish_counts(&self) {
        match self.ledger.webhook_receipts().counts().await {
            Ok(counts) => {
                for channel in self.channels.keys() {
                    self.metrics.webhook_receipts_pending(
                        channel,
                        counts.get(channel).copied().unwrap_or(0),
                    );
                }
            }
            Err(error) => warn!(error = %error, "counting the pending webhook receipts failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(11), BACKOFF_MAX);
        assert_eq!(backoff(i64::MAX), BACKOFF_MAX);
    }

    #[test]
    fn a_delivery_is_keyed_by_its_ids_or_its_body() {
        let named = |order: &str, delivery: Option<&str>| OrderRef {
            order_id: order.into(),
            delivery_id: delivery.map(str::to_string),
        };
        assert_eq!(delivery_key(&[named("1", Some("n-7"))], b"x"), "n-7");
        let unnamed = delivery_key(&[named("1", None)], b"x");
        assert!(unnamed.starts_with("body:"), "{unnamed}");
        assert_eq!(unnamed, delivery_key(&[named("1", None)], b"x"));
        assert_ne!(unnamed, delivery_key(&[named("1", None)], b"y"));
    }
}
