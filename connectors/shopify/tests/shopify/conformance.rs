use crate::harness::ShopifyHarness;
use omnistock_connector::conformance::run_all;

#[tokio::test]
async fn the_shopify_connector_passes_the_conformance_kit() {
    let harness = ShopifyHarness::start().await;
    if let Err(failures) = run_all(&harness).await {
        panic!("{failures}");
    }
    // Every document the kit made the connector send was valid (or validation was skipped
    // for want of the schema, which the contract test reports).
    let refused: Vec<_> = harness
        .fake
        .requests()
        .into_iter()
        .filter(|record| !record.validation_errors.is_empty())
        .collect();
    assert!(
        refused.is_empty(),
        "the fake refused documents: {refused:?}"
    );
}
