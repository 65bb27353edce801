//! Sync leadership: which one replica does the outbound sync work (the pushers with their
//! start-up sweeps, the pollers, the resync jobs and the scheduled reconciliations).
//!
//! On PostgreSQL the leader is the replica whose dedicated connection holds a session-level
//! advisory lock. The lock lives exactly as long as that connection: a replica killed with
//! SIGKILL loses its connection, PostgreSQL releases the lock, and another replica, which tries
//! again every [`RETRY_INTERVAL`], takes over. The leader pings its connection every
//! [`PING_INTERVAL`] and gives leadership up at once when the ping fails, because it can no
//! longer tell whether it still holds the lock. On SQLite one process owns the database, so it
//! is always the leader.
//!
//! Leadership is published as a `watch` of `bool`, logged and exported as the
//! `omnistock_sync_leader` gauge on every change.

use crate::ledger::{Backend, Ledger};
use crate::metrics::Metrics;
use sqlx::{AnyConnection, ConnectOptions, Connection};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// The advisory lock key of the sync leader (the bytes of "omnisync"). Advisory locks are
/// scoped to one database, so several deployments on one server do not see each other.
pub const LEADER_LOCK_KEY: i64 = 0x6f6d_6e69_7379_6e63;

/// How often a replica that is not the leader tries to take the lock.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// How often the leader checks that its connection (and so its lock) is alive.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);

/// A ping slower than this counts as failed: a leader that cannot reach its database must not
/// keep pushing while another replica may have taken over.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// This replica's part in the leader election. Dropping it without [`LeaderElection::stop`]
/// abandons the lock with the process.
pub struct LeaderElection {
    leader: watch::Receiver<bool>,
    /// Kept so that the watch stays open where no task owns the sender (SQLite).
    _sender: Option<watch::Sender<bool>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl LeaderElection {
    /// Starts competing for leadership (PostgreSQL) or takes it at once (SQLite). The first
    /// attempt is made before this returns, so that a lone replica leads as soon as it is built.
    pub async fn start(ledger: &Ledger, metrics: &Metrics) -> Self {
        let (stop, stopped) = watch::channel(false);
        match ledger.backend() {
            Backend::Sqlite => {
                let (sender, leader) = watch::channel(true);
                metrics.sync_leader(true);
                info!(
                    backend = "sqlite",
                    "this process is the sync leader (embedded)"
                );
                Self {
                    leader,
                    _sender: Some(sender),
                    stop,
                    task: None,
                }
            }
            Backend::Postgres => {
                let (sender, leader) = watch::channel(false);
                metrics.sync_leader(false);
                let announcer = Announcer {
                    sender,
                    metrics: metrics.clone(),
                };
                let mut connection = None;
                let leading = attempt(ledger, &mut connection).await;
                if leading {
                    announcer.gained();
                }
                let task = tokio::spawn(campaign(
                    ledger.clone(),
                    announcer,
                    stopped,
                    connection,
                    leading,
                ));
                Self {
                    leader,
                    _sender: None,
                    stop,
                    task: Some(task),
                }
            }
        }
    }

    /// A receiver that holds `true` while this replica is the sync leader.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.leader.clone()
    }

    /// Gives leadership up (unlocking and closing the connection) and stops competing. Call it
    /// only after the leader's work stopped, so that the next leader never overlaps it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Publishes leadership changes: the watch, a log line and the gauge.
struct Announcer {
    sender: watch::Sender<bool>,
    metrics: Metrics,
}

impl Announcer {
    fn publish(&self, leader: bool) {
        self.sender.send_replace(leader);
        self.metrics.sync_leader(leader);
    }

    fn gained(&self) {
        self.publish(true);
        info!("this replica is now the sync leader");
    }

    fn lost(&self) {
        self.publish(false);
        warn!("this replica is no longer the sync leader: its lock connection failed");
    }

    fn released(&self) {
        self.publish(false);
        info!("sync leadership released");
    }
}

/// How a term as leader ended.
enum TermEnd {
    /// The connection failed: the lock may be gone.
    Lost,
    /// Asked to stop; the lock was released.
    Stopped,
}

/// Leads while `leading` (holding the lock on `connection`), then tries to take the lock again
/// every [`RETRY_INTERVAL`], until stopped.
async fn campaign(
    ledger: Ledger,
    announcer: Announcer,
    mut stopped: watch::Receiver<bool>,
    mut connection: Option<AnyConnection>,
    mut leading: bool,
) {
    loop {
        if leading {
            if let Some(mut held) = connection.take() {
                match lead(&mut held, &mut stopped).await {
                    TermEnd::Stopped => {
                        announcer.released();
                        let _ = held.close().await;
                        return;
                    }
                    TermEnd::Lost => {
                        announcer.lost();
                        // Dropped, not reused: whatever state it is in, its lock goes with it.
                        drop(held);
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY_INTERVAL) => {}
            _ = crate::sync::stop_requested(&mut stopped) => {
                if let Some(connection) = connection.take() {
                    let _ = connection.close().await;
                }
                return;
            }
        }
        leading = attempt(&ledger, &mut connection).await;
        if leading {
            announcer.gained();
        }
    }
}

/// One try to take the lock, on `connection` (opened first if there is none; dropped when it
/// fails). `true` when this replica now holds the lock.
async fn attempt(ledger: &Ledger, connection: &mut Option<AnyConnection>) -> bool {
    if connection.is_none() {
        // A connection of its own next to the pool: the lock must not go back to the pool with
        // a connection another task would then use.
        match ledger.pool().connect_options().connect().await {
            Ok(opened) => *connection = Some(opened),
            Err(error) => {
                warn!(database = %ledger.database(), error = %error, "leader election cannot connect");
                return false;
            }
        }
    }
    let Some(held) = connection.as_mut() else {
        return false;
    };
    match try_lock(held).await {
        Ok(taken) => taken,
        Err(error) => {
            warn!(database = %ledger.database(), error = %error, "taking the leader lock failed");
            *connection = None;
            false
        }
    }
}

/// Holds leadership until the connection fails or a stop is asked for.
async fn lead(connection: &mut AnyConnection, stopped: &mut watch::Receiver<bool>) -> TermEnd {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PING_INTERVAL) => {
                match tokio::time::timeout(PING_TIMEOUT, connection.ping()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        warn!(error = %error, "leader lock connection failed");
                        return TermEnd::Lost;
                    }
                    Err(_) => {
                        warn!(timeout_ms = PING_TIMEOUT.as_millis() as u64, "leader lock connection did not answer");
                        return TermEnd::Lost;
                    }
                }
            }
            _ = crate::sync::stop_requested(stopped) => {
                if let Err(error) = unlock(connection).await {
                    // Closing the connection releases it anyway.
                    warn!(error = %error, "releasing the leader lock failed");
                }
                return TermEnd::Stopped;
            }
        }
    }
}

/// `pg_try_advisory_lock`, its boolean read as an integer (the `Any` driver's common ground).
async fn try_lock(connection: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let (taken,): (i64,) = sqlx::query_as(
        "SELECT CAST(CASE WHEN pg_try_advisory_lock($1) THEN 1 ELSE 0 END AS BIGINT)",
    )
    .bind(LEADER_LOCK_KEY)
    .fetch_one(&mut *connection)
    .await?;
    Ok(taken == 1)
}

async fn unlock(connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
    let _: (i64,) =
        sqlx::query_as("SELECT CAST(CASE WHEN pg_advisory_unlock($1) THEN 1 ELSE 0 END AS BIGINT)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut *connection)
            .await?;
    Ok(())
}
