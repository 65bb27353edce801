//! The daemon behind a Shopify store's traffic (issue 16): what the connector maps and the
//! ledger books when deliveries arrive as a busy store sends them.

use crate::helpers::{spawn_app_with, test_settings, TestApp, TestDatabase};
use omnistock::ledger::MovementMeta;
use omnistock::settings::{ChannelOptions, ChannelSettings};
use omnistock_shopify::fake::{FakeOptions, FakeShopify};
use std::time::Duration;

/// An app with one Shopify channel `shop` on `fake`, webhooks only unless `poll_interval`.
pub async fn shop_app(fake: &FakeShopify, poll_interval: Option<Duration>) -> TestApp {
    let (database, url) = TestDatabase::sqlite();
    let mut settings = test_settings(&url);
    settings.bus.poll_interval_ms = 200;
    settings.channels.push(ChannelSettings {
        id: "shop".parse().unwrap(),
        kind: "shopify".into(),
        enabled: true,
        location: "default".into(),
        rate_limit: None,
        poll_interval,
        reconcile_interval: None,
        cut_over: None,
        stock_policy: Default::default(),
        options: ChannelOptions(fake.channel_options("2025-01")),
    });
    spawn_app_with(settings, database).await
}

/// Waits until the wall clock is early in a second, so that what follows shares one
/// Shopify `updated_at` (one-second precision).
async fn start_of_a_second() {
    loop {
        let millis = chrono::Utc::now().timestamp_subsec_millis();
        if millis < 300 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(u64::from(1005 - millis))).await;
    }
}

/// Two updates of one order in one second, the same status (open: nothing shipped, then 2
/// of 3 shipped), delivered newest first: the older must not un-ship the units.
#[tokio::test]
async fn two_snapshots_in_one_second_never_undo_a_shipment() {
    let fake = FakeShopify::start(FakeOptions::default()).await.unwrap();
    let app = shop_app(&fake, None).await;
    let ledger = app.ledger.clone();
    ledger.upsert_item("SAME-SECOND", "x").await.unwrap();
    ledger
        .receive("SAME-SECOND", "default", 10, &MovementMeta::new("initial"))
        .await
        .unwrap();
    let listing = fake.create_listing("SAME-SECOND", 10);
    ledger
        .bind_listing("shop", &listing, "SAME-SECOND", 1)
        .await
        .unwrap();
    let secret = fake.options().client_secret.clone();

    start_of_a_second().await;
    let order = fake.place_order(&[(listing, 3)]).unwrap();
    let created = fake.webhook(&order, "orders/create", &secret).unwrap();
    let line = fake.line_items(&order).unwrap().remove(0);
    fake.fulfill(&order, &line, 2).unwrap();
    let shipped = fake
        .webhook(&order, "orders/partially_fulfilled", &secret)
        .unwrap();
    let stamp = |delivery: &omnistock_shopify::fake::Delivery| {
        serde_json::from_slice::<serde_json::Value>(&delivery.body).unwrap()["updated_at"].clone()
    };
    assert_eq!(stamp(&created), stamp(&shipped), "one updated_at second");

    let url = app.url("/webhooks/shop");
    assert_eq!(fake.send_webhook(&url, &shipped).await.unwrap(), 200);
    let balance = ledger.balance("SAME-SECOND", "default").await.unwrap();
    assert_eq!((balance.on_hand, balance.reserved), (8, 1));
    assert_eq!(fake.send_webhook(&url, &created).await.unwrap(), 200);
    let balance = ledger.balance("SAME-SECOND", "default").await.unwrap();
    assert_eq!(
        (balance.on_hand, balance.reserved),
        (8, 1),
        "the older snapshot of the same second un-shipped units"
    );
}
