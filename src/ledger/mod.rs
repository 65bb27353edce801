//! The inventory ledger: the one place where stock is counted.
//!
//! Balances per (SKU, location) change only together with an append-only journal row
//! (`movements`) in the same transaction, and every change of availability also writes an
//! outbox row there, so the push path never misses one. Orders are booked as snapshots: the
//! ledger compares a snapshot with what it booked before and applies only the difference.
//!
//! A listing takes stock of one item, N of one item (a multipack) or several items (a bundle,
//! `listing_components`); a bundle order line is booked as one line per component, so every
//! rule below holds per item. What a listing shows is computed at push time by
//! [`crate::policy::shown_quantity`] from these balances and the channel's policy.
//!
//! One implementation serves both backends through sqlx's `Any` driver; the url's scheme picks
//! SQLite (embedded) or PostgreSQL (several replicas). The ledger never calls the network
//! beyond its database.
//!
//! Invariants (checked by [`Ledger::check_invariants`]): for every balance, `on_hand` equals the
//! sum of its journal's `on_hand_delta`, and `reserved` equals both the sum of `reserved_delta`
//! and the sum of the open quantity of the order lines booked there.

mod booking;
mod cursors;
pub(crate) mod db;
pub(crate) mod error;
mod push;
mod records;
mod stock;
mod types;

use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use tokio::sync::Notify;
use tracing::info;

pub(crate) use booking::rows::ORDER_LINE_SUMS;
pub use channel_status::ChannelStatusStore;
pub use credentials::LedgerCredentialStore;
pub use db::database_url::{redact_database_url, Backend};
pub use db::file_lock::DatabaseFileLock;
pub use dead_letters::{DeadLetterRecord, DeadLetterStore};
pub use error::{CorruptRow, LedgerError};
pub use job_kinds::{JobKind, JobMode, JobParams};
pub use jobs::{JobProgress, JobRecord, JobState, JobStore, ResyncMode, TriggerKind};
pub use push::targets::{ConfirmedPush, PushTarget, TargetPage, TargetPages};
pub use quarantine::{QuarantineStore, QuarantinedContent, QuarantinedOrder};
pub use receipts::{WebhookReceipt, WebhookReceiptStore};
pub use records::shadow::{ShadowCounts, ShadowListingRecord, ShadowObservation, ShadowStore};
pub use records::{
    channel_status, credentials, dead_letters, job_kinds, jobs, quarantine, receipts,
};
pub use stock::catalog_match::CatalogMatch;
pub use stock::discovered::{DiscoveredBinding, NewListing, NotBound};
pub use stock::item_search;
pub use types::{
    Application, Balance, BookingOutcome, BookingRequest, BookingResult, Channel,
    InvariantViolation, LineOperation, LineOutcome, LineRef, Listing, ListingBinding,
    ListingComponent, LocationChange, Movement, MovementMeta, MovementReason, OrderLineRecord,
    OrderRecord, OutboxEntry, Reservation, StockCount, StockOutcome, TransferOutcome, UnknownLine,
};

/// The PostgreSQL notification channel written after outbox rows were added.
pub const OUTBOX_NOTIFY_CHANNEL: &str = "omnistock_outbox";

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// SQLite settings per connection: WAL lets readers run beside the writer, FULL makes a commit
/// durable, and the busy timeout makes writers wait for each other instead of failing.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
];

static INSTALL_DRIVERS: Once = Once::new();

/// The inventory ledger over a pool of database connections. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    pool: AnyPool,
    backend: Backend,
    database: Arc<str>,
    outbox_signal: Arc<Notify>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Ledger")
            .field("backend", &self.backend)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// How the ledger's connection pool is sized and how long a caller waits for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long connecting at start, or waiting for a free connection, may take before the
    /// call fails (a database that refuses connections fails at once).
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl Ledger {
    /// Connects to the database named by `url` with the default pool settings.
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        Self::connect_with(url, PoolSettings::default()).await
    }

    /// Connects to the database named by `url` (`sqlite://path`, created when missing, or
    /// `postgres://…`). Does not migrate; call [`Ledger::migrate`].
    pub async fn connect_with(url: &str, pool_settings: PoolSettings) -> Result<Self, LedgerError> {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = Backend::from_url(url)?;
        let database: Arc<str> = redact_database_url(url).into();
        let unreachable = |source| LedgerError::Unreachable {
            database: database.to_string(),
            source,
        };
        let pool = match backend {
            Backend::Sqlite => {
                let options = AnyConnectOptions::from_str(&sqlite_url_creating_file(url))
                    .map_err(unreachable)?;
                AnyPoolOptions::new()
                    .max_connections(pool_settings.max_connections)
                    .acquire_timeout(pool_settings.acquire_timeout)
                    .after_connect(|connection, _meta| {
                        Box::pin(async move {
                            for pragma in SQLITE_PRAGMAS {
                                connection.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(unreachable)?
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url).map_err(unreachable)?;
                AnyPoolOptions::new()
                    .max_connections(pool_settings.max_connections)
                    .acquire_timeout(pool_settings.acquire_timeout)
                    .connect_with(options)
                    .await
                    .map_err(unreachable)?
            }
        };
        info!(database = %database, backend = backend.as_str(), "ledger connected");
        Ok(Self {
            pool,
            backend,
            database,
            outbox_signal: Arc::new(Notify::new()),
        })
    }

    /// Applies the migrations of this backend that are not applied yet.
    pub async fn migrate(&self) -> Result<(), LedgerError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|source| LedgerError::Migration {
                database: self.database.to_string(),
                source,
            })?;
        info!(database = %self.database, "ledger migrated");
        Ok(())
    }

    /// Succeeds when the database answers (readiness).
    pub async fn ping(&self) -> Result<(), LedgerError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|source| LedgerError::Unreachable {
                database: self.database.to_string(),
                source,
            })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for sibling modules that keep their own tables in this database.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The database url without its password.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Notified (one stored permit) after every committed transaction that wrote outbox rows.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.outbox_signal)
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds `mode=rwc` so that SQLite creates the database file when it is missing.
fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}
