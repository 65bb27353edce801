//! The stock push to one channel: take stock-changed messages from the channel's queue,
//! coalesce them by SKU, compute each listing's quantity from the ledger *at push time*, skip
//! what the channel already shows, batch, throttle, retry, and only then acknowledge.
//!
//! Because quantities are read from the ledger when the push happens, a stale, duplicated or
//! reordered message is harmless: it only says "look at this SKU again".

pub mod control;
mod held;
mod park;
mod pause;
pub mod resync;
mod shadow;
pub mod submission;
mod summary;
pub mod sweep;

pub use control::ChannelControl;
pub use resync::{Drift, ResyncWork, WorkReport};

use crate::bus::{BusError, Consumer, Delivery};
use crate::ledger::{ConfirmedPush, Ledger, LedgerError, PushTarget};
use crate::metrics::Metrics;
use crate::sync::channel::ChannelRuntime;
use crate::sync::gateway::{CallError, Interrupt};
use crate::sync::retry::error_class;
use held::Held;
use omnistock_connector::{ConnectorError, PushResult, StockLevel};
use std::collections::BTreeSet;
use std::time::Duration;
use summary::ListingProblems;
use sweep::{Sweep, SweepCause};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

/// How long the first message of a batch waits for more changes to coalesce with. Short
/// enough to stay far inside the one-second promise, long enough to merge a burst.
pub const DEFAULT_COALESCE_WINDOW: Duration = Duration::from_millis(25);

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("reading the ledger failed: {0}")]
    Ledger(#[from] LedgerError),
    #[error("the channel refused the stock update: {0}")]
    Connector(#[from] ConnectorError),
    #[error("the stock queue failed: {0}")]
    Bus(#[from] BusError),
    /// The pusher is stopping or the channel was paused while a call waited.
    #[error("interrupted by a stop or a pause")]
    Interrupted,
    /// A stock write to a channel in shadow mode, refused by its gateway.
    #[error("the channel is in shadow mode: its stock is never written")]
    Shadow,
}

impl From<CallError> for PushError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Connector(error) => Self::Connector(error),
            CallError::Interrupted => Self::Interrupted,
            CallError::Shadow => Self::Shadow,
        }
    }
}

/// Pushes stock to one channel.
pub struct ChannelPusher {
    channel: ChannelRuntime,
    ledger: Ledger,
    metrics: Metrics,
    coalesce_window: Duration,
    /// What cuts the gateway's waits short: the pause, and once running, the stop.
    interrupt: Interrupt,
}

/// The result of one flush, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlushReport {
    pub calls: usize,
    pub confirmed: usize,
    pub rejected: usize,
    pub skipped_unchanged: usize,
    /// SKUs of listings the channel refused for now (a stale compare-and-set value, an item
    /// not applied because its batch failed): pushed again with a fresh quantity.
    pub retry_skus: BTreeSet<String>,
}

impl FlushReport {
    /// Adds what `other` did to this report.
    pub fn absorb(&mut self, other: FlushReport) {
        self.calls += other.calls;
        self.confirmed += other.confirmed;
        self.rejected += other.rejected;
        self.skipped_unchanged += other.skipped_unchanged;
        self.retry_skus.extend(other.retry_skus);
    }
}

/// How many times one flush pushes again the listings a channel refused for now, before it
/// gives the work back to the queue (which redelivers it after a pause).
const ITEM_RETRY_ROUNDS: usize = 3;

impl ChannelPusher {
    pub fn new(channel: ChannelRuntime, ledger: Ledger, metrics: Metrics) -> Self {
        let interrupt = Interrupt::never().or_pause(channel.control.watch_paused());
        Self {
            channel,
            ledger,
            metrics,
            coalesce_window: DEFAULT_COALESCE_WINDOW,
            interrupt,
        }
    }

    pub fn with_coalesce_window(mut self, window: Duration) -> Self {
        self.coalesce_window = window;
        self
    }

    /// Consumes the channel's queue until `shutdown` turns true.
    pub async fn run(mut self, consumer: Consumer, mut shutdown: watch::Receiver<bool>) {
        let channel_id = self.channel.id.clone();
        let control = self.channel.control.clone();
        let mut paused = control.watch_paused();
        self.interrupt = Interrupt::on_stop(shutdown.clone()).or_pause(paused.clone());
        let mut degraded = self.channel.client.watch_degraded();
        let mut dead_lettered = control.watch_dead_lettered();
        let mut shadow = control.watch_shadow();
        // When a shadow channel is next read in full (its sweeps read, never push).
        let mut shadow_read_at: Option<tokio::time::Instant> = None;
        let mut held = Held::default();
        // A first sweep pushes whatever changed while the daemon was down or while this
        // channel was unreachable, so the channel converges even if a message was lost. A
        // paused channel is swept when it is resumed instead. It runs whenever this replica
        // becomes the sync leader, in small steps between live pushes.
        let mut sweep = if control.is_paused() {
            info!(channel = %channel_id, "channel paused: its sweep waits for resume");
            None
        } else {
            Some(Sweep::start(SweepCause::StartUp, &channel_id))
        };
        // The queue is read by a task of its own, also while this one pushes, so that a live
        // change is already waiting (and goes first) when a push or a sweep step is done.
        let (forward, mut live) = mpsc::channel(1);
        let forwarder = tokio::spawn(forward_deliveries(consumer, forward));
        let mut pending_skus = BTreeSet::new();
        let mut deliveries: Vec<Delivery> = Vec::new();
        let mut flush_at: Option<tokio::time::Instant> = None;
        loop {
            let deadline = flush_at;
            tokio::select! {
                biased;
                _ = crate::sync::stop_requested(&mut shutdown) => break,
                Ok(()) = paused.changed() => {
                    if control.is_paused() {
                        // The resume sweep pushes whatever is held.
                        control.add_backlog(held.take());
                    }
                    if let Some(resume_sweep) = pause::pause_changed(&self) {
                        sweep = Some(resume_sweep);
                    }
                }
                Ok(()) = degraded.changed() => {
                    let is_degraded = *degraded.borrow_and_update();
                    if !is_degraded && !control.is_paused() {
                        // What moved during the outage: the held SKUs now, then a sweep for
                        // anything no message brought (dead-lettered or lost).
                        held.push_now();
                        sweep = Some(Sweep::start_over(sweep.as_ref(), SweepCause::Recovery, &channel_id));
                    }
                }
                Ok(()) = dead_lettered.changed() => {
                    dead_lettered.borrow_and_update();
                    // Changes whose messages died reached no push: a sweep finds them (a
                    // paused channel's resume sweep will).
                    if !control.is_paused() {
                        sweep = Some(Sweep::start_over(sweep.as_ref(), SweepCause::DeadLetters, &channel_id));
                    }
                }
                Ok(()) = shadow.changed() => {
                    if !*shadow.borrow_and_update() {
                        shadow_read_at = None;
                        info!(channel = %channel_id, "channel switched to live: pushing every listing that differs from what it was read to show");
                        // A paused channel's resume sweep does it.
                        if !control.is_paused() {
                            sweep = Some(Sweep::start_over(sweep.as_ref(), SweepCause::GoLive, &channel_id));
                        }
                    }
                }
                _ = sleep_until_some(shadow_read_at), if sweep.is_none() && !control.is_paused() => {
                    shadow_read_at = None;
                    if control.is_shadow() {
                        sweep = Some(Sweep::start(SweepCause::ShadowRead, &channel_id));
                    }
                }
                _ = sleep_until_some(deadline) => {
                    if control.is_paused() {
                        pause::hold(&self, &mut pending_skus, &mut deliveries).await;
                    } else if !self.flush_deliveries(&mut pending_skus, &mut deliveries, &mut held).await {
                        break;
                    }
                    flush_at = None;
                }
                _ = sleep_until_some(held.next_push_at), if !control.is_paused() => {
                    let skus = held.take();
                    match self.push_skus(&skus).await {
                        Ok(_) => {
                            held.confirmed();
                            info!(channel = %channel_id, skus = skus.len(), "held stock changes pushed");
                        }
                        Err(PushError::Interrupted) if !control.is_paused() => break,
                        Err(PushError::Interrupted) => control.add_backlog(skus),
                        Err(error) => {
                            debug!(channel = %channel_id, skus = skus.len(), error = %error, "held stock changes still refused");
                            held.hold(skus);
                        }
                    }
                    self.metrics.push_backlog(&channel_id, held.skus.len());
                }
                next = live.recv() => match next {
                    Some(Ok(delivery)) => {
                        let lag = chrono::Utc::now().timestamp_millis() - delivery.message().changed_at_ms;
                        self.metrics.queue_lag(&channel_id, Duration::from_millis(lag.max(0) as u64));
                        pending_skus.extend(delivery.message().skus.iter().cloned());
                        deliveries.push(delivery);
                        self.metrics.push_backlog(&channel_id, pending_skus.len());
                        control.add_backlog(pending_skus.iter().cloned());
                        if flush_at.is_none() {
                            flush_at = Some(tokio::time::Instant::now() + self.coalesce_window);
                        }
                    }
                    Some(Err(error)) => {
                        // The consumer reconnects by itself; an error here is one it cannot
                        // fix, so the pusher stops and the supervisor reports it.
                        warn!(channel = %channel_id, error = %error, "stock queue failed; pusher stops");
                        break;
                    }
                    None => {
                        warn!(channel = %channel_id, "stock queue reader ended; pusher stops");
                        break;
                    }
                },
                // Resync work only when no live change waits: live pushes go first.
                Some(work) = control.next_work(), if pending_skus.is_empty() && !control.is_paused() => {
                    resync::perform(&self, work).await;
                }
                // The sweep's next step when nothing else waits: live pushes and an operator's
                // resync go first.
                _ = sleep_until_some(sweep.as_ref().map(Sweep::next_step_at)),
                    if pending_skus.is_empty() && !control.is_paused() =>
                {
                    if let Some(running) = sweep.as_mut() {
                        if running.step(&self).await {
                            if running.cause() == SweepCause::Resume {
                                pause::caught_up(&self);
                            }
                            sweep = None;
                            if control.is_shadow() {
                                shadow_read_at = Some(tokio::time::Instant::now() + self.channel.shadow_read_interval);
                            }
                        }
                    }
                }
            }
        }
        // A sweep under way stops with the pusher; the next leader sweeps again.
        self.metrics.sweep_running(&channel_id, false);
        self.channel.control.note_sweep_stopped();
        // Unacknowledged deliveries go back to the queue when the consumer is dropped.
        forwarder.abort();
        let _ = forwarder.await;
        debug!(channel = %channel_id, unacked = deliveries.len(), "stock pusher stopped");
    }

    /// Pushes the coalesced SKUs and acknowledges their messages. A flush that fails holds its
    /// SKUs (pushed again later) and acknowledges too, so an outage never burns the messages'
    /// delivery limit. `false` when the pusher is stopping (the messages stay unacknowledged
    /// and are delivered again).
    async fn flush_deliveries(
        &self,
        pending_skus: &mut BTreeSet<String>,
        deliveries: &mut Vec<Delivery>,
        held: &mut Held,
    ) -> bool {
        let skus: Vec<String> = std::mem::take(pending_skus).into_iter().collect();
        let taken = std::mem::take(deliveries);
        let oldest_change = taken
            .iter()
            .map(|delivery| delivery.message().changed_at_ms)
            .min();
        match self.push_skus(&skus).await {
            Ok(report) => {
                if let Some(changed_at_ms) = oldest_change.filter(|_| report.confirmed > 0) {
                    let latency = chrono::Utc::now().timestamp_millis() - changed_at_ms;
                    self.metrics.push_latency(
                        &self.channel.id,
                        Duration::from_millis(latency.max(0) as u64),
                    );
                }
                // One acknowledgement for the whole flush: on the database bus one write, not one per message.
                if let Err(error) = Delivery::ack_many(taken).await {
                    warn!(channel = %self.channel.id, error = %error, "acknowledging stock messages failed");
                }
            }
            Err(PushError::Interrupted) if !self.channel.control.is_paused() => return false,
            Err(PushError::Interrupted) => {
                // Paused mid-push: held like any change of a paused channel.
                let mut skus: BTreeSet<String> = skus.into_iter().collect();
                let mut taken = taken;
                pause::hold(self, &mut skus, &mut taken).await;
                return true;
            }
            Err(error) => {
                self.channel.control.note_push_error(&error.to_string());
                warn!(channel = %self.channel.id, skus = skus.len(), degraded = self.channel.client.is_degraded(),
                    error = %error, "stock push failed; its SKUs are held and pushed again");
                held.hold(skus);
                if let Err(error) = Delivery::ack_many(taken).await {
                    warn!(channel = %self.channel.id, error = %error, "acknowledging held stock messages failed");
                }
            }
        }
        self.metrics.push_backlog(&self.channel.id, held.skus.len());
        self.channel.control.set_backlog(&held.skus);
        true
    }

    /// Pushes the current quantity of every listing bound to `skus`, skipping unchanged ones.
    pub async fn push_skus(&self, skus: &[String]) -> Result<FlushReport, PushError> {
        let mut report = FlushReport::default();
        if skus.is_empty() {
            return Ok(report);
        }
        let targets = self.live_targets(skus).await?;
        if self.channel.control.is_shadow() {
            // Every listing is read, unchanged ones too: what omnistock would set moved.
            shadow::observe(self, &targets, &mut report).await?;
            return Ok(report);
        }
        let (changed, unchanged): (Vec<PushTarget>, Vec<PushTarget>) = targets
            .into_iter()
            .partition(|target| target.last_pushed_quantity != Some(target.quantity));
        report.skipped_unchanged = unchanged.len();
        self.push_listings(&changed, &mut report).await?;
        for _ in 0..ITEM_RETRY_ROUNDS {
            if report.retry_skus.is_empty() {
                return Ok(report);
            }
            let skus: Vec<String> = std::mem::take(&mut report.retry_skus).into_iter().collect();
            // Read again: the quantity may have moved, and the connector has re-read what
            // the channel shows (its compare-and-set value) when it refused.
            let targets = self.live_targets(&skus).await?;
            self.push_listings(&targets, &mut report).await?;
        }
        if report.retry_skus.is_empty() {
            Ok(report)
        } else {
            Err(PushError::Connector(ConnectorError::transient(format!(
                "{} listing(s) still refused for now after {ITEM_RETRY_ROUNDS} rounds",
                report.retry_skus.len()
            ))))
        }
    }

    /// The listings bound to `skus` with the quantity each should show now, leaving out those
    /// parked as dead letters (the channel refused them for good; an operator retries them).
    async fn live_targets(&self, skus: &[String]) -> Result<Vec<PushTarget>, PushError> {
        let targets = self
            .ledger
            .push_targets(&self.channel.id, skus, &self.channel.policy)
            .await?;
        self.without_parked(targets).await
    }

    /// `targets` but those parked as dead letters.
    async fn without_parked(
        &self,
        mut targets: Vec<PushTarget>,
    ) -> Result<Vec<PushTarget>, PushError> {
        let parked = self
            .ledger
            .dead_letters()
            .parked_listings(&self.channel.id)
            .await?;
        targets.retain(|target| !parked.contains(&target.listing_id));
        Ok(targets)
    }

    /// Pushes these listings' quantities, whatever was pushed before, in batches; adds to
    /// `report`. Listings the channel refuses for good are parked as dead letters.
    async fn push_listings(
        &self,
        changed: &[PushTarget],
        report: &mut FlushReport,
    ) -> Result<(), PushError> {
        if self.channel.control.is_shadow() {
            shadow::observe(self, changed, report).await?;
            return Ok(());
        }
        let batch_size = self.channel.capabilities.max_stock_batch.max(1);
        for batch in changed.chunks(batch_size) {
            let levels = levels_of(batch);
            self.forget_before_push(batch).await?;
            let results = self
                .channel
                .client
                .push_stock(&levels, &self.interrupt)
                .await?;
            report.calls += 1;
            let confirmed = self.apply_results(batch, results, report).await?;
            debug!(channel = %self.channel.id, listings = levels.len(), confirmed, "stock batch pushed");
        }
        Ok(())
    }

    /// Forgets what the channel last confirmed for these listings, before a call that sets
    /// them: a push applied whose confirmation is lost cannot make a later one look unchanged.
    pub async fn forget_before_push(&self, batch: &[PushTarget]) -> Result<(), PushError> {
        let known: Vec<&str> = batch
            .iter()
            .filter(|target| target.last_pushed_quantity.is_some())
            .map(|target| target.listing_id.as_str())
            .collect();
        self.ledger
            .forget_before_push(&self.channel.id, &known)
            .await?;
        Ok(())
    }

    /// Records the channel's answer for `batch`: confirmed quantities, retryable refusals to
    /// push again, permanent ones parked as dead letters. Returns how many were confirmed.
    pub async fn apply_results(
        &self,
        batch: &[PushTarget],
        results: Vec<PushResult>,
        report: &mut FlushReport,
    ) -> Result<usize, PushError> {
        let mut confirmed = Vec::new();
        let mut rejected = ListingProblems::default();
        for result in results {
            match result {
                PushResult::Confirmed {
                    listing_id,
                    quantity,
                } => {
                    // A listing the batch did not hold has nothing to record.
                    if let Some(target) =
                        batch.iter().find(|target| target.listing_id == listing_id)
                    {
                        confirmed.push(ConfirmedPush::of(target, quantity));
                    }
                }
                PushResult::Rejected { listing_id, error } => {
                    report.rejected += 1;
                    if error.is_retryable() {
                        if let Some(target) =
                            batch.iter().find(|target| target.listing_id == listing_id)
                        {
                            report.retry_skus.insert(target.sku.clone());
                        }
                    }
                    self.metrics
                        .push_failed(&self.channel.id, error_class(&error));
                    debug!(channel = %self.channel.id, listing = %listing_id, error = %error, "channel rejected the stock update for a listing");
                    rejected.add(&listing_id, &error);
                    park::park_if_permanent(self, batch, &listing_id, &error).await?;
                }
            }
        }
        if !rejected.is_empty() {
            warn!(channel = %self.channel.id, rejected = rejected.count(), listings = %rejected.sample(),
                reasons = %rejected.reasons(), "channel rejected stock updates of listings in one call");
        }
        report.confirmed += confirmed.len();
        self.ledger
            .record_pushed(&self.channel.id, &confirmed)
            .await?;
        self.metrics
            .push_confirmed(&self.channel.id, confirmed.len() as u64);
        if !confirmed.is_empty() {
            self.channel.control.note_push_confirmed();
        }
        Ok(confirmed.len())
    }

    /// The channel pushed to, for the task that runs this pusher.
    pub(in crate::sync) fn channel(&self) -> &ChannelRuntime {
        &self.channel
    }

    pub(in crate::sync) fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// The levels a call sets for these listings.
pub fn levels_of(batch: &[PushTarget]) -> Vec<StockLevel> {
    batch
        .iter()
        .map(|target| StockLevel {
            listing_id: target.listing_id.clone(),
            sku: target.sku.clone(),
            quantity: target.quantity,
        })
        .collect()
}

/// Hands the queue's deliveries to the pusher as they come, until the queue fails for good or
/// the pusher is gone.
async fn forward_deliveries(
    mut consumer: Consumer,
    pusher: mpsc::Sender<Result<Delivery, BusError>>,
) {
    loop {
        let next = consumer.next().await;
        let failed = next.is_err();
        if pusher.send(next).await.is_err() || failed {
            return;
        }
    }
}

async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
