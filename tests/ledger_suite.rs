//! One ledger test suite, run against SQLite and PostgreSQL (the way quickwit's
//! `metastore_test_suite!` runs one suite against each metastore).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "ledger_suite/go_live_and_quarantine.rs"]
mod go_live_and_quarantine;
#[path = "ledger_suite/schema_parity.rs"]
mod schema_parity;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{TestBackend, TestDatabase};
use omnistock::ledger::{
    Application, Backend, BookingRequest, BookingResult, ConfirmedPush, Ledger, LedgerError,
    LineRef, ListingBinding, ListingComponent, MovementMeta, TargetPages,
};
use omnistock::policy::{ListingPolicy, StockPolicy};
use omnistock_connector::{OrderEvent, OrderLine, OrderStatus};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const CHANNEL: &str = "sim";

// ---------------------------------------------------------------------------------------------
// Helpers

async fn assert_invariants(ledger: &Ledger) {
    let checked = ledger.check_invariants().await.expect("invariant query");
    assert_eq!(checked, Ok(()), "ledger invariants violated");
}

/// A migrated ledger with items A and B, locations default and east, channel `sim`.
async fn seeded(database: &TestDatabase) -> Ledger {
    let ledger = database.ledger().await;
    ledger.upsert_item("A", "Item A").await.unwrap();
    ledger.upsert_item("B", "Item B").await.unwrap();
    ledger
        .upsert_location("east", "East warehouse")
        .await
        .unwrap();
    ledger.upsert_channel(CHANNEL, "sim").await.unwrap();
    ledger
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

fn line(line_id: &str, sku: &str, ordered: i64) -> OrderLine {
    OrderLine {
        line_id: line_id.to_string(),
        listing_id: None,
        sku: Some(sku.to_string()),
        quantity: ordered,
        cancelled_quantity: 0,
        fulfilled_quantity: 0,
        returned_quantity: 0,
        unit_price_minor: Some(1250),
    }
}

fn order(id: &str, seconds: i64, status: OrderStatus, lines: Vec<OrderLine>) -> OrderEvent {
    OrderEvent {
        external_order_id: id.to_string(),
        delivery_id: None,
        status,
        updated_at: at(seconds),
        created_at: None,
        currency: Some("EUR".to_string()),
        lines,
    }
}

async fn receive(ledger: &Ledger, sku: &str, location: &str, quantity: i64) {
    let key = format!("receive-{}", uuid::Uuid::new_v4());
    ledger
        .receive(sku, location, quantity, &MovementMeta::new(key))
        .await
        .unwrap();
}

async fn on_hand_and_reserved(ledger: &Ledger, sku: &str, location: &str) -> (i64, i64) {
    let balance = ledger.balance(sku, location).await.unwrap();
    (balance.on_hand, balance.reserved)
}

// ---------------------------------------------------------------------------------------------
// The suite: each function runs once per backend.

async fn operator_operations_apply_once_per_key(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let meta = MovementMeta::new("receipt-1").actor("alice").note("po 17");
    let first = ledger.receive("A", "default", 10, &meta).await.unwrap();
    let second = ledger.receive("A", "default", 10, &meta).await.unwrap();
    assert_eq!(first.application, Application::Applied);
    assert_eq!(second.application, Application::AlreadyApplied);
    assert_eq!(second.balance.on_hand, 10);
    assert_invariants(&ledger).await;

    let adjust = MovementMeta::new("damage-1").note("dropped a box");
    ledger.adjust("A", "default", -3, &adjust).await.unwrap();
    let again = ledger.adjust("A", "default", -3, &adjust).await.unwrap();
    assert_eq!(again.application, Application::AlreadyApplied);
    assert_eq!(again.balance.on_hand, 7);
    assert_invariants(&ledger).await;

    let count = MovementMeta::new("count-1");
    let counted = ledger.set_on_hand("A", "default", 4, &count).await.unwrap();
    assert_eq!(counted.balance.on_hand, 4);
    ledger
        .receive("A", "default", 1, &MovementMeta::new("receipt-2"))
        .await
        .unwrap();
    let recount = ledger.set_on_hand("A", "default", 4, &count).await.unwrap();
    assert_eq!(recount.application, Application::AlreadyApplied);
    assert_eq!(
        recount.balance.on_hand, 5,
        "a replayed count must not reset later changes"
    );
    assert_invariants(&ledger).await;

    let transfer = MovementMeta::new("transfer-1");
    let moved = ledger
        .transfer("A", "default", "east", 2, &transfer)
        .await
        .unwrap();
    assert_eq!((moved.from.on_hand, moved.to.on_hand), (3, 2));
    let replayed = ledger
        .transfer("A", "default", "east", 2, &transfer)
        .await
        .unwrap();
    assert_eq!(replayed.application, Application::AlreadyApplied);
    assert_eq!((replayed.from.on_hand, replayed.to.on_hand), (3, 2));
    assert_invariants(&ledger).await;

    let journal = ledger.movements("A", 0, 100).await.unwrap();
    let reasons: Vec<&str> = journal.iter().map(|m| m.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "receive",
            "adjust",
            "count",
            "receive",
            "transfer_out",
            "transfer_in"
        ]
    );
    assert_eq!(journal[0].actor.as_deref(), Some("alice"));
    assert_eq!(journal[2].on_hand_delta, -3);
    let after_first = ledger.movements("A", journal[0].id, 2).await.unwrap();
    assert_eq!(after_first.len(), 2);
    assert_eq!(after_first[0].id, journal[1].id);
    assert_eq!(ledger.available("A").await.unwrap(), 5);
}

/// A journal row whose reason is none the ledger writes reads back as an error naming the
/// table, the row and the value, never as some reason.
async fn a_journal_row_with_an_unknown_reason_is_an_error(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 3).await;
    let journal = ledger.movements("A", 0, 10).await.unwrap();
    sqlx::query("UPDATE movements SET reason = 'misc' WHERE id = $1")
        .bind(journal[0].id)
        .execute(ledger.pool())
        .await
        .unwrap();
    match ledger.movements("A", 0, 10).await {
        Err(LedgerError::CorruptRow(row)) => {
            assert_eq!(
                (row.table, row.column, row.value.as_str()),
                ("movements", "reason", "misc")
            );
            assert_eq!(row.id, journal[0].id.to_string());
        }
        other => panic!("expected a corrupt row, got {other:?}"),
    }
}

async fn operator_operations_refuse_negative_on_hand(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 2).await;
    let adjusted = ledger
        .adjust("A", "default", -3, &MovementMeta::new("too-much"))
        .await;
    assert!(matches!(
        adjusted,
        Err(LedgerError::NegativeOnHand {
            on_hand: 2,
            delta: -3,
            ..
        })
    ));
    let transferred = ledger
        .transfer("A", "default", "east", 5, &MovementMeta::new("too-far"))
        .await;
    assert!(matches!(
        transferred,
        Err(LedgerError::NegativeOnHand { .. })
    ));
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (2, 0));
    assert_eq!(on_hand_and_reserved(&ledger, "A", "east").await, (0, 0));
    // A refused change leaves its key unused.
    ledger
        .receive("A", "default", 5, &MovementMeta::new("top-up"))
        .await
        .unwrap();
    let retried = ledger
        .adjust("A", "default", -3, &MovementMeta::new("too-much"))
        .await
        .unwrap();
    assert_eq!(retried.application, Application::Applied);
    assert_eq!(retried.balance.on_hand, 4);
    assert!(matches!(
        ledger
            .receive("A", "default", 0, &MovementMeta::new("zero"))
            .await,
        Err(LedgerError::InvalidQuantity { .. })
    ));
    assert_invariants(&ledger).await;
}

async fn unknown_sku_and_location_are_named(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let meta = MovementMeta::new("k");
    match ledger.receive("NOPE", "default", 1, &meta).await {
        Err(error @ LedgerError::UnknownSku(_)) => assert!(error.to_string().contains("NOPE")),
        other => panic!("expected an unknown sku, got {other:?}"),
    }
    match ledger.receive("A", "moon", 1, &meta).await {
        Err(error @ LedgerError::UnknownLocation(_)) => {
            assert!(error.to_string().contains("moon"))
        }
        other => panic!("expected an unknown location, got {other:?}"),
    }
    assert!(matches!(
        ledger.balance("NOPE", "default").await,
        Err(LedgerError::UnknownSku(_))
    ));
    assert!(matches!(
        ledger
            .book_order(
                "nochannel",
                "default",
                &order("1", 0, OrderStatus::Open, vec![])
            )
            .await,
        Err(LedgerError::UnknownChannel(_))
    ));
    assert!(matches!(
        ledger
            .book_order(CHANNEL, "moon", &order("1", 0, OrderStatus::Open, vec![]))
            .await,
        Err(LedgerError::UnknownLocation(_))
    ));
    assert_invariants(&ledger).await;
}

async fn order_booked_twice_books_once(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 10).await;
    let event = order(
        "100",
        0,
        OrderStatus::Open,
        vec![line("1", "A", 3), line("2", "B", 1)],
    );
    let first = ledger.book_order(CHANNEL, "default", &event).await.unwrap();
    assert_eq!(first.result, BookingResult::Applied);
    assert_eq!(first.changed_skus, vec!["A".to_string(), "B".to_string()]);
    let second = ledger.book_order(CHANNEL, "default", &event).await.unwrap();
    assert_eq!(second.result, BookingResult::Unchanged);
    assert_eq!(second.order_id, first.order_id);
    assert!(second.changed_skus.is_empty());
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (10, 3));
    let booked = ledger.order(CHANNEL, "100").await.unwrap().unwrap();
    assert_eq!(booked.revision, 1);
    assert_eq!(booked.lines.len(), 2);
    assert_eq!(booked.lines[0].open_quantity, 3);
    assert_eq!(booked.currency.as_deref(), Some("EUR"));
    assert_invariants(&ledger).await;
}

async fn duplicate_delivery_changes_nothing(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let mut event = order("200", 0, OrderStatus::Open, vec![line("1", "A", 2)]);
    event.delivery_id = Some("delivery-1".to_string());
    let first = ledger.book_order(CHANNEL, "default", &event).await.unwrap();
    assert_eq!(first.result, BookingResult::Applied);
    // Same delivery id with different content: dropped without looking at it.
    let mut redelivered = order("200", 5, OrderStatus::Cancelled, vec![line("1", "A", 2)]);
    redelivered.delivery_id = Some("delivery-1".to_string());
    let second = ledger
        .book_order(CHANNEL, "default", &redelivered)
        .await
        .unwrap();
    assert_eq!(second.result, BookingResult::Duplicate);
    assert_eq!(second.order_id, first.order_id);
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (0, 2));
    assert_invariants(&ledger).await;
}

async fn stale_snapshot_is_ignored(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let newer = order("300", 10, OrderStatus::Cancelled, vec![line("1", "A", 2)]);
    ledger.book_order(CHANNEL, "default", &newer).await.unwrap();
    let older = order("300", 5, OrderStatus::Open, vec![line("1", "A", 2)]);
    let outcome = ledger.book_order(CHANNEL, "default", &older).await.unwrap();
    assert_eq!(outcome.result, BookingResult::Stale);
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (0, 0));
    let booked = ledger.order(CHANNEL, "300").await.unwrap().unwrap();
    assert_eq!(booked.status, OrderStatus::Cancelled);
    assert_eq!(booked.platform_updated_at, at(10));
    assert_invariants(&ledger).await;
}

async fn cancelling_releases_the_reservation(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 5).await;
    let open = order("400", 0, OrderStatus::Open, vec![line("1", "A", 4)]);
    ledger.book_order(CHANNEL, "default", &open).await.unwrap();
    assert_eq!(ledger.available("A").await.unwrap(), 1);
    let cancelled = order("400", 1, OrderStatus::Cancelled, vec![line("1", "A", 4)]);
    let outcome = ledger
        .book_order(CHANNEL, "default", &cancelled)
        .await
        .unwrap();
    assert_eq!(outcome.result, BookingResult::Applied);
    assert_eq!(outcome.changed_skus, vec!["A".to_string()]);
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (5, 0));
    assert_invariants(&ledger).await;
}

async fn partial_shipment_commits_what_shipped(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 10).await;
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("500", 0, OrderStatus::Open, vec![line("1", "A", 5)]),
        )
        .await
        .unwrap();
    let mut shipped = line("1", "A", 5);
    shipped.fulfilled_quantity = 2;
    shipped.cancelled_quantity = 1;
    let outcome = ledger
        .book_order(
            CHANNEL,
            "default",
            &order("500", 1, OrderStatus::Open, vec![shipped]),
        )
        .await
        .unwrap();
    assert_eq!(outcome.result, BookingResult::Applied);
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (8, 2));
    let booked = ledger.order(CHANNEL, "500").await.unwrap().unwrap();
    assert_eq!(booked.lines[0].committed_quantity, 2);
    assert_eq!(booked.lines[0].open_quantity, 2);
    assert_eq!(booked.revision, 2);
    assert_invariants(&ledger).await;
}

async fn returned_units_are_restocked(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 6).await;
    let mut fulfilled = line("1", "A", 3);
    fulfilled.fulfilled_quantity = 3;
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("600", 0, OrderStatus::Fulfilled, vec![fulfilled.clone()]),
        )
        .await
        .unwrap();
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (3, 0));
    fulfilled.returned_quantity = 2;
    let outcome = ledger
        .book_order(
            CHANNEL,
            "default",
            &order("600", 1, OrderStatus::Fulfilled, vec![fulfilled]),
        )
        .await
        .unwrap();
    assert_eq!(outcome.changed_skus, vec!["A".to_string()]);
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (5, 0));
    assert_invariants(&ledger).await;
}

async fn unknown_listing_line_is_kept_and_reported(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let mut unknown = line("1", "GHOST", 2);
    unknown.listing_id = Some("listing-9".to_string());
    let event = order(
        "700",
        0,
        OrderStatus::Open,
        vec![unknown.clone(), line("2", "A", 1)],
    );
    let outcome = ledger.book_order(CHANNEL, "default", &event).await.unwrap();
    assert_eq!(outcome.result, BookingResult::Applied);
    assert_eq!(outcome.unknown_lines.len(), 1);
    assert_eq!(outcome.unknown_lines[0].line_id, "1");
    assert_eq!(
        outcome.unknown_lines[0].listing_id.as_deref(),
        Some("listing-9")
    );
    let booked = ledger.order(CHANNEL, "700").await.unwrap().unwrap();
    assert_eq!(booked.lines.len(), 2);
    assert_eq!(booked.lines[0].sku, None);
    assert_eq!(booked.lines[0].quantity, 2);
    assert_invariants(&ledger).await;

    // Once the listing is bound (a 2-pack of B), the next snapshot books the line.
    ledger
        .bind_listing(CHANNEL, "listing-9", "B", 2)
        .await
        .unwrap();
    let listing = ledger.listing(CHANNEL, "listing-9").await.unwrap().unwrap();
    assert_eq!((listing.sku.as_str(), listing.multiplier), ("B", 2));
    let later = order(
        "700",
        1,
        OrderStatus::Open,
        vec![unknown, line("2", "A", 1)],
    );
    let outcome = ledger.book_order(CHANNEL, "default", &later).await.unwrap();
    assert!(outcome.unknown_lines.is_empty());
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (0, 4));
    assert_invariants(&ledger).await;
}

async fn oversold_order_is_booked_and_flagged(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 1).await;
    let outcome = ledger
        .book_order(
            CHANNEL,
            "default",
            &order("800", 0, OrderStatus::Open, vec![line("1", "A", 3)]),
        )
        .await
        .unwrap();
    assert_eq!(outcome.result, BookingResult::Applied);
    assert_eq!(outcome.oversold_skus, vec!["A".to_string()]);
    assert_eq!(ledger.available("A").await.unwrap(), -2);
    assert!(
        ledger
            .order(CHANNEL, "800")
            .await
            .unwrap()
            .unwrap()
            .oversold
    );
    assert_invariants(&ledger).await;
}

async fn lines_missing_from_a_snapshot_are_released(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 5).await;
    receive(&ledger, "B", "default", 5).await;
    let mut shipped_b = line("2", "B", 2);
    shipped_b.fulfilled_quantity = 1;
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order(
                "900",
                0,
                OrderStatus::Open,
                vec![line("1", "A", 2), shipped_b],
            ),
        )
        .await
        .unwrap();
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (4, 1));
    let outcome = ledger
        .book_order(
            CHANNEL,
            "default",
            &order("900", 1, OrderStatus::Open, vec![line("1", "A", 2)]),
        )
        .await
        .unwrap();
    assert_eq!(outcome.result, BookingResult::Applied);
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (5, 2));
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (4, 0));
    assert_invariants(&ledger).await;
}

async fn line_operations_apply_once_per_key(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "east", 10).await;
    ledger
        .book_order(
            CHANNEL,
            "east",
            &order("1000", 0, OrderStatus::Open, vec![line("1", "A", 4)]),
        )
        .await
        .unwrap();
    let target = LineRef {
        channel_id: CHANNEL.to_string(),
        external_order_id: "1000".to_string(),
        line_id: "1".to_string(),
    };
    let ship = MovementMeta::new("ship-1").actor("bob");
    let shipped = ledger.commit_line(&target, 3, &ship).await.unwrap();
    assert_eq!(shipped.application, Application::Applied);
    assert_eq!((shipped.balance.on_hand, shipped.balance.reserved), (7, 1));
    let again = ledger.commit_line(&target, 3, &ship).await.unwrap();
    assert_eq!(again.application, Application::AlreadyApplied);
    assert_eq!(on_hand_and_reserved(&ledger, "A", "east").await, (7, 1));
    assert_invariants(&ledger).await;

    let restock = MovementMeta::new("return-1");
    ledger.restock_line(&target, 1, &restock).await.unwrap();
    ledger.restock_line(&target, 1, &restock).await.unwrap();
    assert_eq!(on_hand_and_reserved(&ledger, "A", "east").await, (8, 1));
    let release = MovementMeta::new("release-1");
    ledger.release_line(&target, 1, &release).await.unwrap();
    ledger.release_line(&target, 1, &release).await.unwrap();
    let reserve = MovementMeta::new("reserve-1");
    ledger.reserve_line(&target, 2, &reserve).await.unwrap();
    let line_now = ledger.reserve_line(&target, 2, &reserve).await.unwrap();
    assert_eq!(line_now.application, Application::AlreadyApplied);
    assert_eq!(on_hand_and_reserved(&ledger, "A", "east").await, (8, 2));
    assert!(matches!(
        ledger
            .release_line(&target, 3, &MovementMeta::new("release-2"))
            .await,
        Err(LedgerError::InvalidQuantity { .. })
    ));
    let missing = LineRef {
        line_id: "9".to_string(),
        ..target.clone()
    };
    assert!(matches!(
        ledger
            .commit_line(&missing, 1, &MovementMeta::new("x"))
            .await,
        Err(LedgerError::UnknownOrderLine { .. })
    ));
    let booked = ledger.order(CHANNEL, "1000").await.unwrap().unwrap();
    assert_eq!(
        (
            booked.lines[0].open_quantity,
            booked.lines[0].committed_quantity,
            booked.lines[0].returned_quantity
        ),
        (2, 3, 1)
    );
    assert_invariants(&ledger).await;
}

async fn outbox_records_changed_skus_and_signals(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let mut listener = match ledger.backend() {
        Backend::Postgres => {
            let mut listener = sqlx::postgres::PgListener::connect(&database.url)
                .await
                .unwrap();
            listener
                .listen(omnistock::ledger::OUTBOX_NOTIFY_CHANNEL)
                .await
                .unwrap();
            Some(listener)
        }
        Backend::Sqlite => None,
    };
    let signal = ledger.outbox_signal();
    receive(&ledger, "A", "default", 3).await;
    tokio::time::timeout(Duration::from_secs(10), signal.notified())
        .await
        .expect("the in-process outbox signal fires");
    if let Some(listener) = listener.as_mut() {
        let notification = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .expect("pg_notify arrives")
            .unwrap();
        assert_eq!(
            notification.channel(),
            omnistock::ledger::OUTBOX_NOTIFY_CHANNEL
        );
    }
    // A shipment of reserved stock does not change availability: no outbox row.
    let mut shipped = line("1", "A", 1);
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("1100", 0, OrderStatus::Open, vec![shipped.clone()]),
        )
        .await
        .unwrap();
    shipped.fulfilled_quantity = 1;
    let outcome = ledger
        .book_order(
            CHANNEL,
            "default",
            &order("1100", 1, OrderStatus::Fulfilled, vec![shipped]),
        )
        .await
        .unwrap();
    assert!(outcome.changed_skus.is_empty());

    let entries = ledger.outbox_fetch(10).await.unwrap();
    let skus: Vec<&str> = entries.iter().map(|entry| entry.sku.as_str()).collect();
    assert_eq!(skus, ["A", "A"]);
    assert_eq!(ledger.outbox_len().await.unwrap(), 2);
    ledger.outbox_delete(&[entries[0].id]).await.unwrap();
    let left = ledger.outbox_fetch(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, entries[1].id);
    ledger.outbox_delete(&[left[0].id]).await.unwrap();
    assert_eq!(ledger.outbox_len().await.unwrap(), 0);
}

async fn cursors_round_trip(database: &TestDatabase) {
    let ledger = seeded(database).await;
    assert_eq!(ledger.load_cursor(CHANNEL).await.unwrap(), None);
    ledger.store_cursor(CHANNEL, "page-1").await.unwrap();
    ledger.store_cursor(CHANNEL, "page-2").await.unwrap();
    assert_eq!(
        ledger.load_cursor(CHANNEL).await.unwrap().as_deref(),
        Some("page-2")
    );
    ledger.ping().await.unwrap();
}

/// A push read before a booking of a sale on its own channel does not record its confirmation
/// afterwards: the channel moved its shown stock by itself, so the next push must not be
/// skipped, even when the ledger is back where it was (a cancellation elsewhere).
async fn a_push_read_before_a_sale_there_records_nothing(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 10).await;
    ledger
        .bind_listing(CHANNEL, "single", "A", 1)
        .await
        .unwrap();
    let skus = ["A".to_string()];
    let policy = StockPolicy::default();
    let first = ledger.push_targets(CHANNEL, &skus, &policy).await.unwrap();
    ledger
        .record_pushed(CHANNEL, &[ConfirmedPush::of(&first[0], 10)])
        .await
        .unwrap();
    // A push reads the listing (10 to show) and is in flight ...
    let in_flight = ledger.push_targets(CHANNEL, &skus, &policy).await.unwrap();
    assert_eq!(in_flight[0].quantity, 10);
    // ... when the channel sells one (it now shows 9 by itself) ...
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order(
                "sale",
                0,
                OrderStatus::Open,
                vec![listing_line("1", "single", 1)],
            ),
        )
        .await
        .unwrap();
    // ... and an order elsewhere is cancelled: the ledger is back at 10.
    receive(&ledger, "A", "default", 1).await;
    let recorded = ledger
        .record_pushed(CHANNEL, &[ConfirmedPush::of(&in_flight[0], 10)])
        .await
        .unwrap();
    assert_eq!(recorded, 0);
    let next = ledger.push_targets(CHANNEL, &skus, &policy).await.unwrap();
    assert_eq!(next[0].quantity, 10);
    assert_eq!(
        next[0].last_pushed_quantity, None,
        "the next push would be skipped"
    );
    // A push read after the sale records as usual.
    let recorded = ledger
        .record_pushed(CHANNEL, &[ConfirmedPush::of(&next[0], 10)])
        .await
        .unwrap();
    assert_eq!(recorded, 1);
    let listing = ledger.listing(CHANNEL, "single").await.unwrap().unwrap();
    assert_eq!(listing.last_pushed_quantity, Some(10));
}

/// A push whose confirmation is never recorded (the platform applied it, then a timeout or a
/// lost leadership) leaves no confirmed quantity behind, so the next push is not skipped; a
/// push that is confirmed records as usual.
async fn a_push_forgets_the_confirmed_quantity_until_it_is_confirmed(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 10).await;
    ledger
        .bind_listing(CHANNEL, "single", "A", 1)
        .await
        .unwrap();
    let skus = ["A".to_string()];
    let policy = StockPolicy::default();
    let first = ledger.push_targets(CHANNEL, &skus, &policy).await.unwrap();
    ledger
        .record_pushed(CHANNEL, &[ConfirmedPush::of(&first[0], 10)])
        .await
        .unwrap();
    let sending = ledger.push_targets(CHANNEL, &skus, &policy).await.unwrap();
    ledger
        .forget_before_push(CHANNEL, &["single"])
        .await
        .unwrap();
    // The confirmation is lost here: the next push sees nothing confirmed.
    let next = ledger.push_targets(CHANNEL, &skus, &policy).await.unwrap();
    assert_eq!(next[0].last_pushed_quantity, None);
    // A confirmation that does arrive is recorded (the generation did not move).
    let recorded = ledger
        .record_pushed(CHANNEL, &[ConfirmedPush::of(&sending[0], 10)])
        .await
        .unwrap();
    assert_eq!(recorded, 1);
    let listing = ledger.listing(CHANNEL, "single").await.unwrap().unwrap();
    assert_eq!(listing.last_pushed_quantity, Some(10));
}

/// A channel that names a sold item by SKU only moves what every listing of it taking that SKU
/// shows: their last confirmed quantities are forgotten, other listings' are kept.
async fn a_sale_by_sku_forgets_the_channels_listings_of_it(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 12).await;
    receive(&ledger, "B", "default", 5).await;
    for (listing, sku, multiplier) in [("single", "A", 1), ("six-pack", "A", 6), ("b", "B", 1)] {
        ledger
            .bind_listing(CHANNEL, listing, sku, multiplier)
            .await
            .unwrap();
    }
    let skus = ["A".to_string(), "B".to_string()];
    let targets = ledger
        .push_targets(CHANNEL, &skus, &StockPolicy::default())
        .await
        .unwrap();
    let confirmed: Vec<ConfirmedPush> = targets
        .iter()
        .map(|target| ConfirmedPush::of(target, target.quantity))
        .collect();
    assert_eq!(ledger.record_pushed(CHANNEL, &confirmed).await.unwrap(), 3);
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("by-sku", 0, OrderStatus::Open, vec![line("1", "A", 1)]),
        )
        .await
        .unwrap();
    let mut confirmed_now = Vec::new();
    for listing in ["b", "single", "six-pack"] {
        let found = ledger.listing(CHANNEL, listing).await.unwrap().unwrap();
        confirmed_now.push((listing, found.last_pushed_quantity));
    }
    assert_eq!(
        confirmed_now,
        [("b", Some(5)), ("single", None), ("six-pack", None)]
    );
}

async fn push_targets_show_whole_listing_units(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 7).await;
    receive(&ledger, "A", "east", 6).await;
    ledger
        .bind_listing(CHANNEL, "single", "A", 1)
        .await
        .unwrap();
    ledger
        .bind_listing(CHANNEL, "six-pack", "A", 6)
        .await
        .unwrap();
    ledger.bind_listing(CHANNEL, "b", "B", 1).await.unwrap();
    ledger.set_listing_sync(CHANNEL, "b", false).await.unwrap();
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("1200", 0, OrderStatus::Open, vec![line("1", "A", 2)]),
        )
        .await
        .unwrap();
    assert_eq!(
        ledger.channel_skus(CHANNEL).await.unwrap(),
        vec!["A".to_string()]
    );
    let skus = vec!["A".to_string(), "B".to_string()];
    let targets = ledger
        .push_targets(CHANNEL, &skus, &StockPolicy::default())
        .await
        .unwrap();
    let shown: Vec<(&str, i64, Option<i64>)> = targets
        .iter()
        .map(|target| {
            (
                target.listing_id.as_str(),
                target.quantity,
                target.last_pushed_quantity,
            )
        })
        .collect();
    assert_eq!(shown, [("single", 11, None), ("six-pack", 1, None)]);
    ledger
        .record_pushed(CHANNEL, &[ConfirmedPush::of(&targets[0], 11)])
        .await
        .unwrap();
    let listing = ledger.listing(CHANNEL, "single").await.unwrap().unwrap();
    assert_eq!(listing.last_pushed_quantity, Some(11));
    assert!(listing.last_pushed_at.is_some());
    assert_eq!(ledger.listings_for_sku("A").await.unwrap().len(), 2);
    // Oversold stock shows as zero, never negative.
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("1201", 0, OrderStatus::Open, vec![line("1", "A", 20)]),
        )
        .await
        .unwrap();
    let targets = ledger
        .push_targets(CHANNEL, &skus, &StockPolicy::default())
        .await
        .unwrap();
    assert!(targets.iter().all(|target| target.quantity == 0));
}

async fn same_order_booked_concurrently_books_once(database: &TestDatabase) {
    let first = seeded(database).await;
    let second = database.ledger().await;
    for round in 0..6 {
        let event = order(
            &format!("c{round}"),
            0,
            OrderStatus::Open,
            vec![line("1", "A", 2)],
        );
        let (left, right) = tokio::join!(
            first.book_order(CHANNEL, "default", &event),
            second.book_order(CHANNEL, "default", &event)
        );
        let mut results = [left.unwrap().result, right.unwrap().result];
        results.sort_by_key(|result| *result == BookingResult::Unchanged);
        assert_eq!(results, [BookingResult::Applied, BookingResult::Unchanged]);
    }
    assert_eq!(on_hand_and_reserved(&first, "A", "default").await, (0, 12));
    assert_invariants(&first).await;
}

async fn distinct_orders_booked_concurrently_all_count(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let mut tasks = Vec::new();
    for index in 0..16_i64 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let event = order(
                &format!("p{index}"),
                0,
                OrderStatus::Open,
                vec![line("1", "A", index % 3 + 1), line("2", "B", 1)],
            );
            ledger.book_order(CHANNEL, "default", &event).await.unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().result, BookingResult::Applied);
    }
    let expected: i64 = (0..16_i64).map(|index| index % 3 + 1).sum();
    assert_eq!(
        on_hand_and_reserved(&ledger, "A", "default").await,
        (0, expected)
    );
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (0, 16));
    assert_invariants(&ledger).await;
}

/// The events as bookings of the channel `sim` at the default location.
fn requests_of(events: &[OrderEvent]) -> Vec<BookingRequest<'_>> {
    events
        .iter()
        .map(|event| BookingRequest {
            channel_id: CHANNEL,
            location: "default",
            event,
        })
        .collect()
}

async fn a_group_books_like_one_event_at_a_time(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 3).await;
    let mut redelivered = order("g1", 0, OrderStatus::Open, vec![line("1", "A", 2)]);
    redelivered.delivery_id = Some("delivery-g1".to_string());
    let events = [
        redelivered.clone(),
        order(
            "g2",
            0,
            OrderStatus::Open,
            vec![line("1", "A", 2), line("2", "B", 1)],
        ),
        // The same order again within the group: its cancellation must see the booking above.
        order(
            "g2",
            5,
            OrderStatus::Cancelled,
            vec![line("1", "A", 2), line("2", "B", 1)],
        ),
        redelivered,
        order("g3", 0, OrderStatus::Open, vec![line("1", "A", 2)]),
        order("g1", -5, OrderStatus::Cancelled, vec![line("1", "A", 2)]),
    ];
    let requests = requests_of(&events);
    let results: Vec<BookingResult> = ledger
        .book_orders(&requests)
        .await
        .into_iter()
        .map(|result| result.unwrap().result)
        .collect();
    assert_eq!(
        results,
        [
            BookingResult::Applied,
            BookingResult::Applied,
            BookingResult::Applied,
            BookingResult::Duplicate,
            BookingResult::Applied,
            BookingResult::Stale,
        ]
    );
    // g1 and g3 hold 2 each of 3 on hand; g2 was cancelled. g1 was booked first, so g3 is
    // the one that found too little.
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (3, 4));
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (0, 0));
    let oversold = |id: &'static str| {
        let ledger = ledger.clone();
        async move { ledger.order(CHANNEL, id).await.unwrap().unwrap().oversold }
    };
    assert!(!oversold("g1").await);
    assert!(oversold("g3").await);
    assert_invariants(&ledger).await;
}

async fn a_bad_event_in_a_group_fails_alone(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let good = order("h1", 0, OrderStatus::Open, vec![line("1", "A", 1)]);
    let also_good = order("h2", 0, OrderStatus::Open, vec![line("1", "B", 1)]);
    let requests = [
        BookingRequest {
            channel_id: CHANNEL,
            location: "default",
            event: &good,
        },
        BookingRequest {
            channel_id: "no-such-channel",
            location: "default",
            event: &good,
        },
        BookingRequest {
            channel_id: CHANNEL,
            location: "default",
            event: &also_good,
        },
    ];
    let results = ledger.book_orders(&requests).await;
    assert_eq!(results[0].as_ref().unwrap().result, BookingResult::Applied);
    assert!(
        matches!(&results[1], Err(LedgerError::UnknownChannel(channel)) if channel == "no-such-channel"),
        "{:?}",
        results[1]
    );
    assert_eq!(results[2].as_ref().unwrap().result, BookingResult::Applied);
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (0, 1));
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (0, 1));
    assert_invariants(&ledger).await;
}

/// Groups booked side by side over the same items, in opposite orders, as the intake's writers
/// do under load: none may deadlock or lose a unit.
async fn concurrent_groups_over_shared_items_all_count(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let skus = ["A", "B", "C", "D", "E", "F"];
    for sku in &skus[2..] {
        ledger.upsert_item(sku, sku).await.unwrap();
    }
    let mut tasks = Vec::new();
    for writer in 0..4_usize {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            for group in 0..5_usize {
                let events: Vec<OrderEvent> = (0..12_usize)
                    .map(|index| {
                        // Writers walk the items in opposite directions.
                        let position = if writer % 2 == 0 { index } else { 11 - index };
                        let first = skus[position % skus.len()];
                        let second = skus[(position + 3) % skus.len()];
                        order(
                            &format!("w{writer}-g{group}-o{index}"),
                            0,
                            OrderStatus::Open,
                            vec![line("1", first, 1), line("2", second, 1)],
                        )
                    })
                    .collect();
                let requests = requests_of(&events);
                for result in ledger.book_orders(&requests).await {
                    assert_eq!(result.unwrap().result, BookingResult::Applied);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut reserved = 0;
    for sku in skus {
        reserved += on_hand_and_reserved(&ledger, sku, "default").await.1;
    }
    assert_eq!(reserved, 4 * 5 * 12 * 2);
    assert_invariants(&ledger).await;
}

// ---------------------------------------------------------------------------------------------
// Stock rules: policies, bundles, the lifecycle out of order, returns, bulk import.

/// Bookings pass their rows to the database as JSON: quotes, backslashes, placeholders, JSON
/// syntax, non-ASCII text and integers beyond a double's precision come back exactly.
async fn awkward_text_and_large_numbers_round_trip(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let sku = r#"Ü "q" \b 'c' $1 {"k":[1]} ✓"#;
    let listing = r#"L\"1" $2 ?"#;
    ledger.upsert_item(sku, "Awkward").await.unwrap();
    receive(&ledger, sku, "default", 10).await;
    ledger.bind_listing(CHANNEL, listing, sku, 2).await.unwrap();
    let price = 9_007_199_254_740_993; // 2^53 + 1
    let mut by_listing = listing_line(r#"line "1" \ #"#, listing, 2);
    by_listing.unit_price_minor = Some(price);
    let mut by_sku = line("line 'ß'", sku, 1);
    by_sku.unit_price_minor = Some(i64::MAX);
    let mut first = order(r#"ord "ü" \ $1"#, 0, OrderStatus::Open, vec![by_listing]);
    first.delivery_id = Some(r#"dl "1" \ ∆"#.to_string());
    let second = order("ord-2 ✓", 0, OrderStatus::Open, vec![by_sku]);
    let events = [first.clone(), second];
    let results = ledger.book_orders(&requests_of(&events)).await;
    for result in &results {
        assert_eq!(result.as_ref().unwrap().result, BookingResult::Applied);
    }
    assert_eq!(on_hand_and_reserved(&ledger, sku, "default").await, (10, 5));
    let booked = ledger
        .order(CHANNEL, &first.external_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(booked.lines.len(), 1);
    let booked_line = &booked.lines[0];
    assert_eq!(booked_line.line_id, r#"line "1" \ #"#);
    assert_eq!(booked_line.listing_id.as_deref(), Some(listing));
    assert_eq!(booked_line.sku.as_deref(), Some(sku));
    assert_eq!(booked_line.open_quantity, 4);
    assert_eq!(booked_line.unit_price_minor, Some(price));
    let booked = ledger.order(CHANNEL, "ord-2 ✓").await.unwrap().unwrap();
    assert_eq!(booked.lines[0].unit_price_minor, Some(i64::MAX));
    // The delivery id is recognised when it comes again.
    let again = ledger.book_order(CHANNEL, "default", &first).await.unwrap();
    assert_eq!(again.result, BookingResult::Duplicate);
    // The outbox names the SKU; the channel's confirmation and its forgetting find the listing.
    let outbox = ledger.outbox_fetch(10).await.unwrap();
    assert!(outbox.iter().any(|entry| entry.sku == sku), "{outbox:?}");
    let targets = ledger
        .push_targets(CHANNEL, &[sku.to_string()], &StockPolicy::default())
        .await
        .unwrap();
    ledger
        .record_pushed(CHANNEL, &[ConfirmedPush::of(&targets[0], 2)])
        .await
        .unwrap();
    let pushed = ledger.listing(CHANNEL, listing).await.unwrap().unwrap();
    assert_eq!(pushed.last_pushed_quantity, Some(2));
    let mut shipped = first.clone();
    shipped.delivery_id = None;
    shipped.updated_at = at(5);
    shipped.lines[0].fulfilled_quantity = 1;
    ledger
        .book_order(CHANNEL, "default", &shipped)
        .await
        .unwrap();
    let forgotten = ledger.listing(CHANNEL, listing).await.unwrap().unwrap();
    assert_eq!(forgotten.last_pushed_quantity, None);
    assert_invariants(&ledger).await;
}

fn listing_line(line_id: &str, listing_id: &str, ordered: i64) -> OrderLine {
    OrderLine {
        listing_id: Some(listing_id.to_string()),
        sku: None,
        ..line(line_id, "unused", ordered)
    }
}

async fn shown(ledger: &Ledger, skus: &[&str], policy: &StockPolicy) -> Vec<(String, i64)> {
    let skus: Vec<String> = skus.iter().map(|sku| sku.to_string()).collect();
    ledger
        .push_targets(CHANNEL, &skus, policy)
        .await
        .unwrap()
        .into_iter()
        .map(|target| (target.listing_id, target.quantity))
        .collect()
}

fn pairs(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
    expected
        .iter()
        .map(|(listing, quantity)| (listing.to_string(), *quantity))
        .collect()
}

async fn policy_rules_shape_what_each_listing_shows(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 20).await;
    receive(&ledger, "A", "east", 100).await;
    ledger.bind_listing(CHANNEL, "a", "A", 1).await.unwrap();
    ledger
        .bind_listing(CHANNEL, "a-pair", "A", 2)
        .await
        .unwrap();
    let everything = StockPolicy::default();
    assert_eq!(
        shown(&ledger, &["A"], &everything).await,
        pairs(&[("a", 120), ("a-pair", 60)])
    );
    let west_only = StockPolicy {
        locations: vec!["default".to_string()],
        ..StockPolicy::default()
    };
    assert_eq!(
        shown(&ledger, &["A"], &west_only).await,
        pairs(&[("a", 20), ("a-pair", 10)])
    );
    // Buffer 4 per item, then 50 %, then the pack size; the single listing is capped at 7.
    let shaped = StockPolicy {
        locations: vec!["default".to_string()],
        safety_buffer: 4,
        percentage: Some(50),
        max_quantity: Some(7),
        ..StockPolicy::default()
    };
    assert_eq!(
        shown(&ledger, &["A"], &shaped).await,
        pairs(&[("a", 7), ("a-pair", 4)])
    );
    let threshold = StockPolicy {
        locations: vec!["default".to_string()],
        show_zero_below: 11,
        ..StockPolicy::default()
    };
    assert_eq!(
        shown(&ledger, &["A"], &threshold).await,
        pairs(&[("a", 20), ("a-pair", 0)])
    );
    // Per-listing overrides win rule by rule; a fixed quantity ignores the stock.
    ledger
        .set_listing_policy(
            CHANNEL,
            "a",
            &ListingPolicy {
                fixed_quantity: Some(3),
                ..ListingPolicy::default()
            },
        )
        .await
        .unwrap();
    ledger
        .set_listing_policy(
            CHANNEL,
            "a-pair",
            &ListingPolicy {
                locations: Some(vec!["east".to_string()]),
                max_quantity: Some(30),
                ..ListingPolicy::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        shown(&ledger, &["A"], &west_only).await,
        pairs(&[("a", 3), ("a-pair", 30)])
    );
    let listing = ledger.listing(CHANNEL, "a-pair").await.unwrap().unwrap();
    assert_eq!(listing.policy.max_quantity, Some(30));
    // Removing the overrides restores the channel's rules; sync off hides the listing.
    ledger
        .set_listing_policy(CHANNEL, "a", &ListingPolicy::default())
        .await
        .unwrap();
    ledger
        .set_listing_sync(CHANNEL, "a-pair", false)
        .await
        .unwrap();
    assert_eq!(
        shown(&ledger, &["A"], &west_only).await,
        pairs(&[("a", 20)])
    );
    assert!(matches!(
        ledger
            .set_listing_policy(CHANNEL, "nope", &ListingPolicy::default())
            .await,
        Err(LedgerError::UnknownListing { .. })
    ));
}

async fn bundle_shows_its_scarcest_component_and_follows_each(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 10).await;
    receive(&ledger, "B", "default", 3).await;
    ledger
        .bind_bundle(
            CHANNEL,
            "kit",
            &[ListingComponent::new("A", 2), ListingComponent::new("B", 1)],
        )
        .await
        .unwrap();
    ledger.bind_listing(CHANNEL, "b", "B", 1).await.unwrap();
    let policy = StockPolicy::default();
    assert_eq!(
        shown(&ledger, &["A"], &policy).await,
        pairs(&[("kit", 3)]),
        "a change of A re-pushes the kit"
    );
    assert_eq!(
        shown(&ledger, &["B"], &policy).await,
        pairs(&[("b", 3), ("kit", 3)])
    );
    assert_eq!(
        ledger.channel_skus(CHANNEL).await.unwrap(),
        vec!["A".to_string(), "B".to_string()]
    );
    let with_b: Vec<String> = ledger
        .listings_for_sku("B")
        .await
        .unwrap()
        .into_iter()
        .map(|listing| listing.listing_id)
        .collect();
    assert_eq!(with_b, ["b", "kit"]);
    let kit = ledger.listing(CHANNEL, "kit").await.unwrap().unwrap();
    assert_eq!(
        kit.components,
        vec![ListingComponent::new("A", 2), ListingComponent::new("B", 1)]
    );
    // A component's stock change writes an outbox row that finds the kit.
    let before = ledger.outbox_fetch(1000).await.unwrap().len();
    ledger
        .adjust("A", "default", -5, &MovementMeta::new("broken"))
        .await
        .unwrap();
    let outbox = ledger.outbox_fetch(1000).await.unwrap();
    assert_eq!(outbox.len(), before + 1);
    assert_eq!(outbox.last().unwrap().sku, "A");
    assert_eq!(shown(&ledger, &["A"], &policy).await, pairs(&[("kit", 2)]));
    assert!(matches!(
        ledger
            .bind_bundle(
                CHANNEL,
                "bad",
                &[ListingComponent::new("A", 1), ListingComponent::new("A", 2)]
            )
            .await,
        Err(LedgerError::InvalidQuantity { .. })
    ));
}

async fn selling_a_bundle_books_its_components(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 10).await;
    receive(&ledger, "B", "default", 3).await;
    ledger
        .bind_bundle(
            CHANNEL,
            "kit",
            &[ListingComponent::new("A", 2), ListingComponent::new("B", 1)],
        )
        .await
        .unwrap();
    let open = order(
        "b1",
        0,
        OrderStatus::Open,
        vec![listing_line("1", "kit", 2)],
    );
    let outcome = ledger.book_order(CHANNEL, "default", &open).await.unwrap();
    assert_eq!(outcome.changed_skus, vec!["A".to_string(), "B".to_string()]);
    assert!(outcome.oversold_skus.is_empty());
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (10, 4));
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (3, 2));
    let booked = ledger.order(CHANNEL, "b1").await.unwrap().unwrap();
    let lines: Vec<(&str, Option<&str>, i64)> = booked
        .lines
        .iter()
        .map(|l| {
            (
                l.line_id.as_str(),
                l.parent_line_id.as_deref(),
                l.open_quantity,
            )
        })
        .collect();
    assert_eq!(lines, [("1#A", Some("1"), 4), ("1#B", Some("1"), 2)]);
    assert_invariants(&ledger).await;
    // Replaying changes nothing; a partial shipment commits both components.
    let replay = ledger.book_order(CHANNEL, "default", &open).await.unwrap();
    assert_eq!(replay.result, BookingResult::Unchanged);
    let mut shipped = listing_line("1", "kit", 2);
    shipped.fulfilled_quantity = 1;
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("b1", 1, OrderStatus::Open, vec![shipped.clone()]),
        )
        .await
        .unwrap();
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (8, 2));
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (2, 1));
    // Rebinding the kit later does not change what this order booked.
    ledger.bind_listing(CHANNEL, "kit", "A", 1).await.unwrap();
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("b1", 2, OrderStatus::Cancelled, vec![shipped]),
        )
        .await
        .unwrap();
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (8, 0));
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (2, 0));
    assert_invariants(&ledger).await;
    // A second kit sold beyond B's stock is booked and flagged.
    ledger
        .bind_bundle(
            CHANNEL,
            "kit2",
            &[ListingComponent::new("A", 1), ListingComponent::new("B", 1)],
        )
        .await
        .unwrap();
    let big = order(
        "b2",
        0,
        OrderStatus::Open,
        vec![listing_line("1", "kit2", 5)],
    );
    let outcome = ledger.book_order(CHANNEL, "default", &big).await.unwrap();
    assert_eq!(outcome.oversold_skus, vec!["B".to_string()]);
    assert!(ledger.order(CHANNEL, "b2").await.unwrap().unwrap().oversold);
    assert_eq!(ledger.available("B").await.unwrap(), -3);
    // The platform dropping the line releases every component.
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("b2", 1, OrderStatus::Open, vec![]),
        )
        .await
        .unwrap();
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (2, 0));
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (8, 0));
    assert_invariants(&ledger).await;
}

async fn unknown_line_later_bound_to_a_bundle_books_its_components(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let event = order(
        "u1",
        0,
        OrderStatus::Open,
        vec![listing_line("1", "later", 1)],
    );
    let outcome = ledger.book_order(CHANNEL, "default", &event).await.unwrap();
    assert_eq!(outcome.unknown_lines.len(), 1);
    ledger
        .bind_bundle(
            CHANNEL,
            "later",
            &[ListingComponent::new("A", 1), ListingComponent::new("B", 3)],
        )
        .await
        .unwrap();
    let rebooked = order(
        "u1",
        1,
        OrderStatus::Open,
        vec![listing_line("1", "later", 1)],
    );
    ledger
        .book_order(CHANNEL, "default", &rebooked)
        .await
        .unwrap();
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (0, 1));
    assert_eq!(on_hand_and_reserved(&ledger, "B", "default").await, (0, 3));
    let booked = ledger.order(CHANNEL, "u1").await.unwrap().unwrap();
    assert_eq!(booked.lines.len(), 2, "{:?}", booked.lines);
    assert_invariants(&ledger).await;
}

async fn returns_restock_only_when_the_channel_says_so(database: &TestDatabase) {
    let ledger = seeded(database).await;
    ledger
        .set_channel_policy(
            CHANNEL,
            &StockPolicy {
                restock_returns: false,
                ..StockPolicy::default()
            },
        )
        .await
        .unwrap();
    receive(&ledger, "A", "default", 6).await;
    let mut returned = line("1", "A", 3);
    returned.fulfilled_quantity = 3;
    returned.returned_quantity = 2;
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("r1", 0, OrderStatus::Fulfilled, vec![returned.clone()]),
        )
        .await
        .unwrap();
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (3, 0));
    let booked = ledger.order(CHANNEL, "r1").await.unwrap().unwrap();
    assert_eq!(booked.lines[0].returned_quantity, 0);
    // With restocking on, the next snapshot puts the returns back.
    ledger
        .set_channel_policy(CHANNEL, &StockPolicy::default())
        .await
        .unwrap();
    ledger
        .book_order(
            CHANNEL,
            "default",
            &order("r1", 1, OrderStatus::Fulfilled, vec![returned]),
        )
        .await
        .unwrap();
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (5, 0));
    assert!(matches!(
        ledger
            .set_channel_policy("nope", &StockPolicy::default())
            .await,
        Err(LedgerError::UnknownChannel(_))
    ));
    assert_invariants(&ledger).await;
}

/// The booked state of an order: status and (line, open, committed, returned).
async fn order_state(ledger: &Ledger, id: &str) -> (OrderStatus, Vec<(String, i64, i64, i64)>) {
    let booked = ledger.order(CHANNEL, id).await.unwrap().unwrap();
    let lines = booked
        .lines
        .iter()
        .map(|l| {
            (
                l.line_id.clone(),
                l.open_quantity,
                l.committed_quantity,
                l.returned_quantity,
            )
        })
        .collect();
    (booked.status, lines)
}

fn permutations(count: usize) -> Vec<Vec<usize>> {
    if count == 0 {
        return vec![vec![]];
    }
    let mut all = Vec::new();
    for rest in permutations(count - 1) {
        for position in 0..=rest.len() {
            let mut permutation = rest.clone();
            permutation.insert(position, count - 1);
            all.push(permutation);
        }
    }
    all
}

async fn events_out_of_order_end_as_in_order(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 100).await;
    receive(&ledger, "B", "default", 100).await;
    let mut shipped = line("1", "A", 3);
    shipped.fulfilled_quantity = 2;
    let mut cancelled_line = line("2", "B", 2);
    cancelled_line.cancelled_quantity = 2;
    // created, paid (same content, later), partly shipped with line 2 cancelled, then the
    // whole order cancelled.
    let lifecycle = [
        (
            0,
            OrderStatus::Open,
            vec![line("1", "A", 3), line("2", "B", 2)],
        ),
        (
            1,
            OrderStatus::Open,
            vec![line("1", "A", 3), line("2", "B", 2)],
        ),
        (
            2,
            OrderStatus::Open,
            vec![shipped.clone(), cancelled_line.clone()],
        ),
        (3, OrderStatus::Cancelled, vec![shipped, cancelled_line]),
    ];
    // Platforms stamp to the second: "created" and "cancelled" in the same second.
    let same_second = [
        (5, OrderStatus::Open, vec![line("1", "A", 1)]),
        (5, OrderStatus::Cancelled, vec![line("1", "A", 1)]),
    ];
    for (name, events) in [("life", &lifecycle[..]), ("tie", &same_second[..])] {
        let in_order = format!("{name}-in-order");
        for (seconds, status, lines) in events {
            ledger
                .book_order(
                    CHANNEL,
                    "default",
                    &order(&in_order, *seconds, *status, lines.clone()),
                )
                .await
                .unwrap();
        }
        let expected = order_state(&ledger, &in_order).await;
        for (index, permutation) in permutations(events.len()).into_iter().enumerate() {
            let id = format!("{name}-{index}");
            for event in &permutation {
                let (seconds, status, lines) = &events[*event];
                ledger
                    .book_order(
                        CHANNEL,
                        "default",
                        &order(&id, *seconds, *status, lines.clone()),
                    )
                    .await
                    .unwrap();
            }
            assert_eq!(
                order_state(&ledger, &id).await,
                expected,
                "{name} in the order {permutation:?}"
            );
        }
    }
    // Every copy of the lifecycle shipped 2 A; everything else is released.
    let copies = 1 + permutations(lifecycle.len()).len() as i64;
    assert_eq!(
        on_hand_and_reserved(&ledger, "A", "default").await,
        (100 - 2 * copies, 0)
    );
    assert_eq!(
        on_hand_and_reserved(&ledger, "B", "default").await,
        (100, 0)
    );
    assert_invariants(&ledger).await;
}

async fn stock_import_applies_everything_or_nothing(database: &TestDatabase) {
    use omnistock::cli::stock::{export, import, ImportOptions};
    use omnistock::cli::CliError;
    let ledger = seeded(database).await;
    let options = ImportOptions {
        actor: "carol".to_string(),
        reason: "year-end count".to_string(),
        idempotency_key: "count-2026".to_string(),
    };
    let bad = "sku,location,on_hand\nA,default,5\nB,moon,2\nNEW,east,x\nA,default,6\n,east,1\n";
    match import(&ledger, "bad.csv", bad.as_bytes(), &options).await {
        Err(CliError::Rows { errors, .. }) => {
            let found: Vec<(u64, &str)> = errors
                .iter()
                .map(|error| (error.line, error.column.as_str()))
                .collect();
            assert_eq!(
                found,
                [(3, "location"), (4, "on_hand"), (5, "sku"), (6, "sku")],
                "{errors:?}"
            );
        }
        other => panic!("expected row errors, got {other:?}"),
    }
    assert!(!ledger.item_exists("NEW").await.unwrap());
    assert_eq!(on_hand_and_reserved(&ledger, "A", "default").await, (0, 0));
    let header = import(&ledger, "h.csv", "sku,where,on_hand\n".as_bytes(), &options).await;
    assert!(matches!(header, Err(CliError::Rows { ref errors, .. }) if errors[0].line == 1));

    let good = "sku,location,on_hand\nA,default,5\nA,east,2\nNEW,east,7\n";
    let report = import(&ledger, "good.csv", good.as_bytes(), &options)
        .await
        .unwrap();
    assert_eq!((report.rows, report.applied), (3, 3));
    assert!(ledger.item_exists("NEW").await.unwrap());
    assert_eq!(on_hand_and_reserved(&ledger, "NEW", "east").await, (7, 0));
    let replay = import(&ledger, "good.csv", good.as_bytes(), &options)
        .await
        .unwrap();
    assert_eq!(replay.applied, 0, "the same key imports once");
    let journal = ledger.movements("A", 0, 10).await.unwrap();
    assert_eq!(journal[0].reason.as_str(), "count");
    assert_eq!(journal[0].actor.as_deref(), Some("carol"));
    assert_eq!(journal[0].note.as_deref(), Some("year-end count"));

    let mut exported = Vec::new();
    let rows = export(&ledger, &mut exported).await.unwrap();
    assert_eq!(rows, 3);
    let text = String::from_utf8(exported).unwrap();
    assert_eq!(
        text,
        "sku,location,on_hand,reserved,available\nA,default,5,0,5\nA,east,2,0,2\nNEW,east,7,0,7\n"
    );
    // What export writes, import reads back (as a new count under a new key).
    let again = ImportOptions {
        idempotency_key: "count-2027".to_string(),
        ..options
    };
    let round_trip = import(&ledger, "export.csv", text.as_bytes(), &again)
        .await
        .unwrap();
    assert_eq!(round_trip.rows, 3);
    assert_invariants(&ledger).await;
}

async fn listings_import_binds_everything_or_nothing(database: &TestDatabase) {
    use omnistock::cli::listings::import;
    use omnistock::cli::CliError;
    let ledger = seeded(database).await;
    let bad = "channel,listing_id,sku,multiplier,bundle\n\
               sim,one,A,,\n\
               shop,two,A,,\n\
               sim,three,A,0,\n\
               sim,four,,,A:2|GHOST:1\n\
               sim,one,B,,\n\
               sim,five,A,,B:1\n";
    match import(&ledger, "bad.csv", bad.as_bytes()).await {
        Err(CliError::Rows { errors, .. }) => {
            let found: Vec<(u64, &str)> = errors
                .iter()
                .map(|error| (error.line, error.column.as_str()))
                .collect();
            assert_eq!(
                found,
                [
                    (3, "channel"),
                    (4, "multiplier"),
                    (5, "bundle"),
                    (6, "listing_id"),
                    (7, "bundle")
                ],
                "{errors:?}"
            );
        }
        other => panic!("expected row errors, got {other:?}"),
    }
    assert!(ledger.listing(CHANNEL, "one").await.unwrap().is_none());
    let good = "channel,listing_id,sku,multiplier,bundle,sync\n\
                sim,one,A,,,\n\
                sim,six-pack,A,6,,\n\
                sim,kit,,,A:2|B,\n\
                sim,hidden,B,,,false\n";
    assert_eq!(
        import(&ledger, "good.csv", good.as_bytes()).await.unwrap(),
        4
    );
    let kit = ledger.listing(CHANNEL, "kit").await.unwrap().unwrap();
    assert_eq!(
        kit.components,
        vec![ListingComponent::new("A", 2), ListingComponent::new("B", 1)]
    );
    let pack = ledger.listing(CHANNEL, "six-pack").await.unwrap().unwrap();
    assert_eq!((pack.sku.as_str(), pack.multiplier), ("A", 6));
    assert!(
        !ledger
            .listing(CHANNEL, "hidden")
            .await
            .unwrap()
            .unwrap()
            .sync_enabled
    );
    // Policy columns override the channel's rules per listing; an empty cell inherits.
    receive(&ledger, "A", "default", 40).await;
    receive(&ledger, "A", "east", 5).await;
    let overrides = "channel,listing_id,sku,locations,safety_buffer,percentage,max_quantity\n\
                     sim,one,A,east,1,,\n\
                     sim,six-pack,A,,,50,2\n";
    assert_eq!(
        import(&ledger, "policy.csv", overrides.as_bytes())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        shown(&ledger, &["A"], &StockPolicy::default()).await,
        pairs(&[("kit", 0), ("one", 4), ("six-pack", 2)])
    );
    let bad = "channel,listing_id,sku,percentage\nsim,one,A,101\n";
    match import(&ledger, "bad-policy.csv", bad.as_bytes()).await {
        Err(CliError::Rows { errors, .. }) => assert_eq!(errors[0].column, "percentage"),
        other => panic!("expected row errors, got {other:?}"),
    }
    // Without policy columns, a re-import keeps the overrides.
    let plain = "channel,listing_id,sku\nsim,one,A\n";
    import(&ledger, "plain.csv", plain.as_bytes())
        .await
        .unwrap();
    let one = ledger.listing(CHANNEL, "one").await.unwrap().unwrap();
    assert_eq!(one.policy.safety_buffer, Some(1));
}

// ---------------------------------------------------------------------------------------------
// Random interleavings of orders (single, multipack and bundle listings) and stock operations
// under a random policy: the invariants hold and no listing shows more than the policy allows.

#[derive(Debug, Clone)]
enum PolicyStep {
    Receive {
        sku: usize,
        location: usize,
        quantity: i64,
    },
    Adjust {
        sku: usize,
        location: usize,
        delta: i64,
    },
    Transfer {
        sku: usize,
        from: usize,
        quantity: i64,
    },
    Book {
        order: usize,
        seconds: i64,
        status: OrderStatus,
        lines: Vec<(usize, [i64; 4])>,
    },
}

const POLICY_LISTINGS: [&str; 3] = ["single", "pack", "kit"];

fn policy_step() -> impl Strategy<Value = PolicyStep> {
    let place = (0..2_usize, 0..2_usize);
    let quantities = (0..4_i64, 0..2_i64, 0..3_i64, 0..2_i64).prop_map(
        |(ordered, cancelled, fulfilled, returned)| [ordered, cancelled, fulfilled, returned],
    );
    prop_oneof![
        3 => (place.clone(), 1..12_i64).prop_map(|((sku, location), quantity)| PolicyStep::Receive { sku, location, quantity }),
        1 => (place, -5..5_i64).prop_map(|((sku, location), delta)| PolicyStep::Adjust { sku, location, delta }),
        1 => (0..2_usize, 0..2_usize, 1..5_i64).prop_map(|(sku, from, quantity)| PolicyStep::Transfer { sku, from, quantity }),
        4 => (
            0..4_usize,
            0..4_i64,
            prop_oneof![Just(OrderStatus::Open), Just(OrderStatus::Cancelled), Just(OrderStatus::Fulfilled)],
            prop::collection::vec((0..3_usize, quantities), 1..3),
        )
            .prop_map(|(order, seconds, status, lines)| PolicyStep::Book { order, seconds, status, lines }),
    ]
}

fn random_policy() -> impl Strategy<Value = StockPolicy> {
    (
        0..4_u32,
        prop::option::of(20..=100_u8),
        prop::option::of(1..15_u32),
        0..3_u32,
        any::<bool>(),
    )
        .prop_map(
            |(safety_buffer, percentage, max_quantity, show_zero_below, restock_returns)| {
                StockPolicy {
                    locations: vec!["default".to_string()],
                    safety_buffer,
                    percentage,
                    max_quantity,
                    show_zero_below,
                    fixed_quantity: None,
                    restock_returns,
                }
            },
        )
}

async fn run_policy_steps(
    ledger: &Ledger,
    policy: StockPolicy,
    steps: Vec<PolicyStep>,
) -> Result<(), TestCaseError> {
    let case = uuid::Uuid::new_v4().simple().to_string();
    let channel = format!("c{case}");
    let skus: Vec<String> = (0..2).map(|index| format!("{case}-{index}")).collect();
    for sku in &skus {
        ledger.upsert_item(sku, "random").await.unwrap();
    }
    ledger.upsert_channel(&channel, "sim").await.unwrap();
    ledger.set_channel_policy(&channel, &policy).await.unwrap();
    let listing = |index: usize| format!("{case}-{}", POLICY_LISTINGS[index]);
    ledger
        .bind_listing(&channel, &listing(0), &skus[0], 1)
        .await
        .unwrap();
    ledger
        .bind_listing(&channel, &listing(1), &skus[0], 3)
        .await
        .unwrap();
    ledger
        .bind_bundle(
            &channel,
            &listing(2),
            &[
                ListingComponent::new(&skus[0], 1),
                ListingComponent::new(&skus[1], 2),
            ],
        )
        .await
        .unwrap();
    let per_unit: [Vec<(usize, i64)>; 3] = [vec![(0, 1)], vec![(0, 3)], vec![(0, 1), (1, 2)]];
    for (index, step) in steps.into_iter().enumerate() {
        let meta = MovementMeta::new(format!("{case}:{index}"));
        match step {
            PolicyStep::Receive {
                sku,
                location,
                quantity,
            } => {
                ledger
                    .receive(&skus[sku], LOCATIONS[location], quantity, &meta)
                    .await
                    .unwrap();
            }
            PolicyStep::Adjust {
                sku,
                location,
                delta,
            } => {
                // Refusals (zero, below zero on hand) are part of the game.
                let _ = ledger
                    .adjust(&skus[sku], LOCATIONS[location], delta, &meta)
                    .await;
            }
            PolicyStep::Transfer {
                sku,
                from,
                quantity,
            } => {
                let _ = ledger
                    .transfer(
                        &skus[sku],
                        LOCATIONS[from],
                        LOCATIONS[1 - from],
                        quantity,
                        &meta,
                    )
                    .await;
            }
            PolicyStep::Book {
                order,
                seconds,
                status,
                lines,
            } => {
                let lines = lines
                    .iter()
                    .enumerate()
                    .map(
                        |(
                            line_index,
                            (listing_index, [ordered, cancelled, fulfilled, returned]),
                        )| OrderLine {
                            line_id: format!("{line_index}"),
                            listing_id: Some(listing(*listing_index)),
                            sku: None,
                            quantity: *ordered,
                            cancelled_quantity: *cancelled,
                            fulfilled_quantity: *fulfilled,
                            returned_quantity: *returned,
                            unit_price_minor: None,
                        },
                    )
                    .collect();
                let event = OrderEvent {
                    external_order_id: format!("{case}-{order}"),
                    delivery_id: None,
                    status,
                    updated_at: at(seconds),
                    created_at: None,
                    currency: None,
                    lines,
                };
                ledger
                    .book_order(&channel, LOCATIONS[order % 2], &event)
                    .await
                    .unwrap();
            }
        }
        let checked = ledger.check_invariants().await.unwrap();
        prop_assert_eq!(checked, Ok(()));
        let targets = ledger.push_targets(&channel, &skus, &policy).await.unwrap();
        prop_assert_eq!(targets.len(), 3);
        for target in targets {
            let listing_index = POLICY_LISTINGS
                .iter()
                .position(|name| target.listing_id.ends_with(name))
                .unwrap();
            prop_assert!(target.quantity >= 0);
            if let Some(max) = policy.max_quantity {
                prop_assert!(target.quantity <= i64::from(max));
            }
            for (sku, units) in &per_unit[listing_index] {
                // Only the policy's location feeds the channel.
                let available = ledger
                    .balance(&skus[*sku], "default")
                    .await
                    .unwrap()
                    .available();
                let allowed = (available - i64::from(policy.safety_buffer)).max(0)
                    * i64::from(policy.percentage.unwrap_or(100))
                    / 100
                    / units;
                prop_assert!(
                    target.quantity <= allowed,
                    "{} shows {} but {} allows {}",
                    target.listing_id,
                    target.quantity,
                    skus[*sku],
                    allowed
                );
            }
        }
    }
    Ok(())
}

fn random_interleavings_respect_the_policy(backend: TestBackend, cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let database = runtime.block_on(TestDatabase::create(backend));
    let ledger = Arc::new(runtime.block_on(async {
        let ledger = database.ledger().await;
        ledger.upsert_location("east", "East").await.unwrap();
        ledger
    }));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(
        &(random_policy(), prop::collection::vec(policy_step(), 1..16)),
        |(policy, steps)| runtime.block_on(run_policy_steps(&ledger, policy, steps)),
    );
    runtime.block_on(ledger.close());
    drop(ledger);
    drop(runtime);
    drop(database);
    if let Err(error) = result {
        panic!("{error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Random operation sequences against an in-memory model.

const LOCATIONS: [&str; 2] = ["default", "east"];

#[derive(Debug, Clone)]
enum Operation {
    Receive {
        sku: usize,
        location: usize,
        quantity: i64,
    },
    Adjust {
        sku: usize,
        location: usize,
        delta: i64,
    },
    Count {
        sku: usize,
        location: usize,
        counted: i64,
    },
    Transfer {
        sku: usize,
        from: usize,
        quantity: i64,
    },
    Book {
        order: usize,
        seconds: i64,
        status: OrderStatus,
        lines: Vec<Option<[i64; 4]>>,
    },
    RepeatPrevious,
}

fn operation() -> impl Strategy<Value = Operation> {
    let place = (0..2_usize, 0..2_usize);
    let quantities = prop::option::weighted(0.7, [0..5_i64, 0..3_i64, 0..5_i64, 0..3_i64]);
    prop_oneof![
        2 => (place.clone(), 1..6_i64).prop_map(|((sku, location), quantity)| Operation::Receive {
            sku,
            location,
            quantity
        }),
        1 => (place.clone(), prop_oneof![-4..0_i64, 1..5_i64]).prop_map(|((sku, location), delta)| {
            Operation::Adjust {
                sku,
                location,
                delta,
            }
        }),
        1 => (place, 0..8_i64).prop_map(|((sku, location), counted)| Operation::Count {
            sku,
            location,
            counted
        }),
        1 => (0..2_usize, 0..2_usize, 1..4_i64).prop_map(|(sku, from, quantity)| Operation::Transfer {
            sku,
            from,
            quantity
        }),
        5 => (
            0..3_usize,
            0..5_i64,
            prop_oneof![
                Just(OrderStatus::Open),
                Just(OrderStatus::Cancelled),
                Just(OrderStatus::Fulfilled)
            ],
            prop::collection::vec(quantities, 2),
        )
            .prop_map(|(order, seconds, status, lines)| Operation::Book {
                order,
                seconds,
                status,
                lines
            }),
        1 => Just(Operation::RepeatPrevious),
    ]
}

/// The booked (open, committed, returned) of an order's lines by sku index.
type ModelLines = BTreeMap<usize, (i64, i64, i64)>;

/// What the ledger should hold: operator on-hand changes per (sku index, location index) plus,
/// per order, the time of its booked snapshot and its lines.
#[derive(Default)]
struct Model {
    operator_on_hand: BTreeMap<(usize, usize), i64>,
    orders: BTreeMap<usize, (i64, ModelLines)>,
    applied_keys: BTreeSet<String>,
    /// The rank of each order's booked status: at the same time, a less advanced status is stale.
    statuses: BTreeMap<usize, u8>,
}

fn status_rank(status: OrderStatus) -> u8 {
    match status {
        OrderStatus::Open => 0,
        OrderStatus::Fulfilled => 1,
        OrderStatus::Cancelled => 2,
    }
}

impl Model {
    fn order_location(order: usize) -> usize {
        order % 2
    }

    fn on_hand(&self, sku: usize, location: usize) -> i64 {
        let mut on_hand = self
            .operator_on_hand
            .get(&(sku, location))
            .copied()
            .unwrap_or(0);
        for (order, (_, lines)) in &self.orders {
            if Self::order_location(*order) == location {
                if let Some((_, committed, returned)) = lines.get(&sku) {
                    on_hand += returned - committed;
                }
            }
        }
        on_hand
    }

    fn reserved(&self, sku: usize, location: usize) -> i64 {
        self.orders
            .iter()
            .filter(|(order, _)| Self::order_location(**order) == location)
            .filter_map(|(_, (_, lines))| lines.get(&sku).map(|(open, _, _)| *open))
            .sum()
    }
}

fn snapshot_line(sku: usize, quantities: [i64; 4], skus: &[String]) -> OrderLine {
    let [ordered, cancelled, fulfilled, returned] = quantities;
    OrderLine {
        line_id: format!("line-{sku}"),
        listing_id: None,
        sku: Some(skus[sku].clone()),
        quantity: ordered,
        cancelled_quantity: cancelled,
        fulfilled_quantity: fulfilled,
        returned_quantity: returned,
        unit_price_minor: None,
    }
}

async fn run_operations(ledger: &Ledger, operations: Vec<Operation>) -> Result<(), TestCaseError> {
    let case = uuid::Uuid::new_v4().simple().to_string();
    let skus: Vec<String> = (0..2).map(|index| format!("{case}-{index}")).collect();
    for sku in &skus {
        ledger.upsert_item(sku, "random").await.unwrap();
    }
    let mut model = Model::default();
    let mut previous: Option<(Operation, String)> = None;
    for (index, generated) in operations.into_iter().enumerate() {
        let (operation, key) = match (&generated, &previous) {
            (Operation::RepeatPrevious, Some(previous)) => previous.clone(),
            (Operation::RepeatPrevious, None) => continue,
            _ => (generated.clone(), format!("{case}:{index}")),
        };
        let meta = MovementMeta::new(key.clone());
        let seen = model.applied_keys.contains(&key);
        match &operation {
            Operation::Receive {
                sku,
                location,
                quantity,
            } => {
                let outcome = ledger
                    .receive(&skus[*sku], LOCATIONS[*location], *quantity, &meta)
                    .await
                    .unwrap();
                if !seen {
                    *model.operator_on_hand.entry((*sku, *location)).or_default() += quantity;
                }
                prop_assert_eq!(outcome.application == Application::AlreadyApplied, seen);
                model.applied_keys.insert(key.clone());
            }
            Operation::Adjust {
                sku,
                location,
                delta,
            } => {
                let result = ledger
                    .adjust(&skus[*sku], LOCATIONS[*location], *delta, &meta)
                    .await;
                if seen {
                    prop_assert_eq!(result.unwrap().application, Application::AlreadyApplied);
                } else if *delta < 0 && model.on_hand(*sku, *location) + delta < 0 {
                    let refused = matches!(result, Err(LedgerError::NegativeOnHand { .. }));
                    prop_assert!(refused, "expected a refusal");
                } else {
                    prop_assert_eq!(result.unwrap().application, Application::Applied);
                    *model.operator_on_hand.entry((*sku, *location)).or_default() += delta;
                    model.applied_keys.insert(key.clone());
                }
            }
            Operation::Count {
                sku,
                location,
                counted,
            } => {
                let outcome = ledger
                    .set_on_hand(&skus[*sku], LOCATIONS[*location], *counted, &meta)
                    .await
                    .unwrap();
                if !seen {
                    let delta = counted - model.on_hand(*sku, *location);
                    *model.operator_on_hand.entry((*sku, *location)).or_default() += delta;
                }
                prop_assert_eq!(outcome.application == Application::AlreadyApplied, seen);
                model.applied_keys.insert(key.clone());
            }
            Operation::Transfer {
                sku,
                from,
                quantity,
            } => {
                let to = 1 - from;
                let result = ledger
                    .transfer(
                        &skus[*sku],
                        LOCATIONS[*from],
                        LOCATIONS[to],
                        *quantity,
                        &meta,
                    )
                    .await;
                if seen {
                    prop_assert_eq!(result.unwrap().application, Application::AlreadyApplied);
                } else if model.on_hand(*sku, *from) - quantity < 0 {
                    let refused = matches!(result, Err(LedgerError::NegativeOnHand { .. }));
                    prop_assert!(refused, "expected a refusal");
                } else {
                    prop_assert_eq!(result.unwrap().application, Application::Applied);
                    *model.operator_on_hand.entry((*sku, *from)).or_default() -= quantity;
                    *model.operator_on_hand.entry((*sku, to)).or_default() += quantity;
                    model.applied_keys.insert(key.clone());
                }
            }
            Operation::Book {
                order,
                seconds,
                status,
                lines,
            } => {
                let snapshot: Vec<OrderLine> = lines
                    .iter()
                    .enumerate()
                    .filter_map(|(sku, quantities)| {
                        quantities.map(|q| snapshot_line(sku, q, &skus))
                    })
                    .collect();
                let event = OrderEvent {
                    external_order_id: format!("{case}-order-{order}"),
                    delivery_id: None,
                    status: *status,
                    updated_at: at(*seconds),
                    created_at: None,
                    currency: None,
                    lines: snapshot.clone(),
                };
                let outcome = ledger
                    .book_order(CHANNEL, LOCATIONS[Model::order_location(*order)], &event)
                    .await
                    .unwrap();
                let booked = model.orders.get(order).map(|(time, _)| *time);
                let booked_rank = model.statuses.get(order).copied().unwrap_or(0);
                let stale = booked.is_some_and(|time| {
                    *seconds < time || (*seconds == time && status_rank(*status) < booked_rank)
                });
                if stale {
                    prop_assert_eq!(outcome.result, BookingResult::Stale);
                } else {
                    prop_assert_ne!(outcome.result, BookingResult::Stale);
                    let entry = model
                        .orders
                        .entry(*order)
                        .or_insert_with(|| (*seconds, BTreeMap::new()));
                    entry.0 = *seconds;
                    model.statuses.insert(*order, status_rank(*status));
                    for (_, (open, _, _)) in entry.1.iter_mut() {
                        *open = 0;
                    }
                    for (sku, quantities) in lines.iter().enumerate() {
                        if let Some(quantities) = quantities {
                            let state =
                                snapshot_line(sku, *quantities, &skus).target_state(*status);
                            entry
                                .1
                                .insert(sku, (state.open, state.committed, state.returned));
                        }
                    }
                }
            }
            Operation::RepeatPrevious => unreachable!("replaced by the previous operation"),
        }
        previous = Some((operation, key));
    }
    for (sku, sku_name) in skus.iter().enumerate() {
        for (location, location_name) in LOCATIONS.iter().enumerate() {
            let balance = ledger.balance(sku_name, location_name).await.unwrap();
            prop_assert_eq!(
                (balance.on_hand, balance.reserved),
                (model.on_hand(sku, location), model.reserved(sku, location)),
                "sku {} at {}",
                sku,
                location_name
            );
        }
    }
    let checked = ledger.check_invariants().await.unwrap();
    prop_assert_eq!(checked, Ok(()));
    Ok(())
}

fn random_operations_match_the_model(backend: TestBackend, cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let database = runtime.block_on(TestDatabase::create(backend));
    let ledger = Arc::new(runtime.block_on(async {
        let ledger = database.ledger().await;
        ledger.upsert_location("east", "East").await.unwrap();
        ledger.upsert_channel(CHANNEL, "sim").await.unwrap();
        ledger
    }));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(operation(), 1..32), |operations| {
        runtime.block_on(run_operations(&ledger, operations))
    });
    runtime.block_on(ledger.close());
    drop(ledger);
    drop(runtime);
    drop(database);
    if let Err(error) = result {
        panic!("{error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Expansion per backend.

/// The sweep pages through a channel's SKUs: the pages, in order, are exactly the channel's
/// SKUs, each once, even with a bundle whose components fall on different pages; and a walk
/// through the pages' push targets meets every listing once, the bundle on its lowest SKU's page.
async fn channel_sku_pages_cover_every_sku_once(database: &TestDatabase) {
    let ledger = seeded(database).await;
    let skus: Vec<String> = (0..1_200).map(|index| format!("SKU-{index:04}")).collect();
    let mut bindings: Vec<ListingBinding> = skus
        .iter()
        .map(|sku| ListingBinding {
            channel_id: CHANNEL.to_string(),
            listing_id: format!("listing-{sku}"),
            components: vec![ListingComponent::new(sku.clone(), 1)],
            sync_enabled: None,
            policy: None,
        })
        .collect();
    bindings.push(ListingBinding {
        channel_id: CHANNEL.to_string(),
        listing_id: "bundle".to_string(),
        // Named highest first: the page it belongs to is its lowest SKU's.
        components: vec![
            ListingComponent::new("SKU-1199", 2),
            ListingComponent::new("SKU-0001", 1),
        ],
        sync_enabled: None,
        policy: None,
    });
    for sku in &skus {
        ledger.upsert_item(sku, sku).await.unwrap();
    }
    ledger.bind_listings(&bindings).await.unwrap();

    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ledger
            .channel_sku_page(CHANNEL, after.as_deref(), 500)
            .await
            .unwrap();
        assert!(page.len() <= 500, "a page of {} skus", page.len());
        let Some(last) = page.last().cloned() else {
            break;
        };
        paged.extend(page);
        after = Some(last);
    }
    assert_eq!(paged, ledger.channel_skus(CHANNEL).await.unwrap());
    assert_eq!(paged, skus);

    let mut walk = TargetPages::new(CHANNEL);
    let mut met: Vec<(usize, String)> = Vec::new();
    let mut page_number = 0;
    let mut skus_walked = 0;
    while let Some(page) = walk.next(&ledger, &StockPolicy::default()).await.unwrap() {
        skus_walked += page.skus;
        met.extend(
            page.targets
                .into_iter()
                .map(|target| (page_number, target.listing_id)),
        );
        page_number += 1;
    }
    assert_eq!(skus_walked, skus.len());
    let listings: BTreeSet<&str> = met.iter().map(|(_, listing)| listing.as_str()).collect();
    assert_eq!(met.len(), bindings.len(), "a listing met twice");
    assert_eq!(listings.len(), bindings.len());
    assert_eq!(page_number, 3, "three pages");
    assert!(met.contains(&(0, "bundle".to_string())), "{:?}", &met[..3]);
    assert_eq!(
        ledger.count_sync_enabled_listings(CHANNEL).await.unwrap(),
        bindings.len() as u64
    );
}

macro_rules! backend_suite {
    ($module:ident, $backend:expr, $cases:expr, [$($test:ident),* $(,)?]) => {
        mod $module {
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let database = TestDatabase::create($backend).await;
                    super::$test(&database).await;
                }
            )*

            #[test]
            fn random_operations_match_the_model() {
                super::random_operations_match_the_model($backend, $cases);
            }

            #[test]
            fn random_interleavings_respect_the_policy() {
                super::random_interleavings_respect_the_policy($backend, $cases / 2);
            }
        }
    };
}

macro_rules! ledger_suite {
    ($($test:ident),* $(,)?) => {
        backend_suite!(sqlite, TestBackend::Sqlite, 24, [$($test),*]);
        backend_suite!(postgres, TestBackend::Postgres, 12, [$($test),*]);
    };
}

ledger_suite!(
    operator_operations_apply_once_per_key,
    a_journal_row_with_an_unknown_reason_is_an_error,
    channel_sku_pages_cover_every_sku_once,
    operator_operations_refuse_negative_on_hand,
    unknown_sku_and_location_are_named,
    order_booked_twice_books_once,
    duplicate_delivery_changes_nothing,
    stale_snapshot_is_ignored,
    cancelling_releases_the_reservation,
    partial_shipment_commits_what_shipped,
    returned_units_are_restocked,
    unknown_listing_line_is_kept_and_reported,
    oversold_order_is_booked_and_flagged,
    lines_missing_from_a_snapshot_are_released,
    line_operations_apply_once_per_key,
    outbox_records_changed_skus_and_signals,
    cursors_round_trip,
    push_targets_show_whole_listing_units,
    a_push_read_before_a_sale_there_records_nothing,
    a_push_forgets_the_confirmed_quantity_until_it_is_confirmed,
    a_sale_by_sku_forgets_the_channels_listings_of_it,
    same_order_booked_concurrently_books_once,
    distinct_orders_booked_concurrently_all_count,
    a_group_books_like_one_event_at_a_time,
    a_bad_event_in_a_group_fails_alone,
    concurrent_groups_over_shared_items_all_count,
    policy_rules_shape_what_each_listing_shows,
    bundle_shows_its_scarcest_component_and_follows_each,
    selling_a_bundle_books_its_components,
    unknown_line_later_bound_to_a_bundle_books_its_components,
    returns_restock_only_when_the_channel_says_so,
    events_out_of_order_end_as_in_order,
    stock_import_applies_everything_or_nothing,
    listings_import_binds_everything_or_nothing,
    awkward_text_and_large_numbers_round_trip,
);

// ---------------------------------------------------------------------------------------------
// Backend-independent.

#[tokio::test]
async fn unsupported_scheme_is_named() {
    let error = Ledger::connect("mysql://root@localhost/stock")
        .await
        .unwrap_err();
    assert!(matches!(error, LedgerError::UnsupportedUrl { .. }));
    assert!(error.to_string().contains("mysql"), "{error}");
}

#[tokio::test]
async fn unreachable_database_is_named_without_its_password() {
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
async fn table_scans(url: &str) -> BTreeMap<String, (i64, i64)> {
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
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

/// Index entries read so far, per table (over all its indexes).
async fn index_entries_read(url: &str) -> BTreeMap<String, i64> {
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
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
async fn postgres_bookings_read_no_table_whole() {
    let database = TestDatabase::create(TestBackend::Postgres).await;
    let ledger = seeded(&database).await;
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
    let before = table_scans(&database.url).await;

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
    let entries_before = index_entries_read(&database.url).await;
    let ledger = database.ledger().await;
    let targets = ledger
        .push_targets(CHANNEL, &skus[..1_200], &StockPolicy::default())
        .await
        .unwrap();
    assert_eq!(targets.len(), 1_200);
    ledger.close().await;
    let entries_after = index_entries_read(&database.url).await;
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
    let after = table_scans(&database.url).await;
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
async fn sqlite_file_is_created_with_durable_settings() {
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
