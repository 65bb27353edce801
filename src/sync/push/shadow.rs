//! Shadow mode in the pusher: where a live channel's listings would be pushed, a shadow
//! channel's are read instead, and what omnistock would set is recorded beside what the
//! channel shows (`Ledger::shadow`).
//!
//! The gateway refuses every stock write while the channel is in shadow mode
//! (`ChannelClient::refuse_in_shadow`), so nothing here has to be right for nothing to be
//! written: this only decides what is read. Every path that would push (a live change, a held
//! change, a sweep, a resync) reads the same listings through the same gateway, within the
//! channel's rate limit, and a sweep of a shadow channel reads every listing (the scheduled
//! full read). A read's shown quantity is also recorded as the channel's last confirmed one,
//! so that the first sweep after going live pushes exactly the listings that differ.

use super::{ChannelPusher, FlushReport, PushError};
use crate::ledger::{ConfirmedPush, PushTarget, ShadowObservation};
use std::collections::BTreeMap;
use tracing::debug;

/// Reads what the channel shows for `targets` (a stock-update call's worth at a time) and
/// records each beside the quantity omnistock would set; adds the reads to `report.calls`.
/// Returns the observations.
pub(super) async fn observe(
    pusher: &ChannelPusher,
    targets: &[PushTarget],
    report: &mut FlushReport,
) -> Result<Vec<ShadowObservation>, PushError> {
    let channel = pusher.channel();
    let batch_size = channel.capabilities.max_stock_batch.max(1);
    let mut observations = Vec::with_capacity(targets.len());
    for batch in targets.chunks(batch_size) {
        let listing_ids: Vec<String> = batch.iter().map(|t| t.listing_id.clone()).collect();
        let shown: BTreeMap<String, i64> = super::resync::read_shown_stock(pusher, &listing_ids)
            .await?
            .into_iter()
            .map(|level| (level.listing_id, level.quantity))
            .collect();
        report.calls += 1;
        let read: Vec<ShadowObservation> = batch
            .iter()
            .map(|target| ShadowObservation {
                listing_id: target.listing_id.clone(),
                sku: target.sku.clone(),
                would_set: target.quantity,
                shown: shown.get(&target.listing_id).copied(),
            })
            .collect();
        record(pusher, batch, &read).await?;
        let differing = read
            .iter()
            .filter(|observation| observation.differs())
            .count();
        debug!(channel = %channel.id, listings = read.len(), differing, "shadow listings read");
        observations.extend(read);
    }
    Ok(observations)
}

/// Records one batch's reads: the shadow report, and each shown quantity as the channel's last
/// confirmed one (a listing the channel did not report keeps none, so going live pushes it).
async fn record(
    pusher: &ChannelPusher,
    batch: &[PushTarget],
    read: &[ShadowObservation],
) -> Result<(), PushError> {
    let channel = pusher.channel();
    let ledger = &pusher.ledger;
    ledger
        .shadow()
        .record(&channel.id, read, chrono::Utc::now().timestamp_millis())
        .await?;
    let mut shown = Vec::new();
    let mut unreported = Vec::new();
    for (target, observation) in batch.iter().zip(read) {
        match observation.shown {
            Some(quantity) => shown.push(ConfirmedPush::of(target, quantity)),
            None if target.last_pushed_quantity.is_some() => {
                unreported.push(target.listing_id.as_str())
            }
            None => {}
        }
    }
    ledger.record_pushed(&channel.id, &shown).await?;
    ledger.forget_before_push(&channel.id, &unreported).await?;
    Ok(())
}
