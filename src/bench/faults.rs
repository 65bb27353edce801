//! `bench faults`: a fault drill. Orders flow through simulated marketplaces into the daemon (a
//! child process) while the drill kills the daemon with SIGKILL and starts it again, stops and
//! starts RabbitMQ and restarts PostgreSQL (when those are in use), and puts one channel in an
//! outage longer than the bus's delivery limit allows. After each recovery it waits until every
//! order placed is booked once and every channel shows the ledger's stock, and reports per
//! fault: orders placed, booked, booked twice, lost, seconds to converge.
//!
//! Every order is of one unit, so units booked beyond the units ordered count orders booked
//! twice. The broker and database faults act on the local servers: run the drill where nothing
//! else uses them.

use super::child::{daemon_binary, free_port, ChildDaemon, DaemonPlan};
use super::report::BenchReport;
use super::setup::{scratch_bus, scratch_database, Backends};
use super::world::{channel_id, listing_of};
use super::{BenchError, Dice};
use crate::ledger::{Ledger, MovementMeta};
use omnistock_sim::{Faults, NewOrderLine, SimActionError, SimHandle, SimOptions, SimServer};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Units on hand of every SKU at the start: far more than the drill sells, so no buyer is
/// turned away and every order placed is one to book.
const ON_HAND: i64 = 1_000_000;

/// How long orders flow before a fault strikes.
const ORDERS_BEFORE_FAULT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, clap::Args)]
pub struct FaultsArgs {
    /// The faults, in order: `kill` (SIGKILL the daemon, start it again), `broker` (RabbitMQ's
    /// `stop_app`/`start_app`; only with an AMQP bus), `database` (stop and start the local
    /// PostgreSQL cluster; only on PostgreSQL), `outage` (the first channel answers 503 to
    /// every API call).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kill,broker,database,outage"
    )]
    pub faults: Vec<FaultKind>,
    /// Simulated marketplaces.
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    /// Items, each listed on every channel.
    #[arg(long, default_value_t = 20)]
    pub skus: usize,
    /// Orders placed per second, spread over the channels, from a second before a fault
    /// through its first `--orders-for` seconds.
    #[arg(long, default_value_t = 40.0)]
    pub rate: f64,
    /// For how many seconds of a fault orders keep coming (at most the whole fault).
    #[arg(long, default_value_t = 5.0)]
    pub orders_for: f64,
    /// How long the daemon, the broker or the database stays down, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub down: f64,
    /// How long the channel outage lasts, in seconds: longer than the delivery limit allows
    /// (a failed flush retries for up to a minute; with the limit at 1 a change made in the
    /// first seconds is dead-lettered about two minutes in).
    #[arg(long, default_value_t = 150.0)]
    pub outage: f64,
    /// The daemon's `bus.delivery_limit` during the drill: low, so that the outage outlasts
    /// what the limit allows (one failed flush retries for up to a minute).
    #[arg(long, default_value_t = 1)]
    pub delivery_limit: u32,
    /// How long to wait for convergence after each recovery, in seconds.
    #[arg(long, default_value_t = 60)]
    pub patience: u64,
    /// The omnistock binary to run as the daemon; this program by default.
    #[arg(long, value_name = "FILE")]
    pub binary: Option<PathBuf>,
    #[command(flatten)]
    pub backends: Backends,
}

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultKind {
    Kill,
    Broker,
    Database,
    Outage,
}

impl FaultKind {
    fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Broker => "broker",
            FaultKind::Database => "database",
            FaultKind::Outage => "outage",
        }
    }
}

/// What one fault did.
#[derive(Debug, Clone)]
struct FaultOutcome {
    fault: FaultKind,
    placed: usize,
    booked: usize,
    booked_twice: i64,
    lost: usize,
    /// From recovery until every order was booked and every channel equalled the ledger.
    converged_after: Option<Duration>,
    /// Why the fault was not applied (the set-up does not use that part).
    skipped: Option<&'static str>,
}

pub(super) async fn run(args: &FaultsArgs) -> Result<BenchReport, BenchError> {
    if args.channels == 0 || args.skus == 0 || args.rate <= 0.0 {
        return Err(BenchError::InvalidOption(
            "channels, skus and rate must be positive".to_string(),
        ));
    }
    let binary = daemon_binary(args.binary.as_deref())?;
    let channels: Vec<String> = (0..args.channels).map(channel_id).collect();
    let mut bus = scratch_bus(
        &args.backends.bus,
        &channels,
        &crate::bus::BusConfig::default(),
    )?;
    let mut database = scratch_database(&args.backends.database).await?;
    let database_name = database.name();
    let folder = std::env::temp_dir().join(format!(
        "omnistock-bench-faults-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut sims = Vec::new();
    let outcome = async {
        std::fs::create_dir_all(&folder)
            .map_err(BenchError::io(format!("creating {}", folder.display())))?;
        for _ in &channels {
            sims.push(SimServer::start(SimOptions::for_tests()).await?);
        }
        let plan = DaemonPlan {
            binary: &binary,
            folder: &folder,
            database_url: database.url(),
            bus: &bus,
            channels: &channels,
            sims: &sims,
            admin_token: uuid::Uuid::new_v4().simple().to_string(),
            log_filter: "warn",
            bus_options: toml::Table::from_iter([(
                "delivery_limit".to_string(),
                toml::Value::from(i64::from(args.delivery_limit)),
            )]),
            channel_options: toml::Table::from_iter([
                ("poll_interval".to_string(), toml::Value::from("1s")),
                ("poll_overlap_ms".to_string(), toml::Value::from(1_000)),
            ]),
        };
        drill(args, &plan, database.url()).await
    }
    .await;
    for sim in sims {
        sim.shutdown().await;
    }
    bus.remove().await;
    database.remove().await;
    if outcome.is_ok() {
        let _ = std::fs::remove_dir_all(&folder);
    } else {
        tracing::warn!(folder = %folder.display(), "the drill failed; the daemon's logs are kept");
    }
    let outcomes = outcome?;
    let mut report = report(args, &outcomes);
    report.value("database_name", database_name);
    Ok(report)
}

/// Starts the daemon, loads the catalog, then strikes each fault in turn.
async fn drill(
    args: &FaultsArgs,
    plan: &DaemonPlan<'_>,
    database_url: &str,
) -> Result<Vec<FaultOutcome>, BenchError> {
    let port = free_port()?;
    let mut daemon = plan.start_on("run-0", port)?;
    daemon.wait_ready(Instant::now()).await?;
    for (channel, sim) in plan.channels.iter().zip(plan.sims) {
        sim.set_webhook_target(Some(format!("{}/webhooks/{channel}", daemon.base_url())));
    }
    let ledger = Ledger::connect(database_url).await?;
    let skus: Vec<String> = (1..=args.skus)
        .map(|index| format!("D{index:04}"))
        .collect();
    load_catalog(&ledger, plan, &skus).await?;
    let mut books = Books::new(skus);
    let patience = Duration::from_secs(args.patience);
    if books.converge(&ledger, plan.sims, patience).await.is_none() {
        return Err(BenchError::Timeout {
            what: "push the catalog to every channel".to_string(),
            seconds: args.patience,
        });
    }
    let mut outcomes = Vec::new();
    let mut restarts = 0;
    for &fault in &args.faults {
        if let Some(reason) = skip_reason(fault, &args.backends) {
            outcomes.push(FaultOutcome {
                fault,
                placed: 0,
                booked: 0,
                booked_twice: 0,
                lost: 0,
                converged_after: None,
                skipped: Some(reason),
            });
            continue;
        }
        eprintln!("faults: {} …", fault.name());
        let first = books.placed.len();
        let twice_before = books.booked_twice(&ledger).await;
        // Orders flow from a second before the fault through its first seconds, and none after:
        // a change made early in the fault must reach every channel by itself, held through
        // the rest of the fault, not be carried by a later change of the same SKU.
        let shopping_ends = tokio::time::Instant::now()
            + ORDERS_BEFORE_FAULT
            + duration_of(fault, args).min(Duration::from_secs_f64(args.orders_for.max(0.0)));
        let shopper = books.shop(plan, args.rate, shopping_ends);
        let striker = async {
            tokio::time::sleep(ORDERS_BEFORE_FAULT).await;
            strike(
                fault,
                args,
                plan,
                port,
                &mut daemon,
                &mut restarts,
                database_url,
            )
            .await
        };
        let (placed, recovered) = tokio::join!(shopper, striker);
        let recovered_at = recovered?;
        books.placed.extend(placed);
        let converged = books.converge(&ledger, plan.sims, patience).await;
        let converged_after = converged.map(|at| at.saturating_duration_since(recovered_at));
        let phase = books.placed[first..].to_vec();
        let booked = books.count_booked(&ledger, &phase).await;
        let twice = books.booked_twice(&ledger).await;
        let outcome = FaultOutcome {
            fault,
            placed: phase.len(),
            booked,
            booked_twice: (twice - twice_before).max(0),
            lost: phase.len() - booked,
            converged_after,
            skipped: None,
        };
        eprintln!(
            "faults: {}: {} placed, {} lost, {} booked twice, {}",
            fault.name(),
            outcome.placed,
            outcome.lost,
            outcome.booked_twice,
            converged_after.map_or("did not converge".to_string(), |after| format!(
                "converged {:.1} s after recovery",
                after.as_secs_f64()
            ))
        );
        outcomes.push(outcome);
    }
    daemon.kill().await;
    ledger.close().await;
    Ok(outcomes)
}

/// Why `fault` does not apply to these backends.
fn skip_reason(fault: FaultKind, backends: &Backends) -> Option<&'static str> {
    match fault {
        FaultKind::Broker if backends.bus_kind() != "rabbitmq" => Some("no broker (database bus)"),
        FaultKind::Database if backends.database_kind() != "postgres" => {
            Some("no database server (SQLite)")
        }
        _ => None,
    }
}

/// How long `fault` keeps its part down.
fn duration_of(fault: FaultKind, args: &FaultsArgs) -> Duration {
    let seconds = match fault {
        FaultKind::Outage => args.outage,
        FaultKind::Kill | FaultKind::Broker | FaultKind::Database => args.down,
    };
    Duration::from_secs_f64(seconds.max(0.0))
}

/// Strikes `fault`, keeps it for its duration and recovers; returns the moment of recovery.
async fn strike(
    fault: FaultKind,
    args: &FaultsArgs,
    plan: &DaemonPlan<'_>,
    port: u16,
    daemon: &mut ChildDaemon,
    restarts: &mut usize,
    database_url: &str,
) -> Result<Instant, BenchError> {
    let down = duration_of(fault, args);
    match fault {
        FaultKind::Kill => {
            *restarts += 1;
            daemon.kill().await;
            tokio::time::sleep(down).await;
            *daemon = plan.start_on(&format!("run-{restarts}"), port)?;
            let recovered = Instant::now();
            daemon.wait_ready(recovered).await?;
            Ok(recovered)
        }
        FaultKind::Broker => {
            run_tool("rabbitmqctl", &["stop_app"]).await?;
            tokio::time::sleep(down).await;
            run_tool("rabbitmqctl", &["start_app"]).await?;
            Ok(Instant::now())
        }
        FaultKind::Database => {
            let cluster = postgres_cluster(database_url)?;
            let skip = "--skip-systemctl-redirect";
            run_tool(
                "pg_ctlcluster",
                &[skip, &cluster, "main", "stop", "-m", "fast"],
            )
            .await?;
            tokio::time::sleep(down).await;
            run_tool("pg_ctlcluster", &[skip, &cluster, "main", "start"]).await?;
            Ok(Instant::now())
        }
        FaultKind::Outage => {
            let sim = plan.sims.first().ok_or_else(|| {
                BenchError::InvalidOption("the outage needs a channel".to_string())
            })?;
            sim.set_faults(Faults {
                outage: true,
                ..Faults::default()
            });
            tokio::time::sleep(down).await;
            sim.set_faults(Faults::default());
            Ok(Instant::now())
        }
    }
}

/// The version of the local PostgreSQL cluster (`/etc/postgresql/<version>`), refusing a
/// database that is not on this machine.
fn postgres_cluster(database_url: &str) -> Result<String, BenchError> {
    let local = ["@127.0.0.1", "@localhost", "@[::1]"]
        .iter()
        .any(|host| database_url.contains(host));
    if !local {
        return Err(BenchError::InvalidOption(
            "the database fault restarts the local PostgreSQL: --database must be on 127.0.0.1"
                .to_string(),
        ));
    }
    let versions =
        std::fs::read_dir("/etc/postgresql").map_err(BenchError::io("listing /etc/postgresql"))?;
    versions
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .max()
        .ok_or_else(|| {
            BenchError::InvalidOption("no PostgreSQL cluster under /etc/postgresql".to_string())
        })
}

/// Runs an operator's tool and fails with its output when it fails.
async fn run_tool(program: &str, args: &[&str]) -> Result<(), BenchError> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .map_err(BenchError::io(format!("running {program}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BenchError::Io {
            what: format!(
                "{program} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            source: std::io::Error::other("tool failed"),
        })
    }
}

/// Items with stock, listed on every channel (in the ledger and on the sims).
async fn load_catalog(
    ledger: &Ledger,
    plan: &DaemonPlan<'_>,
    skus: &[String],
) -> Result<(), BenchError> {
    for sku in skus {
        ledger.upsert_item(sku, sku).await?;
        ledger
            .receive(
                sku,
                "default",
                ON_HAND,
                &MovementMeta::new(format!("drill-{sku}")),
            )
            .await?;
        for (channel, sim) in plan.channels.iter().zip(plan.sims) {
            sim.create_listing(Some(&listing_of(sku)), sku, ON_HAND)?;
            ledger
                .bind_listing(channel, &listing_of(sku), sku, 1)
                .await?;
        }
    }
    Ok(())
}

/// An order placed on a sim.
#[derive(Debug, Clone)]
struct Placed {
    channel: String,
    order_id: String,
    sku: String,
}

/// The orders placed so far and what the ledger should show for them.
struct Books {
    skus: Vec<String>,
    placed: Vec<Placed>,
    /// Orders found booked in the ledger (never looked up again).
    booked: BTreeSet<(String, String)>,
}

impl Books {
    fn new(skus: Vec<String>) -> Self {
        Self {
            skus,
            placed: Vec::new(),
            booked: BTreeSet::new(),
        }
    }

    /// Places one-unit orders at `rate` on random channels and SKUs until `until`.
    async fn shop(
        &self,
        plan: &DaemonPlan<'_>,
        rate: f64,
        until: tokio::time::Instant,
    ) -> Vec<Placed> {
        let mut dice = Dice::from_clock();
        let mut placed = Vec::new();
        let spacing = Duration::from_secs_f64(1.0 / rate);
        let mut next = tokio::time::Instant::now();
        while tokio::time::Instant::now() < until {
            let index = dice.roll(plan.sims.len());
            let sku = &self.skus[dice.roll(self.skus.len())];
            match place(&plan.sims[index], sku) {
                Ok(order_id) => placed.push(Placed {
                    channel: plan.channels[index].clone(),
                    order_id,
                    sku: sku.clone(),
                }),
                Err(error) => tracing::warn!(error = %error, "placing an order failed"),
            }
            next += spacing;
            tokio::time::sleep_until(next).await;
        }
        placed
    }

    /// Units ordered per SKU.
    fn ordered(&self) -> BTreeMap<&str, i64> {
        let mut ordered = BTreeMap::new();
        for order in &self.placed {
            *ordered.entry(order.sku.as_str()).or_default() += 1;
        }
        ordered
    }

    /// How many of `orders` the ledger has booked.
    async fn count_booked(&mut self, ledger: &Ledger, orders: &[Placed]) -> usize {
        let mut booked = 0;
        for order in orders {
            let key = (order.channel.clone(), order.order_id.clone());
            if self.booked.contains(&key) {
                booked += 1;
            } else if matches!(
                ledger.order(&order.channel, &order.order_id).await,
                Ok(Some(_))
            ) {
                self.booked.insert(key);
                booked += 1;
            }
        }
        booked
    }

    /// Units the ledger holds or shipped beyond those ordered, over every SKU (an order of
    /// one unit booked twice is one unit).
    async fn booked_twice(&self, ledger: &Ledger) -> i64 {
        let ordered = self.ordered();
        let mut twice = 0;
        for sku in &self.skus {
            if let Ok(available) = ledger.available(sku).await {
                let taken = ON_HAND - available;
                twice += (taken - ordered.get(sku.as_str()).copied().unwrap_or(0)).max(0);
            }
        }
        twice
    }

    /// Waits until every order placed is booked, every SKU's availability is what the orders
    /// leave and every channel shows it; the moment that held, or `None` after `patience`.
    async fn converge(
        &mut self,
        ledger: &Ledger,
        sims: &[SimHandle],
        patience: Duration,
    ) -> Option<Instant> {
        let deadline = Instant::now() + patience;
        let orders = self.placed.clone();
        loop {
            if self.count_booked(ledger, &orders).await == orders.len()
                && self.stock_agrees(ledger, sims).await
            {
                return Some(Instant::now());
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every SKU's availability is what the orders placed leave, and every sim shows it.
    async fn stock_agrees(&self, ledger: &Ledger, sims: &[SimHandle]) -> bool {
        let ordered = self.ordered();
        for sku in &self.skus {
            let expected = ON_HAND - ordered.get(sku.as_str()).copied().unwrap_or(0);
            match ledger.available(sku).await {
                Ok(available) if available == expected => {}
                _ => return false,
            }
            if sims
                .iter()
                .any(|sim| sim.shown_quantity(&listing_of(sku)) != Some(expected))
            {
                return false;
            }
        }
        true
    }
}

/// Places an order of one unit of `sku` on `sim`; its id.
fn place(sim: &SimHandle, sku: &str) -> Result<String, SimActionError> {
    sim.place_order(&[NewOrderLine {
        listing_id: listing_of(sku),
        quantity: 1,
        unit_price_minor: None,
    }])
    .map(|order| order.id)
}

fn report(args: &FaultsArgs, outcomes: &[FaultOutcome]) -> BenchReport {
    let mut report = BenchReport::new(
        "faults",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    report.text(
        "fault",
        "placed  booked  booked twice  lost  converged after recovery",
    );
    let mut rows = Vec::new();
    for outcome in outcomes {
        let shown = match outcome.skipped {
            Some(reason) => format!("skipped: {reason}"),
            None => format!(
                "{:>6}  {:>6}  {:>12}  {:>4}  {}",
                outcome.placed,
                outcome.booked,
                outcome.booked_twice,
                outcome.lost,
                outcome.converged_after.map_or(
                    format!("not within {} s", args.patience),
                    |after| format!("{:.1} s", after.as_secs_f64())
                ),
            ),
        };
        report.text(outcome.fault.name(), shown);
        rows.push(json!({
            "fault": outcome.fault.name(),
            "skipped": outcome.skipped,
            "placed": outcome.placed,
            "booked": outcome.booked,
            "booked_twice": outcome.booked_twice,
            "lost": outcome.lost,
            "converge_s": outcome.converged_after.map(|after| after.as_secs_f64()),
        }));
    }
    let struck = outcomes.iter().filter(|outcome| outcome.skipped.is_none());
    let lost: usize = struck.clone().map(|outcome| outcome.lost).sum();
    let twice: i64 = struck.clone().map(|outcome| outcome.booked_twice).sum();
    let converged = struck
        .clone()
        .all(|outcome| outcome.converged_after.is_some());
    let slowest = struck
        .filter_map(|outcome| outcome.converged_after)
        .max()
        .map(|after| after.as_secs_f64());
    report
        .figure("lost", lost, "orders lost", lost.to_string())
        .figure(
            "booked_twice",
            twice,
            "orders booked twice",
            twice.to_string(),
        )
        .figure(
            "converged",
            converged,
            "every channel equalled the ledger after every fault",
            if converged { "yes" } else { "no" },
        )
        .figure(
            "slowest_converge_s",
            slowest,
            "slowest convergence after a recovery",
            slowest.map_or("n/a".to_string(), |seconds| format!("{seconds:.1} s")),
        );
    report.value("faults", rows);
    report
}
