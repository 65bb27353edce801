//! Polling: the safety net under webhooks. Each polled channel is read from its stored cursor
//! on its interval; the cursor advances only after the page's orders are booked.

use crate::ledger::{Ledger, LedgerError};
use crate::sync::channel::ChannelRuntime;
use crate::sync::gateway::{CallError, Interrupt};
use crate::sync::intake::{Intake, IntakeError};
use omnistock_connector::ConnectorError;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, warn};

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("pulling orders failed: {0}")]
    Connector(#[from] ConnectorError),
    #[error("booking polled orders failed: {0}")]
    Booking(#[from] IntakeError),
    #[error("reading or storing the poll cursor failed: {0}")]
    Ledger(#[from] LedgerError),
    #[error("the poll was interrupted by a stop")]
    Interrupted,
}

impl From<CallError> for PollError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Connector(error) => Self::Connector(error),
            CallError::Interrupted => Self::Interrupted,
            // A poll only reads; shadow mode refuses writes alone.
            CallError::Shadow => Self::Connector(ConnectorError::Permanent(error.to_string())),
        }
    }
}

/// The most pages read in one poll, so that a channel with a huge backlog still yields to
/// shutdown and to the interval's rhythm; the next poll resumes from the stored cursor.
const MAX_PAGES_PER_POLL: usize = 100;

/// Reads every page of orders changed since the stored cursor and books them. Returns the
/// number of orders read. Pages are pulled through the channel's gateway: within its rate
/// limit, shared with the pushes, and a throttled page waits and is pulled again in the same
/// poll.
pub async fn poll_once(
    channel: &ChannelRuntime,
    intake: &Intake,
    ledger: &Ledger,
    interrupt: &Interrupt,
) -> Result<usize, PollError> {
    let mut cursor = start_position(channel, ledger).await?;
    let mut orders_read = 0;
    for _ in 0..MAX_PAGES_PER_POLL {
        let page = channel
            .client
            .pull_orders(cursor.as_deref(), interrupt)
            .await?;
        orders_read += page.orders.len();
        // An order refused for good is quarantined, so the cursor moves on past it; a ledger
        // outage fails the poll before the cursor moves.
        intake
            .book_or_quarantine(channel, &page.orders, None)
            .await?;
        if let Some(next_cursor) = page.next_cursor {
            if cursor.as_deref() != Some(next_cursor.as_str()) {
                ledger.store_cursor(&channel.id, &next_cursor).await?;
                cursor = Some(next_cursor);
            }
        }
        if !page.has_more {
            break;
        }
    }
    ledger.channel_status().record_poll(&channel.id).await?;
    Ok(orders_read)
}

/// Where a poll starts: the stored cursor, or for a first poll the connector's cursor from
/// the channel's cut-over, so that polling never reaches further back than go-live unless the
/// channel's own settings ask for it.
async fn start_position(
    channel: &ChannelRuntime,
    ledger: &Ledger,
) -> Result<Option<String>, LedgerError> {
    if let Some(cursor) = ledger.load_cursor(&channel.id).await? {
        return Ok(Some(cursor));
    }
    let cut_over = ledger.channel_cut_over(&channel.id).await?;
    Ok(cut_over.and_then(|cut_over| channel.connector.start_cursor(cut_over)))
}

/// Polls `channel` every `interval` until `shutdown` turns true. A failed poll is logged and
/// tried again at the next tick (sooner never: the platform's limits apply to polling too),
/// or after the platform's Retry-After when it is longer.
pub async fn run_poller(
    channel: ChannelRuntime,
    interval: Duration,
    intake: Intake,
    ledger: Ledger,
    mut shutdown: watch::Receiver<bool>,
) {
    let interrupt = Interrupt::on_stop(shutdown.clone());
    loop {
        let mut wait = interval;
        match poll_once(&channel, &intake, &ledger, &interrupt).await {
            Ok(orders) => debug!(channel = %channel.id, orders, "orders polled"),
            Err(error) => {
                if let PollError::Connector(connector_error) = &error {
                    let asked = connector_error.retry_after().unwrap_or_default();
                    wait = wait.max(crate::sync::retry::bounded_wait(asked));
                }
                warn!(channel = %channel.id, error = %error, "order poll failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = crate::sync::stop_requested(&mut shutdown) => break,
        }
    }
}
