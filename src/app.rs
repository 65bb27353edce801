//! Builds the daemon's parts from its settings and runs them until told to stop.
//!
//! [`App::build`] does everything that can fail at start (connect the ledger, migrate, bind the
//! listener) so that `serve` fails fast with one clear error; [`App::run_until_stopped`] then
//! serves until the shutdown future completes. Tests build an `App` on port 0 and spawn it.

use crate::bus::{Bus, BusError, RelayConfig};
use crate::http::AppState;
use crate::ledger::{Backend, DatabaseFileLock, Ledger, PoolSettings};
use crate::metrics::Metrics;
use crate::registry::{self, RegistryError};
use crate::service_notify::{ServiceNotifier, StatusSource};
use crate::settings::Settings;
use crate::sync::duties::LeaderDuties;
use crate::sync::intake::default_writers;
use crate::sync::runtime::SyncStartError;
use crate::sync::{ChannelRuntime, Intake, LeaderElection, SyncRuntime};
use omnistock_connector::Secret;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The ledger's messages name the (redacted) database URL themselves.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error("http.listen {address}: cannot listen")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("bus.url: {0}")]
    Bus(#[from] BusError),
    #[error("channels[{index}] ({channel}): {source}")]
    Channel {
        index: usize,
        channel: String,
        source: RegistryError,
    },
    #[error(transparent)]
    Sync(#[from] SyncStartError),
}

/// A built daemon, bound to its address and ready to run.
pub struct App {
    address: SocketAddr,
    listener: TcpListener,
    state: AppState,
    sync: SyncRuntime,
    /// Held while the daemon runs on an SQLite file, so that a second one refuses to start.
    _database_lock: Option<DatabaseFileLock>,
}

impl App {
    /// Connects the ledger, migrates it unless `database.migrate_on_start` is false, and binds
    /// `http.listen` (port 0 picks a free port; see [`App::address`]).
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        let database_lock = match Backend::from_url(settings.database.url.expose())? {
            Backend::Sqlite => DatabaseFileLock::acquire(settings.database.url.expose())?,
            Backend::Postgres => None,
        };
        let ledger = connect_ledger(&settings, settings.database.migrate_on_start).await?;
        let metrics = Metrics::new();
        let channels = build_channels(&settings, &metrics, &ledger)?;
        let bus = Bus::connect(&settings.bus, ledger.pool()).await?;
        let booking_writers = settings
            .database
            .booking_writers
            .unwrap_or_else(|| default_writers(ledger.backend()));
        let intake = Intake::new(ledger.clone(), metrics.clone(), booking_writers);
        let listener = TcpListener::bind(settings.http.listen)
            .await
            .map_err(|source| AppError::Bind {
                address: settings.http.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| AppError::Bind {
            address: settings.http.listen,
            source,
        })?;
        let relay_config = RelayConfig {
            postgres_listen_url: (ledger.backend() == Backend::Postgres)
                .then(|| Secret::new(settings.database.url.expose())),
            ..RelayConfig::default()
        };
        // Booking reads the channel's return rule from the ledger, so it is stored before any
        // order of the channel can arrive.
        for channel in channels.values() {
            ledger.upsert_channel(&channel.id, &channel.kind).await?;
            ledger
                .set_channel_policy(&channel.id, &channel.policy)
                .await?;
            if let Some(cut_over) = channel.cut_over {
                ledger.set_channel_cut_over(&channel.id, cut_over).await?;
            }
            refresh_listing_locations(&ledger, channel).await?;
        }
        let channel_list: Vec<ChannelRuntime> = channels.values().cloned().collect();
        let channels = Arc::new(channels);
        let reconcile_intervals = settings
            .channels
            .iter()
            .filter(|channel| channel.enabled)
            .filter_map(|channel| Some((channel.id.to_string(), channel.reconcile_interval?)))
            .collect();
        let election = LeaderElection::start(&ledger, &metrics).await;
        let operators = match crate::ops::Operators::start(
            ledger.clone(),
            metrics.clone(),
            channels.clone(),
            reconcile_intervals,
            election.leadership(),
            settings.admin.webhook_counts_flush,
            crate::ops::housekeeping::Housekeeping {
                settings: settings.housekeeping.clone(),
                bus: bus.clone(),
                channel_ids: channels.keys().cloned().collect(),
            },
        )
        .await
        {
            Ok(operators) => operators,
            Err(error) => {
                // A daemon that fails to start must not keep (or take) the leader lock.
                election.stop().await;
                return Err(error.into());
            }
        };
        let duties = LeaderDuties {
            ledger: ledger.clone(),
            bus: bus.clone(),
            channels: channel_list,
            intake: intake.clone(),
            metrics: metrics.clone(),
            job_runner: operators.jobs.runner(),
        };
        // Before the relay starts, so that no queue of a channel gone from the configuration
        // takes another copy of a change.
        crate::ops::housekeeping::retire_unconfigured_queues(&ledger, &bus, channels.as_ref())
            .await;
        let sync = SyncRuntime::start(duties, relay_config, election).await?;
        let state = AppState {
            settings: Arc::new(settings),
            ledger,
            bus,
            channels,
            intake,
            metrics,
            operators,
        };
        Ok(Self {
            address,
            listener,
            state,
            sync,
            _database_lock: database_lock,
        })
    }

    /// The address the server is bound to (the real port when `http.listen` asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A receiver that holds `true` while this replica is the sync leader.
    pub fn leader(&self) -> tokio::sync::watch::Receiver<bool> {
        self.sync.leader()
    }

    /// The shared parts, for tests that inspect the ledger behind a running app.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let settings = &self.state.settings;
        tracing::info!(
            listen = %self.address,
            database = %settings.database.url,
            bus = %settings.redacted_bus_url(),
            channels = settings.channels.len(),
            version = env!("CARGO_PKG_VERSION"),
            "omnistock ready"
        );
        let router = crate::http::router(self.state.clone());
        let header_read_timeout = settings.http.header_read_timeout;
        // Ledger migrated and listener bound: the moment /readyz can answer 200.
        let notifier = ServiceNotifier::new(
            StatusSource {
                channels: self.state.channels.clone(),
                leader: self.sync.leader(),
            },
            self.address,
        )
        .ready();
        let shutdown = async move {
            shutdown.await;
            notifier.stopping().await;
        };
        crate::http::server::serve(self.listener, router, header_read_timeout, shutdown).await;
        self.state.operators.stop().await;
        self.sync.stop().await;
        tracing::info!("omnistock stopped");
        Ok(())
    }
}

/// Connects the ledger named by `database.url` and, if asked, applies pending migrations. The
/// one place the daemon opens its database, shared by `serve` and `migrate`.
pub async fn connect_ledger(settings: &Settings, migrate: bool) -> Result<Ledger, AppError> {
    let url = &settings.database.url;
    let pool_settings = PoolSettings {
        max_connections: settings.database.max_connections,
        acquire_timeout: settings.database.acquire_timeout,
    };
    let ledger = Ledger::connect_with(url.expose(), pool_settings).await?;
    if migrate {
        ledger.migrate().await?;
    }
    Ok(ledger)
}

/// Listings logged one by one when a start changes their locations; the rest are counted.
const LOGGED_LOCATION_CHANGES: usize = 20;

/// Brings the locations of the channel's listings in line with what its connector says now
/// (a warehouse mapped to another location, a mapping added or removed) before anything pushes.
async fn refresh_listing_locations(
    ledger: &Ledger,
    channel: &ChannelRuntime,
) -> Result<(), AppError> {
    let locate = |listing_id: &str| channel.connector.listing_location(listing_id);
    let changes = ledger
        .refresh_listing_locations(&channel.id, &locate)
        .await?;
    for change in changes.iter().take(LOGGED_LOCATION_CHANGES) {
        tracing::info!(channel = %channel.id, listing = %change.listing_id,
            before = change.before.as_deref().unwrap_or("-"), after = change.after.as_deref().unwrap_or("-"),
            "listing location changed");
    }
    if !changes.is_empty() {
        tracing::info!(channel = %channel.id, changed = changes.len(),
            "listing locations refreshed from the channel's settings; those listings are pushed again");
    }
    Ok(())
}

/// Builds the connector of every enabled channel, keyed by channel id.
pub(crate) fn build_channels(
    settings: &Settings,
    metrics: &Metrics,
    ledger: &Ledger,
) -> Result<BTreeMap<String, ChannelRuntime>, AppError> {
    let mut channels = BTreeMap::new();
    for (index, channel) in settings.channels.iter().enumerate() {
        if !channel.enabled {
            tracing::info!(channel = %channel.id, "channel disabled in the configuration");
            continue;
        }
        let store = Arc::new(ledger.credentials(channel.id.as_str()));
        let connector =
            registry::build_connector_with_store(&channel.kind, &channel.options.0, store)
                .map_err(|source| AppError::Channel {
                    index,
                    channel: channel.id.to_string(),
                    source,
                })?;
        let runtime = ChannelRuntime::new(
            channel.id.to_string(),
            connector,
            channel.location.clone(),
            channel.rate_limit,
            channel.poll_interval,
        )
        .with_policy(channel.stock_policy.clone())
        .with_cut_over(channel.cut_over)
        .with_metrics(metrics.clone())
        .with_mode(channel.mode, channel.reconcile_interval);
        metrics.declare_channel(&channel.id.to_string());
        metrics.rate_limit(&channel.id.to_string(), runtime.rate_limit);
        channels.insert(channel.id.to_string(), runtime);
    }
    Ok(channels)
}
