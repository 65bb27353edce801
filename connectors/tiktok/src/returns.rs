//! Returns: Search Returns by order id, to count the units buyers sent back and the seller
//! accepted (a `RETURN_AND_REFUND` return in `RETURN_OR_REFUND_REQUEST_SUCCESS` or
//! `RETURN_OR_REFUND_REQUEST_COMPLETE`). A refund without return (`REFUND`) or a replacement
//! brings nothing back to stock.

use crate::client::{ApiClient, Method};
use omnistock_connector::{ConnectorError, OrderEvent};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use tracing::warn;

pub const RETURNS_SEARCH_PATH: &str = "/return_refund/202309/returns/search";
/// The documented range of `page_size` is [10-50].
pub const RETURNS_PAGE_SIZE: usize = 50;
/// Order ids per search (the reference page states no maximum; kept to one order page).
pub const MAX_ORDER_IDS: usize = 50;

#[derive(Debug, Deserialize)]
struct SearchData {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    return_orders: Vec<ReturnOrder>,
}

#[derive(Debug, Deserialize)]
struct ReturnOrder {
    order_id: String,
    #[serde(default)]
    return_type: String,
    #[serde(default)]
    return_status: String,
    #[serde(default)]
    return_line_items: Vec<ReturnLineItem>,
}

#[derive(Debug, Deserialize)]
struct ReturnLineItem {
    sku_id: String,
}

fn brings_stock_back(order: &ReturnOrder) -> bool {
    order.return_type == "RETURN_AND_REFUND"
        && matches!(
            order.return_status.as_str(),
            "RETURN_OR_REFUND_REQUEST_SUCCESS" | "RETURN_OR_REFUND_REQUEST_COMPLETE"
        )
}

/// Units returned per `(order id, SKU id)`.
async fn returned_units(
    client: &ApiClient,
    order_ids: &[String],
) -> Result<HashMap<(String, String), i64>, ConnectorError> {
    let mut units = HashMap::new();
    for chunk in order_ids.chunks(MAX_ORDER_IDS) {
        let mut page_token: Option<String> = None;
        loop {
            let mut query = vec![("page_size".to_string(), RETURNS_PAGE_SIZE.to_string())];
            if let Some(token) = &page_token {
                query.push(("page_token".to_string(), token.clone()));
            }
            let body = json!({ "order_ids": chunk });
            let data: SearchData = client
                .call(
                    RETURNS_SEARCH_PATH,
                    Method::Post,
                    RETURNS_SEARCH_PATH,
                    query,
                    Some(&body),
                )
                .await?;
            for order in data
                .return_orders
                .iter()
                .filter(|order| brings_stock_back(order))
            {
                for item in &order.return_line_items {
                    *units
                        .entry((order.order_id.clone(), item.sku_id.clone()))
                        .or_insert(0) += 1;
                }
            }
            match data.next_page_token.filter(|token| !token.is_empty()) {
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
    }
    Ok(units)
}

/// Sets each line's returned units, for the orders that shipped something.
pub async fn apply_returns(
    client: &ApiClient,
    events: &mut [OrderEvent],
) -> Result<(), ConnectorError> {
    let shipped: Vec<String> = events
        .iter()
        .filter(|event| event.lines.iter().any(|line| line.fulfilled_quantity > 0))
        .map(|event| event.external_order_id.clone())
        .collect();
    if shipped.is_empty() {
        return Ok(());
    }
    let units = match returned_units(client, &shipped).await {
        Ok(units) => units,
        // Without the returns scope (or any refusal for good) orders still book; only the
        // returned units wait. A passing fault is retried with the whole call.
        Err(error) if !error.is_retryable() => {
            warn!(error = %error, "TikTok returns could not be read; returned units are left out");
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    for event in events.iter_mut() {
        for line in &mut event.lines {
            let sku_id = line
                .line_id
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_string();
            if let Some(returned) = units.get(&(event.external_order_id.clone(), sku_id)) {
                line.returned_quantity = (*returned).min(line.fulfilled_quantity);
            }
        }
    }
    Ok(())
}
