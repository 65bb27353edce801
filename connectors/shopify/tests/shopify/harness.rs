//! The fake Shopify as the conformance kit's platform, and helpers for the other tests.

use async_trait::async_trait;
use omnistock_connector::conformance::{
    ConformanceHarness, HarnessError, OrderMoney, SignedWebhook, WebhookSigning,
};
use omnistock_connector::{Connector, RateLimit};
use omnistock_shopify::fake::{now_seconds, Delivery, FakeOptions, FakeShopify};
use omnistock_shopify::webhook::HEADER_HMAC;
use omnistock_shopify::ShopifyConnector;
use std::sync::Arc;

/// Points an `inventorySetQuantities` call of this connector requests.
pub(crate) const SET_COST: f64 = 12.0;

pub(crate) async fn start_fake() -> FakeShopify {
    FakeShopify::start(FakeOptions::default())
        .await
        .expect("fake shopify starts")
}

pub(crate) fn connector(fake: &FakeShopify) -> Arc<ShopifyConnector> {
    Arc::new(fake.connector("2025-01").expect("connector builds"))
}

pub(crate) fn request(delivery: &Delivery) -> SignedWebhook {
    SignedWebhook {
        headers: delivery.headers.clone(),
        body: delivery.body.clone(),
    }
}

pub(crate) struct ShopifyHarness {
    pub fake: FakeShopify,
    pub connector: Arc<ShopifyConnector>,
}

impl ShopifyHarness {
    pub(crate) async fn start() -> Self {
        let fake = start_fake().await;
        let connector = connector(&fake);
        Self { fake, connector }
    }
}

fn harness_error(error: impl std::fmt::Display) -> HarnessError {
    HarnessError(error.to_string())
}

#[async_trait]
impl ConformanceHarness for ShopifyHarness {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn orders_page_size(&self) -> usize {
        self.connector.config().orders_page_size()
    }

    fn platform_max_stock_batch(&self) -> Option<usize> {
        Some(250)
    }

    fn catalog_page_size(&self) -> Option<usize> {
        Some(omnistock_shopify::catalog::FIRST_PAGE)
    }

    async fn pause(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }

    fn signature_headers(&self) -> Vec<String> {
        vec![HEADER_HMAC.to_string()]
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
        let at = now_seconds();
        orders
            .iter()
            .map(|lines| self.fake.place_order_at(lines, at).map_err(harness_error))
            .collect()
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), HarnessError> {
        self.fake.cancel_order(order_id).map_err(harness_error)
    }

    async fn shown_quantity(&self, listing_id: &str) -> Result<Option<i64>, HarnessError> {
        Ok(self.fake.available(listing_id))
    }

    async fn expected_money(&self, order_id: &str) -> Result<Option<OrderMoney>, HarnessError> {
        let (currency, unit_prices, total) =
            self.fake.order_money(order_id).map_err(harness_error)?;
        Ok(Some(OrderMoney {
            currency,
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
            WebhookSigning::ChannelSecret => self.fake.options().client_secret.clone(),
            WebhookSigning::WrongSecret => "not-the-client-secret".to_string(),
        };
        let delivery = self
            .fake
            .webhook(order_id, "orders/updated", &secret)
            .map_err(harness_error)?;
        Ok(request(&delivery))
    }

    async fn sign_raw_webhook(&self, body: &[u8]) -> Result<SignedWebhook, HarnessError> {
        let delivery = self.fake.signed(
            "orders/updated",
            body.to_vec(),
            &self.fake.options().client_secret,
        );
        Ok(request(&delivery))
    }

    /// Shopify limits by cost, so a call rate becomes a bucket: room for `requests` stock
    /// updates (and the read a first push of a listing makes), restoring at the same rate.
    async fn set_rate_limit(&self, limit: Option<RateLimit>) -> Result<(), HarnessError> {
        match limit {
            Some(limit) => {
                let calls = f64::from(limit.requests);
                self.fake.set_bucket(
                    calls * SET_COST + 8.0,
                    calls * SET_COST / limit.period.as_secs_f64(),
                );
            }
            None => {
                let defaults = FakeOptions::default();
                self.fake
                    .set_bucket(defaults.maximum_available, defaults.restore_rate);
            }
        }
        Ok(())
    }

    async fn stock_requests_seen(&self) -> Result<u64, HarnessError> {
        Ok(self.fake.stock_requests_seen())
    }
}
