//! Dead letters: listing updates a channel refused for good (an unknown or removed listing, a
//! product the platform will not sell). They are parked with the error instead of being
//! retried forever; the pusher skips a parked listing until an operator retries it (the
//! update is sent again, at the quantity of that moment) or discards it.

use crate::ledger::operations::DeadLetterRecord;
use crate::ledger::{Ledger, LedgerError, PushTarget};
use crate::metrics::Metrics;
use crate::sync::push::{ChannelPusher, PushError};
use crate::sync::ChannelRuntime;
use omnistock_connector::ConnectorError;
use tracing::{info, warn};

/// Parks the refused listing when its error is permanent; transient refusals are left to the
/// next push.
pub async fn park_if_permanent(
    pusher: &ChannelPusher,
    batch: &[PushTarget],
    listing_id: &str,
    error: &ConnectorError,
) -> Result<(), PushError> {
    let channel = pusher.channel();
    channel.control.note_push_error(&error.to_string());
    if error.is_retryable() {
        return Ok(());
    }
    let Some(target) = batch.iter().find(|target| target.listing_id == listing_id) else {
        return Ok(());
    };
    pusher
        .ledger()
        .park_dead_letter(
            &channel.id,
            listing_id,
            &target.sku,
            target.quantity,
            &error.to_string(),
        )
        .await?;
    pusher.metrics().dead_letter_parked(&channel.id);
    warn!(channel = %channel.id, listing = %listing_id, sku = %target.sku, quantity = target.quantity, error = %error, "stock update parked as a dead letter");
    Ok(())
}

/// Why a dead letter could not be retried.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("unknown dead letter {0}")]
    Unknown(i64),
    #[error("channel {0:?} is not configured or not enabled")]
    ChannelGone(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Takes the dead letter out and has its listing's update sent again, at the quantity of that
/// moment, by the sync leader's pusher of the channel, whichever replica is asked (through the
/// outbox, like a stock change: after the changes before it; not before the channel is
/// resumed if it is paused). A refusal parks it again. Returns the letter as it was.
pub async fn retry(
    ledger: &Ledger,
    channel: Option<&ChannelRuntime>,
    id: i64,
) -> Result<DeadLetterRecord, DeadLetterError> {
    let letter = ledger
        .dead_letter(id)
        .await?
        .ok_or(DeadLetterError::Unknown(id))?;
    if channel.is_none() {
        return Err(DeadLetterError::ChannelGone(letter.channel_id));
    }
    let letter = ledger
        .retry_dead_letter(id)
        .await?
        .ok_or(DeadLetterError::Unknown(id))?;
    info!(channel = %letter.channel_id, listing = %letter.listing_id, "dead letter retried");
    Ok(letter)
}

/// Drops the dead letter; the listing is pushed again from the next change of its stock.
pub async fn discard(ledger: &Ledger, id: i64) -> Result<DeadLetterRecord, DeadLetterError> {
    let letter = ledger
        .dead_letter(id)
        .await?
        .ok_or(DeadLetterError::Unknown(id))?;
    ledger.delete_dead_letter(id).await?;
    info!(channel = %letter.channel_id, listing = %letter.listing_id, "dead letter discarded");
    Ok(letter)
}

/// Copies the dead-letter count of every channel into the metrics.
pub async fn report_counts(
    ledger: &Ledger,
    metrics: &Metrics,
    channel_ids: &[String],
) -> Result<(), LedgerError> {
    let counts = ledger.dead_letter_counts().await?;
    for channel in channel_ids {
        metrics.dead_letters(channel, counts.get(channel).copied().unwrap_or(0));
    }
    Ok(())
}
