//! Operators' controls over the running sync: pause and resume of a channel's pushes, jobs
//! (resyncs, `push` and `reconcile`; listing discovery and counts from a channel), scheduled
//! reconciliation, dead letters, webhook answer counts and the count of out-of-date listings
//! the channel status shows.
//!
//! The pusher of each channel does the work (see `sync/push/`); this module decides what it is
//! asked to do and keeps the records. It depends on `sync`, never the reverse. The admin API
//! (`http/admin/`) and the CLI reach it through [`Operators`].

pub mod catalog_jobs;
pub mod catalog_walk;
pub mod channel_count;
pub mod dead_letters;
pub mod discovery;
pub mod explain;
pub mod housekeeping;
pub mod jobs;
pub mod out_of_date;
mod schedule;
pub mod shadow;
pub mod webhook_counts;

pub use jobs::{run_queued, Jobs, ResyncScope, StartJobError};

use crate::ledger::{Backend, Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::sync::leader::{Leadership, SyncLeader};
use crate::sync::ChannelRuntime;
use out_of_date::{OutOfDate, OutOfDateCache};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;
use webhook_counts::WebhookCounts;

/// The operators' side of the daemon. Cheap to clone.
#[derive(Clone)]
pub struct Operators {
    pub jobs: Jobs,
    pub webhooks: Arc<WebhookCounts>,
    /// The last count of each channel's out-of-date listings.
    out_of_date: Arc<BTreeMap<String, OutOfDateCache>>,
    ledger: Ledger,
    channels: Arc<BTreeMap<String, ChannelRuntime>>,
    shutdown: Arc<watch::Sender<bool>>,
    /// Whether this replica is the sync leader (whose pushers run here), and its name.
    leadership: Leadership,
    /// The scheduler, the webhook-count flusher and housekeeping.
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// Why a pause or resume failed.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Operators {
    /// Loads every channel's pause and mode (see [`shadow`]) into its control, marks jobs left over by a stopped
    /// process interrupted, and starts the scheduler (pause refresh from the database for other
    /// replicas' changes, stale jobs, the dead-letter metric, and, while this replica leads,
    /// scheduled reconciliation), the flusher of webhook answer counts and housekeeping (see
    /// [`housekeeping`]). Call it before the pushers start, so that a paused channel is never
    /// pushed to at start.
    pub async fn start(
        ledger: Ledger,
        metrics: Metrics,
        channels: Arc<BTreeMap<String, ChannelRuntime>>,
        reconcile_intervals: BTreeMap<String, Duration>,
        leadership: Leadership,
        webhook_counts_flush: Duration,
        housekeeping: housekeeping::Housekeeping,
    ) -> Result<Self, LedgerError> {
        for channel in ledger.channels().await? {
            if let Some(runtime) = channels.get(&channel.id) {
                runtime.control.set_paused(channel.paused);
                if channel.paused {
                    info!(channel = %channel.id, "channel is paused");
                }
            }
        }
        shadow::load_modes(&ledger, &channels).await?;
        // One process owns an SQLite ledger, so whatever was running died with the last one.
        let stale_before = match ledger.backend() {
            Backend::Sqlite => i64::MAX,
            Backend::Postgres => stale_cutoff(),
        };
        for id in ledger.jobs().interrupt_stale(stale_before).await? {
            info!(job = %id, "resync job of a stopped process marked interrupted");
        }
        let (shutdown, stopped) = watch::channel(false);
        let jobs = Jobs::new(ledger.clone(), channels.clone());
        let operators = Self {
            jobs,
            webhooks: Arc::new(WebhookCounts::new(ledger.clone())),
            out_of_date: Arc::new(
                channels
                    .keys()
                    .map(|id| (id.clone(), OutOfDateCache::default()))
                    .collect(),
            ),
            ledger,
            channels,
            shutdown: Arc::new(shutdown),
            leadership,
            tasks: Arc::default(),
        };
        let shadow_reporter = tokio::spawn(shadow::run_reporter(
            operators.clone(),
            metrics.clone(),
            stopped.clone(),
        ));
        let scheduler = tokio::spawn(schedule::run(
            operators.clone(),
            metrics,
            reconcile_intervals,
            stopped.clone(),
        ));
        let flusher = tokio::spawn(webhook_counts::run_flusher(
            operators.webhooks.clone(),
            webhook_counts_flush,
            stopped.clone(),
        ));
        let pruner = tokio::spawn(housekeeping::run(
            operators.ledger.clone(),
            housekeeping,
            operators.leadership.watch.clone(),
            stopped,
        ));
        operators
            .lock_tasks()
            .extend([scheduler, flusher, pruner, shadow_reporter]);
        Ok(operators)
    }

    /// Whether this replica is the sync leader now: its pushers' activity is the live one.
    pub fn is_leader(&self) -> bool {
        self.leadership.is_leader()
    }

    /// The replica that leads now (see [`Leadership::current_leader`]).
    pub async fn sync_leader(&self) -> Result<Option<SyncLeader>, LedgerError> {
        self.leadership.current_leader(&self.ledger).await
    }

    pub fn channels(&self) -> &BTreeMap<String, ChannelRuntime> {
        &self.channels
    }

    /// How many of the channel's listings are out of date (see [`out_of_date`]); `None` while
    /// its first count runs on.
    pub async fn listings_out_of_date(&self, channel: &ChannelRuntime) -> Option<OutOfDate> {
        let cache = self.out_of_date.get(&channel.id)?;
        out_of_date::listings_out_of_date(&self.ledger, channel, cache).await
    }

    /// Pauses or resumes a channel's pushes, persisted, effective at once in this process
    /// (other replicas follow within a second).
    pub async fn set_paused(&self, channel_id: &str, paused: bool) -> Result<(), PauseError> {
        let channel = self
            .channels
            .get(channel_id)
            .ok_or_else(|| PauseError::UnknownChannel(channel_id.to_string()))?;
        self.ledger.set_channel_paused(channel_id, paused).await?;
        channel.control.set_paused(paused);
        Ok(())
    }

    /// Stops the scheduler and flushes the webhook answer counts. Call it before the sync
    /// runtime stops (which interrupts this process's running jobs).
    pub async fn stop(&self) {
        let _ = self.shutdown.send(true);
        let tasks = std::mem::take(&mut *self.lock_tasks());
        for task in tasks {
            let _ = task.await;
        }
    }

    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Heartbeats older than this (unix ms) belong to jobs whose process is gone.
fn stale_cutoff() -> i64 {
    chrono::Utc::now().timestamp_millis() - jobs::STALE_AFTER.as_millis() as i64
}
