//! The gateway against Shopify's cost bucket: a 200-point bucket restoring 10 points a second,
//! under sustained orders (webhooks, and polls) and stock changes (pushed). The gateway waits what the
//! connector's `wait_before` says instead of learning from `THROTTLED`, so few requests are
//! refused, and the channel still converges. The fraction is printed (README, Performance);
//! it is a count, not a speed, so it is asserted.

use crate::shopify_store::{list_on_shop, shop_app_with};
use crate::sync_world::PATIENCE;
use omnistock::ledger::MovementMeta;
use omnistock_shopify::fake::{FakeOptions, FakeShopify};
use std::time::Duration;

/// How long orders and stock changes keep coming.
const LOAD: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cost_bucket_is_rarely_overrun_and_the_channel_converges() {
    let fake = FakeShopify::start(FakeOptions {
        maximum_available: 200.0,
        restore_rate: 10.0,
        ..FakeOptions::default()
    })
    .await
    .unwrap();
    let app = shop_app_with(
        &fake,
        Some(Duration::from_secs(1)),
        &[("orders_page_size", 1.into())],
    )
    .await;
    let ledger = app.ledger.clone();
    // Orders arrive by webhook, as on a real shop; the polls (one order a page: a page of
    // this connector's orders query requests about 180 points) re-read them as the safety net.
    fake.subscribe(&app.url("/webhooks/shop"));

    let skus: Vec<String> = (1..=20).map(|index| format!("SKU-{index:02}")).collect();
    let listings = list_on_shop(&app, &fake, &skus, 1000).await;

    // Sustained load: every 250 ms an order on the shop and a stock change in the ledger.
    let started = tokio::time::Instant::now();
    let mut round = 0usize;
    while started.elapsed() < LOAD {
        let ordered = round % skus.len();
        fake.place_order(&[(listings[ordered].clone(), 1)]).unwrap();
        let received = (round * 7 + 3) % skus.len();
        ledger
            .receive(
                &skus[received],
                "default",
                2,
                &MovementMeta::new(format!("load-{round}")),
            )
            .await
            .unwrap();
        round += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut differences = Vec::new();
        for (sku, listing) in skus.iter().zip(&listings) {
            let available = ledger.available(sku).await.unwrap();
            let shown = fake.available(listing);
            if shown != Some(available) {
                differences.push(format!("{sku}: shop {shown:?}, ledger {available}"));
            }
        }
        let (orders,): (i64,) = sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM orders")
            .fetch_one(ledger.pool())
            .await
            .unwrap();
        if differences.is_empty() && orders == round as i64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not converged: {differences:?}, {orders} of {round} orders booked"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let requests = fake.requests();
    let throttled = requests.iter().filter(|request| request.throttled).count();
    let fraction = throttled as f64 / requests.len().max(1) as f64;
    println!(
        "cost bucket 200 points, 10/s: {throttled} of {} requests THROTTLED ({:.1} %), {round} orders and {round} stock changes",
        requests.len(),
        fraction * 100.0
    );
    // Which operations were refused, so a failure says where the pacing fell short.
    let mut by_operation: std::collections::BTreeMap<String, (usize, usize)> =
        std::collections::BTreeMap::new();
    for request in &requests {
        let name = request.operation_name.clone().unwrap_or_default();
        let entry = by_operation.entry(name).or_default();
        entry.0 += 1;
        entry.1 += usize::from(request.throttled);
    }
    println!("requests (made, THROTTLED) by operation: {by_operation:?}");
    // The connector follows Shopify's own sales, so its pushes are rarely refused and re-read:
    // the run makes about 45 requests.
    assert!(requests.len() >= 15, "too few requests to judge");
    assert!(fraction < 0.05, "{:.1} % THROTTLED", fraction * 100.0);
    app.stop().await.unwrap();
}
