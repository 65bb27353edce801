//! `bench ingest`: M concurrent senders post order webhooks as fast as the daemon answers them,
//! for a fixed time; the booked order-line rate and the webhook response times.

use super::report::{round2, BenchReport, Distribution};
use super::setup::Backends;
use super::world::{send, World, WorldPlan};
use super::{BenchError, Dice};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The daemon's histogram of events per booking transaction (its group commit).
const BOOKING_GROUPS: &str = "omnistock_booking_group_events";

#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// Concurrent senders, each posting its next webhook as soon as the last was answered.
    #[arg(long, default_value_t = 32)]
    pub senders: usize,
    /// How long the senders send, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Lines per order (each one unit of a different random item).
    #[arg(long, default_value_t = 1)]
    pub lines: usize,
    /// Simulated marketplaces the orders come from (each is also pushed to).
    #[arg(long, default_value_t = 2)]
    pub channels: usize,
    /// Items in the catalog.
    #[arg(long, default_value_t = 1_000)]
    pub skus: usize,
    /// Stop after this many orders even if time is left.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_orders: usize,
    #[command(flatten)]
    pub backends: Backends,
}

/// What one sender saw.
#[derive(Default)]
struct SenderTally {
    statuses: BTreeMap<u16, usize>,
    responses: Vec<Duration>,
    lines_booked: usize,
}

pub async fn run(args: &IngestArgs) -> Result<BenchReport, BenchError> {
    if args.senders == 0 || args.lines == 0 || !(args.seconds.is_finite() && args.seconds > 0.0) {
        return Err(BenchError::InvalidOption(
            "--senders, --lines and --seconds must be positive".to_string(),
        ));
    }
    if args.lines > args.skus {
        return Err(BenchError::InvalidOption(
            "--lines must not exceed --skus".to_string(),
        ));
    }
    // Enough that no order ever finds an item sold out.
    let on_hand = 1_000_000_000;
    let plan = WorldPlan {
        channels: args.channels.max(1),
        rate_limit: None,
        max_batch: omnistock_sim::DEFAULT_MAX_BATCH,
        skus: args.skus,
        on_hand,
        shown_before: on_hand,
    };
    let world = World::start(&args.backends, &plan).await?;
    let outcome = measure(&world, args).await;
    world.stop().await;
    outcome
}

async fn measure(world: &World, args: &IngestArgs) -> Result<BenchReport, BenchError> {
    world.wait_first_push(Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let path_before = world.stock_path_snapshot().await;
    let groups_before = world.histogram_totals(BOOKING_GROUPS).await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let budget = std::sync::atomic::AtomicUsize::new(args.max_orders);
    // The senders run as futures of this task: each spends its time waiting for the daemon,
    // and the daemon gets the cores.
    let senders = (0..args.senders).map(|sender| {
        let budget = &budget;
        async move {
            let mut dice = Dice::from_clock();
            let mut tally = SenderTally::default();
            let mut next_market = sender;
            while Instant::now() < deadline
                && budget
                    .fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |left| left.checked_sub(1),
                    )
                    .is_ok()
            {
                let market = next_market % world.markets.len();
                next_market += 1;
                let skus = distinct_skus(&mut dice, &world.skus, args.lines);
                let order_id = world.place_order(market, &skus)?;
                let (status, took) = send(world.webhook_request(market, &order_id)).await;
                *tally.statuses.entry(status).or_default() += 1;
                tally.responses.push(took);
                if status == 200 {
                    tally.lines_booked += skus.len();
                }
            }
            Ok::<SenderTally, BenchError>(tally)
        }
    });
    let tallies = futures::future::join_all(senders).await;
    let elapsed = started.elapsed();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut responses = Vec::new();
    let mut lines_booked = 0;
    for tally in tallies {
        let tally = tally?;
        for (status, count) in tally.statuses {
            *statuses.entry(status).or_default() += count;
        }
        responses.extend(tally.responses);
        lines_booked += tally.lines_booked;
    }
    let orders: usize = statuses.values().sum();
    let booked_orders = statuses.get(&200).copied().unwrap_or(0);
    let converged = world.wait_converged(Duration::from_secs(60)).await?;
    let responses = Distribution::new(responses);
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let lines_per_second = lines_booked as f64 / seconds;

    let mut report = BenchReport::new(
        "ingest",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    report.value("database_name", world.database_name());
    report
        .figure(
            "senders",
            args.senders,
            "concurrent senders",
            args.senders.to_string(),
        )
        .figure(
            "channels",
            world.markets.len(),
            "channels",
            world.markets.len().to_string(),
        )
        .figure(
            "lines_per_order",
            args.lines,
            "lines per order",
            args.lines.to_string(),
        )
        .figure(
            "seconds",
            round2(seconds),
            "sending time",
            format!("{seconds:.1} s"),
        )
        .figure("orders", orders, "webhooks posted", orders.to_string())
        .figure(
            "orders_booked",
            booked_orders,
            "answered 200",
            booked_orders.to_string(),
        )
        .figure(
            "other_answers",
            orders - booked_orders,
            "other answers",
            format!(
                "{:?}",
                statuses
                    .iter()
                    .filter(|(status, _)| **status != 200)
                    .collect::<Vec<_>>()
            ),
        )
        .figure(
            "orders_per_s",
            round2(booked_orders as f64 / seconds),
            "orders booked",
            format!("{:.0}/s", booked_orders as f64 / seconds),
        )
        .figure(
            "lines_per_s",
            round2(lines_per_second),
            "order lines booked",
            format!("{lines_per_second:.0}/s"),
        );
    responses.add_to(&mut report, "webhook", "webhook response");
    let groups_after = world.histogram_totals(BOOKING_GROUPS).await;
    let transactions = groups_after.1 - groups_before.1;
    let events_per_transaction =
        (transactions > 0.0).then(|| (groups_after.0 - groups_before.0) / transactions);
    report.figure(
        "events_per_booking_transaction",
        events_per_transaction.map(round2),
        "order events per booking transaction (mean)",
        events_per_transaction.map_or("n/a".to_string(), |mean| format!("{mean:.1}")),
    );
    world.add_stock_path_means(&mut report, &path_before).await;
    report.figure(
        "converged",
        converged,
        "converged afterwards",
        if converged { "yes" } else { "NO" },
    );
    Ok(report)
}

/// `count` different items, chosen at random.
fn distinct_skus<'a>(dice: &mut Dice, skus: &'a [String], count: usize) -> Vec<&'a str> {
    let mut chosen: Vec<&str> = Vec::with_capacity(count);
    while chosen.len() < count {
        let sku = skus[dice.roll(skus.len())].as_str();
        if !chosen.contains(&sku) {
            chosen.push(sku);
        }
    }
    chosen
}
