//! Webhook deliveries as Shopify sends them: the REST-style order payload, signed with the
//! app's client secret, with Shopify's headers.

use super::state::{decimal, Order};
use crate::gid::gid;
use crate::webhook::{
    sign, HEADER_API_VERSION, HEADER_EVENT_ID, HEADER_HMAC, HEADER_SHOP_DOMAIN, HEADER_TOPIC,
    HEADER_TRIGGERED_AT, HEADER_WEBHOOK_ID,
};
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The shop's time zone: REST payloads carry local times with an offset.
fn local(time: DateTime<Utc>) -> String {
    match FixedOffset::west_opt(5 * 3600) {
        Some(offset) => time
            .with_timezone(&offset)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
        None => time.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

/// The REST representation of an order (the fields a webhook payload carries that omnistock
/// or a reviewer would look at).
pub fn order_payload(order: &Order) -> Value {
    let line_items: Vec<Value> = order
        .lines
        .iter()
        .map(|line| {
            let shipped = order.shipped(line.id);
            json!({
                "id": line.id,
                "admin_graphql_api_id": gid("LineItem", line.id),
                "variant_id": line.variant_id,
                "product_id": line.variant_id + 500_000_000,
                "sku": line.sku,
                "name": format!("Item {}", line.sku),
                "title": format!("Item {}", line.sku),
                "quantity": line.quantity,
                "current_quantity": order.current_quantity(line),
                "fulfillable_quantity": order.unfulfilled_quantity(line),
                "fulfillment_status": if shipped == 0 { Value::Null } else if order.unfulfilled_quantity(line) == 0 { json!("fulfilled") } else { json!("partial") },
                "price": decimal(line.unit_price_cents),
                "requires_shipping": true,
                "taxable": true,
                "gift_card": false,
            })
        })
        .collect();
    let fulfillments: Vec<Value> = order
        .fulfillments
        .iter()
        .map(|fulfillment| {
            json!({
                "id": fulfillment.id,
                "admin_graphql_api_id": gid("Fulfillment", fulfillment.id),
                "order_id": order.id,
                "status": fulfillment.status.to_ascii_lowercase(),
                "line_items": fulfillment.lines.iter().filter_map(|(line_id, units)| {
                    let line = order.line(*line_id)?;
                    Some(json!({
                        "id": line.id,
                        "admin_graphql_api_id": gid("LineItem", line.id),
                        "variant_id": line.variant_id,
                        "sku": line.sku,
                        "quantity": units,
                    }))
                }).collect::<Vec<_>>(),
            })
        })
        .collect();
    let refunds: Vec<Value> = order
        .refunds
        .iter()
        .map(|refund| {
            json!({
                "id": refund.id,
                "admin_graphql_api_id": gid("Refund", refund.id),
                "order_id": order.id,
                "created_at": local(refund.created_at),
                "refund_line_items": refund.lines.iter().enumerate().map(|(index, (line_id, units, restock))| json!({
                    "id": refund.id * 10 + index as u64,
                    "line_item_id": line_id,
                    "quantity": units,
                    "restock_type": restock.to_ascii_lowercase(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "id": order.id,
        "admin_graphql_api_id": order.gid(),
        "name": format!("#{}", order.number),
        "order_number": order.number,
        "created_at": local(order.created_at),
        "updated_at": local(order.updated_at),
        "processed_at": local(order.created_at),
        "cancelled_at": order.cancelled_at.map(local),
        "cancel_reason": order.cancelled_at.map(|_| "customer"),
        "currency": order.currency,
        "total_price": decimal(order.total_cents()),
        "current_total_price": decimal(order.current_total_cents()),
        "financial_status": order.financial_status.to_ascii_lowercase(),
        "fulfillment_status": match order.display_fulfillment_status() {
            "FULFILLED" => json!("fulfilled"),
            "PARTIALLY_FULFILLED" => json!("partial"),
            _ => Value::Null,
        },
        "line_items": line_items,
        "fulfillments": fulfillments,
        "refunds": refunds,
    })
}

/// A signed delivery: lower-case header names and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// Signs `body` as a delivery of `topic` from `shop_domain`.
pub fn delivery(
    secret: &str,
    shop_domain: &str,
    api_version: &str,
    topic: &str,
    body: Vec<u8>,
) -> Delivery {
    let mut headers = BTreeMap::new();
    headers.insert(HEADER_TOPIC.to_string(), topic.to_string());
    headers.insert(HEADER_HMAC.to_string(), sign(secret, &body));
    headers.insert(HEADER_SHOP_DOMAIN.to_string(), shop_domain.to_string());
    headers.insert(HEADER_API_VERSION.to_string(), api_version.to_string());
    headers.insert(
        HEADER_WEBHOOK_ID.to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    headers.insert(
        HEADER_EVENT_ID.to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    headers.insert(
        HEADER_TRIGGERED_AT.to_string(),
        Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    Delivery { headers, body }
}
