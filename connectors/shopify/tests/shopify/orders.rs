use crate::harness::{connector, request, start_fake};
use omnistock_connector::{Connector, OrderEvent, OrderStatus};
use omnistock_shopify::fake::now_seconds;
use std::collections::BTreeSet;

async fn pull_everything(
    connector: &dyn Connector,
    mut cursor: Option<String>,
) -> (Option<String>, Vec<OrderEvent>) {
    let mut events = Vec::new();
    for _ in 0..100 {
        let page = connector.pull_orders(cursor.as_deref()).await.unwrap();
        events.extend(page.orders);
        cursor = page.next_cursor.or(cursor);
        if !page.has_more {
            return (cursor, events);
        }
    }
    panic!("has_more never turned false");
}

fn without_delivery(event: &OrderEvent) -> OrderEvent {
    OrderEvent {
        delivery_id: None,
        ..event.clone()
    }
}

async fn polled(connector: &dyn Connector, order: &str) -> OrderEvent {
    let (_, events) = pull_everything(connector, None).await;
    let found: Vec<_> = events
        .iter()
        .filter(|event| event.external_order_id == order)
        .collect();
    assert_eq!(found.len(), 1, "order {order} pulled {} times", found.len());
    found[0].clone()
}

#[tokio::test]
async fn webhook_and_poll_map_identically_through_an_orders_life() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let shirt = fake.create_listing("SHIRT", 20);
    let mug = fake.create_listing("MUG", 20);
    let order = fake
        .place_order(&[(shirt.clone(), 3), (mug.clone(), 2)])
        .unwrap();
    let lines = fake.line_items(&order).unwrap();
    let secret = fake.options().client_secret.clone();

    let check = |topic: &'static str| {
        let delivery = fake.webhook(&order, topic, &secret).unwrap();
        (topic, delivery)
    };
    let mut steps = vec![check("orders/create")];
    let created = connector
        .parse_webhook(&request(&steps[0].1).request())
        .unwrap();
    assert_eq!(created[0].status, OrderStatus::Open);
    assert_eq!(
        created[0].lines[0].listing_id.as_deref(),
        Some(shirt.as_str())
    );
    assert_eq!(created[0].lines[0].sku.as_deref(), Some("SHIRT"));

    let compare = |delivery: &omnistock_shopify::fake::Delivery, polled: &OrderEvent| {
        let events = connector
            .parse_webhook(&request(delivery).request())
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(without_delivery(&events[0]), without_delivery(polled));
        events[0].clone()
    };
    let first = polled(connector.as_ref(), &order).await;
    compare(&steps[0].1, &first);

    // Ship 2 shirts and every mug; refund one shipped shirt as a return and cancel the third.
    fake.fulfill(&order, &lines[0], 2).unwrap();
    fake.fulfill(&order, &lines[1], 2).unwrap();
    steps.push(check("orders/partially_fulfilled"));
    let partial = compare(&steps[1].1, &polled(connector.as_ref(), &order).await);
    assert_eq!(partial.status, OrderStatus::Open);
    assert_eq!(partial.lines[0].fulfilled_quantity, 2);

    fake.refund(&order, &lines[0], 1, "RETURN").unwrap();
    fake.refund(&order, &lines[0], 1, "CANCEL").unwrap();
    steps.push(check("orders/updated"));
    let settled = compare(&steps[2].1, &polled(connector.as_ref(), &order).await);
    assert_eq!(settled.status, OrderStatus::Fulfilled);
    let shirt_line = &settled.lines[0];
    assert_eq!(
        (
            shirt_line.quantity,
            shirt_line.fulfilled_quantity,
            shirt_line.cancelled_quantity,
            shirt_line.returned_quantity
        ),
        (3, 2, 1, 1)
    );
    assert!(settled.updated_at >= first.updated_at);
}

#[tokio::test]
async fn a_cancelled_order_maps_to_cancelled_by_both_paths() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("CANCEL-ME", 5);
    let order = fake.place_order(&[(listing, 2)]).unwrap();
    fake.cancel_order(&order).unwrap();
    let delivery = fake
        .webhook(&order, "orders/cancelled", &fake.options().client_secret)
        .unwrap();
    let by_webhook = connector
        .parse_webhook(&request(&delivery).request())
        .unwrap();
    let by_poll = polled(connector.as_ref(), &order).await;
    assert_eq!(without_delivery(&by_webhook[0]), without_delivery(&by_poll));
    assert_eq!(by_poll.status, OrderStatus::Cancelled);
    let state = by_poll.lines[0].target_state(by_poll.status);
    assert_eq!(state.open, 0);
}

#[tokio::test]
async fn orders_sharing_one_updated_at_are_neither_skipped_nor_repeated() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("SAME-SECOND", 100);
    let at = now_seconds();
    let placed: Vec<String> = (0..12)
        .map(|_| fake.place_order_at(&[(listing.clone(), 1)], at).unwrap())
        .collect();
    let (cursor, events) = pull_everything(connector.as_ref(), None).await;
    let ids: Vec<String> = events.iter().map(|e| e.external_order_id.clone()).collect();
    assert_eq!(
        ids, placed,
        "12 orders over pages of 5, in order, once each"
    );

    // Resuming with nothing new gives nothing, however often.
    let (cursor, again) = pull_everything(connector.as_ref(), cursor).await;
    assert!(again.is_empty(), "{again:?}");
    let (cursor, again) = pull_everything(connector.as_ref(), cursor).await;
    assert!(again.is_empty(), "{again:?}");

    // A new order stamped with the same second still comes, alone.
    let late = fake.place_order_at(&[(listing.clone(), 1)], at).unwrap();
    let (cursor, found) = pull_everything(connector.as_ref(), cursor).await;
    assert_eq!(
        found
            .iter()
            .map(|e| &e.external_order_id)
            .collect::<Vec<_>>(),
        vec![&late]
    );
    let (_, found) = pull_everything(connector.as_ref(), cursor).await;
    assert!(found.is_empty());

    // Every query filtered with the inclusive compound position and sorted by UPDATED_AT.
    let queries: BTreeSet<String> = fake
        .requests()
        .iter()
        .filter(|r| r.operation_name.as_deref() == Some("OmnistockOrders"))
        .map(|r| {
            r.variables["query"]
                .as_str()
                .unwrap_or("<none>")
                .to_string()
        })
        .collect();
    assert!(
        queries.iter().any(|q| q.starts_with("updated_at:>='")),
        "{queries:?}"
    );
}

#[tokio::test]
async fn an_order_larger_than_one_page_query_is_read_whole() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let lines: Vec<(String, i64)> = (0..25)
        .map(|index| (fake.create_listing(&format!("BIG-{index}"), 5), 1))
        .collect();
    let order = fake.place_order(&lines).unwrap();
    let event = polled(connector.as_ref(), &order).await;
    assert_eq!(event.lines.len(), 25);
    let records = fake.requests();
    assert!(records
        .iter()
        .any(|r| r.operation_name.as_deref() == Some("OmnistockOrder")));
    assert!(
        records.iter().all(|r| r.requested_cost <= 1000.0),
        "a query exceeded the single-query limit"
    );
}

/// One refund mapping for both payload shapes: a legacy restock of shipped units is a return
/// (back in stock), of unshipped units a cancel; a restock type the connector does not know
/// counts as not restocked on both paths.
#[tokio::test]
async fn refunds_map_the_same_by_webhook_and_by_graphql() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let shirt = fake.create_listing("LEGACY-SHIRT", 20);
    let mug = fake.create_listing("LEGACY-MUG", 20);
    let cap = fake.create_listing("FUTURE-CAP", 20);
    let order = fake.place_order(&[(shirt, 3), (mug, 2), (cap, 2)]).unwrap();
    let lines = fake.line_items(&order).unwrap();
    fake.fulfill(&order, &lines[0], 3).unwrap();
    fake.refund(&order, &lines[0], 1, "LEGACY_RESTOCK").unwrap();
    fake.refund(&order, &lines[1], 1, "LEGACY_RESTOCK").unwrap();
    fake.refund(&order, &lines[2], 1, "NO_RESTOCK").unwrap();
    let secret = fake.options().client_secret.clone();
    let delivery = fake.webhook(&order, "orders/updated", &secret).unwrap();
    let by_webhook = connector
        .parse_webhook(&request(&delivery).request())
        .unwrap();
    let by_poll = polled(connector.as_ref(), &order).await;
    assert_eq!(without_delivery(&by_webhook[0]), without_delivery(&by_poll));
    // The same order with the cap's restock type one this code does not know (a REST payload
    // of a later version), or none: mapped as not restocked, like the GraphQL NO_RESTOCK.
    for restock_type in [
        serde_json::json!("some_later_type"),
        serde_json::Value::Null,
    ] {
        let mut payload = fake.order_payload(&order).unwrap();
        for refund in payload["refunds"].as_array_mut().unwrap() {
            for line in refund["refund_line_items"].as_array_mut().unwrap() {
                if line["restock_type"] == "no_restock" {
                    line["restock_type"] = restock_type.clone();
                }
            }
        }
        let unknown = fake.signed(
            "orders/updated",
            serde_json::to_vec(&payload).unwrap(),
            &secret,
        );
        let by_webhook = connector
            .parse_webhook(&request(&unknown).request())
            .unwrap();
        assert_eq!(without_delivery(&by_webhook[0]), without_delivery(&by_poll));
    }
    let quantities: Vec<(i64, i64, i64, i64)> = by_poll
        .lines
        .iter()
        .map(|line| {
            (
                line.quantity,
                line.fulfilled_quantity,
                line.cancelled_quantity,
                line.returned_quantity,
            )
        })
        .collect();
    assert_eq!(
        quantities,
        vec![(3, 3, 0, 1), (2, 0, 1, 0), (2, 1, 0, 0)],
        "shirt: a shipped unit restocked; mug: an unshipped unit released; cap: consumed"
    );
}

/// An order with more lines and fulfillment lines than one query reads is paged to its end:
/// never a partial snapshot, which would release what was not read.
#[tokio::test]
async fn a_polled_order_with_more_lines_than_one_query_reads_is_read_whole() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let lines: Vec<(String, i64)> = (0..110)
        .map(|index| (fake.create_listing(&format!("HUGE-{index}"), 5), 1))
        .collect();
    let huge = fake.place_order(&lines).unwrap();
    let shipped: Vec<(String, i64)> = fake
        .line_items(&huge)
        .unwrap()
        .into_iter()
        .map(|line| (line, 1))
        .collect();
    fake.fulfill_lines(&huge, &shipped).unwrap();

    let event = polled(connector.as_ref(), &huge).await;
    assert_eq!(event.lines.len(), 110);
    assert!(
        event.lines.iter().all(|line| line.fulfilled_quantity == 1),
        "every line shipped"
    );
    assert_eq!(event.status, OrderStatus::Fulfilled);
    assert!(
        fake.requests().iter().all(|r| r.requested_cost <= 1000.0),
        "a query exceeded the single-query limit"
    );
}

/// `Order.fulfillments` and `Order.refunds` are lists cut by `first`: an order with more of
/// them than the order query lists (5), whose last fulfillment and refund also have more lines
/// than one page, is listed in full and read whole, and maps as its webhook does.
#[tokio::test]
async fn a_polled_order_with_many_fulfillments_and_refunds_is_read_whole() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let mut ordered = vec![(fake.create_listing("PARCELS-0", 50), 10)];
    ordered.extend((1..30).map(|index| (fake.create_listing(&format!("PARCELS-{index}"), 50), 3)));
    let order = fake.place_order(&ordered).unwrap();
    let lines = fake.line_items(&order).unwrap();
    // Seven parcels of the first line, then one of a unit of every line (30 lines).
    for _ in 0..7 {
        fake.fulfill(&order, &lines[0], 1).unwrap();
    }
    let every_line: Vec<(String, i64)> = lines.iter().map(|line| (line.clone(), 1)).collect();
    fake.fulfill_lines(&order, &every_line).unwrap();
    // Two unshipped units of the first line cancelled and four shipped returned, in six
    // refunds; then one refund returning a shipped unit of each other line (29 lines).
    for restock in ["CANCEL", "CANCEL", "RETURN", "RETURN", "RETURN", "RETURN"] {
        fake.refund(&order, &lines[0], 1, restock).unwrap();
    }
    let others: Vec<(String, i64)> = lines[1..].iter().map(|line| (line.clone(), 1)).collect();
    fake.refund_lines(&order, &others, "RETURN").unwrap();

    let by_poll = polled(connector.as_ref(), &order).await;
    let first = &by_poll.lines[0];
    assert_eq!(
        (
            first.fulfilled_quantity,
            first.cancelled_quantity,
            first.returned_quantity
        ),
        (8, 2, 4),
        "every fulfillment and refund of the first line counted"
    );
    assert!(
        by_poll.lines[1..]
            .iter()
            .all(|line| (line.fulfilled_quantity, line.returned_quantity) == (1, 1)),
        "the last fulfillment's and refund's lines read to the end: {:?}",
        by_poll.lines
    );
    let delivery = fake
        .webhook(&order, "orders/updated", &fake.options().client_secret)
        .unwrap();
    let by_webhook = connector
        .parse_webhook(&request(&delivery).request())
        .unwrap();
    assert_eq!(without_delivery(&by_webhook[0]), without_delivery(&by_poll));
    let operations: BTreeSet<String> = fake
        .requests()
        .into_iter()
        .filter_map(|r| r.operation_name)
        .collect();
    for operation in [
        "OmnistockOrderParcels",
        "OmnistockParcelLines",
        "OmnistockFulfillmentLines",
        "OmnistockRefundLines",
    ] {
        assert!(
            operations.contains(operation),
            "{operation}: {operations:?}"
        );
    }
    assert!(
        fake.requests().iter().all(|r| r.requested_cost <= 1000.0),
        "a query exceeded the single-query limit"
    );
}

/// An order whose completion would ask for more than half the cost bucket is not booked from
/// polling at all (its webhooks carry it whole), so that it cannot keep the poll throttled.
#[tokio::test]
async fn a_polled_order_too_large_for_the_cost_bucket_is_left_to_its_webhooks() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let parcel = fake.create_listing("MANY-PARCELS", 100);
    let parcels = fake.place_order(&[(parcel, 60)]).unwrap();
    let line = fake.line_items(&parcels).unwrap().remove(0);
    for _ in 0..60 {
        fake.fulfill(&parcels, &line, 1).unwrap();
    }
    let small = fake
        .place_order(&[(fake.create_listing("AFTER-IT", 5), 1)])
        .unwrap();

    let (_, events) = pull_everything(connector.as_ref(), None).await;
    assert!(
        events
            .iter()
            .all(|event| event.external_order_id != parcels),
        "an order not read whole must not be booked from polling"
    );
    assert!(
        events.iter().any(|event| event.external_order_id == small),
        "the orders after it are still polled"
    );
    let delivery = fake
        .webhook(&parcels, "orders/fulfilled", &fake.options().client_secret)
        .unwrap();
    let by_webhook = connector
        .parse_webhook(&request(&delivery).request())
        .unwrap();
    assert_eq!(by_webhook[0].lines[0].fulfilled_quantity, 60);
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.operation_name.as_deref() == Some("OmnistockParcelLines")),
        "no line of it read once it was known too large"
    );
}

/// More orders in the overlap window than one listing holds (50): the window is listed to its
/// end, and every late-indexed order in it delivered once.
#[tokio::test]
async fn polling_lists_a_busy_overlap_window_to_its_end() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("BUSY-WINDOW", 500);
    fake.place_order(&[(listing.clone(), 1)]).unwrap();
    let (cursor, _) = pull_everything(connector.as_ref(), None).await;

    let stamped = now_seconds() - chrono::Duration::seconds(10);
    let late: BTreeSet<String> = (0..60)
        .map(|_| {
            fake.place_order_at(&[(listing.clone(), 1)], stamped)
                .unwrap()
        })
        .collect();
    let (cursor, events) = pull_everything(connector.as_ref(), cursor).await;
    let delivered: BTreeSet<String> = events
        .iter()
        .map(|event| event.external_order_id.clone())
        .collect();
    assert_eq!(delivered, late, "every late order of the window, once");
    assert_eq!(events.len(), late.len());
    let stamp_pages = fake
        .requests()
        .iter()
        .filter(|r| r.operation_name.as_deref() == Some("OmnistockOrderStamps"))
        .count();
    assert!(stamp_pages >= 2, "{stamp_pages} listing pages");
    let (_, events) = pull_everything(connector.as_ref(), cursor).await;
    assert!(events.is_empty(), "{events:?}");
}

/// An order can become visible in Shopify's search index after orders updated later: each
/// poll re-reads a window behind its watermark, and delivers only what it had not delivered.
#[tokio::test]
async fn polling_rereads_an_overlap_window_behind_its_watermark() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("LATE-INDEX", 10);
    let first = fake.place_order(&[(listing.clone(), 1)]).unwrap();
    let (cursor, events) = pull_everything(connector.as_ref(), None).await;
    assert_eq!(events.len(), 1);

    // Stamped 10 s before the watermark, seen only now.
    let late = fake
        .place_order_at(
            &[(listing, 1)],
            now_seconds() - chrono::Duration::seconds(10),
        )
        .unwrap();
    let (cursor, events) = pull_everything(connector.as_ref(), cursor).await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e.external_order_id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec![late.as_str()],
        "the late order, and not {first} again"
    );
    let (_, events) = pull_everything(connector.as_ref(), cursor).await;
    assert!(events.is_empty(), "{events:?}");
}

/// Unit prices and the current total reach the event in cents of the shop currency, the same
/// from a webhook and from a poll, before and after a refund lowers the total.
#[tokio::test]
async fn money_maps_the_same_by_webhook_and_by_poll() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let shirt = fake.create_listing("MONEY-SHIRT", 20);
    let mug = fake.create_listing("MONEY-MUG", 20);
    let order = fake
        .place_order(&[(shirt.clone(), 3), (mug.clone(), 2)])
        .unwrap();
    let (currency, prices, placed_total) = fake.order_money(&order).unwrap();
    assert_ne!(
        prices[&shirt], prices[&mug],
        "the check needs distinct prices"
    );
    let secret = fake.options().client_secret.clone();
    let by_both = || async {
        let delivery = fake.webhook(&order, "orders/updated", &secret).unwrap();
        let by_webhook = connector
            .parse_webhook(&request(&delivery).request())
            .unwrap()
            .remove(0);
        let by_poll = polled(connector.as_ref(), &order).await;
        assert_eq!(without_delivery(&by_webhook), without_delivery(&by_poll));
        by_poll
    };
    let placed = by_both().await;
    assert_eq!(placed.currency.as_deref(), Some(currency.as_str()));
    assert_eq!(
        placed.total_minor,
        Some(3 * prices[&shirt] + 2 * prices[&mug])
    );
    assert_eq!(placed.total_minor, Some(placed_total));
    let unit_prices: Vec<Option<i64>> = placed
        .lines
        .iter()
        .map(|line| line.unit_price_minor)
        .collect();
    assert_eq!(unit_prices, vec![Some(prices[&shirt]), Some(prices[&mug])]);

    let lines = fake.line_items(&order).unwrap();
    fake.refund(&order, &lines[0], 1, "CANCEL").unwrap();
    let refunded = by_both().await;
    assert_eq!(
        refunded.total_minor,
        Some(placed_total - prices[&shirt]),
        "the total is what the buyer pays now"
    );
    assert_eq!(refunded.lines[0].unit_price_minor, Some(prices[&shirt]));
}

/// An amount with more decimals than the currency has is left unknown, never rounded.
#[tokio::test]
async fn an_inexact_webhook_amount_is_left_unknown() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let order = fake
        .place_order(&[(fake.create_listing("ODD-PRICE", 5), 1)])
        .unwrap();
    let mut payload = fake.order_payload(&order).unwrap();
    payload["line_items"][0]["price"] = serde_json::json!("10.005");
    payload["current_total_price"] = serde_json::json!("ten");
    let secret = fake.options().client_secret.clone();
    let delivery = fake.signed(
        "orders/updated",
        serde_json::to_vec(&payload).unwrap(),
        &secret,
    );
    let event = connector
        .parse_webhook(&request(&delivery).request())
        .unwrap()
        .remove(0);
    assert_eq!(event.lines[0].unit_price_minor, None);
    assert_eq!(event.total_minor, None);
    assert_eq!(event.currency.as_deref(), Some("EUR"));
}
