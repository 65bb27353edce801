//! Pausing a channel's pushes: while paused, the pusher takes stock-change messages and lets
//! them go (orders are still booked and the ledger keeps every change), pushing nothing; on
//! resume it sweeps the channel once, in small steps between live pushes, which pushes
//! exactly the listings whose quantity moved since the channel last confirmed it — everything
//! that accumulated, coalesced to one quantity per listing.
//!
//! Acknowledging while paused is safe because the resume sweep does not depend on messages:
//! it compares every listing's computed quantity with what the channel last confirmed. A
//! channel paused across a restart is swept when it is resumed, not at start.

use super::sweep::{Sweep, SweepCause};
use super::ChannelPusher;
use crate::bus::Delivery;
use std::collections::BTreeSet;
use tracing::{info, warn};

/// Lets the coalesced messages of a paused channel go without pushing; their SKUs count as
/// the channel's backlog until it is resumed.
pub(super) async fn hold(
    pusher: &ChannelPusher,
    pending_skus: &mut BTreeSet<String>,
    deliveries: &mut Vec<Delivery>,
) {
    let channel = &pusher.channel;
    channel.control.add_backlog(std::mem::take(pending_skus));
    if let Err(error) = Delivery::ack_many(std::mem::take(deliveries)).await {
        warn!(channel = %channel.id, error = %error, "acknowledging held stock messages failed");
    }
    pusher
        .metrics
        .push_backlog(&channel.id, channel.control.snapshot().backlog.len());
}

/// Reacts to a pause or a resume: on resume, the sweep that pushes what accumulated (it
/// replaces a sweep in progress, which it covers).
pub(super) fn pause_changed(pusher: &ChannelPusher) -> Option<Sweep> {
    let channel = &pusher.channel;
    if channel.control.is_paused() {
        info!(channel = %channel.id, "channel paused: stock pushes stop, changes accumulate");
        return None;
    }
    info!(channel = %channel.id, "channel resumed: pushing what accumulated");
    Some(Sweep::start(SweepCause::Resume, &channel.id))
}

/// After the resume sweep: nothing accumulated is left to push.
pub(super) fn caught_up(pusher: &ChannelPusher) {
    let channel = &pusher.channel;
    channel.control.clear_backlog();
    pusher.metrics.push_backlog(&channel.id, 0);
}
