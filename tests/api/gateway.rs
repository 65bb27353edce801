//! The channel gateway end to end: every platform call goes through it (polls included), and a
//! channel outage longer than the bus's delivery limit loses no stock change.

use crate::sync::skus;
use crate::sync_world::{
    both_setups, metric_value, wait_until, Setup, World, WorldPlan, ADMIN_TOKEN,
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
        .and_then(|status| status["push"]["degraded"].as_bool())
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
