//! Webhooks: the documented topics, signatures, the fetched snapshot and the alerts.

use crate::harness::{connector_with, start_fake};
use omnistock_connector::{
    attach_delivery_ids, Connector, ConnectorError, OrderStatus, WebhookError, WebhookRequest,
};
use omnistock_tiktok::fake::APP_SECRET;

#[tokio::test]
async fn order_topics_name_the_order_and_its_detail_is_the_snapshot() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("HOOK", 5);
    let order = fake.place_order(&[(listing, 2)]).unwrap();
    fake.cancel_order(&order).unwrap();
    for topic in [1, 11, 12] {
        let (headers, body) = fake.webhook(topic, &order, APP_SECRET);
        let request = WebhookRequest {
            headers: &headers,
            body: &body,
        };
        assert_eq!(connector.parse_webhook(&request), Ok(Vec::new()));
        let refs = connector.webhook_order_ids(&request).unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].order_id, order);
        let mut events = connector
            .fetch_orders(std::slice::from_ref(&order))
            .await
            .unwrap();
        attach_delivery_ids(&mut events, &refs);
        assert_eq!(events[0].status, OrderStatus::Cancelled);
        assert!(
            events[0].delivery_id.is_some(),
            "the notification id dedups redeliveries"
        );
    }
}

#[tokio::test]
async fn a_wrong_signature_or_an_unknown_topic_is_refused() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let (headers, body) = fake.webhook(1, "1", "not_the_secret");
    let request = WebhookRequest {
        headers: &headers,
        body: &body,
    };
    assert!(matches!(
        connector.webhook_order_ids(&request),
        Err(WebhookError::BadSignature(_))
    ));
    let (headers, body) = fake.webhook(5, "1", APP_SECRET);
    let request = WebhookRequest {
        headers: &headers,
        body: &body,
    };
    assert_eq!(
        connector.parse_webhook(&request),
        Err(WebhookError::IgnoredTopic("5".into()))
    );
}

#[tokio::test]
async fn expiry_is_an_alert_and_deauthorization_stops_the_calls() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("DEAUTH", 5);
    assert!(connector.alerts().is_empty());
    let (headers, body) = fake.webhook(7, "", APP_SECRET);
    let request = WebhookRequest {
        headers: &headers,
        body: &body,
    };
    assert_eq!(connector.webhook_order_ids(&request), Ok(Vec::new()));
    connector
        .read_stock(std::slice::from_ref(&listing))
        .await
        .unwrap();
    let alerts = connector.alerts();
    assert!(
        alerts.len() == 1 && alerts[0].contains("days): the seller must re-authorize"),
        "{alerts:?}"
    );

    let (headers, body) = fake.webhook(6, "", APP_SECRET);
    let request = WebhookRequest {
        headers: &headers,
        body: &body,
    };
    assert_eq!(connector.webhook_order_ids(&request), Ok(Vec::new()));
    let error = connector
        .read_stock(std::slice::from_ref(&listing))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectorError::Configuration(_)),
        "{error:?}"
    );
    assert_eq!(connector.alerts().len(), 2, "{:?}", connector.alerts());
}
