//! The `omnistock` command: parses the command line, loads the settings, starts logging and
//! hands over to [`omnistock::app`].

use anyhow::Context;
use clap::{Parser, Subcommand};
use omnistock::app::{self, App};
use omnistock::cli::admin_client::AdminCommand;
use omnistock::settings::Settings;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Configuration, last wins:
  1. built-in defaults (an SQLite file ./omnistock.db, the in-process bus, 127.0.0.1:8080)
  2. the TOML file given by --config or OMNISTOCK_CONFIG (see config/omnistock.toml)
  3. environment variables OMNISTOCK__SECTION__KEY, e.g. OMNISTOCK__HTTP__LISTEN=0.0.0.0:8080

Examples:
  omnistock check-config --config config/omnistock.toml
  omnistock migrate --config /etc/omnistock/omnistock.toml
  OMNISTOCK__DATABASE__URL=postgres://omnistock@db/omnistock omnistock serve";

/// omnistock keeps the stock of every sales channel in step with one inventory ledger: it books
/// each channel's orders against the ledger and pushes the resulting stock to all other channels.
#[derive(Debug, Parser)]
#[command(name = "omnistock", version, after_help = EXAMPLES)]
struct Cli {
    /// TOML configuration file; without it, defaults and environment variables apply.
    #[arg(long, global = true, env = "OMNISTOCK_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: connect the ledger, migrate it (unless database.migrate_on_start is
    /// false), take orders from every channel (webhooks and polling), push stock to them, and
    /// serve HTTP (webhooks, /admin, /metrics, /healthz, /readyz) until SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations, then exit (for deployments that migrate before
    /// starting the new version).
    Migrate,
    /// Validate the configuration and print the effective settings as TOML, secrets redacted;
    /// exits non-zero with the offending key if anything is wrong.
    CheckConfig,
    /// Bulk stock operations: import counted quantities from CSV, export the balances.
    #[command(subcommand)]
    Stock(omnistock::cli::StockCommand),
    /// Bulk listing operations: bind channel listings (multipacks, bundles) from CSV.
    #[command(subcommand)]
    Listings(omnistock::cli::ListingsCommand),
    /// Start a resync job on the running daemon (push every listing, or reconcile: read the
    /// channel and push only what differs) and follow it with a progress bar.
    Resync(omnistock::cli::admin_client::ResyncArgs),
    /// Show every channel of the running daemon: state, order intake, push backlog, rate-limit
    /// budget, last reconciliation, dead letters.
    Channels(omnistock::cli::admin_client::ChannelsArgs),
    /// Pause or resume stock pushes to a channel of the running daemon, or switch a shadow
    /// channel to live (`go-live`, a dry run unless `--apply`).
    #[command(subcommand)]
    Channel(omnistock::cli::admin_client::ChannelCommand),
    /// List the running daemon's dead letters, or retry or discard one.
    DeadLetters(omnistock::cli::admin_client::DeadLettersArgs),
    /// List the running daemon's quarantined orders (refused for good), or retry or discard one.
    #[command(subcommand)]
    Quarantine(omnistock::cli::admin_client::QuarantineCommand),
    /// Explain why each channel shows the quantity it shows of an item: stock per location,
    /// the rules and where they come from, each step, and why a difference is not pushed yet.
    Explain(omnistock::cli::explain::ExplainArgs),
    /// Show a shadow channel of the running daemon: per listing, the quantity omnistock would
    /// set, the quantity the channel shows, and since when they differ (`--format csv`).
    Shadow(omnistock::cli::shadow::ShadowArgs),
    /// Reports from the running daemon: `report channels` (each channel's sales, stock shown,
    /// turnover and hours at 0, per period).
    #[command(subcommand)]
    Report(omnistock::cli::report::ReportCommand),
    /// Run one simulated marketplace (the sim platform) until Ctrl-C; prints its base URL.
    Sim(omnistock::demo::SimArgs),
    /// Show omnistock at work: the daemon on a temporary SQLite ledger with simulated
    /// marketplaces, orders flowing in and stock converging everywhere, then a summary.
    Demo(omnistock::demo::DemoArgs),
    /// Measure omnistock against simulated marketplaces (propagation, ingest, burst, resync,
    /// footprint); prints a table and, last, one JSON line with the figures.
    Bench(omnistock::bench::BenchArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, whatever they contain: operators grep for it and
/// scripts show it whole. A cause already quoted by the message before it (sqlx and io errors
/// often repeat their source) is not repeated.
fn one_line(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if message.contains(&cause) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&cause);
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::CheckConfig => {
            print!("{}", settings.to_redacted_toml()?);
            Ok(())
        }
        Command::Stock(command) => {
            let summary = runtime()?.block_on(omnistock::cli::run_stock(&settings, command))?;
            if !summary.is_empty() {
                eprintln!("{summary}");
            }
            Ok(())
        }
        Command::Listings(command) => {
            let summary = runtime()?.block_on(omnistock::cli::run_listings(&settings, command))?;
            eprintln!("{summary}");
            Ok(())
        }
        Command::Resync(args) => admin(&settings, AdminCommand::Resync(args)),
        Command::Channels(args) => admin(&settings, AdminCommand::Channels(args)),
        Command::Channel(command) => admin(&settings, AdminCommand::Channel(command)),
        Command::DeadLetters(args) => admin(&settings, AdminCommand::DeadLetters(args)),
        Command::Quarantine(command) => admin(&settings, AdminCommand::Quarantine(command)),
        Command::Explain(args) => admin(&settings, AdminCommand::Explain(args)),
        Command::Shadow(args) => admin(&settings, AdminCommand::Shadow(args)),
        Command::Report(command) => admin(&settings, AdminCommand::Report(command)),
        Command::Migrate => {
            omnistock::telemetry::init(&settings.log)?;
            runtime()?.block_on(async {
                app::connect_ledger(&settings, true).await?;
                anyhow::Ok(())
            })
        }
        Command::Sim(args) => {
            omnistock::telemetry::init(&settings.log)?;
            runtime()?.block_on(omnistock::demo::run_sim(&args))?;
            Ok(())
        }
        Command::Demo(args) => {
            omnistock::demo::init_logging();
            let report = runtime()?.block_on(omnistock::demo::run(&args))?;
            anyhow::ensure!(
                report.converged,
                "the marketplaces did not converge on the ledger's stock in time"
            );
            Ok(())
        }
        Command::Bench(args) => Ok(omnistock::bench::main(&args)?),
        Command::Serve => {
            omnistock::telemetry::init(&settings.log)?;
            runtime()?.block_on(async {
                let app = App::build(settings).await?;
                app.run_until_stopped(shutdown_signal()).await?;
                anyhow::Ok(())
            })
        }
    }
}

/// Runs one of the commands that talk to the running daemon's admin API.
fn admin(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    runtime()?.block_on(omnistock::cli::admin_client::run(settings, command))?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Completes on the first SIGTERM (systemd, Docker, Kubernetes) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    let signal = tokio::select! {
        () = interrupt => "SIGINT",
        () = terminate => "SIGTERM",
    };
    tracing::info!(signal, "shutdown requested, finishing in-flight requests");
}
