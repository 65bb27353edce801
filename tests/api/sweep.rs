//! A sweep of a large catalog goes in small steps between live pushes: a stock change made
//! while a slow start-up sweep is under way reaches the channel after the sweep's call in
//! flight, long before the sweep is done.

use crate::helpers::TestDatabase;
use crate::push_retry::{confirm_all, RunningPusher, Scripted};
use omnistock::bus::StockChanged;
use omnistock::ledger::{Ledger, ListingBinding, ListingComponent, MovementMeta, StockCount};
use omnistock::ops::out_of_date::{listings_out_of_date, OutOfDateCache};
use omnistock_connector::{ConnectorError, PushResult, StockLevel};
use std::sync::Arc;
use std::time::Duration;

const ITEMS: usize = 1_200;
/// Listings per stock call: the sweep of all items takes `ITEMS / BATCH` calls.
const BATCH: usize = 50;

fn confirms_every_call(
    _call: usize,
    levels: &[StockLevel],
) -> Result<Vec<PushResult>, ConnectorError> {
    Ok(confirm_all(levels))
}

fn sku(index: usize) -> String {
    format!("SKU-{index:04}")
}

/// `ITEMS` items of 5 units each, listed on `shop` and never pushed.
async fn catalog_never_pushed() -> (TestDatabase, Ledger) {
    let (database, url) = TestDatabase::sqlite();
    let ledger = Ledger::connect(&url).await.unwrap();
    ledger.migrate().await.unwrap();
    ledger.upsert_channel("shop", "scripted").await.unwrap();
    let counts: Vec<StockCount> = (0..ITEMS)
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
    let bindings: Vec<ListingBinding> = (0..ITEMS)
        .map(|index| ListingBinding {
            channel_id: "shop".to_string(),
            listing_id: format!("listing-{index:04}"),
            components: vec![ListingComponent {
                sku: sku(index),
                quantity: 1,
            }],
            sync_enabled: None,
            policy: None,
            location: None,
        })
        .collect();
    ledger.bind_listings(&bindings).await.unwrap();
    (database, ledger)
}

#[tokio::test]
async fn a_live_change_is_pushed_while_a_long_sweep_runs() {
    let (_database, ledger) = catalog_never_pushed().await;
    let connector = Arc::new(Scripted::slow(
        confirms_every_call,
        Duration::from_millis(150),
        BATCH,
    ));
    let pusher = RunningPusher::start(&ledger, connector.clone()).await;

    // Once the start-up sweep has begun, the last item (on the sweep's last page) is restocked.
    wait_for(
        || !connector.calls.lock().unwrap().is_empty(),
        "the sweep's first call",
    )
    .await;
    let last = sku(ITEMS - 1);
    ledger
        .receive(&last, "default", 3, &MovementMeta::new("restock"))
        .await
        .unwrap();
    pusher
        .bus
        .publish(&[StockChanged::one(last.clone(), 1, 0)])
        .await
        .unwrap();

    let is_live_push = |call: &Vec<StockLevel>| {
        call.len() == 1 && call[0].listing_id == "listing-1199" && call[0].quantity == 8
    };
    wait_for(
        || connector.calls.lock().unwrap().iter().any(is_live_push),
        "the live push of the restocked item",
    )
    .await;
    let sweep_calls = ITEMS / BATCH;
    let running = "omnistock_sweep_running{channel=\"shop\"} 1";
    assert!(pusher.metrics.encode().unwrap().contains(running));
    // The channel status shows the sweep under way, and how far it got.
    let activity = pusher.control.snapshot();
    let sweep = activity.sweep.expect("a sweep under way");
    assert_eq!(sweep.cause, "start-up");
    assert!(
        sweep.skus_read > 0 && sweep.skus_read < ITEMS as u64,
        "{sweep:?}"
    );
    assert_eq!(activity.last_sweep_done, None);
    wait_for(
        || {
            let calls = connector.calls.lock().unwrap();
            calls.iter().map(Vec::len).sum::<usize>() >= ITEMS
        },
        "the end of the sweep",
    )
    .await;
    // Operators see the sweep's progress and its end.
    wait_for(
        || !pusher.metrics.encode().unwrap().contains(running),
        "the sweep to be reported done",
    )
    .await;
    let metrics = pusher.metrics.encode().unwrap();
    assert!(
        metrics.contains(&format!(
            "omnistock_sweep_skus_total{{channel=\"shop\"}} {ITEMS}\n"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("omnistock_sweep_running{channel=\"shop\"} 0\n"),
        "{metrics}"
    );
    let activity = pusher.control.snapshot();
    assert_eq!(activity.sweep, None);
    assert!(activity.last_sweep_done.is_some());
    pusher.stop().await;

    let calls = connector.calls.lock().unwrap().clone();
    let live = calls.iter().position(is_live_push).unwrap();
    // It waited for the sweep's call in flight, not for the rest of the sweep's first page
    // (ten calls) nor for the sweep.
    assert!(
        live <= 5 && calls.len() - live > sweep_calls / 2,
        "the live push waited for the sweep: it was call {} of {}",
        live + 1,
        calls.len()
    );
    // The sweep found the restocked listing already in step and did not push it again.
    let pushes_of_last = calls
        .iter()
        .flatten()
        .filter(|level| level.listing_id == "listing-1199")
        .count();
    assert_eq!(pushes_of_last, 1);
    let listing = ledger
        .listing("shop", "listing-1199")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listing.last_pushed_quantity, Some(8));
}

async fn wait_for(condition: impl Fn() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited 60 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn out_of_date_listings_are_counted_across_pages() {
    let (_database, ledger) = catalog_never_pushed().await;
    let connector = Arc::new(Scripted::slow(confirms_every_call, Duration::ZERO, BATCH));
    let counted = omnistock::sync::ChannelRuntime::new(
        "shop".into(),
        connector.clone(),
        "default".into(),
        None,
        None,
    );
    let cache = OutOfDateCache::default();
    // Never pushed: every listing, on all three pages of SKUs, is out of date.
    let before = listings_out_of_date(&ledger, &counted, &cache)
        .await
        .unwrap();
    assert_eq!(before.listings, ITEMS);

    // The start-up sweep pushes all of them. Once the last count is no longer reused (ten
    // times as long as it took), a new one finds none.
    let pusher = RunningPusher::start(&ledger, connector.clone()).await;
    wait_for(
        || pusher.control.snapshot().last_sweep_done.is_some(),
        "the sweep to be done",
    )
    .await;
    pusher.stop().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = listings_out_of_date(&ledger, &counted, &cache)
            .await
            .unwrap();
        if now.counted_at == before.counted_at {
            assert_eq!(now.listings, ITEMS, "a reused count is the same count");
        } else {
            assert_eq!(now.listings, 0);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the count was never made again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
