//! Discovery on TikTok Shop: Search Products (`POST /product/202502/products/search`), 100
//! products a page, each SKU one listing (`{product_id}:{sku_id}`, the id stock pushes use)
//! with its seller SKU, the product's title and the quantity the shop shows (the configured
//! warehouse's, else every warehouse's). With `warehouses` mapped, each SKU is one listing per
//! mapped warehouse it is stocked in (`{product_id}:{sku_id}:{warehouse_id}`, that warehouse's
//! quantity); its other warehouses are not omnistock's and are skipped.
//!
//! A search pages through at most 10,000 products (code 12052180). When its first page says
//! it found more, the read narrows the search to a window of creation times
//! (`create_time_ge`/`create_time_le`), halving it until the window holds no more than that,
//! pages through it, then goes on with the rest of the span; products created after the read
//! began wait for the next one. Deleted products are left out.

use crate::client::{ApiClient, Method};
use crate::config::TikTokChannelConfig;
use crate::inventory::shown_quantity;
use crate::listing::ListingId;
use omnistock_connector::{CatalogListing, CatalogPage, ConnectorError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use tracing::{debug, warn};

pub const PRODUCT_SEARCH_PATH: &str = "/product/202502/products/search";
/// Products per page: the documented maximum of `page_size` ([1-100]).
pub const CATALOG_PAGE_SIZE: usize = 100;
/// The most products one search pages through (code 12052180).
pub const MAX_SEARCH_RESULTS: u64 = 10_000;
/// The earliest creation time a window starts at (2020-01-01, before TikTok Shop opened).
pub const CATALOG_EPOCH: i64 = 1_577_836_800;
/// The product status whose products are left out.
const DELETED: &str = "DELETED";

/// The position of a catalog read, kept by the runtime between pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogCursor {
    /// The creation-time window being read (`create_time_ge`, `create_time_le`); `None` while
    /// the read is one search over the whole shop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<(i64, i64)>,
    /// The last creation time of the span the read covers (when it narrowed to windows).
    #[serde(default)]
    pub end: i64,
    /// The next page of the search under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

impl CatalogCursor {
    pub fn decode(text: &str) -> Result<Self, ConnectorError> {
        serde_json::from_str(text).map_err(|error| {
            ConnectorError::Permanent(format!(
                "unreadable TikTok catalog position ({error}); read the catalog from the start"
            ))
        })
    }

    pub fn encode(&self) -> String {
        // Numbers and a string always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn body(&self) -> serde_json::Value {
        match self.window {
            Some((from, to)) => json!({ "create_time_ge": from, "create_time_le": to }),
            None => json!({}),
        }
    }

    /// The search found more than it pages through: a window half as long (the whole span
    /// from the epoch to now for the first). `false` when a window of one second is too full.
    fn narrow(&mut self, now: i64) -> bool {
        let (from, to) = self.window.unwrap_or_else(|| {
            self.end = now;
            (CATALOG_EPOCH, now)
        });
        if from >= to {
            return false;
        }
        self.window = Some((from, from + (to - from) / 2));
        self.page_token = None;
        true
    }

    /// The search under way ended: the next window covers the rest of the span, if any.
    fn next_window(mut self) -> Option<Self> {
        let (_, to) = self.window?;
        if to >= self.end {
            return None;
        }
        self.window = Some((to + 1, self.end));
        self.page_token = None;
        Some(self)
    }
}

#[derive(Debug, Deserialize)]
struct SearchData {
    #[serde(default)]
    total_count: u64,
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    products: Vec<Product>,
}

#[derive(Debug, Deserialize)]
struct Product {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    skus: Vec<Sku>,
}

#[derive(Debug, Deserialize)]
struct Sku {
    id: String,
    #[serde(default)]
    seller_sku: Option<String>,
    #[serde(default)]
    inventory: Vec<WarehouseStock>,
}

#[derive(Debug, Deserialize)]
struct WarehouseStock {
    #[serde(default)]
    warehouse_id: String,
    #[serde(default)]
    quantity: i64,
}

/// Every SKU of the products, but deleted products': one listing each, or one per mapped
/// warehouse in per-warehouse mode.
fn listings(products: Vec<Product>, config: &TikTokChannelConfig) -> Vec<CatalogListing> {
    let mut listings = Vec::new();
    for product in products {
        if product.status.as_deref() == Some(DELETED) {
            continue;
        }
        for sku in product.skus {
            let seller_sku = sku.seller_sku.filter(|seller_sku| !seller_sku.is_empty());
            let listing = |listing: ListingId, quantity: i64| {
                let mut platform_ids = BTreeMap::from([
                    ("product_id".to_string(), listing.product_id.clone()),
                    ("sku_id".to_string(), listing.sku_id.clone()),
                ]);
                if let Some(warehouse_id) = &listing.warehouse_id {
                    platform_ids.insert("warehouse_id".to_string(), warehouse_id.clone());
                }
                CatalogListing {
                    listing_id: listing.encode(),
                    sku: seller_sku.clone(),
                    title: product.title.clone(),
                    platform_ids,
                    quantity: Some(quantity),
                }
            };
            if !config.per_warehouse() {
                let quantity = shown_quantity(
                    config.warehouse_id.as_deref(),
                    sku.inventory
                        .iter()
                        .map(|stock| (stock.warehouse_id.as_str(), stock.quantity)),
                    None,
                );
                listings.push(listing(
                    ListingId::new(product.id.clone(), sku.id),
                    quantity,
                ));
                continue;
            }
            for stock in &sku.inventory {
                if config.warehouse_location(&stock.warehouse_id).is_none() {
                    debug!(product = %product.id, sku = %sku.id, warehouse = %stock.warehouse_id,
                        "TikTok warehouse not mapped in warehouses; its stock is left out of the catalog");
                    continue;
                }
                listings.push(listing(
                    ListingId::in_warehouse(
                        product.id.clone(),
                        sku.id.clone(),
                        stock.warehouse_id.clone(),
                    ),
                    stock.quantity,
                ));
            }
        }
    }
    listings
}

/// One Search Products page of the read at `cursor`.
pub async fn read_page(
    client: &ApiClient,
    cursor: CatalogCursor,
    config: &TikTokChannelConfig,
) -> Result<CatalogPage, ConnectorError> {
    let mut cursor = cursor;
    let mut query = vec![("page_size".to_string(), CATALOG_PAGE_SIZE.to_string())];
    if let Some(token) = &cursor.page_token {
        query.push(("page_token".to_string(), token.clone()));
    }
    let body = cursor.body();
    let data: SearchData = client
        .call(
            PRODUCT_SEARCH_PATH,
            Method::Post,
            PRODUCT_SEARCH_PATH,
            query,
            Some(&body),
        )
        .await?;
    let first_page = cursor.page_token.is_none();
    if first_page && data.total_count > MAX_SEARCH_RESULTS {
        let now = chrono::Utc::now().timestamp();
        if cursor.narrow(now) {
            debug!(found = data.total_count, window = ?cursor.window, "TikTok product search too large; narrowing its creation window");
            return Ok(CatalogPage {
                listings: Vec::new(),
                next_page: Some(cursor.encode()),
            });
        }
        warn!(found = data.total_count, window = ?cursor.window, "more TikTok products created in one second than a search pages through; some are not discovered");
    }
    let listings = listings(data.products, config);
    debug!(listings = listings.len(), window = ?cursor.window, "TikTok catalog page read");
    let next = match data.next_page_token.filter(|token| !token.is_empty()) {
        Some(token) => {
            cursor.page_token = Some(token);
            Some(cursor)
        }
        None => cursor.next_window(),
    };
    Ok(CatalogPage {
        listings,
        next_page: next.map(|cursor| cursor.encode()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Settings with `extra` keys added.
    fn config(extra: serde_json::Value) -> TikTokChannelConfig {
        let mut settings = json!({
            "app_key": "key", "app_secret": "secret", "shop_cipher": "cipher",
            "access_token": "access", "access_token_expire_in": 1,
            "refresh_token": "refresh", "refresh_token_expire_in": 1,
        });
        if let (Some(settings), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
            settings.extend(extra.clone());
        }
        serde_json::from_value(settings).unwrap()
    }

    #[test]
    fn skus_become_listings_and_deleted_products_are_left_out() {
        let products: Vec<Product> = serde_json::from_value(json!([
            {"id": "1", "title": "Socks", "status": "ACTIVATE", "skus": [
                {"id": "11", "seller_sku": "RED", "inventory": [
                    {"warehouse_id": "W1", "quantity": 3}, {"warehouse_id": "W2", "quantity": 4}]},
                {"id": "12", "seller_sku": "", "inventory": []}]},
            {"id": "2", "title": "Gone", "status": "DELETED", "skus": [{"id": "21", "seller_sku": "X"}]}
        ]))
        .unwrap();
        let all = listings(
            serde_json::from_value(json!([])).unwrap(),
            &config(json!({})),
        );
        assert!(all.is_empty());
        let found = listings(products, &config(json!({ "warehouse_id": "W2" })));
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].listing_id, "1:11");
        assert_eq!(found[0].sku.as_deref(), Some("RED"));
        assert_eq!(found[0].title.as_deref(), Some("Socks"));
        assert_eq!(found[0].quantity, Some(4), "the configured warehouse's");
        assert_eq!(found[0].platform_ids["sku_id"], "11");
        assert_eq!(
            (found[1].sku.as_deref(), found[1].quantity),
            (None, Some(0))
        );
    }

    #[test]
    fn per_warehouse_mode_lists_each_mapped_warehouse_and_skips_the_others() {
        let products: Vec<Product> = serde_json::from_value(json!([
            {"id": "1", "title": "Socks", "status": "ACTIVATE", "skus": [
                {"id": "11", "seller_sku": "RED", "inventory": [
                    {"warehouse_id": "W1", "quantity": 3}, {"warehouse_id": "W2", "quantity": 4},
                    {"warehouse_id": "W9", "quantity": 8}]}]}
        ]))
        .unwrap();
        let mapped = config(json!({ "warehouses": { "W1": "east", "W2": "west" } }));
        let found = listings(products, &mapped);
        let seen: Vec<(&str, Option<i64>)> = found
            .iter()
            .map(|listing| (listing.listing_id.as_str(), listing.quantity))
            .collect();
        assert_eq!(seen, vec![("1:11:W1", Some(3)), ("1:11:W2", Some(4))]);
        assert_eq!(found[1].platform_ids["warehouse_id"], "W2");
        assert_eq!(found[1].sku.as_deref(), Some("RED"));
    }

    #[test]
    fn windows_halve_then_cover_the_rest_of_the_span() {
        let mut cursor = CatalogCursor::default();
        assert!(cursor.narrow(CATALOG_EPOCH + 100));
        assert_eq!(cursor.window, Some((CATALOG_EPOCH, CATALOG_EPOCH + 50)));
        assert!(cursor.narrow(0));
        assert_eq!(cursor.window, Some((CATALOG_EPOCH, CATALOG_EPOCH + 25)));
        let cursor = CatalogCursor::decode(&cursor.encode()).unwrap();
        let next = cursor.next_window().unwrap();
        assert_eq!(next.window, Some((CATALOG_EPOCH + 26, CATALOG_EPOCH + 100)));
        let mut last = next.clone();
        last.window = Some((CATALOG_EPOCH + 100, CATALOG_EPOCH + 100));
        assert!(!last.clone().narrow(0));
        assert_eq!(last.next_window(), None);
        assert_eq!(CatalogCursor::default().next_window(), None);
    }
}
