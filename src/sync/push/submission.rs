//! Bulk stock submissions (Amazon's `JSON_LISTINGS_FEED`): a sweep with many listings to push
//! hands them to a platform that offers it ([`ChannelClient::max_stock_submission`]) in one
//! asynchronous submission instead of one call per few listings.
//!
//! A submission is **in flight** until the platform's report says which listings it applied:
//! only then are they confirmed (recorded as pushed); refused ones are parked or pushed again
//! like any refusal. Listings whose quantity moved while it was in flight are handed back to
//! the sweep, so a submission processed after a live push never leaves an older quantity
//! showing.
//!
//! [`ChannelClient::max_stock_submission`]: crate::sync::gateway::ChannelClient::max_stock_submission

use super::{levels_of, ChannelPusher, FlushReport, PushError};
use crate::ledger::PushTarget;
use omnistock_connector::{PushResult, StockLevel, SubmissionStatus};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tracing::info;

/// The fewest changed listings a sweep submits in bulk; fewer are pushed call by call (at
/// Amazon's 5 patches a second, 200 listings take 40 seconds, about what a feed takes).
pub const BULK_SUBMISSION_MIN: usize = 200;

/// A submission the platform is processing.
#[derive(Debug)]
pub struct InFlight {
    id: String,
    targets: Vec<PushTarget>,
    levels: Vec<StockLevel>,
    submitted: Instant,
}

impl InFlight {
    pub fn listings(&self) -> usize {
        self.levels.len()
    }
}

/// Where a followed submission stands.
#[derive(Debug)]
pub enum Progress {
    /// Still processing: ask again after this long.
    InFlight(Duration),
    /// Processed: its results, to be recorded by a [`Settling`].
    Done(Vec<PushResult>),
}

/// A processed submission whose results are being recorded, [`CHUNK`] listings a step, so
/// that a live change never waits for tens of thousands of confirmations at once.
#[derive(Debug)]
pub struct Settling {
    in_flight: InFlight,
    results: HashMap<String, PushResult>,
    next: usize,
    report: FlushReport,
    push_again: BTreeSet<String>,
}

impl Settling {
    pub fn new(in_flight: InFlight, results: Vec<PushResult>) -> Self {
        let results = results
            .into_iter()
            .map(|result| {
                let listing_id = match &result {
                    PushResult::Confirmed { listing_id, .. }
                    | PushResult::Rejected { listing_id, .. } => listing_id.clone(),
                };
                (listing_id, result)
            })
            .collect();
        Self {
            in_flight,
            results,
            next: 0,
            report: FlushReport {
                calls: 1,
                ..FlushReport::default()
            },
            push_again: BTreeSet::new(),
        }
    }

    /// Records the next chunk of results; once all are, what the submission did and the SKUs
    /// to push again (refused for now, or moved while it was in flight).
    pub async fn step(
        &mut self,
        pusher: &ChannelPusher,
    ) -> Result<Option<(FlushReport, BTreeSet<String>)>, PushError> {
        let targets = &self.in_flight.targets;
        let end = (self.next + CHUNK).min(targets.len());
        let chunk = &targets[self.next..end];
        let results: Vec<PushResult> = chunk
            .iter()
            .filter_map(|target| self.results.get(&target.listing_id).cloned())
            .collect();
        pusher
            .apply_results(chunk, results, &mut self.report)
            .await?;
        // A listing whose quantity moved while the submission was in flight may have been
        // pushed live before the platform applied the older submitted quantity: it is
        // forgotten and pushed again whatever was recorded.
        let submitted: HashMap<&str, i64> = chunk
            .iter()
            .map(|target| (target.listing_id.as_str(), target.quantity))
            .collect();
        let skus: Vec<String> = chunk
            .iter()
            .map(|target| target.sku.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let moved: Vec<PushTarget> = pusher
            .live_targets(&skus)
            .await?
            .into_iter()
            .filter(|target| {
                submitted.get(target.listing_id.as_str()) != Some(&target.quantity)
                    || target.last_pushed_quantity != Some(target.quantity)
            })
            .collect();
        pusher.forget_before_push(&moved).await?;
        self.push_again
            .extend(moved.into_iter().map(|target| target.sku));
        self.next = end;
        if self.next < targets.len() {
            return Ok(None);
        }
        let mut report = std::mem::take(&mut self.report);
        let mut push_again = std::mem::take(&mut self.push_again);
        push_again.append(&mut report.retry_skus);
        info!(channel = %pusher.channel().id, submission = %self.in_flight.id,
            confirmed = report.confirmed, rejected = report.rejected, push_again = push_again.len(),
            took_ms = self.in_flight.submitted.elapsed().as_millis() as u64,
            "bulk stock submission processed and recorded");
        Ok(Some((report, push_again)))
    }
}

/// Submits the current quantity of every listing of `skus` that differs from what the channel
/// last confirmed; `None` when none does.
pub async fn submit(
    pusher: &ChannelPusher,
    skus: &[String],
) -> Result<Option<InFlight>, PushError> {
    let targets: Vec<PushTarget> = live_targets(pusher, skus)
        .await?
        .into_iter()
        .filter(|target| target.last_pushed_quantity != Some(target.quantity))
        .collect();
    if targets.is_empty() {
        return Ok(None);
    }
    let levels = levels_of(&targets);
    pusher.forget_before_push(&targets).await?;
    let channel = pusher.channel();
    let id = channel
        .client
        .submit_stock(&levels, &pusher.interrupt)
        .await?;
    info!(channel = %channel.id, submission = %id, listings = levels.len(), "bulk stock submission in flight");
    Ok(Some(InFlight {
        id,
        targets,
        levels,
        submitted: Instant::now(),
    }))
}

/// Asks where `in_flight` stands.
pub async fn follow(pusher: &ChannelPusher, in_flight: &InFlight) -> Result<Progress, PushError> {
    let status = pusher
        .channel()
        .client
        .submission_status(&in_flight.id, &in_flight.levels, &pusher.interrupt)
        .await?;
    Ok(match status {
        SubmissionStatus::InFlight { poll_after } => Progress::InFlight(poll_after),
        SubmissionStatus::Done(results) => Progress::Done(results),
    })
}

/// Listings read or recorded per step or ledger query: a submission's tens of thousands would
/// make one slow step that live changes wait for.
const CHUNK: usize = 500;

/// [`ChannelPusher::live_targets`] of many SKUs, a chunk at a time.
async fn live_targets(
    pusher: &ChannelPusher,
    skus: &[String],
) -> Result<Vec<PushTarget>, PushError> {
    let mut targets = Vec::with_capacity(skus.len());
    for chunk in skus.chunks(CHUNK) {
        targets.extend(pusher.live_targets(chunk).await?);
    }
    Ok(targets)
}
