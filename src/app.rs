//! Builds the daemon's parts from its settings and runs them until told to stop.
//!
//! [`App::build`] does everything that can fail at start (connect the ledger, migrate, bind the
//! listener) so that `serve` fails fast with one clear error; [`App::run_until_stopped`] then
//! serves until the shutdown future completes. Tests build an `App` on port 0 and spawn it.

use crate::ledger::Ledger;
use crate::settings::Settings;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What request handlers and background tasks share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The effective settings.
    pub settings: Arc<Settings>,
    /// The inventory ledger (a handle to its pool).
    pub ledger: Ledger,
    // The bus, the metrics and the channel registry join here as their subsystems land.
}

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
    #[error("http server: {0}")]
    Serve(std::io::Error),
}

/// A built daemon, bound to its address and ready to run.
pub struct App {
    address: SocketAddr,
    listener: TcpListener,
    state: AppState,
}

impl App {
    /// Connects the ledger, migrates it unless `database.migrate_on_start` is false, and binds
    /// `http.listen` (port 0 picks a free port; see [`App::address`]).
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        let ledger = connect_ledger(&settings, settings.database.migrate_on_start).await?;
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
        // Background subsystems (outbox relay, channel intake and push workers) are started
        // here, from `state`, and stopped by the same shutdown future as the server.
        let state = AppState {
            settings: Arc::new(settings),
            ledger,
        };
        Ok(Self {
            address,
            listener,
            state,
        })
    }

    /// The address the server is bound to (the real port when `http.listen` asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
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
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(AppError::Serve)?;
        tracing::info!("omnistock stopped");
        Ok(())
    }
}

/// Connects the ledger named by `database.url` and, if asked, applies pending migrations. The
/// one place the daemon opens its database, shared by `serve` and `migrate`.
pub async fn connect_ledger(settings: &Settings, migrate: bool) -> Result<Ledger, AppError> {
    let url = &settings.database.url;
    let ledger = Ledger::connect(url.expose()).await?;
    if migrate {
        ledger.migrate().await?;
    }
    Ok(ledger)
}
