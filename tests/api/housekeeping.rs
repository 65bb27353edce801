//! Housekeeping on both backends: rows past their retention (webhook delivery ids, the embedded
//! bus's dead-lettered rows, finished resync jobs) are pruned by the running daemon, recent ones
//! and the journal are kept, and a channel no longer configured loses its queue.

use crate::helpers::{spawn_app_with, test_settings, TestDatabase};
use crate::sync_world::{wait_until, AMQP_URL};
use omnistock::bus::{AmqpBus, BusConfig, DatabaseBus};
use omnistock::ledger::{Ledger, MovementMeta};
use omnistock_connector::Secret;
use sqlx::AnyPool;
use std::time::Duration;

const DAY: i64 = 86_400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_rows_are_pruned_on_sqlite() {
    old_rows_are_pruned_and_the_journal_kept(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_rows_are_pruned_on_postgres() {
    old_rows_are_pruned_and_the_journal_kept(true).await;
}

async fn count(pool: &AnyPool, sql: &str) -> i64 {
    let (count,): (i64,) = sqlx::query_as(&format!("SELECT CAST(COUNT(*) AS BIGINT) {sql}"))
        .fetch_one(pool)
        .await
        .unwrap();
    count
}

async fn execute(pool: &AnyPool, sql: &str, now: i64) {
    sqlx::query(sql).bind(now).execute(pool).await.unwrap();
}

/// Writes what months of running leave behind, old and recent, with `now` as `$1`.
async fn age_the_ledger(ledger: &Ledger, now: i64) {
    let pool = ledger.pool();
    execute(
        pool,
        &format!(
            "INSERT INTO webhook_deliveries (channel_id, delivery_id, received_at) VALUES \
             ('shop', 'old', $1 - {}), ('shop', 'recent', $1 - {})",
            40 * DAY,
            DAY
        ),
        now,
    )
    .await;
    // Dead rows, old and recent, and a live row as old as can be (a change still to push).
    execute(
        pool,
        &format!(
            "INSERT INTO bus_messages (queue, sku, skus, outbox_id, changed_at_ms, created_at, \
             attempts, dead_at) VALUES \
             ('shop', 'A', '[\"A\"]', 1, $1, $1 - {old}, 20, $1 - {old}), \
             ('shop', 'A', '[\"A\"]', 2, $1, $1 - {recent}, 20, $1 - {recent}), \
             ('shop', 'A', '[\"A\"]', 3, $1, $1 - {old}, 1, NULL)",
            old = 10 * DAY,
            recent = DAY
        ),
        now,
    )
    .await;
    // Two old reconciliations of one channel (the newer is kept: scheduling reads it), an old
    // push job of another and a recent one.
    execute(
        pool,
        &format!(
            "INSERT INTO resync_jobs (id, channel_id, mode, trigger_kind, state, created_at, \
             finished_at, heartbeat_at) VALUES \
             ('old-1', 'shop', 'reconcile', 'schedule', 'succeeded', $1 - {a}, $1 - {a}, $1 - {a}), \
             ('old-2', 'shop', 'reconcile', 'schedule', 'succeeded', $1 - {b}, $1 - {b}, $1 - {b}), \
             ('old-3', 'other', 'push', 'api', 'failed', $1 - {a}, $1 - {a}, $1 - {a}), \
             ('new-1', 'other', 'push', 'api', 'succeeded', $1 - {c}, $1 - {c}, $1 - {c})",
            a = 100 * DAY,
            b = 95 * DAY,
            c = DAY
        ),
        now,
    )
    .await;
    // A webhook receipt pending for 400 days (its channel is gone): only its booking or the
    // quarantine removes it, never its age.
    execute(
        pool,
        &format!(
            "INSERT INTO webhook_receipts (channel_id, delivery_id, order_refs, received_at, \
             attempts, last_error, next_attempt_at) VALUES \
             ('gone', 'n-1', '[{{\"order_id\":\"1\",\"delivery_id\":\"n-1\"}}]', $1 - {old}, 9, \
             'transient: HTTP 500', $1 - {old})",
            old = 400 * DAY
        ),
        now,
    )
    .await;
    // An old journal row.
    ledger.upsert_item("A", "Item A").await.unwrap();
    ledger
        .receive("A", "default", 5, &MovementMeta::new("receipt"))
        .await
        .unwrap();
    execute(
        pool,
        &format!("UPDATE movements SET created_at = $1 - {}", 400 * DAY),
        now,
    )
    .await;
    // A channel that was configured once and has been removed since, with a queued change.
    ledger.upsert_channel("gone", "sim").await.unwrap();
    let bus = DatabaseBus::new(pool.clone(), BusConfig::default());
    bus.ensure_channel_queue("gone").await.unwrap();
    execute(
        pool,
        "INSERT INTO bus_messages (queue, sku, skus, outbox_id, changed_at_ms, created_at, \
         attempts) VALUES ('gone', 'A', '[\"A\"]', 4, $1, $1, 0)",
        now,
    )
    .await;
}

async fn old_rows_are_pruned_and_the_journal_kept(postgres: bool) {
    let (database, url) = if postgres {
        TestDatabase::postgres().await
    } else {
        TestDatabase::sqlite()
    };
    let now = chrono::Utc::now().timestamp_millis();
    {
        let ledger = Ledger::connect(&url).await.unwrap();
        ledger.migrate().await.unwrap();
        age_the_ledger(&ledger, now).await;
        ledger.close().await;
    }
    let mut settings = test_settings(&url);
    settings.housekeeping.interval = Duration::from_secs(1);
    let app = spawn_app_with(settings, database).await;
    let pool = app.ledger.pool().clone();

    // The removed channel's queue went at start: it collects no more copies.
    assert_eq!(
        count(&pool, "FROM bus_queues WHERE queue = 'gone'").await,
        0
    );
    assert_eq!(
        count(&pool, "FROM bus_messages WHERE queue = 'gone'").await,
        0
    );

    wait_until("the first housekeeping pass", || async {
        count(&pool, "FROM webhook_deliveries").await == 1
            && count(&pool, "FROM bus_messages").await == 2
            && count(&pool, "FROM resync_jobs").await == 2
    })
    .await;
    let kept: Vec<(String,)> = sqlx::query_as("SELECT delivery_id FROM webhook_deliveries")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(kept, vec![("recent".to_string(),)]);
    let kept: Vec<(i64,)> = sqlx::query_as("SELECT outbox_id FROM bus_messages ORDER BY outbox_id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        kept,
        vec![(2,), (3,)],
        "the recent dead row and the live row"
    );
    let kept: Vec<(String,)> = sqlx::query_as("SELECT id FROM resync_jobs ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(kept, vec![("new-1".to_string(),), ("old-2".to_string(),)]);
    // The journal is never pruned, however old, nor a pending webhook receipt.
    assert_eq!(count(&pool, "FROM movements").await, 1);
    assert_eq!(count(&pool, "FROM webhook_receipts").await, 1);
    assert_eq!(app.ledger.balance("A", "default").await.unwrap().on_hand, 5);
    assert!(app.ledger.check_invariants().await.unwrap().is_ok());
    app.stop().await.unwrap();
}

/// On RabbitMQ the queue of a channel no longer configured is deleted at start too (with its
/// dead-letter queue), so it stops collecting a copy of every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_of_a_removed_channel_is_deleted_on_rabbitmq() {
    let (database, url) = TestDatabase::postgres().await;
    let bus_config = BusConfig {
        url: Secret::new(AMQP_URL),
        name_prefix: format!("test_{}.", uuid::Uuid::new_v4().simple()),
        ..BusConfig::default()
    };
    let bus = AmqpBus::connect(bus_config.clone()).await.unwrap();
    {
        let ledger = Ledger::connect(&url).await.unwrap();
        ledger.migrate().await.unwrap();
        ledger.upsert_channel("gone", "sim").await.unwrap();
        ledger.close().await;
    }
    bus.ensure_channel_queue("gone").await.unwrap();
    assert_eq!(bus.pending_count("gone").await.unwrap(), 0);

    let mut settings = test_settings(&url);
    settings.bus = bus_config;
    let app = spawn_app_with(settings, database).await;

    // A passive look at a queue that does not exist fails.
    assert!(bus.pending_count("gone").await.is_err());
    app.stop().await.unwrap();
    let _ = bus.delete_channel_queue("gone").await;
    let _ = bus.delete_exchanges().await;
}
