//! Quarantine on the intake path. An order event the ledger refuses for good
//! ([`LedgerError::is_refusal`]: a value the database cannot store, an id too long to index,
//! colliding line ids) is stored with its error (`ledger.quarantine().add`) instead of
//! failing the poll or webhook that brought it, so one bad order cannot hold up its channel:
//! the poll's cursor moves on. A failure of the database itself still fails the call, so the
//! poll is tried again and the webhook redelivered, and nothing is quarantined for it.
//! An operator books a quarantined order again on demand, or discards it. An order a webhook
//! named whose state could never be fetched (see `receipts.rs`) is quarantined as such; its
//! retry fetches it first.

use crate::ledger::quarantine::order_label;
use crate::ledger::{BookingOutcome, LedgerError, QuarantinedContent, QuarantinedOrder};
use crate::sync::channel::ChannelRuntime;
use crate::sync::gateway::Interrupt;
use crate::sync::intake::{Intake, IntakeError};
use crate::sync::receipts;
use omnistock_connector::{OrderEvent, OrderRef};
use std::time::Duration;
use tracing::{info, warn};

/// What became of one event.
#[derive(Debug)]
pub enum EventBooking {
    Booked(BookingOutcome),
    /// Refused for good and quarantined under `id`.
    Quarantined {
        id: i64,
        error: String,
    },
}

/// What a retry of a quarantined order did.
#[derive(Debug)]
pub enum RetryOutcome {
    /// Booked at last; the order left the quarantine.
    Booked(BookingOutcome),
    /// Refused again; it stays quarantined with the new error.
    Refused(QuarantinedOrder),
}

#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("unknown quarantined order {0}")]
    Unknown(i64),
    #[error("channel {0:?} is not enabled")]
    ChannelGone(String),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Intake {
    /// Books every event in order, quarantining those the ledger refuses for good; waits at most
    /// `within` for the booking when given (see [`Intake::book_each`]). An error means a
    /// failure of the ledger itself (or the bound passed): then nothing is quarantined, and
    /// booking all the events again is harmless.
    pub async fn book_or_quarantine(
        &self,
        channel: &ChannelRuntime,
        events: &[OrderEvent],
        within: Option<Duration>,
    ) -> Result<Vec<EventBooking>, IntakeError> {
        let mut results = self.book_each(channel, events, within).await?;
        if let Some(outage) = results
            .iter()
            .position(|result| result.as_ref().is_err_and(|error| !error.is_refusal()))
        {
            let error = results.swap_remove(outage).err().unwrap_or_else(|| {
                LedgerError::Corrupt("a failed booking lost its error".to_string())
            });
            return Err(IntakeError::Ledger(error));
        }
        let mut bookings = Vec::with_capacity(events.len());
        for (event, result) in events.iter().zip(results) {
            bookings.push(match result {
                Ok(outcome) => EventBooking::Booked(outcome),
                Err(refusal) => {
                    let error = refusal.to_string();
                    let id = self
                        .ledger
                        .quarantine()
                        .add(&channel.id, event, &error)
                        .await?;
                    warn!(channel = %channel.id, order = %order_label(&event.external_order_id),
                        quarantine_id = id, error = %error,
                        "order refused for good; quarantined, the channel's intake goes on");
                    EventBooking::Quarantined { id, error }
                }
            });
        }
        Ok(bookings)
    }
}

/// Books quarantined order `id` again, on `channel` (its channel's runtime; `None` when that
/// channel is not enabled any more).
pub async fn retry(
    intake: &Intake,
    channel: Option<&ChannelRuntime>,
    id: i64,
) -> Result<RetryOutcome, QuarantineError> {
    let record = intake
        .ledger
        .quarantine()
        .get(id)
        .await?
        .ok_or(QuarantineError::Unknown(id))?;
    let channel = channel
        .filter(|channel| channel.id == record.channel_id)
        .ok_or_else(|| QuarantineError::ChannelGone(record.channel_id.clone()))?;
    let event = match record.content()? {
        QuarantinedContent::Event(event) => event,
        QuarantinedContent::Unfetched(named) => match fetch_unfetched(channel, &named).await {
            Ok(event) => event,
            Err(error) => {
                let record = intake
                    .ledger
                    .quarantine()
                    .note_refused(id, &error)
                    .await?
                    .ok_or(QuarantineError::Unknown(id))?;
                warn!(channel = %channel.id, order = %record.order_label, quarantine_id = id,
                    error = %error, "quarantined order could not be fetched again");
                return Ok(RetryOutcome::Refused(record));
            }
        },
    };
    let result = intake
        .book_each(channel, std::slice::from_ref(&event), None)
        .await?
        .pop()
        .unwrap_or_else(|| Err(LedgerError::Corrupt("a retry gave no result".to_string())));
    match result {
        Ok(outcome) => {
            intake.ledger.quarantine().release(id).await?;
            info!(channel = %channel.id, order = %record.order_label, quarantine_id = id,
                "quarantined order booked");
            Ok(RetryOutcome::Booked(outcome))
        }
        Err(refusal) if refusal.is_refusal() => {
            let error = refusal.to_string();
            let record = intake
                .ledger
                .quarantine()
                .note_refused(id, &error)
                .await?
                .ok_or(QuarantineError::Unknown(id))?;
            warn!(channel = %channel.id, order = %record.order_label, quarantine_id = id,
                error = %error, "quarantined order refused again");
            Ok(RetryOutcome::Refused(record))
        }
        Err(outage) => Err(QuarantineError::Ledger(outage)),
    }
}

/// How long a retry's fetch of an unfetched order may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The current snapshot of an order a webhook named that could not be fetched then.
async fn fetch_unfetched(channel: &ChannelRuntime, named: &OrderRef) -> Result<OrderEvent, String> {
    let fetched = receipts::fetch_named(
        channel,
        std::slice::from_ref(named),
        FETCH_TIMEOUT,
        &Interrupt::never(),
    )
    .await
    .map_err(|error| error.to_string())?;
    fetched
        .into_iter()
        .find(|event| event.external_order_id == named.order_id)
        .ok_or_else(|| "the platform did not return this order".to_string())
}

/// Drops quarantined order `id` for good; returns it.
pub async fn discard(intake: &Intake, id: i64) -> Result<QuarantinedOrder, QuarantineError> {
    let record = intake
        .ledger
        .quarantine()
        .release(id)
        .await?
        .ok_or(QuarantineError::Unknown(id))?;
    info!(channel = %record.channel_id, order = %record.order_label, quarantine_id = id,
        "quarantined order discarded");
    Ok(record)
}
