//! The demo's world: the daemon on the embedded default (a temporary SQLite file and the
//! in-process bus) with simulated marketplaces around it, and a catalog listed on all of them.

use super::DemoError;
use crate::app::{App, AppError};
use crate::ledger::{Ledger, MovementMeta};
use crate::metrics::Metrics;
use crate::settings::{ChannelOptions, ChannelSettings, DatabaseUrl, Settings};
use crate::testkit::ScratchDatabase;
use omnistock_sim::{SimHandle, SimOptions, SimServer};
use serde_json::{json, Map};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The safety net under webhooks; long, because webhooks carry the demo.
const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// One marketplace: its channel id and its sim.
pub struct Market {
    pub channel: String,
    pub sim: SimHandle,
}

/// The running daemon, its marketplaces and its catalog.
pub struct DemoWorld {
    pub markets: Vec<Market>,
    pub ledger: Ledger,
    pub metrics: Metrics,
    pub skus: Vec<String>,
    /// Removed when the world is stopped or dropped.
    database: ScratchDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    daemon: Option<JoinHandle<Result<(), AppError>>>,
}

/// The listing id of `sku` on every marketplace.
pub fn listing_of(sku: &str) -> String {
    format!("L-{sku}")
}

impl DemoWorld {
    /// Starts `channels` sims and the daemon, then lists `skus` items with `on_hand` units each.
    pub async fn start(channels: usize, skus: usize, on_hand: i64) -> Result<Self, DemoError> {
        let database = ScratchDatabase::sqlite("omnistock-demo")?;
        let mut markets = Vec::with_capacity(channels);
        for index in 0..channels {
            let sim = SimServer::start(SimOptions::default()).await?;
            let letter = char::from(b'a' + u8::try_from(index % 26).unwrap_or(0));
            markets.push(Market {
                channel: format!("market-{letter}"),
                sim,
            });
        }
        let mut settings = Settings::default();
        settings.database.url = DatabaseUrl::new(database.url());
        settings.http.listen = ([127, 0, 0, 1], 0).into();
        for market in &markets {
            settings.channels.push(channel_settings(market)?);
        }
        let app = App::build(settings).await?;
        let address = app.address();
        let ledger = app.state().ledger.clone();
        let metrics = app.state().metrics.clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let daemon = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        for market in &markets {
            market.sim.set_webhook_target(Some(format!(
                "http://{address}/webhooks/{}",
                market.channel
            )));
        }
        let mut world = Self {
            markets,
            ledger,
            metrics,
            skus: Vec::new(),
            database,
            shutdown: Some(shutdown),
            daemon: Some(daemon),
        };
        world.add_catalog(skus, on_hand).await?;
        Ok(world)
    }

    async fn add_catalog(&mut self, count: usize, on_hand: i64) -> Result<(), DemoError> {
        for index in 1..=count {
            let sku = format!("DEMO-{index:03}");
            self.ledger
                .upsert_item(&sku, &format!("Demo item {index}"))
                .await?;
            self.ledger
                .receive(
                    &sku,
                    "default",
                    on_hand,
                    &MovementMeta::new(format!("demo-initial-{sku}")).actor("demo"),
                )
                .await?;
            for market in &self.markets {
                market
                    .sim
                    .create_listing(Some(&listing_of(&sku)), &sku, on_hand)?;
                self.ledger
                    .bind_listing(&market.channel, &listing_of(&sku), &sku, 1)
                    .await?;
            }
            self.skus.push(sku);
        }
        Ok(())
    }

    /// Per marketplace, the SKUs whose shown quantity differs from the ledger's availability.
    pub async fn skus_behind(&self) -> Result<Vec<usize>, DemoError> {
        let mut available = Vec::with_capacity(self.skus.len());
        for sku in &self.skus {
            available.push(self.ledger.available(sku).await?.max(0));
        }
        Ok(self
            .markets
            .iter()
            .map(|market| {
                self.skus
                    .iter()
                    .zip(&available)
                    .filter(|(sku, level)| {
                        market.sim.shown_quantity(&listing_of(sku)) != Some(**level)
                    })
                    .count()
            })
            .collect())
    }

    /// What differs between the marketplaces and the ledger, for people (`market-a shows 7 of
    /// DEMO-003, the ledger 6`).
    pub async fn differences(&self) -> Result<Vec<String>, DemoError> {
        let mut differences = Vec::new();
        for sku in &self.skus {
            let available = self.ledger.available(sku).await?.max(0);
            for market in &self.markets {
                let shown = market.sim.shown_quantity(&listing_of(sku));
                if shown != Some(available) {
                    let shown = shown.map_or("nothing".to_string(), |shown| shown.to_string());
                    differences.push(format!(
                        "{} shows {shown} of {sku}, the ledger {available}",
                        market.channel
                    ));
                }
            }
        }
        Ok(differences)
    }

    /// Stops the daemon and the sims and removes the temporary database.
    pub async fn stop(mut self) -> Result<(), DemoError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let stopped = match self.daemon.take() {
            Some(daemon) => daemon.await.map_err(|_| DemoError::DaemonPanicked)?,
            None => Ok(()),
        };
        self.ledger.close().await;
        for market in std::mem::take(&mut self.markets) {
            market.sim.shutdown().await;
        }
        self.database.remove().await;
        Ok(stopped?)
    }
}

fn channel_settings(market: &Market) -> Result<ChannelSettings, DemoError> {
    let mut options = Map::new();
    options.insert("base_url".into(), json!(market.sim.base_url()));
    options.insert("api_token".into(), json!(market.sim.api_token().expose()));
    options.insert(
        "webhook_secret".into(),
        json!(market.sim.webhook_secret().expose()),
    );
    Ok(ChannelSettings {
        id: market
            .channel
            .parse()
            .map_err(|reason| DemoError::Channel { reason })?,
        kind: omnistock_sim::SIM_KIND.to_string(),
        enabled: true,
        location: "default".to_string(),
        rate_limit: None,
        poll_interval: Some(POLL_INTERVAL),
        reconcile_interval: None,
        cut_over: None,
        stock_policy: Default::default(),
        options: ChannelOptions(options),
    })
}
