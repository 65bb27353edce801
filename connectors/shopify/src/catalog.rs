//! The catalog read: the shop's product variants a page at a time (`productVariants` by id,
//! Shopify's cursor as the page position), each with its SKU, name, product and inventory item
//! and the `available` quantity at the channel's location.
//!
//! A page is sized to the cost bucket as last seen: at most half of it, so that a stock update
//! still fits beside a page, and never more than Shopify's 250 nodes.

use crate::connector::ShopifyConnector;
use crate::inventory::ItemLevel;
use crate::orders::NestedPageInfo;
use crate::queries;
use crate::throttle::ThrottleStatus;
use omnistock_connector::{CatalogListing, CatalogPage, ConnectorError};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// What one variant of a catalog page requests: the node, its product, its inventory item,
/// the item's level and the one quantity asked for.
const VARIANT_COST: f64 = 5.0;
/// What the connection itself requests.
const CONNECTION_COST: f64 = 2.0;
/// Variants asked for before the bucket's size is known (about 127 points).
pub const FIRST_PAGE: usize = 25;
/// Shopify's most nodes per connection page.
const MAX_PAGE: usize = 250;

/// Variants per catalog page for the bucket as last seen.
pub fn catalog_page_size(status: Option<ThrottleStatus>) -> usize {
    let Some(status) = status else {
        return FIRST_PAGE;
    };
    let budget = status.bucket.maximum_available / 2.0 - CONNECTION_COST;
    let fits = (budget / VARIANT_COST).floor();
    if fits.is_finite() && fits >= 1.0 {
        (fits as usize).min(MAX_PAGE)
    } else {
        1
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CatalogData {
    product_variants: VariantConnection,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantConnection {
    page_info: NestedPageInfo,
    nodes: Vec<CatalogVariant>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CatalogVariant {
    id: String,
    sku: Option<String>,
    display_name: Option<String>,
    product: Option<ProductRef>,
    inventory_item: ItemLevel,
}

#[derive(Debug, Deserialize)]
struct ProductRef {
    id: String,
}

impl CatalogVariant {
    fn into_listing(self) -> CatalogListing {
        let mut platform_ids = BTreeMap::new();
        if let Some(product) = self.product {
            platform_ids.insert("product_id".to_string(), product.id);
        }
        let quantity = self
            .inventory_item
            .inventory_level
            .as_ref()
            .and_then(|level| level.available());
        platform_ids.insert("inventory_item_id".to_string(), self.inventory_item.id);
        CatalogListing {
            listing_id: self.id,
            sku: self.sku.filter(|sku| !sku.trim().is_empty()),
            title: self.display_name,
            platform_ids,
            quantity,
        }
    }
}

impl ShopifyConnector {
    pub(crate) async fn read_catalog_page(
        &self,
        page: Option<&str>,
    ) -> Result<CatalogPage, ConnectorError> {
        let first = catalog_page_size(self.throttle_status());
        let data: CatalogData = self
            .client
            .execute(
                queries::CATALOG_OPERATION,
                queries::CATALOG_QUERY,
                json!({ "first": first, "after": page, "locationId": self.config.location_id }),
            )
            .await?;
        let connection = data.product_variants;
        let next_page = match (
            connection.page_info.has_next_page,
            connection.page_info.end_cursor,
        ) {
            (true, Some(cursor)) => Some(cursor),
            (true, None) => {
                return Err(ConnectorError::Permanent(
                    "productVariants said more pages follow but gave no end cursor".into(),
                ))
            }
            (false, _) => None,
        };
        Ok(CatalogPage {
            listings: connection
                .nodes
                .into_iter()
                .map(CatalogVariant::into_listing)
                .collect(),
            next_page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::BucketState;

    fn bucket(maximum_available: f64) -> Option<ThrottleStatus> {
        Some(ThrottleStatus::new(BucketState {
            maximum_available,
            currently_available: maximum_available,
            restore_rate: 50.0,
        }))
    }

    #[test]
    fn a_page_requests_at_most_half_the_bucket() {
        assert_eq!(catalog_page_size(None), FIRST_PAGE);
        assert_eq!(catalog_page_size(bucket(1000.0)), 99);
        assert_eq!(catalog_page_size(bucket(200.0)), 19);
        assert_eq!(catalog_page_size(bucket(20_000.0)), MAX_PAGE);
        assert_eq!(catalog_page_size(bucket(4.0)), 1);
    }
}
