//! A TikTok Shop channel selling two ledger locations through two TikTok warehouses
//! (`warehouses` mapped): discovery binds one listing per warehouse with its location, each
//! warehouse shows what the policy allows from its location, an order shipped from one
//! warehouse is reserved at its location and lowers only that warehouse, and stock received at
//! one location moves only its warehouse. On SQLite and PostgreSQL.

use crate::helpers::{spawn_app_with, test_settings, TestApp, TestDatabase};
use crate::sync_world::PATIENCE;
use omnistock::ledger::{ListingBinding, ListingComponent, MovementMeta};
use omnistock::ops::discovery::{self, ListingClass};
use omnistock::settings::{ChannelOptions, ChannelSettings};
use omnistock::sync::{ChannelRuntime, Interrupt};
use omnistock_tiktok::fake::spec::specs_dir;
use omnistock_tiktok::fake::FakeTikTok;
use omnistock_tiktok::{TikTokChannelConfig, TikTokConnector};
use std::sync::Arc;
use std::time::Duration;

const SKU: &str = "TT-WH";

/// The fake's settings with W1 → `east` and W2 → `west`.
fn mapped_options(fake: &FakeTikTok) -> serde_json::Map<String, serde_json::Value> {
    let mut options = fake.channel_options();
    options.insert(
        "warehouses".into(),
        serde_json::json!({ "W1": "east", "W2": "west", "W3": "north" }),
    );
    options
}

/// Test settings with the channel `tt` on the fake, its warehouses mapped.
fn mapped_settings(
    fake: &FakeTikTok,
    url: &str,
    poll_interval: Option<Duration>,
) -> omnistock::settings::Settings {
    let mut settings = test_settings(url);
    settings.bus.poll_interval_ms = 100;
    settings.channels.push(ChannelSettings {
        id: "tt".parse().unwrap(),
        kind: "tiktok_shop".into(),
        enabled: true,
        location: "default".into(),
        rate_limit: None,
        poll_interval,
        reconcile_interval: None,
        cut_over: None,
        stock_policy: Default::default(),
        mode: Default::default(),
        options: ChannelOptions(mapped_options(fake)),
    });
    settings
}

/// Stocks the SKU at each `(location, units)`.
async fn stock(app: &TestApp, places: &[(&str, i64)]) {
    app.ledger.upsert_item(SKU, "Two warehouses").await.unwrap();
    for (location, units) in places {
        app.ledger
            .upsert_location(location, location)
            .await
            .unwrap();
        app.ledger
            .receive(
                SKU,
                location,
                *units,
                &MovementMeta::new(format!("initial-{location}")),
            )
            .await
            .unwrap();
    }
}

/// Waits until the shop shows `(W1, W2)` for the SKU's listings.
async fn wait_for_shop(fake: &FakeTikTok, east: &str, west: &str, expected: (i64, i64)) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let shown = (
            fake.quantity(east).unwrap_or(-1),
            fake.quantity(west).unwrap_or(-1),
        );
        if shown == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the shop shows {shown:?}, expected {expected:?}; refused by the fake: {:?}",
            fake.refusals()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the ledger would push now for each listing of the SKU on `tt`, by listing id.
async fn targets(app: &TestApp) -> Vec<(String, i64)> {
    let mut found: Vec<(String, i64)> = app
        .ledger
        .push_targets("tt", &[SKU.to_string()], &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|target| (target.listing_id, target.quantity))
        .collect();
    found.sort();
    found
}

async fn two_warehouses_sell_their_own_locations(database: TestDatabase, url: String) {
    let Some(dir) = specs_dir() else {
        eprintln!("skipped: ../shared/specs/tiktok-shop is absent (set TIKTOK_SPECS_DIR)");
        return;
    };
    let fake = FakeTikTok::start(&dir).await.unwrap();
    let sku_listing = fake
        .create_product(&[(SKU, &[("W1", 0), ("W2", 0), ("W9", 6)])])
        .remove(0);
    let (east, west) = (format!("{sku_listing}:W1"), format!("{sku_listing}:W2"));
    let settings = mapped_settings(&fake, &url, Some(Duration::from_secs(1)));
    let app = spawn_app_with(settings, database).await;
    let ledger = app.ledger.clone();
    stock(&app, &[("east", 10), ("west", 4)]).await;

    // Discovery --apply: one listing per mapped warehouse, each with its location; the
    // unmapped warehouse is not listed and the SKU on two listings is not ambiguous.
    let config: TikTokChannelConfig =
        serde_json::from_value(serde_json::Value::Object(mapped_options(&fake))).unwrap();
    let connector = Arc::new(TikTokConnector::new(config).unwrap());
    let channel = ChannelRuntime::new("tt".into(), connector, "default".into(), None, None);
    let report = discovery::discover(&ledger, &channel, true, Interrupt::never(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            report.count(ListingClass::New),
            report.count(ListingClass::Ambiguous)
        ),
        (2, 0),
        "{report:?}"
    );
    for (listing, location) in [(&east, "east"), (&west, "west")] {
        let bound = ledger.listing("tt", listing).await.unwrap().unwrap();
        assert_eq!(bound.location.as_deref(), Some(location));
    }

    // Each warehouse shows its own location's stock.
    wait_for_shop(&fake, &east, &west, (10, 4)).await;
    let explained =
        omnistock::ops::explain::explain_listings(&ledger, "tt", &Default::default(), SKU)
            .await
            .unwrap();
    let west_rules = explained
        .iter()
        .find(|listing| listing.listing_id == west)
        .map(|listing| serde_json::to_value(&listing.rules).unwrap())
        .unwrap();
    assert_eq!(
        west_rules["locations"],
        serde_json::json!({ "value": ["west"], "from": "listing_warehouse" })
    );

    // An order shipped from W1, found by the poll: reserved at east, only W1 goes down.
    fake.place_order_from("W1", &[(sku_listing.clone(), 3)])
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let east_balance = ledger.balance(SKU, "east").await.unwrap();
        if east_balance.reserved == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reserved at east: {east_balance:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ledger.balance(SKU, "west").await.unwrap().reserved, 0);
    assert_eq!(
        ledger
            .balance(SKU, "default")
            .await
            .map(|b| b.reserved)
            .unwrap_or(0),
        0
    );
    assert_eq!(
        targets(&app).await,
        vec![(east.clone(), 7), (west.clone(), 4)]
    );
    wait_for_shop(&fake, &east, &west, (7, 4)).await;

    // An order from a mapped warehouse whose location the ledger has not met yet (no listing
    // of it is bound): the location is created and the order booked there.
    let other = fake.create_product(&[("TT-NORTH", &[("W3", 4)])]).remove(0);
    let north_order = fake.place_order_from("W3", &[(other, 1)]).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let booked: Option<(String,)> =
            sqlx::query_as("SELECT location FROM orders WHERE external_order_id = $1")
                .bind(&north_order)
                .fetch_optional(ledger.pool())
                .await
                .unwrap();
        if let Some((location,)) = booked {
            assert_eq!(location, "north");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the north order was not booked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Stock received at west moves only W2.
    ledger
        .receive(SKU, "west", 6, &MovementMeta::new("delivery"))
        .await
        .unwrap();
    wait_for_shop(&fake, &east, &west, (7, 10)).await;
    assert_eq!(
        targets(&app).await,
        vec![(east.clone(), 7), (west.clone(), 10)]
    );
    assert_eq!(
        fake.warehouse_quantities(&sku_listing).unwrap()["W9"],
        6,
        "the unmapped warehouse keeps what it holds"
    );
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
    assert!(ledger.check_invariants().await.unwrap().is_ok());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_warehouses_sell_their_own_locations_on_sqlite() {
    let (database, url) = TestDatabase::sqlite();
    two_warehouses_sell_their_own_locations(database, url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_warehouses_sell_their_own_locations_on_postgres() {
    let (database, url) = TestDatabase::postgres().await;
    two_warehouses_sell_their_own_locations(database, url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_refreshes_the_locations_of_listings_bound_without_them() {
    let Some(dir) = specs_dir() else {
        eprintln!("skipped: ../shared/specs/tiktok-shop is absent (set TIKTOK_SPECS_DIR)");
        return;
    };
    let fake = FakeTikTok::start(&dir).await.unwrap();
    let sku_listing = fake
        .create_product(&[(SKU, &[("W1", 0), ("W2", 0)])])
        .remove(0);
    let (east, west) = (format!("{sku_listing}:W1"), format!("{sku_listing}:W2"));
    let (database, url) = TestDatabase::sqlite();
    let settings = mapped_settings(&fake, &url, None);
    let mut app = spawn_app_with(settings.clone(), database).await;
    stock(&app, &[("east", 5), ("west", 2)]).await;
    // Bound without a location (an older omnistock, say): each shows every location's stock.
    let bindings: Vec<ListingBinding> = [&east, &west]
        .into_iter()
        .map(|listing_id| ListingBinding {
            channel_id: "tt".into(),
            listing_id: listing_id.clone(),
            components: vec![ListingComponent::new(SKU, 1)],
            sync_enabled: None,
            policy: None,
            location: None,
        })
        .collect();
    app.ledger.bind_listings(&bindings).await.unwrap();
    wait_for_shop(&fake, &east, &west, (7, 7)).await;

    // The start reads the mapping again: each listing gets its warehouse's location.
    let database = std::mem::replace(&mut app.database, TestDatabase::sqlite().0);
    app.stop().await.unwrap();
    let app = spawn_app_with(settings, database).await;
    let west_listing = app.ledger.listing("tt", &west).await.unwrap().unwrap();
    assert_eq!(west_listing.location.as_deref(), Some("west"));
    wait_for_shop(&fake, &east, &west, (5, 2)).await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_count_from_the_shop_counts_each_warehouse_at_its_location() {
    let Some(dir) = specs_dir() else {
        eprintln!("skipped: ../shared/specs/tiktok-shop is absent (set TIKTOK_SPECS_DIR)");
        return;
    };
    let fake = FakeTikTok::start(&dir).await.unwrap();
    fake.create_product(&[(SKU, &[("W1", 3), ("W2", 5), ("W9", 8)])]);
    let (database, url) = TestDatabase::sqlite();
    let app = spawn_app_with(mapped_settings(&fake, &url, None), database).await;
    app.ledger.upsert_item(SKU, "Two warehouses").await.unwrap();
    for location in ["east", "west"] {
        app.ledger
            .upsert_location(location, location)
            .await
            .unwrap();
    }
    let config: TikTokChannelConfig =
        serde_json::from_value(serde_json::Value::Object(mapped_options(&fake))).unwrap();
    let connector = Arc::new(TikTokConnector::new(config).unwrap());
    let channel = ChannelRuntime::new("tt".into(), connector, "default".into(), None, None);
    let report = omnistock::ops::channel_count::count_from_channel(
        &app.ledger,
        &channel,
        None,
        true,
        Interrupt::never(),
        |_| {},
    )
    .await
    .unwrap();
    let counted: Vec<(String, i64)> = report
        .changes
        .iter()
        .map(|change| (change.location.clone(), change.counted))
        .collect();
    assert_eq!(
        counted,
        vec![("east".to_string(), 3), ("west".to_string(), 5)],
        "each mapped warehouse at its location; the unmapped one is not omnistock's"
    );
    for (location, on_hand) in [("east", 3), ("west", 5), ("default", 0)] {
        let balance = app.ledger.balance(SKU, location).await.unwrap();
        assert_eq!(balance.on_hand, on_hand, "{location}");
    }
    app.stop().await.unwrap();
}
