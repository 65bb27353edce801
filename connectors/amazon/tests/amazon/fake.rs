//! The fake refuses what Amazon's models do not allow, so that a passing test means the
//! connector's requests are valid.

use crate::harness::start_fake;
use omnistock_amazon::fake::FakeOptions;
use serde_json::json;

async fn token(fake: &omnistock_amazon::fake::FakeSpApi) -> String {
    let options = fake.options();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/auth/o2/token", fake.origin()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", options.refresh_token.as_str()),
            ("client_id", options.client_id.as_str()),
            ("client_secret", options.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn requests_outside_the_models_are_refused_and_recorded() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    fake.create_listing("SKU-1", 1);
    let token = token(&fake).await;
    let http = reqwest::Client::new();
    let origin = fake.origin();
    let cases = [
        // MarketplaceIds is required.
        http.get(format!("{origin}/orders/v0/orders?LastUpdatedAfter=2026-01-01T00:00:00Z")),
        // An unknown parameter.
        http.get(format!("{origin}/orders/v0/orders?MarketplaceIds=A1PA6795UKMFR9&LastUpdatedAfter=2026-01-01T00:00:00Z&Foo=1")),
        // MaxResultsPerPage is an integer.
        http.get(format!("{origin}/orders/v0/orders?MarketplaceIds=A1PA6795UKMFR9&MaxResultsPerPage=many")),
        // includedData values are an enum.
        http.get(format!("{origin}/listings/2021-08-01/items/S/SKU-1?marketplaceIds=A1PA6795UKMFR9&includedData=stock")),
        // A patch needs productType, and op is an enum.
        http.patch(format!("{origin}/listings/2021-08-01/items/S/SKU-1?marketplaceIds=A1PA6795UKMFR9"))
            .json(&json!({"patches": [{"op": "move", "path": "/attributes/fulfillment_availability"}]})),
        // A listings search pages at most 20 items.
        http.get(format!("{origin}/listings/2021-08-01/items/S?marketplaceIds=A1PA6795UKMFR9&pageSize=50")),
        // No such operation.
        http.get(format!("{origin}/listings/2020-09-01/items/S/SKU-1")),
    ];
    let count = cases.len();
    for (index, case) in cases.into_iter().enumerate() {
        let response = case
            .header("x-amz-access-token", &token)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(response.status().as_u16(), 400 | 404),
            "case {index} answered {}",
            response.status()
        );
        assert_eq!(
            fake.violations().len(),
            index + 1,
            "case {index} not recorded"
        );
    }
    assert_eq!(fake.violations().len(), count);
    let unauthenticated = http
        .get(format!(
            "{origin}/orders/v0/orders/302-0000001-0000001/orderItems"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 403);
}

#[tokio::test]
async fn a_large_feed_document_uploads() {
    let Some(fake) = start_fake(FakeOptions::default()).await else {
        return;
    };
    let token = token(&fake).await;
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{}/feeds/2021-06-30/documents", fake.origin()))
        .header("x-amz-access-token", &token)
        .json(&json!({"contentType": "application/json; charset=UTF-8"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload = http
        .put(created["url"].as_str().unwrap())
        .header("content-type", "application/json; charset=UTF-8")
        .body(vec![b' '; 8 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 200);
}
