//! `ORDER_CHANGE` notifications through the seller's SQS queue, against a local `moto_server`
//! (skipped, saying so, where moto is not installed; CI installs it): a received message
//! becomes a snapshot deduplicated on the notification id, stays in the queue until
//! acknowledged (delivered again after its visibility timeout), and an unreadable one is
//! never deleted by the connector.

use omnistock_amazon::fake::sqs::{order_change, LocalSqs};
use omnistock_amazon::{AmazonChannelConfig, AmazonConnector};
use omnistock_connector::{Connector, NotificationContent, OrderStatus, QueuedNotification};
use serde_json::json;
use std::time::Duration;

/// An Amazon channel reading `queue_url` (its SP-API is never called here).
fn connector(sqs: &LocalSqs, queue_url: &str, visibility_secs: u32) -> AmazonConnector {
    connector_with(sqs.queue_settings(queue_url, visibility_secs))
}

fn connector_with(queue_settings: serde_json::Value) -> AmazonConnector {
    let config: AmazonChannelConfig = serde_json::from_value(json!({
        "region": "EU",
        "marketplace_ids": ["A1PA6795UKMFR9"],
        "seller_id": "A2FAKESELLER",
        "client_id": "amzn1.application-oa2-client.test",
        "client_secret": "secret",
        "refresh_token": "Atzr|test",
        "api_origin": "http://127.0.0.1:9",
        "token_url": "http://127.0.0.1:9/auth/o2/token",
        "notifications": queue_settings,
    }))
    .unwrap();
    AmazonConnector::new(config).unwrap()
}

/// Receives until `count` messages came or 10 s passed.
async fn receive(connector: &AmazonConnector, count: usize) -> Vec<QueuedNotification> {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received.len() < count && tokio::time::Instant::now() < deadline {
        received.extend(
            connector
                .receive_notifications()
                .await
                .unwrap()
                .notifications,
        );
    }
    received
}

#[tokio::test]
async fn a_notification_is_a_snapshot_and_leaves_the_queue_only_when_acknowledged() {
    let Some(sqs) = LocalSqs::start() else { return };
    let queue = sqs.create_queue("orders-ack", 1).await;
    let connector = connector(&sqs, &queue, 1);
    assert!(connector.has_notification_queue());
    let body = order_change(
        "n-1",
        "302-1111111-0000001",
        "Unshipped",
        "SKU-1",
        2,
        "2026-12-06T21:00:00.000Z",
    );
    sqs.send(&queue, &body).await;

    let first = receive(&connector, 1).await;
    assert_eq!(first.len(), 1);
    let NotificationContent::Orders(events) = &first[0].content else {
        panic!("expected a snapshot: {:?}", first[0]);
    };
    assert_eq!(events[0].external_order_id, "302-1111111-0000001");
    assert_eq!(events[0].delivery_id.as_deref(), Some("n-1"));
    assert_eq!(events[0].status, OrderStatus::Open);
    assert_eq!(events[0].lines[0].sku.as_deref(), Some("SKU-1"));
    assert_eq!(first[0].deliveries, Some(1));

    // Not acknowledged: delivered again once its visibility timeout ends.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let again = receive(&connector, 1).await;
    assert_eq!(again.len(), 1, "an unacknowledged message comes back");
    assert_eq!(again[0].message_id, first[0].message_id);
    assert_eq!(again[0].deliveries, Some(2));
    assert_eq!(sqs.messages_left(&queue).await, 1);

    connector
        .acknowledge_notifications(&[again[0].receipt.clone()])
        .await
        .unwrap();
    assert_eq!(
        sqs.messages_left(&queue).await,
        0,
        "deleted once acknowledged"
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(connector
        .receive_notifications()
        .await
        .unwrap()
        .notifications
        .is_empty());
}

#[tokio::test]
async fn an_unreadable_message_is_reported_and_left_in_the_queue() {
    let Some(sqs) = LocalSqs::start() else { return };
    let queue = sqs.create_queue("orders-unreadable", 30).await;
    let connector = connector(&sqs, &queue, 30);
    sqs.send(
        &queue,
        r#"{"NotificationType": "ORDER_CHANGE", "Payload": 7}"#,
    )
    .await;
    sqs.send(&queue, r#"{"NotificationType": "ANY_OFFER_CHANGED"}"#)
        .await;

    let received = receive(&connector, 2).await;
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(received
        .iter()
        .any(|message| matches!(message.content, NotificationContent::Unreadable { .. })));
    assert!(received
        .iter()
        .any(|message| matches!(message.content, NotificationContent::Nothing { .. })));
    assert_eq!(
        sqs.messages_left(&queue).await,
        2,
        "receiving deletes nothing; the runtime acknowledges what it booked or skipped"
    );
}

#[tokio::test]
async fn a_missing_queue_is_a_configuration_error() {
    let Some(sqs) = LocalSqs::start() else { return };
    let missing = format!(
        "{}/{}/no-such-queue",
        sqs.endpoint(),
        omnistock_amazon::fake::sqs::ACCOUNT
    );
    let connector = connector(&sqs, &missing, 30);
    let error = connector.receive_notifications().await.unwrap_err();
    assert!(
        matches!(&error, omnistock_connector::ConnectorError::Configuration(text) if text.contains("NonExistentQueue") || text.contains("QueueDoesNotExist")),
        "{error:?}"
    );
}

#[tokio::test]
async fn requests_carry_a_sigv4_signature_the_server_verifies() {
    // Five unsigned calls: the IAM user, its policy and key, the queue, the message.
    let Some((sqs, key_id, secret)) = LocalSqs::start_verifying_signatures(5).await else {
        return;
    };
    let queue = sqs.create_queue("orders-signed", 30).await;
    sqs.send(
        &queue,
        &order_change(
            "n-s",
            "302-1111111-0000009",
            "Unshipped",
            "SKU-1",
            1,
            "2026-12-06T21:00:00.000Z",
        ),
    )
    .await;
    let settings = |secret: &str| {
        let mut settings = sqs.queue_settings(&queue, 30);
        settings["access_key_id"] = json!(key_id);
        settings["secret_access_key"] = json!(secret);
        settings
    };

    let forged = connector_with(settings("not-the-secret"));
    let refused = forged.receive_notifications().await.unwrap_err();
    assert!(
        matches!(&refused, omnistock_connector::ConnectorError::Configuration(text) if text.contains("Signature")),
        "{refused:?}"
    );

    let signed = connector_with(settings(&secret));
    let received = receive(&signed, 1).await;
    assert_eq!(received.len(), 1, "the signed receive is accepted");
    let receipts: Vec<String> = received
        .iter()
        .map(|message| message.receipt.clone())
        .collect();
    signed.acknowledge_notifications(&receipts).await.unwrap();
}
