//! Catalog jobs: listing discovery and the first stock count from a channel run as jobs of the
//! job store (`POST /admin/channels/{id}/discover` and `/count`), claimed and run by the sync
//! leader like resyncs (see `jobs.rs`). The catalog is read through the leader's own gateway of
//! the channel, so the read shares the channel's rate limit with the pushes. Progress (pages and
//! listings read) is written every second; the report is stored as the job's result when it
//! succeeds.

use crate::ledger::{JobKind, JobMode, JobParams, JobProgress, JobRecord, Ledger, LedgerError};
use crate::ops::catalog_walk::{CatalogError, WalkProgress};
use crate::ops::channel_count;
use crate::ops::discovery::{self, DiscoveryReport};
use crate::sync::gateway::Interrupt;
use crate::sync::ChannelRuntime;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::watch;
use tracing::warn;

/// How often a running catalog job writes its progress (and so its heartbeat).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// What a catalog job does on its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogTask {
    /// Classify the catalog; with `apply`, bind the new listings. `dry_run_job`: the dry run
    /// the result is compared with.
    Discover {
        apply: bool,
        dry_run_job: Option<String>,
    },
    /// Count on hand from what the channel shows, at `location` (`None`: the channel's own).
    ChannelCount {
        apply: bool,
        location: Option<String>,
    },
}

impl CatalogTask {
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Discover { .. } => JobKind::Discover,
            Self::ChannelCount { .. } => JobKind::ChannelCount,
        }
    }

    pub fn mode(&self) -> JobMode {
        match self {
            Self::Discover { apply, .. } | Self::ChannelCount { apply, .. } => {
                JobMode::catalog(*apply)
            }
        }
    }

    pub fn params(&self) -> JobParams {
        match self {
            Self::Discover { dry_run_job, .. } => JobParams {
                location: None,
                dry_run_job: dry_run_job.clone(),
            },
            Self::ChannelCount { location, .. } => JobParams {
                location: location.clone(),
                dry_run_job: None,
            },
        }
    }

    /// The task of a stored catalog job; `None` for a resync.
    pub fn of(job: &JobRecord) -> Option<Self> {
        let apply = job.mode == JobMode::Apply;
        let params = job.params.clone().unwrap_or_default();
        match job.kind {
            JobKind::Resync => None,
            JobKind::Discover => Some(Self::Discover {
                apply,
                dry_run_job: params.dry_run_job,
            }),
            JobKind::ChannelCount => Some(Self::ChannelCount {
                apply,
                location: params.location,
            }),
        }
    }
}

/// How a catalog job's run ended.
pub enum CatalogEnd {
    /// Its report, as stored.
    Done(serde_json::Value),
    Stopped,
}

/// Why a catalog job failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogJobError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the job's report cannot be stored: {0}")]
    Report(#[from] serde_json::Error),
}

type Work<'a> =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, CatalogJobError>> + Send + 'a>>;

/// Runs job `id`'s `task` on `channel` to its end, writing progress as it reads; `Stopped` when
/// `stop` came first.
pub async fn run(
    ledger: &Ledger,
    channel: &ChannelRuntime,
    id: &str,
    task: &CatalogTask,
    stop: &mut watch::Receiver<bool>,
) -> Result<CatalogEnd, CatalogJobError> {
    let (seen, read) = watch::channel(WalkProgress::default());
    let on_page = move |progress: WalkProgress| {
        seen.send_replace(progress);
    };
    let interrupt = Interrupt::on_stop(stop.clone());
    let mut work: Work<'_> = match task {
        CatalogTask::Discover { apply, dry_run_job } => Box::pin(async move {
            let mut report =
                discovery::discover(ledger, channel, *apply, interrupt, on_page).await?;
            if let Some(dry_run) = dry_run_job {
                match dry_run_report(ledger, dry_run).await {
                    Some(earlier) => report.compare_with(&earlier),
                    None => {
                        warn!(channel = %channel.id, job = %dry_run, "the dry run to compare with is gone or unreadable");
                    }
                }
            }
            Ok(serde_json::to_value(&report)?)
        }),
        CatalogTask::ChannelCount { apply, location } => Box::pin(async move {
            let report = channel_count::count_from_channel(
                ledger,
                channel,
                location.as_deref(),
                *apply,
                interrupt,
                on_page,
            )
            .await?;
            Ok(serde_json::to_value(&report)?)
        }),
    };
    // Progress is written beside the work, never instead of it: on SQLite a progress write
    // waits for the write lock while the work binds or counts in its transaction, and that
    // transaction must go on meanwhile. A write that fails costs a heartbeat, not the job.
    let mut writer_stop = stop.clone();
    let progress_until_stopped = async {
        let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
        loop {
            tokio::select! {
                _ = crate::sync::stop_requested(&mut writer_stop) => return,
                _ = ticker.tick() => {}
            }
            let progress = progress_of(*read.borrow(), false);
            if let Err(error) = ledger.jobs().record_progress(id, progress, None).await {
                warn!(job = %id, channel = %channel.id, error = %error, "writing a catalog job's progress failed");
            }
        }
    };
    tokio::select! {
        outcome = &mut work => match outcome {
            // An interrupted read ends in an error: the stop is why.
            Err(_) if *stop.borrow() => Ok(CatalogEnd::Stopped),
            Err(error) => Err(error),
            Ok(report) => {
                let progress = progress_of(*read.borrow(), true);
                ledger.jobs().record_progress(id, progress, None).await?;
                ledger.jobs().record_result(id, &report).await?;
                Ok(CatalogEnd::Done(report))
            }
        },
        () = progress_until_stopped => Ok(CatalogEnd::Stopped),
    }
}

/// A catalog job's progress: listings read (the total is known once the last page was read).
fn progress_of(read: WalkProgress, finished: bool) -> JobProgress {
    let listings = i64::try_from(read.listings).unwrap_or(i64::MAX);
    JobProgress {
        total: if finished { listings } else { 0 },
        done: listings,
        pages: i64::try_from(read.pages).unwrap_or(i64::MAX),
        ..JobProgress::default()
    }
}

/// The classification of dry-run discovery job `id`, when it succeeded and its result reads.
async fn dry_run_report(ledger: &Ledger, id: &str) -> Option<DiscoveryReport> {
    let job = ledger.jobs().get(id).await.ok()??;
    serde_json::from_value(job.result?).ok()
}
