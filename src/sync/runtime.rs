//! Starts and stops the background work of the sync spine: the outbox relay on every replica,
//! and the sync leader's work (pushers, pollers, resync jobs; see `duties.rs`) on the replica
//! that holds leadership (see `leader.rs`).

use crate::bus::{BusError, OutboxRelay, RelayConfig, RelayStats};
use crate::ledger::LedgerError;
use crate::metrics::Metrics;
use crate::sync::duties::{drain, LeaderDuties, STOP_GRACE};
use crate::sync::leader::LeaderElection;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::warn;

#[derive(Debug, thiserror::Error)]
pub enum SyncStartError {
    #[error("registering channel {channel}: {source}")]
    Ledger {
        channel: String,
        // Boxed: a ledger error is large, and this one is rare.
        source: Box<LedgerError>,
    },
    #[error("preparing the stock queue of channel {channel}: {source}")]
    Bus { channel: String, source: BusError },
}

/// The running background tasks.
pub struct SyncRuntime {
    /// The sync leader's work, following leadership.
    duties: JoinSet<()>,
    /// The relay and its backlog reporter.
    relay: JoinSet<()>,
    shutdown: watch::Sender<bool>,
    election: LeaderElection,
}

impl SyncRuntime {
    /// Registers every channel of `duties` in the ledger and on the bus, then starts the relay
    /// and the leader's work, which runs whenever `election` makes this replica the sync
    /// leader. On error the election is stopped.
    pub async fn start(
        duties: LeaderDuties,
        relay_config: RelayConfig,
        election: LeaderElection,
    ) -> Result<Self, SyncStartError> {
        if let Err(error) = register(&duties).await {
            election.stop().await;
            return Err(error);
        }
        let LeaderDuties {
            ledger,
            bus,
            metrics,
            ..
        } = &duties;
        let (shutdown, stopped) = watch::channel(false);
        let mut relay_tasks = JoinSet::new();
        let relay = OutboxRelay::new(Arc::new(ledger.clone()), bus.clone(), relay_config);
        relay_tasks.spawn(report_outbox_backlog(
            relay.stats(),
            metrics.clone(),
            stopped.clone(),
        ));
        relay_tasks.spawn(relay.run(stopped.clone()));

        let leader = election.watch();
        let running = duties.start_if_leading(&leader).await;
        let mut duty_tasks = JoinSet::new();
        duty_tasks.spawn(duties.follow(leader, running, stopped));
        Ok(Self {
            duties: duty_tasks,
            relay: relay_tasks,
            shutdown,
            election,
        })
    }

    /// A receiver that holds `true` while this replica is the sync leader.
    pub fn leader(&self) -> watch::Receiver<bool> {
        self.election.watch()
    }

    /// Stops the leader's work (bounded by its own grace), then gives leadership up, so that
    /// the next leader never overlaps this one, then stops the relay (at most [`STOP_GRACE`]).
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while let Some(result) = self.duties.join_next().await {
            if let Err(error) = result {
                warn!(error = %error, "the sync leader's work ended abnormally");
            }
        }
        self.election.stop().await;
        drain(&mut self.relay, STOP_GRACE, "outbox relay").await;
    }
}

/// Stores every channel (and its location) in the ledger and makes sure its queue exists.
async fn register(duties: &LeaderDuties) -> Result<(), SyncStartError> {
    for channel in &duties.channels {
        let ledger_error = |source| SyncStartError::Ledger {
            channel: channel.id.clone(),
            source: Box::new(source),
        };
        duties
            .ledger
            .upsert_location(&channel.location, &channel.location)
            .await
            .map_err(ledger_error)?;
        duties
            .ledger
            .upsert_channel(&channel.id, &channel.kind)
            .await
            .map_err(ledger_error)?;
        // The queue must exist before the relay publishes, or early messages miss it.
        duties
            .bus
            .ensure_channel_queue(&channel.id)
            .await
            .map_err(|source| SyncStartError::Bus {
                channel: channel.id.clone(),
                source,
            })?;
    }
    Ok(())
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
