//! What differs per backend: URLs refused or unreachable, PostgreSQL's query plans, SQLite's
//! durable settings.

use super::*;

#[tokio::test]
pub(crate) async fn unsupported_scheme_is_named() {
    let error = Ledger::connect("mysql://root@localhost/stock")
        .await
        .unwrap_err();
    assert!(matches!(error, LedgerError::UnsupportedUrl { .. }));
    assert!(error.to_string().contains("mysql"), "{error}");
}

#[tokio::test]
pub(crate) async fn unreachable_database_is_named_without_its_password() {
    let error = Ledger::connect("postgres://omnistock:hunter2@127.0.0.1:1/stock")
        .await
        .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(matches!(error, LedgerError::Unreachable { .. }));
    assert!(shown.contains("127.0.0.1:1/stock"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// Sequential scans and the rows they read of each large table, as PostgreSQL's statistics
/// have them once every connection that wrote them has closed.
pub(crate) async fn table_scans(url: &str) -> BTreeMap<String, (i64, i64)> {
    let mut connection = alone_with_the_statistics(url).await;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, seq_scan, seq_tup_read FROM pg_stat_user_tables \
         WHERE relname IN ('orders', 'order_lines', 'listings', 'listing_components', \
         'movements', 'balances', 'items', 'webhook_deliveries')",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(table, scans, rows)| (table, (scans, rows)))
        .collect()
}

/// The `application_name` of the connections that read the statistics.
const STATISTICS_PROBE: &str = "statistics-probe";

/// A connection to the test's database once every other connection to it has gone or been
/// idle for 1.5 s (at most 10 s): a backend reports its counts to the statistics as it leaves,
/// or within a second of going idle, and on a loaded machine it may leave well after the pool
/// said it closed.
async fn alone_with_the_statistics(url: &str) -> sqlx::PgConnection {
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect_with(
        &options.application_name(STATISTICS_PROBE),
    )
    .await
    .unwrap();
    for _ in 0..200 {
        // Earlier probes may still be leaving; they read statistics only, no table.
        let (others,): (i64,) = sqlx::query_as(
            "SELECT CAST(count(*) AS bigint) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name <> $1 \
             AND NOT (state = 'idle' AND state_change < now() - interval '1500 milliseconds')",
        )
        .bind(STATISTICS_PROBE)
        .fetch_one(&mut connection)
        .await
        .unwrap();
        if others == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    connection
}

/// `read` once PostgreSQL's statistics have settled: a closed connection reports its counts
/// as it exits, a moment after the pool says it closed, so read until two reads 200 ms apart
/// agree (at most 5 s).
pub(crate) async fn settled<T, F, Fut>(read: F) -> T
where
    T: PartialEq,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut last = read().await;
    for _ in 0..25 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = read().await;
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Index entries read so far, per table (over all its indexes).
pub(crate) async fn index_entries_read(url: &str) -> BTreeMap<String, i64> {
    let mut connection = alone_with_the_statistics(url).await;
    sqlx::query_as::<_, (String, i64)>(
        "SELECT relname::text, CAST(sum(idx_tup_read) AS bigint) FROM pg_stat_user_indexes \
         GROUP BY relname",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// Bookings, push targets and push records find every row they touch by its index, also right
/// after a bulk import (no statistics yet): PostgreSQL's planner, which takes a row set for 100
/// rows and an unknown key for 0.5 % of a table, would otherwise read whole tables (every
/// order, every listing, every balance) for a handful of rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn postgres_bookings_read_no_table_whole() {
    let database = TestDatabase::create(TestBackend::Postgres).await;
    let ledger = seeded(&database).await;
    // Right after an import there are no statistics, and none must come mid-test: an
    // autovacuum ANALYZE on a busy machine would let the planner read a quarter of a table
    // whole, rightly, and the test would judge another plan than the one it means to.
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()")
            .fetch_all(ledger.pool())
            .await
            .unwrap();
    for (table,) in tables {
        sqlx::query(&format!(
            "ALTER TABLE \"{table}\" SET (autovacuum_enabled = false)"
        ))
        .execute(ledger.pool())
        .await
        .unwrap();
    }
    // A catalog large enough that reading a table whole is never the planner's best choice.
    let catalog = [
        "INSERT INTO items (sku, title, created_at) \
         SELECT 'S' || n, 'S' || n, 0 FROM generate_series(1, 5000) AS n",
        "INSERT INTO balances (sku, location, on_hand, reserved, updated_at) \
         SELECT 'S' || n, 'default', 1000, 0, 0 FROM generate_series(1, 5000) AS n",
        "INSERT INTO listings (channel_id, listing_id, sku, multiplier, sync_enabled) \
         SELECT 'sim', 'L-S' || n, 'S' || n, 1, 1 FROM generate_series(1, 5000) AS n",
        "INSERT INTO listing_components (channel_id, listing_id, sku, quantity) \
         SELECT 'sim', 'L-S' || n, 'S' || n, 1 FROM generate_series(1, 5000) AS n",
    ];
    for statement in catalog {
        sqlx::query(statement).execute(ledger.pool()).await.unwrap();
    }
    let skus: Vec<String> = (1..=5000).map(|n| format!("S{n}")).collect();
    let event = |n: usize, seconds: i64, status: OrderStatus| {
        let sku = &skus[n % skus.len()];
        let mut event = order(
            &format!("o{n}"),
            seconds,
            status,
            vec![listing_line("1", &format!("L-{sku}"), 1)],
        );
        event.delivery_id = Some(format!("d{n}-{seconds}"));
        event
    };
    let history: Vec<OrderEvent> = (0..2_000).map(|n| event(n, 0, OrderStatus::Open)).collect();
    for chunk in history.chunks(250) {
        for result in ledger.book_orders(&requests_of(chunk)).await {
            result.unwrap();
        }
    }
    // No ANALYZE: right after a bulk import the planner has no statistics yet.
    ledger.close().await;
    let before = settled(|| table_scans(&database.url)).await;

    let ledger = database.ledger().await;
    let group: Vec<OrderEvent> = (1_990..2_010)
        .map(|n| event(n, 5, OrderStatus::Fulfilled))
        .collect();
    for result in ledger.book_orders(&requests_of(&group)).await {
        assert_eq!(result.unwrap().result, BookingResult::Applied);
    }
    // Push targets read each key's rows and no others: an `IN` list read the whole channel's
    // listings for each 500 SKUs.
    ledger.close().await;
    let entries_before = settled(|| index_entries_read(&database.url)).await;
    let ledger = database.ledger().await;
    let targets = ledger
        .push_targets(CHANNEL, &skus[..1_200], &StockPolicy::default())
        .await
        .unwrap();
    assert_eq!(targets.len(), 1_200);
    ledger.close().await;
    let entries_after = settled(|| index_entries_read(&database.url)).await;
    for table in ["listings", "listing_components", "balances"] {
        let read = entries_after[table] - entries_before.get(table).copied().unwrap_or_default();
        // listing_components is read twice: the listings taking the SKUs, then their parts.
        assert!(
            (1_200..=2 * 1_200).contains(&read),
            "{table}: {read} index entries read for 1,200 SKUs' push targets"
        );
    }
    let ledger = database.ledger().await;
    let page = ledger
        .channel_sku_page(CHANNEL, Some("S2"), 500)
        .await
        .unwrap();
    assert!(!page.is_empty());
    ledger
        .record_pushed(CHANNEL, &[ConfirmedPush::of(&targets[0], 7)])
        .await
        .unwrap();
    ledger.close().await;
    let after = settled(|| table_scans(&database.url)).await;
    for (table, (scans, rows)) in &after {
        let (scans_before, rows_before) = before.get(table).copied().unwrap_or_default();
        assert_eq!(
            (scans - scans_before, rows - rows_before),
            (0, 0),
            "{table} was scanned: {before:?} then {after:?}"
        );
    }
}

#[tokio::test]
pub(crate) async fn sqlite_file_is_created_with_durable_settings() {
    let database = TestDatabase::sqlite();
    let ledger = database.ledger().await;
    assert_eq!(ledger.backend(), Backend::Sqlite);
    let mut connection = ledger.pool().acquire().await.unwrap();
    let (journal_mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let (synchronous,): (i64,) = sqlx::query_as("PRAGMA synchronous")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let (foreign_keys,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    assert_eq!(journal_mode.to_lowercase(), "wal");
    assert_eq!((synchronous, foreign_keys), (2, 1));
    // Migrating twice is harmless (every replica migrates at start).
    ledger.migrate().await.unwrap();
}
