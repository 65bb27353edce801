//! Stock by `patchListingsItem` and `getListingsItem`: per-listing refusals keep Amazon's code
//! and message, errors map onto the runtime's classes, the usage plan is reported.

use crate::harness::{assert_lacks_role, assert_no_violations, connector, start_fake};
use omnistock_amazon::fake::FakeOptions;
use omnistock_connector::{CallKind, Connector, ConnectorError, PushResult, RateLimit, StockLevel};
use std::time::Duration;

fn level(sku: &str, quantity: i64) -> StockLevel {
    StockLevel {
        listing_id: sku.into(),
        sku: sku.into(),
        quantity,
    }
}

#[tokio::test]
async fn refusals_are_per_listing_and_keep_amazons_code_and_message() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    fake.create_listing("KNOWN", 1);
    fake.create_fba_listing("FBA-ONLY");
    let connector = connector(fake.channel_config());
    let results = connector
        .push_stock(&[level("KNOWN", 9), level("GHOST", 3)])
        .await
        .unwrap();
    assert_eq!(
        results[0],
        PushResult::Confirmed {
            listing_id: "KNOWN".into(),
            quantity: 9
        }
    );
    match &results[1] {
        PushResult::Rejected {
            listing_id,
            error: ConnectorError::Permanent(reason),
        } => {
            assert_eq!(listing_id, "GHOST");
            assert!(
                reason.contains("InvalidInput") && reason.contains("GHOST"),
                "{reason}"
            );
        }
        other => panic!("expected a permanent rejection, got {other:?}"),
    }
    assert_eq!(fake.quantity("KNOWN"), Some(9));
    let read = connector
        .read_stock(&["KNOWN".into(), "GHOST".into(), "FBA-ONLY".into()])
        .await
        .unwrap();
    assert_eq!(
        read,
        vec![level("KNOWN", 9)],
        "unknown and FBA-only listings are left out"
    );
    assert_no_violations(&fake);
}

#[tokio::test]
async fn errors_map_onto_the_runtime_classes() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    fake.create_listing("A", 1);
    fake.create_listing("B", 1);
    let connector = connector(fake.channel_config());

    fake.fail_next("patchListingsItem", 503);
    let error = connector.push_stock(&[level("A", 2)]).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Transient { .. }), "{error}");

    fake.fail_next("getListingsItem", 500);
    let error = connector.read_stock(&["A".into()]).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Transient { .. }), "{error}");

    fake.deny("patchListingsItem");
    let error = connector.push_stock(&[level("A", 2)]).await.unwrap_err();
    assert_lacks_role(&error, "Product Listing");
    assert_no_violations(&fake);
}

#[tokio::test]
async fn a_throttled_batch_confirms_what_passed_and_leaves_the_rest_to_retry() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    for sku in ["T1", "T2", "T3"] {
        fake.create_listing(sku, 0);
    }
    fake.set_stock_rate_limit(Some(RateLimit::per_minute(1)));
    let connector = connector(fake.channel_config());
    let results = connector
        .push_stock(&[level("T1", 1), level("T2", 2), level("T3", 3)])
        .await
        .unwrap();
    assert_eq!(
        results[0],
        PushResult::Confirmed {
            listing_id: "T1".into(),
            quantity: 1
        }
    );
    for result in &results[1..] {
        match result {
            PushResult::Rejected {
                error:
                    error @ ConnectorError::RateLimited {
                        retry_after: Some(wait),
                        ..
                    },
                ..
            } => {
                assert!(error.is_retryable());
                assert!(*wait >= Duration::from_secs(50), "{wait:?}");
            }
            other => panic!("expected a retryable rejection, got {other:?}"),
        }
    }
    assert_eq!(
        fake.requests("patchListingsItem"),
        2,
        "nothing sent after the 429"
    );
    assert!(connector.wait_before(CallKind::PushStock).unwrap() >= Duration::from_secs(50));
}

#[tokio::test]
async fn a_full_batch_spends_the_burst_and_the_next_waits_a_second() {
    let options = FakeOptions {
        enforce_usage_plans: true,
        ..FakeOptions::default()
    };
    let Some(fake) = start_fake(options).await else {
        return;
    };
    let levels: Vec<StockLevel> = (0..5)
        .map(|index| {
            let sku = format!("BURST-{index}");
            fake.create_listing(&sku, 0);
            level(&sku, index)
        })
        .collect();
    let connector = connector(fake.channel_config());
    assert_eq!(
        connector.wait_before(CallKind::PushStock),
        Some(Duration::ZERO)
    );
    let results = connector.push_stock(&levels).await.unwrap();
    assert!(results
        .iter()
        .all(|result| matches!(result, PushResult::Confirmed { .. })));
    let wait = connector.wait_before(CallKind::PushStock).unwrap();
    assert!(
        wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    tokio::time::sleep(wait).await;
    let results = connector.push_stock(&levels).await.unwrap();
    assert!(
        results
            .iter()
            .all(|result| matches!(result, PushResult::Confirmed { .. })),
        "{results:?}"
    );
    assert_no_violations(&fake);
}
