//! `bench resync`: a full push of a catalog to channels with a rate limit (the daemon's
//! start-up sweep over listings no channel has confirmed yet); the achieved call rate against
//! the limit.

use super::report::{milliseconds, round2, round3, BenchReport};
use super::setup::Backends;
use super::world::{World, WorldPlan};
use super::BenchError;
use omnistock_connector::RateLimit;
use omnistock_sim::StockRequestOutcome;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct ResyncArgs {
    /// Items in the catalog, each listed on every channel.
    #[arg(long, default_value_t = 5_000)]
    pub skus: usize,
    /// Simulated marketplaces.
    #[arg(long, default_value_t = 2)]
    pub channels: usize,
    /// Each channel's limit on stock-update calls, "N/s" or "N/min" (enforced by the sim, and
    /// given to the daemon as the platform's documented limit).
    #[arg(long, default_value = "10/s")]
    pub rate_limit: RateLimit,
    /// Stock updates per call the channels accept.
    #[arg(long, default_value_t = 50)]
    pub max_batch: usize,
    #[command(flatten)]
    pub backends: Backends,
}

pub(super) async fn run(args: &ResyncArgs) -> Result<BenchReport, BenchError> {
    let plan = WorldPlan {
        channels: args.channels.max(1),
        rate_limit: Some(args.rate_limit),
        max_batch: args.max_batch,
        skus: args.skus,
        on_hand: 7,
        // Every listing shows something else, as after a long outage or a first connection.
        shown_before: 0,
    };
    let world = World::start(&args.backends, &plan).await?;
    let outcome = measure(&world, args).await;
    world.stop().await;
    outcome
}

async fn measure(world: &World, args: &ResyncArgs) -> Result<BenchReport, BenchError> {
    let calls_needed = args.skus.div_ceil(args.max_batch.max(1));
    let expected = calls_needed as f64 / args.rate_limit.per_second_f64().max(1e-6);
    let finished = world
        .wait_first_push(Duration::from_secs_f64(expected * 3.0 + 30.0))
        .await?;
    let total = (finished - world.started_at).to_std().unwrap_or_default();
    let limit = args.rate_limit.per_second_f64();

    let mut report = BenchReport::new(
        "resync",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    report.value("database_name", world.database_name());
    report
        .figure(
            "skus",
            args.skus,
            "items (listings per channel)",
            args.skus.to_string(),
        )
        .figure(
            "channels",
            world.markets.len(),
            "channels",
            world.markets.len().to_string(),
        )
        .figure(
            "rate_limit",
            args.rate_limit.to_string(),
            "rate limit",
            args.rate_limit.to_string(),
        )
        .figure(
            "max_batch",
            args.max_batch,
            "batch maximum",
            args.max_batch.to_string(),
        )
        .figure(
            "daemon_start_ms",
            milliseconds(world.build_time),
            "daemon start (build)",
            format!("{:.0} ms", milliseconds(world.build_time)),
        );
    let first_call = world
        .markets
        .iter()
        .filter_map(|market| {
            market
                .sim
                .stock_log()
                .first()
                .map(|record| record.received_at)
        })
        .min();
    let until_first =
        first_call.map(|first| (first - world.started_at).to_std().unwrap_or_default());
    report.figure(
        "first_call_ms",
        until_first.map(milliseconds),
        "first call after the daemon's start",
        until_first.map_or("n/a".to_string(), |first| {
            format!("{:.0} ms", milliseconds(first))
        }),
    );
    let mut worst_fraction = f64::INFINITY;
    let mut total_429 = 0;
    let mut per_channel = Vec::new();
    for market in &world.markets {
        let log = market.sim.stock_log();
        let applied: Vec<_> = log
            .iter()
            .filter(|record| record.outcome == StockRequestOutcome::Applied)
            .collect();
        let refused = log
            .iter()
            .filter(|record| record.outcome == StockRequestOutcome::RateLimited)
            .count();
        total_429 += refused;
        // The rate between the first and the last call: n calls make n - 1 intervals.
        let rate = match (applied.first(), applied.last()) {
            (Some(first), Some(last)) if applied.len() > 1 => {
                let span = (last.received_at - first.received_at)
                    .to_std()
                    .unwrap_or_default();
                (applied.len() - 1) as f64 / span.as_secs_f64().max(1e-9)
            }
            _ => f64::NAN,
        };
        let fraction = rate / limit;
        if fraction.is_finite() {
            worst_fraction = worst_fraction.min(fraction);
        }
        report.text(
            &format!("{} calls", market.channel),
            format!(
                "{} (ideal {calls_needed}), {rate:.2}/s = {:.1} % of the limit, {refused} refused 429",
                applied.len(),
                fraction * 100.0
            ),
        );
        per_channel.push(serde_json::json!({
            "channel": market.channel,
            "calls": applied.len(),
            "rate_per_s": round2(rate),
            "fraction_of_limit": round3(fraction),
            "rate_limited": refused,
        }));
    }
    let worst = worst_fraction.is_finite().then_some(worst_fraction);
    report
        .value("per_channel", serde_json::Value::Array(per_channel))
        .figure(
            "fraction_of_limit",
            worst.map(round3),
            "achieved / limit (slowest channel)",
            // Shown unrounded, as the channel rows are: 94.7 % must not read 95.0 %.
            worst.map_or("n/a (fewer than 2 calls)".to_string(), |worst| {
                format!("{:.1} %", worst * 100.0)
            }),
        )
        .figure(
            "rate_limited",
            total_429,
            "429 answers",
            total_429.to_string(),
        )
        .figure(
            "full_push_ms",
            milliseconds(total),
            "full push",
            format!(
                "{:.1} s from the daemon's start (at the limit: {expected:.1} s)",
                total.as_secs_f64()
            ),
        );
    Ok(report)
}
