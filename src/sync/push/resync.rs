//! One piece of a resync job, done by the channel's own pusher so that it shares the channel's
//! throttle and never races a live push: push the listings of some SKUs (`push`), or read what
//! the channel shows, compare with what it should show and push only the differences
//! (`reconcile`).

use super::summary::ListingProblems;
use super::{ChannelPusher, FlushReport, PushError};
use crate::ledger::{PushTarget, ResyncMode};
use omnistock_connector::StockLevel;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tokio::sync::oneshot;
use tracing::{debug, warn};

/// A chunk of a job for one channel's pusher.
#[derive(Debug)]
pub struct ResyncWork {
    pub mode: ResyncMode,
    /// The SKUs whose listings are looked at.
    pub skus: Vec<String>,
    /// Only these listings of those SKUs, when given.
    pub listing_ids: Option<BTreeSet<String>>,
    pub reply: oneshot::Sender<WorkReport>,
}

/// A listing whose shown quantity differed from the computed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Drift {
    pub listing_id: String,
    pub sku: String,
    pub expected: i64,
    /// `None` when the channel did not know the listing.
    pub found: Option<i64>,
}

/// What one chunk did.
#[derive(Debug, Default, Clone)]
pub struct WorkReport {
    pub listings: usize,
    pub pushed: usize,
    pub rejected: usize,
    pub drifts: Vec<Drift>,
    pub error: Option<String>,
}

/// Does `work` and answers on its reply channel. Called by the pusher between live flushes.
pub(super) async fn perform(pusher: &ChannelPusher, work: ResyncWork) {
    // Its job ended (interrupted while the work waited, say): nobody wants the answer.
    if work.reply.is_closed() {
        return;
    }
    let report = match execute(pusher, &work).await {
        Ok(report) => report,
        Err(error) => {
            pusher.channel.control.note_push_error(&error.to_string());
            WorkReport {
                error: Some(error.to_string()),
                ..WorkReport::default()
            }
        }
    };
    let _ = work.reply.send(report);
}

async fn execute(pusher: &ChannelPusher, work: &ResyncWork) -> Result<WorkReport, PushError> {
    let mut targets = pusher.live_targets(&work.skus).await?;
    if let Some(listing_ids) = &work.listing_ids {
        targets.retain(|target| listing_ids.contains(&target.listing_id));
    }
    let mut report = WorkReport {
        listings: targets.len(),
        ..WorkReport::default()
    };
    if pusher.channel.control.is_shadow() {
        // Either mode only reads a shadow channel; what differs is reported as drift.
        let observations =
            super::shadow::observe(pusher, &targets, &mut FlushReport::default()).await?;
        report.drifts = observations
            .into_iter()
            .filter(|observation| observation.differs())
            .map(|observation| Drift {
                listing_id: observation.listing_id,
                sku: observation.sku,
                expected: observation.would_set,
                found: observation.shown,
            })
            .collect();
        return Ok(report);
    }
    let to_push = match work.mode {
        ResyncMode::Push => targets,
        ResyncMode::Reconcile => {
            let drifting = find_drift(pusher, targets).await?;
            report.drifts = drifting.iter().map(|(_, drift)| drift.clone()).collect();
            drifting.into_iter().map(|(target, _)| target).collect()
        }
    };
    let mut flush = FlushReport::default();
    pusher.push_listings(&to_push, &mut flush).await?;
    report.pushed = flush.confirmed;
    report.rejected = flush.rejected;
    Ok(report)
}

/// The targets whose shown quantity differs from the computed one, each with its drift
/// (logged and counted here).
async fn find_drift(
    pusher: &ChannelPusher,
    targets: Vec<PushTarget>,
) -> Result<Vec<(PushTarget, Drift)>, PushError> {
    let channel = &pusher.channel;
    let mut drifting = Vec::new();
    let batch_size = channel.capabilities.max_stock_batch.max(1);
    for batch in targets.chunks(batch_size) {
        let listing_ids: Vec<String> = batch.iter().map(|t| t.listing_id.clone()).collect();
        let shown: BTreeMap<String, i64> = read_shown_stock(pusher, &listing_ids)
            .await?
            .into_iter()
            .map(|level| (level.listing_id, level.quantity))
            .collect();
        let mut differing = ListingProblems::default();
        let mut unreported = ListingProblems::default();
        for target in batch {
            let found = shown.get(&target.listing_id).copied();
            if found == Some(target.quantity) {
                continue;
            }
            debug!(
                channel = %channel.id,
                sku = %target.sku,
                listing = %target.listing_id,
                expected = target.quantity,
                found,
                "stock drift found by reconciliation"
            );
            match found {
                Some(found) => differing.add(
                    &target.listing_id,
                    format!("shows {found}, should show {}", target.quantity),
                ),
                None => unreported.add(&target.listing_id, "not in the channel's answer"),
            }
            pusher.metrics.reconcile_drift(&channel.id);
            let drift = Drift {
                listing_id: target.listing_id.clone(),
                sku: target.sku.clone(),
                expected: target.quantity,
                found,
            };
            drifting.push((target.clone(), drift));
        }
        if !differing.is_empty() {
            warn!(channel = %channel.id, drifts = differing.count(), listings = %differing.sample(),
                examples = %differing.reasons(), "reconciliation found listings showing another quantity; pushing them");
        }
        if !unreported.is_empty() {
            warn!(channel = %channel.id, listings_unreported = unreported.count(), listings = %unreported.sample(),
                "the channel's stock read did not report these listings (unknown there, or not read); pushing them");
        }
    }
    Ok(drifting)
}

/// Reads what the channel shows, through its gateway (within its rate limit, retrying
/// transient failures).
pub(super) async fn read_shown_stock(
    pusher: &ChannelPusher,
    listing_ids: &[String],
) -> Result<Vec<StockLevel>, PushError> {
    Ok(pusher
        .channel
        .client
        .read_stock(listing_ids, &pusher.interrupt)
        .await?)
}
