//! `omnistock demo` and `omnistock sim`: omnistock at work against simulated marketplaces.
//!
//! The demo starts the daemon in-process on the embedded default (a temporary SQLite file and
//! the in-process bus, HTTP on a free port) with two or three simulated marketplaces whose
//! webhooks point at it (polling is on as the safety net), lists a catalog on all of them,
//! places orders on random marketplaces at a steady rate (cancelling some), shows the flow live
//! and ends with a summary: orders booked, pushes made, propagation delay, convergence.

mod display;
mod report;
mod shopper;
mod standalone_sim;
mod world;

pub use report::{Propagation, PushCount};
pub use standalone_sim::{run_sim, SimArgs};

use crate::app::AppError;
use crate::ledger::LedgerError;
use display::{Display, Frame, MarketLine};
use omnistock_sim::{SimActionError, SimError};
use shopper::Shopper;
use std::time::Duration;
use world::DemoWorld;

/// The command line of `omnistock demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Orders to place before waiting for convergence.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub orders: u32,
    /// Orders placed per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Simulated marketplaces (2 or 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub channels: u8,
    /// Items in the catalog, each listed on every marketplace.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub skus: u32,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot create the demo's temporary database: {0}")]
    Database(#[from] crate::testkit::ScratchError),
    #[error("simulated marketplace: {0}")]
    Sim(#[from] SimError),
    #[error("simulated marketplace refused: {0}")]
    SimAction(#[from] SimActionError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("demo channel id: {reason}")]
    Channel { reason: String },
    #[error("--rate must be a positive number of orders per second")]
    InvalidRate,
    #[error(transparent)]
    Stopping(#[from] crate::testkit::DaemonStopError),
    #[error(transparent)]
    Catalog(#[from] crate::testkit::CatalogError),
    #[error("interrupted")]
    Interrupted,
}

/// What the demo found.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub orders: usize,
    pub cancellations: usize,
    pub sold_out: usize,
    /// Order events the ledger booked (orders and their cancellations).
    pub booked: u64,
    /// Per marketplace: channel id and pushes received.
    pub pushes: Vec<(String, PushCount)>,
    pub propagation: Propagation,
    /// Every order booked and every marketplace showing the ledger's stock.
    pub converged: bool,
    pub convergence_wait: Duration,
    /// When not converged: what differs (marketplaces against the ledger, the ledger against
    /// the orders placed).
    pub differences: Vec<String>,
}

/// How often the display is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// How long the demo waits for convergence after the last order.
const CONVERGENCE_PATIENCE: Duration = Duration::from_secs(30);

/// Logs go to standard error at `warn` (or as `RUST_LOG` says), so that they do not flood the
/// progress display.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the demo and prints its summary.
pub async fn run(args: &DemoArgs) -> Result<DemoReport, DemoError> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err(DemoError::InvalidRate);
    }
    let orders = usize::try_from(args.orders).unwrap_or(usize::MAX);
    let skus = usize::try_from(args.skus).unwrap_or(1);
    // Enough stock that buyers rarely find a marketplace sold out.
    let on_hand = i64::try_from((orders * 3 / skus).max(10) + 10).unwrap_or(i64::MAX);
    println!(
        "omnistock demo: the daemon on a temporary SQLite ledger with the in-process bus, {} \
         simulated marketplaces, {skus} items with {on_hand} units each; {orders} orders at \
         {} per second.\n",
        args.channels, args.rate
    );
    let world = DemoWorld::start(usize::from(args.channels), skus, on_hand).await?;
    // Ctrl-C ends the demo early but still stops everything and removes the temporary ledger.
    let outcome = tokio::select! {
        outcome = drive(&world, orders, args.rate, on_hand) => outcome,
        _ = tokio::signal::ctrl_c() => Err(DemoError::Interrupted),
    };
    let stopped = world.stop().await;
    let report = outcome?;
    stopped?;
    print_summary(&report);
    Ok(report)
}

async fn drive(
    world: &DemoWorld,
    orders: usize,
    rate: f64,
    on_hand: i64,
) -> Result<DemoReport, DemoError> {
    let mut shopper = Shopper::new(&world.skus, on_hand);
    let mut display = Display::new();
    let mut order_tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut redraw_tick = tokio::time::interval(REDRAW_EVERY);
    let mut steps = 0;
    while steps < orders {
        tokio::select! {
            _ = order_tick.tick() => {
                shopper.step(&world.markets, &world.skus)?;
                steps += 1;
            }
            _ = redraw_tick.tick() => {
                display.draw(&frame(world, &shopper, orders, "placing").await?);
            }
        }
    }
    let waited_from = tokio::time::Instant::now();
    let deadline = waited_from + CONVERGENCE_PATIENCE;
    let converged = loop {
        let current = frame(world, &shopper, orders, "converging").await?;
        let done = current.markets.iter().all(|market| market.skus_behind == 0)
            && ledger_matches(world, &shopper).await?;
        if done {
            display.draw(&Frame {
                phase: "converged",
                ..current
            });
            break true;
        }
        display.draw(&current);
        if tokio::time::Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(REDRAW_EVERY).await;
    };
    let convergence_wait = waited_from.elapsed();
    let mut differences = Vec::new();
    if !converged {
        differences = world.differences().await?;
        for (sku, expected) in &shopper.expected {
            let available = world.ledger.available(sku).await?;
            if available != *expected {
                differences.push(format!(
                    "the ledger has {available} of {sku} available, the orders placed leave {expected}"
                ));
            }
        }
    }
    let logs: Vec<_> = world
        .markets
        .iter()
        .map(|market| market.sim.stock_log())
        .collect();
    Ok(DemoReport {
        orders: shopper.orders.len(),
        cancellations: shopper.cancellations,
        sold_out: shopper.sold_out,
        booked: booked_events(world),
        pushes: world
            .markets
            .iter()
            .zip(&logs)
            .map(|(market, log)| (market.channel.clone(), report::push_count(log)))
            .collect(),
        propagation: Propagation::measure(&shopper.orders, &logs),
        converged,
        convergence_wait,
        differences,
    })
}

/// Every SKU's availability in the ledger is what the buyers' orders and cancellations make it.
async fn ledger_matches(world: &DemoWorld, shopper: &Shopper) -> Result<bool, DemoError> {
    for (sku, expected) in &shopper.expected {
        if world.ledger.available(sku).await? != *expected {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn frame(
    world: &DemoWorld,
    shopper: &Shopper,
    target: usize,
    phase: &'static str,
) -> Result<Frame, DemoError> {
    let behind = world.skus_behind().await?;
    Ok(Frame {
        placed: shopper.orders.len(),
        target,
        cancellations: shopper.cancellations,
        sold_out: shopper.sold_out,
        booked: booked_events(world),
        phase,
        markets: world
            .markets
            .iter()
            .zip(behind)
            .map(|(market, skus_behind)| {
                let pushes = report::push_count(&market.sim.stock_log());
                MarketLine {
                    channel: market.channel.clone(),
                    push_requests: pushes.requests,
                    pushed_listings: pushes.listings,
                    skus_behind,
                }
            })
            .collect(),
    })
}

/// The sum of `omnistock_orders_booked_total` over channels, read from the daemon's metrics.
fn booked_events(world: &DemoWorld) -> u64 {
    let text = world.metrics.encode().unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with("omnistock_orders_booked_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

fn print_summary(report: &DemoReport) {
    let pushes: Vec<String> = report
        .pushes
        .iter()
        .map(|(channel, count)| {
            format!(
                "{channel} {} ({} listing updates)",
                count.requests, count.listings
            )
        })
        .collect();
    let measured = report.propagation.delays.len();
    println!();
    println!("summary");
    println!(
        "  orders placed         {} ({} cancelled, {} refused as sold out)",
        report.orders, report.cancellations, report.sold_out
    );
    println!(
        "  order events booked   {} (orders and cancellations, each once)",
        report.booked
    );
    println!("  stock pushes          {}", pushes.join(", "));
    println!(
        "  propagation delay     p50 {}, p99 {} (order placed -> every other marketplace shows \
         its new level; {measured} of {} orders measured)",
        report::millis(report.propagation.percentile(0.50)),
        report::millis(report.propagation.percentile(0.99)),
        measured + report.propagation.unmeasured,
    );
    if report.converged {
        println!(
            "  converged             yes: every marketplace shows the ledger's stock ({} ms after \
             the last order)",
            report.convergence_wait.as_millis()
        );
    } else {
        println!(
            "  converged             NO: not every marketplace shows the ledger's stock after {} s",
            CONVERGENCE_PATIENCE.as_secs()
        );
        for difference in report.differences.iter().take(10) {
            println!("                        {difference}");
        }
    }
}
