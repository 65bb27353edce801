//! Go-live and refused orders, in the ledger, on SQLite and PostgreSQL: an order placed before
//! its channel's cut-over is booked as a baseline (what it had shipped leaves on hand alone),
//! every later change books normally; an order event the ledger can never book fails alone, as
//! a refusal (not as an outage), and the quarantine keeps it.

use std::collections::BTreeMap;

use crate::common::{TestBackend, TestDatabase};
use crate::{cases, run_property};
use chrono::{DateTime, TimeZone, Utc};
use omnistock::ledger::{
    BookingRequest, BookingResult, Ledger, LedgerError, ListingBinding, ListingComponent,
    MovementMeta,
};
use omnistock_connector::{OrderEvent, OrderLine, OrderStatus};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};

const CHANNEL: &str = "shop";

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

/// The cut-over of the channel in every test.
const CUT_OVER: i64 = 0;

/// A ledger with items A and B, 10 on hand each at `default`, and channel `shop` gone live at
/// `at(CUT_OVER)`.
async fn live_ledger(database: &TestDatabase) -> Ledger {
    let ledger = database.ledger().await;
    go_live(&ledger).await;
    ledger
}

/// Items A and B counted at 10 each, and the channel gone live at `at(CUT_OVER)`.
async fn go_live(ledger: &Ledger) {
    for sku in ["A", "B"] {
        ledger.upsert_item(sku, sku).await.unwrap();
        ledger
            .receive(
                sku,
                "default",
                10,
                &MovementMeta::new(format!("count-{sku}")),
            )
            .await
            .unwrap();
    }
    ledger.upsert_channel(CHANNEL, "sim").await.unwrap();
    ledger
        .set_channel_cut_over(CHANNEL, at(CUT_OVER))
        .await
        .unwrap();
}

/// A one-line order of `sku`: `ordered` units, of which `shipped` shipped, `cancelled`
/// cancelled, `returned` returned; placed at `created` (seconds), as of `updated`.
#[allow(clippy::too_many_arguments)]
fn snapshot(
    id: &str,
    created: Option<i64>,
    updated: i64,
    status: OrderStatus,
    sku: &str,
    [ordered, cancelled, shipped, returned]: [i64; 4],
) -> OrderEvent {
    OrderEvent {
        external_order_id: id.to_string(),
        delivery_id: None,
        status,
        updated_at: at(updated),
        created_at: created.map(at),
        currency: None,
        total_minor: None,
        location: None,
        lines: vec![OrderLine {
            line_id: "1".to_string(),
            listing_id: None,
            sku: Some(sku.to_string()),
            quantity: ordered,
            cancelled_quantity: cancelled,
            fulfilled_quantity: shipped,
            returned_quantity: returned,
            unit_price_minor: None,
        }],
    }
}

async fn book(ledger: &Ledger, event: &OrderEvent) -> BookingResult {
    ledger
        .book_order(CHANNEL, "default", event)
        .await
        .unwrap()
        .result
}

async fn on_hand_and_reserved(ledger: &Ledger, sku: &str) -> (i64, i64) {
    let balance = ledger.balance(sku, "default").await.unwrap();
    (balance.on_hand, balance.reserved)
}

async fn assert_invariants(ledger: &Ledger) {
    assert_eq!(ledger.check_invariants().await.unwrap(), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Go-live

/// History placed before the cut-over moves no stock that left before the count; its open
/// units reserve; its later changes and every order placed after the cut-over book in full.
async fn history_before_the_cut_over_leaves_on_hand_alone(database: &TestDatabase) {
    let ledger = live_ledger(database).await;
    // Placed a year before go-live and shipped then: first seen now, nothing moves.
    let shipped = snapshot(
        "old-1",
        Some(-31_536_000),
        5,
        OrderStatus::Fulfilled,
        "A",
        [3, 0, 3, 0],
    );
    assert_eq!(book(&ledger, &shipped).await, BookingResult::Applied);
    assert_eq!(on_hand_and_reserved(&ledger, "A").await, (10, 0));
    let booked = ledger.order(CHANNEL, "old-1").await.unwrap().unwrap();
    assert_eq!(booked.lines[0].committed_quantity, 3, "recorded as shipped");
    // Placed before go-live, one of four shipped then: the three open units reserve.
    let partly = snapshot("old-2", Some(-400), 6, OrderStatus::Open, "A", [4, 0, 1, 0]);
    book(&ledger, &partly).await;
    assert_eq!(on_hand_and_reserved(&ledger, "A").await, (10, 3));
    // Its later shipment and cancellation book from that baseline.
    let later = snapshot("old-2", Some(-400), 7, OrderStatus::Open, "A", [4, 0, 2, 0]);
    book(&ledger, &later).await;
    assert_eq!(on_hand_and_reserved(&ledger, "A").await, (9, 2));
    let cancelled = snapshot(
        "old-2",
        Some(-400),
        8,
        OrderStatus::Cancelled,
        "A",
        [4, 2, 2, 0],
    );
    book(&ledger, &cancelled).await;
    assert_eq!(on_hand_and_reserved(&ledger, "A").await, (9, 0));
    // Placed after go-live, or with no placing time: booked in full, as ever.
    let new = snapshot(
        "new-1",
        Some(3),
        9,
        OrderStatus::Fulfilled,
        "A",
        [2, 0, 2, 0],
    );
    book(&ledger, &new).await;
    let unknown_age = snapshot("new-2", None, 9, OrderStatus::Fulfilled, "A", [1, 0, 1, 0]);
    book(&ledger, &unknown_age).await;
    assert_eq!(on_hand_and_reserved(&ledger, "A").await, (6, 0));
    // The baseline is booked once: the same snapshot again changes nothing.
    assert_eq!(book(&ledger, &shipped).await, BookingResult::Unchanged);
    assert_eq!(on_hand_and_reserved(&ledger, "A").await, (6, 0));
    assert_invariants(&ledger).await;
}

/// A pre-go-live order returned after go-live puts the returned units back on hand; a return
/// it already had when first seen came back before the count.
async fn a_return_of_a_pre_go_live_order_moves_stock_up(database: &TestDatabase) {
    let ledger = live_ledger(database).await;
    let first = snapshot(
        "old",
        Some(-900),
        5,
        OrderStatus::Fulfilled,
        "A",
        [2, 0, 2, 0],
    );
    book(&ledger, &first).await;
    assert_eq!(on_hand_and_reserved(&ledger, "A").await, (10, 0));
    let returned = snapshot(
        "old",
        Some(-900),
        6,
        OrderStatus::Fulfilled,
        "A",
        [2, 0, 2, 1],
    );
    book(&ledger, &returned).await;
    assert_eq!(on_hand_and_reserved(&ledger, "A").await, (11, 0));

    let first = snapshot(
        "older",
        Some(-950),
        5,
        OrderStatus::Fulfilled,
        "B",
        [3, 0, 3, 1],
    );
    book(&ledger, &first).await;
    assert_eq!(on_hand_and_reserved(&ledger, "B").await, (10, 0));
    let more = snapshot(
        "older",
        Some(-950),
        6,
        OrderStatus::Fulfilled,
        "B",
        [3, 0, 3, 3],
    );
    book(&ledger, &more).await;
    assert_eq!(on_hand_and_reserved(&ledger, "B").await, (12, 0));
    assert_invariants(&ledger).await;
}

/// A channel goes live when it is first connected; the cut-over can be set and is listed.
async fn the_cut_over_is_stored_when_first_connected_and_settable(database: &TestDatabase) {
    let ledger = database.ledger().await;
    let before = Utc::now().timestamp_millis();
    ledger.upsert_channel("fresh", "sim").await.unwrap();
    let first = ledger.channel_cut_over("fresh").await.unwrap().unwrap();
    assert!(first.timestamp_millis() >= before, "{first}");
    ledger.upsert_channel("fresh", "sim").await.unwrap();
    assert_eq!(ledger.channel_cut_over("fresh").await.unwrap(), Some(first));
    ledger.set_channel_cut_over("fresh", at(42)).await.unwrap();
    let listed = ledger.channels().await.unwrap();
    assert_eq!(listed[0].cut_over, Some(at(42)));
    assert!(matches!(
        ledger.set_channel_cut_over("nope", at(1)).await,
        Err(LedgerError::UnknownChannel(_))
    ));
    assert_eq!(ledger.channel_cut_over("nope").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Any interleaving of pre- and post-cut-over orders, against a model.

/// One order's life: placed before the cut-over (or after, or at an unknown time), the
/// snapshots in which the platform reports it, from the first one omnistock sees.
#[derive(Debug, Clone)]
struct OrderLife {
    placed: Placed,
    sku: usize,
    /// `[ordered, cancelled, shipped, returned]` per snapshot, each monotone.
    snapshots: Vec<[i64; 4]>,
    cancelled_at_end: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placed {
    BeforeCutOver,
    AfterCutOver,
    Unknown,
}

fn order_life() -> impl Strategy<Value = OrderLife> {
    let placed = prop_oneof![
        3 => Just(Placed::BeforeCutOver),
        2 => Just(Placed::AfterCutOver),
        1 => Just(Placed::Unknown),
    ];
    (
        placed,
        0..2_usize,
        1..6_i64,
        prop::collection::vec((0..3_i64, 0..2_i64, 0..2_i64), 1..5),
        any::<bool>(),
    )
        .prop_map(|(placed, sku, ordered, steps, cancelled_at_end)| {
            let mut state = [ordered, 0, 0, 0];
            let mut snapshots = Vec::new();
            for (ship, cancel, give_back) in steps {
                let open = state[0] - state[1] - state[2];
                let shipped = ship.min(open);
                state[2] += shipped;
                state[1] += cancel.min(open - shipped);
                state[3] += give_back.min(state[2] - state[3]);
                snapshots.push(state);
            }
            OrderLife {
                placed,
                sku,
                snapshots,
                cancelled_at_end,
            }
        })
}

fn status_of(quantities: [i64; 4], cancelled: bool) -> OrderStatus {
    let [ordered, cancelled_units, shipped, _] = quantities;
    if cancelled {
        OrderStatus::Cancelled
    } else if ordered == cancelled_units + shipped {
        OrderStatus::Fulfilled
    } else {
        OrderStatus::Open
    }
}

/// Books the lives' snapshots interleaved as `picks` say (each order's in its order, with
/// some redelivered), then compares the balances with the model: on hand = counted − shipped
/// after first sight of pre-go-live orders − shipped by the others + the same for returns;
/// reserved = what is open.
async fn run_interleaving(
    ledger: &Ledger,
    case: u64,
    lives: Vec<OrderLife>,
    picks: Vec<(usize, bool)>,
) -> Result<(), TestCaseError> {
    let skus = [format!("A{case}"), format!("B{case}")];
    for sku in &skus {
        ledger.upsert_item(sku, sku).await.unwrap();
        ledger
            .receive(
                sku,
                "default",
                100,
                &MovementMeta::new(format!("count-{sku}")),
            )
            .await
            .unwrap();
    }
    let mut next: Vec<usize> = vec![0; lives.len()];
    let mut picks = picks.into_iter().cycle();
    let mut expected: BTreeMap<&str, (i64, i64)> =
        skus.iter().map(|s| (s.as_str(), (100, 0))).collect();
    // Never two redeliveries in a row: the picks cycle, and a cycle of redeliveries alone
    // would never move any order on.
    let mut redelivered_last = false;
    while next
        .iter()
        .zip(&lives)
        .any(|(n, life)| *n < life.snapshots.len())
    {
        let (pick, redeliver) = picks.next().unwrap_or((0, false));
        let redeliver = redeliver && !redelivered_last;
        redelivered_last = redeliver;
        let waiting: Vec<usize> = (0..lives.len())
            .filter(|&o| next[o] < lives[o].snapshots.len())
            .collect();
        let order = waiting[pick % waiting.len()];
        let life = &lives[order];
        // A redelivery of the snapshot before (stale) or of the last (unchanged).
        let index = if redeliver && next[order] > 0 {
            next[order] - 1
        } else {
            next[order]
        };
        if index == next[order] {
            next[order] += 1;
        }
        let last = index + 1 == life.snapshots.len();
        let quantities = life.snapshots[index];
        let created = match life.placed {
            Placed::BeforeCutOver => Some(CUT_OVER - 1_000),
            Placed::AfterCutOver => Some(CUT_OVER + 1),
            Placed::Unknown => None,
        };
        let event = snapshot(
            &format!("{case}-{order}"),
            created,
            10 + index as i64,
            status_of(quantities, last && life.cancelled_at_end),
            &skus[life.sku],
            quantities,
        );
        ledger
            .book_order(CHANNEL, "default", &event)
            .await
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
    }
    for life in &lives {
        let first = life.snapshots[0];
        let last = *life.snapshots.last().unwrap();
        let baseline = if life.placed == Placed::BeforeCutOver {
            first
        } else {
            [0; 4]
        };
        let open = match status_of(last, life.cancelled_at_end) {
            OrderStatus::Open => last[0] - last[1] - last[2],
            _ => 0,
        };
        let entry = expected.get_mut(skus[life.sku].as_str()).unwrap();
        entry.0 += -(last[2] - baseline[2]) + (last[3] - baseline[3]);
        entry.1 += open;
    }
    for (sku, want) in expected {
        let got = on_hand_and_reserved(ledger, sku).await;
        prop_assert_eq!(got, want, "{} after {:?}", sku, lives);
    }
    let checked = ledger.check_invariants().await.unwrap();
    prop_assert_eq!(checked, Ok(()));
    Ok(())
}

fn any_interleaving_counts_only_what_moved_after_the_cut_over(backend: TestBackend, count: u32) {
    let case = std::sync::atomic::AtomicU64::new(0);
    let case = &case;
    run_property(
        backend,
        Config {
            // Each shrinking step books against the database: a bounded search keeps a
            // failure's report quick.
            max_shrink_iters: 64,
            ..cases(count)
        },
        (
            prop::collection::vec(order_life(), 1..7),
            prop::collection::vec((0..8_usize, prop::bool::weighted(0.2)), 1..24),
        ),
        |ledger| async move { go_live(&ledger).await },
        |ledger, (lives, picks)| {
            let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move { run_interleaving(&ledger, case, lives, picks).await }
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals and the quarantine

/// Events the ledger can never book fail alone, each as a refusal, and the good ones around
/// them are booked; a failure of the database itself is not a refusal.
async fn events_that_can_never_be_booked_fail_alone_as_refusals(database: &TestDatabase) {
    let ledger = live_ledger(database).await;
    ledger
        .bind_listings(&[ListingBinding {
            channel_id: CHANNEL.to_string(),
            listing_id: "BUNDLE".to_string(),
            components: vec![ListingComponent::new("A", 1), ListingComponent::new("B", 1)],
            sync_enabled: None,
            policy: None,
            location: None,
        }])
        .await
        .unwrap();
    let good = snapshot("good-1", None, 1, OrderStatus::Open, "A", [1, 0, 0, 0]);
    let long_id = snapshot(
        &"x".repeat(3_000),
        None,
        1,
        OrderStatus::Open,
        "A",
        [1, 0, 0, 0],
    );
    let nul = snapshot("nul\0order", None, 1, OrderStatus::Open, "A", [1, 0, 0, 0]);
    let huge = snapshot(
        "huge",
        None,
        1,
        OrderStatus::Open,
        "A",
        [2_000_000_000, 0, 0, 0],
    );
    // A platform line named like the bundle line's component line.
    let mut colliding = snapshot("colliding", None, 1, OrderStatus::Open, "A", [1, 0, 0, 0]);
    colliding.lines[0].line_id = "7#A".to_string();
    colliding.lines.push(OrderLine {
        line_id: "7".to_string(),
        listing_id: Some("BUNDLE".to_string()),
        sku: None,
        ..colliding.lines[0].clone()
    });
    let also_good = snapshot("good-2", None, 1, OrderStatus::Open, "B", [1, 0, 0, 0]);
    let events = [good, long_id, nul, huge, colliding, also_good];
    let requests: Vec<BookingRequest<'_>> = events
        .iter()
        .map(|event| BookingRequest {
            channel_id: CHANNEL,
            location: "default",
            event,
        })
        .collect();
    let results = ledger.book_orders(&requests).await;
    assert_eq!(results[0].as_ref().unwrap().result, BookingResult::Applied);
    assert_eq!(results[5].as_ref().unwrap().result, BookingResult::Applied);
    for result in &results[1..5] {
        let error = result.as_ref().expect_err("refused");
        assert!(error.is_refusal(), "{error}");
    }
    assert_eq!(on_hand_and_reserved(&ledger, "A").await, (10, 1));
    assert_eq!(on_hand_and_reserved(&ledger, "B").await, (10, 1));
    assert!(ledger.order(CHANNEL, "colliding").await.unwrap().is_none());
    // An unknown channel is a configuration matter, a closed pool an outage: neither is a
    // refusal of the order.
    let unknown = ledger
        .book_order("no-such-channel", "default", &events[0])
        .await
        .unwrap_err();
    assert!(!unknown.is_refusal(), "{unknown}");
    ledger.close().await;
    let outage = ledger
        .book_order(CHANNEL, "default", &events[5])
        .await
        .unwrap_err();
    assert!(!outage.is_refusal(), "{outage}");
}

/// The quarantine keeps one entry per order with its newest event, whatever its id holds, and
/// counts every refusal of a new event or a retry.
async fn the_quarantine_keeps_one_entry_per_order(database: &TestDatabase) {
    let ledger = live_ledger(database).await;
    let newer = snapshot(
        &"y".repeat(3_000),
        None,
        9,
        OrderStatus::Open,
        "A",
        [1, 0, 0, 0],
    );
    let older = OrderEvent {
        updated_at: at(2),
        ..newer.clone()
    };
    let id = ledger
        .quarantine()
        .add(CHANNEL, &newer, "too long")
        .await
        .unwrap();
    let again = ledger
        .quarantine()
        .add(CHANNEL, &older, "still too long")
        .await
        .unwrap();
    assert_eq!(id, again);
    // An older (or the same) event read again is not one more refusal; a newer one is.
    let newest = OrderEvent {
        updated_at: at(10),
        ..newer.clone()
    };
    ledger
        .quarantine()
        .add(CHANNEL, &newest, "still too long")
        .await
        .unwrap();
    let nul = snapshot("nul\0order", None, 1, OrderStatus::Open, "A", [1, 0, 0, 0]);
    let other = ledger
        .quarantine()
        .add(CHANNEL, &nul, "holds a NUL\0 character")
        .await
        .unwrap();
    assert_ne!(id, other);

    let listed = ledger.quarantine().list(Some(CHANNEL)).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].attempts, 2);
    assert_eq!(listed[0].error, "still too long");
    assert_eq!(
        listed[0].order_event().unwrap(),
        newest,
        "the newest event is kept"
    );
    assert!(listed[0].order_label.chars().count() < 200);
    assert_eq!(listed[1].order_label, "nul\\0order");
    assert_eq!(listed[1].order_event().unwrap(), nul);
    assert!(ledger
        .quarantine()
        .list(Some("other"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(ledger.quarantine().counts().await.unwrap()[CHANNEL], 2);

    let refused = ledger
        .quarantine()
        .note_refused(id, "again")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((refused.attempts, refused.error.as_str()), (3, "again"));
    assert_eq!(
        ledger.quarantine().release(id).await.unwrap().unwrap().id,
        id
    );
    assert!(ledger.quarantine().release(id).await.unwrap().is_none());
    assert!(ledger.quarantine().get(id).await.unwrap().is_none());
}

/// A webhook receipt is stored once per channel and delivery, waits until its next attempt,
/// and leaves only when deleted; one that keeps failing is quarantined as unfetched, once per
/// order, and a refused event of the order later takes the same entry.
async fn webhook_receipts_are_kept_once_until_settled(database: &TestDatabase) {
    let ledger = live_ledger(database).await;
    let receipts = ledger.webhook_receipts();
    let named = omnistock_connector::OrderRef {
        order_id: "576".into(),
        delivery_id: Some("n-1".into()),
    };
    let (id, new) = receipts
        .add(CHANNEL, "n-1", std::slice::from_ref(&named), 0)
        .await
        .unwrap();
    assert!(new);
    assert_eq!(
        receipts
            .add(CHANNEL, "n-1", std::slice::from_ref(&named), 0)
            .await
            .unwrap(),
        (id, false),
        "a redelivery stores nothing"
    );
    let (other, new) = receipts
        .add("other", "n-1", std::slice::from_ref(&named), 0)
        .await
        .unwrap();
    assert!(new && other != id, "keyed per channel");
    let now = Utc::now().timestamp_millis();
    let due = receipts.due(now, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].order_refs().unwrap(), vec![named.clone()]);
    receipts
        .note_failure(id, "transient: HTTP 500", now + 60_000)
        .await
        .unwrap();
    let due = receipts.due(now, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|receipt| receipt.id).collect::<Vec<_>>(),
        vec![other]
    );
    let stored = receipts.list().await.unwrap();
    assert_eq!(stored[0].attempts, 1);
    assert_eq!(stored[0].last_error.as_deref(), Some("transient: HTTP 500"));
    assert_eq!(
        receipts.counts().await.unwrap(),
        BTreeMap::from([(CHANNEL.to_string(), 1), ("other".to_string(), 1)])
    );
    receipts.delete(id).await.unwrap();
    receipts.delete(other).await.unwrap();
    assert!(receipts.list().await.unwrap().is_empty());
    // One its receiver is still trying is not due yet.
    let (later, _) = receipts
        .add(CHANNEL, "n-2", std::slice::from_ref(&named), 60_000)
        .await
        .unwrap();
    assert!(receipts.due(now, 10).await.unwrap().is_empty());
    receipts.delete(later).await.unwrap();

    let quarantine = ledger.quarantine();
    let first = quarantine
        .add_unfetched(CHANNEL, &named, "permanent: 36009004")
        .await
        .unwrap();
    let again = quarantine
        .add_unfetched(CHANNEL, &named, "permanent: again")
        .await
        .unwrap();
    assert_eq!(first, again);
    let record = quarantine.get(first).await.unwrap().unwrap();
    assert_eq!(
        (record.attempts, record.error.as_str()),
        (2, "permanent: again")
    );
    assert_eq!(
        record.content().unwrap(),
        omnistock::ledger::QuarantinedContent::Unfetched(named.clone())
    );
    let event = snapshot("576", Some(50), 100, OrderStatus::Open, "A", [1, 0, 0, 0]);
    assert_eq!(
        quarantine.add(CHANNEL, &event, "refused").await.unwrap(),
        first
    );
    let record = quarantine.get(first).await.unwrap().unwrap();
    assert_eq!(
        record.content().unwrap(),
        omnistock::ledger::QuarantinedContent::Event(event)
    );
}

// ---------------------------------------------------------------------------------------------
// Expansion per backend.

macro_rules! backend_tests {
    ($module:ident, $backend:expr, $cases:expr, [$($test:ident),* $(,)?]) => {
        mod $module {
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let database = TestDatabase::create($backend).await;
                    super::$test(&database).await;
                }
            )*

            #[test]
            fn any_interleaving_counts_only_what_moved_after_the_cut_over() {
                super::any_interleaving_counts_only_what_moved_after_the_cut_over($backend, $cases);
            }
        }
    };
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        backend_tests!(sqlite, TestBackend::Sqlite, 32, [$($test),*]);
        backend_tests!(postgres, TestBackend::Postgres, 16, [$($test),*]);
    };
}

both_backends!(
    history_before_the_cut_over_leaves_on_hand_alone,
    a_return_of_a_pre_go_live_order_moves_stock_up,
    the_cut_over_is_stored_when_first_connected_and_settable,
    events_that_can_never_be_booked_fail_alone_as_refusals,
    the_quarantine_keeps_one_entry_per_order,
    webhook_receipts_are_kept_once_until_settled,
);
