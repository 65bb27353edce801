//! The demo's world: the daemon on the embedded default (a temporary SQLite file and the
//! in-process bus) with simulated marketplaces around it, and a catalog listed on all of them.

use super::DemoError;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::settings::{DatabaseUrl, Settings};
use crate::testkit::{InProcessDaemon, Marketplace, ScratchDatabase, SimChannel};
use omnistock_sim::{SimOptions, SimServer};
use std::time::Duration;

pub(super) use crate::testkit::listing_of;

/// The safety net under webhooks; long, because webhooks carry the demo.
const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The running daemon, its marketplaces and its catalog.
pub(super) struct DemoWorld {
    pub markets: Vec<Marketplace>,
    pub ledger: Ledger,
    pub metrics: Metrics,
    pub skus: Vec<String>,
    daemon: Option<InProcessDaemon>,
    /// Removed when the world is stopped or dropped.
    database: ScratchDatabase,
}

impl DemoWorld {
    /// Starts `channels` sims and the daemon, then lists `skus` items with `on_hand` units each.
    pub(super) async fn start(
        channels: usize,
        skus: usize,
        on_hand: i64,
    ) -> Result<Self, DemoError> {
        let database = ScratchDatabase::sqlite("omnistock-demo")?;
        let mut markets = Vec::with_capacity(channels);
        for index in 0..channels {
            let sim = SimServer::start(SimOptions::default()).await?;
            let letter = char::from(b'a' + u8::try_from(index % 26).unwrap_or(0));
            markets.push(Marketplace {
                channel: format!("market-{letter}"),
                sim,
            });
        }
        let mut settings = Settings::default();
        settings.database.url = DatabaseUrl::new(database.url());
        settings.http.listen = ([127, 0, 0, 1], 0).into();
        let channel = SimChannel {
            poll_interval: Some(POLL_INTERVAL),
            ..SimChannel::default()
        };
        for market in &markets {
            let settings_of_channel = market
                .channel_settings(&channel)
                .map_err(|reason| DemoError::Channel { reason })?;
            settings.channels.push(settings_of_channel);
        }
        let daemon = InProcessDaemon::start(settings).await?;
        for market in &markets {
            market
                .sim
                .set_webhook_target(Some(daemon.url(&format!("/webhooks/{}", market.channel))));
        }
        let skus: Vec<String> = (1..=skus).map(|index| format!("DEMO-{index:03}")).collect();
        crate::testkit::list_catalog(&daemon.ledger, &markets, &skus, on_hand, on_hand).await?;
        Ok(Self {
            markets,
            ledger: daemon.ledger.clone(),
            metrics: daemon.metrics.clone(),
            skus,
            daemon: Some(daemon),
            database,
        })
    }

    /// Per marketplace, the SKUs whose shown quantity differs from the ledger's availability.
    pub(super) async fn skus_behind(&self) -> Result<Vec<usize>, DemoError> {
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
    pub(super) async fn differences(&self) -> Result<Vec<String>, DemoError> {
        Ok(crate::testkit::differences(&self.ledger, &self.markets, &self.skus).await?)
    }

    /// Stops the daemon and the sims and removes the temporary database.
    pub(super) async fn stop(mut self) -> Result<(), DemoError> {
        let stopped = match self.daemon.take() {
            Some(daemon) => daemon.stop().await,
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
