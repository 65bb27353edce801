//! The fake SP-API as the conformance kit's platform, and helpers for the other tests.

use async_trait::async_trait;
use omnistock_amazon::fake::{FakeError, FakeOptions, FakeSpApi};
use omnistock_amazon::{AmazonChannelConfig, AmazonConnector};
use omnistock_connector::conformance::{
    ConformanceHarness, HarnessError, OrderMoney, SignedWebhook, WebhookSigning,
};
use omnistock_connector::{Connector, ConnectorError, RateLimit};
use std::sync::Arc;

/// Starts the fake, or `None` (after saying why) when Amazon's models are not there.
pub(crate) async fn start_fake(options: FakeOptions) -> Option<FakeSpApi> {
    match FakeSpApi::start(options).await {
        Ok(fake) => Some(fake),
        Err(FakeError::SpecsMissing(reason)) => {
            eprintln!("skipped: the fake SP-API needs Amazon's models ({reason})");
            None
        }
        Err(error) => panic!("fake sp-api: {error}"),
    }
}

pub(crate) fn connector(config: AmazonChannelConfig) -> Arc<AmazonConnector> {
    Arc::new(AmazonConnector::new(config).expect("connector builds"))
}

/// Asserts the fake saw only requests valid against the models.
pub(crate) fn assert_no_violations(fake: &FakeSpApi) {
    let violations = fake.violations();
    assert!(
        violations.is_empty(),
        "requests outside the models: {violations:#?}"
    );
}

/// Asserts a call failed as a configuration error naming Amazon's refusal and the role it needs.
pub(crate) fn assert_lacks_role(error: &ConnectorError, role: &str) {
    match error {
        ConnectorError::Configuration(text) => {
            assert!(
                text.contains("Unauthorized") && text.contains(role),
                "{text}"
            )
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

pub(crate) struct AmazonHarness {
    pub fake: FakeSpApi,
    pub connector: Arc<AmazonConnector>,
}

impl AmazonHarness {
    pub(crate) async fn start(page_size: u32) -> Option<Self> {
        let fake = start_fake(FakeOptions::default()).await?;
        let mut config = fake.channel_config();
        config.orders_page_size = Some(page_size);
        let connector = connector(config);
        Some(Self { fake, connector })
    }
}

fn harness_error(error: impl std::fmt::Display) -> HarnessError {
    HarnessError(error.to_string())
}

#[async_trait]
impl ConformanceHarness for AmazonHarness {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn orders_page_size(&self) -> usize {
        self.connector.config().orders_page_size() as usize
    }

    fn platform_max_stock_batch(&self) -> Option<usize> {
        // patchListingsItem's burst.
        Some(5)
    }

    fn catalog_page_size(&self) -> Option<usize> {
        Some(omnistock_amazon::catalog::CATALOG_PAGE_SIZE as usize)
    }

    async fn pause(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }

    fn signature_headers(&self) -> Vec<String> {
        Vec::new()
    }

    async fn create_listing(&self, sku: &str, quantity: i64) -> Result<String, HarnessError> {
        Ok(self.fake.create_listing(sku, quantity))
    }

    async fn place_order(&self, lines: &[(String, i64)]) -> Result<String, HarnessError> {
        self.fake.place_order(lines).map_err(harness_error)
    }

    async fn place_orders_at_one_instant(
        &self,
        orders: &[Vec<(String, i64)>],
    ) -> Result<Vec<String>, HarnessError> {
        self.fake
            .place_orders_at_one_instant(orders)
            .map_err(harness_error)
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), HarnessError> {
        self.fake
            .set_status(order_id, "Canceled")
            .map_err(harness_error)
    }

    async fn shown_quantity(&self, listing_id: &str) -> Result<Option<i64>, HarnessError> {
        Ok(self.fake.quantity(listing_id))
    }

    async fn expected_money(&self, order_id: &str) -> Result<Option<OrderMoney>, HarnessError> {
        let (unit_prices, total) = self
            .fake
            .order_money(order_id)
            .ok_or_else(|| HarnessError(format!("the fake has no order {order_id}")))?;
        Ok(Some(OrderMoney {
            currency: omnistock_amazon::fake::CURRENCY.to_string(),
            unit_prices,
            total_minor: Some(total),
        }))
    }

    async fn webhook_for_order(
        &self,
        _order_id: &str,
        _signing: WebhookSigning,
    ) -> Result<SignedWebhook, HarnessError> {
        Err(HarnessError("amazon sends no http webhooks".into()))
    }

    async fn sign_raw_webhook(&self, _body: &[u8]) -> Result<SignedWebhook, HarnessError> {
        Err(HarnessError("amazon sends no http webhooks".into()))
    }

    async fn set_rate_limit(&self, limit: Option<RateLimit>) -> Result<(), HarnessError> {
        self.fake.set_stock_rate_limit(limit);
        Ok(())
    }

    async fn stock_requests_seen(&self) -> Result<u64, HarnessError> {
        Ok(self.fake.requests("patchListingsItem"))
    }
}
