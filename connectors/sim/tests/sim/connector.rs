//! The connector's error classes against a real sim, and webhook topics it ignores.

use crate::harness::start_sim;
use omnistock_connector::{Connector, ConnectorError, StockLevel, WebhookError, WebhookRequest};
use omnistock_sim::wire::{HEADER_SIGNATURE, HEADER_TOPIC};
use omnistock_sim::{signature, Faults, SimChannelConfig, SimConnector};
use std::collections::BTreeMap;

fn level(listing_id: &str, quantity: i64) -> StockLevel {
    StockLevel {
        listing_id: listing_id.into(),
        sku: "SKU".into(),
        quantity,
    }
}

#[tokio::test]
async fn failures_are_classified_for_the_runtime() {
    let sim = start_sim().await;
    sim.create_listing(Some("L-1"), "SKU", 1).unwrap();
    let connector = sim.connector().unwrap();

    sim.set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    let outage = connector.pull_orders(None).await.unwrap_err();
    assert!(
        matches!(outage, ConnectorError::Transient { .. }),
        "{outage:?}"
    );
    sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let injected = connector.push_stock(&[level("L-1", 2)]).await.unwrap_err();
    assert!(
        matches!(injected, ConnectorError::Transient { .. }),
        "{injected:?}"
    );
    sim.set_faults(Faults::default());

    sim.set_faults(Faults {
        latency_ms: 500,
        ..Faults::default()
    });
    let mut impatient = sim.channel_config();
    impatient.request_timeout_ms = Some(50);
    let timed_out = SimConnector::new(impatient)
        .unwrap()
        .read_stock(&["L-1".to_string()])
        .await
        .unwrap_err();
    assert!(
        matches!(timed_out, ConnectorError::Transient { .. }),
        "{timed_out:?}"
    );
    sim.set_faults(Faults::default());

    let too_many: Vec<StockLevel> = (0..=sim.max_batch()).map(|_| level("L-1", 1)).collect();
    let oversized = connector.push_stock(&too_many).await.unwrap_err();
    assert!(
        matches!(oversized, ConnectorError::Permanent(_)),
        "{oversized:?}"
    );

    let mut wrong_token = sim.channel_config();
    wrong_token.api_token = omnistock_connector::Secret::new("wrong");
    let refused = SimConnector::new(wrong_token)
        .unwrap()
        .read_stock(&["L-1".to_string()])
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ConnectorError::Configuration(_)),
        "{refused:?}"
    );

    let negative = connector.push_stock(&[level("L-1", -3)]).await.unwrap();
    assert!(matches!(
        &negative[0],
        omnistock_connector::PushResult::Rejected {
            error: ConnectorError::Permanent(_),
            ..
        }
    ));

    let address = sim.local_addr();
    let config: SimChannelConfig = sim.channel_config();
    sim.shutdown().await;
    let unreachable = SimConnector::new(config)
        .unwrap()
        .pull_orders(None)
        .await
        .unwrap_err();
    assert!(
        matches!(unreachable, ConnectorError::Transient { .. }),
        "{address}: {unreachable:?}"
    );
}

#[tokio::test]
async fn capabilities_follow_the_channel_settings() {
    let sim = start_sim().await;
    let mut config = sim.channel_config();
    config.max_batch = None;
    config.rate_limit = Some("2/s".parse().unwrap());
    let capabilities = SimConnector::new(config).unwrap().capabilities();
    assert_eq!(
        capabilities.max_stock_batch,
        omnistock_sim::DEFAULT_MAX_BATCH
    );
    assert_eq!(
        capabilities.rate_limit,
        Some(omnistock_connector::RateLimit::per_second(2))
    );
    assert!(capabilities.webhooks && capabilities.polling && !capabilities.compare_and_set);
}

#[tokio::test]
async fn signed_webhooks_of_other_topics_are_ignored() {
    let sim = start_sim().await;
    let connector = sim.connector().unwrap();
    let body = br#"{"topic":"listings/updated","listing_id":"L-1"}"#;
    let headers = BTreeMap::from([
        (HEADER_TOPIC.to_string(), "listings/updated".to_string()),
        (
            HEADER_SIGNATURE.to_string(),
            signature::sign(sim.webhook_secret().expose(), body),
        ),
    ]);
    let result = connector.parse_webhook(&WebhookRequest {
        headers: &headers,
        body,
    });
    assert_eq!(
        result,
        Err(WebhookError::IgnoredTopic("listings/updated".into()))
    );
}

/// Every page of orders from `cursor` on, as a poll reads them: the orders and the last cursor.
async fn poll(connector: &SimConnector, cursor: Option<String>) -> (Vec<String>, Option<String>) {
    let mut cursor = cursor;
    let mut orders = Vec::new();
    for _ in 0..100 {
        let page = connector.pull_orders(cursor.as_deref()).await.unwrap();
        orders.extend(page.orders.into_iter().map(|order| order.external_order_id));
        cursor = page.next_cursor.or(cursor);
        if !page.has_more {
            return (orders, cursor);
        }
    }
    panic!("the poll never ended");
}

#[tokio::test]
async fn a_poll_rereads_the_overlap_window_and_never_moves_the_cursor_back() {
    let sim = start_sim().await;
    sim.create_listing(Some("L-1"), "SKU", 100).unwrap();
    let connector = SimConnector::new(SimChannelConfig {
        poll_overlap_ms: Some(60_000),
        ..sim.channel_config()
    })
    .unwrap();
    // More orders than a page, so the re-read window spans several pages.
    let placed: Vec<String> = (0..12)
        .map(|_| {
            sim.place_order(&crate::harness::lines(&[("L-1".to_string(), 1)]))
                .unwrap()
                .id
        })
        .collect();

    let (first, cursor) = poll(&connector, None).await;
    assert_eq!(first, placed);
    let (again, cursor_again) = poll(&connector, cursor.clone()).await;
    assert_eq!(again, placed, "the overlap re-reads the recent orders");
    assert_eq!(cursor_again, cursor, "re-reading does not move the cursor");

    let exact = SimConnector::new(SimChannelConfig {
        poll_overlap_ms: Some(0),
        ..sim.channel_config()
    })
    .unwrap();
    let (none, cursor_exact) = poll(&exact, cursor.clone()).await;
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(cursor_exact, cursor);
}
