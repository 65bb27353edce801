//! An Amazon channel in the daemon, against the fake SP-API (which validates every request
//! against Amazon's official models): the start-up sweep of a catalog goes as one
//! `JSON_LISTINGS_FEED`, in flight until its report confirms the listings; live changes then go
//! by `patchListingsItem`; merchant-fulfilled orders are booked by polling and move the stock,
//! FBA orders are recorded without touching it. The sweep's time is printed (README,
//! "Connecting Amazon"); `OMNISTOCK_AMAZON_SWEEP_SKUS` sets the catalog's size (2,000).

use crate::helpers::{spawn_app_with, test_settings, TestDatabase};
use crate::sync_world::PATIENCE;
use omnistock::ledger::{Ledger, ListingBinding, ListingComponent, MovementMeta, StockCount};
use omnistock::settings::{ChannelOptions, ChannelSettings};
use omnistock_amazon::fake::{FakeError, FakeOptions, FakeSpApi};
use std::time::{Duration, Instant};

fn sku(index: usize) -> String {
    format!("AMZ-{index:05}")
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_catalog_is_swept_by_one_feed_then_changes_go_by_patch_and_orders_by_polling() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let skus: usize = std::env::var("OMNISTOCK_AMAZON_SWEEP_SKUS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2_000);
    let fake = match FakeSpApi::start(FakeOptions {
        feed_processing: Duration::from_millis(500),
        ..FakeOptions::default()
    })
    .await
    {
        Ok(fake) => fake,
        Err(FakeError::SpecsMissing(reason)) => {
            eprintln!("skipped: the fake SP-API needs Amazon's models ({reason})");
            return;
        }
        Err(error) => panic!("{error}"),
    };
    let (database, url) = TestDatabase::sqlite();
    let ledger = Ledger::connect(&url).await.unwrap();
    ledger.migrate().await.unwrap();
    ledger.upsert_channel("amazon", "amazon").await.unwrap();
    let counts: Vec<StockCount> = (0..skus)
        .map(|index| StockCount {
            sku: sku(index),
            location: "default".to_string(),
            on_hand: 5,
        })
        .collect();
    ledger
        .import_counts(&counts, "catalog", None, None)
        .await
        .unwrap();
    let bindings: Vec<ListingBinding> = (0..skus)
        .map(|index| {
            fake.create_listing(&sku(index), 0);
            ListingBinding {
                channel_id: "amazon".to_string(),
                listing_id: sku(index),
                components: vec![ListingComponent {
                    sku: sku(index),
                    quantity: 1,
                }],
                sync_enabled: None,
                policy: None,
                location: None,
            }
        })
        .collect();
    ledger.bind_listings(&bindings).await.unwrap();
    fake.create_fba_listing("FBA-ONLY");
    // The catalog was counted long before the Amazon channel was connected: its stock changes
    // were relayed then and reached no Amazon queue, so the channel starts from its sweep.
    sqlx::query("DELETE FROM outbox")
        .execute(ledger.pool())
        .await
        .unwrap();

    let mut settings = test_settings(&url);
    settings.bus.poll_interval_ms = 100;
    settings.channels.push(ChannelSettings {
        id: "amazon".parse().unwrap(),
        kind: "amazon".into(),
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
    let started = Instant::now();
    let app = spawn_app_with(settings, database).await;
    let last = sku(skus - 1);
    // Reading the catalog's pages takes about 3 ms a SKU in a debug build.
    let deadline = Instant::now() + PATIENCE + Duration::from_millis(5 * skus as u64);
    while !(fake.quantity(&sku(0)) == Some(5) && fake.quantity(&last) == Some(5)) {
        assert!(
            Instant::now() < deadline,
            "the start-up sweep did not converge: feeds {:?}, createFeed {}, getFeed {}, patches {}, violations {:?}",
            fake.feeds(),
            fake.requests("createFeed"),
            fake.requests("getFeed"),
            fake.requests("patchListingsItem"),
            fake.violations()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let swept = started.elapsed();
    assert!((0..skus).all(|index| fake.quantity(&sku(index)) == Some(5)));
    assert_eq!(fake.feeds(), vec![("JSON_LISTINGS_FEED".to_string(), skus)]);
    assert_eq!(
        fake.requests("patchListingsItem"),
        0,
        "the sweep went by feed alone"
    );
    println!("amazon start-up sweep: {skus} SKUs by one JSON_LISTINGS_FEED in {} ms (fake processing 500 ms, feed polled every 100 ms)", swept.as_millis());

    // A live change goes by patch.
    let changed_at = Instant::now();
    ledger
        .receive(&sku(7), "default", 3, &MovementMeta::new("restock"))
        .await
        .unwrap();
    wait_until("the live patch", || fake.quantity(&sku(7)) == Some(8)).await;
    println!(
        "amazon live change by patchListingsItem shown after {} ms",
        changed_at.elapsed().as_millis()
    );
    assert!(fake.requests("patchListingsItem") >= 1);
    assert_eq!(fake.feeds().len(), 1);

    // Orders placed after the cut-over (Amazon's dates are whole seconds).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    fake.place_order(&[(sku(3), 2)]).unwrap();
    fake.place_order_fulfilled_by(&[("FBA-ONLY".to_string(), 1)], "AFN")
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        if ledger.available(&sku(3)).await.unwrap() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the polled order was not booked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The booking's new quantity goes back to Amazon (it is already 3 there: the fake, like
    // Amazon, lowers a listing's quantity when it is ordered).
    wait_until("the order's push", || fake.quantity(&sku(3)) == Some(3)).await;
    assert_eq!(fake.violations(), Vec::<String>::new());
    app.stop().await.unwrap();
}
