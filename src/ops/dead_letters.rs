//! Dead letters, the operators' side: listing updates a channel refused for good are parked by
//! its pusher (`sync/push/park.rs`); here an operator retries one (the update is sent again, at
//! the quantity of that moment) or discards it, and the metric counts them.

use crate::ledger::DeadLetterRecord;
use crate::ledger::{Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::sync::ChannelRuntime;
use tracing::info;

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
        .dead_letters()
        .get(id)
        .await?
        .ok_or(DeadLetterError::Unknown(id))?;
    if channel.is_none() {
        return Err(DeadLetterError::ChannelGone(letter.channel_id));
    }
    let letter = ledger
        .dead_letters()
        .retry(id)
        .await?
        .ok_or(DeadLetterError::Unknown(id))?;
    info!(channel = %letter.channel_id, listing = %letter.listing_id, "dead letter retried");
    Ok(letter)
}

/// Drops the dead letter; the listing is pushed again from the next change of its stock.
pub async fn discard(ledger: &Ledger, id: i64) -> Result<DeadLetterRecord, DeadLetterError> {
    let letter = ledger
        .dead_letters()
        .get(id)
        .await?
        .ok_or(DeadLetterError::Unknown(id))?;
    ledger.dead_letters().delete(id).await?;
    info!(channel = %letter.channel_id, listing = %letter.listing_id, "dead letter discarded");
    Ok(letter)
}

/// Copies the dead-letter count of every channel into the metrics.
pub async fn report_counts(
    ledger: &Ledger,
    metrics: &Metrics,
    channel_ids: &[String],
) -> Result<(), LedgerError> {
    let counts = ledger.dead_letters().counts().await?;
    for channel in channel_ids {
        metrics.dead_letters(channel, counts.get(channel).copied().unwrap_or(0));
    }
    Ok(())
}
