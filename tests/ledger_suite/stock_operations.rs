//! Operator stock operations (receive, adjust, move, counts), line operations, bulk stock and
//! listings imports, and text and numbers that must round-trip.

use super::*;

pub(crate) async fn operator_operations_apply_once_per_key(database: &TestDatabase) {
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
pub(crate) async fn a_journal_row_with_an_unknown_reason_is_an_error(database: &TestDatabase) {
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

pub(crate) async fn operator_operations_refuse_negative_on_hand(database: &TestDatabase) {
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

pub(crate) async fn unknown_sku_and_location_are_named(database: &TestDatabase) {
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

pub(crate) async fn line_operations_apply_once_per_key(database: &TestDatabase) {
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

/// Bookings pass their rows to the database as JSON: quotes, backslashes, placeholders, JSON
/// syntax, non-ASCII text and integers beyond a double's precision come back exactly.
pub(crate) async fn awkward_text_and_large_numbers_round_trip(database: &TestDatabase) {
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

pub(crate) async fn stock_import_applies_everything_or_nothing(database: &TestDatabase) {
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

pub(crate) async fn listings_import_binds_everything_or_nothing(database: &TestDatabase) {
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
