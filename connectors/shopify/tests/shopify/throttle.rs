use crate::harness::{connector, start_fake, SET_COST};
use omnistock_connector::{Connector, ConnectorError, StockLevel};
use std::time::Duration;

fn level(listing_id: &str, quantity: i64) -> StockLevel {
    StockLevel {
        listing_id: listing_id.to_string(),
        sku: "SKU".into(),
        quantity,
    }
}

#[tokio::test]
async fn throttled_becomes_rate_limited_with_the_wait_the_bucket_needs() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("THROTTLE", 1);
    connector.push_stock(&[level(&listing, 2)]).await.unwrap();
    // A bucket with room for one update, restoring 2 points a second.
    fake.set_bucket(SET_COST + 1.0, 2.0);
    connector.push_stock(&[level(&listing, 3)]).await.unwrap();
    let error = connector
        .push_stock(&[level(&listing, 4)])
        .await
        .expect_err("the second update must be throttled");
    let ConnectorError::RateLimited { retry_after, .. } = &error else {
        panic!("expected RateLimited, got {error:?}");
    };
    // 12 points needed, about 1 available, 2 restored a second: about 5.5 seconds.
    let wait = retry_after.expect("a wait");
    assert!(
        wait > Duration::from_secs(4) && wait < Duration::from_secs(7),
        "{wait:?}"
    );
    let status = connector
        .throttle_status()
        .expect("the bucket was observed");
    assert_eq!(status.bucket.maximum_available, SET_COST + 1.0);
    assert_eq!(status.bucket.restore_rate, 2.0);
    assert!(connector.wait_for_cost(SET_COST) > Duration::from_secs(4));
    assert_eq!(
        fake.available(&listing),
        Some(3),
        "a throttled call applied"
    );
}

#[tokio::test]
async fn a_caller_that_honours_retry_after_never_overruns_the_bucket() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("PACED", 0);
    connector.push_stock(&[level(&listing, 1)]).await.unwrap();
    // Room for two updates, restoring one update's cost every 60 ms.
    fake.set_bucket(2.0 * SET_COST, SET_COST / 0.06);
    let mut refusals = 0;
    let mut refused_last = false;
    for quantity in 2..14 {
        loop {
            match connector.push_stock(&[level(&listing, quantity)]).await {
                Ok(_) => {
                    refused_last = false;
                    break;
                }
                Err(ConnectorError::RateLimited { retry_after, .. }) => {
                    assert!(
                        !refused_last,
                        "refused again right after waiting the retry_after it asked for"
                    );
                    refusals += 1;
                    refused_last = true;
                    tokio::time::sleep(retry_after.expect("a wait")).await;
                }
                Err(other) => panic!("{other}"),
            }
        }
    }
    assert!(
        refusals > 0,
        "the bucket never filled: the test proves nothing"
    );
    assert_eq!(fake.available(&listing), Some(13));

    // Pacing with the observed bucket instead: not a single refusal.
    let before = fake.requests().iter().filter(|r| r.throttled).count();
    for quantity in 20..30 {
        tokio::time::sleep(connector.wait_for_cost(SET_COST)).await;
        connector
            .push_stock(&[level(&listing, quantity)])
            .await
            .unwrap();
    }
    let after = fake.requests().iter().filter(|r| r.throttled).count();
    assert_eq!(
        before, after,
        "pacing by throttle_status still got throttled"
    );
}

#[tokio::test]
async fn capabilities_are_declared_honestly() {
    let fake = start_fake().await;
    let capabilities = connector(&fake).capabilities();
    assert_eq!(capabilities.max_stock_batch, 250);
    assert!(capabilities.compare_and_set && capabilities.webhooks && capabilities.polling);
    assert_eq!(
        capabilities.rate_limit.map(|limit| limit.to_string()),
        Some("4/s".to_string())
    );
}
