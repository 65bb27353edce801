//! `bench discover`: listing discovery of a large catalog (100,000 listings by default) on a
//! sim, through the channel's gateway within its rate limit; how long it took, the catalog
//! calls made against the limit, and how much the process's peak resident memory grew while
//! it ran (the sim and the ledger are built before the peak is reset, so the growth is the
//! discovery's: its page in flight, the per-SKU classification and the sim's answer).

use super::report::{milliseconds, round2, BenchReport};
use super::setup::{scratch_database, Backends};
use super::BenchError;
use crate::ledger::{Ledger, StockCount};
use crate::ops::discovery::{self, ListingClass};
use crate::sync::gateway::Interrupt;
use crate::sync::ChannelRuntime;
use omnistock_connector::{Connector, RateLimit};
use omnistock_sim::{SimOptions, SimServer};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct DiscoverArgs {
    /// Listings in the sim's catalog, each with its own SKU.
    #[arg(long, default_value_t = 100_000)]
    pub listings: usize,
    /// The share of the listings' SKUs that are ledger items, in percent (the rest are
    /// unmatched).
    #[arg(long, default_value_t = 90)]
    pub known_percent: usize,
    /// The channel's rate limit, "N/s" or "N/min" (every catalog page is one call).
    #[arg(long, default_value = "10/s")]
    pub rate_limit: RateLimit,
    /// Also bind the new listings (one transaction) and time it.
    #[arg(long)]
    pub apply: bool,
    #[command(flatten)]
    pub backends: Backends,
}

/// `/proc/self/status`'s `field` in KiB.
fn own_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Resets the peak resident memory (`VmHWM`) to the current one; `false` where Linux does not
/// let it.
fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub(super) async fn run(args: &DiscoverArgs) -> Result<BenchReport, BenchError> {
    let mut database = scratch_database(&args.backends.database).await?;
    let outcome = measure(args, database.url()).await;
    let name = database.name();
    database.remove().await;
    outcome.map(|mut report| {
        report.value("database_name", name);
        report
    })
}

async fn measure(args: &DiscoverArgs, database_url: &str) -> Result<BenchReport, BenchError> {
    let sim = SimServer::start(SimOptions::default()).await?;
    let ledger = Ledger::connect(database_url).await?;
    ledger.migrate().await?;
    ledger.upsert_location("default", "default").await?;
    ledger.upsert_channel("bench", "sim").await?;
    let known = args.listings * args.known_percent.min(100) / 100;
    let mut counts = Vec::with_capacity(known);
    for index in 0..args.listings {
        let sku = format!("SKU-{index:07}");
        sim.create_listing(Some(&format!("L-{index:07}")), &sku, 3)?;
        if index < known {
            counts.push(StockCount {
                sku,
                location: "default".into(),
                on_hand: 3,
            });
        }
    }
    ledger
        .import_counts(&counts, "bench-discover", Some("bench"), None)
        .await?;
    drop(counts);
    let connector: Arc<dyn Connector> = Arc::new(
        sim.connector()
            .map_err(|error| BenchError::InvalidOption(format!("the sim's connector: {error}")))?,
    );
    let channel = ChannelRuntime::new(
        "bench".into(),
        connector,
        "default".into(),
        Some(args.rate_limit),
        None,
    );
    let reads_before = sim.counters().catalog_reads;
    let rss_before = own_status_kib("VmRSS");
    let peak_reset = reset_peak_memory();
    let started = Instant::now();
    let report = discovery::discover(&ledger, &channel, false, Interrupt::never(), |_| {}).await;
    let took = started.elapsed();
    let peak = own_status_kib("VmHWM");
    let report = report.map_err(|error| BenchError::InvalidOption(error.to_string()))?;
    let calls = sim.counters().catalog_reads - reads_before;
    let apply_took = if args.apply {
        let started = Instant::now();
        discovery::discover(&ledger, &channel, true, Interrupt::never(), |_| {})
            .await
            .map_err(|error| BenchError::InvalidOption(error.to_string()))?;
        Some(started.elapsed())
    } else {
        None
    };
    ledger.close().await;
    sim.shutdown().await;

    let mut bench = BenchReport::new(
        "discover",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    let seconds = took.as_secs_f64().max(1e-9);
    let growth_kib = match (peak_reset, peak, rss_before) {
        (true, Some(peak), Some(before)) => Some(peak.saturating_sub(before)),
        _ => None,
    };
    let mib = |kib: Option<u64>| kib.map(|kib| round2(kib as f64 / 1024.0));
    bench
        .figure(
            "listings",
            report.listings,
            "listings read",
            report.listings.to_string(),
        )
        .figure(
            "discover_ms",
            round2(milliseconds(took)),
            "discovery (dry run) took",
            format!("{:.0} ms", milliseconds(took)),
        )
        .figure(
            "catalog_calls",
            calls,
            "catalog calls (pages)",
            calls.to_string(),
        )
        .figure(
            "calls_per_second",
            round2(calls as f64 / seconds),
            "calls per second (limit)",
            format!("{:.2} ({})", calls as f64 / seconds, args.rate_limit),
        )
        .figure(
            "listings_per_second",
            round2(report.listings as f64 / seconds),
            "listings per second",
            format!("{:.0}", report.listings as f64 / seconds),
        )
        .figure(
            "rss_before_mib",
            mib(rss_before),
            "resident memory before (sim and ledger built)",
            mib(rss_before).map_or("n/a".into(), |mib| format!("{mib} MiB")),
        )
        .figure(
            "peak_growth_mib",
            mib(growth_kib),
            "peak resident memory growth during discovery",
            mib(growth_kib).map_or("n/a".into(), |mib| format!("{mib} MiB")),
        );
    for class in ListingClass::ALL {
        bench.figure(
            class.as_str(),
            report.count(class),
            class.as_str(),
            report.count(class).to_string(),
        );
    }
    if let Some(apply_took) = apply_took {
        bench.figure(
            "apply_ms",
            round2(milliseconds(apply_took)),
            "discovery with --apply (binding the new ones) took",
            format!("{:.0} ms", milliseconds(apply_took)),
        );
    }
    Ok(bench)
}
