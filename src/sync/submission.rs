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

use crate::ledger::PushTarget;
use crate::sync::push::{levels_of, ChannelPusher, FlushReport, PushError};
use omnistock_connector::{StockLevel, SubmissionStatus};
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
    /// Processed: what it did, and the SKUs to push again (refused for now, or moved while
    /// it was in flight).
    Done {
        report: FlushReport,
        push_again: BTreeSet<String>,
    },
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
        .submit_stock(&levels, pusher.interrupt())
        .await?;
    info!(channel = %channel.id, submission = %id, listings = levels.len(), "bulk stock submission in flight");
    Ok(Some(InFlight {
        id,
        targets,
        levels,
        submitted: Instant::now(),
    }))
}

/// Asks where `in_flight` stands; once processed, records its results.
pub async fn follow(pusher: &ChannelPusher, in_flight: &InFlight) -> Result<Progress, PushError> {
    let channel = pusher.channel();
    let status = channel
        .client
        .submission_status(&in_flight.id, &in_flight.levels, pusher.interrupt())
        .await?;
    let results = match status {
        SubmissionStatus::InFlight { poll_after } => return Ok(Progress::InFlight(poll_after)),
        SubmissionStatus::Done(results) => results,
    };
    let mut report = FlushReport {
        calls: 1,
        ..FlushReport::default()
    };
    let confirmed = pusher
        .apply_results(&in_flight.targets, results, &mut report)
        .await?;
    let skus: Vec<String> = in_flight
        .targets
        .iter()
        .map(|target| target.sku.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut push_again = std::mem::take(&mut report.retry_skus);
    // A listing whose quantity moved while the submission was in flight may have been pushed
    // live before the platform applied the older submitted quantity: it is forgotten and
    // pushed again whatever was recorded.
    let submitted: HashMap<&str, i64> = in_flight
        .levels
        .iter()
        .map(|level| (level.listing_id.as_str(), level.quantity))
        .collect();
    let moved: Vec<PushTarget> = live_targets(pusher, &skus)
        .await?
        .into_iter()
        .filter(|target| {
            submitted.get(target.listing_id.as_str()) != Some(&target.quantity)
                || target.last_pushed_quantity != Some(target.quantity)
        })
        .collect();
    pusher.forget_before_push(&moved).await?;
    push_again.extend(moved.into_iter().map(|target| target.sku));
    info!(channel = %channel.id, submission = %in_flight.id, confirmed, rejected = report.rejected,
        push_again = push_again.len(), took_ms = in_flight.submitted.elapsed().as_millis() as u64,
        "bulk stock submission processed");
    Ok(Progress::Done { report, push_again })
}

/// SKUs read per ledger query: a submission's tens of thousands of SKUs would exceed what one
/// statement may bind.
const READ_CHUNK: usize = 500;

/// [`ChannelPusher::live_targets`] of many SKUs, a chunk at a time.
async fn live_targets(
    pusher: &ChannelPusher,
    skus: &[String],
) -> Result<Vec<PushTarget>, PushError> {
    let mut targets = Vec::with_capacity(skus.len());
    for chunk in skus.chunks(READ_CHUNK) {
        targets.extend(pusher.live_targets(chunk).await?);
    }
    Ok(targets)
}
