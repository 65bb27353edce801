//! Order webhooks: HMAC verification and the REST-style order payload.
//!
//! Shopify signs the raw body with HMAC-SHA256 keyed with the app's client secret and sends
//! the base64 digest in `X-Shopify-Hmac-Sha256`. The order topics carry the whole order, so
//! each delivery maps to a full snapshot (see [`crate::orders`]) stamped with the order's
//! `updated_at`: the ledger ignores a snapshot older than the one it booked, whatever order
//! deliveries arrive in.

use crate::gid::gid;
use crate::orders::{amount_minor, non_empty, LineSnapshot, OrderSnapshot, Restock};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use omnistock_connector::{OrderEvent, WebhookError, WebhookRequest};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const HEADER_HMAC: &str = "x-shopify-hmac-sha256";
pub const HEADER_TOPIC: &str = "x-shopify-topic";
pub const HEADER_SHOP_DOMAIN: &str = "x-shopify-shop-domain";
pub const HEADER_API_VERSION: &str = "x-shopify-api-version";
pub const HEADER_WEBHOOK_ID: &str = "x-shopify-webhook-id";
pub const HEADER_EVENT_ID: &str = "x-shopify-event-id";
pub const HEADER_TRIGGERED_AT: &str = "x-shopify-triggered-at";

/// The topics whose payload is a whole order; each maps to a snapshot.
pub const ORDER_TOPICS: &[&str] = &[
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/paid",
];

/// The `X-Shopify-Hmac-Sha256` value for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            STANDARD.encode(mac.finalize().into_bytes())
        }
        // HMAC accepts keys of any length, so this branch is unreachable in practice.
        Err(_) => String::new(),
    }
}

/// Whether `header` is the signature of `body`, compared in constant time.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Ok(expected) = STANDARD.decode(header.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Why a verified delivery is refused: it is not for this shop, or too old to be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRules<'a> {
    /// The channel's `*.myshopify.com` domain: `X-Shopify-Shop-Domain` must name it.
    pub shop_domain: &'a str,
    /// The oldest delivery accepted: its `X-Shopify-Triggered-At`, and the `updated_at` of
    /// the order it carries (which the HMAC covers, unlike the header), must be later.
    pub max_age: chrono::Duration,
    pub now: DateTime<Utc>,
}

/// Verifies and maps one delivery.
///
/// The HMAC covers only the body, with a secret every store of one app shares, so a delivery
/// captured from one store verifies in another: the shop header must name this channel's shop,
/// and a delivery older than `rules.max_age` is refused (polling brings a genuinely late
/// change in). The delivery id is `X-Shopify-Webhook-Id`, one per delivery and kept by
/// Shopify's retries: `X-Shopify-Event-Id` is shared by every topic one merchant action
/// triggers, so deduplicating on it would drop `orders/cancelled` after `orders/updated`.
pub fn parse(
    client_secret: &str,
    rules: &DeliveryRules<'_>,
    request: &WebhookRequest<'_>,
) -> Result<Vec<OrderEvent>, WebhookError> {
    let header = |name: &str| request.headers.get(name).map(String::as_str);
    let signature = header(HEADER_HMAC)
        .ok_or_else(|| WebhookError::BadSignature(format!("no {HEADER_HMAC} header")))?;
    if !verify(client_secret, request.body, signature) {
        return Err(WebhookError::BadSignature(
            "the hmac does not match the body".into(),
        ));
    }
    let shop = header(HEADER_SHOP_DOMAIN)
        .ok_or_else(|| WebhookError::Malformed(format!("no {HEADER_SHOP_DOMAIN} header")))?;
    if !shop.trim().eq_ignore_ascii_case(rules.shop_domain) {
        return Err(WebhookError::Malformed(format!(
            "delivery for shop {shop}, this channel is {}",
            rules.shop_domain
        )));
    }
    let triggered_at = header(HEADER_TRIGGERED_AT)
        .ok_or_else(|| WebhookError::Malformed(format!("no {HEADER_TRIGGERED_AT} header")))
        .and_then(|text| {
            DateTime::parse_from_rfc3339(text.trim())
                .map(|time| time.with_timezone(&Utc))
                .map_err(|error| {
                    WebhookError::Malformed(format!("{HEADER_TRIGGERED_AT} {text:?}: {error}"))
                })
        })?;
    refuse_if_too_old(rules, "triggered", triggered_at)?;
    let topic = header(HEADER_TOPIC)
        .ok_or_else(|| WebhookError::Malformed(format!("no {HEADER_TOPIC} header")))?;
    if !ORDER_TOPICS.contains(&topic) {
        return Err(WebhookError::IgnoredTopic(topic.to_string()));
    }
    let delivery_id = header(HEADER_WEBHOOK_ID)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| WebhookError::Malformed(format!("no {HEADER_WEBHOOK_ID} header")))?
        .to_string();
    let mut order: RestOrder = serde_json::from_slice(request.body)
        .map_err(|error| WebhookError::Malformed(format!("{topic} payload: {error}")))?;
    match order.updated_at {
        Some(updated_at) => refuse_if_too_old(rules, "updated", updated_at)?,
        // Without the order's own stamp, the time Shopify triggered the delivery orders it.
        None => order.updated_at = Some(triggered_at),
    }
    let snapshot = order
        .into_snapshot()
        .ok_or_else(|| WebhookError::Malformed(format!("{topic} payload has no updated_at")))?;
    Ok(vec![snapshot.into_event(Some(delivery_id))])
}

fn refuse_if_too_old(
    rules: &DeliveryRules<'_>,
    what: &str,
    at: DateTime<Utc>,
) -> Result<(), WebhookError> {
    if rules.now - at > rules.max_age {
        return Err(WebhookError::Malformed(format!(
            "delivery {what} at {at}, older than the {} s this channel accepts; polling brings the change in",
            rules.max_age.num_seconds()
        )));
    }
    Ok(())
}

/// The REST-style order of a webhook payload (the fields omnistock reads).
#[derive(Debug, Deserialize)]
pub struct RestOrder {
    pub id: u64,
    #[serde(default)]
    pub admin_graphql_api_id: Option<String>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub currency: Option<String>,
    /// What the buyer pays now (after edits and refunds), a decimal in `currency`.
    #[serde(default)]
    pub current_total_price: Option<String>,
    pub line_items: Vec<RestLineItem>,
    #[serde(default)]
    pub fulfillments: Vec<RestFulfillment>,
    #[serde(default)]
    pub refunds: Vec<RestRefund>,
}

#[derive(Debug, Deserialize)]
pub struct RestLineItem {
    pub id: u64,
    #[serde(default)]
    pub admin_graphql_api_id: Option<String>,
    #[serde(default)]
    pub variant_id: Option<u64>,
    #[serde(default)]
    pub sku: Option<String>,
    pub quantity: i64,
    #[serde(default)]
    pub current_quantity: Option<i64>,
    /// The price of one unit before discounts, a decimal in the order's `currency`.
    #[serde(default)]
    pub price: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RestFulfillment {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub line_items: Vec<RestFulfillmentLine>,
}

#[derive(Debug, Deserialize)]
pub struct RestFulfillmentLine {
    pub id: u64,
    pub quantity: i64,
}

#[derive(Debug, Deserialize)]
pub struct RestRefund {
    #[serde(default)]
    pub refund_line_items: Vec<RestRefundLine>,
}

#[derive(Debug, Deserialize)]
pub struct RestRefundLine {
    pub line_item_id: u64,
    pub quantity: i64,
    #[serde(default)]
    pub restock_type: Option<String>,
}

impl RestOrder {
    /// The snapshot, or `None` without an `updated_at`.
    pub fn into_snapshot(self) -> Option<OrderSnapshot> {
        let updated_at = self.updated_at?;
        let id = self
            .admin_graphql_api_id
            .unwrap_or_else(|| gid("Order", self.id));
        let currency = self.currency;
        let money = |field: &str, amount: Option<&str>| {
            amount_minor(&id, field, amount?, currency.as_deref()?)
        };
        let total_minor = money("current_total_price", self.current_total_price.as_deref());
        let lines = self
            .line_items
            .into_iter()
            .map(|line| LineSnapshot {
                unit_price_minor: money("line_items.price", line.price.as_deref()),
                id: line
                    .admin_graphql_api_id
                    .unwrap_or_else(|| gid("LineItem", line.id)),
                variant_id: line.variant_id.map(|id| gid("ProductVariant", id)),
                sku: non_empty(line.sku),
                quantity: line.quantity,
                current_quantity: line.current_quantity,
            })
            .collect();
        let shipped = self
            .fulfillments
            .into_iter()
            .filter(|f| f.status.as_deref() == Some("success"))
            .flat_map(|f| f.line_items)
            .map(|line| (gid("LineItem", line.id), line.quantity))
            .collect();
        let refunded = self
            .refunds
            .into_iter()
            .flat_map(|refund| refund.refund_line_items)
            .map(|line| {
                let restock = Restock::from_wire(&id, line.restock_type.as_deref());
                (gid("LineItem", line.line_item_id), line.quantity, restock)
            })
            .collect();
        Some(OrderSnapshot {
            id,
            updated_at,
            created_at: self.created_at,
            cancelled: self.cancelled_at.is_some(),
            currency,
            total_minor,
            lines,
            shipped,
            refunded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_refusal() {
        let body = br#"{"id":1}"#;
        let signature = sign("hush", body);
        assert!(verify("hush", body, &signature));
        assert!(!verify("other", body, &signature));
        assert!(!verify("hush", b"{\"id\":2}", &signature));
        assert!(!verify("hush", body, "not base64!"));
        assert!(!verify("hush", body, ""));
    }
}
