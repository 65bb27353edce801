//! What the pushers read and record: the outbox, cursors, push targets and confirmed quantities,
//! and the sweep's pages of a channel's SKUs.

use super::*;

pub(crate) async fn outbox_records_changed_skus_and_signals(database: &TestDatabase) {
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

pub(crate) async fn cursors_round_trip(database: &TestDatabase) {
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
pub(crate) async fn a_push_read_before_a_sale_there_records_nothing(database: &TestDatabase) {
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
pub(crate) async fn a_push_forgets_the_confirmed_quantity_until_it_is_confirmed(
    database: &TestDatabase,
) {
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
pub(crate) async fn a_sale_by_sku_forgets_the_channels_listings_of_it(database: &TestDatabase) {
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

pub(crate) async fn push_targets_show_whole_listing_units(database: &TestDatabase) {
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

/// The sweep pages through a channel's SKUs: the pages, in order, are exactly the channel's
/// SKUs, each once, even with a bundle whose components fall on different pages; and a walk
/// through the pages' push targets meets every listing once, the bundle on its lowest SKU's page.
pub(crate) async fn channel_sku_pages_cover_every_sku_once(database: &TestDatabase) {
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
            location: None,
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
        location: None,
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
        skus_walked += page.skus.len();
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
