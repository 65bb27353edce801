//! Pausing a channel's pushes: while paused, the pusher takes stock-change messages and lets
//! them go (orders are still booked and the ledger keeps every change), pushing nothing; on
//! resume it sweeps the channel once, which pushes exactly the listings whose quantity moved
//! since the channel last confirmed it — everything that accumulated, coalesced to one
//! quantity per listing.
//!
//! Acknowledging while paused is safe because the resume sweep does not depend on messages:
//! it compares every listing's computed quantity with what the channel last confirmed. A
//! channel paused across a restart is swept when it is resumed, not at start.

use crate::bus::Delivery;
use crate::sync::push::{ChannelPusher, FlushReport, PushError};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// How long a failed resume sweep waits before it is tried again.
const RESUME_RETRY_PAUSE: Duration = Duration::from_secs(2);

/// The pusher's start-up sweep, unless the channel is paused.
pub async fn start_up_sweep(pusher: &ChannelPusher) -> Result<FlushReport, PushError> {
    if pusher.channel().control.is_paused() {
        info!(channel = %pusher.channel().id, "channel paused: its sweep waits for resume");
        return Ok(FlushReport::default());
    }
    pusher.sweep().await
}

/// Lets the coalesced messages of a paused channel go without pushing; their SKUs count as
/// the channel's backlog until it is resumed.
pub async fn hold(
    pusher: &ChannelPusher,
    pending_skus: &mut BTreeSet<String>,
    deliveries: &mut Vec<Delivery>,
) {
    let channel = pusher.channel();
    channel.control.add_backlog(std::mem::take(pending_skus));
    if let Err(error) = Delivery::ack_many(std::mem::take(deliveries)).await {
        warn!(channel = %channel.id, error = %error, "acknowledging held stock messages failed");
    }
    pusher
        .metrics()
        .push_backlog(&channel.id, channel.control.snapshot().backlog.len());
}

/// Reacts to a pause or a resume: on resume, sweeps until it succeeds (or the channel is
/// paused again, or the daemon stops).
pub async fn pause_changed(pusher: &ChannelPusher, shutdown: &mut watch::Receiver<bool>) {
    let channel = pusher.channel();
    if channel.control.is_paused() {
        info!(channel = %channel.id, "channel paused: stock pushes stop, changes accumulate");
        return;
    }
    info!(channel = %channel.id, "channel resumed: pushing what accumulated");
    loop {
        match pusher.sweep().await {
            Ok(report) => {
                info!(channel = %channel.id, pushed = report.confirmed, calls = report.calls, "resume sweep done");
                channel.control.clear_backlog();
                pusher.metrics().push_backlog(&channel.id, 0);
                return;
            }
            Err(error) => {
                channel.control.note_push_error(&error.to_string());
                warn!(channel = %channel.id, error = %error, "resume sweep failed; trying again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RESUME_RETRY_PAUSE) => {}
            _ = crate::sync::stop_requested(shutdown) => return,
        }
        if channel.control.is_paused() {
            return;
        }
    }
}
