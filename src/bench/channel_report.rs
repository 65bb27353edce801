//! `bench report`: how long the channel report takes over 90 days of a million order lines.
//!
//! The orders, their lines and the listings' shown history are written with bulk SQL (booking
//! a million lines one by one would measure the booking, not the report), then the report is
//! computed through the same function the admin API calls, once per granularity.

use super::report::{milliseconds, BenchReport};
use super::setup::{scratch_database, Backends};
use super::BenchError;
use crate::ledger::{Backend, Ledger, ORDER_LINE_SUMS};
use crate::reports::{channels_report, Granularity, ReportRange};
use chrono::{Duration as Days, DurationRound, Utc};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Order lines over the range (two per order).
    #[arg(long, default_value_t = 1_000_000)]
    pub order_lines: usize,
    /// Days the report covers, ending today.
    #[arg(long, default_value_t = 90)]
    pub days: usize,
    /// Channels the orders are spread over.
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// Items, each listed on every channel.
    #[arg(long, default_value_t = 2_000)]
    pub skus: usize,
    /// Changes of what each listing shows per day, in the shown history.
    #[arg(long, default_value_t = 2)]
    pub changes_per_day: usize,
    #[command(flatten)]
    pub backends: Backends,
}

pub(super) async fn run(args: &ReportArgs) -> Result<BenchReport, BenchError> {
    if args.order_lines < 2 || args.days == 0 || args.channels == 0 || args.skus == 0 {
        return Err(BenchError::InvalidOption(
            "--order-lines must be at least 2 and --days, --channels, --skus at least 1"
                .to_string(),
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

async fn measure(args: &ReportArgs, url: &str) -> Result<BenchReport, BenchError> {
    let ledger = Ledger::connect(url).await?;
    ledger.migrate().await?;
    let today = Utc::now()
        .duration_trunc(Days::days(1))
        .map_err(|error| BenchError::InvalidOption(error.to_string()))?;
    let to = today + Days::days(1);
    let from = to - Days::days(i64::try_from(args.days).unwrap_or(90));
    let seeding = Instant::now();
    seed(
        &ledger,
        args,
        from.timestamp_millis(),
        to.timestamp_millis(),
    )
    .await?;
    let seeded = seeding.elapsed();

    let mut report = BenchReport::new(
        "report",
        args.backends.database_kind(),
        args.backends.bus_kind(),
    );
    report.figure(
        "order_lines",
        args.order_lines,
        "order lines",
        format!(
            "{} over {} days, {} channels, {} listings, {} shown changes a listing a day",
            args.order_lines,
            args.days,
            args.channels,
            args.skus * args.channels,
            args.changes_per_day
        ),
    );
    report.figure(
        "seed_ms",
        milliseconds(seeded),
        "seeded in",
        format!("{:.1} s", seeded.as_secs_f64()),
    );
    for granularity in [Granularity::Day, Granularity::Week, Granularity::Month] {
        let range = ReportRange::new(from, to, granularity)
            .map_err(|error| BenchError::InvalidOption(error.to_string()))?;
        let started = Instant::now();
        let computed = channels_report(&ledger, range, Utc::now())
            .await
            .map_err(|error| BenchError::Database(error.to_string()))?;
        let took = started.elapsed();
        let units: i64 = computed
            .channels
            .iter()
            .flat_map(|channel| &channel.periods)
            .map(|period| period.units_sold)
            .sum();
        report.figure(
            &format!("report_{}_ms", granularity.as_str()),
            milliseconds(took),
            &format!("report by {}", granularity.as_str()),
            format!(
                "{} ms ({} units sold counted){}",
                took.as_millis(),
                units,
                if took > Duration::from_secs(2) {
                    " — over the 2 s target"
                } else {
                    ""
                }
            ),
        );
    }
    ledger.close().await;
    Ok(report)
}

/// Items, channels, listings, orders, lines and the shown history, in a few statements.
/// Only numbers produced here are spliced into the SQL.
async fn seed(ledger: &Ledger, args: &ReportArgs, from: i64, to: i64) -> Result<(), BenchError> {
    let run = |sql: String| async move {
        sqlx::query(&sql)
            .execute(ledger.pool())
            .await
            .map(|_| ())
            .map_err(|error| BenchError::Database(format!("seeding the report: {error}")))
    };
    // The numbers 0..count as a table `n(i)` of 64-bit integers.
    let numbers = |count: usize| match ledger.backend() {
        Backend::Postgres => format!(
            "WITH n(i) AS (SELECT CAST(generate_series(0, {}) AS BIGINT))",
            count - 1
        ),
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {})",
            count - 1
        ),
    };
    let (skus, channels) = (args.skus, args.channels);
    run(format!(
        "{} INSERT INTO items (sku, title, created_at) SELECT 'R' || CAST(i AS TEXT), 'Item', 0 FROM n",
        numbers(skus)
    ))
    .await?;
    run(
        "INSERT INTO balances (sku, location, on_hand, reserved, updated_at) \
         SELECT sku, 'default', 10, 0, 0 FROM items"
            .to_string(),
    )
    .await?;
    run(
        "INSERT INTO movements (sku, location, on_hand_delta, reserved_delta, reason, \
         idempotency_key, created_at) SELECT sku, 'default', 10, 0, 'receive', 'bench-' || sku, 0 \
         FROM items"
            .to_string(),
    )
    .await?;
    for channel in 0..channels {
        run(format!(
            "INSERT INTO channels (id, kind, created_at) VALUES ('c{channel}', 'sim', 0)"
        ))
        .await?;
        run(format!(
            "INSERT INTO listings (channel_id, listing_id, sku, multiplier, sync_enabled) \
             SELECT 'c{channel}', sku, sku, 1, 1 FROM items"
        ))
        .await?;
        run(format!(
            "INSERT INTO listing_components (channel_id, listing_id, sku, quantity) \
             SELECT channel_id, listing_id, sku, 1 FROM listings WHERE channel_id = 'c{channel}'"
        ))
        .await?;
    }
    // Orders evenly over the range; one in 20 cancelled, one in 100 oversold.
    let orders = args.order_lines / 2;
    let span = to - from;
    run(format!(
        "{} INSERT INTO orders (id, channel_id, external_order_id, status, location, \
         platform_updated_at, revision, oversold, currency, total_minor, placed_at, created_at, \
         updated_at) \
         SELECT i + 1, 'c' || CAST(i % {channels} AS TEXT), 'o' || CAST(i AS TEXT), \
         CASE WHEN i % 20 = 0 THEN 'cancelled' ELSE 'fulfilled' END, 'default', \
         {from} + i * {span} / {orders}, 1, CASE WHEN i % 100 = 0 THEN 1 ELSE 0 END, 'EUR', 2600, \
         {from} + i * {span} / {orders}, {from} + i * {span} / {orders}, \
         {from} + i * {span} / {orders} FROM n",
        numbers(orders)
    ))
    .await?;
    for line in 0..2 {
        run(format!(
            "INSERT INTO order_lines (order_id, line_id, listing_id, sku, location, multiplier, \
             quantity, open_quantity, committed_quantity, returned_quantity, unit_price_minor) \
             SELECT id, '{line}', 'R' || CAST((id * 7 + {line}) % {skus} AS TEXT), \
             'R' || CAST((id * 7 + {line}) % {skus} AS TEXT), 'default', 1, 1, 0, \
             CASE WHEN status = 'cancelled' THEN 0 ELSE 1 END, \
             CASE WHEN id % 50 = 0 THEN 1 ELSE 0 END, 1300 FROM orders"
        ))
        .await?;
    }
    // Each order's line sums, as booking keeps them.
    run(format!("UPDATE orders SET {ORDER_LINE_SUMS}")).await?;
    // Each listing's shown quantity changes `changes_per_day` times a day; one value in 12 is 0.
    let changes = args.days * args.changes_per_day;
    if changes > 0 {
        let step = span / i64::try_from(changes).unwrap_or(1);
        // Each stretch holds until the next; the last one, still open, is the listing's own
        // (`shown_quantity` since `shown_since`), as confirmations leave them.
        let last = changes - 1;
        if last > 0 {
            run(format!(
                "{} INSERT INTO listing_shown_history (history_key, shown_at, quantity, until_at) \
                 SELECT l.history_key, {from} + n.i * {step}, (l.history_key + n.i) % 12, \
                 {from} + (n.i + 1) * {step} FROM n CROSS JOIN listings l",
                numbers(last)
            ))
            .await?;
        }
        // Computed here: PostgreSQL would multiply two small literals as 32-bit integers.
        let since = from + i64::try_from(last).unwrap_or(0) * step;
        run(format!(
            "UPDATE listings SET shown_quantity = (history_key + {last}) % 12, shown_since = {since}"
        ))
        .await?;
    }
    // Statistics, as a live database has them.
    run("ANALYZE".to_string()).await?;
    Ok(())
}
