//! The admin API on both set-ups: Bearer token, item view with what each channel should show
//! and confirmed, stock adjustments and transfers (idempotent, journaled), the paged journal.

use crate::helpers::{spawn_app_with, test_settings, TestApp, TestDatabase};
use omnistock::ledger::{ListingComponent, MovementMeta};
use omnistock::policy::StockPolicy;
use omnistock::settings::{ChannelOptions, ChannelSettings};
use omnistock_connector::Secret;
use omnistock_sim::{SimHandle, SimOptions, SimServer};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use std::time::Duration;

const TOKEN: &str = "admin-token-for-tests";

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(false).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(true).await;
                }
            )*
        }
    };
}

both_backends!(
    admin_requires_the_bearer_token,
    item_shows_stock_reservations_and_each_channel,
    adjustments_are_idempotent_and_journaled,
    transfers_move_stock_once,
    a_key_sent_again_with_another_request_is_a_conflict,
    bad_requests_name_the_field,
    movements_are_paged,
);

/// An app with the admin token and one sim channel `shop` whose policy caps listings at 4.
async fn spawn(postgres: bool) -> (TestApp, SimHandle) {
    let sim = SimServer::start(SimOptions::for_tests()).await.unwrap();
    let (database, url) = if postgres {
        TestDatabase::postgres().await
    } else {
        TestDatabase::sqlite()
    };
    let mut settings = test_settings(&url);
    settings.admin.token = Some(Secret::new(TOKEN));
    let mut options = Map::new();
    options.insert("base_url".into(), json!(sim.base_url()));
    options.insert("api_token".into(), json!(sim.api_token().expose()));
    options.insert(
        "webhook_secret".into(),
        json!(sim.webhook_secret().expose()),
    );
    settings.channels.push(ChannelSettings {
        id: "shop".parse().unwrap(),
        kind: "sim".into(),
        enabled: true,
        location: "default".into(),
        rate_limit: None,
        poll_interval: None,
        reconcile_interval: None,
        cut_over: None,
        stock_policy: StockPolicy {
            max_quantity: Some(4),
            ..StockPolicy::default()
        },
        mode: Default::default(),
        options: ChannelOptions(options),
    });
    let app = spawn_app_with(settings, database).await;
    app.ledger.upsert_item("A", "Item A").await.unwrap();
    app.ledger.upsert_item("B", "Item B").await.unwrap();
    app.ledger.upsert_location("east", "East").await.unwrap();
    (app, sim)
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    app.admin_get(TOKEN, path).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    app.admin_post(TOKEN, path, body).await
}

async fn admin_requires_the_bearer_token(postgres: bool) {
    let (app, _sim) = spawn(postgres).await;
    let without = app.get("/admin/items/A").await;
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    let wrong = app
        .client
        .post(app.url("/admin/stock/adjustments"))
        .bearer_auth("not-the-token")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.unwrap();
    assert!(!body.to_string().contains(TOKEN));
    assert_eq!(get(&app, "/admin/items/A").await.0, StatusCode::OK);
}

async fn item_shows_stock_reservations_and_each_channel(postgres: bool) {
    let (app, sim) = spawn(postgres).await;
    sim.create_listing(Some("L-A"), "A", 0).unwrap();
    sim.create_listing(Some("L-KIT"), "KIT", 0).unwrap();
    let ledger = &app.ledger;
    ledger.bind_listing("shop", "L-A", "A", 1).await.unwrap();
    ledger
        .bind_bundle(
            "shop",
            "L-KIT",
            &[ListingComponent::new("A", 1), ListingComponent::new("B", 1)],
        )
        .await
        .unwrap();
    ledger
        .receive("A", "default", 10, &MovementMeta::new("r1"))
        .await
        .unwrap();
    ledger
        .receive("A", "east", 1, &MovementMeta::new("r2"))
        .await
        .unwrap();
    ledger
        .receive("B", "default", 2, &MovementMeta::new("r3"))
        .await
        .unwrap();
    let event = omnistock_connector::OrderEvent {
        external_order_id: "o-1".into(),
        delivery_id: None,
        status: omnistock_connector::OrderStatus::Open,
        updated_at: chrono::Utc::now(),
        created_at: None,
        currency: None,
        total_minor: None,
        location: None,
        lines: vec![omnistock_connector::OrderLine {
            line_id: "1".into(),
            listing_id: Some("L-A".into()),
            sku: None,
            quantity: 3,
            cancelled_quantity: 0,
            fulfilled_quantity: 0,
            returned_quantity: 0,
            unit_price_minor: None,
        }],
    };
    ledger.book_order("shop", "default", &event).await.unwrap();
    // The push path applies the channel's policy: A shows min(8, 4), the kit min(8, 2).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while (sim.shown_quantity("L-A"), sim.shown_quantity("L-KIT")) != (Some(4), Some(2)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            sim.listings()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, item) = get(&app, "/admin/items/A").await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["available"], 8);
    assert_eq!(
        item["balances"],
        json!([
            {"location": "default", "on_hand": 10, "reserved": 3, "available": 7},
            {"location": "east", "on_hand": 1, "reserved": 0, "available": 1},
        ])
    );
    assert_eq!(item["reservations"][0]["external_order_id"], "o-1");
    assert_eq!(item["reservations"][0]["quantity"], 3);
    assert_eq!(item["channels"][0]["channel"], "shop");
    let mut listings = item["channels"][0]["listings"].as_array().unwrap().clone();
    // last_confirmed is recorded right after the sim answers; wait for it too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listings.iter().any(|l| l["last_confirmed"].is_null()) {
        assert!(tokio::time::Instant::now() < deadline, "{listings:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        listings = get(&app, "/admin/items/A").await.1["channels"][0]["listings"]
            .as_array()
            .unwrap()
            .clone();
    }
    assert_eq!(
        listings,
        vec![
            json!({"listing_id": "L-A", "should_show": 4, "last_confirmed": 4}),
            json!({"listing_id": "L-KIT", "should_show": 2, "last_confirmed": 2}),
        ]
    );
    let (status, missing) = get(&app, "/admin/items/NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing["error"].as_str().unwrap().contains("NOPE"));
}

async fn adjustments_are_idempotent_and_journaled(postgres: bool) {
    let (app, _sim) = spawn(postgres).await;
    let body = json!({
        "sku": "A", "location": "default", "delta": 5,
        "actor": "dana", "reason": "found a box", "idempotency_key": "adj-1"
    });
    let (status, first) = post(&app, "/admin/stock/adjustments", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["applied"], true);
    assert_eq!(first["balance"]["on_hand"], 5);
    let (status, again) = post(&app, "/admin/stock/adjustments", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["applied"], false);
    assert_eq!(again["balance"]["on_hand"], 5);
    // The key may come as a header instead.
    let counted = app
        .client
        .post(app.url("/admin/stock/adjustments"))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "count-1")
        .json(&json!({
            "sku": "A", "location": "default", "counted": 2,
            "actor": "dana", "reason": "stock-take"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(counted.status(), StatusCode::CREATED);
    assert_eq!(app.ledger.balance("A", "default").await.unwrap().on_hand, 2);
    let journal = app.ledger.movements("A", 0, 10).await.unwrap();
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0].actor.as_deref(), Some("dana"));
    assert_eq!(journal[0].note.as_deref(), Some("found a box"));
    assert_eq!(journal[1].reason.as_str(), "count");
    assert_eq!(journal[1].on_hand_delta, -3);
    // Taking on hand below zero is refused, naming the stock.
    let (status, refused) = post(
        &app,
        "/admin/stock/adjustments",
        json!({"sku": "A", "location": "default", "delta": -9,
               "actor": "dana", "reason": "lost", "idempotency_key": "adj-2"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(app.ledger.check_invariants().await.unwrap().is_ok());
}

async fn transfers_move_stock_once(postgres: bool) {
    let (app, _sim) = spawn(postgres).await;
    app.ledger
        .receive("A", "default", 6, &MovementMeta::new("r"))
        .await
        .unwrap();
    let body = json!({
        "sku": "A", "from": "default", "to": "east", "quantity": 4,
        "actor": "erin", "reason": "rebalance", "idempotency_key": "t-1"
    });
    let (status, moved) = post(&app, "/admin/stock/transfers", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    assert_eq!(moved["from"]["on_hand"], 2);
    assert_eq!(moved["to"]["on_hand"], 4);
    let (status, replay) = post(&app, "/admin/stock/transfers", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replay["applied"], false);
    assert_eq!(app.ledger.balance("A", "east").await.unwrap().on_hand, 4);
    let (status, too_much) = post(
        &app,
        "/admin/stock/transfers",
        json!({"sku": "A", "from": "default", "to": "east", "quantity": 3,
               "actor": "erin", "reason": "x", "idempotency_key": "t-2"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{too_much}");
    let (status, unknown) = post(
        &app,
        "/admin/stock/transfers",
        json!({"sku": "A", "from": "default", "to": "moon", "quantity": 1,
               "actor": "erin", "reason": "x", "idempotency_key": "t-3"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown["field"], "to");
    assert!(app.ledger.check_invariants().await.unwrap().is_ok());
}

async fn a_key_sent_again_with_another_request_is_a_conflict(postgres: bool) {
    let (app, _sim) = spawn(postgres).await;
    let adjustment = json!({
        "sku": "A", "location": "default", "delta": 5,
        "actor": "dana", "reason": "found a box", "idempotency_key": "k-1"
    });
    let (status, first) = post(&app, "/admin/stock/adjustments", adjustment.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // The same request again is the original answer, applied once.
    let (status, again) = post(&app, "/admin/stock/adjustments", adjustment.clone()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["applied"], false);
    // The same key with anything else different is refused, naming the key.
    for (field, value) in [
        ("delta", json!(6)),
        ("sku", json!("B")),
        ("location", json!("east")),
        ("reason", json!("lost")),
        ("actor", json!("erin")),
    ] {
        let (status, refused) = post(
            &app,
            "/admin/stock/adjustments",
            with(&adjustment, field, value),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{field}: {refused}");
        let reason = refused["error"].as_str().unwrap();
        assert!(
            reason.contains("\"k-1\"") && reason.contains("different request"),
            "{reason}"
        );
    }
    let stock_take = json!({"sku": "A", "location": "default", "counted": 5,
                            "actor": "dana", "reason": "found a box", "idempotency_key": "k-1"});
    let (status, _) = post(&app, "/admin/stock/adjustments", stock_take).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = post(
        &app,
        "/admin/stock/transfers",
        json!({"sku": "A", "from": "default", "to": "east", "quantity": 1,
               "actor": "dana", "reason": "found a box", "idempotency_key": "k-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let transfer = json!({"sku": "A", "from": "default", "to": "east", "quantity": 2,
                          "actor": "erin", "reason": "rebalance", "idempotency_key": "t-1"});
    let (status, moved) = post(&app, "/admin/stock/transfers", transfer.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    let (status, replay) = post(&app, "/admin/stock/transfers", transfer.clone()).await;
    assert_eq!(status, StatusCode::OK, "{replay}");
    let (status, _) = post(
        &app,
        "/admin/stock/transfers",
        with(&transfer, "quantity", json!(3)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The transfer's incoming movement is journaled under `<key>:in`; that key is taken too.
    let (status, _) = post(
        &app,
        "/admin/stock/adjustments",
        json!({"sku": "A", "location": "east", "delta": 2,
               "actor": "erin", "reason": "rebalance", "idempotency_key": "t-1:in"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    assert_eq!(app.ledger.balance("A", "default").await.unwrap().on_hand, 3);
    assert_eq!(app.ledger.balance("A", "east").await.unwrap().on_hand, 2);
    assert_eq!(app.ledger.movements("A", 0, 10).await.unwrap().len(), 3);
    assert!(app.ledger.check_invariants().await.unwrap().is_ok());
}

async fn bad_requests_name_the_field(postgres: bool) {
    let (app, _sim) = spawn(postgres).await;
    let base = json!({"sku": "A", "location": "default", "delta": 1,
                      "actor": "f", "reason": "r", "idempotency_key": "k"});
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"location": "default", "delta": 1, "actor": "f", "reason": "r",
                "idempotency_key": "k"}),
            StatusCode::BAD_REQUEST,
            "sku",
        ),
        (
            with(&base, "delta", json!("five")),
            StatusCode::BAD_REQUEST,
            "delta",
        ),
        (
            with(&base, "delta", json!(0)),
            StatusCode::BAD_REQUEST,
            "delta",
        ),
        (
            with(&base, "actor", json!(" ")),
            StatusCode::BAD_REQUEST,
            "actor",
        ),
        (
            without(&base, "idempotency_key"),
            StatusCode::BAD_REQUEST,
            "idempotency_key",
        ),
        (without(&base, "delta"), StatusCode::BAD_REQUEST, "delta"),
        (
            with(&base, "counted", json!(3)),
            StatusCode::BAD_REQUEST,
            "counted",
        ),
        (
            with(&base, "location", json!("moon")),
            StatusCode::BAD_REQUEST,
            "location",
        ),
        (
            with(&base, "colour", json!("red")),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (with(&base, "sku", json!("NOPE")), StatusCode::NOT_FOUND, ""),
    ];
    for (body, expected, field) in cases {
        let (status, answer) = post(&app, "/admin/stock/adjustments", body.clone()).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        if !field.is_empty() {
            assert_eq!(answer["field"], field, "{body} -> {answer}");
        }
        assert!(answer["error"].is_string(), "{answer}");
    }
    let (status, _) = get(&app, "/admin/items/A/movements?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, answer) = get(&app, "/admin/items/A/movements?after=x").await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("after"))
    );
}

fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut body = base.clone();
    body[key] = value;
    body
}

fn without(base: &Value, key: &str) -> Value {
    let mut body = base.clone();
    body.as_object_mut().unwrap().remove(key);
    body
}

async fn movements_are_paged(postgres: bool) {
    let (app, _sim) = spawn(postgres).await;
    for index in 0..5 {
        app.ledger
            .receive("A", "default", 1, &MovementMeta::new(format!("r{index}")))
            .await
            .unwrap();
    }
    let (status, first) = get(&app, "/admin/items/A/movements?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["movements"].as_array().unwrap().len(), 2);
    let mut seen = 2;
    let mut after = first["next_after"].as_i64().unwrap();
    loop {
        let (_, page) = get(
            &app,
            &format!("/admin/items/A/movements?limit=2&after={after}"),
        )
        .await;
        seen += page["movements"].as_array().unwrap().len();
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seen, 5);
    assert_eq!(first["movements"][0]["reason"], "receive");
    assert_eq!(
        get(&app, "/admin/items/NOPE/movements").await.0,
        StatusCode::NOT_FOUND
    );
}
