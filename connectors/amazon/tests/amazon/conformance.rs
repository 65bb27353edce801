//! The shared conformance kit against the fake SP-API.

use crate::harness::{assert_no_violations, AmazonHarness};
use omnistock_connector::conformance::run_all;

#[tokio::test]
async fn the_amazon_connector_passes_the_conformance_kit() {
    let Some(harness) = AmazonHarness::start(3).await else {
        return;
    };
    if let Err(failures) = run_all(&harness).await {
        panic!("{failures}");
    }
    assert_no_violations(&harness.fake);
}
