//! The outbox relay: moves the ledger's outbox rows onto the bus.
//!
//! loop { fetch a batch of outbox rows; publish it as one message; only after the bus confirmed,
//! delete them }.
//! A crash between publish and delete publishes the batch again, which is harmless (consumers
//! recompute from the ledger); deleting before the confirm could lose a change, so it never
//! happens. Several replicas may run a relay at once for the same reason.
//!
//! Woken with low latency by the ledger's in-process signal and, on PostgreSQL, by
//! `LISTEN omnistock_outbox` (so other replicas' commits wake it too); polls as a fallback.

use super::{Bus, BusError, StockChanged};
use crate::ledger::{Ledger, LedgerError, OutboxEntry, OUTBOX_NOTIFY_CHANNEL};
use backoff::backoff::Backoff;
use omnistock_connector::Secret;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

/// Where the relay reads stock changes from: the ledger's outbox.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` of the oldest outbox rows.
    async fn fetch(&self, limit: usize) -> Result<Vec<OutboxEntry>, BusError>;
    /// Deletes the rows (after the bus confirmed them).
    async fn delete(&self, outbox_ids: &[i64]) -> Result<(), BusError>;
    /// How many rows wait in the outbox.
    async fn backlog(&self) -> Result<u64, BusError>;
    /// Notified in-process after a commit that wrote outbox rows.
    fn signal(&self) -> Arc<Notify>;
}

fn outbox_error(context: &'static str) -> impl FnOnce(LedgerError) -> BusError {
    move |error| BusError::Outbox {
        context,
        source: Box::new(error),
    }
}

#[async_trait::async_trait]
impl Outbox for Ledger {
    async fn fetch(&self, limit: usize) -> Result<Vec<OutboxEntry>, BusError> {
        self.outbox_fetch(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(outbox_error("reading the outbox"))
    }

    async fn delete(&self, outbox_ids: &[i64]) -> Result<(), BusError> {
        self.outbox_delete(outbox_ids)
            .await
            .map_err(outbox_error("deleting relayed outbox rows"))
    }

    async fn backlog(&self) -> Result<u64, BusError> {
        self.outbox_len()
            .await
            .map_err(outbox_error("counting the outbox"))
    }

    fn signal(&self) -> Arc<Notify> {
        self.outbox_signal()
    }
}

/// Settings of the relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Outbox rows published per round trip, as one message.
    pub batch_size: usize,
    /// How often the outbox is read when nothing woke the relay.
    pub poll_interval: Duration,
    /// The ledger's PostgreSQL url, to `LISTEN` for other processes' outbox writes; `None` on
    /// SQLite (one process, the in-process signal is enough).
    pub postgres_listen_url: Option<Secret>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_secs(1),
            postgres_listen_url: None,
        }
    }
}

/// Counters for `/metrics`; shared with the running relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Stock changes published and deleted from the outbox since start.
    pub published_total: AtomicU64,
    /// Outbox rows seen waiting at the start of the last round.
    pub outbox_backlog: AtomicU64,
    /// Rounds that failed (publish or outbox error) since start.
    pub failures_total: AtomicU64,
}

/// The relay task. Build it, keep `stats()`, then `run` it until shutdown.
pub struct OutboxRelay {
    outbox: Arc<dyn Outbox>,
    bus: Bus,
    config: RelayConfig,
    stats: Arc<RelayStats>,
}

impl std::fmt::Debug for OutboxRelay {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OutboxRelay")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Resolves once shutdown was requested (`true` sent) or the sender is gone.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// The longest wait between two tries of a failing relay.
const RETRY_MAX: Duration = Duration::from_secs(1);

fn retry_backoff() -> backoff::ExponentialBackoff {
    backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(Duration::from_millis(100))
        // A failure always leaves changes waiting (the batch it could not publish), so a
        // broker that is back is used again within a second.
        .with_max_interval(RETRY_MAX)
        .with_max_elapsed_time(None)
        .build()
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl OutboxRelay {
    /// A relay from `outbox` to `bus`.
    pub fn new(outbox: Arc<dyn Outbox>, bus: Bus, config: RelayConfig) -> Self {
        Self {
            outbox,
            bus,
            config,
            stats: Arc::new(RelayStats::default()),
        }
    }

    /// The relay's counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        self.stats.clone()
    }

    /// Relays until `shutdown` turns `true` (or its sender is dropped). Errors are logged and
    /// retried with exponential backoff; the rows stay in the outbox meanwhile.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let mut stop = shutdown.clone();
        let in_process = self.outbox.signal();
        let from_database = Arc::new(Notify::new());
        let listener = self.config.postgres_listen_url.clone().map(|url| {
            tokio::spawn(listen_for_outbox_writes(
                url,
                from_database.clone(),
                shutdown.clone(),
            ))
        });
        let mut backoff = retry_backoff();
        info!(batch_size = self.config.batch_size, "outbox relay started");
        loop {
            // Registered before reading, so a commit made while draining still wakes us.
            let woken_in_process = in_process.notified();
            tokio::pin!(woken_in_process);
            woken_in_process.as_mut().enable();
            let woken_from_database = from_database.notified();

            let outcome = tokio::select! {
                () = shutdown_requested(&mut stop) => break,
                outcome = self.drain() => outcome,
            };
            let (wait, wake_early) = match outcome {
                Ok(()) => {
                    backoff.reset();
                    (self.config.poll_interval, true)
                }
                Err(error) => {
                    self.stats.failures_total.fetch_add(1, Ordering::Relaxed);
                    let wait = backoff.next_backoff().unwrap_or(RETRY_MAX);
                    warn!(error = %error, retry_in_ms = millis(wait), "outbox relay failed, retrying");
                    // While failing, wake-ups would defeat the backoff.
                    (wait, false)
                }
            };
            tokio::select! {
                () = shutdown_requested(&mut stop) => break,
                () = &mut woken_in_process, if wake_early => {}
                () = woken_from_database, if wake_early => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        if let Some(listener) = listener {
            if let Err(error) = listener.await {
                warn!(error = %error, "outbox listener task failed");
            }
        }
        info!("outbox relay stopped");
    }

    /// Publishes batches until the outbox is empty (or a batch comes back short).
    async fn drain(&self) -> Result<(), BusError> {
        let batch_size = self.config.batch_size.max(1);
        let mut first_round = true;
        loop {
            let batch = self.outbox.fetch(batch_size).await?;
            if std::mem::take(&mut first_round) {
                // A short first batch is the whole backlog; only a full one needs counting.
                let backlog = if batch.len() < batch_size {
                    u64::try_from(batch.len()).unwrap_or(u64::MAX)
                } else {
                    self.outbox.backlog().await?
                };
                self.stats.outbox_backlog.store(backlog, Ordering::Relaxed);
            }
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                self.stats.outbox_backlog.store(0, Ordering::Relaxed);
                return Ok(());
            };
            let (first_id, last_id) = (first.id, last.id);
            let message = message_of(&batch);
            if let Err(error) = self.bus.publish(std::slice::from_ref(&message)).await {
                warn!(count = batch.len(), first_outbox_id = first_id, last_outbox_id = last_id,
                    error = %error, "publishing stock changes failed, keeping outbox rows");
                return Err(error);
            }
            let ids: Vec<i64> = batch.iter().map(|entry| entry.id).collect();
            self.outbox.delete(&ids).await?;
            let count = u64::try_from(batch.len()).unwrap_or(u64::MAX);
            self.stats
                .published_total
                .fetch_add(count, Ordering::Relaxed);
            debug!(
                count,
                skus = message.skus.len(),
                first_outbox_id = first_id,
                last_outbox_id = last_id,
                "stock changes relayed"
            );
            if batch.len() < batch_size {
                self.stats.outbox_backlog.store(0, Ordering::Relaxed);
                return Ok(());
            }
        }
    }
}

/// One message for a batch of outbox rows: each SKU once, stamped with the oldest change.
fn message_of(batch: &[OutboxEntry]) -> StockChanged {
    let skus: BTreeSet<&str> = batch.iter().map(|entry| entry.sku.as_str()).collect();
    StockChanged {
        skus: skus.into_iter().map(str::to_string).collect(),
        outbox_id: batch.first().map_or(0, |entry| entry.id),
        changed_at_ms: batch
            .iter()
            .map(|entry| entry.created_at.timestamp_millis())
            .min()
            .unwrap_or_default(),
    }
}

/// `LISTEN omnistock_outbox`, turning each notification into a wake-up; reconnects with backoff.
async fn listen_for_outbox_writes(
    url: Secret,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = retry_backoff();
    loop {
        let connected = tokio::select! {
            () = shutdown_requested(&mut shutdown) => return,
            connected = connect_listener(&url) => connected,
        };
        match connected {
            Ok(mut listener) => {
                backoff.reset();
                // Notifications sent while we were not listening are gone: look once.
                wake.notify_one();
                loop {
                    tokio::select! {
                        () = shutdown_requested(&mut shutdown) => return,
                        received = listener.recv() => match received {
                            Ok(_) => wake.notify_one(),
                            Err(error) => {
                                warn!(error = %error, "outbox listener lost its connection");
                                break;
                            }
                        },
                    }
                }
            }
            Err(error) => {
                warn!(error = %error, "outbox listener could not connect");
            }
        }
        let wait = backoff.next_backoff().unwrap_or(Duration::from_secs(30));
        tokio::select! {
            () = shutdown_requested(&mut shutdown) => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn connect_listener(url: &Secret) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url.expose()).await?;
    listener.listen(OUTBOX_NOTIFY_CHANNEL).await?;
    Ok(listener)
}
