//! `omnistock bench SCENARIO`: how fast and how lean omnistock is, measured against simulated
//! marketplaces on loopback.
//!
//! Each scenario builds its own world — fresh database (a temporary SQLite file, or a uniquely
//! named PostgreSQL database dropped afterwards), its own bus names (memory, or a unique
//! RabbitMQ prefix deleted afterwards), simulated marketplaces and the daemon — drives it,
//! reads the figures from the sims' own logs, prints a table and, last, one JSON line.
//!
//! The load scenarios run the daemon in-process (`App` on 127.0.0.1:0), like the demo and the
//! tests: the figures then come from the same clock as the sims' logs and nothing depends on a
//! built binary. `footprint` runs the daemon as a child process (`omnistock serve`), because
//! resident memory must be the daemon's alone, not the benchmark's and its sims'.

mod burst;
mod channel_report;
mod child;
mod discover;
mod faults;
mod footprint;
mod ingest;
mod propagation;
mod report;
mod resync;
mod setup;
mod shown_history;
mod world;

pub use report::BenchReport;
pub use setup::Backends;

use crate::app::AppError;
use crate::ledger::LedgerError;
use omnistock_sim::{SimActionError, SimError};

/// The command line of `omnistock bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// One benchmark.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Scenario {
    /// Delay from an order's webhook until every other channel shows its new stock level.
    Propagation(propagation::PropagationArgs),
    /// Highest sustained order-line booking rate through the webhook endpoint.
    Ingest(ingest::IngestArgs),
    /// Stock-update calls per channel for a burst of orders, against the ideal, and 429s.
    Burst(burst::BurstArgs),
    /// A full push of a catalog to rate-limited channels: achieved rate against the limit.
    Resync(resync::ResyncArgs),
    /// Resident memory of the daemon idle and with a large catalog; time from start to ready.
    Footprint(footprint::FootprintArgs),
    /// A fault drill: kills, broker and database restarts and a channel outage while orders
    /// flow; orders lost or booked twice and seconds to converge after each recovery.
    Faults(faults::FaultsArgs),
    /// The channel report over 90 days of a million order lines (seeded in bulk): its time.
    Report(channel_report::ReportArgs),
    /// The shown history's storage: bytes per row and per listing per day, at 100,000 listings
    /// on 4 channels.
    History(shown_history::HistoryArgs),
    /// Listing discovery of a large sim catalog (100,000 listings) within the channel's rate
    /// limit: time, catalog calls and the growth of peak resident memory.
    Discover(discover::DiscoverArgs),
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("--database: {0}")]
    Database(String),
    #[error("settings from the environment: {0}")]
    Settings(#[from] crate::settings::SettingsError),
    #[error("--bus: {0}")]
    Bus(String),
    #[error("simulated marketplace: {0}")]
    Sim(#[from] SimError),
    #[error("simulated marketplace refused: {0}")]
    SimAction(#[from] SimActionError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Catalog(#[from] crate::testkit::CatalogError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("http client: {0}")]
    Http(String),
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("the daemon did not {what} within {seconds} s")]
    Timeout { what: String, seconds: u64 },
}

impl BenchError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// Runs one scenario and returns its figures (without printing them).
pub async fn run(scenario: &Scenario) -> Result<BenchReport, BenchError> {
    match scenario {
        Scenario::Propagation(args) => propagation::run(args).await,
        Scenario::Ingest(args) => ingest::run(args).await,
        Scenario::Burst(args) => burst::run(args).await,
        Scenario::Resync(args) => resync::run(args).await,
        Scenario::Footprint(args) => footprint::run(args).await,
        Scenario::Faults(args) => faults::run(args).await,
        Scenario::Report(args) => channel_report::run(args).await,
        Scenario::History(args) => shown_history::run(args).await,
        Scenario::Discover(args) => discover::run(args).await,
    }
}

/// What `omnistock bench` does: logs at `warn` to standard error, runs the scenario on a
/// runtime of its own, prints the table and the JSON line.
pub fn main(args: &BenchArgs) -> Result<(), BenchError> {
    crate::demo::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BenchError::io("starting the async runtime"))?;
    let report = runtime.block_on(run(&args.scenario))?;
    report.print();
    Ok(())
}

/// A small xorshift generator: the benchmarks need variety, not cryptography.
pub(crate) struct Dice(u64);

impl Dice {
    pub(crate) fn from_clock() -> Self {
        let seed = chrono::Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or(1)
            .unsigned_abs();
        Self(seed | 1)
    }

    /// A number in `0..sides` (`sides` > 0).
    pub(crate) fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % u64::try_from(sides.max(1)).unwrap_or(1)).unwrap_or(0)
    }
}
