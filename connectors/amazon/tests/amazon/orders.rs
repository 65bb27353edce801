//! Orders by polling: statuses on the ledger's lifecycle, FBA orders recorded without stock,
//! the items call's usage plan honoured by stopping and advising a wait.

use crate::harness::{assert_no_violations, connector, start_fake};
use omnistock_amazon::fake::FakeOptions;
use omnistock_connector::{CallKind, Connector, ConnectorError, OrderEvent, OrderStatus};
use std::time::Duration;

async fn pull_everything(
    connector: &dyn Connector,
    cursor: Option<String>,
) -> (Option<String>, Vec<OrderEvent>) {
    let mut cursor = cursor;
    let mut events = Vec::new();
    for _ in 0..100 {
        let page = connector.pull_orders(cursor.as_deref()).await.unwrap();
        events.extend(page.orders);
        cursor = page.next_cursor;
        if !page.has_more {
            return (cursor, events);
        }
    }
    panic!("the scan never ended");
}

#[tokio::test]
async fn merchant_orders_move_stock_and_fba_orders_are_recorded_without() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    let connector = connector(fake.channel_config());
    let start = connector.start_cursor(chrono::Utc::now() - chrono::Duration::minutes(1));
    fake.create_listing("MFN-1", 10);
    fake.create_fba_listing("FBA-1");
    let merchant = fake.place_order(&[("MFN-1".into(), 2)]).unwrap();
    let amazon = fake
        .place_order_fulfilled_by(&[("FBA-1".into(), 1)], "AFN")
        .unwrap();
    let (cursor, events) = pull_everything(connector.as_ref(), start).await;
    let find = |events: &[OrderEvent], id: &str| {
        events
            .iter()
            .find(|event| event.external_order_id == id)
            .cloned()
            .unwrap()
    };
    let mfn = find(&events, &merchant);
    assert_eq!(mfn.status, OrderStatus::Open);
    assert_eq!(mfn.lines[0].sku.as_deref(), Some("MFN-1"));
    assert_eq!(mfn.lines[0].target_state(mfn.status).open, 2);
    let (prices, total) = fake.order_money(&merchant).unwrap();
    assert_eq!(mfn.lines[0].unit_price_minor, Some(prices["MFN-1"]));
    assert_eq!(mfn.total_minor, Some(total));
    assert_eq!(total, 2 * prices["MFN-1"], "ItemPrice is for both units");
    assert_eq!(mfn.currency.as_deref(), Some("EUR"));
    let afn = find(&events, &amazon);
    assert_eq!(
        afn.lines[0].sku, None,
        "FBA lines name no SKU: they book nothing"
    );
    assert_eq!(afn.lines[0].listing_id, None);
    assert_eq!(afn.lines[0].quantity, 1);

    fake.set_status(&merchant, "Shipped").unwrap();
    let (_, events) = pull_everything(connector.as_ref(), cursor).await;
    assert_eq!(events.len(), 1, "only the changed order: {events:?}");
    let shipped = find(&events, &merchant);
    assert_eq!(shipped.status, OrderStatus::Fulfilled);
    assert_eq!(shipped.lines[0].target_state(shipped.status).committed, 2);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn a_poll_stops_at_the_items_burst_and_advises_the_wait() {
    let options = FakeOptions {
        enforce_usage_plans: true,
        ..FakeOptions::default()
    };
    let Some(fake) = start_fake(options).await else {
        return;
    };
    let connector = connector(fake.channel_config());
    let start = connector.start_cursor(chrono::Utc::now() - chrono::Duration::minutes(1));
    fake.create_listing("BURST", 100);
    for _ in 0..33 {
        fake.place_order(&[("BURST".into(), 1)]).unwrap();
    }
    let page = connector.pull_orders(start.as_deref()).await.unwrap();
    assert_eq!(page.orders.len(), 30, "getOrderItems' burst is 30");
    assert!(page.has_more);
    assert_eq!(fake.requests("getOrderItems"), 30, "no call was refused");
    let wait = connector.wait_before(CallKind::PullOrders).unwrap();
    assert!(
        wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2),
        "{wait:?}"
    );
    tokio::time::sleep(wait).await;
    let page = connector
        .pull_orders(page.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(
        page.orders.len(),
        1,
        "one items token after the advised wait"
    );
    assert_eq!(
        fake.requests("getOrders"),
        1,
        "the waiting orders need no new search"
    );
    assert_no_violations(&fake);
}

#[tokio::test]
async fn a_throttled_search_is_rate_limited_with_the_plans_wait() {
    let options = FakeOptions {
        enforce_usage_plans: true,
        ..FakeOptions::default()
    };
    let Some(fake) = start_fake(options).await else {
        return;
    };
    let connector = connector(fake.channel_config());
    let start = connector.start_cursor(chrono::Utc::now());
    let mut refusal = None;
    for _ in 0..25 {
        match connector.pull_orders(start.as_deref()).await {
            Ok(_) => {}
            Err(error) => {
                refusal = Some(error);
                break;
            }
        }
    }
    assert_eq!(fake.requests("getOrders"), 21, "getOrders' burst is 20");
    match refusal {
        Some(ConnectorError::RateLimited {
            retry_after: Some(wait),
            ..
        }) => {
            assert!(
                wait > Duration::from_secs(50) && wait <= Duration::from_secs(61),
                "{wait:?}"
            )
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    let advised = connector.wait_before(CallKind::PullOrders).unwrap();
    assert!(advised > Duration::from_secs(50), "{advised:?}");
}
