//! `bench ingest`: M concurrent senders post order webhooks as fast as the daemon answers them,
//! for a fixed time; the booked order-line rate and the webhook response times. Several sender
//! counts run one after the other against the same daemon, because a closed loop of M senders
//! books at most M ÷ response time: the highest sustained rate is the best of the steps.

use super::report::{round2, BenchReport, Distribution};
use super::setup::Backends;
use super::world::{send, World, WorldPlan};
use super::{BenchError, Dice};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The daemon's histogram of events per booking transaction (its group commit).
const BOOKING_GROUPS: &str = "omnistock_booking_group_events";

#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// Concurrent senders, each posting its next webhook as soon as the last was answered; a
    /// list runs one step per count, in order, and reports the best step that was sustained.
    #[arg(long, value_delimiter = ',', default_value = "32,64,128,256")]
    pub senders: Vec<usize>,
    /// How long the senders of each step send, in seconds.
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
    /// Stop a step after this many orders even if time is left.
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

/// What one step (one sender count) measured.
struct Step {
    senders: usize,
    seconds: f64,
    statuses: BTreeMap<u16, usize>,
    responses: Distribution,
    lines_booked: usize,
    events_per_transaction: Option<f64>,
    /// Every channel showed the ledger's stock after the step.
    converged: bool,
}

impl Step {
    fn orders(&self) -> usize {
        self.statuses.values().sum()
    }

    fn orders_booked(&self) -> usize {
        self.statuses.get(&200).copied().unwrap_or(0)
    }

    fn lines_per_second(&self) -> f64 {
        self.lines_booked as f64 / self.seconds.max(1e-9)
    }

    /// Every webhook answered 200 and the channels caught up afterwards.
    fn sustained(&self) -> bool {
        self.orders_booked() == self.orders() && self.converged
    }

    fn p99_ms(&self) -> Option<f64> {
        self.responses
            .percentile(0.99)
            .map(super::report::milliseconds)
    }

    /// One row of the table of steps.
    fn summary(&self) -> String {
        format!(
            "{:.0} lines/s, webhook p99 {}, {} events per transaction{}",
            self.lines_per_second(),
            self.p99_ms()
                .map_or("n/a".to_string(), |p99| format!("{p99:.1} ms")),
            self.events_per_transaction
                .map_or("n/a".to_string(), |mean| format!("{mean:.1}")),
            if self.sustained() {
                ""
            } else {
                " (NOT sustained)"
            },
        )
    }

    /// The step in the JSON line's `steps` list.
    fn json(&self) -> serde_json::Value {
        json!({
            "senders": self.senders,
            "lines_per_s": round2(self.lines_per_second()),
            "webhook_p99_ms": self.p99_ms(),
            "events_per_booking_transaction": self.events_per_transaction.map(round2),
            "other_answers": self.orders() - self.orders_booked(),
            "converged": self.converged,
        })
    }
}

pub(super) async fn run(args: &IngestArgs) -> Result<BenchReport, BenchError> {
    if args.senders.is_empty()
        || args.senders.contains(&0)
        || args.lines == 0
        || !(args.seconds.is_finite() && args.seconds > 0.0)
    {
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
    let mut steps = Vec::with_capacity(args.senders.len());
    for &senders in &args.senders {
        let step = measure_step(world, args, senders).await?;
        // Progress on standard error: a run of several steps takes a minute or more.
        eprintln!("ingest: {senders} senders: {}", step.summary());
        steps.push(step);
    }
    let Some(best) = best_step(&steps) else {
        return Err(BenchError::InvalidOption("--senders is empty".to_string()));
    };

    let mut report = BenchReport::new(
        "ingest",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    report.value("database_name", world.database_name());
    report
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
        );
    for step in &steps {
        report.text(&format!("{:>4} senders", step.senders), step.summary());
    }
    report.value("steps", steps.iter().map(Step::json).collect::<Vec<_>>());
    report
        .figure(
            "sustained",
            best.sustained(),
            "best step",
            format!(
                "{} senders{}",
                best.senders,
                if best.sustained() {
                    ""
                } else {
                    " (no step was sustained)"
                }
            ),
        )
        .figure(
            "senders",
            best.senders,
            "  concurrent senders",
            best.senders.to_string(),
        )
        .figure(
            "seconds",
            round2(best.seconds),
            "  sending time",
            format!("{:.1} s", best.seconds),
        )
        .figure(
            "orders",
            best.orders(),
            "  webhooks posted",
            best.orders().to_string(),
        )
        .figure(
            "orders_booked",
            best.orders_booked(),
            "  answered 200",
            best.orders_booked().to_string(),
        )
        .figure(
            "other_answers",
            best.orders() - best.orders_booked(),
            "  other answers",
            format!(
                "{:?}",
                best.statuses
                    .iter()
                    .filter(|(status, _)| **status != 200)
                    .collect::<Vec<_>>()
            ),
        )
        .figure(
            "orders_per_s",
            round2(best.orders_booked() as f64 / best.seconds.max(1e-9)),
            "  orders booked",
            format!(
                "{:.0}/s",
                best.orders_booked() as f64 / best.seconds.max(1e-9)
            ),
        )
        .figure(
            "lines_per_s",
            round2(best.lines_per_second()),
            "  order lines booked",
            format!("{:.0}/s", best.lines_per_second()),
        );
    best.responses
        .add_to(&mut report, "webhook", "  webhook response");
    report.figure(
        "events_per_booking_transaction",
        best.events_per_transaction.map(round2),
        "  order events per booking transaction (mean)",
        best.events_per_transaction
            .map_or("n/a".to_string(), |mean| format!("{mean:.1}")),
    );
    world.add_stock_path_means(&mut report, &path_before).await;
    let converged = steps.iter().all(|step| step.converged);
    report.figure(
        "converged",
        converged,
        "converged after every step",
        if converged { "yes" } else { "NO" },
    );
    Ok(report)
}

/// The step with the highest line rate among the sustained ones; without any, the highest.
fn best_step(steps: &[Step]) -> Option<&Step> {
    let by_rate = |a: &&Step, b: &&Step| a.lines_per_second().total_cmp(&b.lines_per_second());
    steps
        .iter()
        .filter(|step| step.sustained())
        .max_by(by_rate)
        .or_else(|| steps.iter().max_by(by_rate))
}

/// `senders` senders for `args.seconds`, then the wait until every channel caught up, so that
/// one step's backlog never slows the next.
async fn measure_step(
    world: &World,
    args: &IngestArgs,
    senders: usize,
) -> Result<Step, BenchError> {
    let groups_before = world.histogram_totals(BOOKING_GROUPS).await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let budget = std::sync::atomic::AtomicUsize::new(args.max_orders);
    // The senders run as futures of this task: each spends its time waiting for the daemon,
    // and the daemon gets the cores.
    let tallies = (0..senders).map(|sender| {
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
    let tallies = futures::future::join_all(tallies).await;
    let seconds = started.elapsed().as_secs_f64();
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
    let groups_after = world.histogram_totals(BOOKING_GROUPS).await;
    let transactions = groups_after.1 - groups_before.1;
    let events_per_transaction =
        (transactions > 0.0).then(|| (groups_after.0 - groups_before.0) / transactions);
    let converged = world.wait_converged(Duration::from_secs(60)).await?;
    Ok(Step {
        senders,
        seconds,
        statuses,
        responses: Distribution::new(responses),
        lines_booked,
        events_per_transaction,
        converged,
    })
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
