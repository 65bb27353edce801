use crate::harness::{connector, start_fake};
use omnistock_connector::{Connector, ConnectorError, PushResult, StockLevel};

fn level(listing_id: &str, quantity: i64) -> StockLevel {
    StockLevel {
        listing_id: listing_id.to_string(),
        sku: "SKU".into(),
        quantity,
    }
}

#[tokio::test]
async fn a_change_made_on_shopify_meanwhile_is_detected_reread_and_not_overwritten() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("CAS", 5);
    let results = connector.push_stock(&[level(&listing, 8)]).await.unwrap();
    assert_eq!(
        results,
        vec![PushResult::Confirmed {
            listing_id: listing.clone(),
            quantity: 8
        }]
    );

    // A merchant sets 11 on Shopify; omnistock still believes Shopify shows 8.
    fake.set_available(&listing, 11).unwrap();
    let results = connector.push_stock(&[level(&listing, 6)]).await.unwrap();
    match &results[..] {
        [PushResult::Rejected {
            error: error @ ConnectorError::Transient { .. },
            ..
        }] => assert!(error.to_string().contains("shows 11"), "{error}"),
        other => panic!("expected a transient rejection, got {other:?}"),
    }
    assert_eq!(fake.available(&listing), Some(11), "overwritten blindly");
    assert_eq!(connector.known_available(&listing), Some(11), "not re-read");

    // The runtime pushes again: now against the fresh quantity, and it applies.
    let results = connector.push_stock(&[level(&listing, 6)]).await.unwrap();
    assert!(matches!(
        results[0],
        PushResult::Confirmed { quantity: 6, .. }
    ));
    assert_eq!(fake.available(&listing), Some(6));

    // A sale on Shopify took one unit, and the ledger wants exactly what Shopify now shows:
    // stale, re-read, and nothing left to do.
    fake.place_order(&[(listing.clone(), 1)]).unwrap();
    let results = connector.push_stock(&[level(&listing, 5)]).await.unwrap();
    assert!(matches!(
        results[0],
        PushResult::Confirmed { quantity: 5, .. }
    ));

    let stale_codes: Vec<_> = fake
        .requests()
        .iter()
        .filter(|r| r.is_stock_update())
        .map(|r| r.variables["input"]["quantities"][0]["compareQuantity"].clone())
        .collect();
    assert_eq!(
        stale_codes,
        vec![
            serde_json::json!(5),
            serde_json::json!(8),
            serde_json::json!(11),
            serde_json::json!(6)
        ]
    );
}

#[tokio::test]
async fn user_errors_are_handled_listing_by_listing() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let good = fake.create_listing("GOOD", 1);
    let gone = fake.create_listing("GONE", 1);
    let never_stocked = fake.create_unstocked_listing("ELSEWHERE");
    // Both known to the connector.
    connector
        .push_stock(&[level(&good, 2), level(&gone, 2)])
        .await
        .unwrap();
    // The merchant stops stocking one at the location: Shopify refuses that quantity, and the
    // call as a whole is not applied.
    fake.unstock(&gone).unwrap();
    let results = connector
        .push_stock(&[
            level(&good, 3),
            level(&gone, 3),
            level(&never_stocked, 3),
            level("gid://shopify/ProductVariant/999999999", 3),
            level("sku-123", 3),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 5);
    let error_of = |listing: &str| {
        results
            .iter()
            .find_map(|result| match result {
                PushResult::Rejected { listing_id, error } if listing_id == listing => {
                    Some(error.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{listing} not rejected: {results:?}"))
    };
    assert!(matches!(error_of(&gone), ConnectorError::Permanent(_)));
    assert!(error_of(&gone)
        .to_string()
        .contains("ITEM_NOT_STOCKED_AT_LOCATION"));
    assert!(matches!(
        error_of(&never_stocked),
        ConnectorError::Permanent(_)
    ));
    assert!(matches!(
        error_of("gid://shopify/ProductVariant/999999999"),
        ConnectorError::Permanent(_)
    ));
    assert!(matches!(error_of("sku-123"), ConnectorError::Permanent(_)));
    // Shopify refused the whole call for the one quantity: the innocent one was sent again at
    // once, without it, instead of coming back through the queue.
    assert!(
        results.iter().any(|result| matches!(
            result,
            PushResult::Confirmed { listing_id, quantity: 3 } if *listing_id == good
        )),
        "{results:?}"
    );
    assert_eq!(fake.available(&good), Some(3));
    let calls: Vec<_> = fake
        .requests()
        .into_iter()
        .filter_map(|record| record.stock_update)
        .collect();
    let last_two = &calls[calls.len() - 2..];
    assert_eq!(
        (
            last_two[0].applied,
            last_two[0].items,
            last_two[0].collateral()
        ),
        (false, 2, 1)
    );
    assert_eq!((last_two[1].applied, last_two[1].items), (true, 1));
}

#[tokio::test]
async fn read_stock_reads_variants_and_inventory_items_and_leaves_out_the_unknown() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let variant = fake.create_listing("READ-V", 4);
    let other = fake.create_listing("READ-I", 9);
    let item = fake.inventory_item_of(&other).unwrap();
    let unstocked = fake.create_unstocked_listing("READ-U");
    let read = connector
        .read_stock(&[
            variant.clone(),
            item.clone(),
            unstocked,
            "gid://shopify/ProductVariant/424242".into(),
        ])
        .await
        .unwrap();
    let mut pairs: Vec<(String, i64, String)> = read
        .into_iter()
        .map(|level| (level.listing_id, level.quantity, level.sku))
        .collect();
    pairs.sort();
    let mut expected = vec![
        (variant, 4, "READ-V".to_string()),
        (item, 9, "READ-I".to_string()),
    ];
    expected.sort();
    assert_eq!(pairs, expected);
}

#[tokio::test]
async fn versions_from_2026_use_change_from_quantity_with_an_idempotency_key() {
    let fake = start_fake().await;
    for version in ["2026-01", "2026-04"] {
        let connector = fake.connector(version).unwrap();
        let listing = fake.create_listing(&format!("NEW-API-{version}"), 2);
        let results = connector.push_stock(&[level(&listing, 7)]).await.unwrap();
        assert!(
            matches!(results[0], PushResult::Confirmed { quantity: 7, .. }),
            "{version}: {results:?}"
        );
        fake.set_available(&listing, 1).unwrap();
        let results = connector.push_stock(&[level(&listing, 3)]).await.unwrap();
        assert!(
            matches!(
                &results[0],
                PushResult::Rejected {
                    error: ConnectorError::Transient { .. },
                    ..
                }
            ),
            "{version}: {results:?}"
        );
        assert_eq!(fake.available(&listing), Some(1));
        let record = fake
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.api_version == version && r.is_stock_update())
            .unwrap();
        let quantity = &record.variables["input"]["quantities"][0];
        assert_eq!(quantity["changeFromQuantity"], serde_json::json!(7));
        assert!(quantity.get("compareQuantity").is_none());
        assert!(record.variables["idempotencyKey"].is_string());
        assert!(record.query.contains("@idempotent(key: $idempotencyKey)"));
        assert!(record.validation_errors.is_empty(), "{record:?}");
    }
}

/// Shopify lowers `available` itself when it sells. The connector sees that sale (its webhook
/// or a poll) and keeps the compare value true, so the push that follows is not refused, and
/// neither is the rest of its batch.
#[tokio::test]
async fn a_sale_the_connector_saw_keeps_the_compare_value_true() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let sold = fake.create_listing("SOLD", 10);
    let other = fake.create_listing("OTHER", 10);
    connector
        .push_stock(&[level(&sold, 10), level(&other, 10)])
        .await
        .unwrap();
    // Shopify stamps to the second: let the sale be clearly after the push.
    let millis = chrono::Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(2400 - millis))).await;
    let order = fake.place_order(&[(sold.clone(), 2)]).unwrap();
    assert_eq!(fake.available(&sold), Some(8));
    let delivery = fake
        .webhook(&order, "orders/create", &fake.options().client_secret)
        .unwrap();
    connector
        .parse_webhook(&crate::harness::request(&delivery).request())
        .unwrap();
    assert_eq!(connector.known_available(&sold), Some(8));

    // The ledger booked the sale (8 left) and received 5 of the other.
    let results = connector
        .push_stock(&[level(&sold, 8), level(&other, 15)])
        .await
        .unwrap();
    assert!(
        results
            .iter()
            .all(|result| matches!(result, PushResult::Confirmed { .. })),
        "{results:?}"
    );
    let last = fake
        .requests()
        .into_iter()
        .rev()
        .find_map(|record| record.stock_update)
        .unwrap();
    assert!(last.applied && last.items_with_errors == 0, "{last:?}");
    assert_eq!(fake.available(&other), Some(15));

    // A cancel restocks the units on Shopify. Its time is only known to lie between the
    // order's previous update and this one, which straddles the last push: the level is
    // forgotten (read again before the next push), never left wrong.
    fake.cancel_order(&order).unwrap();
    let delivery = fake
        .webhook(&order, "orders/cancelled", &fake.options().client_secret)
        .unwrap();
    connector
        .parse_webhook(&crate::harness::request(&delivery).request())
        .unwrap();
    let known = connector.known_available(&sold);
    assert!(
        known.is_none() || known == fake.available(&sold),
        "{known:?}"
    );
    let results = connector.push_stock(&[level(&sold, 10)]).await.unwrap();
    assert!(matches!(
        results[0],
        PushResult::Confirmed { quantity: 10, .. }
    ));
    let last = fake
        .requests()
        .into_iter()
        .rev()
        .find_map(|record| record.stock_update)
        .unwrap();
    assert!(last.applied, "{last:?}");
}

/// Quantities of listings Shopify sold lately go in small calls of their own: a sale whose
/// order the connector has not seen yet makes Shopify refuse one small call, not the others'
/// quantities with it.
#[tokio::test]
async fn listings_shopify_sells_are_pushed_in_small_calls_of_their_own() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let quiet: Vec<String> = (0..6)
        .map(|index| fake.create_listing(&format!("QUIET-{index}"), 10))
        .collect();
    let selling: Vec<String> = (0..8)
        .map(|index| fake.create_listing(&format!("SELLING-{index}"), 10))
        .collect();
    let everything: Vec<StockLevel> = quiet
        .iter()
        .chain(&selling)
        .map(|id| level(id, 10))
        .collect();
    connector.push_stock(&everything).await.unwrap();
    // Shopify stamps to the second: let the sales be clearly after the push.
    let millis = chrono::Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(2400 - millis))).await;
    // The connector sees a sale of each selling listing.
    for listing in &selling {
        let order = fake.place_order(&[(listing.clone(), 1)]).unwrap();
        let delivery = fake
            .webhook(&order, "orders/create", &fake.options().client_secret)
            .unwrap();
        connector
            .parse_webhook(&crate::harness::request(&delivery).request())
            .unwrap();
    }
    // Another sale of one of them, not seen by the connector yet.
    fake.place_order(&[(selling[0].clone(), 1)]).unwrap();
    let before = fake.requests().len();

    let pushed: Vec<StockLevel> = quiet
        .iter()
        .map(|id| level(id, 12))
        .chain(selling.iter().map(|id| level(id, 9)))
        .collect();
    let results = connector.push_stock(&pushed).await.unwrap();
    let calls: Vec<_> = fake.requests()[before..]
        .iter()
        .filter_map(|record| record.stock_update)
        .collect();
    let refused: Vec<_> = calls.iter().filter(|call| !call.applied).collect();
    assert_eq!(refused.len(), 1, "{calls:?}");
    assert!(
        refused[0].items <= 4,
        "the unseen sale took {} quantities down: {calls:?}",
        refused[0].items
    );
    assert!(
        calls
            .iter()
            .any(|call| call.applied && call.items == quiet.len()),
        "the quiet listings go together: {calls:?}"
    );
    let confirmed = results
        .iter()
        .filter(|result| matches!(result, PushResult::Confirmed { .. }))
        .count();
    assert_eq!(confirmed, pushed.len() - 1, "{results:?}");
    for id in &quiet {
        assert_eq!(fake.available(id), Some(12));
    }
}
