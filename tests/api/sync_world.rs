//! A daemon with simulated marketplaces around it, on either set-up: what the sync scenarios
//! run against. Each scenario is written once as a function of [`Setup`]; `both_setups!` runs
//! it on the embedded set-up (SQLite + database bus) and on production (PostgreSQL + RabbitMQ).
#![allow(dead_code)]

use crate::helpers::{spawn_app_with, test_settings, TestApp, TestDatabase};
use omnistock::bus::BusConfig;
use omnistock::settings::ChannelSettings;
pub(crate) use omnistock::testkit::listing_of;
use omnistock::testkit::{
    differences, list_catalog, wait_converged, Marketplace, ScratchBusNames, SimChannel,
};
use omnistock_connector::{RateLimit, Secret};
use omnistock_sim::{NewOrderLine, SimHandle, SimOptions, SimServer};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// The test RabbitMQ broker.
pub(crate) const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The admin API's Bearer token in every world.
pub(crate) const ADMIN_TOKEN: &str = "world-admin-token";

/// How long a scenario waits for something that should happen before it fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(45);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    /// SQLite file + database bus.
    Embedded,
    /// PostgreSQL database + RabbitMQ.
    Production,
}

/// Runs a scenario `async fn name(setup: Setup)` on both set-ups, as two tests in a module
/// named after it.
macro_rules! both_setups {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn embedded() {
                    super::$scenario($crate::sync_world::Setup::Embedded).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn production() {
                    super::$scenario($crate::sync_world::Setup::Production).await;
                }
            }
        )*
    };
}
pub(crate) use both_setups;

/// One channel of the world: how its sim is started and how the daemon is told about it.
#[derive(Debug, Clone)]
pub(crate) struct ChannelPlan {
    pub id: &'static str,
    /// The sim's own limit on stock updates (also given to the daemon, as a platform documents
    /// it).
    pub rate_limit: Option<RateLimit>,
    pub max_batch: usize,
    /// Order polling; `None` relies on webhooks alone.
    pub poll_interval: Option<Duration>,
    pub poll_overlap_ms: u64,
    /// Scheduled reconciliation; `None` for none.
    pub reconcile_interval: Option<Duration>,
    /// `live`, or `shadow`: read, never written.
    pub mode: omnistock::settings::ChannelMode,
}

impl ChannelPlan {
    pub(crate) fn new(id: &'static str) -> Self {
        Self {
            id,
            rate_limit: None,
            max_batch: 50,
            poll_interval: None,
            // Short: tests poll far more often than a daemon would, and every poll re-reads
            // the overlap.
            poll_overlap_ms: 500,
            reconcile_interval: None,
            mode: Default::default(),
        }
    }
}

impl ChannelPlan {
    /// How the daemon is told about this channel's sim.
    pub(crate) fn sim_channel(&self) -> SimChannel {
        SimChannel {
            rate_limit: self.rate_limit,
            max_batch: Some(self.max_batch),
            poll_interval: self.poll_interval,
            poll_overlap_ms: Some(self.poll_overlap_ms),
            request_timeout_ms: Some(5_000),
            reconcile_interval: self.reconcile_interval,
            mode: self.mode,
        }
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub(crate) struct WorldPlan {
    pub channels: Vec<ChannelPlan>,
    pub max_body_bytes: Option<usize>,
}

impl Default for WorldPlan {
    /// Three channels, `sim-a`, `sim-b`, `sim-c`, on webhooks only.
    fn default() -> Self {
        Self {
            channels: ["sim-a", "sim-b", "sim-c"]
                .into_iter()
                .map(ChannelPlan::new)
                .collect(),
            max_body_bytes: None,
        }
    }
}

impl WorldPlan {
    /// Changes one channel's plan.
    pub(crate) fn channel(mut self, id: &str, change: impl FnOnce(&mut ChannelPlan)) -> Self {
        if let Some(plan) = self.channels.iter_mut().find(|plan| plan.id == id) {
            change(plan);
        }
        self
    }

    /// Polls every channel at `interval` (as the safety net under webhooks).
    pub(crate) fn polling_every(mut self, interval: Duration) -> Self {
        for plan in &mut self.channels {
            plan.poll_interval = Some(interval);
        }
        self
    }
}

/// The daemon, its sims and the catalog the scenario created.
pub(crate) struct World {
    pub setup: Setup,
    pub app: TestApp,
    /// The sims, one per channel, in the plan's order.
    pub markets: Vec<Marketplace>,
    /// The skus the catalog holds.
    pub skus: Vec<String>,
    /// The daemon's settings, for more replicas of it.
    pub settings: omnistock::settings::Settings,
    broker: Option<ScratchBusNames>,
}

/// Starts one sim per planned channel.
pub(crate) async fn start_sims(plan: &WorldPlan) -> Vec<Marketplace> {
    let mut markets = Vec::new();
    for channel in &plan.channels {
        let sim = SimServer::start(SimOptions {
            rate_limit: channel.rate_limit,
            max_batch: channel.max_batch,
            ..SimOptions::for_tests()
        })
        .await
        .unwrap();
        markets.push(Marketplace {
            channel: channel.id.to_string(),
            sim,
        });
    }
    markets
}

/// The daemon's settings of each planned channel's sim.
pub(crate) fn sim_channels(plan: &WorldPlan, markets: &[Marketplace]) -> Vec<ChannelSettings> {
    plan.channels
        .iter()
        .zip(markets)
        .map(|(channel, market)| market.channel_settings(&channel.sim_channel()).unwrap())
        .collect()
}

impl World {
    /// Starts the sims, then the daemon configured with them on `setup`, then points every
    /// sim's webhooks at the daemon.
    pub(crate) async fn start(setup: Setup, plan: WorldPlan) -> Self {
        Self::start_with(setup, plan, |_| {}).await
    }

    /// [`World::start`] with the daemon's settings changed by `change` first.
    pub(crate) async fn start_with(
        setup: Setup,
        plan: WorldPlan,
        change: impl FnOnce(&mut omnistock::settings::Settings),
    ) -> Self {
        let markets = start_sims(&plan).await;
        let (database, url) = match setup {
            Setup::Embedded => TestDatabase::sqlite(),
            Setup::Production => TestDatabase::postgres().await,
        };
        let mut settings = test_settings(&url);
        // Short enough that a missed wake-up does not slow a scenario down.
        settings.bus.poll_interval_ms = 200;
        let broker = match setup {
            Setup::Embedded => None,
            Setup::Production => {
                let base = BusConfig {
                    url: Secret::new(AMQP_URL),
                    ..BusConfig::default()
                };
                let channels: Vec<String> =
                    plan.channels.iter().map(|c| c.id.to_string()).collect();
                let names = ScratchBusNames::new(base, "test", &channels);
                settings.bus = names.config.clone();
                Some(names)
            }
        };
        settings.admin.token = Some(Secret::new(ADMIN_TOKEN));
        if let Some(limit) = plan.max_body_bytes {
            settings.http.max_body_bytes = limit;
        }
        settings.channels.extend(sim_channels(&plan, &markets));
        change(&mut settings);
        let app = spawn_app_with(settings.clone(), database).await;
        for market in &markets {
            let target = app.url(&format!("/webhooks/{}", market.channel));
            market.sim.set_webhook_target(Some(target));
        }
        Self {
            setup,
            app,
            markets,
            skus: Vec::new(),
            settings,
            broker,
        }
    }

    /// Another replica of the daemon: the same database, bus names and channels, its own port.
    /// The world's database stays owned by `self.app`.
    pub(crate) async fn spawn_replica(&self) -> TestApp {
        spawn_app_with(self.settings.clone(), TestDatabase::sqlite().0).await
    }

    pub(crate) fn sim(&self, channel: &str) -> &SimHandle {
        let market = self.markets.iter().find(|market| market.channel == channel);
        &market.unwrap_or_else(|| panic!("no sim {channel}")).sim
    }

    /// Adds items with `on_hand` units each, lists them on every sim with that quantity and
    /// binds the listings in the ledger.
    pub(crate) async fn add_catalog(&mut self, skus: &[String], on_hand: i64) {
        list_catalog(&self.app.ledger, &self.markets, skus, on_hand, on_hand)
            .await
            .unwrap();
        self.skus.extend(skus.iter().cloned());
    }

    /// A buyer orders `quantity` of `sku` on `channel`; returns the sim's order id.
    pub(crate) fn order(&self, channel: &str, sku: &str, quantity: i64) -> String {
        self.sim(channel)
            .place_order(&[NewOrderLine {
                listing_id: listing_of(sku),
                quantity,
                unit_price_minor: None,
            }])
            .unwrap()
            .id
    }

    /// Differences between what each sim shows and what the ledger says, empty when every
    /// channel equals the ledger.
    pub(crate) async fn differences(&self) -> Vec<String> {
        differences(&self.app.ledger, &self.markets, &self.skus)
            .await
            .unwrap_or_else(|error| vec![format!("reading the ledger failed: {error}")])
    }

    /// Waits until every channel equals the ledger; fails after [`PATIENCE`].
    pub(crate) async fn wait_converged(&self) {
        let converged = wait_converged(&self.app.ledger, &self.markets, &self.skus, PATIENCE).await;
        if let Err(differences) = converged {
            panic!(
                "{:?}: not converged after {PATIENCE:?}: {differences:?}",
                self.setup
            );
        }
    }

    /// Waits until the ledger's availability of `sku` is `expected`.
    pub(crate) async fn wait_available(&self, sku: &str, expected: i64) {
        let ledger = self.app.ledger.clone();
        let sku = sku.to_string();
        wait_until(&format!("{sku} available {expected}"), || {
            let ledger = ledger.clone();
            let sku = sku.clone();
            // A ledger busy with a burst may time a read out: that is "not yet", not a failure.
            async move { ledger.available(&sku).await.ok() == Some(expected) }
        })
        .await;
    }

    /// The `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        self.app.get("/metrics").await.text().await.unwrap()
    }

    /// Posts a webhook as a sim would (headers and raw body) to `/webhooks/{channel}`.
    pub(crate) async fn post_webhook(
        &self,
        channel: &str,
        headers: &BTreeMap<String, String>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .post(self.app.url(&format!("/webhooks/{channel}")));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.body(body).send().await.unwrap()
    }

    /// How many webhook deliveries the ledger recorded (the idempotency keys of webhooks).
    pub(crate) async fn stored_deliveries(&self) -> i64 {
        let (count,): (i64,) =
            sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries")
                .fetch_one(self.app.ledger.pool())
                .await
                .unwrap();
        count
    }

    /// How many orders the ledger holds.
    pub(crate) async fn stored_orders(&self) -> i64 {
        let (count,): (i64,) = sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM orders")
            .fetch_one(self.app.ledger.pool())
            .await
            .unwrap();
        count
    }

    /// Stops the daemon and the sims; the database and broker names go when `self` is dropped.
    pub(crate) async fn stop(self) {
        let Self {
            app,
            markets,
            broker,
            ..
        } = self;
        app.stop().await.unwrap();
        for market in markets {
            market.sim.shutdown().await;
        }
        drop(broker);
    }
}

/// Polls `condition` every 50 ms until it holds; fails after [`PATIENCE`].
pub(crate) async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition().await {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {PATIENCE:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one sample line of a Prometheus text exposition (`name{labels} value`), 0 when
/// absent.
pub(crate) fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            value.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0.0)
}
