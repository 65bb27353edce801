//! `bench propagation`: orders at a steady rate on N channels without rate limits; for each
//! order, the delay from its webhook POST until every *other* channel received its new level.

use super::report::{round2, BenchReport, Distribution};
use super::setup::Backends;
use super::world::{listing_of, send, World, WorldPlan};
use super::{BenchError, Dice};
use chrono::{DateTime, Utc};
use omnistock_sim::{StockRequestOutcome, StockRequestRecord};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

#[derive(Debug, Clone, clap::Args)]
pub struct PropagationArgs {
    /// Simulated marketplaces, none rate-limited.
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// Orders per second, placed round-robin on the channels.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Orders in all (at `--rate`, 2000 take 10 s).
    #[arg(long, default_value_t = 2_000)]
    pub orders: usize,
    /// Items in the catalog; each order takes one unit of a random one.
    #[arg(long, default_value_t = 200)]
    pub skus: usize,
    #[command(flatten)]
    pub backends: Backends,
}

/// One order the benchmark posted.
struct Posted {
    market: usize,
    sku: String,
    posted_at: DateTime<Utc>,
    /// The SKU's availability once this order and every order before it are booked.
    level_after: i64,
}

pub(super) async fn run(args: &PropagationArgs) -> Result<BenchReport, BenchError> {
    if !(args.rate.is_finite() && args.rate > 0.0) || args.orders == 0 {
        return Err(BenchError::InvalidOption(
            "--rate and --orders must be positive".to_string(),
        ));
    }
    let on_hand = i64::try_from(args.orders / args.skus.max(1) * 2 + 100).unwrap_or(i64::MAX / 4);
    let plan = WorldPlan {
        channels: args.channels.max(2),
        rate_limit: None,
        max_batch: omnistock_sim::DEFAULT_MAX_BATCH,
        skus: args.skus,
        on_hand,
        shown_before: on_hand,
    };
    let world = World::start(&args.backends, &plan).await?;
    let outcome = measure(&world, args, on_hand).await;
    world.stop().await;
    outcome
}

async fn measure(
    world: &World,
    args: &PropagationArgs,
    on_hand: i64,
) -> Result<BenchReport, BenchError> {
    world.wait_first_push(Duration::from_secs(60)).await?;
    // Let the start-up sweep's leftovers (messages of the catalog's bindings) drain.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let path_before = world.stock_path_snapshot().await;
    let mut dice = Dice::from_clock();
    let mut levels: HashMap<&str, i64> = world
        .skus
        .iter()
        .map(|sku| (sku.as_str(), on_hand))
        .collect();
    let mut posted = Vec::with_capacity(args.orders);
    let mut requests = JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    let clock = Instant::now();
    for index in 0..args.orders {
        ticker.tick().await;
        let market = index % world.markets.len();
        let sku = world.skus[dice.roll(world.skus.len())].as_str();
        let order_id = world.place_order(market, &[sku])?;
        let level = levels.entry(sku).or_default();
        *level -= 1;
        posted.push(Posted {
            market,
            sku: sku.to_string(),
            posted_at: Utc::now(),
            level_after: *level,
        });
        requests.spawn(send(world.webhook_request(market, &order_id)));
    }
    let sending = clock.elapsed();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut responses = Vec::with_capacity(args.orders);
    while let Some(result) = requests.join_next().await {
        let (status, took) = result.unwrap_or((0, Duration::ZERO));
        *statuses.entry(status).or_default() += 1;
        responses.push(took);
    }
    let converged = world.wait_converged(Duration::from_secs(60)).await?;
    let logs: Vec<Vec<StockRequestRecord>> = world
        .markets
        .iter()
        .map(|market| market.sim.stock_log())
        .collect();
    let (delays, unmeasured) = delays(&posted, &logs);
    let delays = Distribution::new(delays);
    let responses = Distribution::new(responses);

    let mut report = BenchReport::new(
        "propagation",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    report.value("database_name", world.database_name());
    let achieved = args.orders as f64 / sending.as_secs_f64().max(1e-9);
    report
        .figure(
            "channels",
            world.markets.len(),
            "channels",
            world.markets.len().to_string(),
        )
        .figure("skus", args.skus, "items", args.skus.to_string())
        .figure(
            "orders",
            args.orders,
            "orders posted",
            args.orders.to_string(),
        )
        .figure(
            "rate_per_s",
            round2(achieved),
            "order rate",
            format!("{achieved:.1}/s (asked {}/s)", args.rate),
        )
        .figure(
            "accepted",
            statuses.get(&200).copied().unwrap_or(0),
            "webhooks answered 200",
            statuses.get(&200).copied().unwrap_or(0).to_string(),
        )
        .figure(
            "measured",
            delays.len(),
            "orders measured",
            format!(
                "{} ({unmeasured} never reached every other channel)",
                delays.len()
            ),
        );
    delays.add_to(&mut report, "propagation", "propagation");
    responses.add_to(&mut report, "webhook", "webhook response");
    world.add_stock_path_means(&mut report, &path_before).await;
    report.figure(
        "converged",
        converged,
        "converged",
        if converged { "yes" } else { "NO" },
    );
    Ok(report)
}

/// Per listing, the applied updates a channel received in arrival order: (time, quantity).
type UpdatesByListing<'a> = HashMap<&'a str, Vec<(DateTime<Utc>, i64)>>;

/// Per order, the delay until the slowest other channel applied an update of its SKU at or
/// below the level the order left; and how many orders never got there.
fn delays(posted: &[Posted], logs: &[Vec<StockRequestRecord>]) -> (Vec<Duration>, usize) {
    let indexed: Vec<UpdatesByListing> = logs
        .iter()
        .map(|log| {
            let mut by_listing: HashMap<&str, Vec<(DateTime<Utc>, i64)>> = HashMap::new();
            for record in log
                .iter()
                .filter(|r| r.outcome == StockRequestOutcome::Applied)
            {
                for (listing, quantity) in record.listing_ids.iter().zip(&record.quantities) {
                    by_listing
                        .entry(listing.as_str())
                        .or_default()
                        .push((record.received_at, *quantity));
                }
            }
            by_listing
        })
        .collect();
    let mut delays = Vec::with_capacity(posted.len());
    let mut unmeasured = 0;
    for order in posted {
        let listing = listing_of(&order.sku);
        let mut slowest = Some(Duration::ZERO);
        for (market, updates) in indexed.iter().enumerate() {
            if market == order.market {
                continue;
            }
            let reached = updates.get(listing.as_str()).and_then(|updates| {
                updates
                    .iter()
                    .find(|(at, quantity)| *at >= order.posted_at && *quantity <= order.level_after)
                    .map(|(at, _)| *at)
            });
            slowest = match (slowest, reached) {
                (Some(slowest), Some(at)) => {
                    Some(slowest.max((at - order.posted_at).to_std().unwrap_or_default()))
                }
                _ => None,
            };
        }
        match slowest {
            Some(delay) => delays.push(delay),
            None => unmeasured += 1,
        }
    }
    (delays, unmeasured)
}
