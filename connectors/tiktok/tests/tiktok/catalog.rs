//! Discovery by Search Products: every SKU of every product not deleted, once, with its seller
//! SKU, title and quantity; past the 10,000 products one search pages through by creation
//! windows; pages paced by the API's request window; errors in the runtime's classes; the
//! request and limits checked against the reference page.

use crate::harness::{connector_with, start_fake};
use omnistock_connector::conformance::read_whole_catalog;
use omnistock_connector::{CatalogListing, Connector, ConnectorError, RateLimit};
use omnistock_tiktok::catalog::{
    CATALOG_EPOCH, CATALOG_PAGE_SIZE, MAX_SEARCH_RESULTS, PRODUCT_SEARCH_PATH,
};
use omnistock_tiktok::fake::spec::specs_dir;
use omnistock_tiktok::fake::{Fault, MAX_PRODUCT_SEARCH_RESULTS, PRODUCT_SEARCH};
use omnistock_tiktok::TikTokConnector;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Reads the catalog to its end as the runtime does (waiting before each page what
/// `wait_before` advises); the listings by id (a repeat fails the test) and the pages.
async fn read_all(connector: &TikTokConnector) -> (BTreeMap<String, CatalogListing>, usize) {
    let catalog = read_whole_catalog(connector, tokio::time::sleep)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let pages = catalog.pages;
    (catalog.by_listing_id(), pages)
}

#[tokio::test]
async fn the_catalog_pages_to_the_end_with_every_sku_once() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let mut config = fake.channel_config();
    config.warehouse_id = Some("WH-MAIN".into());
    let connector = connector_with(config);
    let mut expected: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for index in 0..150 {
        let sku = format!("CAT-{index:03}");
        let listing = fake.create_product(&[(&sku, &[("WH-MAIN", index)])]);
        expected.insert(listing[0].clone(), (sku, index));
    }
    let sizes = fake.create_product(&[
        ("SIZE-S", &[("WH-MAIN", 3), ("WH-OTHER", 40)]),
        ("SIZE-M", &[("WH-MAIN", 5), ("WH-OTHER", 50)]),
    ]);
    expected.insert(sizes[0].clone(), ("SIZE-S".into(), 3));
    expected.insert(sizes[1].clone(), ("SIZE-M".into(), 5));
    let gone = fake.create_listing("GONE", 9);
    fake.set_product(&gone, fake_now(), "DELETED").unwrap();

    let (listings, pages) = read_all(&connector).await;
    assert_eq!(pages, 2, "152 products in pages of {CATALOG_PAGE_SIZE}");
    assert_eq!(fake.requests(PRODUCT_SEARCH), 2);
    assert!(
        !listings.contains_key(&gone),
        "deleted products are left out"
    );
    assert_eq!(listings.len(), expected.len());
    for (listing_id, (sku, quantity)) in &expected {
        let listing = &listings[listing_id];
        assert_eq!(listing.sku.as_deref(), Some(sku.as_str()));
        assert_eq!(
            listing.quantity,
            Some(*quantity),
            "{sku}: the configured warehouse's"
        );
        assert_eq!(listing.title, fake.product_title(listing_id));
        let (product_id, sku_id) = listing_id.split_once(':').unwrap();
        assert_eq!(listing.platform_ids["product_id"], product_id);
        assert_eq!(listing.platform_ids["sku_id"], sku_id);
    }
    assert_eq!(fake.refusals(), Vec::<String>::new());
}

fn fake_now() -> i64 {
    omnistock_tiktok::fake::now()
}

#[tokio::test]
async fn a_catalog_beyond_one_search_is_read_by_creation_windows() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let total = MAX_PRODUCT_SEARCH_RESULTS as i64 + 50;
    let mut expected = BTreeMap::new();
    for index in 0..total {
        let listing = fake.create_listing(&format!("WIDE-{index:05}"), index % 7);
        // Ten products a day from the epoch on: some 1,005 days.
        fake.set_product(
            &listing,
            CATALOG_EPOCH + 3600 + (index / 10) * 86_400,
            "ACTIVATE",
        )
        .unwrap();
        expected.insert(listing, index % 7);
    }
    let (listings, pages) = read_all(&connector).await;
    assert_eq!(listings.len(), expected.len());
    // 101 pages of 100, and a few narrowing requests (the span halves twice here).
    assert!((101..=106).contains(&pages), "{pages} pages");
    assert_eq!(fake.requests(PRODUCT_SEARCH), pages as u64);
    for (listing_id, quantity) in &expected {
        assert_eq!(listings[listing_id].quantity, Some(*quantity));
    }
    assert_eq!(fake.refusals(), Vec::<String>::new());
}

#[tokio::test]
async fn catalog_pages_wait_for_the_request_window_and_are_never_refused() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let mut config = fake.channel_config();
    config.rate_limit = Some(RateLimit::per_second(3));
    let connector = connector_with(config);
    fake.set_rate_limit(PRODUCT_SEARCH, Some(RateLimit::per_second(3)));
    for index in 0..450 {
        fake.create_listing(&format!("PACE-{index:03}"), 1);
    }
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
    assert_eq!(count, 450);
    assert_eq!(waits.len(), 5);
    assert!(waits[..3].iter().all(Duration::is_zero), "{waits:?}");
    assert!(waits[3] > Duration::from_millis(500), "{waits:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(fake.requests(PRODUCT_SEARCH), 5, "no page was refused");
}

#[tokio::test]
async fn catalog_errors_map_onto_the_runtime_classes() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    for index in 0..120 {
        fake.create_listing(&format!("ERR-{index:03}"), 1);
    }
    fake.set_fault(
        PRODUCT_SEARCH,
        Some(Fault::Error {
            status: 500,
            code: 36_009_003,
        }),
    );
    let error = connector.read_catalog(None).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Transient { .. }), "{error}");
    fake.set_fault(
        PRODUCT_SEARCH,
        Some(Fault::Error {
            status: 429,
            code: 429,
        }),
    );
    let error = connector.read_catalog(None).await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::RateLimited { retry_after: Some(wait), .. } if !wait.is_zero()),
        "{error:?}"
    );
    fake.set_fault(
        PRODUCT_SEARCH,
        Some(Fault::Error {
            status: 401,
            code: 105_001,
        }),
    );
    let error = connector.read_catalog(None).await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::Configuration(_)),
        "{error:?}"
    );
    fake.set_fault(PRODUCT_SEARCH, None);

    let error = connector.read_catalog(Some("not a position")).await;
    assert!(
        matches!(error, Err(ConnectorError::Permanent(_))),
        "{error:?}"
    );
    // A page token TikTok does not know (another search's): refused for good.
    let first = connector.read_catalog(None).await.unwrap();
    let mut position: Value = serde_json::from_str(&first.next_page.unwrap()).unwrap();
    position["window"] = serde_json::json!([CATALOG_EPOCH, CATALOG_EPOCH + 1]);
    let error = connector
        .read_catalog(Some(&position.to_string()))
        .await
        .unwrap_err();
    match &error {
        ConnectorError::Permanent(text) => assert!(text.contains("12052910"), "{text}"),
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

/// The Search Products reference page, read at test time.
fn reference_page() -> Option<Value> {
    let Some(dir) = specs_dir() else {
        eprintln!("skipped: ../shared/specs/tiktok-shop is absent (set TIKTOK_SPECS_DIR)");
        return None;
    };
    let path = dir.join("raw/api-reference/products/search-products.spec.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let page: Value = serde_json::from_str(&text).unwrap();
    Some(page["document_api_meta"].clone())
}

fn param<'a>(meta: &'a Value, list: &str, name: &str) -> &'a Value {
    meta[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|param| param["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in {list}"))
}

#[test]
fn the_catalog_request_and_limits_follow_the_reference_page() {
    let Some(meta) = reference_page() else {
        return;
    };
    assert_eq!(meta["interface_path"], PRODUCT_SEARCH_PATH);
    assert_eq!(meta["method"], 1, "POST");
    let page_size = param(&meta, "request_query_param", "page_size");
    assert_eq!(page_size["required"], "Y");
    assert!(
        page_size["desc"]
            .as_str()
            .unwrap()
            .contains(&format!("[1-{CATALOG_PAGE_SIZE}]")),
        "{page_size}"
    );
    param(&meta, "request_query_param", "page_token");
    for bound in ["create_time_ge", "create_time_le"] {
        assert_eq!(param(&meta, "request_body_param", bound)["type"], "int");
    }
    let cap = meta["error_code_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|error| error["code"] == "12052180")
        .unwrap();
    let documented = format!("{MAX_SEARCH_RESULTS}");
    assert!(cap["msg"].as_str().unwrap().contains(&documented), "{cap}");
    assert_eq!(MAX_PRODUCT_SEARCH_RESULTS as u64, MAX_SEARCH_RESULTS);
    // What discovery reads from the answer.
    for field in [
        "^products",
        "^^id",
        "^^title",
        "^^status",
        "^^skus",
        "^^^id",
        "^^^seller_sku",
        "^^^inventory",
        "^^^^warehouse_id",
        "^^^^quantity",
        "^next_page_token",
        "^total_count",
    ] {
        param(&meta, "response_param", field);
    }
}
