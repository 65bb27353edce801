//! The world of the load scenarios: simulated marketplaces, a catalog listed on all of them, and
//! the daemon in-process on the chosen database and bus.

use super::setup::{scratch_bus, scratch_database, Backends};
use super::BenchError;
use crate::ledger::Ledger;
use crate::settings::{DatabaseUrl, Settings};
use crate::testkit::{InProcessDaemon, Marketplace, ScratchBusNames, ScratchDatabase, SimChannel};
use chrono::{DateTime, Utc};
use omnistock_connector::RateLimit;
use omnistock_sim::{NewOrderLine, SimOptions, SimServer, StockRequestOutcome};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(super) use crate::testkit::listing_of;

const QUEUE_LAG: &str = "omnistock_queue_lag_seconds";
const PUSH_LATENCY: &str = "omnistock_stock_push_latency_seconds";

/// Sums and counts of the daemon's stock-path histograms at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StockPathSnapshot {
    queue_lag: (f64, f64),
    push_latency: (f64, f64),
}

/// What to build.
#[derive(Debug, Clone)]
pub(super) struct WorldPlan {
    pub channels: usize,
    /// The sims' limit on stock updates, also given to the daemon as the platform's limit.
    pub rate_limit: Option<RateLimit>,
    /// Stock updates per call the sims accept.
    pub max_batch: usize,
    pub skus: usize,
    /// Units on hand in the ledger for every SKU.
    pub on_hand: i64,
    /// What the sims show for every listing before the daemon's first push.
    pub shown_before: i64,
}

/// A running world.
pub(super) struct World {
    pub markets: Vec<Marketplace>,
    pub skus: Vec<String>,
    pub ledger: Ledger,
    pub address: SocketAddr,
    pub client: reqwest::Client,
    /// When `App::build` was called and when it returned (the daemon serves from then on).
    pub started_at: DateTime<Utc>,
    pub build_time: Duration,
    database: Option<ScratchDatabase>,
    bus: Option<ScratchBusNames>,
    daemon: Option<InProcessDaemon>,
}

/// The channel id of marketplace `index`: `bench-a`, `bench-b`, …
pub(super) fn channel_id(index: usize) -> String {
    let letter = char::from(b'a' + u8::try_from(index % 26).unwrap_or(0));
    if index < 26 {
        format!("bench-{letter}")
    } else {
        format!("bench-{letter}{}", index / 26)
    }
}

impl World {
    /// Creates the database and the bus names, starts the sims, writes the catalog into the
    /// ledger (so the daemon's start-up sweep pushes it), then starts the daemon.
    pub(super) async fn start(backends: &Backends, plan: &WorldPlan) -> Result<Self, BenchError> {
        if plan.channels == 0 || plan.skus == 0 || plan.max_batch == 0 {
            return Err(BenchError::InvalidOption(
                "channels, skus and max batch must be positive".to_string(),
            ));
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| BenchError::Http(error.to_string()))?;
        let channels: Vec<String> = (0..plan.channels).map(channel_id).collect();
        // OMNISTOCK__… variables tune the daemon (e.g. OMNISTOCK__BUS__PREFETCH=64); the
        // database, the bus URL, the listener and the channels are the benchmark's own.
        let base = Settings::load(None)?;
        let bus = scratch_bus(&backends.bus, &channels, &base.bus)?;
        let database = scratch_database(&backends.database).await?;
        match Self::build(base, database, bus, channels, client, plan).await {
            Ok(world) => Ok(world),
            Err((error, mut database, mut bus)) => {
                bus.remove().await;
                database.remove().await;
                Err(error)
            }
        }
    }

    async fn build(
        mut settings: Settings,
        database: ScratchDatabase,
        bus: ScratchBusNames,
        channels: Vec<String>,
        client: reqwest::Client,
        plan: &WorldPlan,
    ) -> Result<Self, (BenchError, ScratchDatabase, ScratchBusNames)> {
        let markets = match start_markets(&channels, plan).await {
            Ok(markets) => markets,
            Err(error) => return Err((error, database, bus)),
        };
        let skus: Vec<String> = (1..=plan.skus)
            .map(|index| format!("B{index:07}"))
            .collect();
        if let Err(error) = write_catalog(database.url(), &markets, &skus, plan).await {
            return Err((error, database, bus));
        }
        settings.channels.clear();
        settings.database.url = DatabaseUrl::new(database.url());
        settings.bus = bus.config.clone();
        settings.http.listen = ([127, 0, 0, 1], 0).into();
        let channel = SimChannel {
            rate_limit: plan.rate_limit,
            max_batch: Some(plan.max_batch),
            ..SimChannel::default()
        };
        for market in &markets {
            match market.channel_settings(&channel) {
                Ok(channel) => settings.channels.push(channel),
                Err(reason) => return Err((BenchError::InvalidOption(reason), database, bus)),
            }
        }
        let started_at = Utc::now();
        let clock = Instant::now();
        let daemon = match InProcessDaemon::start(settings).await {
            Ok(daemon) => daemon,
            Err(error) => return Err((error.into(), database, bus)),
        };
        let build_time = clock.elapsed();
        Ok(Self {
            markets,
            skus,
            ledger: daemon.ledger.clone(),
            address: daemon.address,
            client,
            started_at,
            build_time,
            database: Some(database),
            bus: Some(bus),
            daemon: Some(daemon),
        })
    }

    /// The database's name (PostgreSQL) or file (SQLite), for the JSON line.
    pub(super) fn database_name(&self) -> String {
        self.database
            .as_ref()
            .map(ScratchDatabase::name)
            .unwrap_or_default()
    }

    /// Waits until every sim received a stock update for every listing of the catalog (the
    /// daemon's start-up sweep); returns when the last one arrived.
    pub(super) async fn wait_first_push(
        &self,
        patience: Duration,
    ) -> Result<DateTime<Utc>, BenchError> {
        let deadline = Instant::now() + patience;
        loop {
            let mut last = None;
            let mut complete = true;
            for market in &self.markets {
                let mut seen = BTreeSet::new();
                for record in market.sim.stock_log() {
                    if record.outcome == StockRequestOutcome::Applied {
                        seen.extend(record.listing_ids);
                        last = last.max(Some(record.received_at));
                    }
                }
                complete &= seen.len() >= self.skus.len();
            }
            if complete {
                return Ok(last.unwrap_or_else(Utc::now));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout {
                    what: "push the catalog to every channel".to_string(),
                    seconds: patience.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A buyer orders one unit of each of `skus` on marketplace `market`; returns the order id.
    pub(super) fn place_order(&self, market: usize, skus: &[&str]) -> Result<String, BenchError> {
        let lines: Vec<NewOrderLine> = skus
            .iter()
            .map(|sku| NewOrderLine {
                listing_id: listing_of(sku),
                quantity: 1,
                unit_price_minor: None,
            })
            .collect();
        Ok(self.markets[market].sim.place_order(&lines)?.id)
    }

    /// The signed webhook of `order_id` as marketplace `market` would send it, ready to post.
    pub(super) fn webhook_request(
        &self,
        market: usize,
        order_id: &str,
    ) -> Option<reqwest::RequestBuilder> {
        let market = &self.markets[market];
        let webhook = market.sim.webhook_for_order(order_id, None)?;
        let mut request = self.client.post(format!(
            "http://{}/webhooks/{}",
            self.address, market.channel
        ));
        for (name, value) in &webhook.headers {
            request = request.header(name, value);
        }
        Some(request.body(webhook.body))
    }

    /// The sum and count of a histogram of `/metrics` over every channel, e.g.
    /// `omnistock_queue_lag_seconds`.
    pub(super) async fn histogram_totals(&self, name: &str) -> (f64, f64) {
        let text = match self
            .client
            .get(format!("http://{}/metrics", self.address))
            .send()
            .await
        {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let total = |suffix: &str| -> f64 {
            let labelled = format!("{name}_{suffix}{{");
            let plain = format!("{name}_{suffix} ");
            text.lines()
                .filter(|line| line.starts_with(&labelled) || line.starts_with(&plain))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        (total("sum"), total("count"))
    }

    /// The daemon's own view of the stock path, to be read before and after a measurement.
    pub(super) async fn stock_path_snapshot(&self) -> StockPathSnapshot {
        StockPathSnapshot {
            queue_lag: self.histogram_totals(QUEUE_LAG).await,
            push_latency: self.histogram_totals(PUSH_LATENCY).await,
        }
    }

    /// Adds to `report` the means, between `before` and now, of how old messages were when a
    /// pusher took them and of how long from the outbox to a channel's confirmation.
    pub(super) async fn add_stock_path_means(
        &self,
        report: &mut super::BenchReport,
        before: &StockPathSnapshot,
    ) {
        let after = self.stock_path_snapshot().await;
        for (key, label, (sum_before, count_before), (sum_after, count_after)) in [
            (
                "queue_lag_mean_ms",
                "queue lag (mean, daemon's metric)",
                before.queue_lag,
                after.queue_lag,
            ),
            (
                "push_latency_mean_ms",
                "outbox to confirmed (mean, daemon's metric)",
                before.push_latency,
                after.push_latency,
            ),
        ] {
            let count = count_after - count_before;
            let mean = (count > 0.0)
                .then(|| Duration::from_secs_f64(((sum_after - sum_before) / count).max(0.0)));
            report.figure(
                key,
                mean.map(super::report::milliseconds),
                label,
                mean.map_or("n/a".to_string(), |mean| {
                    format!("{:.1} ms", super::report::milliseconds(mean))
                }),
            );
        }
    }

    /// Waits until every sim shows the ledger's availability of every SKU; false after
    /// `patience`.
    pub(super) async fn wait_converged(&self, patience: Duration) -> Result<bool, BenchError> {
        Ok(
            crate::testkit::wait_converged(&self.ledger, &self.markets, &self.skus, patience)
                .await
                .is_ok(),
        )
    }

    /// Stops the daemon and the sims, then removes the database and the bus names.
    pub(super) async fn stop(mut self) {
        if let Some(daemon) = self.daemon.take() {
            if let Err(error) = daemon.stop().await {
                tracing::warn!(error = %error, "the daemon stopped with an error");
            }
        }
        self.ledger.close().await;
        for market in std::mem::take(&mut self.markets) {
            market.sim.shutdown().await;
        }
        if let Some(mut bus) = self.bus.take() {
            bus.remove().await;
        }
        if let Some(mut database) = self.database.take() {
            database.remove().await;
        }
    }
}

async fn start_markets(
    channels: &[String],
    plan: &WorldPlan,
) -> Result<Vec<Marketplace>, BenchError> {
    let mut markets = Vec::with_capacity(channels.len());
    for channel in channels {
        let sim = SimServer::start(SimOptions {
            rate_limit: plan.rate_limit,
            max_batch: plan.max_batch,
            ..SimOptions::default()
        })
        .await?;
        markets.push(Marketplace {
            channel: channel.clone(),
            sim,
        });
    }
    Ok(markets)
}

/// Items with stock, listed on every sim and bound in the ledger, written before the daemon
/// starts so that its start-up sweep is the first push.
async fn write_catalog(
    database_url: &str,
    markets: &[Marketplace],
    skus: &[String],
    plan: &WorldPlan,
) -> Result<(), BenchError> {
    let ledger = Ledger::connect(database_url).await?;
    let written = async {
        ledger.migrate().await?;
        crate::testkit::list_catalog(&ledger, markets, skus, plan.on_hand, plan.shown_before)
            .await?;
        Ok::<(), BenchError>(())
    }
    .await;
    ledger.close().await;
    written
}

/// Sends a webhook; returns the HTTP status (0 when there was no request or it failed) and how
/// long the answer took.
pub(super) async fn send(request: Option<reqwest::RequestBuilder>) -> (u16, Duration) {
    let Some(request) = request else {
        return (0, Duration::ZERO);
    };
    let clock = Instant::now();
    let status = match request.send().await {
        Ok(response) => response.status().as_u16(),
        Err(error) => {
            tracing::warn!(error = %error, "benchmark webhook failed");
            0
        }
    };
    (status, clock.elapsed())
}
