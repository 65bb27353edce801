//! A configured channel as the sync runtime uses it: its connector and its settings.

use crate::metrics::Metrics;
use crate::policy::StockPolicy;
use crate::settings::ChannelMode;
use crate::sync::gateway::ChannelClient;
use omnistock_connector::{Capabilities, Connector, RateLimit};
use std::sync::Arc;
use std::time::Duration;

/// One channel, built once at start from its settings and the connector registry.
#[derive(Clone)]
pub struct ChannelRuntime {
    pub id: String,
    pub kind: String,
    pub connector: Arc<dyn Connector>,
    /// The location whose stock an order from this channel reserves.
    pub location: String,
    /// The stricter of the platform's documented limit and the configured one.
    pub rate_limit: Option<RateLimit>,
    /// How often orders are pulled; `None` when the channel is not polled.
    pub poll_interval: Option<Duration>,
    pub capabilities: Capabilities,
    /// How much of the stock this channel is shown (`[channels.stock_policy]`).
    pub policy: StockPolicy,
    /// Pause, resync work and recent push activity, shared with the admin API.
    pub control: crate::sync::push::ChannelControl,
    /// The configured cut-over (`cut_over`), stored in the ledger at start; `None` keeps the
    /// stored one.
    pub cut_over: Option<chrono::DateTime<chrono::Utc>>,
    /// The gateway every call to the platform goes through (throttle, retries, metrics).
    pub client: ChannelClient,
    /// The configured mode (`mode`); whether the channel is in shadow mode now is its
    /// control's (an operator's switch to live is stored in the ledger).
    pub configured_mode: ChannelMode,
    /// How often a shadow channel's stock is read in full.
    pub shadow_read_interval: Duration,
}

/// How often a shadow channel is read in full when it has no `reconcile_interval`.
pub const DEFAULT_SHADOW_READ_INTERVAL: Duration = Duration::from_secs(3600);

impl ChannelRuntime {
    pub fn new(
        id: String,
        connector: Arc<dyn Connector>,
        location: String,
        configured_rate_limit: Option<RateLimit>,
        poll_interval: Option<Duration>,
    ) -> Self {
        let capabilities = connector.capabilities();
        let rate_limit = match (capabilities.rate_limit, configured_rate_limit) {
            (Some(documented), Some(configured)) => Some(documented.min(configured)),
            (documented, configured) => documented.or(configured),
        };
        let poll_interval = poll_interval.filter(|_| capabilities.polling);
        let control = crate::sync::push::ChannelControl::new();
        let client = ChannelClient::new(
            &id,
            connector.clone(),
            rate_limit,
            control.clone(),
            Metrics::new(),
        );
        Self {
            id,
            kind: connector.kind().to_string(),
            connector,
            location,
            rate_limit,
            poll_interval,
            capabilities,
            policy: StockPolicy::default(),
            control,
            client,
            cut_over: None,
            configured_mode: ChannelMode::Live,
            shadow_read_interval: DEFAULT_SHADOW_READ_INTERVAL,
        }
    }

    /// This channel in its configured mode: shadow mode holds from here (before anything can
    /// push) until the ledger says an operator switched it to live. A shadow channel is read in
    /// full every `read_interval` (default [`DEFAULT_SHADOW_READ_INTERVAL`]).
    pub fn with_mode(mut self, mode: ChannelMode, read_interval: Option<Duration>) -> Self {
        self.configured_mode = mode;
        self.shadow_read_interval = read_interval.unwrap_or(DEFAULT_SHADOW_READ_INTERVAL);
        self.control.set_shadow(mode == ChannelMode::Shadow);
        self
    }

    /// This channel with its configured cut-over.
    pub fn with_cut_over(mut self, cut_over: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        self.cut_over = cut_over;
        self
    }

    /// This channel with its gateway recording into `metrics` (the process's registry).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.client = ChannelClient::new(
            &self.id,
            self.connector.clone(),
            self.rate_limit,
            self.control.clone(),
            metrics,
        );
        self
    }

    /// This channel with its configured stock policy.
    pub fn with_policy(mut self, policy: StockPolicy) -> Self {
        self.policy = policy;
        self
    }
}

impl std::fmt::Debug for ChannelRuntime {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ChannelRuntime")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("location", &self.location)
            .field("rate_limit", &self.rate_limit)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}
