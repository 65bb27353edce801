//! Housekeeping, so that a daemon left alone for months does not grow without bound:
//! - at start, the bus queues of channels that are no longer configured (removed or disabled)
//!   are deleted, so they stop collecting a copy of every stock change
//!   ([`retire_unconfigured_queues`]);
//! - every `housekeeping.interval`, on the sync leader, rows past their retention are pruned
//!   ([`prune_once`]): webhook delivery ids, dead letters (the embedded bus's rows, RabbitMQ's
//!   dead-letter queues) and finished resync jobs. Never the journal, never orders.
//!
//! Pruning goes a batch of [`PRUNE_BATCH`] rows per statement with a short pause between
//! batches, so it never holds a lock for long, and stops between batches when the daemon stops.

use crate::bus::{Bus, BusError};
use crate::ledger::{Ledger, LedgerError};
use crate::settings::HousekeepingSettings;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// The most rows one pruning statement deletes.
pub const PRUNE_BATCH: u32 = 1_000;

/// The pause between two batches, leaving the database to other writers.
const BATCH_PAUSE: Duration = Duration::from_millis(20);

/// What a housekeeping pass needs besides the ledger.
#[derive(Debug, Clone)]
pub struct Housekeeping {
    pub settings: HousekeepingSettings,
    /// Its dead letters are pruned: the embedded bus's rows, or RabbitMQ's dead-letter queues.
    pub bus: Bus,
    /// The enabled channels: RabbitMQ holds a dead-letter queue for each of them.
    pub channel_ids: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HousekeepingError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// How many rows of each kind one pass pruned.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub webhook_deliveries: u64,
    pub dead_bus_messages: u64,
    pub finished_jobs: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.webhook_deliveries + self.dead_bus_messages + self.finished_jobs
    }
}

/// Deletes the bus queue of every channel the ledger knows that is not among `configured`
/// (the enabled channels): without it each would keep a copy of every stock change forever.
/// A channel enabled again gets a new queue and a full sweep when its pusher starts. Failures
/// are logged, never fatal: the queue is retired at the next start.
pub async fn retire_unconfigured_queues<T>(
    ledger: &Ledger,
    bus: &Bus,
    configured: &BTreeMap<String, T>,
) {
    let known = match ledger.channels().await {
        Ok(channels) => channels,
        Err(error) => {
            warn!(error = %error, "listing channels to retire their queues failed");
            return;
        }
    };
    for channel in known {
        if configured.contains_key(&channel.id) {
            continue;
        }
        match bus.delete_channel_queue(&channel.id).await {
            Ok(()) => info!(channel = %channel.id,
                "stock queue of a channel that is not configured (or disabled) deleted"),
            Err(error) => warn!(channel = %channel.id, error = %error,
                "deleting the stock queue of an unconfigured channel failed"),
        }
    }
}

/// The first pass comes this soon after start (or `interval`, if shorter), so that a daemon
/// restarted more often than every `interval` still prunes.
const FIRST_PASS_AFTER: Duration = Duration::from_secs(60);

/// Every `interval` (the first time sooner, see [`FIRST_PASS_AFTER`]), while this replica is
/// the sync leader, prunes what is past its retention; until `stopped`.
pub async fn run(
    ledger: Ledger,
    housekeeping: Housekeeping,
    leader: watch::Receiver<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut wait = housekeeping.settings.interval.min(FIRST_PASS_AFTER);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = crate::sync::stop_requested(&mut stopped) => break,
        }
        wait = housekeeping.settings.interval;
        if !*leader.borrow() {
            continue;
        }
        let now = chrono::Utc::now().timestamp_millis();
        match prune_once(&ledger, &housekeeping, now, &stopped).await {
            Ok(pruned) if pruned.total() > 0 => info!(
                webhook_deliveries = pruned.webhook_deliveries,
                dead_bus_messages = pruned.dead_bus_messages,
                finished_jobs = pruned.finished_jobs,
                "housekeeping pruned old rows"
            ),
            Ok(_) => {}
            Err(error) => {
                warn!(error = %error, "housekeeping failed; retrying at the next interval")
            }
        }
    }
}

/// Prunes every kind of row older than its retention before `now` (unix ms), batch after
/// batch until none is left or `stopped` turns true.
pub async fn prune_once(
    ledger: &Ledger,
    housekeeping: &Housekeeping,
    now: i64,
    stopped: &watch::Receiver<bool>,
) -> Result<Pruned, HousekeepingError> {
    let settings = &housekeeping.settings;
    let before = |retention: Duration| now.saturating_sub(millis(retention));
    let deliveries_before = before(settings.webhook_delivery_retention);
    let webhook_deliveries = in_batches(stopped, || {
        ledger.prune_webhook_deliveries(deliveries_before, PRUNE_BATCH)
    })
    .await?;
    let dead_before = before(settings.bus_retention);
    let dead_bus_messages = match &housekeeping.bus {
        Bus::Database(bus) => {
            in_batches(stopped, || bus.prune_dead(dead_before, PRUNE_BATCH)).await?
        }
        Bus::Amqp(bus) => {
            let mut pruned = 0;
            for channel_id in &housekeeping.channel_ids {
                pruned += in_batches(stopped, || {
                    bus.prune_dead_letters(channel_id, dead_before, PRUNE_BATCH)
                })
                .await?;
            }
            pruned
        }
    };
    let jobs_before = before(settings.job_retention);
    let finished_jobs = in_batches(stopped, || {
        ledger.prune_finished_jobs(jobs_before, PRUNE_BATCH)
    })
    .await?;
    Ok(Pruned {
        webhook_deliveries,
        dead_bus_messages,
        finished_jobs,
    })
}

/// Runs `batch` until it deletes fewer than a full batch (or the daemon stops); the total.
async fn in_batches<F, Fut, E>(stopped: &watch::Receiver<bool>, mut batch: F) -> Result<u64, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, E>>,
{
    let mut total = 0;
    loop {
        let deleted = batch().await?;
        total += deleted;
        if deleted < u64::from(PRUNE_BATCH) || *stopped.borrow() {
            return Ok(total);
        }
        tokio::time::sleep(BATCH_PAUSE).await;
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
