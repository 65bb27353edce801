//! The channel gateway end to end: every platform call goes through it (polls included), and a
//! channel outage longer than the bus's delivery limit loses no stock change.

use crate::sync::skus;
use crate::sync_world::{
    both_setups, listing_of, metric_value, wait_until, Setup, World, WorldPlan, ADMIN_TOKEN,
};
use omnistock_sim::Faults;
use serde_json::Value;
use std::time::Duration;

both_setups!(
    every_platform_call_goes_through_the_gateway,
    an_outage_longer_than_the_delivery_limit_loses_no_change,
);

/// The calls the gateway counted for `channel`, every kind.
fn gateway_calls(metrics: &str, channel: &str) -> u64 {
    let prefix = format!("omnistock_channel_calls_total{{channel=\"{channel}\",");
    metrics
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

async fn every_platform_call_goes_through_the_gateway(setup: Setup) {
    let plan = WorldPlan::default().channel("sim-a", |plan| {
        plan.poll_interval = Some(Duration::from_millis(300))
    });
    let mut world = World::start(setup, plan).await;
    world.add_catalog(&skus(3), 10).await;
    world.order("sim-b", "SKU-01", 2);
    world.order("sim-c", "SKU-02", 1);
    world.wait_converged().await;
    wait_until("a few polls of sim-a", || async {
        world.sim("sim-a").counters().order_reads >= 3
    })
    .await;
    // A reconciliation reads stock through the gateway too.
    let response = world
        .app
        .client
        .post(world.app.url("/admin/resync"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "channel": "sim-a", "mode": "reconcile" }))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    wait_until("a stock read of sim-a", || async {
        world.sim("sim-a").counters().stock_reads >= 1
    })
    .await;

    // The sim counts a request when it arrives, the gateway when it returns: compare when no
    // call is in flight (the gateway's count is the same before and after the sim's).
    wait_until("the sim's count equal to the gateway's", || async {
        let before = gateway_calls(&world.metrics().await, "sim-a");
        let at_sim = world.sim("sim-a").counters().api_requests;
        let after = gateway_calls(&world.metrics().await, "sim-a");
        before == after && at_sim == before
    })
    .await;
    let metrics = world.metrics().await;
    for call in ["pull_orders", "push_stock", "read_stock"] {
        let series = format!("omnistock_channel_calls_total{{channel=\"sim-a\",call=\"{call}\"}}");
        assert!(
            metric_value(&metrics, &series) >= 1.0,
            "{series}: {metrics}"
        );
    }
    world.stop().await;
}

/// `degraded` of `channel` in `GET /admin/channels`.
async fn degraded_in_status(world: &World, channel: &str) -> Option<bool> {
    push_status(world, channel).await["degraded"].as_bool()
}

/// `push` of `channel` in `GET /admin/channels`.
async fn push_status(world: &World, channel: &str) -> Value {
    let statuses: Vec<Value> = world
        .app
        .client
        .get(world.app.url("/admin/channels"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    statuses
        .iter()
        .find(|status| status["id"] == channel)
        .map(|status| status["push"].clone())
        .unwrap_or_default()
}

async fn an_outage_longer_than_the_delivery_limit_loses_no_change(setup: Setup) {
    let mut world = World::start_with(setup, WorldPlan::default(), |settings| {
        // One delivery: a message given back even once is dead-lettered.
        settings.bus.delivery_limit = 1;
    })
    .await;
    world.add_catalog(&skus(8), 10).await;
    world.wait_converged().await;

    world.sim("sim-c").set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    for sku in &skus(4) {
        world.order("sim-a", sku, 1);
        world.wait_available(sku, 9).await;
    }
    wait_until("sim-c degraded", || async {
        metric_value(
            &world.metrics().await,
            "omnistock_channel_degraded{channel=\"sim-c\"}",
        ) == 1.0
    })
    .await;
    assert_eq!(degraded_in_status(&world, "sim-c").await, Some(true));
    // Changes while degraded, and time for many failed attempts.
    for sku in &skus(8)[4..] {
        world.order("sim-b", sku, 2);
        world.wait_available(sku, 8).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    world.sim("sim-c").set_faults(Faults::default());
    let recovered = tokio::time::Instant::now();
    loop {
        if world.differences().await.is_empty() {
            break;
        }
        assert!(
            recovered.elapsed() < Duration::from_secs(10),
            "{setup:?}: sim-c not equal to the ledger 10 s after it recovered: {:?}",
            world.differences().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_until("sim-c no longer degraded", || async {
        degraded_in_status(&world, "sim-c").await == Some(false)
    })
    .await;
    world.stop().await;
}

/// The bus gave up on a change (its message dead-lettered, for whatever reason): the count
/// shows in the channel status and the metric, and a sweep pushes what the message would have.
/// Embedded only: the test lays the dead letter in the database bus's table itself (on RabbitMQ
/// the broker dead-letters, and the same count and sweep follow).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_lettered_change_is_counted_and_swept() {
    let mut world = World::start(Setup::Embedded, WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    world.wait_converged().await;
    // The catalog's own pushes are done (the sims showed its levels before them), and no
    // sweep runs that would find the change by itself.
    wait_until("every listing pushed once, no sweep under way", || async {
        let mut settled = true;
        for channel in ["sim-a", "sim-b", "sim-c"] {
            let pushed: Vec<String> = world
                .sim(channel)
                .stock_log()
                .into_iter()
                .flat_map(|request| request.listing_ids)
                .collect();
            let push = push_status(&world, channel).await;
            settled &= skus(2).iter().all(|sku| pushed.contains(&listing_of(sku)))
                && push["backlog_skus"] == 0
                && push["sweep"].is_null();
        }
        settled
    })
    .await;
    // A change whose message never reaches the pushers: journaled and applied without an
    // outbox row, its message lying dead-lettered on sim-c's queue.
    let pool = world.app.ledger.pool();
    for statement in [
        "UPDATE balances SET on_hand = on_hand - 3 WHERE sku = 'SKU-01' AND location = 'default'",
        "INSERT INTO movements (sku, location, on_hand_delta, reserved_delta, reason, \
         idempotency_key, created_at) VALUES ('SKU-01', 'default', -3, 0, 'adjust', 'lost-change', 0)",
        "INSERT INTO bus_messages (queue, sku, skus, outbox_id, changed_at_ms, created_at, \
         attempts, dead_at) VALUES ('sim-c', 'SKU-01', '[\"SKU-01\"]', 0, 0, 0, 1, 0)",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    wait_until("sim-c shows the change no message brought", || async {
        world.sim("sim-c").shown_quantity(&listing_of("SKU-01")) == Some(7)
    })
    .await;
    assert_eq!(
        metric_value(
            &world.metrics().await,
            "omnistock_bus_dead_lettered_messages{channel=\"sim-c\"}",
        ),
        1.0
    );
    let push = push_status(&world, "sim-c").await;
    assert_eq!(push["bus_dead_lettered"], 1, "{push}");
    // No message reached sim-a: it still shows the old level (nothing there was swept).
    assert_eq!(
        world.sim("sim-a").shown_quantity(&listing_of("SKU-01")),
        Some(10)
    );
    world.stop().await;
}
