//! Stock policies shaping what each listing shows, and bundles booking and showing their
//! components.

use super::*;

pub(crate) async fn shown(
    ledger: &Ledger,
    skus: &[&str],
    policy: &StockPolicy,
) -> Vec<(String, i64)> {
    let skus: Vec<String> = skus.iter().map(|sku| sku.to_string()).collect();
    ledger
        .push_targets(CHANNEL, &skus, policy)
        .await
        .unwrap()
        .into_iter()
        .map(|target| (target.listing_id, target.quantity))
        .collect()
}

pub(crate) fn pairs(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
    expected
        .iter()
        .map(|(listing, quantity)| (listing.to_string(), *quantity))
        .collect()
}

pub(crate) async fn policy_rules_shape_what_each_listing_shows(database: &TestDatabase) {
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

pub(crate) async fn bundle_shows_its_scarcest_component_and_follows_each(database: &TestDatabase) {
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

pub(crate) async fn selling_a_bundle_books_its_components(database: &TestDatabase) {
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

pub(crate) async fn unknown_line_later_bound_to_a_bundle_books_its_components(
    database: &TestDatabase,
) {
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

/// Per-location listings (a TikTok Shop SKU in two mapped warehouses): bound with their
/// locations, each shows its own location's stock; an order booked at one location lowers only
/// that listing; a refresh moves a listing to another location and asks for its push.
pub(crate) async fn listings_selling_one_location_each_show_and_reserve_there(
    database: &TestDatabase,
) {
    use omnistock::cli::listings::import_located;
    let ledger = seeded(database).await;
    receive(&ledger, "A", "default", 4).await;
    receive(&ledger, "A", "east", 10).await;
    let rows = "channel,listing_id,sku\nsim,A-east,A\nsim,A-west,A\nsim,A-all,A\n";
    let locate = |channel: &str, listing: &str| match (channel, listing) {
        (CHANNEL, "A-east") => Some("east".to_string()),
        (CHANNEL, "A-west") => Some("west".to_string()),
        _ => None,
    };
    assert_eq!(
        import_located(&ledger, "located.csv", rows.as_bytes(), &locate)
            .await
            .unwrap(),
        3
    );
    let west = ledger.listing(CHANNEL, "A-west").await.unwrap().unwrap();
    assert_eq!(west.location.as_deref(), Some("west"));
    assert!(
        ledger
            .locations()
            .await
            .unwrap()
            .contains(&"west".to_string()),
        "a listing's location is created with it"
    );
    let channel_policy = StockPolicy {
        locations: vec!["default".into()],
        ..StockPolicy::new()
    };
    assert_eq!(
        shown(&ledger, &["A"], &channel_policy).await,
        pairs(&[("A-all", 4), ("A-east", 10), ("A-west", 0)]),
        "each listing its own location; the others the channel's"
    );

    // A listing's own override still wins over its location.
    ledger
        .set_listing_policy(
            CHANNEL,
            "A-west",
            &ListingPolicy {
                locations: Some(vec!["east".into(), "default".into()]),
                ..ListingPolicy::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        shown(&ledger, &["A"], &channel_policy).await,
        pairs(&[("A-all", 4), ("A-east", 10), ("A-west", 14)])
    );
    ledger
        .set_listing_policy(CHANNEL, "A-west", &ListingPolicy::default())
        .await
        .unwrap();

    // An order placed at east reserves there: only the east listing goes down.
    let event = order(
        "o-east",
        1,
        OrderStatus::Open,
        vec![listing_line("1", "A-east", 3)],
    );
    ledger.book_order(CHANNEL, "east", &event).await.unwrap();
    assert_eq!(ledger.balance("A", "east").await.unwrap().reserved, 3);
    assert_eq!(
        shown(&ledger, &["A"], &channel_policy).await,
        pairs(&[("A-all", 4), ("A-east", 7), ("A-west", 0)])
    );

    // The mapping changes: west now sells east's stock; the refresh says so and asks for a push.
    let waiting: Vec<i64> = ledger
        .outbox_fetch(100)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.id)
        .collect();
    ledger.outbox_delete(&waiting).await.unwrap();
    let relocate = |listing: &str| match listing {
        "A-east" | "A-west" => Some("east".to_string()),
        _ => None,
    };
    let changes = ledger
        .refresh_listing_locations(CHANNEL, &relocate)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (
            changes[0].listing_id.as_str(),
            changes[0].before.as_deref(),
            changes[0].after.as_deref()
        ),
        ("A-west", Some("west"), Some("east"))
    );
    let outbox: Vec<String> = ledger
        .outbox_fetch(100)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.sku)
        .collect();
    assert_eq!(
        outbox,
        vec!["A".to_string()],
        "the moved listing is pushed again"
    );
    assert_eq!(
        shown(&ledger, &["A"], &channel_policy).await,
        pairs(&[("A-all", 4), ("A-east", 7), ("A-west", 7)])
    );
    assert!(ledger
        .refresh_listing_locations(CHANNEL, &relocate)
        .await
        .unwrap()
        .is_empty());
    assert_invariants(&ledger).await;
}
