//! Operator commands beside the daemon: `omnistock stock import|export` and
//! `omnistock listings import`. Each validates the whole file first and then applies it in one
//! ledger transaction, so a file is applied entirely or not at all.

pub mod admin_client;
pub mod channel_catalog;
mod csv_rows;
pub mod explain;
pub mod listings;
pub mod report;
pub mod shadow;
pub mod stock;

pub use csv_rows::RowError;

use crate::app::{self, AppError};
use crate::ledger::{Ledger, LedgerError};
use crate::settings::Settings;
use std::path::PathBuf;

/// `omnistock stock …`
#[derive(Debug, clap::Subcommand)]
pub enum StockCommand {
    /// Set counted quantities from a CSV file with the columns sku, location, on_hand (a
    /// stock-take; `reserved` and `available` columns, as `stock export` writes, are ignored).
    /// Unknown SKUs are created; locations must exist. All rows are applied or none.
    /// With --from-channel ID instead of a file: take the count from what the channel shows
    /// (a dry run listing every change unless --apply), journaled with the channel as actor.
    Import {
        /// The CSV file.
        #[arg(
            required_unless_present = "from_channel",
            conflicts_with = "from_channel"
        )]
        file: Option<PathBuf>,
        /// Count from what this configured channel shows instead of a file: on hand becomes
        /// the channel's quantity plus what open orders reserve at the location.
        #[arg(long, value_name = "CHANNEL")]
        from_channel: Option<String>,
        /// The location counted (with --from-channel); default: the channel's location.
        #[arg(long, requires = "from_channel")]
        location: Option<String>,
        /// Apply the count from the channel (default: a dry run that only reports).
        #[arg(long)]
        apply: bool,
        /// How the report of --from-channel is printed.
        #[arg(long, value_enum, default_value_t)]
        format: channel_catalog::ReportFormat,
        /// Who imports (journaled with every change); default: $USER.
        #[arg(long)]
        actor: Option<String>,
        /// Why (journaled with every change); default: "stock import FILE".
        #[arg(long)]
        reason: Option<String>,
        /// Makes a retried import a no-op: rows are journaled as KEY:row; default: new per run.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Write every balance as CSV (sku, location, on_hand, reserved, available).
    Export {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `omnistock listings …`
#[derive(Debug, clap::Subcommand)]
pub enum ListingsCommand {
    /// Bind channel listings from a CSV file with the columns channel, listing_id and either
    /// sku (with an optional multiplier, for multipacks) or bundle ("SKU:QTY|SKU:QTY"); an
    /// optional sync column (true/false) turns pushes on or off; optional columns locations
    /// ("a|b"), safety_buffer, percentage, max_quantity, show_zero_below and fixed_quantity
    /// override the channel's stock policy for the listing (empty: the channel's rule). All
    /// rows apply or none.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// Read a configured channel's catalog and bind its listings to ledger items by SKU. By
    /// default a dry run: reports listings already bound, new (would be bound), unmatched (no
    /// such item), ambiguous (a SKU on several listings, or none) and bound differently.
    /// --apply binds the new ones, each to its SKU, in one transaction, checking each again in
    /// it (one bound meanwhile, or whose item is gone, is left alone and reported).
    Discover {
        /// The channel's id in the configuration.
        #[arg(long)]
        channel: String,
        /// Bind the new listings (default: a dry run that only reports).
        #[arg(long)]
        apply: bool,
        /// An earlier dry run's report (`--format json`) to compare with: the classes whose
        /// count changed since are reported.
        #[arg(long, value_name = "FILE")]
        since: Option<std::path::PathBuf>,
        /// Run it as a job of the running daemon (`POST /admin/channels/{id}/discover`),
        /// through the sync leader's gateway of the channel, following its progress; an
        /// applying job is compared with the channel's last dry-run job.
        #[arg(long)]
        via_admin: bool,
        /// With --via-admin: where the daemon is and its token.
        #[command(flatten)]
        connection: admin_client::Connection,
        /// How the report is printed.
        #[arg(long, value_enum, default_value_t)]
        format: channel_catalog::ReportFormat,
    },
}

/// Why a bulk command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {count} row(s) refused, nothing imported: {}", join(.errors))]
    Rows {
        path: String,
        count: usize,
        errors: Vec<RowError>,
    },
    #[error("writing the export failed: {0}")]
    Export(String),
    #[error("unknown channel {0:?}: no enabled channel of the configuration has this id")]
    UnknownChannel(String),
    #[error(transparent)]
    Catalog(crate::ops::catalog_walk::CatalogError),
    #[error(transparent)]
    Admin(#[from] admin_client::AdminClientError),
}

fn join(errors: &[RowError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Connects the configured ledger (migrating it as `serve` would) and registers the configured
/// channels, so that imports work before the daemon first ran.
async fn ledger(settings: &Settings) -> Result<Ledger, CliError> {
    let ledger = app::connect_ledger(settings, settings.database.migrate_on_start).await?;
    for channel in settings.channels.iter().filter(|channel| channel.enabled) {
        ledger
            .upsert_location(&channel.location, &channel.location)
            .await?;
        ledger
            .upsert_channel(channel.id.as_str(), &channel.kind)
            .await?;
    }
    Ok(ledger)
}

/// Runs a `stock` command; returns the summary line to print.
pub async fn run_stock(settings: &Settings, command: StockCommand) -> Result<String, CliError> {
    let ledger = ledger(settings).await?;
    let result = match command {
        StockCommand::Import {
            from_channel: Some(channel_id),
            location,
            apply,
            format,
            ..
        } => channel_catalog::import_from_channel(
            settings,
            &ledger,
            &channel_id,
            location.as_deref(),
            apply,
            format,
        )
        .await
        .map(|(report, summary)| {
            print!("{report}");
            summary
        }),
        StockCommand::Import { file: None, .. } => Err(CliError::File {
            path: "-".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "give a CSV file or --from-channel",
            ),
        }),
        StockCommand::Import {
            file: Some(file),
            apply: true,
            ..
        } => Err(CliError::File {
            path: file.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "--apply is for --from-channel: a file is applied as it is imported",
            ),
        }),
        StockCommand::Import {
            file: Some(file),
            actor,
            reason,
            idempotency_key,
            ..
        } => {
            let options = stock::ImportOptions {
                actor: actor
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "cli".to_string()),
                reason: reason.unwrap_or_else(|| format!("stock import {}", file.display())),
                idempotency_key: idempotency_key
                    .unwrap_or_else(|| format!("stock-import:{}", uuid::Uuid::now_v7().simple())),
            };
            let text = read_file(&file)?;
            stock::import(
                &ledger,
                &file.display().to_string(),
                text.as_bytes(),
                &options,
            )
            .await
            .map(|report| {
                format!(
                    "{} row(s) read, {} applied ({} already applied before)",
                    report.rows,
                    report.applied,
                    report.rows - report.applied
                )
            })
        }
        StockCommand::Export { output } => match output {
            Some(path) => {
                let file = std::fs::File::create(&path).map_err(|source| CliError::File {
                    path: path.display().to_string(),
                    source,
                })?;
                stock::export(&ledger, file)
                    .await
                    .map(|rows| format!("{rows} balance(s) written to {}", path.display()))
            }
            None => stock::export(&ledger, std::io::stdout().lock())
                .await
                .map(|_| String::new()),
        },
    };
    ledger.close().await;
    result
}

/// Runs a `listings` command; returns the summary line to print.
pub async fn run_listings(
    settings: &Settings,
    command: ListingsCommand,
) -> Result<String, CliError> {
    if let ListingsCommand::Discover {
        channel,
        apply,
        since,
        via_admin: true,
        connection,
        format,
    } = &command
    {
        // The daemon reads and binds; this process does not open the ledger.
        let (report, summary) = channel_catalog::discover_via_admin(
            settings,
            connection,
            channel,
            *apply,
            since.as_deref(),
            *format,
        )
        .await?;
        print!("{report}");
        return Ok(summary);
    }
    let ledger = ledger(settings).await?;
    let result = match command {
        ListingsCommand::Import { file } => import_listings(settings, &ledger, &file).await,
        ListingsCommand::Discover {
            channel,
            apply,
            since,
            format,
            ..
        } => {
            channel_catalog::discover(settings, &ledger, &channel, apply, since.as_deref(), format)
                .await
                .map(|(report, summary)| {
                    print!("{report}");
                    summary
                })
        }
    };
    ledger.close().await;
    result
}

/// `listings import FILE`, each listing bound with the location its channel's connector says it
/// sells from (per-warehouse channels).
async fn import_listings(
    settings: &Settings,
    ledger: &Ledger,
    file: &std::path::Path,
) -> Result<String, CliError> {
    let text = read_file(file)?;
    let channels = app::build_channels(settings, &crate::metrics::Metrics::new(), ledger)?;
    let locate = |channel: &str, listing_id: &str| {
        channels
            .get(channel)
            .and_then(|channel| channel.connector.listing_location(listing_id))
    };
    let count = listings::import_located(
        ledger,
        &file.display().to_string(),
        text.as_bytes(),
        &locate,
    )
    .await?;
    Ok(format!("{count} listing(s) bound"))
}

fn read_file(path: &std::path::Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::File {
        path: path.display().to_string(),
        source,
    })
}
