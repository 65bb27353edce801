//! The stock-change bus against real services: the database bus on SQLite and PostgreSQL (a fresh
//! database per test) and the RabbitMQ bus (unique exchange and queue names per test).
use crate::common::{TestBackend, TestDatabase};
use crate::tcp_proxy::{ProxyMode, TcpProxy};
use omnistock::bus::{
    Bus, BusConfig, BusError, Consumer, Delivery, OutboxRelay, RelayConfig, RelayStats,
    StockChanged,
};
use omnistock::ledger::{Ledger, MovementMeta};
use omnistock::testkit::ScratchBusNames;
use omnistock_connector::Secret;
use sqlx::AnyPool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Generous: only reached when the behaviour under test is broken.
const ARRIVES_WITHIN: Duration = Duration::from_secs(20);
/// How long we watch for something that must not arrive.
const QUIET_FOR: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------
// Databases

/// A fresh, migrated ledger database, removed on drop.
struct TestDb {
    ledger: Ledger,
    database: TestDatabase,
}

impl TestDb {
    async fn sqlite() -> Self {
        Self::on(TestDatabase::sqlite()).await
    }

    async fn postgres() -> Self {
        Self::on(TestDatabase::postgres().await).await
    }

    async fn on(database: TestDatabase) -> Self {
        Self {
            ledger: database.ledger().await,
            database,
        }
    }

    fn pool(&self) -> &AnyPool {
        self.ledger.pool()
    }

    /// The url to `LISTEN` on, for PostgreSQL.
    fn listen_url(&self) -> Option<Secret> {
        (self.database.backend == TestBackend::Postgres)
            .then(|| Secret::new(self.database.url.clone()))
    }

    /// A change of availability, written by the ledger with its outbox row.
    async fn receive_stock(&self, sku: &str) {
        self.ledger.upsert_item(sku, sku).await.unwrap();
        self.ledger.upsert_location("main", "Main").await.unwrap();
        let key = format!("receipt-{}", uuid::Uuid::new_v4());
        self.ledger
            .receive(sku, "main", 5, &MovementMeta::new(key))
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn change(sku: &str, outbox_id: i64) -> StockChanged {
    StockChanged::one(sku, outbox_id, 1_700_000_000_000 + outbox_id)
}

fn memory_config() -> BusConfig {
    BusConfig {
        url: Secret::new("memory://"),
        poll_interval_ms: 50,
        ..BusConfig::default()
    }
}

async fn memory_bus(pool: &AnyPool) -> Bus {
    Bus::connect(&memory_config(), pool).await.unwrap()
}

async fn next(consumer: &mut Consumer) -> Delivery {
    tokio::time::timeout(ARRIVES_WITHIN, consumer.next())
        .await
        .expect("a delivery should arrive")
        .unwrap()
}

async fn assert_quiet(consumer: &mut Consumer) {
    if let Ok(delivery) = tokio::time::timeout(QUIET_FOR, consumer.next()).await {
        panic!(
            "expected no delivery, got {:?}",
            delivery.map(|d| d.message().clone())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios, run on every backend

async fn published_message_reaches_every_channel_queue(bus: Bus) {
    bus.ensure_channel_queue("shop-a").await.unwrap();
    bus.ensure_channel_queue("shop-b").await.unwrap();
    bus.publish(&[change("SKU-1", 1), change("SKU-2", 2)])
        .await
        .unwrap();
    for channel in ["shop-a", "shop-b"] {
        let mut consumer = bus.consume(channel).await.unwrap();
        let mut skus = Vec::new();
        for _ in 0..2 {
            let delivery = next(&mut consumer).await;
            skus.push(delivery.message().skus[0].clone());
            assert!(!delivery.redelivered());
            delivery.ack().await.unwrap();
        }
        skus.sort();
        assert_eq!(skus, ["SKU-1", "SKU-2"], "channel {channel}");
        assert_quiet(&mut consumer).await;
    }
}

async fn ack_removes_and_nack_redelivers(bus: Bus) {
    bus.ensure_channel_queue("shop").await.unwrap();
    let mut consumer = bus.consume("shop").await.unwrap();
    bus.publish(&[change("SKU-1", 7)]).await.unwrap();

    let first = next(&mut consumer).await;
    assert_eq!(first.message(), &change("SKU-1", 7));
    first.nack(true).await.unwrap();

    let again = next(&mut consumer).await;
    assert_eq!(again.message(), &change("SKU-1", 7));
    assert!(again.redelivered());
    again.ack().await.unwrap();

    assert_quiet(&mut consumer).await;
    assert_eq!(bus.pending_count("shop").await.unwrap(), 0);
    assert_eq!(bus.dead_letter_count("shop").await.unwrap(), 0);
}

async fn rejected_message_is_dead_lettered(bus: Bus) {
    bus.ensure_channel_queue("shop").await.unwrap();
    let mut consumer = bus.consume("shop").await.unwrap();
    bus.publish(&[change("POISON", 1), change("SKU-2", 2)])
        .await
        .unwrap();

    let poison = next(&mut consumer).await;
    assert_eq!(poison.message().skus, ["POISON"]);
    poison.reject().await.unwrap();
    let healthy = next(&mut consumer).await;
    assert_eq!(healthy.message().skus, ["SKU-2"]);
    healthy.ack().await.unwrap();
    assert_quiet(&mut consumer).await;

    // Dead-lettering is asynchronous on the broker.
    let mut dead = 0;
    for _ in 0..100 {
        dead = bus.dead_letter_count("shop").await.unwrap();
        if dead == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead, 1);
}

async fn only_one_consumer_per_channel_is_active(bus: Bus) {
    bus.ensure_channel_queue("shop").await.unwrap();
    let mut first = bus.consume("shop").await.unwrap();
    // The first consumer is registered (and so active) before the second subscribes.
    bus.publish(&[change("SKU-0", 1)]).await.unwrap();
    next(&mut first).await.ack().await.unwrap();

    let mut second = bus.consume("shop").await.unwrap();
    bus.publish(&[change("SKU-1", 2)]).await.unwrap();
    let held = next(&mut first).await;
    assert_eq!(held.message().skus, ["SKU-1"]);
    assert_quiet(&mut second).await;

    // The active consumer goes away without acknowledging: the other one takes over and gets
    // the message again.
    drop(held);
    drop(first);
    let taken_over = next(&mut second).await;
    assert_eq!(taken_over.message().skus, ["SKU-1"]);
    assert!(taken_over.redelivered());
    taken_over.ack().await.unwrap();
}

async fn ack_many_removes_exactly_those_messages(bus: Bus) {
    bus.ensure_channel_queue("shop").await.unwrap();
    let mut consumer = bus.consume("shop").await.unwrap();
    bus.publish(&[change("SKU-1", 1), change("SKU-2", 2), change("SKU-3", 3)])
        .await
        .unwrap();
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    let third = next(&mut consumer).await;
    assert_eq!(third.message().skus, ["SKU-3"]);
    Delivery::ack_many(vec![first, second]).await.unwrap();
    third.nack(true).await.unwrap();

    let again = next(&mut consumer).await;
    assert_eq!(again.message(), &change("SKU-3", 3));
    assert!(again.redelivered());
    Delivery::ack_many(vec![again]).await.unwrap();
    assert_quiet(&mut consumer).await;
    assert_eq!(bus.pending_count("shop").await.unwrap(), 0);
}

/// Stops a relay once its counter reached `count` (or after a while). The counter follows the
/// deletion of the rows: stopping earlier would drop a round between the two.
async fn stop_relay_once_published(
    stats: &RelayStats,
    count: u64,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
) {
    for _ in 0..200 {
        if stats.published_total.load(Ordering::Relaxed) >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(ARRIVES_WITHIN, task)
        .await
        .expect("the relay stops on shutdown")
        .unwrap();
}

/// A message queued by the version before messages named several SKUs is still delivered.
async fn message_of_the_previous_version_is_delivered(db: TestDb) {
    let bus = memory_bus(db.pool()).await;
    bus.ensure_channel_queue("shop").await.unwrap();
    sqlx::query(
        "INSERT INTO bus_messages (queue, sku, outbox_id, changed_at_ms, created_at, attempts) \
         VALUES ('shop', 'SKU-OLD', 9, 1700000000009, 1700000000009, 0)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let mut consumer = bus.consume("shop").await.unwrap();
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.message(), &change("SKU-OLD", 9));
    delivery.ack().await.unwrap();
}

async fn relay_publishes_a_batch_as_one_message(bus: Bus, db: &TestDb) {
    bus.ensure_channel_queue("shop").await.unwrap();
    for sku in ["SKU-2", "SKU-1", "SKU-2", "SKU-3"] {
        db.receive_stock(sku).await;
    }
    let first_row = db.ledger.outbox_fetch(1).await.unwrap()[0].clone();
    let relay = OutboxRelay::new(
        Arc::new(db.ledger.clone()),
        bus.clone(),
        RelayConfig {
            poll_interval: Duration::from_millis(100),
            postgres_listen_url: db.listen_url(),
            ..RelayConfig::default()
        },
    );
    let stats = relay.stats();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(relay.run(shutdown));

    let mut consumer = bus.consume("shop").await.unwrap();
    let delivery = next(&mut consumer).await;
    let message = delivery.message().clone();
    delivery.ack().await.unwrap();
    assert_eq!(message.skus, ["SKU-1", "SKU-2", "SKU-3"], "each SKU once");
    assert_eq!(message.outbox_id, first_row.id);
    assert_eq!(
        message.changed_at_ms,
        first_row.created_at.timestamp_millis()
    );
    stop_relay_once_published(&stats, 4, stop, task).await;
    assert_eq!(
        stats.published_total.load(Ordering::Relaxed),
        4,
        "rows relayed"
    );
    assert_eq!(db.ledger.outbox_len().await.unwrap(), 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), consumer.next())
            .await
            .is_err(),
        "one message for the batch"
    );
}

async fn relay_moves_outbox_rows_and_deletes_them_after_publish(bus: Bus, db: &TestDb) {
    bus.ensure_channel_queue("shop").await.unwrap();
    db.receive_stock("SKU-1").await;
    db.receive_stock("SKU-2").await;
    assert_eq!(db.ledger.outbox_len().await.unwrap(), 2);

    let relay = OutboxRelay::new(
        Arc::new(db.ledger.clone()),
        bus.clone(),
        RelayConfig {
            batch_size: 1, // several round trips
            poll_interval: Duration::from_millis(100),
            postgres_listen_url: db.listen_url(),
        },
    );
    let stats = relay.stats();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(relay.run(shutdown));

    let mut consumer = bus.consume("shop").await.unwrap();
    let mut skus = Vec::new();
    for _ in 0..2 {
        let delivery = next(&mut consumer).await;
        skus.push(delivery.message().skus[0].clone());
        delivery.ack().await.unwrap();
    }
    skus.sort();
    assert_eq!(skus, ["SKU-1", "SKU-2"]);

    // A change made while the relay runs is picked up too, also when another process (here:
    // another ledger on the same database, so no in-process wake-up) makes it.
    db.ledger.upsert_item("SKU-3", "SKU-3").await.unwrap();
    let other_replica = Ledger::connect(&db.database.url).await.unwrap();
    other_replica
        .receive("SKU-3", "main", 1, &MovementMeta::new("other-replica"))
        .await
        .unwrap();
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.message().skus, ["SKU-3"]);
    delivery.ack().await.unwrap();

    // The consumer may see a message before the relay deleted its row (deletion follows the
    // confirm), so wait for the outbox to empty.
    let mut left = db.ledger.outbox_len().await.unwrap();
    for _ in 0..200 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = db.ledger.outbox_len().await.unwrap();
    }
    assert_eq!(left, 0);
    stop_relay_once_published(&stats, 3, stop, task).await;
    assert_eq!(stats.published_total.load(Ordering::Relaxed), 3);
    other_replica.close().await;
}

// ---------------------------------------------------------------------------------------------
// Database bus only

async fn unacked_messages_survive_a_restart(db: TestDb) {
    let bus = memory_bus(db.pool()).await;
    bus.ensure_channel_queue("shop").await.unwrap();
    bus.publish(&[change("SKU-1", 1), change("SKU-2", 2)])
        .await
        .unwrap();
    let mut consumer = bus.consume("shop").await.unwrap();
    let in_flight = next(&mut consumer).await;
    assert_eq!(in_flight.message().skus, ["SKU-1"]);
    // The process dies: nothing is settled, the pool goes away.
    std::mem::forget(in_flight);
    drop(consumer);
    drop(bus);
    db.ledger.close().await;

    let restarted = db.database.ledger().await;
    let bus = memory_bus(restarted.pool()).await;
    let mut consumer = bus.consume("shop").await.unwrap();
    let first = next(&mut consumer).await;
    assert_eq!(first.message(), &change("SKU-1", 1));
    assert!(first.redelivered());
    first.ack().await.unwrap();
    let second = next(&mut consumer).await;
    assert_eq!(second.message(), &change("SKU-2", 2));
    // SKU-2 was claimed with SKU-1 before the crash, so it counts as delivered before, as
    // RabbitMQ flags the prefetched messages of a consumer that went away.
    second.ack().await.unwrap();
    assert_eq!(bus.pending_count("shop").await.unwrap(), 0);
    restarted.close().await;
}

async fn message_over_the_delivery_limit_is_dead_lettered(db: TestDb) {
    let config = BusConfig {
        delivery_limit: 2,
        ..memory_config()
    };
    let bus = Bus::connect(&config, db.pool()).await.unwrap();
    bus.ensure_channel_queue("shop").await.unwrap();
    bus.publish(&[change("SKU-1", 1)]).await.unwrap();
    let mut consumer = bus.consume("shop").await.unwrap();
    for _ in 0..2 {
        next(&mut consumer).await.nack(true).await.unwrap();
    }
    assert_quiet(&mut consumer).await;
    assert_eq!(bus.dead_letter_count("shop").await.unwrap(), 1);
}

async fn consumer_holds_at_most_the_prefetch_window(db: TestDb) {
    let config = BusConfig {
        prefetch: 2,
        ..memory_config()
    };
    let bus = Bus::connect(&config, db.pool()).await.unwrap();
    bus.ensure_channel_queue("shop").await.unwrap();
    let messages: Vec<StockChanged> = (1..=5).map(|id| change(&format!("SKU-{id}"), id)).collect();
    bus.publish(&messages).await.unwrap();
    let mut consumer = bus.consume("shop").await.unwrap();
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    assert_quiet(&mut consumer).await;
    assert_eq!(first.message().skus, ["SKU-1"]);
    assert_eq!(second.message().skus, ["SKU-2"]);
    Delivery::ack_many(vec![first, second]).await.unwrap();
    assert_eq!(bus.pending_count("shop").await.unwrap(), 3);

    // Claimed rows not yet handed out go to the consumer that takes over, in order, counted
    // once.
    let third = next(&mut consumer).await;
    assert_eq!(third.message().skus, ["SKU-3"]);
    drop(third);
    drop(consumer);
    let mut successor = bus.consume("shop").await.unwrap();
    for id in 3..=5 {
        let delivery = next(&mut successor).await;
        assert_eq!(delivery.message(), &change(&format!("SKU-{id}"), id));
        assert_eq!(delivery.redelivered(), id == 3, "SKU-{id}");
        delivery.ack().await.unwrap();
    }
    assert_quiet(&mut successor).await;
    assert_eq!(bus.pending_count("shop").await.unwrap(), 0);
}

async fn relay_keeps_outbox_rows_while_publishing_fails(db: TestDb) {
    // A bus whose database has no bus tables: every publish fails.
    let elsewhere = tempfile::tempdir().unwrap();
    let unmigrated = Ledger::connect(&format!(
        "sqlite://{}",
        elsewhere.path().join("empty.db").display()
    ))
    .await
    .unwrap();
    let broken_bus = memory_bus(unmigrated.pool()).await;
    db.receive_stock("SKU-1").await;

    let relay = OutboxRelay::new(
        Arc::new(db.ledger.clone()),
        broken_bus,
        RelayConfig {
            poll_interval: Duration::from_millis(50),
            ..RelayConfig::default()
        },
    );
    let stats = relay.stats();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(relay.run(shutdown));
    for _ in 0..200 {
        if stats.failures_total.load(Ordering::Relaxed) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stats.failures_total.load(Ordering::Relaxed) >= 2);
    stop.send(true).unwrap();
    tokio::time::timeout(ARRIVES_WITHIN, task)
        .await
        .expect("the relay stops on shutdown")
        .unwrap();
    assert_eq!(
        db.ledger.outbox_len().await.unwrap(),
        1,
        "the row must stay until published"
    );
    assert_eq!(stats.published_total.load(Ordering::Relaxed), 0);
    assert_eq!(stats.outbox_backlog.load(Ordering::Relaxed), 1);
}

macro_rules! memory_bus_suite {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn published_message_reaches_every_channel_queue() {
                let db = TestDb::$backend().await;
                super::published_message_reaches_every_channel_queue(memory_bus(db.pool()).await)
                    .await;
            }

            #[tokio::test]
            async fn ack_removes_and_nack_redelivers() {
                let db = TestDb::$backend().await;
                super::ack_removes_and_nack_redelivers(memory_bus(db.pool()).await).await;
            }

            #[tokio::test]
            async fn rejected_message_is_dead_lettered() {
                let db = TestDb::$backend().await;
                super::rejected_message_is_dead_lettered(memory_bus(db.pool()).await).await;
            }

            #[tokio::test]
            async fn only_one_consumer_per_channel_is_active() {
                let db = TestDb::$backend().await;
                super::only_one_consumer_per_channel_is_active(memory_bus(db.pool()).await).await;
            }

            #[tokio::test]
            async fn ack_many_removes_exactly_those_messages() {
                let db = TestDb::$backend().await;
                super::ack_many_removes_exactly_those_messages(memory_bus(db.pool()).await).await;
            }

            #[tokio::test]
            async fn consumer_holds_at_most_the_prefetch_window() {
                super::consumer_holds_at_most_the_prefetch_window(TestDb::$backend().await).await;
            }

            #[tokio::test]
            async fn relay_moves_outbox_rows_and_deletes_them_after_publish() {
                let db = TestDb::$backend().await;
                let bus = memory_bus(db.pool()).await;
                super::relay_moves_outbox_rows_and_deletes_them_after_publish(bus, &db).await;
            }

            #[tokio::test]
            async fn message_of_the_previous_version_is_delivered() {
                super::message_of_the_previous_version_is_delivered(TestDb::$backend().await).await;
            }

            #[tokio::test]
            async fn relay_publishes_a_batch_as_one_message() {
                let db = TestDb::$backend().await;
                let bus = memory_bus(db.pool()).await;
                super::relay_publishes_a_batch_as_one_message(bus, &db).await;
            }

            #[tokio::test]
            async fn unacked_messages_survive_a_restart() {
                super::unacked_messages_survive_a_restart(TestDb::$backend().await).await;
            }

            #[tokio::test]
            async fn message_over_the_delivery_limit_is_dead_lettered() {
                super::message_over_the_delivery_limit_is_dead_lettered(TestDb::$backend().await)
                    .await;
            }

            #[tokio::test]
            async fn relay_keeps_outbox_rows_while_publishing_fails() {
                super::relay_keeps_outbox_rows_while_publishing_fails(TestDb::$backend().await)
                    .await;
            }
        }
    };
}

memory_bus_suite!(sqlite);
memory_bus_suite!(postgres);

// ---------------------------------------------------------------------------------------------
// RabbitMQ

/// A bus with exchange and queue names of its own, deleted on drop (also when a test fails).
struct TestBroker {
    bus: Bus,
    /// The bus's settings; a test may point them elsewhere (the names stay).
    config: BusConfig,
    _names: ScratchBusNames,
}

/// The memory pool `Bus::connect` takes is not used by the RabbitMQ bus.
fn unused_pool() -> AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .connect_lazy("sqlite::memory:")
        .unwrap()
}

impl TestBroker {
    /// A bus whose queues of `channels` (and exchanges) are deleted on drop.
    async fn new(channels: Vec<&'static str>) -> Self {
        let channels: Vec<String> = channels.into_iter().map(String::from).collect();
        let base = BusConfig {
            url: Secret::new(AMQP_URL),
            ..BusConfig::default()
        };
        let names = ScratchBusNames::new(base, "test", &channels);
        let config = names.config.clone();
        let bus = Bus::connect(&config, &unused_pool()).await.unwrap();
        Self {
            bus,
            config,
            _names: names,
        }
    }
}

mod rabbitmq {
    use super::*;

    #[tokio::test]
    async fn published_message_reaches_every_channel_queue() {
        let broker = TestBroker::new(vec!["shop-a", "shop-b"]).await;
        super::published_message_reaches_every_channel_queue(broker.bus.clone()).await;
    }

    #[tokio::test]
    async fn ack_removes_and_nack_redelivers() {
        let broker = TestBroker::new(vec!["shop"]).await;
        super::ack_removes_and_nack_redelivers(broker.bus.clone()).await;
    }

    #[tokio::test]
    async fn rejected_message_is_dead_lettered() {
        let broker = TestBroker::new(vec!["shop"]).await;
        super::rejected_message_is_dead_lettered(broker.bus.clone()).await;
    }

    #[tokio::test]
    async fn only_one_consumer_per_channel_is_active() {
        let broker = TestBroker::new(vec!["shop"]).await;
        super::only_one_consumer_per_channel_is_active(broker.bus.clone()).await;
    }

    #[tokio::test]
    async fn ack_many_removes_exactly_those_messages() {
        let broker = TestBroker::new(vec!["shop"]).await;
        super::ack_many_removes_exactly_those_messages(broker.bus.clone()).await;
    }

    #[tokio::test]
    async fn relay_moves_outbox_rows_and_deletes_them_after_publish() {
        let db = TestDb::postgres().await;
        let broker = TestBroker::new(vec!["shop"]).await;
        super::relay_moves_outbox_rows_and_deletes_them_after_publish(broker.bus.clone(), &db)
            .await;
    }

    #[tokio::test]
    async fn relay_publishes_a_batch_as_one_message() {
        let db = TestDb::postgres().await;
        let broker = TestBroker::new(vec!["shop"]).await;
        super::relay_publishes_a_batch_as_one_message(broker.bus.clone(), &db).await;
    }

    #[tokio::test]
    async fn unacked_messages_survive_a_consumer_restart() {
        let broker = TestBroker::new(vec!["shop"]).await;
        broker.bus.ensure_channel_queue("shop").await.unwrap();
        broker.bus.publish(&[change("SKU-1", 1)]).await.unwrap();
        let mut consumer = broker.bus.consume("shop").await.unwrap();
        let unsettled = next(&mut consumer).await;
        drop(unsettled);
        drop(consumer);
        let mut consumer = broker.bus.consume("shop").await.unwrap();
        let again = next(&mut consumer).await;
        assert_eq!(again.message(), &change("SKU-1", 1));
        assert!(again.redelivered());
        again.ack().await.unwrap();
        drop(consumer);
    }

    #[tokio::test]
    async fn message_over_the_delivery_limit_is_dead_lettered() {
        let mut broker = TestBroker::new(vec!["shop"]).await;
        broker.config.delivery_limit = 1;
        broker.bus = Bus::connect(&broker.config, &unused_pool()).await.unwrap();
        broker.bus.ensure_channel_queue("shop").await.unwrap();
        let mut consumer = broker.bus.consume("shop").await.unwrap();
        broker.bus.publish(&[change("POISON", 1)]).await.unwrap();
        let mut deliveries = 0;
        while let Ok(delivery) = tokio::time::timeout(QUIET_FOR, consumer.next()).await {
            deliveries += 1;
            assert!(
                deliveries <= 3,
                "the broker keeps redelivering past the limit"
            );
            delivery.unwrap().nack(true).await.unwrap();
        }
        assert!(deliveries >= 1);
        let mut dead = 0;
        for _ in 0..100 {
            dead = broker.bus.dead_letter_count("shop").await.unwrap();
            if dead == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(dead, 1);
    }

    #[tokio::test]
    async fn dead_letters_past_their_retention_are_pruned_and_younger_ones_kept() {
        let broker = TestBroker::new(vec!["shop"]).await;
        super::rejected_message_is_dead_lettered(broker.bus.clone()).await;
        let Bus::Amqp(amqp) = &broker.bus else {
            panic!("expected the RabbitMQ bus");
        };
        let now = chrono::Utc::now().timestamp_millis();

        // Dead for a moment only: a retention of a minute keeps it.
        let pruned = amqp
            .prune_dead_letters("shop", now - 60_000, 100)
            .await
            .unwrap();
        assert_eq!(pruned, 0);
        // Handed back, not lost: it is still there to inspect (the nack is asynchronous).
        let mut dead = 0;
        for _ in 0..100 {
            dead = broker.bus.dead_letter_count("shop").await.unwrap();
            if dead == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(dead, 1);

        // Past the retention (its time of death is before `before`): deleted.
        let pruned = amqp
            .prune_dead_letters("shop", now + 60_000, 100)
            .await
            .unwrap();
        assert_eq!(pruned, 1);
        assert_eq!(broker.bus.dead_letter_count("shop").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn consumer_resubscribes_after_the_broker_cancelled_it() {
        let broker = TestBroker::new(vec!["shop"]).await;
        broker.bus.ensure_channel_queue("shop").await.unwrap();
        let mut consumer = broker.bus.consume("shop").await.unwrap();
        // Deleting the queue cancels the consumer; it must come back and declare it again.
        broker.bus.delete_channel_queue("shop").await.unwrap();
        let receiving = tokio::spawn(async move {
            let delivery = consumer.next().await.unwrap();
            let sku = delivery.message().skus[0].clone();
            delivery.ack().await.unwrap();
            sku
        });
        // What is published before the queue is back has nowhere to go, so keep publishing.
        let mut outbox_id = 0;
        while !receiving.is_finished() {
            outbox_id += 1;
            assert!(outbox_id < 200, "the consumer did not come back");
            broker
                .bus
                .publish(&[change("SKU-1", outbox_id)])
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(receiving.await.unwrap(), "SKU-1");
    }

    #[tokio::test]
    async fn failed_publish_is_an_error_and_the_publisher_recovers() {
        let broker = TestBroker::new(vec!["shop"]).await;
        broker.bus.ensure_channel_queue("shop").await.unwrap();
        let Bus::Amqp(amqp) = &broker.bus else {
            panic!("expected the RabbitMQ bus");
        };
        // The broker closes a channel that publishes to a missing exchange.
        amqp.delete_exchanges().await.unwrap();
        let error = broker.bus.publish(&[change("SKU-1", 1)]).await.unwrap_err();
        assert!(matches!(error, BusError::Amqp { .. }), "{error}");

        // The next calls reopen the publisher (declaring the exchanges again).
        broker.bus.ensure_channel_queue("shop").await.unwrap();
        broker.bus.publish(&[change("SKU-2", 2)]).await.unwrap();
        let mut consumer = broker.bus.consume("shop").await.unwrap();
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.message().skus, ["SKU-2"]);
        delivery.ack().await.unwrap();
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_waited_for_not_an_error_at_start() {
        let config = BusConfig {
            url: Secret::new("amqp://guest:guest@127.0.0.1:1/%2f"),
            ..BusConfig::default()
        };
        let bus = Bus::connect(&config, &unused_pool()).await.unwrap();
        assert_eq!(bus.state(), "disconnected");
        bus.ensure_channel_queue("shop").await.unwrap();
        let error = bus.publish(&[change("SKU-1", 1)]).await.unwrap_err();
        assert!(matches!(error, BusError::Amqp { .. }), "{error}");
    }

    #[tokio::test]
    async fn a_queue_registered_while_the_broker_was_down_exists_before_the_first_publish() {
        let proxy = TcpProxy::start("127.0.0.1:5672", ProxyMode::Refuse).await;
        let mut broker = TestBroker::new(vec!["shop"]).await;
        broker.config.url =
            Secret::new(format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port()));
        broker.bus = Bus::connect(&broker.config, &unused_pool()).await.unwrap();
        broker.bus.ensure_channel_queue("shop").await.unwrap();
        assert!(broker.bus.publish(&[change("SKU-1", 1)]).await.is_err());

        proxy.set(ProxyMode::Forward);
        // Published before anyone consumed: only a queue declared by the reconnecting
        // publisher catches it.
        broker.bus.publish(&[change("SKU-2", 2)]).await.unwrap();
        assert_eq!(broker.bus.state(), "connected");
        let mut consumer = broker.bus.consume("shop").await.unwrap();
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.message().skus, ["SKU-2"]);
        delivery.ack().await.unwrap();
        // Cleaned up directly: the proxy's tasks run on this test's runtime, which the clean-up
        // blocks.
        broker.config.url = Secret::new(AMQP_URL);
    }

    #[tokio::test]
    async fn an_amqps_url_speaks_tls() {
        // No TLS broker here: a TLS handshake with the plain AMQP port fails, as TLS.
        let config = BusConfig {
            url: Secret::new("amqps://guest:guest@127.0.0.1:5672/%2f"),
            ..BusConfig::default()
        };
        let bus = Bus::connect(&config, &unused_pool()).await.unwrap();
        let error = bus.publish(&[change("SKU-1", 1)]).await.unwrap_err();
        let chain = error_chain(&error);
        eprintln!("amqps to a plain port: {chain}");
        assert!(!chain.contains("scheme"), "{chain}");
        assert!(
            chain.to_lowercase().contains("tls") || chain.contains("corrupt message"),
            "{chain}"
        );
    }

    fn error_chain(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

#[tokio::test]
async fn unknown_bus_scheme_is_refused() {
    let config = BusConfig {
        url: Secret::new("kafka://broker:9092"),
        ..BusConfig::default()
    };
    let error = Bus::connect(&config, &unused_pool()).await.unwrap_err();
    assert!(matches!(error, BusError::UnsupportedUrl { ref scheme } if scheme == "kafka"));
}

#[test]
fn stock_changed_round_trips_as_json() {
    let message = change("SKU-ü", 42);
    let json = message.to_json().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(value["skus"][0], "SKU-ü");
    assert_eq!(value["outbox_id"], 42);
    assert_eq!(StockChanged::from_json(&json).unwrap(), message);
}
