//! Amazon `ORDER_CHANGE` notifications through the seller's SQS queue (a local `moto_server`;
//! skipped, saying so, where moto is not installed — CI installs it), booked by the daemon:
//! a duplicate delivery books once, an older notification after a newer one rolls nothing
//! back, an unreadable message stays in the queue for its redrive policy, and a message whose
//! acknowledgement was lost after its booking comes back and is still booked once.

use crate::helpers::{spawn_app_with, test_settings, TestDatabase};
use crate::sync_world::PATIENCE;
use async_trait::async_trait;
use omnistock::ledger::{Ledger, ListingBinding, ListingComponent, StockCount};
use omnistock::metrics::Metrics;
use omnistock::settings::{ChannelOptions, ChannelSettings};
use omnistock::sync::notifications::{receive_once, NotificationError};
use omnistock::sync::{ChannelRuntime, Intake};
use omnistock_amazon::fake::sqs::{order_change, LocalSqs};
use omnistock_amazon::fake::{FakeError, FakeOptions, FakeSpApi};
use omnistock_amazon::{AmazonChannelConfig, AmazonConnector};
use omnistock_connector::{
    Capabilities, Connector, ConnectorError, NotificationBatch, OrderEvent, OrderPage, PushResult,
    StockLevel, WebhookError, WebhookRequest,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SKU: &str = "AMZ-NOTIFIED";
const ORDER: &str = "302-7777777-0000001";

/// A ledger with 5 of [`SKU`] on hand, listed on channel `amazon` under the same id.
async fn stocked_ledger(url: &str) -> Ledger {
    let ledger = Ledger::connect(url).await.unwrap();
    ledger.migrate().await.unwrap();
    ledger.upsert_channel("amazon", "amazon").await.unwrap();
    let count = StockCount {
        sku: SKU.to_string(),
        location: "default".to_string(),
        on_hand: 5,
    };
    ledger
        .import_counts(&[count], "count", None, None)
        .await
        .unwrap();
    ledger
        .bind_listings(&[ListingBinding {
            channel_id: "amazon".to_string(),
            listing_id: SKU.to_string(),
            components: vec![ListingComponent {
                sku: SKU.to_string(),
                quantity: 1,
            }],
            sync_enabled: None,
            policy: None,
            location: None,
        }])
        .await
        .unwrap();
    ledger
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notified_orders_book_once_never_roll_back_and_unreadable_messages_stay() {
    let Some(sqs) = LocalSqs::start() else { return };
    let fake = match FakeSpApi::start(FakeOptions::default()).await {
        Ok(fake) => fake,
        Err(FakeError::SpecsMissing(reason)) => {
            eprintln!("skipped: the fake SP-API needs Amazon's models ({reason})");
            return;
        }
        Err(error) => panic!("{error}"),
    };
    fake.create_listing(SKU, 5);
    let queue = sqs.create_queue("amazon-orders", 2).await;
    sqs.send(&queue, "this is no notification").await;

    let (database, url) = TestDatabase::sqlite();
    let ledger = stocked_ledger(&url).await;
    let mut options = fake.channel_options();
    options.insert("notifications".into(), sqs.queue_settings(&queue, 2));
    let mut settings = test_settings(&url);
    settings.channels.push(ChannelSettings {
        id: "amazon".parse().unwrap(),
        kind: "amazon".into(),
        enabled: true,
        location: "default".into(),
        rate_limit: None,
        poll_interval: None,
        reconcile_interval: None,
        cut_over: None,
        stock_policy: Default::default(),
        mode: Default::default(),
        options: ChannelOptions(options),
    });
    let app = spawn_app_with(settings, database).await;

    let placed = order_change(
        "n-1",
        ORDER,
        "Unshipped",
        SKU,
        2,
        "2026-12-07T10:00:00.000Z",
    );
    sqs.send(&queue, &placed).await;
    wait_for("the notified order's reservation", async || {
        ledger.available(SKU).await.unwrap() == 3
    })
    .await;

    // The same notification delivered again, then the cancellation, then an older state.
    sqs.send(&queue, &placed).await;
    let cancelled = order_change("n-2", ORDER, "Canceled", SKU, 2, "2026-12-07T10:05:00.000Z");
    sqs.send(&queue, &cancelled).await;
    wait_for("the cancellation", async || {
        ledger.available(SKU).await.unwrap() == 5
    })
    .await;
    let older = order_change(
        "n-0",
        ORDER,
        "Unshipped",
        SKU,
        2,
        "2026-12-07T09:59:00.000Z",
    );
    sqs.send(&queue, &older).await;

    // Everything readable is booked and deleted; the unreadable message stays.
    wait_for("the readable messages' deletion", async || {
        sqs.messages_left(&queue).await == 1
    })
    .await;
    assert_eq!(
        ledger.available(SKU).await.unwrap(),
        5,
        "an older notification after a newer one rolls nothing back"
    );
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"omnistock_queue_notifications_total{channel="amazon",outcome="unreadable"}"#
        ),
        "{metrics}"
    );
    app.stop().await.unwrap();
    assert_eq!(
        sqs.messages_left(&queue).await,
        1,
        "the unreadable message is never deleted"
    );
}

/// The Amazon connector, whose first acknowledgement is lost (as when the process dies
/// between the booking and the delete).
struct LosesFirstAck {
    inner: AmazonConnector,
    acknowledgements: AtomicUsize,
}

#[async_trait]
impl Connector for LosesFirstAck {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn pull_orders(&self, cursor: Option<&str>) -> Result<OrderPage, ConnectorError> {
        self.inner.pull_orders(cursor).await
    }
    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<Vec<OrderEvent>, WebhookError> {
        self.inner.parse_webhook(request)
    }
    async fn push_stock(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
        self.inner.push_stock(levels).await
    }
    async fn read_stock(&self, listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError> {
        self.inner.read_stock(listing_ids).await
    }
    fn has_notification_queue(&self) -> bool {
        self.inner.has_notification_queue()
    }
    async fn receive_notifications(&self) -> Result<NotificationBatch, ConnectorError> {
        self.inner.receive_notifications().await
    }
    async fn acknowledge_notifications(&self, receipts: &[String]) -> Result<(), ConnectorError> {
        if self.acknowledgements.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(ConnectorError::transient("connection reset (injected)"));
        }
        self.inner.acknowledge_notifications(receipts).await
    }
}

#[tokio::test]
async fn a_booking_whose_acknowledgement_was_lost_is_delivered_again_and_booked_once() {
    let Some(sqs) = LocalSqs::start() else { return };
    let queue = sqs.create_queue("amazon-orders-lost-ack", 1).await;
    let (_database, url) = TestDatabase::sqlite();
    let ledger = stocked_ledger(&url).await;
    let config: AmazonChannelConfig = serde_json::from_value(serde_json::json!({
        "region": "EU",
        "marketplace_ids": ["A1PA6795UKMFR9"],
        "seller_id": "A2FAKESELLER",
        "client_id": "amzn1.application-oa2-client.test",
        "client_secret": "secret",
        "refresh_token": "Atzr|test",
        "api_origin": "http://127.0.0.1:9",
        "notifications": sqs.queue_settings(&queue, 1),
    }))
    .unwrap();
    let connector = Arc::new(LosesFirstAck {
        inner: AmazonConnector::new(config).unwrap(),
        acknowledgements: AtomicUsize::new(0),
    });
    let channel = ChannelRuntime::new(
        "amazon".into(),
        connector.clone(),
        "default".into(),
        None,
        None,
    );
    let metrics = Metrics::new();
    let intake = Intake::new(ledger.clone(), metrics.clone(), 1);
    sqs.send(
        &queue,
        &order_change(
            "n-9",
            ORDER,
            "Unshipped",
            SKU,
            2,
            "2026-12-07T10:00:00.000Z",
        ),
    )
    .await;

    // Booked, but the delete is lost: the message stays.
    let mut first = receive_once(&channel, &intake, &metrics).await;
    while matches!(&first, Ok(report) if report.received == 0) {
        first = receive_once(&channel, &intake, &metrics).await;
    }
    assert!(
        matches!(first, Err(NotificationError::Acknowledge(_))),
        "{first:?}"
    );
    assert_eq!(
        ledger.available(SKU).await.unwrap(),
        3,
        "booked before the acknowledgement"
    );
    assert_eq!(sqs.messages_left(&queue).await, 1);

    // Delivered again after its visibility timeout: booked as the duplicate it is, deleted.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut again = receive_once(&channel, &intake, &metrics).await.unwrap();
    while again.received == 0 {
        again = receive_once(&channel, &intake, &metrics).await.unwrap();
    }
    assert_eq!((again.booked, again.acknowledged), (1, 1), "{again:?}");
    assert_eq!(ledger.available(SKU).await.unwrap(), 3, "booked once");
    assert_eq!(sqs.messages_left(&queue).await, 0);
}
