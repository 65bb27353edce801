//! Jobs: recorded as `queued` by whichever replica accepted them, then claimed and run by the
//! sync leader's [`run_queued`]. A resync hands its work chunk by chunk to each channel's pusher
//! (which does live pushes first), writing progress as it goes; a catalog job (listing
//! discovery, a count from a channel) reads the channel's catalog (see `catalog_jobs.rs`).
//!
//! Restart behaviour: a job does not resume. When the process running it stops or loses
//! leadership, the job is marked `interrupted` (at once on a graceful stop; after its heartbeat
//! went stale on a crash, or at the next start on SQLite, where only one process runs), and
//! `POST /admin/jobs/{id}/restart` starts a new job of the same scope. A queued job simply
//! waits for a leader. A resync is idempotent, so restarting from the beginning costs calls,
//! never correctness; so is a catalog job (an applying discovery binds only listings still
//! unbound, a count sets on hand to what the channel shows).

use crate::ledger::{
    JobKind, JobMode, JobProgress, JobRecord, JobState, Ledger, LedgerError, PushTarget,
    TargetPages, TriggerKind,
};
use crate::ledger::{JobParams, ResyncMode};
use crate::ops::catalog_jobs::{self, CatalogEnd, CatalogTask};
use crate::sync::push::{ResyncWork, WorkReport};
use crate::sync::ChannelRuntime;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinSet;
use tracing::{info, warn};

/// How often a running job proves it is alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
/// A job whose heartbeat is older than this lost its process.
pub const STALE_AFTER: Duration = Duration::from_secs(15);
/// How often the leader looks for jobs queued on other replicas.
const QUEUE_TICK: Duration = Duration::from_secs(1);
/// How long a stopping runner waits for its jobs to record that they were interrupted.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// What a resync covers and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncScope {
    /// `None`: every enabled channel.
    pub channel: Option<String>,
    /// `None`: every SKU listed on the channel.
    pub skus: Option<Vec<String>>,
    pub mode: ResyncMode,
}

/// Why a job could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartJobError {
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error("a resync of an overlapping scope is queued or running: job {0}")]
    Overlap(String),
    #[error("a catalog job of the channel is queued or running: job {0}")]
    CatalogBusy(String),
    #[error("unknown location {0:?}")]
    UnknownLocation(String),
    #[error("job {0} is no dry-run discovery of the channel that succeeded")]
    NotADryRun(String),
    #[error("job {0} cannot be restarted: it is {1}")]
    NotRestartable(String, JobState),
    #[error("unknown job {0}")]
    UnknownJob(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Records and runs resync jobs. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    ledger: Ledger,
    channels: Arc<BTreeMap<String, ChannelRuntime>>,
    /// Jobs this process runs.
    running: Arc<Mutex<BTreeSet<String>>>,
    /// Wakes this process's runner when it accepted a job itself.
    queued: Arc<Notify>,
}

impl Jobs {
    pub fn new(ledger: Ledger, channels: Arc<BTreeMap<String, ChannelRuntime>>) -> Self {
        Self {
            ledger,
            channels,
            running: Arc::default(),
            queued: Arc::default(),
        }
    }

    /// Records a `queued` job for `scope`, refused when an active job on any replica overlaps.
    /// The sync leader runs it.
    pub async fn start(
        &self,
        scope: ResyncScope,
        trigger: TriggerKind,
        restarted_from: Option<String>,
    ) -> Result<JobRecord, StartJobError> {
        if let Some(channel) = &scope.channel {
            if !self.channels.contains_key(channel) {
                return Err(StartJobError::UnknownChannel(channel.clone()));
            }
        }
        let mut record = new_record(JobKind::Resync, scope.mode.into(), trigger, restarted_from);
        record.channel_id = scope.channel.clone();
        record.skus = scope.skus.clone();
        let conflict = self
            .ledger
            .jobs()
            .insert_unless(&record, |active| {
                scope_of(active).is_some_and(|active| overlaps(&scope, &active))
            })
            .await?;
        if let Some(conflict) = conflict {
            return Err(StartJobError::Overlap(conflict));
        }
        self.queued.notify_one();
        info!(job = %record.id, channel = scope.channel.as_deref(), mode = scope.mode.as_str(), trigger = trigger.as_str(), "resync job queued");
        Ok(record)
    }

    /// Records a `queued` catalog job of `task` on `channel`, refused when another catalog job
    /// of the channel is active on any replica (two would share its rate limit). An applying
    /// discovery given no dry run is compared with the channel's last one that succeeded.
    pub async fn start_catalog(
        &self,
        channel: &str,
        mut task: CatalogTask,
        restarted_from: Option<String>,
    ) -> Result<JobRecord, StartJobError> {
        if !self.channels.contains_key(channel) {
            return Err(StartJobError::UnknownChannel(channel.to_string()));
        }
        match &mut task {
            CatalogTask::ChannelCount {
                location: Some(location),
                ..
            } => {
                if !self.ledger.locations().await?.contains(location) {
                    return Err(StartJobError::UnknownLocation(location.clone()));
                }
            }
            CatalogTask::Discover { apply, dry_run_job } => match dry_run_job {
                Some(dry_run) => self.check_dry_run(channel, dry_run).await?,
                None if *apply => *dry_run_job = self.last_dry_run(channel).await?,
                None => {}
            },
            CatalogTask::ChannelCount { location: None, .. } => {}
        }
        let mut record = new_record(task.kind(), task.mode(), TriggerKind::Api, restarted_from);
        record.channel_id = Some(channel.to_string());
        record.params = Some(task.params()).filter(|params| *params != JobParams::default());
        let conflict = self
            .ledger
            .jobs()
            .insert_unless(&record, |active| {
                active.kind != JobKind::Resync && active.channel_id.as_deref() == Some(channel)
            })
            .await?;
        if let Some(conflict) = conflict {
            return Err(StartJobError::CatalogBusy(conflict));
        }
        self.queued.notify_one();
        info!(job = %record.id, channel = %channel, kind = record.kind.as_str(), mode = record.mode.as_str(), "catalog job queued");
        Ok(record)
    }

    /// Refuses a dry run to compare with that is not a succeeded dry-run discovery of `channel`.
    async fn check_dry_run(&self, channel: &str, id: &str) -> Result<(), StartJobError> {
        let job = self.ledger.jobs().get(id).await?;
        let fits = job.is_some_and(|job| {
            job.kind == JobKind::Discover
                && job.mode == JobMode::DryRun
                && job.state == JobState::Succeeded
                && job.channel_id.as_deref() == Some(channel)
        });
        if fits {
            Ok(())
        } else {
            Err(StartJobError::NotADryRun(id.to_string()))
        }
    }

    /// The channel's last dry-run discovery that succeeded.
    async fn last_dry_run(&self, channel: &str) -> Result<Option<String>, LedgerError> {
        self.ledger
            .jobs()
            .last_succeeded(channel, JobKind::Discover, JobMode::DryRun)
            .await
    }

    /// Starts a new job with the scope of an interrupted or failed one.
    pub async fn restart(&self, id: &str) -> Result<JobRecord, StartJobError> {
        let job = self
            .ledger
            .jobs()
            .get(id)
            .await?
            .ok_or_else(|| StartJobError::UnknownJob(id.to_string()))?;
        if job.state.is_active() {
            return Err(StartJobError::NotRestartable(job.id, job.state));
        }
        match (scope_of(&job), CatalogTask::of(&job), &job.channel_id) {
            (Some(scope), _, _) => self.start(scope, TriggerKind::Api, Some(job.id)).await,
            (None, Some(task), Some(channel)) => {
                self.start_catalog(channel, task, Some(job.id.clone()))
                    .await
            }
            _ => Err(StartJobError::NotRestartable(job.id, job.state)),
        }
    }

    /// Marks this process's running jobs interrupted (it stops or lost leadership).
    pub async fn interrupt_own(&self) {
        let ids: Vec<String> = self.lock_running().iter().cloned().collect();
        for id in ids {
            if let Err(error) = self
                .ledger
                .jobs()
                .finish(
                    &id,
                    JobState::Interrupted,
                    Some("the daemon stopped or lost sync leadership"),
                )
                .await
            {
                warn!(job = %id, error = %error, "marking a resync job interrupted failed");
            }
        }
        self.lock_running().clear();
    }

    /// Claims every queued job this process can win and starts each as a task of `tasks`.
    async fn claim_queued(
        &self,
        tasks: &mut JoinSet<()>,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), LedgerError> {
        for id in self.ledger.jobs().queued_ids().await? {
            if !self.ledger.jobs().claim(&id).await? {
                continue;
            }
            // Read once claimed: a row that does not parse fails its own job, never runs as
            // something else (a SKU list read as "every SKU").
            let job = match self.ledger.jobs().get(&id).await {
                Ok(Some(job)) => job,
                Ok(None) => continue,
                Err(error @ LedgerError::CorruptRow(_)) => {
                    warn!(job = %id, error = %error, "a queued resync job is unreadable; it fails");
                    self.ledger
                        .jobs()
                        .finish(&id, JobState::Failed, Some(&error.to_string()))
                        .await?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            self.lock_running().insert(job.id.clone());
            info!(job = %job.id, channel = job.channel_id.as_deref(), kind = job.kind.as_str(), mode = job.mode.as_str(), "job started");
            tasks.spawn(self.clone().execute(job, stop.clone()));
        }
        Ok(())
    }

    /// Runs one claimed job to its end and records how it ended.
    async fn execute(self, job: JobRecord, mut stop: watch::Receiver<bool>) {
        let id = job.id.clone();
        let outcome = match (scope_of(&job), CatalogTask::of(&job)) {
            (Some(scope), _) => self
                .run(&id, &scope, &mut stop)
                .await
                .map_err(|error| error.to_string()),
            (None, Some(task)) => self.run_catalog(&job, &task, &mut stop).await,
            (None, None) => Err("the job is of no kind this process runs".to_string()),
        };
        let (state, error) = match outcome {
            Ok(RunEnd::Done { errors: 0 }) => (JobState::Succeeded, None),
            Ok(RunEnd::Done { .. }) => (JobState::Failed, None),
            Ok(RunEnd::Stopped) => (
                JobState::Interrupted,
                Some("the daemon stopped or lost sync leadership".to_string()),
            ),
            Err(error) => (JobState::Failed, Some(error)),
        };
        if let Err(finish_error) = self
            .ledger
            .jobs()
            .finish(&id, state, error.as_deref())
            .await
        {
            warn!(job = %id, error = %finish_error, "recording the end of a resync job failed");
        }
        self.lock_running().remove(&id);
        info!(job = %id, kind = job.kind.as_str(), state = state.as_str(), "job ended");
    }

    /// Runs a claimed catalog job on its channel.
    async fn run_catalog(
        &self,
        job: &JobRecord,
        task: &CatalogTask,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<RunEnd, String> {
        let channel = job
            .channel_id
            .as_ref()
            .and_then(|channel| self.channels.get(channel))
            .ok_or_else(|| {
                format!(
                    "channel {:?} is not enabled on the sync leader",
                    job.channel_id.as_deref().unwrap_or("")
                )
            })?;
        match catalog_jobs::run(&self.ledger, channel, &job.id, task, stop).await {
            Ok(CatalogEnd::Done(_)) => Ok(RunEnd::Done { errors: 0 }),
            Ok(CatalogEnd::Stopped) => Ok(RunEnd::Stopped),
            Err(error) => Err(error.to_string()),
        }
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn run(
        &self,
        id: &str,
        scope: &ResyncScope,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<RunEnd, LedgerError> {
        let channels: Vec<&ChannelRuntime> = match &scope.channel {
            Some(channel) => self.channels.get(channel).into_iter().collect(),
            None => self.channels.values().collect(),
        };
        // The total first, so that progress says from the start how far the job has got.
        let mut progress = JobProgress::default();
        let mut plan = Vec::with_capacity(channels.len());
        for channel in channels {
            let pages = JobPages::new(&self.ledger, channel, scope.skus.as_deref()).await?;
            progress.total += pages.total(&self.ledger, channel).await?;
            plan.push((channel, pages));
        }
        self.ledger
            .jobs()
            .record_progress(id, progress, None)
            .await?;
        // Then each channel's listings a page at a time (memory stays bounded whatever the
        // catalog), in pusher-sized chunks.
        let mut drifts_by_channel: BTreeMap<String, i64> = BTreeMap::new();
        for (channel, mut pages) in plan {
            while let Some(targets) = pages.next(&self.ledger, channel).await? {
                for chunk in targets.chunks(channel.capabilities.max_stock_batch.max(1)) {
                    let chunk = JobChunk {
                        skus: chunk.iter().map(|t| t.sku.clone()).collect::<BTreeSet<_>>(),
                        listings: chunk.iter().map(|t| t.listing_id.clone()).collect(),
                    };
                    let Some(drifts) = self
                        .run_chunk(id, scope.mode, channel, chunk, &mut progress, shutdown)
                        .await?
                    else {
                        return Ok(RunEnd::Stopped);
                    };
                    *drifts_by_channel.entry(channel.id.clone()).or_default() += drifts;
                }
            }
        }
        if scope.mode == ResyncMode::Reconcile {
            let channel_ids: Vec<String> = match &scope.channel {
                Some(channel) => vec![channel.clone()],
                None => self.channels.keys().cloned().collect(),
            };
            for channel in channel_ids {
                let drifts = drifts_by_channel.get(&channel).copied().unwrap_or(0);
                self.ledger
                    .channel_status()
                    .record_reconciliation(&channel, id, drifts)
                    .await?;
            }
        }
        Ok(RunEnd::Done {
            errors: progress.errors,
        })
    }

    /// Hands one chunk to the channel's pusher and records its outcome in the job's progress;
    /// the drifts it found, or `None` when the daemon stops.
    async fn run_chunk(
        &self,
        id: &str,
        mode: ResyncMode,
        channel: &ChannelRuntime,
        chunk: JobChunk,
        progress: &mut JobProgress,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<i64>, LedgerError> {
        let chunk_size = chunk.listings.len() as i64;
        let (reply, answer) = oneshot::channel();
        let submitted = channel.control.submit(ResyncWork {
            mode,
            skus: chunk.skus.into_iter().collect(),
            listing_ids: Some(chunk.listings),
            reply,
        });
        let report = if submitted {
            match self.await_answer(id, *progress, answer, shutdown).await? {
                Some(report) => report,
                None => return Ok(None),
            }
        } else {
            None
        };
        progress.done += chunk_size;
        let mut drifts = 0;
        let mut last_error = None;
        match report {
            Some(report) => {
                drifts = report.drifts.len() as i64;
                progress.pushed += report.pushed as i64;
                progress.drifts += drifts;
                progress.errors += report.rejected as i64;
                if let Some(error) = report.error {
                    progress.errors += 1;
                    last_error = Some(format!("{}: {error}", channel.id));
                }
            }
            None => {
                progress.errors += 1;
                last_error = Some(format!("{}: the channel's pusher is gone", channel.id));
            }
        }
        self.ledger
            .jobs()
            .record_progress(id, *progress, last_error.as_deref())
            .await?;
        Ok(Some(drifts))
    }

    /// Waits for a chunk's answer, writing heartbeats meanwhile. `None` when the daemon stops;
    /// `Some(None)` when the pusher dropped the work.
    async fn await_answer(
        &self,
        id: &str,
        progress: JobProgress,
        mut answer: oneshot::Receiver<WorkReport>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Option<WorkReport>>, LedgerError> {
        loop {
            tokio::select! {
                report = &mut answer => return Ok(Some(report.ok())),
                _ = crate::sync::stop_requested(shutdown) => return Ok(None),
                _ = tokio::time::sleep(HEARTBEAT_INTERVAL) => {
                    self.ledger.jobs().record_progress(id, progress, None).await?;
                }
            }
        }
    }
}

impl Jobs {
    /// The leader's job runner over these jobs (see [`run_queued`]).
    pub fn runner(&self) -> crate::sync::duties::JobRunner {
        let jobs = self.clone();
        std::sync::Arc::new(move |stop| Box::pin(run_queued(jobs.clone(), stop)))
    }
}

/// The sync leader's job runner: claims queued jobs (woken when this process accepted one, and
/// every second for jobs accepted elsewhere) and runs them until `stop`; then its jobs end as
/// `interrupted`.
pub async fn run_queued(jobs: Jobs, mut stop: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    loop {
        if let Err(error) = jobs.claim_queued(&mut tasks, &stop).await {
            warn!(error = %error, "looking for queued resync jobs failed");
        }
        tokio::select! {
            _ = crate::sync::stop_requested(&mut stop) => break,
            _ = jobs.queued.notified() => {}
            _ = tokio::time::sleep(QUEUE_TICK) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Each job sees `stop` and records itself interrupted; whatever does not in time is
    // abandoned and marked here.
    let drained = tokio::time::timeout(STOP_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    jobs.interrupt_own().await;
}

enum RunEnd {
    Done { errors: i64 },
    Stopped,
}

/// The scope a stored resync covers; `None` for another kind of job.
pub fn scope_of(job: &JobRecord) -> Option<ResyncScope> {
    Some(ResyncScope {
        channel: job.channel_id.clone(),
        skus: job.skus.clone(),
        mode: job.resync_mode()?,
    })
}

/// A queued job of `kind` and `mode`, of no channel and SKUs yet.
fn new_record(
    kind: JobKind,
    mode: JobMode,
    trigger: TriggerKind,
    restarted_from: Option<String>,
) -> JobRecord {
    let now = chrono::Utc::now().timestamp_millis();
    JobRecord {
        id: uuid::Uuid::now_v7().to_string(),
        kind,
        channel_id: None,
        skus: None,
        mode,
        params: None,
        trigger,
        state: JobState::Queued,
        total: 0,
        done: 0,
        pushed: 0,
        drifts: 0,
        errors: 0,
        pages: 0,
        last_error: None,
        result: None,
        restarted_from,
        created_at: now,
        started_at: None,
        finished_at: None,
        heartbeat_at: now,
    }
}

/// Two scopes overlap when they share a channel and a SKU (`None` means all of them).
pub fn overlaps(a: &ResyncScope, b: &ResyncScope) -> bool {
    let channels = match (&a.channel, &b.channel) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let skus = match (&a.skus, &b.skus) {
        (Some(a), Some(b)) => a.iter().any(|sku| b.contains(sku)),
        _ => true,
    };
    channels && skus
}

/// The listings of one chunk of a job.
struct JobChunk {
    skus: BTreeSet<String>,
    listings: BTreeSet<String>,
}

/// What a job goes through on one channel: the listings of the SKUs it names, read at the
/// start, or every listing of the channel a page at a time.
enum JobPages {
    Named(Option<Vec<PushTarget>>),
    Walk(TargetPages),
}

impl JobPages {
    async fn new(
        ledger: &Ledger,
        channel: &ChannelRuntime,
        skus: Option<&[String]>,
    ) -> Result<Self, LedgerError> {
        Ok(match skus {
            Some(skus) => Self::Named(Some(
                ledger
                    .push_targets(&channel.id, skus, &channel.policy)
                    .await?,
            )),
            None => Self::Walk(TargetPages::new(&channel.id)),
        })
    }

    /// How many listings the job will go through on this channel.
    async fn total(&self, ledger: &Ledger, channel: &ChannelRuntime) -> Result<i64, LedgerError> {
        Ok(match self {
            Self::Named(targets) => targets.as_ref().map_or(0, Vec::len) as i64,
            Self::Walk(_) => {
                let listings = ledger.count_sync_enabled_listings(&channel.id).await?;
                i64::try_from(listings).unwrap_or(i64::MAX)
            }
        })
    }

    /// The targets of the next page; `None` when none is left.
    async fn next(
        &mut self,
        ledger: &Ledger,
        channel: &ChannelRuntime,
    ) -> Result<Option<Vec<PushTarget>>, LedgerError> {
        match self {
            Self::Named(targets) => Ok(targets.take()),
            Self::Walk(pages) => Ok(pages
                .next(ledger, &channel.policy)
                .await?
                .map(|page| page.targets)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(channel: Option<&str>, skus: Option<&[&str]>) -> ResyncScope {
        ResyncScope {
            channel: channel.map(str::to_string),
            skus: skus.map(|skus| skus.iter().map(|s| s.to_string()).collect()),
            mode: ResyncMode::Push,
        }
    }

    #[test]
    fn scopes_overlap_when_they_share_a_channel_and_a_sku() {
        assert!(overlaps(
            &scope(Some("a"), None),
            &scope(Some("a"), Some(&["x"]))
        ));
        assert!(overlaps(&scope(None, None), &scope(Some("b"), None)));
        assert!(!overlaps(&scope(Some("a"), None), &scope(Some("b"), None)));
        assert!(!overlaps(
            &scope(Some("a"), Some(&["x"])),
            &scope(Some("a"), Some(&["y"]))
        ));
        assert!(overlaps(
            &scope(Some("a"), Some(&["x", "y"])),
            &scope(None, Some(&["y"]))
        ));
    }
}
