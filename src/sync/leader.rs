//! Sync leadership: which one replica does the outbound sync work (the pushers with their
//! start-up sweeps, the pollers, the resync jobs and the scheduled reconciliations).
//!
//! On PostgreSQL the leader holds a lease: the row `leader_lease` names it, with an epoch raised
//! at every change of holder and an expiry [`LEASE_DURATION`] after its last renewal, in the
//! database's clock. The leader renews it every [`RENEW_INTERVAL`]; a replica that is not the
//! leader tries every [`RETRY_INTERVAL`] to take it, which succeeds only once it has expired.
//! A leader that could not renew gives leadership up [`GIVE_UP_MARGIN`] before the lease can
//! have expired (counted from when it sent its last successful renewal, which the database
//! executed later still), so its work has stopped before anyone can take over; this holds
//! whatever way it was cut off, since nothing here waits on TCP noticing a dead peer. On a
//! graceful stop the leader ends its lease at once. On SQLite one process owns the database (see
//! `ledger/db/file_lock.rs`), so it is always the leader.
//!
//! Leadership is published as a `watch` of `bool`, logged and exported as the
//! `omnistock_sync_leader` gauge on every change.

use crate::ledger::{Backend, Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::sync::duties::LOST_LEADERSHIP_GRACE;
use sqlx::{AnyConnection, ConnectOptions, Connection};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

/// The name of the sync leader's row in `leader_lease`.
const LEASE_NAME: &str = "sync";

/// How long a lease lasts after its last renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(10);

/// How often the leader renews its lease.
pub const RENEW_INTERVAL: Duration = Duration::from_secs(1);

/// How often a replica that is not the leader tries to take the lease.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// A leader that could not renew gives leadership up this long before its lease can have
/// expired: enough for its work to stop ([`LOST_LEADERSHIP_GRACE`], then abandoned) with time
/// to spare.
pub const GIVE_UP_MARGIN: Duration = Duration::from_secs(3);

const _: () = assert!(
    GIVE_UP_MARGIN.as_millis() >= LOST_LEADERSHIP_GRACE.as_millis() + 2000,
    "the leader's work must have stopped well before its lease can expire"
);

/// How long after a leader stopped answering (died, or was cut off from the database) another
/// replica leads, at most: its lease's expiry is at most [`LEASE_DURATION`] after that, pushed
/// out at most once by a renewal delivered late, which the database accepts only before the
/// leader's give-up point; then another replica's next try (every [`RETRY_INTERVAL`], each
/// bounded by [`STATEMENT_TIMEOUT`]) takes it. See ARCHITECTURE.md.
pub const TAKEOVER_BOUND: Duration = Duration::from_secs(20);

const _: () = assert!(
    (LEASE_DURATION.as_millis() - GIVE_UP_MARGIN.as_millis())
        + LEASE_DURATION.as_millis()
        + RETRY_INTERVAL.as_millis()
        + STATEMENT_TIMEOUT.as_millis()
        <= TAKEOVER_BOUND.as_millis()
);

/// How long connecting or one statement may take. A connection that does not answer in time
/// is dropped and opened again, so one stalled connection does not cost the lease.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);

/// This replica's part in the leader election. Dropping it without [`LeaderElection::stop`]
/// abandons the lease, which then expires.
pub struct LeaderElection {
    leader: watch::Receiver<bool>,
    /// This replica's name in the election.
    replica: Arc<str>,
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
        let replica: Arc<str> = replica_name().into();
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
                    replica,
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
                let mut lease = Lease::new(ledger.clone(), replica.to_string());
                let term = lease.try_take().await;
                if let Some(term) = &term {
                    announcer.gained(term.epoch);
                }
                let task = tokio::spawn(campaign(lease, announcer, stopped, term));
                Self {
                    leader,
                    replica,
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

    /// Whether this replica leads, and its name, for operators.
    pub fn leadership(&self) -> Leadership {
        Leadership {
            watch: self.leader.clone(),
            replica: self.replica.clone(),
        }
    }

    /// Gives leadership up (ending the lease) and stops competing. Call it only after the
    /// leader's work stopped, so that the next leader never overlaps it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Whether this replica is the sync leader, and its name in the election.
#[derive(Clone)]
pub struct Leadership {
    /// Holds `true` while this replica is the sync leader.
    pub watch: watch::Receiver<bool>,
    /// This replica's name: its host, process id and an id of this start.
    pub replica: Arc<str>,
}

impl Leadership {
    /// Whether this replica is the sync leader now.
    pub fn is_leader(&self) -> bool {
        *self.watch.borrow()
    }

    /// The replica that leads now: this one, or (PostgreSQL) the holder of the unexpired
    /// lease; `None` while no replica holds it (a takeover under way).
    pub async fn current_leader(&self, ledger: &Ledger) -> Result<Option<SyncLeader>, LedgerError> {
        if self.is_leader() {
            return Ok(Some(SyncLeader {
                replica: self.replica.to_string(),
                this_replica: true,
            }));
        }
        if ledger.backend() == Backend::Sqlite {
            return Ok(None);
        }
        let holder = sqlx::query_as::<_, (String,)>(
            "SELECT holder FROM leader_lease WHERE name = $1 AND expires_at > clock_timestamp()",
        )
        .bind(LEASE_NAME)
        .fetch_optional(ledger.pool())
        .await
        .map_err(|source| LedgerError::Database {
            context: "reading the sync leader's lease failed",
            source,
        })?;
        Ok(holder.map(|(replica,)| SyncLeader {
            this_replica: *replica == *self.replica,
            replica,
        }))
    }
}

/// The replica that leads, as [`Leadership::current_leader`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLeader {
    /// Its name in the election.
    pub replica: String,
    /// It is the replica that answered.
    pub this_replica: bool,
}

/// This replica's name in the election: the host (what operators recognise), the process and
/// a random id, so that a restarted process is told apart from its predecessor.
fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string());
    let start_id = uuid::Uuid::new_v4().simple().to_string();
    format!("{host} pid {} ({})", std::process::id(), &start_id[..16])
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

    fn gained(&self, epoch: i64) {
        self.publish(true);
        info!(epoch, "this replica is now the sync leader");
    }

    fn lost(&self, epoch: i64) {
        self.publish(false);
        warn!(epoch, "this replica is no longer the sync leader");
    }

    fn released(&self, epoch: i64) {
        self.publish(false);
        info!(epoch, "sync leadership released");
    }
}

/// A term as leader: the lease's epoch, its renewal count and when the last successful take or
/// renewal was sent.
#[derive(Debug, Clone, Copy)]
struct Term {
    epoch: i64,
    renewal: i64,
    renewed_at: Instant,
}

impl Term {
    /// When the leader must have given leadership up, if it renews no more.
    fn give_up_at(&self) -> Instant {
        self.renewed_at + LEASE_DURATION - GIVE_UP_MARGIN
    }
}

/// How a term as leader ended.
enum TermEnd {
    /// The lease could not be renewed in time, or another replica holds it.
    Lost,
    /// Asked to stop.
    Stopped,
}

/// Leads while it holds `term`, then tries to take the lease every [`RETRY_INTERVAL`], until
/// stopped.
async fn campaign(
    mut lease: Lease,
    announcer: Announcer,
    mut stopped: watch::Receiver<bool>,
    mut term: Option<Term>,
) {
    loop {
        if let Some(held) = term.take() {
            match lead(&mut lease, held, &mut stopped).await {
                TermEnd::Stopped => {
                    // Published first: the work has stopped already (see `SyncRuntime::stop`).
                    announcer.released(held.epoch);
                    lease.release(held.epoch).await;
                    lease.close().await;
                    return;
                }
                TermEnd::Lost => announcer.lost(held.epoch),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY_INTERVAL) => {}
            _ = crate::sync::stop_requested(&mut stopped) => {
                lease.close().await;
                return;
            }
        }
        term = lease.try_take().await;
        if let Some(held) = &term {
            announcer.gained(held.epoch);
        }
    }
}

/// Renews the lease of `term` every [`RENEW_INTERVAL`] until a stop is asked for, another
/// replica holds it, or it was not renewed in time.
async fn lead(lease: &mut Lease, mut term: Term, stopped: &mut watch::Receiver<bool>) -> TermEnd {
    loop {
        let next = (Instant::now() + RENEW_INTERVAL).min(term.give_up_at());
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = crate::sync::stop_requested(stopped) => return TermEnd::Stopped,
        }
        let sent_at = Instant::now();
        if sent_at >= term.give_up_at() {
            warn!(
                epoch = term.epoch,
                lease_ms = LEASE_DURATION.as_millis() as u64,
                "the leader lease was not renewed in time; giving leadership up before it expires"
            );
            return TermEnd::Lost;
        }
        match lease.renew(&term).await {
            Ok(Some(renewal)) => {
                term.renewal = renewal;
                term.renewed_at = sent_at;
            }
            Ok(None) => {
                warn!(
                    epoch = term.epoch,
                    "the leader lease has expired or another replica holds it"
                );
                return TermEnd::Lost;
            }
            Err(error) => {
                warn!(epoch = term.epoch, error = %error, "renewing the leader lease failed; trying again");
            }
        }
    }
}

/// Why a statement on the lease connection failed.
#[derive(Debug, thiserror::Error)]
enum LeaseError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

/// The lease row, reached through a connection of its own next to the pool, so that a busy
/// pool never delays a renewal.
struct Lease {
    ledger: Ledger,
    /// Who this replica is in `leader_lease.holder`: unique per election.
    holder: String,
    connection: Option<AnyConnection>,
}

impl Lease {
    fn new(ledger: Ledger, holder: String) -> Self {
        Self {
            ledger,
            holder,
            connection: None,
        }
    }

    /// The lease connection (opened first if there is none), with the deadline of the
    /// statement to run on it: at most [`STATEMENT_TIMEOUT`] from now and never past `limit`.
    async fn connection(
        &mut self,
        limit: Instant,
    ) -> Result<(&mut AnyConnection, Instant), LeaseError> {
        let deadline = limit.min(Instant::now() + STATEMENT_TIMEOUT);
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => {
                let options = self.ledger.pool().connect_options();
                tokio::time::timeout_at(deadline, options.connect())
                    .await
                    .map_err(|_| LeaseError::TimedOut(STATEMENT_TIMEOUT))??
            }
        };
        Ok((self.connection.insert(connection), deadline))
    }

    /// The outcome of a statement; a connection that failed or did not answer is dropped:
    /// whatever state it is in, the next statement gets a fresh one.
    fn settle<T>(
        &mut self,
        outcome: Result<Result<T, sqlx::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, LeaseError> {
        let error = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => LeaseError::Database(error),
            Err(_) => LeaseError::TimedOut(STATEMENT_TIMEOUT),
        };
        self.connection = None;
        Err(error)
    }

    /// One try to take the lease: `Some` when this replica now holds it.
    async fn try_take(&mut self) -> Option<Term> {
        let renewed_at = Instant::now();
        match self.take(renewed_at + STATEMENT_TIMEOUT).await {
            Ok(taken) => taken.map(|epoch| Term {
                epoch,
                renewal: 0,
                renewed_at,
            }),
            Err(error) => {
                warn!(database = %self.ledger.database(), error = %error, "taking the leader lease failed");
                None
            }
        }
    }

    /// Takes the lease if it has expired (or was never taken): its new epoch, or `None`.
    async fn take(&mut self, limit: Instant) -> Result<Option<i64>, LeaseError> {
        let holder = self.holder.clone();
        let (connection, deadline) = self.connection(limit).await?;
        let statement = sqlx::query_as::<_, (i64,)>(
            "INSERT INTO leader_lease (name, holder, epoch, renewal, expires_at) \
             VALUES ($1, $2, 1, 0, clock_timestamp() + CAST($3 AS DOUBLE PRECISION) * INTERVAL '1 millisecond') \
             ON CONFLICT (name) DO UPDATE \
             SET holder = EXCLUDED.holder, epoch = leader_lease.epoch + 1, renewal = 0, \
                 expires_at = EXCLUDED.expires_at \
             WHERE leader_lease.expires_at < clock_timestamp() \
             RETURNING epoch",
        )
        .bind(LEASE_NAME)
        .bind(holder)
        .bind(lease_millis())
        .fetch_optional(&mut *connection);
        let outcome = tokio::time::timeout_at(deadline, statement).await;
        Ok(self.settle(outcome)?.map(|(epoch,)| epoch))
    }

    /// Extends the lease of `term` if this replica still holds it, it has not been renewed since
    /// `term.renewal`, and it has not reached the point where its leader gives it up: the new
    /// renewal count, or `None`. So a renewal that reaches the database late renews at most
    /// once, and never after its leader gave up: the bound on a takeover holds (see
    /// ARCHITECTURE.md).
    async fn renew(&mut self, term: &Term) -> Result<Option<i64>, LeaseError> {
        let holder = self.holder.clone();
        let (connection, deadline) = self.connection(term.give_up_at()).await?;
        let statement = sqlx::query_as::<_, (i64,)>(
            "UPDATE leader_lease \
             SET renewal = renewal + 1, \
                 expires_at = clock_timestamp() + CAST($3 AS DOUBLE PRECISION) * INTERVAL '1 millisecond' \
             WHERE name = $1 AND holder = $2 AND epoch = $4 AND renewal = $5 \
               AND clock_timestamp() <= expires_at - CAST($6 AS DOUBLE PRECISION) * INTERVAL '1 millisecond' \
             RETURNING renewal",
        )
        .bind(LEASE_NAME)
        .bind(holder)
        .bind(lease_millis())
        .bind(term.epoch)
        .bind(term.renewal)
        .bind(GIVE_UP_MARGIN.as_millis() as i64)
        .fetch_optional(&mut *connection);
        let outcome = tokio::time::timeout_at(deadline, statement).await;
        Ok(self.settle(outcome)?.map(|(renewal,)| renewal))
    }

    /// Ends the lease of `epoch` now, so that another replica takes over at its next try.
    async fn release(&mut self, epoch: i64) {
        if let Err(error) = self.end(epoch).await {
            // It expires by itself then.
            warn!(epoch, error = %error, "ending the leader lease failed");
        }
    }

    async fn end(&mut self, epoch: i64) -> Result<(), LeaseError> {
        let holder = self.holder.clone();
        let (connection, deadline) = self.connection(Instant::now() + STATEMENT_TIMEOUT).await?;
        let statement = sqlx::query(
            "UPDATE leader_lease SET expires_at = clock_timestamp() \
             WHERE name = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(LEASE_NAME)
        .bind(holder)
        .bind(epoch)
        .execute(&mut *connection);
        let outcome = tokio::time::timeout_at(deadline, statement).await;
        self.settle(outcome).map(|_| ())
    }

    async fn close(&mut self) {
        if let Some(connection) = self.connection.take() {
            let _ = tokio::time::timeout(STATEMENT_TIMEOUT, connection.close()).await;
        }
    }
}

fn lease_millis() -> i64 {
    LEASE_DURATION.as_millis() as i64
}
