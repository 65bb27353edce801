//! A sweep of one channel: every listing whose computed quantity differs from what the channel
//! last confirmed is pushed, going through the channel's SKUs a page at a time.
//!
//! A sweep goes in small steps (read a page, or push one call's worth of it), and the pusher
//! takes the next step only when no live stock change waits, so a sweep of a large catalog
//! (minutes for a million SKUs) never holds up the live pushes that the one-second promise is
//! about: a live change waits at most for the step in flight. A step that fails (the channel
//! or the ledger is down) is tried again after a pause that doubles, from where the sweep
//! stopped: nothing is acknowledged by a sweep, so stopping anywhere is safe.

use super::control::SweepProgress;
use super::submission::{self, InFlight, Progress, Settling, BULK_SUBMISSION_MIN};
use super::{ChannelPusher, FlushReport, PushError};
use crate::ledger::{PushTarget, TargetPages};
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// The pause before a failed page is tried again; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Why a channel is swept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepCause {
    /// The pusher started (the daemon started or this replica became the sync leader): push
    /// whatever changed while nobody pushed, so the channel converges even after a lost message.
    StartUp,
    /// The channel was resumed: push what accumulated while it was paused.
    Resume,
    /// The channel answers again after being degraded: push what moved during the outage,
    /// including changes whose messages the bus dead-lettered.
    Recovery,
    /// The bus dead-lettered some of the channel's messages: their changes reached no push.
    DeadLetters,
    /// A shadow channel was switched to live: push every listing that differs from what it
    /// was last read to show.
    GoLive,
    /// A shadow channel's scheduled full read (a shadow channel's sweeps read, never push).
    ShadowRead,
}

impl SweepCause {
    fn as_str(self) -> &'static str {
        match self {
            Self::StartUp => "start-up",
            Self::Resume => "resume",
            Self::Recovery => "recovery",
            Self::DeadLetters => "dead-letters",
            Self::GoLive => "go-live",
            Self::ShadowRead => "shadow-read",
        }
    }
}

/// A sweep in progress.
#[derive(Debug)]
pub struct Sweep {
    cause: SweepCause,
    /// The channel's SKUs, a page at a time; where the sweep is.
    pages: TargetPages,
    /// SKUs of the page read last whose listings differ from what the channel confirmed, not
    /// pushed yet.
    to_push: VecDeque<String>,
    report: FlushReport,
    /// When the next step may be taken: now, or after a failure's pause.
    next_step_at: Instant,
    /// The pause after the last failure, while steps keep failing.
    retry_pause: Option<Duration>,
    started: std::time::Instant,
    /// When it started, unix ms, for the channel status.
    started_at: i64,
    /// SKUs read so far.
    skus_read: u64,
    /// Every page was read.
    pages_done: bool,
    /// A bulk submission the platform is processing (see `submission.rs`).
    in_flight: Option<InFlight>,
    /// A processed submission whose results are being recorded, a chunk a step.
    settling: Option<Settling>,
    /// How long to wait before the next step (a submission still processing).
    wait: Option<Duration>,
}

impl Sweep {
    pub fn start(cause: SweepCause, channel_id: &str) -> Self {
        Self {
            cause,
            pages: TargetPages::new(channel_id),
            to_push: VecDeque::new(),
            report: FlushReport::default(),
            next_step_at: Instant::now(),
            retry_pause: None,
            started: std::time::Instant::now(),
            started_at: chrono::Utc::now().timestamp_millis(),
            skus_read: 0,
            pages_done: false,
            in_flight: None,
            settling: None,
            wait: None,
        }
    }

    /// A sweep from the first page for `cause`, in place of `running`: a sweep under way may
    /// already have passed what just changed, so it starts over. A resume sweep keeps its
    /// cause, since its end is what clears the changes the pause held.
    pub fn start_over(running: Option<&Sweep>, cause: SweepCause, channel_id: &str) -> Self {
        let cause = match running.map(Sweep::cause) {
            Some(SweepCause::Resume) => SweepCause::Resume,
            _ => cause,
        };
        Self::start(cause, channel_id)
    }

    pub fn cause(&self) -> SweepCause {
        self.cause
    }

    /// When the next step may be taken.
    pub fn next_step_at(&self) -> Instant {
        self.next_step_at
    }

    /// Takes one step: pushes one stock-update call's worth of the page read last (read again
    /// now, so that a live push meanwhile is never undone by an older quantity), or reads the
    /// next page. On a platform with bulk submissions, pages are read until one submission's
    /// worth of changed listings is queued (or none is left), which then go in one submission
    /// if there are at least [`BULK_SUBMISSION_MIN`]; the sweep follows the submission until
    /// it is processed. `true` when the sweep is done (no page, queued SKU or submission left).
    pub async fn step(&mut self, pusher: &ChannelPusher) -> bool {
        let channel = &pusher.channel;
        pusher.metrics.sweep_running(&channel.id, true);
        channel.control.note_sweep(self.progress());
        match self.advance(pusher).await {
            Ok(false) => {
                self.retry_pause = None;
                self.next_step_at = Instant::now() + self.wait.take().unwrap_or_default();
                false
            }
            Ok(true) => {
                channel.control.note_sweep_done();
                pusher.metrics.sweep_running(&channel.id, false);
                info!(channel = %channel.id, cause = self.cause.as_str(),
                    pushed = self.report.confirmed, calls = self.report.calls,
                    unchanged = self.report.skipped_unchanged, rejected = self.report.rejected,
                    took_ms = self.started.elapsed().as_millis() as u64,
                    "stock sweep done");
                true
            }
            Err(error) => {
                let pause = self
                    .retry_pause
                    .map_or(RETRY_FIRST, |pause| (pause * 2).min(RETRY_MAX));
                warn!(channel = %channel.id, cause = self.cause.as_str(), error = %error,
                    retry_in_s = pause.as_secs(), after_sku = self.pages.after(),
                    "stock sweep step failed; it is tried again between live pushes");
                channel.control.note_push_error(&error.to_string());
                self.retry_pause = Some(pause);
                self.next_step_at = Instant::now() + pause;
                false
            }
        }
    }

    fn progress(&self) -> SweepProgress {
        SweepProgress {
            cause: self.cause.as_str(),
            started_at: self.started_at,
            skus_read: self.skus_read,
        }
    }

    /// One step; `true` when the sweep is done.
    async fn advance(&mut self, pusher: &ChannelPusher) -> Result<bool, PushError> {
        if let Some(settling) = &mut self.settling {
            if let Some((report, push_again)) = settling.step(pusher).await? {
                self.settling = None;
                self.report.absorb(report);
                self.to_push.extend(push_again);
            }
            return Ok(false);
        }
        if let Some(in_flight) = &self.in_flight {
            match submission::follow(pusher, in_flight).await? {
                Progress::InFlight(wait) => self.wait = Some(wait),
                Progress::Done(results) => {
                    self.settling = self
                        .in_flight
                        .take()
                        .map(|in_flight| Settling::new(in_flight, results));
                }
            }
            return Ok(false);
        }
        // A shadow channel is read listing by listing: nothing is submitted.
        let submission_limit = pusher
            .channel()
            .client
            .max_stock_submission()
            .filter(|_| !pusher.channel().control.is_shadow());
        if let Some(limit) = submission_limit {
            if !self.pages_done && self.to_push.len() < limit {
                return self.read_next_page(pusher).await;
            }
            if self.to_push.len() >= BULK_SUBMISSION_MIN {
                return self.submit_next(pusher, limit).await;
            }
        }
        if self.to_push.is_empty() {
            if self.pages_done {
                return Ok(true);
            }
            return self.read_next_page(pusher).await;
        }
        self.push_next_batch(pusher).await
    }

    /// Submits up to `limit` queued SKUs in one bulk submission.
    async fn submit_next(
        &mut self,
        pusher: &ChannelPusher,
        limit: usize,
    ) -> Result<bool, PushError> {
        let count = self.to_push.len().min(limit.max(1));
        let skus: Vec<String> = self.to_push.iter().take(count).cloned().collect();
        let submitted = submission::submit(pusher, &skus).await?;
        // Only once submitted: a failed submission is tried again as it was.
        self.to_push.drain(..count);
        if let Some(in_flight) = submitted {
            self.report.calls += 1;
            pusher.channel().control.note_sweep(self.progress());
            tracing::debug!(channel = %pusher.channel().id, listings = in_flight.listings(), "sweep submitted in bulk");
            self.in_flight = Some(in_flight);
        }
        Ok(false)
    }

    /// Reads the next page and queues its SKUs whose listings differ; notes when none is left.
    async fn read_next_page(&mut self, pusher: &ChannelPusher) -> Result<bool, PushError> {
        let Some(page) = read_page(pusher, &mut self.pages).await? else {
            self.pages_done = true;
            return Ok(false);
        };
        pusher.metrics.sweep_skus(&pusher.channel.id, page.skus);
        self.skus_read += page.skus as u64;
        pusher.channel.control.note_sweep(self.progress());
        self.report.skipped_unchanged += page.unchanged;
        self.to_push.extend(page.changed_skus);
        Ok(false)
    }

    /// Pushes the listings of the next batch of queued SKUs.
    async fn push_next_batch(&mut self, pusher: &ChannelPusher) -> Result<bool, PushError> {
        let batch_size = pusher.channel.capabilities.max_stock_batch.max(1);
        let batch: Vec<String> = self.to_push.iter().take(batch_size).cloned().collect();
        let pushed = pusher.push_skus(&batch).await?;
        // Only once they are pushed: a failed batch is tried again as it was.
        self.to_push.drain(..batch.len());
        self.report.absorb(pushed);
        Ok(false)
    }
}

/// One page of a sweep, read.
#[derive(Debug)]
struct SweepPage {
    /// SKUs on the page.
    skus: usize,
    /// Listings on the page that show what the channel last confirmed.
    unchanged: usize,
    /// SKUs on the page with a listing to push, in order.
    changed_skus: Vec<String>,
}

/// Reads the next page of the channel's walk and which of its SKUs have a listing whose
/// computed quantity differs from the last one the channel confirmed; `None` when no page is
/// left. Pages follow the SKUs' order, so memory stays bounded whatever the catalog.
async fn read_page(
    pusher: &ChannelPusher,
    pages: &mut TargetPages,
) -> Result<Option<SweepPage>, PushError> {
    let channel = &pusher.channel;
    let Some(page) = pages.next(&pusher.ledger, &channel.policy).await? else {
        return Ok(None);
    };
    // A shadow channel's sweep reads every listing: what it shows may have moved by itself.
    let shadow = channel.control.is_shadow();
    let (changed, unchanged): (Vec<PushTarget>, Vec<PushTarget>) = pusher
        .without_parked(page.targets)
        .await?
        .into_iter()
        .partition(|target| shadow || target.last_pushed_quantity != Some(target.quantity));
    let changed_skus: BTreeSet<String> = changed.into_iter().map(|target| target.sku).collect();
    debug!(channel = %channel.id, skus = page.skus.len(), last_sku = pages.after(), changed = changed_skus.len(), "sweep page read");
    Ok(Some(SweepPage {
        skus: page.skus.len(),
        unchanged: unchanged.len(),
        changed_skus: changed_skus.into_iter().collect(),
    }))
}
