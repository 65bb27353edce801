//! The sync spine end to end: orders from simulated marketplaces flow through webhooks (or
//! polling) into the ledger and out to every other channel, on both set-ups.

use crate::sync_world::{
    both_setups, listing_of, metric_value, wait_until, Setup, World, WorldPlan,
};
use omnistock_sim::Faults;
use reqwest::StatusCode;
use std::time::Duration;

pub(crate) fn skus(count: usize) -> Vec<String> {
    (1..=count).map(|index| format!("SKU-{index:02}")).collect()
}

both_setups!(
    an_order_on_one_channel_changes_stock_on_the_others,
    one_webhook_delivered_five_times_books_once,
    a_bad_signature_is_refused_and_stores_nothing,
    refused_webhooks_get_the_status_that_says_why,
    an_unreachable_ledger_answers_503,
    a_polled_copy_and_a_webhook_copy_book_once,
    polling_books_orders_whose_webhooks_never_arrived,
    cancellations_release_stock_everywhere,
    a_sale_and_a_cancellation_that_cancel_out_still_reach_the_selling_channels,
    unknown_listing_lines_are_kept_and_counted,
    metrics_expose_the_sync_spine,
);

async fn an_order_on_one_channel_changes_stock_on_the_others(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    world.wait_converged().await;

    world.order("sim-a", "SKU-01", 3);

    world.wait_available("SKU-01", 7).await;
    world.wait_converged().await;
    assert_eq!(world.sim("sim-b").shown_quantity("L-SKU-01"), Some(7));
    assert_eq!(world.sim("sim-c").shown_quantity("L-SKU-01"), Some(7));
    assert_eq!(world.sim("sim-b").shown_quantity("L-SKU-02"), Some(10));
    world.stop().await;
}

async fn one_webhook_delivered_five_times_books_once(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    // The sim's own webhook would be a second, differently numbered delivery.
    world.sim("sim-a").set_webhook_target(None);
    let order = world.order("sim-a", "SKU-01", 2);
    let webhook = world.sim("sim-a").webhook_for_order(&order, None).unwrap();

    for _ in 0..5 {
        let response = world
            .post_webhook("sim-a", &webhook.headers, webhook.body.clone())
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    assert_eq!(world.app.ledger.available("SKU-01").await.unwrap(), 8);
    assert_eq!(world.stored_orders().await, 1);
    assert_eq!(world.stored_deliveries().await, 1);
    let metrics = world.metrics().await;
    assert_eq!(
        metric_value(&metrics, "omnistock_orders_booked_total{channel=\"sim-a\"}"),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        metric_value(
            &metrics,
            "omnistock_webhook_responses_total{channel=\"sim-a\",status=\"200\"}"
        ),
        5.0,
        "{metrics}"
    );
    world.wait_converged().await;
    world.stop().await;
}

async fn a_bad_signature_is_refused_and_stores_nothing(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    world.sim("sim-a").set_webhook_target(None);
    let order = world.order("sim-a", "SKU-01", 2);
    let forged = world
        .sim("sim-a")
        .webhook_for_order(&order, Some("not-the-secret"))
        .unwrap();

    let response = world
        .post_webhook("sim-a", &forged.headers, forged.body.clone())
        .await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(world.stored_orders().await, 0);
    assert_eq!(world.stored_deliveries().await, 0);
    assert_eq!(world.app.ledger.available("SKU-01").await.unwrap(), 10);
    let mut unsigned = forged.headers.clone();
    unsigned.remove("x-sim-signature");
    let response = world.post_webhook("sim-a", &unsigned, forged.body).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(world.stored_orders().await, 0);
    let metrics = world.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "omnistock_webhook_responses_total{channel=\"sim-a\",status=\"401\"}"
        ),
        2.0,
        "{metrics}"
    );
    world.stop().await;
}

async fn refused_webhooks_get_the_status_that_says_why(setup: Setup) {
    let plan = WorldPlan {
        max_body_bytes: Some(4096),
        ..WorldPlan::default()
    };
    let mut world = World::start(setup, plan).await;
    world.add_catalog(&skus(1), 10).await;
    world.sim("sim-a").set_webhook_target(None);
    let order = world.order("sim-a", "SKU-01", 1);
    let webhook = world.sim("sim-a").webhook_for_order(&order, None).unwrap();

    // Signed correctly, but not an order.
    let garbage = b"{\"topic\": \"orders/created\", \"id\": 7".to_vec();
    let mut headers = webhook.headers.clone();
    headers.insert(
        "x-sim-signature".into(),
        omnistock_sim::signature::sign(world.sim("sim-a").webhook_secret().expose(), &garbage),
    );
    let malformed = world.post_webhook("sim-a", &headers, garbage).await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let reason: serde_json::Value = malformed.json().await.unwrap();
    assert!(
        reason["error"]
            .as_str()
            .unwrap_or_default()
            .contains("body"),
        "{reason}"
    );

    let unknown = world
        .post_webhook("no-such-channel", &webhook.headers, webhook.body.clone())
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let oversized = vec![b' '; 4097];
    let mut headers = webhook.headers.clone();
    headers.insert(
        "x-sim-signature".into(),
        omnistock_sim::signature::sign(world.sim("sim-a").webhook_secret().expose(), &oversized),
    );
    let too_large = world.post_webhook("sim-a", &headers, oversized).await;
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(world.stored_orders().await, 0);
    assert_eq!(world.stored_deliveries().await, 0);
    let metrics = world.metrics().await;
    for status in [400, 413] {
        assert_eq!(
            metric_value(
                &metrics,
                &format!(
                    "omnistock_webhook_responses_total{{channel=\"sim-a\",status=\"{status}\"}}"
                )
            ),
            1.0,
            "{metrics}"
        );
    }
    world.stop().await;
}

async fn an_unreachable_ledger_answers_503(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    world.sim("sim-a").set_webhook_target(None);
    let order = world.order("sim-a", "SKU-01", 1);
    let webhook = world.sim("sim-a").webhook_for_order(&order, None).unwrap();

    match setup {
        Setup::Production => world.app.database.drop_now().await,
        // An SQLite file cannot be taken away from an open connection; a closed pool is the
        // same to the intake.
        Setup::Embedded => world.app.ledger.close().await,
    }
    let response = world
        .post_webhook("sim-a", &webhook.headers, webhook.body)
        .await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    world.stop().await;
}

async fn a_polled_copy_and_a_webhook_copy_book_once(setup: Setup) {
    let plan = WorldPlan::default().channel("sim-a", |plan| {
        plan.poll_interval = Some(Duration::from_millis(100));
    });
    let mut world = World::start(setup, plan).await;
    world.add_catalog(&skus(1), 10).await;
    let sim = world.sim("sim-a");
    let reads_before = sim.counters().order_reads;

    world.order("sim-a", "SKU-01", 2);

    // The webhook arrives, and the overlap makes later polls read the order again and again.
    wait_until("the webhook delivered", || async {
        world.sim("sim-a").counters().webhooks_delivered >= 1
    })
    .await;
    wait_until("several polls after the order", || async {
        world.sim("sim-a").counters().order_reads >= reads_before + 4
    })
    .await;
    world.wait_converged().await;
    assert_eq!(world.app.ledger.available("SKU-01").await.unwrap(), 8);
    assert_eq!(world.stored_orders().await, 1);
    let metrics = world.metrics().await;
    assert_eq!(
        metric_value(&metrics, "omnistock_orders_booked_total{channel=\"sim-a\"}"),
        1.0,
        "{metrics}"
    );
    world.stop().await;
}

async fn polling_books_orders_whose_webhooks_never_arrived(setup: Setup) {
    let plan = WorldPlan::default().channel("sim-b", |plan| {
        plan.poll_interval = Some(Duration::from_millis(200));
    });
    let mut world = World::start(setup, plan).await;
    world.add_catalog(&skus(1), 10).await;
    world.sim("sim-b").set_webhook_target(None);

    world.order("sim-b", "SKU-01", 4);

    world.wait_available("SKU-01", 6).await;
    world.wait_converged().await;
    world.stop().await;
}

async fn cancellations_release_stock_everywhere(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    let order = world.order("sim-a", "SKU-01", 3);
    world.wait_available("SKU-01", 7).await;
    world.wait_converged().await;

    world.sim("sim-a").cancel_order(&order).unwrap();

    world.wait_available("SKU-01", 10).await;
    world.wait_converged().await;
    let booked = world
        .app
        .ledger
        .order("sim-a", &order)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(booked.lines[0].open_quantity, 0);
    world.stop().await;
}

async fn unknown_listing_lines_are_kept_and_counted(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    // Listed on the marketplace, but neither bound in the ledger nor a known item.
    world
        .sim("sim-a")
        .create_listing(Some("L-MYSTERY"), "MYSTERY", 5)
        .unwrap();
    let order = world
        .sim("sim-a")
        .place_order(&[
            omnistock_sim::NewOrderLine {
                listing_id: "L-MYSTERY".into(),
                quantity: 1,
                unit_price_minor: None,
            },
            omnistock_sim::NewOrderLine {
                listing_id: listing_of("SKU-01"),
                quantity: 2,
                unit_price_minor: None,
            },
        ])
        .unwrap()
        .id;

    world.wait_available("SKU-01", 8).await;
    let booked = world
        .app
        .ledger
        .order("sim-a", &order)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(booked.lines.len(), 2, "{booked:?}");
    let unknown = booked
        .lines
        .iter()
        .find(|line| line.listing_id.as_deref() == Some("L-MYSTERY"))
        .unwrap();
    assert_eq!(unknown.sku, None);
    assert_eq!(unknown.quantity, 1);
    let metrics = world.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "omnistock_unknown_listing_lines_total{channel=\"sim-a\"}"
        ),
        1.0,
        "{metrics}"
    );
    world.wait_converged().await;
    world.stop().await;
}

async fn metrics_expose_the_sync_spine(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    world.wait_converged().await;
    world.sim("sim-c").set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    world.order("sim-a", "SKU-01", 1);
    world.wait_available("SKU-01", 9).await;
    wait_until("a failed push to sim-c", || async {
        world.sim("sim-c").counters().outage_refusals > 0
    })
    .await;
    world.sim("sim-c").set_faults(Faults::default());
    world.wait_converged().await;

    let metrics = world.metrics().await;
    for series in [
        "omnistock_orders_booked_total{channel=\"sim-a\"}",
        "omnistock_webhook_responses_total{channel=\"sim-a\",status=\"200\"}",
        "omnistock_stock_push_latency_seconds_count{channel=\"sim-b\"}",
        "omnistock_stock_pushes_total{channel=\"sim-b\"}",
        "omnistock_stock_push_failures_total{channel=\"sim-c\",kind=\"transient\"}",
        "omnistock_queue_lag_seconds_count{channel=\"sim-b\"}",
    ] {
        assert!(metric_value(&metrics, series) >= 1.0, "{series}: {metrics}");
    }
    assert!(
        metrics.contains("omnistock_stock_push_latency_seconds_bucket{"),
        "{metrics}"
    );
    assert!(metrics.contains("omnistock_outbox_backlog "), "{metrics}");
    world.stop().await;
}

/// A sale on A and a cancellation on C that leave the ledger where it was: A and C changed their
/// shown stock themselves, so both must still be pushed the ledger's level, although it equals
/// what they last confirmed.
async fn a_sale_and_a_cancellation_that_cancel_out_still_reach_the_selling_channels(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    let earlier = world.order("sim-c", "SKU-01", 2);
    world.wait_available("SKU-01", 8).await;
    world.wait_converged().await;
    world.sim("sim-a").set_webhook_target(None);
    world.sim("sim-c").set_webhook_target(None);

    let sale = world.order("sim-a", "SKU-01", 2);
    world.sim("sim-c").cancel_order(&earlier).unwrap();
    assert_eq!(world.sim("sim-a").shown_quantity("L-SKU-01"), Some(6));
    assert_eq!(world.sim("sim-c").shown_quantity("L-SKU-01"), Some(10));
    let sale_webhook = world.sim("sim-a").webhook_for_order(&sale, None).unwrap();
    let cancel_webhook = world
        .sim("sim-c")
        .webhook_for_order(&earlier, None)
        .unwrap();
    // Both booked within one coalescing window: the ledger goes 8 -> 6 -> 8.
    let (sold, cancelled) = tokio::join!(
        world.post_webhook("sim-a", &sale_webhook.headers, sale_webhook.body.clone()),
        world.post_webhook(
            "sim-c",
            &cancel_webhook.headers,
            cancel_webhook.body.clone()
        ),
    );
    assert_eq!(sold.status(), StatusCode::OK);
    assert_eq!(cancelled.status(), StatusCode::OK);

    world.wait_available("SKU-01", 8).await;
    world.wait_converged().await;
    world.stop().await;
}
