//! The sim's HTTP API as a client sees it: auth, cursors, batches, limits and faults.

use crate::harness::{lines, start_sim, TEST_PAGE_SIZE};
use omnistock_connector::RateLimit;
use omnistock_sim::wire::{OrdersResponse, StockReadResponse, StockUpdateResponse};
use omnistock_sim::{Faults, StockRequestOutcome};
use serde_json::{json, Value};
use std::time::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn api_requires_the_bearer_token() {
    let sim = start_sim().await;
    let url = format!("{}/api/orders", sim.base_url());
    let missing = client().get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let wrong = client().get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client()
        .get(&url)
        .bearer_auth(sim.api_token().expose())
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert_eq!(sim.counters().unauthorized, 2);
}

#[tokio::test]
async fn orders_page_by_compound_cursor_without_skipping_equal_timestamps() {
    let sim = start_sim().await;
    let listing = sim.create_listing(Some("L-A"), "SKU-A", 100).unwrap();
    sim.set_clock(Some(chrono::Utc::now()));
    let mut placed = Vec::new();
    for _ in 0..(TEST_PAGE_SIZE + 2) {
        placed.push(
            sim.place_order(&lines(&[(listing.listing_id.clone(), 1)]))
                .unwrap()
                .id,
        );
    }
    sim.set_clock(None);
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let mut request = client()
            .get(format!("{}/api/orders", sim.base_url()))
            .bearer_auth(sim.api_token().expose())
            .query(&[("limit", "3")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("updated_since", cursor.as_str())]);
        }
        let page: OrdersResponse = request.send().await.unwrap().json().await.unwrap();
        assert!(page.orders.len() <= 3);
        seen.extend(page.orders.iter().map(|order| order.id.clone()));
        cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(seen, placed);
    assert_eq!(sim.shown_quantity("L-A"), Some(100 - placed.len() as i64));

    let bad = client()
        .get(format!(
            "{}/api/orders?updated_since=yesterday",
            sim.base_url()
        ))
        .bearer_auth(sim.api_token().expose())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn stock_updates_report_per_item_errors_and_refuse_oversized_batches() {
    let sim = start_sim().await;
    sim.create_listing(Some("L-1"), "SKU-1", 5).unwrap();
    let url = format!("{}/api/stock", sim.base_url());
    let answer: StockUpdateResponse = client()
        .post(&url)
        .bearer_auth(sim.api_token().expose())
        .json(&json!({"updates": [
            {"listing_id": "L-1", "quantity": 9},
            {"listing_id": "L-404", "quantity": 1},
            {"listing_id": "L-1", "quantity": -1}
        ]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<(&str, Option<&str>)> = answer
        .results
        .iter()
        .map(|result| (result.status.as_str(), result.error.as_deref()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("ok", None),
            ("error", Some("unknown_listing")),
            ("error", Some("invalid_quantity"))
        ]
    );
    assert_eq!(sim.shown_quantity("L-1"), Some(9));

    let too_many: Vec<Value> = (0..=sim.max_batch())
        .map(|_| json!({"listing_id": "L-1", "quantity": 1}))
        .collect();
    let refused = client()
        .post(&url)
        .bearer_auth(sim.api_token().expose())
        .json(&json!({ "updates": too_many }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 413);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "batch_too_large");
    assert_eq!(sim.shown_quantity("L-1"), Some(9));

    let read: StockReadResponse = client()
        .get(&url)
        .bearer_auth(sim.api_token().expose())
        .query(&[("listing_ids", "L-1,L-404")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read.levels.len(), 1);
    assert_eq!(read.levels[0].quantity, 9);

    let outcomes: Vec<StockRequestOutcome> = sim
        .stock_log()
        .iter()
        .map(|record| record.outcome)
        .collect();
    assert_eq!(
        outcomes,
        vec![
            StockRequestOutcome::Applied,
            StockRequestOutcome::BatchTooLarge
        ]
    );
    assert_eq!(sim.stock_log()[0].listing_ids, vec!["L-1", "L-404", "L-1"]);
}

#[tokio::test]
async fn rate_limit_refuses_the_excess_with_retry_after() {
    let sim = start_sim().await;
    sim.create_listing(Some("L-1"), "SKU-1", 5).unwrap();
    sim.set_rate_limit(Some(RateLimit::per_second(2)));
    let url = format!("{}/api/stock", sim.base_url());
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let response = client()
            .post(&url)
            .bearer_auth(sim.api_token().expose())
            .json(&json!({"updates": [{"listing_id": "L-1", "quantity": 1}]}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|value| value.to_str().unwrap().to_string());
        }
    }
    assert_eq!(statuses, vec![200, 200, 429, 429]);
    assert_eq!(retry_after.as_deref(), Some("1"));
    let counters = sim.counters();
    assert_eq!(counters.stock_updates, 4);
    assert_eq!(counters.rate_limited, 2);
    assert_eq!(sim.max_stock_requests_in_window(Duration::from_secs(1)), 4);
}

#[tokio::test]
async fn faults_answer_503_during_an_outage_and_500_at_full_error_rate() {
    let sim = start_sim().await;
    let url = format!("{}/api/orders", sim.base_url());
    sim.set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    let down = client().get(&url).send().await.unwrap();
    assert_eq!(down.status(), 503);
    sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let failing = client()
        .get(&url)
        .bearer_auth(sim.api_token().expose())
        .send()
        .await
        .unwrap();
    assert_eq!(failing.status(), 500);

    // The control API sets the same faults over HTTP.
    let cleared = client()
        .put(format!("{}/control/faults", sim.base_url()))
        .json(&json!({"error_rate": 0.0, "latency_ms": 0, "outage": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    let healthy = client()
        .get(&url)
        .bearer_auth(sim.api_token().expose())
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200);
    let counters = sim.counters();
    assert_eq!((counters.outage_refusals, counters.injected_errors), (1, 1));
}

#[tokio::test]
async fn control_api_places_cancels_and_refuses_overselling() {
    let sim = start_sim().await;
    let base = sim.base_url().to_string();
    let listing: Value = client()
        .post(format!("{base}/control/listings"))
        .json(&json!({"sku": "SKU-9", "quantity": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listing_id = listing["listing_id"].as_str().unwrap().to_string();
    let placed = client()
        .post(format!("{base}/control/orders"))
        .json(&json!({"lines": [{"listing_id": listing_id, "quantity": 2}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["status"], "open");
    assert_eq!(sim.shown_quantity(&listing_id), Some(0));

    let oversold = client()
        .post(format!("{base}/control/orders"))
        .json(&json!({"lines": [{"listing_id": listing_id, "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(oversold.status(), 409);

    let order_id = order["id"].as_str().unwrap();
    let cancelled: Value = client()
        .post(format!("{base}/control/orders/{order_id}/cancel"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["lines"][0]["cancelled_quantity"], 2);
    assert_eq!(sim.shown_quantity(&listing_id), Some(2));
    let again = client()
        .post(format!("{base}/control/orders/{order_id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
}
