//! A TikTok Shop channel in the daemon, against the documentation-driven fake: orders booked
//! from webhooks (fetched by id through the gateway) and from polling without duplicates, and
//! the shop's quantity kept equal to the ledger's.

use crate::helpers::{spawn_app_with, test_settings, TestApp, TestDatabase};
use crate::sync_world::PATIENCE;
use omnistock::ledger::MovementMeta;
use omnistock::settings::{ChannelOptions, ChannelSettings};
use omnistock_tiktok::fake::spec::specs_dir;
use omnistock_tiktok::fake::{FakeTikTok, Fault, APP_SECRET, ORDER_DETAIL};
use std::time::Duration;

async fn orders_booked(app: &TestApp) -> i64 {
    let (orders,): (i64,) = sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM orders")
        .fetch_one(app.ledger.pool())
        .await
        .unwrap();
    orders
}

/// Waits until the ledger shows `available` for `sku`, the shop shows it for `listing` and
/// `orders` orders are booked.
async fn wait_for(
    app: &TestApp,
    fake: &FakeTikTok,
    sku: &str,
    listing: &str,
    available: i64,
    orders: i64,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let ledger = app.ledger.available(sku).await.unwrap();
        let shown = fake.quantity(listing);
        let booked = orders_booked(app).await;
        if ledger == available && shown == Some(available) && booked == orders {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ledger {ledger}, shop {shown:?}, {booked} orders; expected {available} and {orders} orders; refused by the fake: {:?}",
            fake.refusals()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiktok_shop_books_webhooks_and_polls_once_and_follows_the_ledger() {
    let Some(dir) = specs_dir() else {
        eprintln!("skipped: ../shared/specs/tiktok-shop is absent (set TIKTOK_SPECS_DIR)");
        return;
    };
    let fake = FakeTikTok::start(&dir).await.unwrap();
    let (database, url) = TestDatabase::sqlite();
    let mut settings = test_settings(&url);
    settings.bus.poll_interval_ms = 100;
    settings.channels.push(ChannelSettings {
        id: "tt".parse().unwrap(),
        kind: "tiktok_shop".into(),
        enabled: true,
        location: "default".into(),
        rate_limit: None,
        poll_interval: Some(Duration::from_secs(1)),
        reconcile_interval: None,
        cut_over: None,
        stock_policy: Default::default(),
        mode: Default::default(),
        options: ChannelOptions(fake.channel_options()),
    });
    let app = spawn_app_with(settings, database).await;
    let ledger = app.ledger.clone();
    ledger.upsert_item("TT-RED", "Red").await.unwrap();
    ledger
        .receive("TT-RED", "default", 10, &MovementMeta::new("initial"))
        .await
        .unwrap();
    let listing = fake.create_listing("TT-RED", 10);
    ledger
        .bind_listing("tt", &listing, "TT-RED", 1)
        .await
        .unwrap();

    // An order announced by webhook: booked from the fetched detail.
    let order = fake.place_order(&[(listing.clone(), 2)]).unwrap();
    let (headers, body) = fake.webhook(1, &order, APP_SECRET);
    let client = reqwest::Client::new();
    for _ in 0..2 {
        // The second delivery is TikTok's retry of the same notification.
        let mut request = client.post(app.url("/webhooks/tt")).body(body.clone());
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status().as_u16(),
            200,
            "{:?}",
            response.text().await
        );
    }
    wait_for(&app, &fake, "TT-RED", &listing, 8, 1).await;

    // An order nobody announced: the poll books it.
    fake.place_order(&[(listing.clone(), 1)]).unwrap();
    wait_for(&app, &fake, "TT-RED", &listing, 7, 2).await;

    // The first order is cancelled: the webhook releases its units.
    fake.cancel_order(&order).unwrap();
    let status = fake
        .send_webhook(&app.url("/webhooks/tt"), 11, &order)
        .await
        .unwrap();
    assert_eq!(status, 200);
    wait_for(&app, &fake, "TT-RED", &listing, 9, 2).await;

    // A wrong signature is refused with 401, as the webhook guide asks.
    let (headers, body) = fake.webhook(1, &order, "not_the_secret");
    let mut request = client.post(app.url("/webhooks/tt")).body(body);
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    assert_eq!(request.send().await.unwrap().status().as_u16(), 401);

    // The seller deauthorizes the app: the channel reports it.
    let status = fake
        .send_webhook(&app.url("/webhooks/tt"), 6, "")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("channel_alerts{channel=\"tt\"} 1"),
        "{metrics}"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_token_pair_is_kept_in_the_ledger_across_a_restart() {
    let Some(dir) = specs_dir() else {
        eprintln!("skipped: ../shared/specs/tiktok-shop is absent (set TIKTOK_SPECS_DIR)");
        return;
    };
    let fake = FakeTikTok::start(&dir).await.unwrap();
    let (database, url) = TestDatabase::sqlite();
    let mut settings = test_settings(&url);
    settings.bus.poll_interval_ms = 100;
    let mut options = fake.channel_options();
    // The configured access token expires within the refresh margin: the first call refreshes.
    options.insert(
        "access_token_expire_in".into(),
        (omnistock_tiktok::fake::now() + 60).into(),
    );
    settings.channels.push(ChannelSettings {
        id: "tt".parse().unwrap(),
        kind: "tiktok_shop".into(),
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
    let mut app = spawn_app_with(settings.clone(), database).await;
    app.ledger.upsert_item("TT-BLUE", "Blue").await.unwrap();
    app.ledger
        .receive("TT-BLUE", "default", 4, &MovementMeta::new("initial"))
        .await
        .unwrap();
    let listing = fake.create_listing("TT-BLUE", 0);
    app.ledger
        .bind_listing("tt", &listing, "TT-BLUE", 1)
        .await
        .unwrap();
    wait_for(&app, &fake, "TT-BLUE", &listing, 4, 0).await;
    assert_eq!(fake.token_refreshes(), 1);
    let stored = omnistock_connector::CredentialStore::load(&app.ledger.credentials("tt"))
        .await
        .unwrap();
    assert!(stored.is_some(), "the refreshed pair is in the ledger");

    // A restart with the same settings: the stored pair is used, the retired one never sent.
    let database = std::mem::replace(&mut app.database, TestDatabase::sqlite().0);
    app.stop().await.unwrap();
    let app = spawn_app_with(settings, database).await;
    app.ledger
        .receive("TT-BLUE", "default", 3, &MovementMeta::new("more"))
        .await
        .unwrap();
    wait_for(&app, &fake, "TT-BLUE", &listing, 7, 0).await;
    assert_eq!(fake.token_refreshes(), 1, "no refresh with a retired token");
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
    app.stop().await.unwrap();
}

const ADMIN_TOKEN: &str = "tiktok-admin-token";

/// A TikTok channel without polling (only webhooks book orders), with an admin token.
fn receipt_settings(fake: &FakeTikTok, url: &str) -> omnistock::settings::Settings {
    let mut settings = test_settings(url);
    settings.bus.poll_interval_ms = 100;
    settings.admin.token = Some(omnistock_connector::Secret::new(ADMIN_TOKEN));
    settings.channels.push(ChannelSettings {
        id: "tt".parse().unwrap(),
        kind: "tiktok_shop".into(),
        enabled: true,
        location: "default".into(),
        rate_limit: None,
        poll_interval: None,
        reconcile_interval: None,
        cut_over: None,
        stock_policy: Default::default(),
        mode: Default::default(),
        options: ChannelOptions(fake.channel_options()),
    });
    settings
}

/// Posts a signed webhook; its status, its JSON answer and how long the answer took.
async fn deliver(
    app: &TestApp,
    headers: &std::collections::BTreeMap<String, String>,
    body: &[u8],
) -> (u16, serde_json::Value, Duration) {
    let started = std::time::Instant::now();
    let mut request = reqwest::Client::new()
        .post(app.url("/webhooks/tt"))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let answer = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, answer, started.elapsed())
}

async fn pending_receipts(app: &TestApp) -> i64 {
    let (status, channels) = app.admin_get(ADMIN_TOKEN, "/admin/channels").await;
    assert_eq!(status.as_u16(), 200, "{channels}");
    channels
        .as_array()
        .and_then(|channels| channels.iter().find(|channel| channel["id"] == "tt"))
        .and_then(|channel| channel["pending_webhook_receipts"].as_i64())
        .unwrap()
}

/// TikTok wants an answer within 3 s; the receipt is the answer when the order detail fails.
const ACK_WITHIN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_answered_from_its_durable_receipt_and_booked_once_the_shop_recovers() {
    let Some(dir) = specs_dir() else {
        eprintln!("skipped: ../shared/specs/tiktok-shop is absent (set TIKTOK_SPECS_DIR)");
        return;
    };
    let fake = FakeTikTok::start(&dir).await.unwrap();
    let (database, url) = TestDatabase::sqlite();
    let settings = receipt_settings(&fake, &url);
    let mut app = spawn_app_with(settings.clone(), database).await;
    app.ledger.upsert_item("TT-RED", "Red").await.unwrap();
    app.ledger
        .receive("TT-RED", "default", 10, &MovementMeta::new("initial"))
        .await
        .unwrap();
    let listing = fake.create_listing("TT-RED", 10);
    app.ledger
        .bind_listing("tt", &listing, "TT-RED", 1)
        .await
        .unwrap();

    // The order detail fails: the webhook is still answered 200, fast, from its receipt.
    fake.set_fault(
        ORDER_DETAIL,
        Some(Fault::Error {
            status: 500,
            code: 36_009_003,
        }),
    );
    let order = fake.place_order(&[(listing.clone(), 2)]).unwrap();
    let (headers, body) = fake.webhook(1, &order, APP_SECRET);
    let (status, answer, took) = deliver(&app, &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "received", "{answer}");
    assert!(took < ACK_WITHIN, "answered after {took:?}");
    // TikTok's retry of the same notification stores nothing twice.
    let (status, answer, _) = deliver(&app, &headers, &body).await;
    assert_eq!((status, &answer["status"]), (200, &"received".into()));
    let receipts = app.ledger.webhook_receipts().list().await.unwrap();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(orders_booked(&app).await, 0);
    assert_eq!(pending_receipts(&app).await, 1);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains("webhook_receipts_pending{channel=\"tt\"} 1") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A restart in the middle loses nothing: the receipt is in the ledger.
    let database = std::mem::replace(&mut app.database, TestDatabase::sqlite().0);
    app.stop().await.unwrap();
    let app = spawn_app_with(settings, database).await;
    assert_eq!(pending_receipts(&app).await, 1);
    assert_eq!(orders_booked(&app).await, 0);

    // The order detail answers again: the leader books the order and drops the receipt.
    fake.set_fault(ORDER_DETAIL, None);
    wait_for(&app, &fake, "TT-RED", &listing, 8, 1).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while pending_receipts(&app).await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the receipt stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.ledger.quarantine().list(None).await.unwrap().is_empty());

    // A slow order detail: answered within TikTok's deadline all the same, booked after.
    fake.set_fault(ORDER_DETAIL, Some(Fault::Delay(Duration::from_secs(4))));
    let second = fake.place_order(&[(listing.clone(), 1)]).unwrap();
    let (headers, body) = fake.webhook(1, &second, APP_SECRET);
    let (status, answer, took) = deliver(&app, &headers, &body).await;
    assert_eq!((status, &answer["status"]), (200, &"received".into()));
    assert!(took < ACK_WITHIN, "answered after {took:?}");
    wait_for(&app, &fake, "TT-RED", &listing, 7, 2).await;
    fake.set_fault(ORDER_DETAIL, None);
    // A delivery that books within the budget leaves no receipt behind.
    fake.cancel_order(&order).unwrap();
    let (headers, body) = fake.webhook(11, &order, APP_SECRET);
    let (status, answer, _) = deliver(&app, &headers, &body).await;
    assert_eq!(
        (status, &answer["status"]),
        (200, &"booked".into()),
        "{answer}"
    );
    wait_for(&app, &fake, "TT-RED", &listing, 9, 2).await;
    assert!(app
        .ledger
        .webhook_receipts()
        .list()
        .await
        .unwrap()
        .is_empty());
    assert!(app.ledger.check_invariants().await.unwrap().is_ok());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_shop_refuses_for_good_is_quarantined_and_retried_from_there() {
    let Some(dir) = specs_dir() else {
        eprintln!("skipped: ../shared/specs/tiktok-shop is absent (set TIKTOK_SPECS_DIR)");
        return;
    };
    let fake = FakeTikTok::start(&dir).await.unwrap();
    let (database, url) = TestDatabase::sqlite();
    let app = spawn_app_with(receipt_settings(&fake, &url), database).await;
    app.ledger.upsert_item("TT-RED", "Red").await.unwrap();
    app.ledger
        .receive("TT-RED", "default", 10, &MovementMeta::new("initial"))
        .await
        .unwrap();
    let listing = fake.create_listing("TT-RED", 10);
    app.ledger
        .bind_listing("tt", &listing, "TT-RED", 1)
        .await
        .unwrap();

    // TikTok refuses the order detail with a business error: retrying cannot help.
    fake.set_fault(
        ORDER_DETAIL,
        Some(Fault::Error {
            status: 200,
            code: omnistock_tiktok::fake::INVALID_PARAMETER,
        }),
    );
    let order = fake.place_order(&[(listing.clone(), 3)]).unwrap();
    let (headers, body) = fake.webhook(1, &order, APP_SECRET);
    let (status, answer, _) = deliver(&app, &headers, &body).await;
    assert_eq!((status, &answer["status"]), (200, &"received".into()));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let quarantined = loop {
        let quarantined = app.ledger.quarantine().list(Some("tt")).await.unwrap();
        if !quarantined.is_empty() && pending_receipts(&app).await == 0 {
            break quarantined;
        }
        assert!(tokio::time::Instant::now() < deadline, "not quarantined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(quarantined.len(), 1);
    assert!(
        quarantined[0].error.contains("36009004"),
        "{}",
        quarantined[0].error
    );
    assert_eq!(orders_booked(&app).await, 0);

    // Fixed on TikTok's side: the operator's retry fetches the order and books it.
    fake.set_fault(ORDER_DETAIL, None);
    let (status, answer) = app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/quarantine/{}/retry", quarantined[0].id),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{answer}");
    wait_for(&app, &fake, "TT-RED", &listing, 7, 1).await;
    assert!(app.ledger.quarantine().list(None).await.unwrap().is_empty());

    // An order the shop's answer leaves out is not dropped: its receipt waits, with the reason.
    let (headers, body) = fake.webhook(1, "576000000000000001", APP_SECRET);
    let (status, answer, _) = deliver(&app, &headers, &body).await;
    assert_eq!(
        (status, &answer["status"]),
        (200, &"received".into()),
        "{answer}"
    );
    let receipts = app.ledger.webhook_receipts().list().await.unwrap();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let error = receipts[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("576000000000000001"), "{error}");
    app.stop().await.unwrap();
}
