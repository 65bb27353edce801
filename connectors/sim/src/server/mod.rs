//! The simulated marketplace: an axum server with a token-protected `/api` (what a connector
//! talks to) and an open `/control` (what tests, benchmarks and the demo drive).

mod api;
mod control;
pub mod state;
pub mod webhooks;

use crate::config::SimChannelConfig;
use crate::connector::SimConnector;
use crate::wire::{ListingLevel, SimOrder};
use crate::SimConfigError;
use chrono::{DateTime, Utc};
use omnistock_connector::{RateLimit, Secret};
use state::{
    DeliveryRecord, Faults, NewOrderLine, SimActionError, SimCounters, SimState,
    StockRequestRecord, WebhookEvent,
};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webhooks::{SimWebhook, WebhookDispatcher};

/// The most stock updates one `POST /api/stock` accepts unless configured otherwise.
pub const DEFAULT_MAX_BATCH: usize = 50;
/// Orders per page of `GET /api/orders` when the request gives no `limit`.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest `limit` `GET /api/orders` honours.
pub const MAX_PAGE_SIZE: usize = 250;
/// Listings per page of `GET /api/listings` when the request gives no `limit`.
pub const DEFAULT_CATALOG_PAGE_SIZE: usize = 250;
/// The largest `limit` `GET /api/listings` honours.
pub const MAX_CATALOG_PAGE_SIZE: usize = 1000;

/// How to run a sim.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Address to bind; `None` binds 127.0.0.1 on a free port.
    pub listen: Option<SocketAddr>,
    /// The Bearer token `/api/*` requires.
    pub api_token: Secret,
    /// The key webhooks are signed with.
    pub webhook_secret: Secret,
    /// The most updates one `POST /api/stock` accepts.
    pub max_batch: usize,
    /// Orders per page when a request gives no `limit`.
    pub default_page_size: usize,
    /// Limit on `POST /api/stock` requests; `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// Faults in effect from the start.
    pub faults: Faults,
    /// Where webhooks go; `None` sends none until one is set.
    pub webhook_target: Option<String>,
    /// The waits between webhook attempts; an event is tried `len() + 1` times.
    pub webhook_retry_delays: Vec<Duration>,
    /// How long one webhook attempt may take.
    pub webhook_timeout: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            listen: None,
            api_token: Secret::new(format!("sim-token-{:032x}", rand::random::<u128>())),
            webhook_secret: Secret::new(format!("sim-whsec-{:032x}", rand::random::<u128>())),
            max_batch: DEFAULT_MAX_BATCH,
            default_page_size: DEFAULT_PAGE_SIZE,
            rate_limit: None,
            faults: Faults::default(),
            webhook_target: None,
            webhook_retry_delays: [200, 500, 1000, 2000, 5000]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
            webhook_timeout: Duration::from_secs(5),
        }
    }
}

impl SimOptions {
    /// Options for tests: webhook retries after 10, 20, 40 and 80 ms.
    pub fn for_tests() -> Self {
        Self {
            webhook_retry_delays: [10, 20, 40, 80]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
            webhook_timeout: Duration::from_secs(2),
            ..Self::default()
        }
    }
}

/// Why the sim could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot build the webhook client: {0}")]
    WebhookClient(String),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("invalid options: {0}")]
    InvalidOptions(String),
}

/// What the routers share.
pub(crate) struct Shared {
    state: Mutex<SimState>,
    pub api_token: Secret,
    pub webhook_secret: Secret,
    pub max_batch: usize,
    pub default_page_size: usize,
    dispatcher: WebhookDispatcher,
}

impl Shared {
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, SimState> {
        // The state stays consistent even if a holder panicked: every change is one step.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs an order change and queues its webhook under the same lock, so that webhooks of
    /// one order leave in the order the changes happened.
    fn change_order(
        self: &Arc<Self>,
        change: impl FnOnce(&mut SimState) -> Result<(SimOrder, Option<WebhookEvent>), SimActionError>,
    ) -> Result<SimOrder, SimActionError> {
        let mut state = self.lock_state();
        let (order, event) = change(&mut state)?;
        if let Some(event) = event {
            self.dispatcher.dispatch(Arc::clone(self), event);
        }
        Ok(order)
    }

    pub(crate) fn place_order(
        self: &Arc<Self>,
        lines: &[NewOrderLine],
    ) -> Result<SimOrder, SimActionError> {
        self.change_order(|state| state.place_order(lines))
    }

    pub(crate) fn cancel_order(
        self: &Arc<Self>,
        order_id: &str,
    ) -> Result<SimOrder, SimActionError> {
        self.change_order(|state| state.cancel_order(order_id))
    }

    pub(crate) fn fulfil_order(
        self: &Arc<Self>,
        order_id: &str,
    ) -> Result<SimOrder, SimActionError> {
        self.change_order(|state| state.fulfil_order(order_id))
    }
}

/// Starts sims.
pub struct SimServer;

impl SimServer {
    /// Binds, starts serving in the background and returns the handle.
    pub async fn start(options: SimOptions) -> Result<SimHandle, SimError> {
        if options.max_batch == 0 || options.default_page_size == 0 {
            return Err(SimError::InvalidOptions(
                "max_batch and default_page_size must be positive".into(),
            ));
        }
        let address = options
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| SimError::Bind { address, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { address, source })?;
        let client = reqwest::Client::builder()
            .timeout(options.webhook_timeout)
            .build()
            .map_err(|error| SimError::WebhookClient(error.to_string()))?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let delivery_prefix = format!("{:016x}", rand::random::<u64>());
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState::new(
                options.rate_limit,
                options.faults.clone(),
                options.webhook_target.clone(),
                delivery_prefix,
            )),
            api_token: options.api_token.clone(),
            webhook_secret: options.webhook_secret.clone(),
            max_batch: options.max_batch,
            default_page_size: options.default_page_size,
            dispatcher: WebhookDispatcher::new(
                client,
                options.webhook_retry_delays.clone(),
                tokio::runtime::Handle::current(),
                shutdown_rx.clone(),
            ),
        });
        let router = api::router(Arc::clone(&shared)).merge(control::router(Arc::clone(&shared)));
        let mut stop = shutdown_rx;
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                })
                .await;
            if let Err(error) = result {
                tracing::warn!(error = %error, "sim server stopped with an error");
            }
        });
        Ok(SimHandle {
            shared,
            base_url: format!("http://{local_addr}"),
            local_addr,
            shutdown_tx,
            server: Some(server),
        })
    }
}

/// Runs a sim until Ctrl-C: what `omnistock sim --listen ADDR` calls. Prints the base URL
/// on standard output once it listens (never the token or the secret).
pub async fn run_standalone(options: SimOptions) -> Result<(), SimError> {
    let handle = SimServer::start(options).await?;
    tracing::info!(base_url = %handle.base_url(), "simulated marketplace listening");
    println!(
        "simulated marketplace listening on {} (Ctrl-C stops it)",
        handle.base_url()
    );
    tokio::signal::ctrl_c().await.map_err(SimError::Serve)?;
    tracing::info!("simulated marketplace stopping");
    handle.shutdown().await;
    Ok(())
}

/// A running sim. Dropping it stops the server; [`SimHandle::shutdown`] also waits for it.
pub struct SimHandle {
    shared: Arc<Shared>,
    base_url: String,
    local_addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn api_token(&self) -> &Secret {
        &self.shared.api_token
    }

    pub fn webhook_secret(&self) -> &Secret {
        &self.shared.webhook_secret
    }

    pub fn max_batch(&self) -> usize {
        self.shared.max_batch
    }

    pub fn default_page_size(&self) -> usize {
        self.shared.default_page_size
    }

    /// The channel settings a connector needs to talk to this sim.
    pub fn channel_config(&self) -> SimChannelConfig {
        SimChannelConfig {
            base_url: self.base_url.clone(),
            api_token: self.shared.api_token.clone(),
            webhook_secret: self.shared.webhook_secret.clone(),
            max_batch: Some(self.shared.max_batch),
            request_timeout_ms: None,
            rate_limit: self.rate_limit(),
            poll_overlap_ms: None,
        }
    }

    /// A connector for this sim.
    pub fn connector(&self) -> Result<SimConnector, SimConfigError> {
        SimConnector::new(self.channel_config())
    }

    /// Creates a listing (an id is made up when `listing_id` is `None`) or replaces the sku and
    /// quantity of an existing one.
    pub fn create_listing(
        &self,
        listing_id: Option<&str>,
        sku: &str,
        quantity: i64,
    ) -> Result<ListingLevel, SimActionError> {
        self.shared.lock_state().upsert_listing(
            listing_id.map(str::to_string),
            sku.to_string(),
            quantity,
        )
    }

    pub fn listings(&self) -> Vec<ListingLevel> {
        self.shared.lock_state().listings()
    }

    /// The quantity the sim shows for a listing now.
    pub fn shown_quantity(&self, listing_id: &str) -> Option<i64> {
        self.shared.lock_state().shown_quantity(listing_id)
    }

    /// A buyer places an order: shown stock goes down and an `orders/created` webhook leaves.
    pub fn place_order(&self, lines: &[NewOrderLine]) -> Result<SimOrder, SimActionError> {
        self.shared.place_order(lines)
    }

    pub fn order(&self, order_id: &str) -> Option<SimOrder> {
        self.shared.lock_state().order(order_id)
    }

    /// Cancels an open order: its units go back on the shown stock.
    pub fn cancel_order(&self, order_id: &str) -> Result<SimOrder, SimActionError> {
        self.shared.cancel_order(order_id)
    }

    /// Ships an open order.
    pub fn fulfil_order(&self, order_id: &str) -> Result<SimOrder, SimActionError> {
        self.shared.fulfil_order(order_id)
    }

    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock_state().faults = faults;
    }

    pub fn faults(&self) -> Faults {
        self.shared.lock_state().faults.clone()
    }

    /// Limits `POST /api/stock`; `None` lifts the limit. Resets the window.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared.lock_state().set_rate_limit(limit);
    }

    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.shared.lock_state().rate_limit()
    }

    /// Where webhooks of later events go; `None` stops sending.
    pub fn set_webhook_target(&self, url: Option<String>) {
        self.shared.lock_state().webhook_target = url;
    }

    /// Freezes the clock orders are stamped with (`None`: real time again). Stamps never go
    /// backwards, whatever the clock says.
    pub fn set_clock(&self, frozen_at: Option<DateTime<Utc>>) {
        self.shared.lock_state().set_clock(frozen_at);
    }

    pub fn counters(&self) -> SimCounters {
        self.shared.lock_state().counters.clone()
    }

    /// Every stock-update request received, oldest first.
    pub fn stock_log(&self) -> Vec<StockRequestRecord> {
        self.shared.lock_state().stock_log.clone()
    }

    /// The most stock-update requests (admitted or refused) received within any `window`.
    pub fn max_stock_requests_in_window(&self, window: Duration) -> usize {
        self.shared
            .lock_state()
            .max_stock_requests_in_window(window)
    }

    /// Every webhook event and what became of it.
    pub fn webhook_deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared.lock_state().deliveries()
    }

    /// The webhook the sim would send now for the order's current state, signed with
    /// `secret` (the sim's own when `None`), under a fresh delivery id. Nothing is sent.
    pub fn webhook_for_order(&self, order_id: &str, secret: Option<&str>) -> Option<SimWebhook> {
        let order = self.order(order_id)?;
        let topic = match order.status.as_str() {
            "cancelled" => crate::wire::TOPIC_ORDER_CANCELLED,
            "fulfilled" => crate::wire::TOPIC_ORDER_FULFILLED,
            _ => crate::wire::TOPIC_ORDER_CREATED,
        };
        let delivery_id = format!("manual-{:016x}", rand::random::<u64>());
        let secret = secret.unwrap_or(self.shared.webhook_secret.expose());
        Some(webhooks::build_webhook(secret, topic, &delivery_id, &order))
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}
