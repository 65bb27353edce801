//! Booking orders: duplicates, stale and out-of-order snapshots, cancels, shipments, returns,
//! unknown lines, overselling, groups and concurrent bookings.

use super::*;

pub(crate) async fn order_booked_twice_books_once(database: &TestDatabase) {
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

pub(crate) async fn duplicate_delivery_changes_nothing(database: &TestDatabase) {
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

pub(crate) async fn stale_snapshot_is_ignored(database: &TestDatabase) {
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

pub(crate) async fn cancelling_releases_the_reservation(database: &TestDatabase) {
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

pub(crate) async fn partial_shipment_commits_what_shipped(database: &TestDatabase) {
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

pub(crate) async fn returned_units_are_restocked(database: &TestDatabase) {
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

pub(crate) async fn unknown_listing_line_is_kept_and_reported(database: &TestDatabase) {
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

pub(crate) async fn oversold_order_is_booked_and_flagged(database: &TestDatabase) {
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

pub(crate) async fn lines_missing_from_a_snapshot_are_released(database: &TestDatabase) {
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

pub(crate) async fn same_order_booked_concurrently_books_once(database: &TestDatabase) {
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

pub(crate) async fn distinct_orders_booked_concurrently_all_count(database: &TestDatabase) {
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

pub(crate) async fn a_group_books_like_one_event_at_a_time(database: &TestDatabase) {
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

pub(crate) async fn a_bad_event_in_a_group_fails_alone(database: &TestDatabase) {
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
pub(crate) async fn concurrent_groups_over_shared_items_all_count(database: &TestDatabase) {
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

pub(crate) async fn returns_restock_only_when_the_channel_says_so(database: &TestDatabase) {
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
pub(crate) async fn order_state(
    ledger: &Ledger,
    id: &str,
) -> (OrderStatus, Vec<(String, i64, i64, i64)>) {
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

pub(crate) fn permutations(count: usize) -> Vec<Vec<usize>> {
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

pub(crate) async fn events_out_of_order_end_as_in_order(database: &TestDatabase) {
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

pub(crate) async fn a_snapshot_without_prices_keeps_the_booked_ones(database: &TestDatabase) {
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 10).await;
    let mut priced = order("900", 0, OrderStatus::Open, vec![line("1", "A", 2)]);
    priced.total_minor = Some(2500);
    ledger
        .book_order(CHANNEL, "default", &priced)
        .await
        .unwrap();
    // A later notification (Amazon's carries no money) ships one unit and says nothing of price.
    let mut unpriced = order("900", 10, OrderStatus::Open, vec![line("1", "A", 2)]);
    unpriced.lines[0].unit_price_minor = None;
    unpriced.lines[0].fulfilled_quantity = 1;
    unpriced.currency = None;
    ledger
        .book_order(CHANNEL, "default", &unpriced)
        .await
        .unwrap();
    let booked = ledger.order(CHANNEL, "900").await.unwrap().unwrap();
    assert_eq!(booked.lines[0].committed_quantity, 1);
    assert_eq!(booked.lines[0].unit_price_minor, Some(1250));
    assert_eq!(booked.currency.as_deref(), Some("EUR"));
    assert_eq!(booked.total_minor, Some(2500));
    assert_invariants(&ledger).await;
}
