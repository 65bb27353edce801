//! `bench burst`: K orders over S items within T seconds on rate-limited channels; how many
//! stock-update calls each channel got against the ideal, and how many were refused 429.

use super::report::{round2, BenchReport};
use super::setup::Backends;
use super::world::{send, World, WorldPlan};
use super::{BenchError, Dice};
use crate::sync::push::DEFAULT_COALESCE_WINDOW;
use chrono::{DateTime, Utc};
use omnistock_connector::RateLimit;
use omnistock_sim::{StockRequestOutcome, StockRequestRecord};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

#[derive(Debug, Clone, clap::Args)]
pub struct BurstArgs {
    /// Orders in the burst.
    #[arg(long, default_value_t = 1_000)]
    pub orders: usize,
    /// Items the orders spread over.
    #[arg(long, default_value_t = 100)]
    pub skus: usize,
    /// The burst's length in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Simulated marketplaces.
    #[arg(long, default_value_t = 2)]
    pub channels: usize,
    /// Each channel's limit on stock-update calls, "N/s" or "N/min" (the sim enforces it and
    /// the daemon is told it, as a platform documents its limit).
    #[arg(long, default_value = "5/s")]
    pub rate_limit: RateLimit,
    /// Stock updates per call the channels accept.
    #[arg(long, default_value_t = 50)]
    pub max_batch: usize,
    #[command(flatten)]
    pub backends: Backends,
}

pub(super) async fn run(args: &BurstArgs) -> Result<BenchReport, BenchError> {
    if args.orders == 0 || !(args.seconds.is_finite() && args.seconds > 0.0) {
        return Err(BenchError::InvalidOption(
            "--orders and --seconds must be positive".to_string(),
        ));
    }
    let on_hand = i64::try_from(args.orders + 100).unwrap_or(i64::MAX / 4);
    let plan = WorldPlan {
        channels: args.channels.max(1),
        rate_limit: Some(args.rate_limit),
        max_batch: args.max_batch,
        skus: args.skus,
        on_hand,
        shown_before: on_hand,
    };
    let world = World::start(&args.backends, &plan).await?;
    let outcome = measure(&world, args).await;
    world.stop().await;
    outcome
}

async fn measure(world: &World, args: &BurstArgs) -> Result<BenchReport, BenchError> {
    // The first push is itself rate-limited: allow for it.
    let calls_needed = (args.skus.div_ceil(args.max_batch.max(1)) + 1) as f64;
    let patience = Duration::from_secs_f64(
        calls_needed / args.rate_limit.per_second_f64().max(1e-6) * 3.0 + 30.0,
    );
    world.wait_first_push(patience).await?;
    // A full window of the sliding limit, so the burst starts with the limit's whole budget.
    tokio::time::sleep(args.rate_limit.period.max(Duration::from_millis(300))).await;
    let burst_start = Utc::now();
    let mut dice = Dice::from_clock();
    let mut requests = JoinSet::new();
    let spacing = Duration::from_secs_f64(args.seconds / args.orders as f64);
    let mut ticker = tokio::time::interval(spacing);
    let clock = Instant::now();
    let mut ordered = BTreeSet::new();
    for index in 0..args.orders {
        ticker.tick().await;
        let market = index % world.markets.len();
        let sku_index = dice.roll(world.skus.len());
        let sku = world.skus[sku_index].as_str();
        ordered.insert(sku);
        let order_id = world.place_order(market, &[sku])?;
        let request = world.webhook_request(market, &order_id);
        let sent_at = clock.elapsed();
        requests.spawn(async move { (sku_index, sent_at, send(request).await) });
    }
    let burst_time = clock.elapsed();
    let mut accepted = 0;
    // When each SKU changed, as far as the benchmark can tell: when its webhook was answered.
    let mut changes: Vec<(Duration, &str)> = Vec::with_capacity(args.orders);
    while let Some(result) = requests.join_next().await {
        if let Ok((sku_index, sent_at, (200, took))) = result {
            accepted += 1;
            changes.push((sent_at + took, world.skus[sku_index].as_str()));
        }
    }
    changes.sort();
    let drain_patience = Duration::from_secs_f64(
        (ordered.len().div_ceil(args.max_batch.max(1)) as f64 + 2.0) * world.markets.len() as f64
            / args.rate_limit.per_second_f64().max(1e-6)
            + 60.0,
    );
    let converged = world.wait_converged(drain_patience).await?;
    let converged_after = (Utc::now() - burst_start).to_std().unwrap_or_default();

    let mut report = BenchReport::new(
        "burst",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    report.value("database_name", world.database_name());
    report
        .figure("orders", args.orders, "orders", args.orders.to_string())
        .figure(
            "burst_seconds",
            round2(burst_time.as_secs_f64()),
            "burst length",
            format!("{:.2} s", burst_time.as_secs_f64()),
        )
        .figure(
            "accepted",
            accepted,
            "webhooks answered 200",
            accepted.to_string(),
        )
        .figure(
            "distinct_skus",
            ordered.len(),
            "distinct items ordered",
            ordered.len().to_string(),
        )
        .figure(
            "max_batch",
            args.max_batch,
            "batch maximum",
            args.max_batch.to_string(),
        )
        .figure(
            "rate_limit",
            args.rate_limit.to_string(),
            "rate limit",
            args.rate_limit.to_string(),
        );
    let mut total_calls = 0;
    let mut total_ideal = 0;
    let mut total_429 = 0;
    let mut channels = Vec::new();
    let spacing = args
        .rate_limit
        .period
        .checked_div(args.rate_limit.requests)
        .unwrap_or_default();
    let (ideal, flushes) = ideal_calls(&changes, DEFAULT_COALESCE_WINDOW, spacing, args.max_batch);
    for market in &world.markets {
        let log: Vec<StockRequestRecord> = market
            .sim
            .stock_log()
            .into_iter()
            .filter(|record| record.received_at >= burst_start)
            .collect();
        let tally = tally(&log, burst_start);
        total_calls += tally.calls;
        total_ideal += ideal;
        total_429 += tally.rate_limited;
        report.text(
            &format!("{} calls", market.channel),
            format!(
                "{} (ideal {ideal} in {flushes} flushes; {} listings, {:.1} per call; {} refused 429; last at +{} ms)",
                tally.calls,
                tally.listings,
                tally.listings as f64 / tally.applied.max(1) as f64,
                tally.rate_limited,
                tally.last_call_ms
            ),
        );
        channels.push(serde_json::json!({
            "channel": market.channel,
            "calls": tally.calls,
            "ideal": ideal,
            "ideal_flushes": flushes,
            "listings": tally.listings,
            "rate_limited": tally.rate_limited,
        }));
    }
    let ratio = total_calls as f64 / total_ideal.max(1) as f64;
    let lower_bound = ordered.len().div_ceil(args.max_batch.max(1)) * world.markets.len();
    report
        .value("per_channel", serde_json::Value::Array(channels))
        .figure(
            "calls",
            total_calls,
            "calls, all channels",
            format!(
                "{total_calls} (ideal {total_ideal}; one single flush would need {lower_bound})"
            ),
        )
        .figure(
            "ideal_calls",
            total_ideal,
            "ideal calls",
            total_ideal.to_string(),
        )
        .figure(
            "single_flush_calls",
            lower_bound,
            "single-flush calls",
            lower_bound.to_string(),
        )
        .figure(
            "calls_vs_ideal",
            round2(ratio),
            "calls / ideal",
            format!("{ratio:.2}"),
        )
        .figure(
            "rate_limited",
            total_429,
            "429 answers",
            total_429.to_string(),
        )
        .figure(
            "converged_after_ms",
            converged_after.as_millis() as u64,
            "converged after",
            format!("{} ms from the burst's start", converged_after.as_millis()),
        )
        .figure(
            "converged",
            converged,
            "converged",
            if converged { "yes" } else { "NO" },
        );
    Ok(report)
}

/// Calls one channel received during and after the burst.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    calls: usize,
    applied: usize,
    rate_limited: usize,
    listings: usize,
    last_call_ms: i64,
}

fn tally(log: &[StockRequestRecord], since: DateTime<Utc>) -> Tally {
    let mut tally = Tally::default();
    for record in log {
        tally.calls += 1;
        tally.last_call_ms = (record.received_at - since).num_milliseconds();
        match record.outcome {
            StockRequestOutcome::RateLimited => tally.rate_limited += 1,
            StockRequestOutcome::Applied => {
                tally.applied += 1;
                tally.listings += record.listing_ids.len();
            }
            StockRequestOutcome::InjectedError | StockRequestOutcome::BatchTooLarge => {}
        }
    }
    tally
}

/// The calls an ideal pusher makes for `changes` (when each SKU changed, in order): the first
/// change waits one coalescing `window`; then every distinct SKU changed by then goes out in
/// ceil(distinct ÷ `max_batch`) calls, spaced `spacing` apart as the rate limit demands;
/// changes arriving meanwhile wait for the next flush, which starts as soon as this one ends.
/// That is ceil(distinct SKUs ÷ batch maximum) per flush, with as few flushes as the window
/// and the limit allow.
pub(super) fn ideal_calls(
    changes: &[(Duration, &str)],
    window: Duration,
    spacing: Duration,
    max_batch: usize,
) -> (usize, usize) {
    let mut calls = 0;
    let mut flushes = 0;
    let mut index = 0;
    let mut busy_until = Duration::ZERO;
    let mut next_call = Duration::ZERO;
    while index < changes.len() {
        let flush_at = changes[index].0.max(busy_until) + window;
        let mut dirty = BTreeSet::new();
        while index < changes.len() && changes[index].0 <= flush_at {
            dirty.insert(changes[index].1);
            index += 1;
        }
        flushes += 1;
        let batches = dirty.len().div_ceil(max_batch.max(1));
        for _ in 0..batches {
            let at = flush_at.max(next_call);
            next_call = at + spacing;
            busy_until = at;
        }
        calls += batches;
    }
    (calls, flushes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(listings: &[&str], outcome: StockRequestOutcome) -> StockRequestRecord {
        StockRequestRecord {
            received_at: DateTime::<Utc>::from_timestamp_millis(1_000).unwrap_or_default(),
            listing_ids: listings.iter().map(|id| id.to_string()).collect(),
            quantities: vec![1; listings.len()],
            outcome,
        }
    }

    #[test]
    fn calls_refusals_and_listings_are_counted() {
        let since = DateTime::<Utc>::from_timestamp_millis(0).unwrap_or_default();
        let log = vec![
            call(&["a", "b"], StockRequestOutcome::Applied),
            call(&["a"], StockRequestOutcome::RateLimited),
            call(&["c"], StockRequestOutcome::Applied),
        ];
        let tally = tally(&log, since);
        assert_eq!(tally.calls, 3);
        assert_eq!(tally.applied, 2);
        assert_eq!(tally.rate_limited, 1);
        assert_eq!(tally.listings, 3);
        assert_eq!(tally.last_call_ms, 1_000);
    }

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn changes_within_one_window_make_one_flush() {
        let changes = [(ms(0), "a"), (ms(10), "b"), (ms(20), "a")];
        assert_eq!(ideal_calls(&changes, ms(25), ms(200), 50), (1, 1));
        // Three distinct SKUs with a batch maximum of two: two calls in one flush.
        let changes = [(ms(0), "a"), (ms(10), "b"), (ms(20), "c")];
        assert_eq!(ideal_calls(&changes, ms(25), ms(200), 2), (2, 1));
    }

    #[test]
    fn changes_during_a_throttled_flush_wait_for_the_next_one() {
        // Flush 1 at 25 ms makes two calls (at 25 and 225 ms); everything that changed until
        // then goes out in flush 2 at 250 ms, whose single call waits for 425 ms.
        let changes = [
            (ms(0), "a"),
            (ms(1), "b"),
            (ms(2), "c"),
            (ms(100), "d"),
            (ms(200), "e"),
        ];
        assert_eq!(ideal_calls(&changes, ms(25), ms(200), 2), (3, 2));
    }
}
