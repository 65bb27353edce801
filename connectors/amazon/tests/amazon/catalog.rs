//! Discovery by `searchListingsItems`: every merchant listing once with its SKU, ASIN, title and
//! quantity, across the 1,000 SKUs one search pages through; pages paced by the operation's
//! usage plan; errors in the runtime's classes; the connector's figures checked against the
//! official model.

use crate::harness::{assert_lacks_role, assert_no_violations, connector, start_fake};
use omnistock_amazon::catalog::{CATALOG_INCLUDED_DATA, CATALOG_PAGE_SIZE};
use omnistock_amazon::fake::{specs_dir, FakeOptions, MAX_SEARCHED_LISTINGS};
use omnistock_amazon::usage::Operation;
use omnistock_amazon::AmazonConnector;
use omnistock_connector::conformance::read_whole_catalog;
use omnistock_connector::{CallKind, CatalogListing, Connector, ConnectorError, RateLimit};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SEARCH: &str = "searchListingsItems";

/// Reads the catalog to its end as the runtime does (waiting before each page what
/// `wait_before` advises); the listings by id (a repeat fails the test) and the pages.
async fn read_all(connector: &AmazonConnector) -> (BTreeMap<String, CatalogListing>, usize) {
    let catalog = read_whole_catalog(connector, tokio::time::sleep)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let pages = catalog.pages;
    (catalog.by_listing_id(), pages)
}

#[tokio::test]
async fn the_catalog_pages_to_the_end_with_every_merchant_listing_once() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    for index in 0..45 {
        fake.create_listing(&format!("CAT-{index:02}"), index);
    }
    fake.create_fba_listing("FBA-1");
    fake.create_fba_listing("FBA-2");
    let connector = connector(fake.channel_config());
    let (listings, pages) = read_all(&connector).await;
    assert_eq!(listings.len(), 45, "FBA-only listings are left out");
    assert_eq!(pages, 3, "47 items in pages of {CATALOG_PAGE_SIZE}");
    assert_eq!(fake.requests(SEARCH), 3);
    for index in 0..45_i64 {
        let sku = format!("CAT-{index:02}");
        let listing = &listings[&sku];
        let (asin, title) = fake.summary(&sku).unwrap();
        assert_eq!(listing.sku.as_deref(), Some(sku.as_str()));
        assert_eq!(listing.quantity, Some(index));
        assert_eq!(listing.title.as_deref(), Some(title.as_str()));
        assert_eq!(listing.platform_ids.get("asin"), Some(&asin));
    }
    assert_no_violations(&fake);
}

#[tokio::test]
async fn a_catalog_beyond_one_search_is_read_across_searches_without_repeats() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    let base = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let total = MAX_SEARCHED_LISTINGS + 60;
    // Seven listings a second: the first search ends inside a second shared with the next.
    for index in 0..total {
        let created = base + chrono::Duration::seconds((index / 7) as i64);
        fake.create_listing_created_at(&format!("BIG-{index:05}"), 1, created);
    }
    let connector = connector(fake.channel_config());
    let (listings, pages) = read_all(&connector).await;
    assert_eq!(listings.len(), total);
    assert!(listings.values().all(|listing| listing.quantity == Some(1)));
    // 50 pages of the first search; the second starts at the second of listing 999 and
    // returns listings 994 to 1059 (the six of that second it skips), 66 in 4 pages.
    assert_eq!(pages, 54);
    assert_eq!(fake.requests(SEARCH), 54);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn catalog_pages_wait_for_the_usage_plan_and_are_never_throttled() {
    let options = FakeOptions {
        enforce_usage_plans: true,
        ..FakeOptions::default()
    };
    let Some(fake) = start_fake(options).await else {
        return;
    };
    for index in 0..200 {
        fake.create_listing(&format!("PACE-{index:03}"), 2);
    }
    let connector = connector(fake.channel_config());
    let started = Instant::now();
    // Read as the runtime does, keeping each wait advised before a page.
    let waits = std::sync::Mutex::new(Vec::new());
    let catalog = read_whole_catalog(connector.as_ref(), |wait| {
        waits.lock().unwrap().push(wait);
        tokio::time::sleep(wait)
    })
    .await
    .unwrap_or_else(|error| panic!("{error}"));
    let waits = waits.into_inner().unwrap();
    let count = catalog.listings.len();
    assert_eq!(count, 200);
    assert_eq!(waits.len(), 10);
    assert!(
        waits[..5].iter().all(Duration::is_zero),
        "the burst of 5: {waits:?}"
    );
    assert!(
        waits[5..].iter().all(|wait| !wait.is_zero()),
        "then 5 a second: {waits:?}"
    );
    // Five pages past the burst at 5 requests a second.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.requests(SEARCH), 10, "no page was refused and retried");
    assert_no_violations(&fake);
}

#[tokio::test]
async fn catalog_errors_map_onto_the_runtime_classes() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    for index in 0..25 {
        fake.create_listing(&format!("ERR-{index:02}"), 1);
    }
    let connector = connector(fake.channel_config());

    fake.fail_next(SEARCH, 503);
    let error = connector.read_catalog(None).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Transient { .. }), "{error}");

    // A page position the connector never made, and one whose token Amazon no longer knows.
    let error = connector.read_catalog(Some("not a position")).await;
    assert!(
        matches!(error, Err(ConnectorError::Permanent(_))),
        "{error:?}"
    );
    let first = connector.read_catalog(None).await.unwrap();
    let next = first.next_page.unwrap();
    connector.read_catalog(Some(&next)).await.unwrap();
    let error = connector.read_catalog(Some(&next)).await.unwrap_err();
    match &error {
        ConnectorError::Permanent(text) => assert!(text.contains("pageToken"), "{text}"),
        other => panic!("expected a permanent error, got {other:?}"),
    }

    fake.set_rate_limit(
        Operation::SearchListingsItems,
        Some(RateLimit::per_minute(1)),
    );
    connector.read_catalog(None).await.unwrap();
    match connector.read_catalog(None).await.unwrap_err() {
        ConnectorError::RateLimited {
            retry_after: Some(wait),
            ..
        } => assert!(wait >= Duration::from_secs(50), "{wait:?}"),
        other => panic!("expected rate limited, got {other:?}"),
    }
    assert!(connector.wait_before(CallKind::ReadCatalog).unwrap() >= Duration::from_secs(50));
    fake.set_rate_limit(Operation::SearchListingsItems, None);

    fake.deny(SEARCH);
    let error = connector.read_catalog(None).await.unwrap_err();
    assert_lacks_role(&error, "Product Listing");
    assert_no_violations(&fake);
}

/// The operation in Amazon's model, read at test time.
fn search_operation() -> Option<Value> {
    let path = specs_dir().join("listingsItems_2021-08-01.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipped: Amazon's Listings Items model is absent ({})",
            path.display()
        );
        return None;
    };
    let model: Value = serde_json::from_str(&text).unwrap();
    Some(model["paths"]["/listings/2021-08-01/items/{sellerId}"]["get"].clone())
}

#[test]
fn the_catalog_request_follows_the_official_model() {
    let Some(operation) = search_operation() else {
        return;
    };
    assert_eq!(operation["operationId"], SEARCH);
    let parameter = |name: &str| {
        operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|parameter| parameter["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is not a parameter of {SEARCH}"))
    };
    assert_eq!(
        parameter("pageSize")["maximum"].as_u64(),
        Some(u64::from(CATALOG_PAGE_SIZE)),
        "pages as large as the model allows"
    );
    let included_data = parameter("includedData");
    let included: Vec<&str> = included_data["items"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for data in CATALOG_INCLUDED_DATA.split(',') {
        assert!(included.contains(&data), "{data} is not in {included:?}");
    }
    for name in [
        "marketplaceIds",
        "sortBy",
        "sortOrder",
        "createdAfter",
        "pageToken",
    ] {
        parameter(name);
    }
    let sort_by_parameter = parameter("sortBy");
    let sort_by: Vec<&str> = sort_by_parameter["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(sort_by.contains(&"createdDate"));
    assert_eq!(parameter("createdAfter")["format"], "date-time");
}

#[test]
fn the_usage_plan_and_search_limit_are_the_documented_ones() {
    let Some(operation) = search_operation() else {
        return;
    };
    // "| Rate (requests per second) | Burst |\n| ---- | ---- |\n| 5 | 5 |"
    let description = operation["description"].as_str().unwrap();
    let row = description
        .lines()
        .filter(|line| line.starts_with('|'))
        .nth(2)
        .unwrap();
    let cells: Vec<f64> = row
        .split('|')
        .filter_map(|cell| cell.trim().parse().ok())
        .collect();
    assert_eq!(
        cells,
        vec![
            Operation::SearchListingsItems.default_plan().0,
            Operation::SearchListingsItems.default_plan().1
        ]
    );
    let model_text =
        std::fs::read_to_string(specs_dir().join("listingsItems_2021-08-01.json")).unwrap();
    assert!(
        model_text.contains(&format!(
            "maximum number of items (SKUs) that can be returned and paged through is {MAX_SEARCHED_LISTINGS}"
        )),
        "the fake's cap of one search is the documented one"
    );
}
