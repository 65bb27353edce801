//! Webhooks: verified by the `Authorization` header (HMAC-SHA256 with the app secret over the
//! app key followed by the raw body, compared in constant time).
//!
//! Topics acted on: 1 (order status change), 11 (cancellation status change) and 12 (return
//! status change) name an order, whose detail the runtime then fetches; 6 (seller
//! deauthorization) and 7 (upcoming authorization expiration) are alerts. The notification id
//! (`tts_notification_id`) becomes the booked events' delivery id, so a redelivery books
//! nothing twice.

use crate::sign::{sign_webhook, signatures_match};
use omnistock_connector::{WebhookError, WebhookRequest};
use serde::Deserialize;

pub const HEADER_AUTHORIZATION: &str = "authorization";

pub const TOPIC_ORDER_STATUS: i64 = 1;
pub const TOPIC_DEAUTHORIZATION: i64 = 6;
pub const TOPIC_AUTHORIZATION_EXPIRING: i64 = 7;
pub const TOPIC_CANCELLATION_STATUS: i64 = 11;
pub const TOPIC_RETURN_STATUS: i64 = 12;

#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(rename = "type")]
    topic: i64,
    #[serde(default)]
    tts_notification_id: Option<String>,
    #[serde(default)]
    shop_id: Option<String>,
    #[serde(default)]
    data: serde_json::Value,
}

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Fetch this order's detail and book it.
    Order {
        notification_id: Option<String>,
        order_id: String,
        topic: i64,
    },
    /// The seller deauthorized the app.
    Deauthorized { shop_id: Option<String> },
    /// The authorization expires at `expiration_time` (Unix seconds, when given).
    AuthorizationExpiring { expiration_time: Option<i64> },
}

/// Verifies and reads one delivery.
pub fn verify_and_read(
    app_key: &str,
    app_secret: &str,
    shop_id: Option<&str>,
    request: &WebhookRequest<'_>,
) -> Result<Delivery, WebhookError> {
    let received = request
        .headers
        .get(HEADER_AUTHORIZATION)
        .ok_or_else(|| WebhookError::BadSignature("no Authorization header".into()))?;
    let expected = sign_webhook(app_secret, app_key, request.body);
    if !signatures_match(&expected, received) {
        return Err(WebhookError::BadSignature(
            "the Authorization signature does not match the body".into(),
        ));
    }
    let notification: Notification = serde_json::from_slice(request.body)
        .map_err(|error| WebhookError::Malformed(format!("not a TikTok notification: {error}")))?;
    if let (Some(expected), Some(actual)) = (shop_id, notification.shop_id.as_deref()) {
        if expected != actual {
            return Err(WebhookError::Malformed(format!(
                "notification for shop {actual}, this channel is shop {expected}"
            )));
        }
    }
    match notification.topic {
        TOPIC_ORDER_STATUS | TOPIC_CANCELLATION_STATUS | TOPIC_RETURN_STATUS => {
            let order_id = match notification.data.get("order_id") {
                Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
                Some(serde_json::Value::Number(id)) => id.to_string(),
                _ => {
                    return Err(WebhookError::Malformed(
                        "order notification without data.order_id".into(),
                    ))
                }
            };
            Ok(Delivery::Order {
                notification_id: notification.tts_notification_id,
                order_id,
                topic: notification.topic,
            })
        }
        TOPIC_DEAUTHORIZATION => Ok(Delivery::Deauthorized {
            shop_id: notification.shop_id,
        }),
        TOPIC_AUTHORIZATION_EXPIRING => {
            let expiration_time = match notification.data.get("expiration_time") {
                Some(serde_json::Value::String(text)) => text.trim().parse().ok(),
                Some(serde_json::Value::Number(number)) => number.as_i64(),
                _ => None,
            };
            Ok(Delivery::AuthorizationExpiring { expiration_time })
        }
        other => Err(WebhookError::IgnoredTopic(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn request<'a>(headers: &'a BTreeMap<String, String>, body: &'a [u8]) -> WebhookRequest<'a> {
        WebhookRequest { headers, body }
    }

    #[test]
    fn the_documented_example_is_read_once_verified() {
        let body = br#"{"type":1,"tts_notification_id":"7327112393057371910","shop_id":"7494049642642441621","timestamp":1644412885,"data":{"order_id":"576486316948490001","order_status":"UNPAID","is_on_hold_order":false,"update_time":1644412885}}"#;
        let mut headers = BTreeMap::new();
        headers.insert(
            HEADER_AUTHORIZATION.to_string(),
            sign_webhook("secret", "key", body),
        );
        assert_eq!(
            verify_and_read(
                "key",
                "secret",
                Some("7494049642642441621"),
                &request(&headers, body)
            ),
            Ok(Delivery::Order {
                notification_id: Some("7327112393057371910".into()),
                order_id: "576486316948490001".into(),
                topic: 1
            })
        );
        assert!(matches!(
            verify_and_read("key", "other", None, &request(&headers, body)),
            Err(WebhookError::BadSignature(_))
        ));
        assert!(matches!(
            verify_and_read("key", "secret", Some("1"), &request(&headers, body)),
            Err(WebhookError::Malformed(_))
        ));
    }
}
