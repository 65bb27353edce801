//! Orders by polling against the fake: update-time windows, statuses, detail in batches of 50.

use crate::harness::{connector_with, per_warehouse, start_fake};
use omnistock_connector::{Connector, OrderEvent, OrderStatus};
use omnistock_tiktok::fake::{ORDER_DETAIL, ORDER_SEARCH};
use omnistock_tiktok::TikTokConnector;

async fn pull_all(
    connector: &TikTokConnector,
    cursor: Option<String>,
) -> (Option<String>, Vec<OrderEvent>) {
    let mut cursor = cursor;
    let mut events = Vec::new();
    loop {
        let page = connector.pull_orders(cursor.as_deref()).await.unwrap();
        events.extend(page.orders);
        cursor = page.next_cursor;
        if !page.has_more {
            return (cursor, events);
        }
    }
}

#[tokio::test]
async fn statuses_follow_the_order_through_its_life() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("LIFE", 10);
    let order = fake.place_order(&[(listing.clone(), 2)]).unwrap();
    let (cursor, events) = pull_all(&connector, None).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, OrderStatus::Open);
    assert_eq!(events[0].lines[0].target_state(OrderStatus::Open).open, 2);

    fake.set_order_status(&order, "IN_TRANSIT").unwrap();
    let (cursor, events) = pull_all(&connector, cursor).await;
    assert_eq!(
        events.len(),
        1,
        "the change in the same second is not dropped"
    );
    let state = events[0].lines[0].target_state(events[0].status);
    assert_eq!(
        (events[0].status, state.open, state.committed),
        (OrderStatus::Fulfilled, 0, 2)
    );

    let (_, events) = pull_all(&connector, cursor).await;
    assert!(
        events.is_empty(),
        "the overlap is not returned twice: {events:?}"
    );
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
}

#[tokio::test]
async fn the_search_is_sorted_by_update_time_in_pages() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let mut config = fake.channel_config();
    config.orders_page_size = Some(3);
    let connector = connector_with(config);
    let listing = fake.create_listing("PAGES", 100);
    let orders: Vec<_> = (0..7).map(|_| vec![(listing.clone(), 1)]).collect();
    let placed = fake.place_orders(&orders).unwrap();
    let before = fake.requests(ORDER_SEARCH);
    let (_, events) = pull_all(&connector, None).await;
    let ids: Vec<String> = events
        .iter()
        .map(|event| event.external_order_id.clone())
        .collect();
    assert_eq!(ids, placed);
    assert_eq!(fake.requests(ORDER_SEARCH) - before, 3);
}

#[tokio::test]
async fn details_are_fetched_fifty_ids_at_a_time() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("DETAIL", 100);
    let orders: Vec<_> = (0..51).map(|_| vec![(listing.clone(), 1)]).collect();
    let placed = fake.place_orders(&orders).unwrap();
    let before = fake.requests(ORDER_DETAIL);
    let events = connector.fetch_orders(&placed).await.unwrap();
    assert_eq!(events.len(), 51);
    assert_eq!(fake.requests(ORDER_DETAIL) - before, 2);
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
}

#[tokio::test]
async fn a_start_cursor_reads_from_the_floor() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("FLOOR", 10);
    fake.place_order(&[(listing, 1)]).unwrap();
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    let (_, events) = pull_all(&connector, connector.start_cursor(later)).await;
    assert!(events.is_empty());
}

#[tokio::test]
async fn units_returned_and_accepted_come_back_as_returned() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("RETURN", 10);
    let order = fake.place_order(&[(listing.clone(), 3)]).unwrap();
    fake.set_order_status(&order, "DELIVERED").unwrap();
    let refund_only = fake
        .request_return(
            &order,
            &listing,
            1,
            "REFUND",
            "RETURN_OR_REFUND_REQUEST_COMPLETE",
        )
        .unwrap();
    let returned = fake
        .request_return(
            &order,
            &listing,
            2,
            "RETURN_AND_REFUND",
            "BUYER_SHIPPED_ITEM",
        )
        .unwrap();
    let events = connector
        .fetch_orders(std::slice::from_ref(&order))
        .await
        .unwrap();
    assert_eq!(
        events[0].lines[0].returned_quantity, 0,
        "nothing received yet"
    );
    fake.set_return_status(&returned, "RETURN_OR_REFUND_REQUEST_COMPLETE");
    let events = connector
        .fetch_orders(std::slice::from_ref(&order))
        .await
        .unwrap();
    let state = events[0].lines[0].target_state(events[0].status);
    assert_eq!(
        (state.committed, state.returned),
        (3, 2),
        "a refund without return brings nothing back"
    );
    assert_ne!(refund_only, returned);
    let (_, polled) = pull_all(&connector, None).await;
    assert_eq!(
        polled[0].lines[0].returned_quantity, 2,
        "polling reads returns too"
    );
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
}

#[tokio::test]
async fn per_warehouse_orders_name_the_listing_and_location_of_their_warehouse() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(per_warehouse(&fake));
    let sku = fake
        .create_product(&[("RED", &[("W1", 5), ("W2", 5), ("W9", 5)])])
        .remove(0);
    let from_west = fake.place_order_from("W2", &[(sku.clone(), 2)]).unwrap();
    let from_unmapped = fake.place_order_from("W9", &[(sku.clone(), 1)]).unwrap();
    assert_eq!(
        fake.quantity(&format!("{sku}:W2")),
        Some(3),
        "taken from W2"
    );
    assert_eq!(fake.quantity(&format!("{sku}:W1")), Some(5));

    let (_, polled) = pull_all(&connector, None).await;
    let fetched = connector
        .fetch_orders(&[from_west.clone(), from_unmapped.clone()])
        .await
        .unwrap();
    for events in [&polled, &fetched] {
        let west = events
            .iter()
            .find(|event| event.external_order_id == from_west)
            .expect("the W2 order");
        assert_eq!(west.location.as_deref(), Some("west"));
        assert_eq!(
            west.lines[0].listing_id.as_deref(),
            Some(format!("{sku}:W2").as_str())
        );
        assert_eq!(west.lines[0].line_id, sku, "the line id stays the SKU's");
        assert_eq!(west.lines[0].quantity, 2);
        let unmapped = events
            .iter()
            .find(|event| event.external_order_id == from_unmapped)
            .expect("the W9 order");
        assert_eq!(
            unmapped.location, None,
            "an unmapped warehouse has no location"
        );
        assert_eq!(
            unmapped.lines[0].listing_id.as_deref(),
            Some(format!("{sku}:W9").as_str())
        );
    }
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
}

#[tokio::test]
async fn without_warehouses_mapped_lines_name_the_sku_listing_and_no_location() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("PLAIN", 5);
    fake.place_order(&[(listing.clone(), 1)]).unwrap();
    let (_, events) = pull_all(&connector, None).await;
    assert_eq!(
        events[0].lines[0].listing_id.as_deref(),
        Some(listing.as_str())
    );
    assert_eq!(events[0].location, None);
}
