//! Starts and stops the background work of the sync spine: the outbox relay, one stock pusher
//! per channel and one poller per polled channel.

use crate::bus::{Bus, BusError, OutboxRelay, RelayConfig, RelayStats};
use crate::ledger::{Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::sync::channel::ChannelRuntime;
use crate::sync::intake::Intake;
use crate::sync::poll::run_poller;
use crate::sync::push::ChannelPusher;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// How long stopping waits for the tasks to finish what they are doing before abandoning them.
/// Abandoned work is safe: unacknowledged messages are delivered again.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum SyncStartError {
    #[error("registering channel {channel}: {source}")]
    Ledger {
        channel: String,
        source: LedgerError,
    },
    #[error("preparing the stock queue of channel {channel}: {source}")]
    Bus { channel: String, source: BusError },
}

/// The running background tasks.
pub struct SyncRuntime {
    tasks: JoinSet<()>,
    shutdown: watch::Sender<bool>,
}

impl SyncRuntime {
    /// Registers every channel in the ledger and on the bus, then starts the relay, the
    /// pushers and the pollers.
    pub async fn start(
        ledger: &Ledger,
        bus: &Bus,
        channels: &[ChannelRuntime],
        intake: &Intake,
        metrics: &Metrics,
        relay_config: RelayConfig,
    ) -> Result<Self, SyncStartError> {
        for channel in channels {
            let ledger_error = |source| SyncStartError::Ledger {
                channel: channel.id.clone(),
                source,
            };
            ledger
                .upsert_location(&channel.location, &channel.location)
                .await
                .map_err(ledger_error)?;
            ledger
                .upsert_channel(&channel.id, &channel.kind)
                .await
                .map_err(ledger_error)?;
            // The queue must exist before the relay publishes, or early messages miss it.
            bus.ensure_channel_queue(&channel.id)
                .await
                .map_err(|source| SyncStartError::Bus {
                    channel: channel.id.clone(),
                    source,
                })?;
        }
        let (shutdown, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();

        let relay = OutboxRelay::new(Arc::new(ledger.clone()), bus.clone(), relay_config);
        tasks.spawn(report_outbox_backlog(
            relay.stats(),
            metrics.clone(),
            stopped.clone(),
        ));
        tasks.spawn(relay.run(stopped.clone()));

        for channel in channels {
            let consumer =
                bus.consume(&channel.id)
                    .await
                    .map_err(|source| SyncStartError::Bus {
                        channel: channel.id.clone(),
                        source,
                    })?;
            let pusher = ChannelPusher::new(channel.clone(), ledger.clone(), metrics.clone());
            tasks.spawn(pusher.run(consumer, stopped.clone()));
            if let Some(interval) = channel.poll_interval {
                tasks.spawn(run_poller(
                    channel.clone(),
                    interval,
                    intake.clone(),
                    ledger.clone(),
                    stopped.clone(),
                ));
            }
            info!(
                channel = %channel.id,
                kind = %channel.kind,
                location = %channel.location,
                rate_limit = ?channel.rate_limit.map(|limit| limit.to_string()),
                poll_interval_secs = ?channel.poll_interval.map(|interval| interval.as_secs()),
                "channel sync started"
            );
        }
        Ok(Self { tasks, shutdown })
    }

    /// Asks every task to stop and waits for them, at most [`STOP_GRACE`].
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let drained = tokio::time::timeout(STOP_GRACE, async {
            while let Some(result) = self.tasks.join_next().await {
                if let Err(error) = result {
                    warn!(error = %error, "a sync task ended abnormally");
                }
            }
        })
        .await;
        if drained.is_err() {
            warn!("sync tasks did not stop in time; abandoning them (their work is redelivered)");
            self.tasks.abort_all();
        }
    }
}

/// Copies the relay's view of the outbox backlog into the metrics once a second.
async fn report_outbox_backlog(
    stats: Arc<RelayStats>,
    metrics: Metrics,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let backlog = stats.outbox_backlog.load(Ordering::Relaxed);
        metrics.outbox_backlog(usize::try_from(backlog).unwrap_or(usize::MAX));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = crate::sync::stop_requested(&mut stopped) => break,
        }
    }
}
