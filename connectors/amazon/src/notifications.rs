//! `ORDER_CHANGE` notifications (Notifications API, delivered to an SQS queue the seller owns,
//! one notification per message body) read into order events; the queue itself is read by
//! `sqs/`, and [`read_message`] says what each message asks of the runtime.
//!
//! An `OrderLevel` notification carries every item of the order, so its summary is a full
//! snapshot: status, items with seller SKU and quantities, fulfillment channel. An
//! `OrderItemLevel` notification carries one item only and is not a snapshot: the order must be
//! read again (`getOrder` and `getOrderItems`) before it is booked.

use crate::orders::{self, MappingError, Order, OrderItem};
use crate::sqs::QueueMessage;
use omnistock_connector::{NotificationContent, OrderEvent, QueuedNotification};
use serde::Deserialize;

/// The notification type omnistock subscribes to.
pub const ORDER_CHANGE: &str = "ORDER_CHANGE";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Notification {
    event_time: String,
    payload: Payload,
    notification_metadata: Metadata,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Payload {
    order_change_notification: OrderChange,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata {
    notification_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderChange {
    notification_level: String,
    amazon_order_id: String,
    order_change_trigger: Trigger,
    summary: Summary,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Trigger {
    #[serde(default)]
    time_of_order_change: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Summary {
    order_status: String,
    #[serde(default)]
    purchase_date: Option<String>,
    fulfillment_type: String,
    order_items: Vec<SummaryItem>,
}

#[derive(Debug, Deserialize)]
struct SummaryItem {
    #[serde(rename = "OrderItemId")]
    order_item_id: String,
    #[serde(rename = "SellerSKU")]
    seller_sku: String,
    #[serde(rename = "Quantity")]
    quantity: i64,
    #[serde(rename = "QuantityShipped", default)]
    quantity_shipped: Option<i64>,
}

/// What one notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderNotification {
    /// The order's state, to book as is (its delivery id is the notification id).
    Snapshot(OrderEvent),
    /// Only part of the order: read it again before booking.
    ReadAgain { order_id: String },
    /// Another notification type: acknowledge and drop.
    Ignored { notification_type: String },
}

/// Why a message body is not a usable notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("not an ORDER_CHANGE notification: {0}")]
    Malformed(String),
    #[error(transparent)]
    Mapping(#[from] MappingError),
}

/// Reads an SQS message body.
pub fn parse(body: &str) -> Result<OrderNotification, NotificationError> {
    let value: serde_json::Value = serde_json::from_str(body)
        .map_err(|error| NotificationError::Malformed(error.to_string()))?;
    let notification_type = value
        .get("NotificationType")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    if notification_type != ORDER_CHANGE {
        return Ok(OrderNotification::Ignored { notification_type });
    }
    let notification: Notification = serde_json::from_value(value)
        .map_err(|error| NotificationError::Malformed(error.to_string()))?;
    let change = notification.payload.order_change_notification;
    if change.notification_level != "OrderLevel" {
        return Ok(OrderNotification::ReadAgain {
            order_id: change.amazon_order_id,
        });
    }
    // The change's own instant orders it against polled snapshots (`LastUpdateDate`).
    let updated = change
        .order_change_trigger
        .time_of_order_change
        .unwrap_or(notification.event_time);
    let order = Order {
        amazon_order_id: change.amazon_order_id,
        purchase_date: change.summary.purchase_date.unwrap_or_default(),
        last_update_date: updated,
        order_status: change.summary.order_status,
        fulfillment_channel: Some(change.summary.fulfillment_type),
        order_total: None,
    };
    let items: Vec<OrderItem> = change
        .summary
        .order_items
        .into_iter()
        .map(|item| OrderItem {
            order_item_id: item.order_item_id,
            seller_sku: Some(item.seller_sku),
            quantity_ordered: item.quantity,
            quantity_shipped: item.quantity_shipped,
            item_price: None,
        })
        .collect();
    let mut event = orders::to_event(&order, &items)?;
    event.delivery_id = Some(notification.notification_metadata.notification_id);
    Ok(OrderNotification::Snapshot(event))
}

/// What one queue message asks of the runtime: book its snapshot, acknowledge it without
/// booking (another type; an item-level change, which the poll reads whole), or leave it for
/// the queue's redrive policy (a body that is no notification).
pub fn read_message(message: QueueMessage) -> QueuedNotification {
    let deliveries = message.receive_count();
    let content = match parse(&message.body) {
        Ok(OrderNotification::Snapshot(event)) => NotificationContent::Orders(vec![event]),
        Ok(OrderNotification::ReadAgain { order_id }) => NotificationContent::Nothing {
            reason: format!(
                "an order-item-level notification of order {order_id}: the poll reads the whole order"
            ),
        },
        Ok(OrderNotification::Ignored { notification_type }) => NotificationContent::Nothing {
            reason: format!("a notification of type {notification_type:?}"),
        },
        Err(error) => NotificationContent::Unreadable {
            error: error.to_string(),
        },
    };
    QueuedNotification {
        message_id: message.message_id,
        receipt: message.receipt_handle,
        deliveries,
        content,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use omnistock_connector::OrderStatus;
    use serde_json::json;

    /// A notification as Amazon documents it, with `level` and `channel` of choice.
    pub(super) fn sample(level: &str, channel: &str, status: &str) -> serde_json::Value {
        json!({
            "NotificationVersion": "1.0",
            "NotificationType": "ORDER_CHANGE",
            "PayloadVersion": "1.0",
            "EventTime": "2026-12-06T21:00:01.000Z",
            "Payload": {"OrderChangeNotification": {
                "NotificationLevel": level,
                "SellerId": "A2FAKESELLER",
                "AmazonOrderId": "302-0000001-0000001",
                "OrderChangeType": "OrderStatusChange",
                "OrderChangeTrigger": {"TimeOfOrderChange": "2026-12-06T21:00:00.000Z", "ChangeReason": "Order status changed"},
                "Summary": {
                    "MarketplaceId": "A1PA6795UKMFR9",
                    "OrderStatus": status,
                    "PurchaseDate": "2026-12-06T20:59:00.000Z",
                    "DestinationPostalCode": "10115",
                    "FulfillmentType": channel,
                    "OrderType": "StandardOrder",
                    "NumberOfItemsShipped": 0,
                    "NumberOfItemsUnshipped": 2,
                    "OrderItems": [{"OrderItemId": "40000000000002", "SellerSKU": "SKU-1",
                        "SupplySourceId": "d7679e14-031b-4ab3-a81b-ec4fc7a460b3", "Quantity": 2, "QuantityShipped": 0}]
                }
            }},
            "NotificationMetadata": {
                "ApplicationId": "amzn1.sellerapps.app.fake",
                "SubscriptionId": "fake-subscription",
                "PublishTime": "2026-12-06T21:00:02.000Z",
                "NotificationId": "a1b2c3d4-0000-4000-8000-000000000001"
            }
        })
    }

    #[test]
    fn an_order_level_notification_is_a_snapshot_deduplicated_on_its_id() {
        let body = sample("OrderLevel", "MFN", "Unshipped").to_string();
        let OrderNotification::Snapshot(event) = parse(&body).unwrap() else {
            panic!("expected a snapshot");
        };
        assert_eq!(event.external_order_id, "302-0000001-0000001");
        assert_eq!(
            event.delivery_id.as_deref(),
            Some("a1b2c3d4-0000-4000-8000-000000000001")
        );
        assert_eq!(event.status, OrderStatus::Open);
        assert_eq!(event.lines[0].sku.as_deref(), Some("SKU-1"));
        assert_eq!(event.updated_at.to_rfc3339(), "2026-12-06T21:00:00+00:00");
        let OrderNotification::Snapshot(fba) =
            parse(&sample("OrderLevel", "AFN", "Shipped").to_string()).unwrap()
        else {
            panic!("expected a snapshot");
        };
        assert_eq!(fba.lines[0].sku, None, "FBA lines book nothing");
    }

    #[test]
    fn item_level_and_other_notifications_are_not_booked_as_they_are() {
        assert_eq!(
            parse(&sample("OrderItemLevel", "MFN", "Unshipped").to_string()).unwrap(),
            OrderNotification::ReadAgain {
                order_id: "302-0000001-0000001".into()
            }
        );
        assert_eq!(
            parse(r#"{"NotificationType": "ANY_OFFER_CHANGED"}"#).unwrap(),
            OrderNotification::Ignored {
                notification_type: "ANY_OFFER_CHANGED".into()
            }
        );
        assert!(parse("not json").is_err());
    }

    #[test]
    fn a_message_is_booked_acknowledged_or_left_for_the_redrive_policy() {
        let message = |body: String| QueueMessage {
            message_id: "m-1".into(),
            receipt_handle: "handle-1".into(),
            body,
            attributes: [("ApproximateReceiveCount".to_string(), "3".to_string())].into(),
        };
        let booked = read_message(message(
            sample("OrderLevel", "MFN", "Unshipped").to_string(),
        ));
        assert_eq!(
            (booked.receipt.as_str(), booked.deliveries),
            ("handle-1", Some(3))
        );
        assert!(
            matches!(&booked.content, NotificationContent::Orders(events) if events.len() == 1)
        );
        let item_level = read_message(message(
            sample("OrderItemLevel", "MFN", "Unshipped").to_string(),
        ));
        assert!(matches!(
            item_level.content,
            NotificationContent::Nothing { .. }
        ));
        let broken = read_message(message("{\"NotificationType\": \"ORDER_CHANGE\"}".into()));
        assert!(
            matches!(&broken.content, NotificationContent::Unreadable { error } if error.contains("missing field")),
            "{broken:?}"
        );
    }

    /// The sample is valid against Amazon's notification schema, when it is there.
    #[cfg(feature = "fake")]
    #[test]
    fn the_sample_matches_the_official_schema() {
        let path = crate::fake::specs_dir().join("OrderChangeNotification.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipped: {} is not there", path.display());
            return;
        };
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut errors = Vec::new();
        crate::fake::schema::validate(
            &schema,
            &sample("OrderLevel", "MFN", "Unshipped"),
            &schema,
            "notification",
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
    }
}
