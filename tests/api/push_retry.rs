//! The push path pushes again the listings a channel refused *for now* (a stale
//! compare-and-set value, say), with a fresh quantity, instead of leaving them wrong until the
//! next stock change.

use crate::helpers::TestDatabase;
use async_trait::async_trait;
use omnistock::bus::{Bus, BusConfig};
use omnistock::ledger::{Ledger, MovementMeta};
use omnistock::metrics::Metrics;
use omnistock::sync::{ChannelPusher, ChannelRuntime};
use omnistock_connector::{
    Capabilities, Connector, ConnectorError, OrderEvent, OrderPage, PushResult, StockLevel,
    WebhookError, WebhookRequest,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a scripted channel answers its `n`th stock call (from 0).
pub(crate) type Answer = fn(usize, &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError>;

/// A channel that answers stock calls as its script says and records them.
pub(crate) struct Scripted {
    answer: Answer,
    /// How long each stock call takes (a slow or rate-limited platform).
    call_time: Duration,
    max_batch: usize,
    pub(crate) calls: Mutex<Vec<Vec<StockLevel>>>,
}

impl Scripted {
    pub(crate) fn new(answer: Answer) -> Self {
        Self {
            answer,
            call_time: Duration::ZERO,
            max_batch: 10,
            calls: Mutex::default(),
        }
    }

    /// Each stock call takes `call_time` and carries at most `max_batch` listings.
    pub(crate) fn slow(answer: Answer, call_time: Duration, max_batch: usize) -> Self {
        Self {
            call_time,
            max_batch,
            ..Self::new(answer)
        }
    }
}

pub(crate) fn confirm_all(levels: &[StockLevel]) -> Vec<PushResult> {
    levels
        .iter()
        .map(|level| PushResult::Confirmed {
            listing_id: level.listing_id.clone(),
            quantity: level.quantity,
        })
        .collect()
}

/// Refuses each listing's first update as stale, then accepts.
fn refuses_first_update(
    call: usize,
    levels: &[StockLevel],
) -> Result<Vec<PushResult>, ConnectorError> {
    if call > 0 {
        return Ok(confirm_all(levels));
    }
    Ok(levels
        .iter()
        .map(|level| PushResult::Rejected {
            listing_id: level.listing_id.clone(),
            error: ConnectorError::transient("compare quantity is stale"),
        })
        .collect())
}

/// Fails its first call for a reason no retry fixes (revoked credentials, say), then works
/// again once the operator fixed it.
fn fails_first_call(call: usize, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
    if call == 0 {
        return Err(ConnectorError::Configuration("token revoked".into()));
    }
    Ok(confirm_all(levels))
}

#[async_trait]
impl Connector for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhooks: false,
            polling: false,
            max_stock_batch: self.max_batch,
            rate_limit: None,
            compare_and_set: true,
        }
    }

    async fn pull_orders(&self, _cursor: Option<&str>) -> Result<OrderPage, ConnectorError> {
        Err(ConnectorError::Permanent("not used".into()))
    }

    fn parse_webhook(
        &self,
        _request: &WebhookRequest<'_>,
    ) -> Result<Vec<OrderEvent>, WebhookError> {
        Err(WebhookError::Malformed("not used".into()))
    }

    async fn push_stock(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
        tokio::time::sleep(self.call_time).await;
        let mut calls = self.calls.lock().unwrap();
        calls.push(levels.to_vec());
        (self.answer)(calls.len() - 1, levels)
    }

    async fn read_stock(&self, _listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError> {
        Ok(Vec::new())
    }
}

/// A fresh SQLite ledger with 7 mugs, listed as `mug-1` on the channel `shop`.
async fn seven_mugs_listed_on_shop() -> (TestDatabase, Ledger) {
    let (database, url) = TestDatabase::sqlite();
    let ledger = Ledger::connect(&url).await.unwrap();
    ledger.migrate().await.unwrap();
    ledger.upsert_channel("shop", "scripted").await.unwrap();
    ledger.upsert_item("MUG", "Mug").await.unwrap();
    ledger
        .receive("MUG", "default", 7, &MovementMeta::new("initial"))
        .await
        .unwrap();
    ledger
        .bind_listing("shop", "mug-1", "MUG", 1)
        .await
        .unwrap();
    (database, ledger)
}

#[tokio::test]
async fn a_listing_refused_for_now_is_pushed_again_and_recorded() {
    let (_database, ledger) = seven_mugs_listed_on_shop().await;

    let connector = Arc::new(Scripted::new(refuses_first_update));
    let channel = ChannelRuntime::new(
        "shop".into(),
        connector.clone(),
        "default".into(),
        None,
        None,
    );
    let pusher = ChannelPusher::new(channel, ledger.clone(), Metrics::new());
    let report = pusher.push_skus(&["MUG".to_string()]).await.unwrap();

    assert_eq!(report.rejected, 1);
    assert_eq!(report.confirmed, 1);
    assert!(report.retry_skus.is_empty());
    assert_eq!(connector.calls.lock().unwrap().len(), 2);
    let listing = ledger.listing("shop", "mug-1").await.unwrap().unwrap();
    assert_eq!(listing.last_pushed_quantity, Some(7));
}

#[tokio::test]
async fn a_failed_start_up_sweep_is_tried_again_without_any_stock_message() {
    let (_database, ledger) = seven_mugs_listed_on_shop().await;
    let connector = Arc::new(Scripted::new(fails_first_call));
    let pusher = RunningPusher::start(&ledger, connector.clone()).await;

    // Nothing is published: only a second sweep can bring the listing in step.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listing = ledger.listing("shop", "mug-1").await.unwrap().unwrap();
        if listing.last_pushed_quantity == Some(7) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failed sweep was not tried again: {} call(s)",
            connector.calls.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(connector.calls.lock().unwrap().len(), 2);
    pusher.stop().await;
}

/// The pusher of the channel `shop` (on the database bus of the ledger's database), running.
pub(crate) struct RunningPusher {
    pub(crate) bus: Bus,
    pub(crate) metrics: Metrics,
    /// The channel's controls, with the activity its status shows.
    pub(crate) control: omnistock::sync::ChannelControl,
    stop: tokio::sync::watch::Sender<bool>,
    running: tokio::task::JoinHandle<()>,
}

impl RunningPusher {
    pub(crate) async fn start(ledger: &Ledger, connector: Arc<Scripted>) -> Self {
        let bus = Bus::connect(&BusConfig::default(), ledger.pool())
            .await
            .unwrap();
        bus.ensure_channel_queue("shop").await.unwrap();
        let consumer = bus.consume("shop").await.unwrap();
        let channel = ChannelRuntime::new("shop".into(), connector, "default".into(), None, None);
        let metrics = Metrics::new();
        let control = channel.control.clone();
        let pusher = ChannelPusher::new(channel, ledger.clone(), metrics.clone());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(pusher.run(consumer, stopped));
        Self {
            bus,
            metrics,
            control,
            stop,
            running,
        }
    }

    pub(crate) async fn stop(self) {
        self.stop.send(true).unwrap();
        self.running.await.unwrap();
    }
}
