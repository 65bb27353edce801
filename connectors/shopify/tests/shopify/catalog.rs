//! The catalog read against the fake: a catalog of several pages sized to the cost bucket,
//! read paced as the runtime paces it, each variant with its SKU, name, product and inventory
//! item and the quantity at the channel's location.

use crate::harness::{connector, start_fake};
use omnistock_connector::{CallKind, CatalogListing, Connector};
use omnistock_shopify::fake::schema::SchemaSource;
use std::collections::BTreeMap;

/// Reads every page, waiting before each what `wait_before` advises (as the gateway does).
async fn read_paced(connector: &dyn Connector) -> (Vec<CatalogListing>, usize) {
    let mut listings = Vec::new();
    let mut page: Option<String> = None;
    let mut pages = 0;
    loop {
        if let Some(wait) = connector.wait_before(CallKind::ReadCatalog) {
            tokio::time::sleep(wait).await;
        }
        let answer = connector.read_catalog(page.as_deref()).await.unwrap();
        pages += 1;
        listings.extend(answer.listings);
        match answer.next_page {
            Some(next) => page = Some(next),
            None => return (listings, pages),
        }
        assert!(pages < 100, "the catalog read does not end");
    }
}

#[tokio::test]
async fn the_catalog_is_read_whole_within_the_cost_bucket() {
    let fake = start_fake().await;
    fake.set_bucket(400.0, 200.0);
    let mut created = BTreeMap::new();
    for index in 0..300 {
        let sku = format!("CAT-{index:04}");
        let listing = fake.create_listing(&sku, index % 9);
        created.insert(listing, (Some(sku), Some(index % 9)));
    }
    let unstocked = fake.create_unstocked_listing("CAT-UNSTOCKED");
    created.insert(unstocked, (Some("CAT-UNSTOCKED".to_string()), None));
    let without_sku = fake.create_listing("", 4);
    created.insert(without_sku, (None, Some(4)));

    let connector = connector(&fake);
    let (listings, pages) = read_paced(connector.as_ref()).await;

    assert!(
        pages >= 3,
        "{} variants came in {pages} page(s)",
        listings.len()
    );
    let by_id: BTreeMap<&str, &CatalogListing> = listings
        .iter()
        .map(|listing| (listing.listing_id.as_str(), listing))
        .collect();
    assert_eq!(by_id.len(), listings.len(), "a variant came twice");
    assert_eq!(listings.len(), created.len());
    for (listing_id, (sku, quantity)) in &created {
        let listing = by_id[listing_id.as_str()];
        assert_eq!(&listing.sku, sku, "{listing_id}");
        assert_eq!(&listing.quantity, quantity, "{listing_id}");
        assert_eq!(
            listing.platform_ids.get("inventory_item_id"),
            Some(&fake.inventory_item_of(listing_id).unwrap())
        );
        assert!(listing.platform_ids["product_id"].starts_with("gid://shopify/Product/"));
        assert!(listing
            .title
            .as_deref()
            .is_some_and(|title| title.contains("Default Title")));
    }
    let catalog_requests: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|request| request.operation_name.as_deref() == Some("OmnistockCatalog"))
        .collect();
    assert_eq!(catalog_requests.len(), pages);
    for request in &catalog_requests {
        assert!(!request.throttled, "a catalog page was throttled");
        assert!(
            request.requested_cost <= 200.0,
            "a page requested {} points of a 400-point bucket",
            request.requested_cost
        );
        assert!(
            request.validation_errors.is_empty(),
            "{:?}",
            request.validation_errors
        );
        if let SchemaSource::Subset { reason } = &request.schema {
            println!("validated against the fake's subset only: {reason}");
        }
    }
}
