//! Simulated marketplaces around a daemon: the sims, how the daemon is told about each, the
//! catalog listed on all of them, and whether they all show what the ledger says.

use crate::ledger::{Ledger, LedgerError, ListingBinding, ListingComponent, StockCount};
use crate::settings::{ChannelMode, ChannelOptions, ChannelSettings};
use omnistock_connector::RateLimit;
use omnistock_sim::{SimActionError, SimHandle};
use serde_json::{json, Map};
use std::time::Duration;

/// Catalog rows written per ledger transaction.
const CATALOG_CHUNK: usize = 2_000;

/// The listing id of `sku` on every sim.
pub fn listing_of(sku: &str) -> String {
    format!("L-{sku}")
}

/// One marketplace: its channel id and its sim.
pub struct Marketplace {
    pub channel: String,
    pub sim: SimHandle,
}

/// How the daemon talks to one sim: the options a configuration file would give it.
#[derive(Debug, Clone, Default)]
pub struct SimChannel {
    /// The platform's limit on stock updates, as it documents it.
    pub rate_limit: Option<RateLimit>,
    /// Stock updates per call; the connector's default when `None`.
    pub max_batch: Option<usize>,
    /// Order polling; `None` relies on webhooks alone.
    pub poll_interval: Option<Duration>,
    pub poll_overlap_ms: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    /// Scheduled reconciliation; `None` for none.
    pub reconcile_interval: Option<Duration>,
    /// `live`, or `shadow`: read, never written.
    pub mode: ChannelMode,
}

impl Marketplace {
    /// The daemon's settings of this marketplace's channel (kind `sim`, location `default`).
    pub fn channel_settings(&self, channel: &SimChannel) -> Result<ChannelSettings, String> {
        let sim = &self.sim;
        let mut options = Map::new();
        options.insert("base_url".into(), json!(sim.base_url()));
        options.insert("api_token".into(), json!(sim.api_token().expose()));
        options.insert(
            "webhook_secret".into(),
            json!(sim.webhook_secret().expose()),
        );
        if let Some(max_batch) = channel.max_batch {
            options.insert("max_batch".into(), json!(max_batch));
        }
        if let Some(overlap) = channel.poll_overlap_ms {
            options.insert("poll_overlap_ms".into(), json!(overlap));
        }
        if let Some(timeout) = channel.request_timeout_ms {
            options.insert("request_timeout_ms".into(), json!(timeout));
        }
        if let Some(limit) = channel.rate_limit {
            options.insert("rate_limit".into(), json!(limit.to_string()));
        }
        Ok(ChannelSettings {
            id: self.channel.parse()?,
            kind: omnistock_sim::SIM_KIND.to_string(),
            enabled: true,
            location: "default".to_string(),
            rate_limit: None,
            poll_interval: channel.poll_interval,
            reconcile_interval: channel.reconcile_interval,
            cut_over: None,
            stock_policy: Default::default(),
            mode: channel.mode,
            options: ChannelOptions(options),
        })
    }
}

/// Why a catalog could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("listing on a simulated marketplace: {0}")]
    Sim(#[from] SimActionError),
}

/// Items `skus` with `on_hand` units each at `default`, bound to listing [`listing_of`] on
/// every marketplace, whose sims show `shown` for them. Written in large transactions, so it
/// also suits a catalog of many thousand SKUs written before the daemon starts.
pub async fn list_catalog(
    ledger: &Ledger,
    marketplaces: &[Marketplace],
    skus: &[String],
    on_hand: i64,
    shown: i64,
) -> Result<(), CatalogError> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    for marketplace in marketplaces {
        ledger
            .upsert_channel(&marketplace.channel, omnistock_sim::SIM_KIND)
            .await?;
    }
    for (index, chunk) in skus.chunks(CATALOG_CHUNK).enumerate() {
        let counts: Vec<StockCount> = chunk
            .iter()
            .map(|sku| StockCount {
                sku: sku.clone(),
                location: "default".to_string(),
                on_hand,
            })
            .collect();
        ledger
            .import_counts(
                &counts,
                &format!("catalog-{run}-{index}"),
                Some("testkit"),
                None,
            )
            .await?;
        for marketplace in marketplaces {
            for sku in chunk {
                marketplace
                    .sim
                    .create_listing(Some(&listing_of(sku)), sku, shown)?;
            }
            let bindings: Vec<ListingBinding> = chunk
                .iter()
                .map(|sku| ListingBinding {
                    channel_id: marketplace.channel.clone(),
                    listing_id: listing_of(sku),
                    components: vec![ListingComponent::new(sku, 1)],
                    sync_enabled: None,
                    policy: None,
                    location: None,
                })
                .collect();
            ledger.bind_listings(&bindings).await?;
        }
    }
    Ok(())
}

/// What differs between the marketplaces and the ledger, for people (`market-a shows 7 of
/// DEMO-003, the ledger 6`); empty when every marketplace shows the ledger's availability of
/// every SKU.
pub async fn differences(
    ledger: &Ledger,
    marketplaces: &[Marketplace],
    skus: &[String],
) -> Result<Vec<String>, LedgerError> {
    let mut differences = Vec::new();
    for sku in skus {
        let available = ledger.available(sku).await?.max(0);
        for marketplace in marketplaces {
            let shown = marketplace.sim.shown_quantity(&listing_of(sku));
            if shown != Some(available) {
                let shown = shown.map_or("nothing".to_string(), |shown| shown.to_string());
                differences.push(format!(
                    "{} shows {shown} of {sku}, the ledger {available}",
                    marketplace.channel
                ));
            }
        }
    }
    Ok(differences)
}

/// Waits until [`differences`] is empty; the last differences if `patience` ran out first.
pub async fn wait_converged(
    ledger: &Ledger,
    marketplaces: &[Marketplace],
    skus: &[String],
    patience: Duration,
) -> Result<(), Vec<String>> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        // A ledger busy with a burst may time a read out: that is "not yet", not a failure.
        let differences = differences(ledger, marketplaces, skus)
            .await
            .unwrap_or_else(|error| vec![format!("reading the ledger failed: {error}")]);
        if differences.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(differences);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
