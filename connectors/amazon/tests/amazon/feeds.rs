//! Large pushes by `JSON_LISTINGS_FEED`: the document validates against Amazon's feed schema,
//! the feed stays in flight until processed, and the report's accepted and refused messages
//! become per-listing results.

use crate::harness::{assert_no_violations, connector, start_fake};
use omnistock_amazon::fake::FakeOptions;
use omnistock_connector::{Connector, ConnectorError, PushResult, StockLevel, SubmissionStatus};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_feed_is_in_flight_until_its_report_confirms_or_refuses_each_listing() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    let levels: Vec<StockLevel> = (0..50)
        .map(|index| {
            let sku = format!("FEED-{index:03}");
            fake.create_listing(&sku, 0);
            StockLevel {
                listing_id: sku.clone(),
                sku,
                quantity: index,
            }
        })
        .chain(std::iter::once(StockLevel {
            listing_id: "FEED-GHOST".into(),
            sku: "FEED-GHOST".into(),
            quantity: 1,
        }))
        .collect();
    fake.refuse_in_feeds("FEED-007", "The quantity for this listing is locked");
    let connector = connector(fake.channel_config());
    assert_eq!(connector.max_stock_submission(), Some(25_000));

    let feed_id = connector.submit_stock(&levels).await.unwrap();
    assert_eq!(fake.feeds(), vec![("JSON_LISTINGS_FEED".to_string(), 51)]);
    match connector
        .submission_status(&feed_id, &levels)
        .await
        .unwrap()
    {
        SubmissionStatus::InFlight { poll_after } => {
            assert_eq!(
                poll_after,
                Duration::from_millis(100),
                "feed_poll_interval_ms"
            )
        }
        done => panic!("a feed just submitted is in flight, got {done:?}"),
    }
    assert_eq!(
        fake.quantity("FEED-001"),
        Some(0),
        "nothing applied before processing"
    );

    let started = Instant::now();
    let results = loop {
        match connector
            .submission_status(&feed_id, &levels)
            .await
            .unwrap()
        {
            SubmissionStatus::Done(results) => break results,
            SubmissionStatus::InFlight { .. } => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "the feed never finished"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(results.len(), 51);
    let confirmed = results
        .iter()
        .filter(|result| matches!(result, PushResult::Confirmed { .. }))
        .count();
    assert_eq!(confirmed, 49);
    let reason = |sku: &str| {
        results.iter().find_map(|result| match result {
            PushResult::Rejected {
                listing_id,
                error: ConnectorError::Permanent(reason),
            } if listing_id == sku => Some(reason.clone()),
            _ => None,
        })
    };
    assert!(reason("FEED-007").unwrap().contains("locked"));
    assert!(reason("FEED-GHOST").unwrap().contains("does not exist"));
    assert_eq!(fake.quantity("FEED-049"), Some(49));
    assert_eq!(fake.quantity("FEED-007"), Some(0));
    assert_no_violations(&fake);
}
