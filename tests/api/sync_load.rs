//! The sync spine under load and faults: a burst of orders coalesces into few pushes, a failing
//! channel catches up once it recovers, and a rate-limited channel is never sent more than it
//! allows — on both set-ups.

use crate::sync::skus;
use crate::sync_world::{
    both_setups, listing_of, metric_value, wait_until, Setup, World, WorldPlan,
};
use omnistock_connector::RateLimit;
use omnistock_sim::{Faults, StockRequestOutcome};
use std::collections::BTreeMap;
use std::time::Duration;

both_setups!(
    a_burst_of_orders_coalesces_into_few_pushes_and_converges,
    a_channel_answering_500_catches_up_after_it_recovers,
    a_rate_limited_channel_never_receives_more_than_its_limit,
);

/// A small deterministic generator, so that a failing burst can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

/// Stock-update requests per listing the sim applied, after `since` requests.
fn applied_pushes_per_listing(
    world: &World,
    channel: &str,
    since: usize,
) -> BTreeMap<String, usize> {
    let mut pushes = BTreeMap::new();
    for request in world.sim(channel).stock_log().into_iter().skip(since) {
        if request.outcome == StockRequestOutcome::Applied {
            for listing in request.listing_ids {
                *pushes.entry(listing).or_default() += 1;
            }
        }
    }
    pushes
}

async fn a_burst_of_orders_coalesces_into_few_pushes_and_converges(setup: Setup) {
    const ORDERS: usize = 1_000;
    const ON_HAND: i64 = 200;
    // Polling is the safety net for webhooks given up while the burst queues up.
    let plan = WorldPlan::default().polling_every(Duration::from_secs(1));
    let mut world = World::start(setup, plan).await;
    let catalog = skus(20);
    world.add_catalog(&catalog, ON_HAND).await;
    world.wait_converged().await;
    let channels: Vec<&str> = world
        .markets
        .iter()
        .map(|market| market.channel.as_str())
        .collect();
    let log_start: BTreeMap<&str, usize> = channels
        .iter()
        .map(|channel| (*channel, world.sim(channel).stock_log().len()))
        .collect();

    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut ordered: BTreeMap<String, i64> = BTreeMap::new();
    // A thousand orders a second, in waves of fifty.
    for _ in 0..ORDERS / 50 {
        for _ in 0..50 {
            let channel = channels[dice.roll(channels.len())];
            let sku = &catalog[dice.roll(catalog.len())];
            world.order(channel, sku, 1);
            *ordered.entry(sku.clone()).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for (sku, units) in &ordered {
        world.wait_available(sku, ON_HAND - units).await;
    }
    world.wait_converged().await;
    let booked_now = |metrics: &str| -> usize {
        let booked: f64 = channels
            .iter()
            .map(|channel| {
                metric_value(
                    metrics,
                    &format!("omnistock_orders_booked_total{{channel=\"{channel}\"}}"),
                )
            })
            .sum();
        booked as usize
    };
    // A writer counts its group's bookings right after the commit that makes them visible:
    // the last counts may come a moment after the stock.
    wait_until("every order counted as booked", || async {
        booked_now(&world.metrics().await) >= ORDERS
    })
    .await;
    let metrics = world.metrics().await;
    assert_eq!(booked_now(&metrics), ORDERS, "{metrics}");
    assert_eq!(world.stored_orders().await, ORDERS as i64);
    // Group commit: every event went through a group, and a burst of fifty webhooks at a time
    // shares transactions.
    let grouped_events = metric_value(&metrics, "omnistock_booking_group_events_sum");
    let groups = metric_value(&metrics, "omnistock_booking_group_events_count");
    assert!(grouped_events >= ORDERS as f64, "{metrics}");
    assert!(
        groups < grouped_events,
        "no two events shared a transaction: {metrics}"
    );

    for channel in &channels {
        let pushes = applied_pushes_per_listing(&world, channel, log_start[channel]);
        for sku in &catalog {
            let count = pushes.get(&listing_of(sku)).copied().unwrap_or(0);
            let changes = ordered.get(sku).copied().unwrap_or(0) as usize;
            // Coalescing: far fewer pushes than the SKU changed. A flush pushes each changed
            // SKU once, and the burst comes in twenty waves, so a pipeline that keeps up
            // pushes about once per wave: at most half as often as the SKU changed, give or take
            // the two pushes a wave's edges can add (the first wave and the settling one).
            assert!(
                count * 2 <= changes.max(8) + 4,
                "{setup:?}: {channel} got {count} pushes of {sku} for {changes} changes: {pushes:?}"
            );
        }
    }
    world.stop().await;
}

async fn a_channel_answering_500_catches_up_after_it_recovers(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(3), 20).await;
    world.wait_converged().await;
    world.sim("sim-b").set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });

    world.order("sim-a", "SKU-01", 2);
    world.order("sim-c", "SKU-02", 5);
    world.wait_available("SKU-02", 15).await;
    wait_until("sim-b refused several pushes", || async {
        world.sim("sim-b").counters().injected_errors >= 3
    })
    .await;
    assert_eq!(
        world.sim("sim-b").shown_quantity(&listing_of("SKU-01")),
        Some(20)
    );
    // The healthy channel is not held up by the failing one.
    wait_until("sim-c shows the order of sim-a", || async {
        world.sim("sim-c").shown_quantity(&listing_of("SKU-01")) == Some(18)
    })
    .await;

    world.sim("sim-b").set_faults(Faults::default());

    world.wait_converged().await;
    let metrics = world.metrics().await;
    assert!(
        metric_value(
            &metrics,
            "omnistock_stock_push_failures_total{channel=\"sim-b\",kind=\"transient\"}"
        ) >= 3.0,
        "{metrics}"
    );
    world.stop().await;
}

async fn a_rate_limited_channel_never_receives_more_than_its_limit(setup: Setup) {
    let limit = RateLimit::per_second(2);
    let plan = WorldPlan::default().channel("sim-b", |plan| {
        plan.rate_limit = Some(limit);
        // Small batches, so that one change of many SKUs needs several calls.
        plan.max_batch = 2;
    });
    let mut world = World::start(setup, plan).await;
    let catalog = skus(6);
    world.add_catalog(&catalog, 50).await;

    for round in 0..6 {
        for sku in &catalog {
            world.order(if round % 2 == 0 { "sim-a" } else { "sim-c" }, sku, 1);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    world.wait_converged().await;
    let sim = world.sim("sim-b");
    assert!(
        sim.stock_log().len() >= 6,
        "too few requests to prove anything: {:?}",
        sim.stock_log()
    );
    assert!(
        sim.max_stock_requests_in_window(Duration::from_secs(1)) <= 2,
        "{setup:?}: more than 2 stock requests within a second: {:?}",
        sim.stock_log()
            .iter()
            .map(|request| request.received_at)
            .collect::<Vec<_>>()
    );
    assert_eq!(sim.counters().rate_limited, 0);
    world.stop().await;
}
