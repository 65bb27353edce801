//! `bench history`: what the shown history costs in storage, per row and per listing per day,
//! at 100,000 listings on 4 channels.
//!
//! The catalog is written with bulk SQL; then every listing's shown quantity changes `rounds`
//! times, each change confirmed through `Ledger::record_pushed` (the pusher's own path, which
//! writes the history), and the history's size is read from the database before and after.

use super::report::BenchReport;
use super::setup::{scratch_database, Backends};
use super::BenchError;
use crate::ledger::{Backend, ConfirmedPush, Ledger};
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Items, each listed on every channel.
    #[arg(long, default_value_t = 100_000)]
    pub skus: usize,
    /// Channels.
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// Times every listing's shown quantity changes (each writes one history row per listing).
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// Changes a listing sees a day, for the cost per listing per day.
    #[arg(long, default_value_t = 4)]
    pub changes_per_day: usize,
    /// PostgreSQL: `VACUUM` the history after each round, as autovacuum would in time. Each
    /// change also ends the listing's previous row (`until_at`), an update that leaves that
    /// row's old version (and its index entry) behind until a vacuum frees the space for later
    /// rows; without it the size counts those versions too.
    #[arg(long)]
    pub vacuum: bool,
    #[command(flatten)]
    pub backends: Backends,
}

/// Confirmations recorded per call, as a pusher's batches are.
const BATCH: usize = 2_000;

pub(super) async fn run(args: &HistoryArgs) -> Result<BenchReport, BenchError> {
    if args.skus == 0 || args.channels == 0 || args.rounds == 0 {
        return Err(BenchError::InvalidOption(
            "--skus, --channels and --rounds must be at least 1".to_string(),
        ));
    }
    let mut database = scratch_database(&args.backends.database).await?;
    let outcome = measure(args, database.url()).await.map(|mut report| {
        report.value("database_name", database.name());
        report
    });
    database.remove().await;
    outcome
}

async fn measure(args: &HistoryArgs, url: &str) -> Result<BenchReport, BenchError> {
    let ledger = Ledger::connect(url).await?;
    ledger.migrate().await?;
    seed(&ledger, args).await?;
    let before = history_bytes(&ledger).await?;
    // SQLite updates a row in place: there is nothing to vacuum.
    let vacuum = args.vacuum && ledger.backend() == Backend::Postgres;
    let started = Instant::now();
    let listing_ids: Vec<String> = (0..args.skus).map(|n| format!("H{n}")).collect();
    for round in 0..args.rounds {
        for channel in 0..args.channels {
            for batch in listing_ids.chunks(BATCH) {
                let confirmed: Vec<ConfirmedPush> = batch
                    .iter()
                    .map(|listing_id| ConfirmedPush {
                        listing_id: listing_id.clone(),
                        // Every round shows a different quantity than the one before.
                        quantity: i64::try_from(round % 7 + 1).unwrap_or(1),
                        generation: 0,
                    })
                    .collect();
                ledger
                    .record_pushed(&format!("c{channel}"), &confirmed)
                    .await?;
            }
        }
        if vacuum {
            sqlx::query("VACUUM listing_shown_history")
                .execute(ledger.pool())
                .await
                .map_err(|error| BenchError::Database(format!("vacuuming the history: {error}")))?;
        }
    }
    let recording = started.elapsed();
    let after = history_bytes(&ledger).await?;
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM listing_shown_history")
        .fetch_one(ledger.pool())
        .await
        .map_err(|error| BenchError::Database(error.to_string()))?;
    ledger.close().await;

    let listings = args.skus * args.channels;
    let grown = after.saturating_sub(before);
    let per_row = grown as f64 / rows.max(1) as f64;
    let per_listing_day = per_row * args.changes_per_day as f64;
    let fleet_mb_day = per_listing_day * listings as f64 / 1_000_000.0;
    let mut report = BenchReport::new(
        "history",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    report
        .figure(
            "listings",
            listings,
            "listings",
            format!("{} items × {} channels", args.skus, args.channels),
        )
        .figure("history_rows", rows, "history rows", rows.to_string())
        .figure(
            "recorded_per_second",
            (rows as f64 / recording.as_secs_f64().max(0.001)).round(),
            "recorded",
            format!(
                "{:.0} confirmations a second through record_pushed",
                rows as f64 / recording.as_secs_f64().max(0.001)
            ),
        )
        .figure(
            "history_bytes",
            grown,
            "history size",
            format!("{grown} bytes"),
        )
        .figure(
            "bytes_per_row",
            (per_row * 10.0).round() / 10.0,
            "per row",
            format!(
                "{per_row:.1} bytes (table and index{})",
                if vacuum { ", vacuumed each round" } else { "" }
            ),
        )
        .figure(
            "bytes_per_listing_day",
            per_listing_day.round(),
            "per listing per day",
            format!(
                "{per_listing_day:.0} bytes at {} changes a day",
                args.changes_per_day
            ),
        )
        .figure(
            "fleet_mb_per_day",
            (fleet_mb_day * 10.0).round() / 10.0,
            "all listings per day",
            format!("{fleet_mb_day:.1} MB"),
        );
    Ok(report)
}

/// The history's size in bytes: its table and index on PostgreSQL, the whole file on SQLite
/// (nothing else grows meanwhile but the listings' own rows, updated in place).
async fn history_bytes(ledger: &Ledger) -> Result<u64, BenchError> {
    let sql = match ledger.backend() {
        Backend::Postgres => {
            "SELECT CAST(pg_total_relation_size('listing_shown_history') AS BIGINT)"
        }
        Backend::Sqlite => {
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        }
    };
    let (bytes,): (i64,) = sqlx::query_as(sql)
        .fetch_one(ledger.pool())
        .await
        .map_err(|error| BenchError::Database(format!("reading the history's size: {error}")))?;
    Ok(u64::try_from(bytes).unwrap_or(0))
}

/// Items, channels and listings, in a few statements; only numbers are spliced into the SQL.
async fn seed(ledger: &Ledger, args: &HistoryArgs) -> Result<(), BenchError> {
    let run = |sql: String| async move {
        sqlx::query(&sql)
            .execute(ledger.pool())
            .await
            .map(|_| ())
            .map_err(|error| BenchError::Database(format!("seeding the catalog: {error}")))
    };
    run(format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {}) \
         INSERT INTO items (sku, title, created_at) SELECT 'H' || CAST(i AS TEXT), 'Item', 0 FROM n",
        args.skus - 1
    ))
    .await?;
    for channel in 0..args.channels {
        run(format!(
            "INSERT INTO channels (id, kind, created_at) VALUES ('c{channel}', 'sim', 0)"
        ))
        .await?;
        run(format!(
            "INSERT INTO listings (channel_id, listing_id, sku, multiplier, sync_enabled) \
             SELECT 'c{channel}', sku, sku, 1, 1 FROM items"
        ))
        .await?;
    }
    Ok(())
}
