//! Discovery on Amazon: the seller's listings by `searchListingsItems` (Listings Items
//! 2021-08-01), each with its SKU (the listing id stock pushes name), ASIN, title and
//! merchant-fulfilled quantity.
//!
//! One search pages through at most 1,000 SKUs (`numberOfResults` may say more). So the
//! catalog is read oldest first (`sortBy=createdDate`, `sortOrder=ASC`), and when a search
//! ends short of its `numberOfResults`, the next search starts at the newest creation instant
//! seen (`createdAfter` includes it); the SKUs already returned at that instant are
//! remembered in the position and skipped, so every listing comes once. Listings fulfilled by
//! Amazon only (availability entries, none `DEFAULT`) are left out: their stock is Amazon's,
//! and a push would turn them into merchant-fulfilled offers.

use crate::client::ApiRequest;
use crate::listings::{default_quantity, FulfillmentAvailability, LISTINGS_VERSION};
use crate::orders::parse_instant;
use crate::usage::Operation;
use chrono::{DateTime, Utc};
use omnistock_connector::{CatalogListing, ConnectorError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tracing::warn;

/// Listings per page: the model's maximum `pageSize`.
pub const CATALOG_PAGE_SIZE: u32 = 20;
/// The data sets each page carries: the summary (ASIN, title, creation instant) and the
/// fulfillment availability (the merchant quantity).
pub const CATALOG_INCLUDED_DATA: &str = "summaries,fulfillmentAvailability";

/// The position of a catalog read, kept by the runtime between pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogCursor {
    /// `createdAfter` of the search under way; `None` for the first search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<DateTime<Utc>>,
    /// The next page of the search under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    /// Items the search under way returned so far (its pages stop at 1,000).
    #[serde(default)]
    pub returned: u64,
    /// The newest creation instant returned so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<Utc>>,
    /// SKUs returned whose creation instant is `newest`: a search starting there skips them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub at_newest: BTreeSet<String>,
}

impl CatalogCursor {
    pub fn decode(text: &str) -> Result<Self, ConnectorError> {
        serde_json::from_str(text).map_err(|error| {
            ConnectorError::Permanent(format!(
                "unreadable amazon catalog position ({error}); read the catalog from the start"
            ))
        })
    }

    pub fn encode(&self) -> String {
        // Strings, instants and a set of strings always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether an item was returned already: created at the instant this search starts from,
    /// and returned by the search before.
    fn returned_before(&self, sku: &str, created: Option<DateTime<Utc>>) -> bool {
        created.is_some()
            && created == self.created_after
            && created == self.newest
            && self.at_newest.contains(sku)
    }

    /// Notes an item as returned.
    fn note(&mut self, sku: &str, created: Option<DateTime<Utc>>) {
        let Some(created) = created else {
            return;
        };
        match self.newest {
            Some(newest) if created < newest => {}
            Some(newest) if created == newest => {
                self.at_newest.insert(sku.to_string());
            }
            _ => {
                self.newest = Some(created);
                self.at_newest = BTreeSet::from([sku.to_string()]);
            }
        }
    }

    /// The search ended short of its results: the next starts at the newest instant seen.
    /// `false` when that cannot move on (the whole search shared its first instant).
    fn start_next_search(&mut self) -> bool {
        let moved = self.newest.is_some() && self.newest != self.created_after;
        self.created_after = self.newest;
        self.page_token = None;
        self.returned = 0;
        moved
    }
}

/// A `searchListingsItems` request for one page.
pub fn search_request(
    seller_id: &str,
    marketplace_ids: &str,
    cursor: &CatalogCursor,
) -> ApiRequest {
    let mut request = ApiRequest::get(
        Operation::SearchListingsItems,
        &["listings", LISTINGS_VERSION, "items", seller_id],
    )
    .query("marketplaceIds", marketplace_ids)
    .query("includedData", CATALOG_INCLUDED_DATA)
    .query("sortBy", "createdDate")
    .query("sortOrder", "ASC")
    .query("pageSize", CATALOG_PAGE_SIZE.to_string());
    if let Some(after) = cursor.created_after {
        request = request.query(
            "createdAfter",
            after.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        );
    }
    if let Some(token) = &cursor.page_token {
        request = request.query("pageToken", token.clone());
    }
    request
}

/// `ItemSearchResults`.
#[derive(Debug, Deserialize)]
pub struct SearchResults {
    #[serde(rename = "numberOfResults")]
    pub number_of_results: u64,
    #[serde(default)]
    pub pagination: Option<Pagination>,
    pub items: Vec<SearchedItem>,
}

#[derive(Debug, Deserialize)]
pub struct Pagination {
    #[serde(default, rename = "nextToken")]
    pub next_token: Option<String>,
}

/// The fields of an `Item` discovery uses.
#[derive(Debug, Deserialize)]
pub struct SearchedItem {
    pub sku: String,
    #[serde(default)]
    pub summaries: Vec<Summary>,
    #[serde(default, rename = "fulfillmentAvailability")]
    pub fulfillment_availability: Vec<FulfillmentAvailability>,
}

/// The fields of an `ItemSummaryByMarketplace` discovery uses.
#[derive(Debug, Deserialize)]
pub struct Summary {
    #[serde(rename = "marketplaceId")]
    pub marketplace_id: String,
    #[serde(default)]
    pub asin: Option<String>,
    #[serde(default, rename = "fnSku")]
    pub fn_sku: Option<String>,
    #[serde(default, rename = "itemName")]
    pub item_name: Option<String>,
    #[serde(default, rename = "createdDate")]
    pub created_date: Option<String>,
}

impl SearchedItem {
    /// The summary of the first configured marketplace, else the first one.
    fn summary(&self, marketplace: &str) -> Option<&Summary> {
        self.summaries
            .iter()
            .find(|summary| summary.marketplace_id == marketplace)
            .or_else(|| self.summaries.first())
    }

    /// Amazon keeps this listing's stock (availability entries, none of them `DEFAULT`).
    fn is_amazon_fulfilled_only(&self) -> bool {
        !self.fulfillment_availability.is_empty()
            && default_quantity(&self.fulfillment_availability).is_none()
    }

    fn to_listing(&self, summary: Option<&Summary>) -> CatalogListing {
        let mut platform_ids = BTreeMap::new();
        if let Some(asin) = summary.and_then(|summary| summary.asin.clone()) {
            platform_ids.insert("asin".to_string(), asin);
        }
        if let Some(fn_sku) = summary.and_then(|summary| summary.fn_sku.clone()) {
            platform_ids.insert("fn_sku".to_string(), fn_sku);
        }
        CatalogListing {
            listing_id: self.sku.clone(),
            sku: Some(self.sku.clone()),
            title: summary.and_then(|summary| summary.item_name.clone()),
            platform_ids,
            quantity: default_quantity(&self.fulfillment_availability),
        }
    }
}

/// What one page contributes: its listings, and where the read goes next (`None`: done).
pub fn read_page(
    results: SearchResults,
    mut cursor: CatalogCursor,
    marketplace: &str,
) -> (Vec<CatalogListing>, Option<CatalogCursor>) {
    let mut listings = Vec::with_capacity(results.items.len());
    cursor.returned += results.items.len() as u64;
    for item in &results.items {
        let summary = item.summary(marketplace);
        let created = summary
            .and_then(|summary| summary.created_date.as_deref())
            .and_then(parse_instant);
        if cursor.returned_before(&item.sku, created) {
            continue;
        }
        cursor.note(&item.sku, created);
        if item.is_amazon_fulfilled_only() {
            continue;
        }
        listings.push(item.to_listing(summary));
    }
    let next_token = results
        .pagination
        .and_then(|pagination| pagination.next_token)
        .filter(|token| !token.is_empty());
    if let Some(token) = next_token {
        cursor.page_token = Some(token);
        return (listings, Some(cursor));
    }
    if cursor.returned >= results.number_of_results || results.items.is_empty() {
        return (listings, None);
    }
    let from = cursor.newest;
    if cursor.start_next_search() {
        return (listings, Some(cursor));
    }
    let Some(from) = from else {
        warn!(
            found = results.number_of_results,
            "amazon: the listings search ended early and its items carry no creation date; the catalog read stops here"
        );
        return (listings, None);
    };
    // More than a search's worth of listings share one creation instant: the search cannot
    // tell them apart, so the read moves one second on and says that it missed some.
    warn!(
        created = %from,
        found = results.number_of_results,
        "amazon: more listings share one creation instant than a search returns; some are not discovered"
    );
    let after = from + chrono::Duration::seconds(1);
    cursor.created_after = Some(after);
    cursor.newest = Some(after);
    cursor.at_newest.clear();
    (listings, Some(cursor))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn results(value: serde_json::Value) -> SearchResults {
        serde_json::from_value(value).unwrap()
    }

    fn item(sku: &str, created: &str, availability: serde_json::Value) -> serde_json::Value {
        json!({"sku": sku,
            "summaries": [{"marketplaceId": "M", "asin": format!("B0{sku}"), "itemName": format!("Item {sku}"),
                "productType": "PRODUCT", "status": ["BUYABLE"], "createdDate": created,
                "lastUpdatedDate": created}],
            "fulfillmentAvailability": availability})
    }

    #[test]
    fn maps_items_and_leaves_amazon_fulfilled_ones_out() {
        let page = results(json!({"numberOfResults": 3, "items": [
            item("A", "2026-01-01T00:00:00Z", json!([{"fulfillmentChannelCode": "DEFAULT", "quantity": 4}])),
            item("FBA", "2026-01-01T00:00:01Z", json!([{"fulfillmentChannelCode": "AMAZON_EU", "quantity": 9}])),
            item("NEW", "2026-01-01T00:00:02Z", json!([])),
        ]}));
        let (listings, next) = read_page(page, CatalogCursor::default(), "M");
        assert_eq!(next, None);
        assert_eq!(listings.len(), 2);
        assert_eq!(listings[0].listing_id, "A");
        assert_eq!(listings[0].sku.as_deref(), Some("A"));
        assert_eq!(listings[0].quantity, Some(4));
        assert_eq!(listings[0].title.as_deref(), Some("Item A"));
        assert_eq!(listings[0].platform_ids["asin"], "B0A");
        assert_eq!(
            (listings[1].listing_id.as_str(), listings[1].quantity),
            ("NEW", None)
        );
    }

    #[test]
    fn a_truncated_search_resumes_at_its_newest_instant_without_repeats() {
        let first = results(json!({"numberOfResults": 4, "items": [
            item("A", "2026-01-01T00:00:00Z", json!([])),
            item("B", "2026-01-01T00:00:05Z", json!([])),
        ]}));
        let (listings, next) = read_page(first, CatalogCursor::default(), "M");
        assert_eq!(listings.len(), 2);
        let next = next.unwrap();
        let instant = parse_instant("2026-01-01T00:00:05Z");
        assert_eq!(next.created_after, instant);
        assert_eq!(next.returned, 0);
        assert!(next.at_newest.contains("B"));
        let request = search_request("S", "M", &next);
        assert!(request
            .query
            .contains(&("createdAfter", "2026-01-01T00:00:05Z".to_string())));
        let decoded = CatalogCursor::decode(&next.encode()).unwrap();
        assert_eq!(decoded, next);
        let second = results(json!({"numberOfResults": 3, "items": [
            item("B", "2026-01-01T00:00:05Z", json!([])),
            item("C", "2026-01-01T00:00:05Z", json!([])),
            item("D", "2026-01-01T00:00:06Z", json!([])),
        ]}));
        let (listings, next) = read_page(second, decoded, "M");
        let skus: Vec<&str> = listings.iter().map(|l| l.listing_id.as_str()).collect();
        assert_eq!(skus, ["C", "D"]);
        assert_eq!(next, None);
    }

    #[test]
    fn a_search_stuck_on_one_instant_moves_a_second_on() {
        let stuck = results(json!({"numberOfResults": 5, "items": [
            item("A", "2026-01-01T00:00:00Z", json!([])),
            item("B", "2026-01-01T00:00:00Z", json!([])),
        ]}));
        let cursor = CatalogCursor {
            created_after: parse_instant("2026-01-01T00:00:00Z"),
            ..CatalogCursor::default()
        };
        let (_, next) = read_page(stuck, cursor, "M");
        let next = next.unwrap();
        assert_eq!(next.created_after, parse_instant("2026-01-01T00:00:01Z"));
        assert!(next.at_newest.is_empty());
    }
}
