//! Stock against the fake: one request per product listing every warehouse of each SKU, the
//! documented maximum, 0 for sold out, per-SKU refusals, 429, reads in pages of 600, and the
//! warehouses a push does not set read fresh so that a sale on TikTok is not undone.

use crate::harness::{connector_with, per_warehouse, start_fake};
use omnistock_connector::{CallKind, Connector, ConnectorError, PushResult, RateLimit, StockLevel};
use omnistock_tiktok::fake::{FakeTikTok, INVENTORY_SEARCH, UPDATE_INVENTORY};
use omnistock_tiktok::inventory::{FRESH_FOR, MAX_QUANTITY};
use omnistock_tiktok::TikTokConnector;
use std::time::Duration;

fn level(listing_id: &str, quantity: i64) -> StockLevel {
    StockLevel {
        listing_id: listing_id.to_string(),
        sku: "SKU".into(),
        quantity,
    }
}

fn confirmed(listing_id: &str, quantity: i64) -> PushResult {
    PushResult::Confirmed {
        listing_id: listing_id.to_string(),
        quantity,
    }
}

#[tokio::test]
async fn skus_of_one_product_go_in_one_request_with_every_warehouse_listed() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let mut config = fake.channel_config();
    config.warehouse_id = Some("WH-MAIN".into());
    let connector = connector_with(config);
    let listings = fake.create_product(&[
        ("RED", &[("WH-MAIN", 3), ("WH-OTHER", 7)]),
        ("BLUE", &[("WH-MAIN", 1), ("WH-OTHER", 2)]),
    ]);
    let before = fake.requests(UPDATE_INVENTORY);
    let results = connector
        .push_stock(&[level(&listings[0], 10), level(&listings[1], 0)])
        .await
        .unwrap();
    assert_eq!(
        results,
        vec![confirmed(&listings[0], 10), confirmed(&listings[1], 0)]
    );
    assert_eq!(
        fake.requests(UPDATE_INVENTORY) - before,
        1,
        "one request per product"
    );
    let red = fake.warehouse_quantities(&listings[0]).unwrap();
    assert_eq!(
        (red["WH-MAIN"], red["WH-OTHER"]),
        (10, 7),
        "the other warehouse keeps its stock"
    );
    let blue = fake.warehouse_quantities(&listings[1]).unwrap();
    assert_eq!((blue["WH-MAIN"], blue["WH-OTHER"]), (0, 2));
    let read = connector.read_stock(&listings).await.unwrap();
    let quantities: Vec<i64> = read.iter().map(|level| level.quantity).collect();
    assert_eq!(
        quantities,
        vec![10, 0],
        "reconciliation compares the warehouse omnistock sets"
    );
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
}

#[tokio::test]
async fn quantities_are_clamped_to_the_documented_maximum() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("BIG", 5);
    let results = connector
        .push_stock(&[level(&listing, 250_000)])
        .await
        .unwrap();
    assert_eq!(results, vec![confirmed(&listing, MAX_QUANTITY)]);
    assert_eq!(fake.quantity(&listing), Some(MAX_QUANTITY));
}

#[tokio::test]
async fn a_refused_sku_is_rejected_alone() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listings = fake.create_product(&[("A", &[("W1", 1)]), ("B", &[("W1", 1)])]);
    let product = listings[0].split(':').next().unwrap().to_string();
    let unknown = format!("{product}:999");
    let results = connector
        .push_stock(&[
            level(&listings[0], 4),
            level(&unknown, 4),
            level("not-an-id", 1),
        ])
        .await
        .unwrap();
    assert!(results.contains(&confirmed(&listings[0], 4)), "{results:?}");
    for refused in [&unknown, &"not-an-id".to_string()] {
        assert!(
            results.iter().any(|result| matches!(result,
                PushResult::Rejected { listing_id, error: ConnectorError::Permanent(_) } if listing_id == refused)),
            "{refused} not rejected: {results:?}"
        );
    }
}

#[tokio::test]
async fn several_warehouses_without_a_configured_one_is_a_configuration_refusal() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake
        .create_product(&[("TWO", &[("W1", 1), ("W2", 1)])])
        .remove(0);
    let results = connector.push_stock(&[level(&listing, 4)]).await.unwrap();
    assert!(
        matches!(
            &results[..],
            [PushResult::Rejected {
                error: ConnectorError::Configuration(_),
                ..
            }]
        ),
        "{results:?}"
    );
    assert_eq!(fake.quantity(&listing), Some(2), "nothing sent");
}

#[tokio::test]
async fn http_429_is_rate_limited_with_a_wait() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listing = fake.create_listing("PACE", 1);
    fake.set_rate_limit(UPDATE_INVENTORY, Some(RateLimit::per_minute(1)));
    connector.push_stock(&[level(&listing, 2)]).await.unwrap();
    let refused = connector
        .push_stock(&[level(&listing, 3)])
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ConnectorError::RateLimited { retry_after: Some(wait), .. } if !wait.is_zero()),
        "{refused:?}"
    );
    assert_eq!(fake.quantity(&listing), Some(2));
}

#[tokio::test]
async fn the_runtime_is_told_to_wait_before_a_push_would_exceed_the_limit() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let mut config = fake.channel_config();
    config.rate_limit = Some(RateLimit::per_second(3));
    let connector = connector_with(config);
    let listings: Vec<String> = (0..3)
        .map(|index| fake.create_listing(&format!("W-{index}"), 1))
        .collect();
    assert_eq!(
        connector.wait_before(CallKind::PushStock),
        Some(Duration::ZERO)
    );
    let levels: Vec<StockLevel> = listings.iter().map(|listing| level(listing, 5)).collect();
    connector.push_stock(&levels).await.unwrap();
    let wait = connector.wait_before(CallKind::PushStock).unwrap();
    assert!(
        wait > Duration::from_millis(500),
        "three products sent three requests: {wait:?}"
    );
}

#[tokio::test]
async fn a_push_waits_for_room_for_its_search_too() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let mut config = fake.channel_config();
    config.rate_limit = Some(RateLimit::per_second(3));
    let connector = connector_with(config);
    let listing = fake.create_listing("SEARCHED", 1);
    for _ in 0..3 {
        connector
            .read_stock(std::slice::from_ref(&listing))
            .await
            .unwrap();
    }
    let wait = connector.wait_before(CallKind::PushStock).unwrap();
    assert!(
        wait > Duration::from_millis(500),
        "the search API's room is spent, the update API's is not: {wait:?}"
    );
}

#[tokio::test]
async fn reads_search_by_sku_ids_in_pages_of_600() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(fake.channel_config());
    let listings: Vec<String> = (0..601)
        .map(|index| fake.create_listing(&format!("R-{index}"), index))
        .collect();
    let before = fake.requests(INVENTORY_SEARCH);
    let levels = connector.read_stock(&listings).await.unwrap();
    assert_eq!(fake.requests(INVENTORY_SEARCH) - before, 2);
    assert_eq!(levels.len(), 601);
    let last = levels
        .iter()
        .find(|level| level.listing_id == listings[600])
        .unwrap();
    assert_eq!((last.quantity, last.sku.as_str()), (600, "R-600"));
}

/// The SKU's listing in one warehouse.
fn in_warehouse(listing: &str, warehouse: &str) -> String {
    format!("{listing}:{warehouse}")
}

#[tokio::test]
async fn per_warehouse_listings_of_one_sku_merge_into_one_entry_of_one_request() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(per_warehouse(&fake));
    let sku = fake
        .create_product(&[("RED", &[("W1", 3), ("W2", 4), ("W9", 6)])])
        .remove(0);
    let (east, west) = (in_warehouse(&sku, "W1"), in_warehouse(&sku, "W2"));
    assert_eq!(connector.listing_location(&east).as_deref(), Some("east"));
    assert_eq!(connector.listing_location(&west).as_deref(), Some("west"));
    assert_eq!(connector.listing_location(&in_warehouse(&sku, "W9")), None);
    assert_eq!(connector.listing_location(&sku), None);

    let before = fake.requests(UPDATE_INVENTORY);
    let results = connector
        .push_stock(&[level(&east, 11), level(&west, 250_000)])
        .await
        .unwrap();
    assert_eq!(
        results,
        vec![confirmed(&east, 11), confirmed(&west, MAX_QUANTITY)]
    );
    assert_eq!(fake.requests(UPDATE_INVENTORY) - before, 1, "one request");
    let held = fake.warehouse_quantities(&sku).unwrap();
    assert_eq!(
        (held["W1"], held["W2"], held["W9"]),
        (11, MAX_QUANTITY, 6),
        "the unmapped warehouse keeps what it holds"
    );

    // One warehouse alone: the other is listed at what it holds.
    let results = connector.push_stock(&[level(&west, 0)]).await.unwrap();
    assert_eq!(results, vec![confirmed(&west, 0)]);
    let held = fake.warehouse_quantities(&sku).unwrap();
    assert_eq!((held["W1"], held["W2"], held["W9"]), (11, 0, 6));

    let read = connector
        .read_stock(&[east.clone(), west.clone(), in_warehouse(&sku, "W7")])
        .await
        .unwrap();
    let quantities: Vec<(String, i64)> = read
        .iter()
        .map(|level| (level.listing_id.clone(), level.quantity))
        .collect();
    assert_eq!(
        quantities,
        vec![(east, 11), (west, 0)],
        "each listing reads its own warehouse; a warehouse the SKU is not in is left out"
    );
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
}

#[tokio::test]
async fn a_refused_warehouse_rejects_its_listing_and_the_skus_other_listing_is_sent_again() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(per_warehouse(&fake));
    let sku = fake
        .create_product(&[("RED", &[("W1", 3), ("W2", 4)])])
        .remove(0);
    let (east, west) = (in_warehouse(&sku, "W1"), in_warehouse(&sku, "W2"));
    fake.set_warehouse_disabled("W2", true);
    let results = connector
        .push_stock(&[level(&east, 8), level(&west, 9)])
        .await
        .unwrap();
    let refused_west = results.iter().any(|result| {
        matches!(result,
        PushResult::Rejected { listing_id, error: ConnectorError::Permanent(message) }
            if *listing_id == west && message.contains("12052531") && message.contains("W2"))
    });
    assert!(refused_west, "{results:?}");
    let east_again = results.iter().any(|result| {
        matches!(result,
        PushResult::Rejected { listing_id, error } if *listing_id == east && error.is_retryable())
    });
    assert!(east_again, "not applied, so sent again: {results:?}");
    let held = fake.warehouse_quantities(&sku).unwrap();
    assert_eq!(
        (held["W1"], held["W2"]),
        (3, 4),
        "TikTok applied nothing of the SKU"
    );

    // The retry of the other warehouse alone lists the refused one at what it holds.
    let results = connector.push_stock(&[level(&east, 8)]).await.unwrap();
    assert_eq!(results, vec![confirmed(&east, 8)]);
    let held = fake.warehouse_quantities(&sku).unwrap();
    assert_eq!((held["W1"], held["W2"]), (8, 4));
}

#[tokio::test]
async fn per_warehouse_settings_are_validated_naming_the_key() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let refused = |config: omnistock_tiktok::TikTokChannelConfig| {
        config.validate().expect_err("refused").to_string()
    };
    let mut both = per_warehouse(&fake);
    both.warehouse_id = Some("W1".into());
    assert!(refused(both).starts_with("warehouses: give either warehouse_id"));
    let mut empty = per_warehouse(&fake);
    empty.warehouses = Some(Default::default());
    assert!(refused(empty).starts_with("warehouses: maps no warehouse"));
    let mut shared = per_warehouse(&fake);
    shared.warehouses = Some(
        [("W1", "east"), ("W2", "east")]
            .into_iter()
            .map(|(warehouse, location)| (warehouse.to_string(), location.to_string()))
            .collect(),
    );
    let message = refused(shared);
    assert!(
        message.contains("W1 and W2 both map to location \"east\""),
        "{message}"
    );
    let mut malformed = per_warehouse(&fake);
    malformed.warehouses = Some([("W:1".to_string(), "east".to_string())].into());
    assert!(refused(malformed).contains("not a TikTok warehouse id"));
    let mut blank = per_warehouse(&fake);
    blank.warehouses = Some([("W1".to_string(), " ".to_string())].into());
    assert!(refused(blank).contains("empty location"));
    assert!(per_warehouse(&fake).validate().is_ok());
}

/// Past the age under which the connector lists a warehouse it does not set at what it cached.
async fn let_the_cache_age() {
    tokio::time::sleep(FRESH_FOR + Duration::from_millis(100)).await;
}

/// Pushes `set` twice; between them TikTok sells 2 units from `sold_from`, a warehouse the push
/// lists without setting. The second push must leave it at its lowered quantity.
async fn a_sale_elsewhere_survives_the_next_push(
    fake: &FakeTikTok,
    connector: &TikTokConnector,
    sku: &str,
    set: &str,
    sold_from: &str,
) {
    let results = connector.push_stock(&[level(set, 5)]).await.unwrap();
    assert_eq!(results, vec![confirmed(set, 5)]);
    let held = fake.warehouse_quantities(sku).unwrap()[sold_from];
    fake.place_order_from(sold_from, &[(sku.to_string(), 2)])
        .unwrap();
    assert_eq!(fake.warehouse_quantities(sku).unwrap()[sold_from], held - 2);
    let_the_cache_age().await;

    let searches = fake.requests(INVENTORY_SEARCH);
    let results = connector.push_stock(&[level(set, 7)]).await.unwrap();
    assert_eq!(results, vec![confirmed(set, 7)]);
    let now = fake.warehouse_quantities(sku).unwrap();
    assert_eq!(
        now[sold_from],
        held - 2,
        "the sale on TikTok is not undone: {now:?}"
    );
    assert_eq!(
        fake.requests(INVENTORY_SEARCH) - searches,
        1,
        "the warehouse not set is read first"
    );
    assert!(fake.refusals().is_empty(), "{:?}", fake.refusals());
}

#[tokio::test]
async fn a_sale_on_tiktok_in_a_warehouse_omnistock_does_not_set_is_not_undone() {
    let Some(fake) = start_fake().await else {
        return;
    };
    // Per-warehouse: W9 is not mapped.
    let connector = connector_with(per_warehouse(&fake));
    let sku = fake
        .create_product(&[("RED", &[("W1", 3), ("W9", 6)])])
        .remove(0);
    a_sale_elsewhere_survives_the_next_push(
        &fake,
        &connector,
        &sku,
        &in_warehouse(&sku, "W1"),
        "W9",
    )
    .await;
    // Per-warehouse: W2 is mapped, but its listing is not in the push.
    let sku = fake
        .create_product(&[("BLUE", &[("W1", 3), ("W2", 6)])])
        .remove(0);
    a_sale_elsewhere_survives_the_next_push(
        &fake,
        &connector,
        &sku,
        &in_warehouse(&sku, "W1"),
        "W2",
    )
    .await;
    // `warehouse_id`: the SKU's other warehouse.
    let mut config = fake.channel_config();
    config.warehouse_id = Some("WH-MAIN".into());
    let connector = connector_with(config);
    let sku = fake
        .create_product(&[("GREEN", &[("WH-MAIN", 3), ("WH-OTHER", 6)])])
        .remove(0);
    a_sale_elsewhere_survives_the_next_push(&fake, &connector, &sku, &sku, "WH-OTHER").await;
}

#[tokio::test]
async fn a_push_setting_every_warehouse_of_its_skus_makes_no_search() {
    let Some(fake) = start_fake().await else {
        return;
    };
    let connector = connector_with(per_warehouse(&fake));
    let both = fake
        .create_product(&[("BOTH", &[("W1", 3), ("W2", 4)])])
        .remove(0);
    let one = fake.create_product(&[("ONE", &[("W1", 1)])]).remove(0);
    let (east, west, one_east) = (
        in_warehouse(&both, "W1"),
        in_warehouse(&both, "W2"),
        in_warehouse(&one, "W1"),
    );
    let every = [level(&east, 5), level(&west, 6), level(&one_east, 7)];
    let searches = fake.requests(INVENTORY_SEARCH);
    connector.push_stock(&every).await.unwrap();
    assert_eq!(
        fake.requests(INVENTORY_SEARCH) - searches,
        1,
        "unknown SKUs are learned in one search"
    );
    let_the_cache_age().await;

    let searches = fake.requests(INVENTORY_SEARCH);
    let every = [level(&east, 8), level(&west, 9), level(&one_east, 10)];
    let results = connector.push_stock(&every).await.unwrap();
    assert_eq!(
        results,
        vec![
            confirmed(&east, 8),
            confirmed(&west, 9),
            confirmed(&one_east, 10)
        ]
    );
    assert_eq!(
        fake.requests(INVENTORY_SEARCH) - searches,
        0,
        "every warehouse of each SKU is set: nothing to read"
    );
    let held = fake.warehouse_quantities(&both).unwrap();
    assert_eq!((held["W1"], held["W2"]), (8, 9));

    // Right after an update, the cache is fresh: no search either.
    connector.push_stock(&[level(&east, 2)]).await.unwrap();
    assert_eq!(fake.requests(INVENTORY_SEARCH) - searches, 0);

    // A SKU's only warehouse, no warehouse configured.
    let connector = connector_with(fake.channel_config());
    let single = fake.create_listing("SINGLE", 1);
    connector.push_stock(&[level(&single, 2)]).await.unwrap();
    let_the_cache_age().await;
    let searches = fake.requests(INVENTORY_SEARCH);
    let results = connector.push_stock(&[level(&single, 3)]).await.unwrap();
    assert_eq!(results, vec![confirmed(&single, 3)]);
    assert_eq!(fake.requests(INVENTORY_SEARCH) - searches, 0);
}
