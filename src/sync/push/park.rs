//! Parking: a listing update the channel refused for good (an unknown or removed listing, a
//! product the platform will not sell) is parked as a dead letter with the error instead of
//! being retried forever; the pusher skips a parked listing until an operator retries it or
//! discards it (`ops/dead_letters.rs`).

use super::{ChannelPusher, PushError};
use crate::ledger::PushTarget;
use omnistock_connector::ConnectorError;
use tracing::warn;

/// Parks the refused listing when its error is permanent; transient refusals are left to the
/// next push.
pub(super) async fn park_if_permanent(
    pusher: &ChannelPusher,
    batch: &[PushTarget],
    listing_id: &str,
    error: &ConnectorError,
) -> Result<(), PushError> {
    let channel = &pusher.channel;
    channel.control.note_push_error(&error.to_string());
    if error.is_retryable() {
        return Ok(());
    }
    let Some(target) = batch.iter().find(|target| target.listing_id == listing_id) else {
        return Ok(());
    };
    pusher
        .ledger
        .dead_letters()
        .park(
            &channel.id,
            listing_id,
            &target.sku,
            target.quantity,
            &error.to_string(),
        )
        .await?;
    pusher.metrics.dead_letter_parked(&channel.id);
    warn!(channel = %channel.id, listing = %listing_id, sku = %target.sku, quantity = target.quantity, error = %error, "stock update parked as a dead letter");
    Ok(())
}
