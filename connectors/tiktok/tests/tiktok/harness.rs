//! The fake TikTok Shop as the conformance kit's platform, and helpers for the other tests.

use async_trait::async_trait;
use omnistock_connector::conformance::{
    ConformanceHarness, HarnessError, OrderMoney, SignedWebhook, WebhookSigning,
};
use omnistock_connector::{Connector, RateLimit};
use omnistock_tiktok::fake::spec::specs_dir;
use omnistock_tiktok::fake::{FakeTikTok, APP_SECRET, UPDATE_INVENTORY};
use omnistock_tiktok::{TikTokChannelConfig, TikTokConnector};
use std::sync::Arc;

/// The fake, or `None` (with a message) when the reference pages are absent.
pub(crate) async fn start_fake() -> Option<FakeTikTok> {
    let Some(dir) = specs_dir() else {
        eprintln!("skipped: ../shared/specs/tiktok-shop is absent (set TIKTOK_SPECS_DIR)");
        return None;
    };
    Some(
        FakeTikTok::start(&dir)
            .await
            .expect("fake TikTok Shop starts"),
    )
}

/// The fake's settings with warehouses W1 and W2 mapped to ledger locations `east` and `west`.
pub(crate) fn per_warehouse(fake: &FakeTikTok) -> TikTokChannelConfig {
    let mut config = fake.channel_config();
    config.warehouses = Some(
        [("W1", "east"), ("W2", "west")]
            .into_iter()
            .map(|(warehouse, location)| (warehouse.to_string(), location.to_string()))
            .collect(),
    );
    config
}

pub(crate) fn connector_with(config: TikTokChannelConfig) -> Arc<TikTokConnector> {
    Arc::new(TikTokConnector::new(config).expect("connector builds"))
}

pub(crate) struct TikTokHarness {
    pub fake: FakeTikTok,
    pub connector: Arc<TikTokConnector>,
}

impl TikTokHarness {
    pub(crate) async fn start() -> Option<Self> {
        let fake = start_fake().await?;
        let mut config = fake.channel_config();
        config.orders_page_size = Some(10);
        let connector = connector_with(config);
        Some(Self { fake, connector })
    }
}

fn harness_error(error: impl std::fmt::Display) -> HarnessError {
    HarnessError(error.to_string())
}

#[async_trait]
impl ConformanceHarness for TikTokHarness {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn orders_page_size(&self) -> usize {
        self.connector.config().orders_page_size()
    }

    fn platform_max_stock_batch(&self) -> Option<usize> {
        // 100 SKUs per product; a batch spans products, one request each, 50 requests/s.
        Some(50)
    }

    fn catalog_page_size(&self) -> Option<usize> {
        Some(omnistock_tiktok::catalog::CATALOG_PAGE_SIZE)
    }

    async fn pause(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }

    fn signature_headers(&self) -> Vec<String> {
        vec!["authorization".into()]
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
        self.fake.place_orders(orders).map_err(harness_error)
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), HarnessError> {
        self.fake.cancel_order(order_id).map_err(harness_error)
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
            currency: omnistock_tiktok::fake::state::CURRENCY.to_string(),
            unit_prices,
            total_minor: Some(total),
        }))
    }

    async fn webhook_for_order(
        &self,
        order_id: &str,
        signing: WebhookSigning,
    ) -> Result<SignedWebhook, HarnessError> {
        let secret = match signing {
            WebhookSigning::ChannelSecret => APP_SECRET,
            WebhookSigning::WrongSecret => "another_app_secret",
        };
        let (headers, body) = self.fake.webhook(1, order_id, secret);
        Ok(SignedWebhook { headers, body })
    }

    async fn sign_raw_webhook(&self, body: &[u8]) -> Result<SignedWebhook, HarnessError> {
        let mut headers = std::collections::BTreeMap::new();
        headers.insert(
            "authorization".to_string(),
            omnistock_tiktok::sign::sign_webhook(APP_SECRET, omnistock_tiktok::fake::APP_KEY, body),
        );
        Ok(SignedWebhook {
            headers,
            body: body.to_vec(),
        })
    }

    async fn set_rate_limit(&self, limit: Option<RateLimit>) -> Result<(), HarnessError> {
        self.fake.set_rate_limit(UPDATE_INVENTORY, limit);
        Ok(())
    }

    async fn stock_requests_seen(&self) -> Result<u64, HarnessError> {
        Ok(self.fake.requests(UPDATE_INVENTORY))
    }
}
