use crate::harness::TikTokHarness;
use omnistock_connector::conformance::run_all;

#[tokio::test]
async fn the_tiktok_connector_passes_the_conformance_kit() {
    let Some(harness) = TikTokHarness::start().await else {
        return;
    };
    let result = run_all(&harness).await;
    assert!(
        result.is_ok(),
        "{}\nrefused by the fake: {:?}",
        result
            .err()
            .map(|failures| failures.to_string())
            .unwrap_or_default(),
        harness.fake.refusals()
    );
}
