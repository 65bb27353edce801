//! `bench footprint`: the daemon's resident memory idle and with a large catalog listed on
//! every channel, and its time from start to ready.
//!
//! The daemon runs as a child process (`omnistock serve`), so that its memory is its own: the
//! benchmark, its sims and its database loader live in this process. The catalog is written
//! with bulk SQL (the ledger API would take hours for a million items) and already marked as
//! confirmed by every channel, as after a restart of a synced installation: the start-up
//! sweep then reads every listing and pushes nothing.

use super::child::{daemon_binary, ChildDaemon, DaemonPlan};
use super::report::{milliseconds, BenchReport};
use super::setup::{scratch_bus, scratch_database, Backends};
use super::world::{channel_id, listing_of};
use super::BenchError;
use crate::ledger::Ledger;
use crate::testkit::{ScratchBusNames, ScratchDatabase};
use omnistock_sim::{SimHandle, SimOptions, SimServer};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct FootprintArgs {
    /// Items in the large catalog, each listed on every channel.
    #[arg(long, default_value_t = 1_000_000)]
    pub skus: usize,
    /// Simulated marketplaces.
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// The omnistock binary to run as the daemon; this program by default.
    #[arg(long, value_name = "FILE")]
    pub binary: Option<PathBuf>,
    /// How long to wait for the start-up sweeps over the large catalog before reading memory
    /// anyway, in seconds.
    #[arg(long, default_value_t = 600)]
    pub sweep_patience: u64,
    /// How long to let the daemon settle before reading its memory, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
    #[command(flatten)]
    pub backends: Backends,
}

/// How long the idle daemon may take for its (empty) start-up sweeps.
const IDLE_PATIENCE: Duration = Duration::from_secs(60);

/// Units on hand, and last confirmed on every channel, for every item of the catalog.
const ON_HAND: i64 = 10;

/// What one run of the daemon showed.
#[derive(Debug, Clone, Copy)]
struct DaemonRun {
    ready: Duration,
    /// From ready until every channel's start-up sweep was done; `None` when they were not
    /// done within the patience (memory is then read while they run).
    sweep: Option<Duration>,
    rss_kib: Option<u64>,
    peak_kib: Option<u64>,
    /// How long the first `GET /admin/channels` took, once memory was read: an operator's
    /// look at the channels must stay quick however large the catalog.
    channel_status: Option<Duration>,
    /// How long until every channel's status had its count of out-of-date listings (made in
    /// the background: a look answers without it rather than wait through a large catalog),
    /// and the peak resident memory after it.
    counts_ready: Option<Duration>,
    status_peak_kib: Option<u64>,
}

pub(super) async fn run(args: &FootprintArgs) -> Result<BenchReport, BenchError> {
    let binary = daemon_binary(args.binary.as_deref())?;
    let channels: Vec<String> = (0..args.channels.max(1)).map(channel_id).collect();
    let mut bus = scratch_bus(
        &args.backends.bus,
        &channels,
        &crate::bus::BusConfig::default(),
    )?;
    let mut database = scratch_database(&args.backends.database).await?;
    let folder = std::env::temp_dir().join(format!(
        "omnistock-bench-footprint-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut sims = Vec::new();
    let outcome = async {
        std::fs::create_dir_all(&folder)
            .map_err(BenchError::io(format!("creating {}", folder.display())))?;
        for _ in &channels {
            sims.push(SimServer::start(SimOptions::default()).await?);
        }
        measure(args, &binary, &database, &bus, &channels, &sims, &folder).await
    }
    .await;
    for sim in sims {
        sim.shutdown().await;
    }
    bus.remove().await;
    database.remove().await;
    let _ = std::fs::remove_dir_all(&folder);
    outcome
}

async fn measure(
    args: &FootprintArgs,
    binary: &Path,
    database: &ScratchDatabase,
    bus: &ScratchBusNames,
    channels: &[String],
    sims: &[SimHandle],
    folder: &Path,
) -> Result<BenchReport, BenchError> {
    let ledger = Ledger::connect(database.url()).await?;
    let prepared = async {
        ledger.migrate().await?;
        for channel in channels {
            ledger
                .upsert_channel(channel, omnistock_sim::SIM_KIND)
                .await?;
        }
        Ok::<(), BenchError>(())
    }
    .await;
    if let Err(error) = prepared {
        ledger.close().await;
        return Err(error);
    }
    let settle = Duration::from_secs_f64(args.settle.max(0.0));
    let daemon = Daemon {
        plan: DaemonPlan {
            binary,
            folder,
            database_url: database.url(),
            bus,
            channels,
            sims,
            admin_token: uuid::Uuid::new_v4().simple().to_string(),
            log_filter: "warn,omnistock::sync::push::sweep=info",
            bus_options: toml::Table::new(),
            channel_options: toml::Table::new(),
        },
        channels: channels.len(),
        settle,
    };
    let idle = daemon.run("idle", IDLE_PATIENCE).await;
    let idle = match idle {
        Ok(idle) => idle,
        Err(error) => {
            ledger.close().await;
            return Err(error);
        }
    };
    let clock = Instant::now();
    let loaded = load_catalog(&ledger, channels, args.skus).await;
    ledger.close().await;
    loaded?;
    let load_time = clock.elapsed();
    let large = daemon
        .run("catalog", Duration::from_secs(args.sweep_patience))
        .await?;

    let mut report = BenchReport::new(
        "footprint",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    report.value("database_name", database.name());
    report
        .figure(
            "channels",
            channels.len(),
            "channels",
            channels.len().to_string(),
        )
        .figure(
            "skus",
            args.skus,
            "items in the large catalog",
            args.skus.to_string(),
        )
        .figure(
            "listings",
            args.skus * channels.len(),
            "listings",
            (args.skus * channels.len()).to_string(),
        )
        .figure(
            "catalog_load_ms",
            milliseconds(load_time),
            "catalog written in (bulk SQL)",
            format!("{:.1} s", load_time.as_secs_f64()),
        );
    add_run(&mut report, "idle", "idle", &idle, IDLE_PATIENCE.as_secs());
    add_run(
        &mut report,
        "catalog",
        "with the catalog",
        &large,
        args.sweep_patience,
    );
    Ok(report)
}

fn add_run(report: &mut BenchReport, key: &str, label: &str, run: &DaemonRun, patience_shown: u64) {
    let mib = |kib: Option<u64>| kib.map(|kib| (kib as f64 / 1024.0 * 10.0).round() / 10.0);
    let shown = |kib: Option<u64>| {
        mib(kib).map_or("n/a (no /proc)".to_string(), |mib| format!("{mib:.1} MiB"))
    };
    report
        .figure(
            &format!("{key}_ready_ms"),
            milliseconds(run.ready),
            &format!("{label}: start to ready"),
            format!("{:.0} ms", milliseconds(run.ready)),
        )
        .figure(
            &format!("{key}_sweep_ms"),
            run.sweep.map(milliseconds),
            &format!("{label}: ready to start-up sweeps done"),
            run.sweep
                .map_or(format!("not done after {} s", patience_shown), |sweep| {
                    format!("{:.0} ms", milliseconds(sweep))
                }),
        )
        .figure(
            &format!("{key}_rss_mib"),
            mib(run.rss_kib),
            &format!("{label}: resident memory (VmRSS)"),
            shown(run.rss_kib),
        )
        .figure(
            &format!("{key}_peak_rss_mib"),
            mib(run.peak_kib),
            &format!("{label}: peak resident memory (VmHWM)"),
            shown(run.peak_kib),
        )
        .figure(
            &format!("{key}_channel_status_ms"),
            run.channel_status.map(milliseconds),
            &format!("{label}: first GET /admin/channels took"),
            run.channel_status.map_or("failed".to_string(), |took| {
                format!("{:.0} ms", milliseconds(took))
            }),
        )
        .figure(
            &format!("{key}_out_of_date_counted_ms"),
            run.counts_ready.map(milliseconds),
            &format!("{label}: out-of-date listings counted after"),
            run.counts_ready
                .map_or(format!("not after {patience_shown} s"), |took| {
                    format!("{:.0} ms", milliseconds(took))
                }),
        )
        .figure(
            &format!("{key}_status_peak_rss_mib"),
            mib(run.status_peak_kib),
            &format!("{label}: peak resident memory after them"),
            shown(run.status_peak_kib),
        );
}

/// How to start the daemon against the prepared database.
struct Daemon<'a> {
    plan: DaemonPlan<'a>,
    /// Channels whose start-up sweep must be done before memory is read.
    channels: usize,
    settle: Duration,
}

impl Daemon<'_> {
    /// Starts `omnistock serve`, waits until `/readyz` answers 200 and every channel's start-up
    /// sweep is done, lets it settle, reads its memory and kills it.
    async fn run(&self, label: &str, patience: Duration) -> Result<DaemonRun, BenchError> {
        let started = Instant::now();
        let mut child = self.plan.start(label)?;
        let measured = self.observe(&mut child, started, patience).await;
        child.kill().await;
        measured
    }

    async fn observe(
        &self,
        child: &mut ChildDaemon,
        started: Instant,
        patience: Duration,
    ) -> Result<DaemonRun, BenchError> {
        let ready = child.wait_ready(started).await?;
        let port = child.port;
        let deadline = Instant::now() + patience;
        let sweep = loop {
            child.check_alive()?;
            let log = std::fs::read_to_string(&child.log_path).unwrap_or_default();
            if log.matches("stock sweep done").count() >= self.channels {
                break Some(started.elapsed().saturating_sub(ready));
            }
            if Instant::now() > deadline {
                tracing::warn!(
                    seconds = patience.as_secs(),
                    "the start-up sweeps are not done; reading memory while they run"
                );
                break None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        tokio::time::sleep(self.settle).await;
        let pid = child.id();
        let rss_kib = pid.and_then(|pid| proc_status_kib(pid, "VmRSS"));
        let peak_kib = pid.and_then(|pid| proc_status_kib(pid, "VmHWM"));
        let clock = Instant::now();
        let channel_status = self.time_channel_status(port).await;
        let counts_ready = self.wait_out_of_date_counts(port, clock, patience).await;
        Ok(DaemonRun {
            ready,
            sweep,
            rss_kib,
            peak_kib,
            channel_status,
            counts_ready,
            status_peak_kib: pid.and_then(|pid| proc_status_kib(pid, "VmHWM")),
        })
    }

    /// `GET /admin/channels`, with the daemon's admin token.
    async fn channel_status(&self, port: u16) -> Result<serde_json::Value, String> {
        let response = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/admin/channels"))
            .bearer_auth(&self.plan.admin_token)
            .timeout(Duration::from_secs(300))
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if !response.status().is_success() {
            return Err(response.status().to_string());
        }
        response.json().await.map_err(|error| error.to_string())
    }

    /// How long `GET /admin/channels` takes; `None` when it failed.
    async fn time_channel_status(&self, port: u16) -> Option<Duration> {
        let clock = Instant::now();
        match self.channel_status(port).await {
            Ok(_) => Some(clock.elapsed()),
            Err(error) => {
                tracing::warn!(error = %error, "GET /admin/channels failed");
                None
            }
        }
    }

    /// From `since` until every channel's status counts its out-of-date listings; `None` when
    /// that took longer than `patience`.
    async fn wait_out_of_date_counts(
        &self,
        port: u16,
        since: Instant,
        patience: Duration,
    ) -> Option<Duration> {
        while since.elapsed() < patience {
            if let Ok(status) = self.channel_status(port).await {
                let counted = status.as_array().is_some_and(|channels| {
                    channels
                        .iter()
                        .all(|channel| channel["push"]["listings_out_of_date"].is_u64())
                });
                if counted {
                    return Some(since.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        None
    }
}

/// A `kB` line of `/proc/<pid>/status`, e.g. `VmRSS`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Writes `count` items with stock, listed on every channel and confirmed there, with bulk
/// statements that PostgreSQL and SQLite both understand.
async fn load_catalog(
    ledger: &Ledger,
    channels: &[String],
    count: usize,
) -> Result<(), BenchError> {
    let pool = ledger.pool();
    let run = |sql: String| async move {
        sqlx::query(&sql)
            .execute(pool)
            .await
            .map_err(|error| BenchError::Database(format!("loading the catalog: {error}")))
    };
    // Item numbers come from a recursive CTE; nothing user-given is spliced into the SQL.
    run(format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
         INSERT INTO items (sku, title, created_at) \
         SELECT 'F' || CAST(i AS TEXT), 'Item ' || CAST(i AS TEXT), 0 FROM n"
    ))
    .await?;
    run(format!(
        "INSERT INTO balances (sku, location, on_hand, reserved, updated_at) \
         SELECT sku, 'default', {ON_HAND}, 0, 0 FROM items"
    ))
    .await?;
    run(format!(
        "INSERT INTO movements (sku, location, on_hand_delta, reserved_delta, reason, \
         idempotency_key, created_at) \
         SELECT sku, 'default', {ON_HAND}, 0, 'receive', 'bench-' || sku, 0 FROM items"
    ))
    .await?;
    let listing_prefix = listing_of("");
    for channel in channels {
        // Channel ids come from `channel_id` (a-z, digits, '-'), safe to splice.
        run(format!(
            "INSERT INTO listings (channel_id, listing_id, sku, multiplier, sync_enabled, \
             last_pushed_quantity, last_pushed_at) \
             SELECT '{channel}', '{listing_prefix}' || sku, sku, 1, 1, {ON_HAND}, 0 FROM items"
        ))
        .await?;
        run(format!(
            "INSERT INTO listing_components (channel_id, listing_id, sku, quantity) \
             SELECT channel_id, listing_id, sku, 1 FROM listings WHERE channel_id = '{channel}'"
        ))
        .await?;
    }
    Ok(())
}
