//! The sim as the conformance kit's fake platform, and small helpers for the other tests.

use async_trait::async_trait;
use chrono::Utc;
use omnistock_connector::conformance::{
    ConformanceHarness, HarnessError, OrderMoney, SignedWebhook, WebhookSigning,
};
use omnistock_connector::{Connector, RateLimit};
use omnistock_sim::wire::{
    HEADER_DELIVERY_ID, HEADER_SIGNATURE, HEADER_TOPIC, TOPIC_ORDER_CREATED,
};
use omnistock_sim::{
    signature, NewOrderLine, SimChannelConfig, SimConnector, SimHandle, SimOptions, SimServer,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Orders per page in tests: small, so that pagination shows with a handful of orders.
pub(crate) const TEST_PAGE_SIZE: usize = 5;

pub(crate) async fn start_sim() -> SimHandle {
    SimServer::start(SimOptions {
        default_page_size: TEST_PAGE_SIZE,
        ..SimOptions::for_tests()
    })
    .await
    .expect("sim starts")
}

/// The lines of an order, each at its own price (10.00, 10.25, …), so that the conformance
/// kit can tell the lines' prices apart.
pub(crate) fn lines(lines: &[(String, i64)]) -> Vec<NewOrderLine> {
    lines
        .iter()
        .zip(0..)
        .map(|((listing_id, quantity), index)| NewOrderLine {
            listing_id: listing_id.clone(),
            quantity: *quantity,
            unit_price_minor: Some(1000 + 25 * index),
        })
        .collect()
}

pub(crate) struct SimHarness {
    pub sim: SimHandle,
    connector: Arc<dyn Connector>,
}

impl SimHarness {
    pub(crate) async fn start() -> Self {
        let sim = start_sim().await;
        let connector = Arc::new(exact_connector(&sim));
        Self { sim, connector }
    }

    /// A harness whose connector under test is made by `wrap` from a working one.
    pub(crate) async fn start_with(wrap: impl FnOnce(SimConnector) -> Arc<dyn Connector>) -> Self {
        let sim = start_sim().await;
        let connector = wrap(exact_connector(&sim));
        Self { sim, connector }
    }
}

/// A connector without the poll overlap: the kit checks that a cursor resumes exactly where
/// it stopped, while the overlap deliberately re-reads (tested in `connector.rs`).
fn exact_connector(sim: &SimHandle) -> SimConnector {
    SimConnector::new(SimChannelConfig {
        poll_overlap_ms: Some(0),
        ..sim.channel_config()
    })
    .expect("connector builds")
}

fn harness_error(error: impl std::fmt::Display) -> HarnessError {
    HarnessError(error.to_string())
}

#[async_trait]
impl ConformanceHarness for SimHarness {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector)
    }

    fn orders_page_size(&self) -> usize {
        self.sim.default_page_size()
    }

    fn platform_max_stock_batch(&self) -> Option<usize> {
        Some(self.sim.max_batch())
    }

    fn catalog_page_size(&self) -> Option<usize> {
        Some(omnistock_sim::connector::CATALOG_PAGE_SIZE)
    }

    fn signature_headers(&self) -> Vec<String> {
        vec![HEADER_SIGNATURE.to_string()]
    }

    async fn create_listing(&self, sku: &str, quantity: i64) -> Result<String, HarnessError> {
        self.sim
            .create_listing(None, sku, quantity)
            .map(|listing| listing.listing_id)
            .map_err(harness_error)
    }

    async fn place_order(&self, order: &[(String, i64)]) -> Result<String, HarnessError> {
        self.sim
            .place_order(&lines(order))
            .map(|order| order.id)
            .map_err(harness_error)
    }

    async fn place_orders_at_one_instant(
        &self,
        orders: &[Vec<(String, i64)>],
    ) -> Result<Vec<String>, HarnessError> {
        self.sim.set_clock(Some(Utc::now()));
        let placed: Result<Vec<String>, HarnessError> = orders
            .iter()
            .map(|order| {
                self.sim
                    .place_order(&lines(order))
                    .map(|order| order.id)
                    .map_err(harness_error)
            })
            .collect();
        self.sim.set_clock(None);
        placed
    }

    async fn cancel_order(&self, order_id: &str) -> Result<(), HarnessError> {
        self.sim
            .cancel_order(order_id)
            .map(drop)
            .map_err(harness_error)
    }

    async fn shown_quantity(&self, listing_id: &str) -> Result<Option<i64>, HarnessError> {
        Ok(self.sim.shown_quantity(listing_id))
    }

    async fn expected_money(&self, order_id: &str) -> Result<Option<OrderMoney>, HarnessError> {
        let order = self
            .sim
            .order(order_id)
            .ok_or_else(|| HarnessError(format!("the sim has no order {order_id}")))?;
        Ok(Some(OrderMoney {
            currency: order.currency.clone(),
            unit_prices: order
                .lines
                .iter()
                .map(|line| (line.listing_id.clone(), line.unit_price_minor))
                .collect(),
            total_minor: Some(order.total_minor),
        }))
    }

    async fn webhook_for_order(
        &self,
        order_id: &str,
        signing: WebhookSigning,
    ) -> Result<SignedWebhook, HarnessError> {
        let secret = match signing {
            WebhookSigning::ChannelSecret => None,
            WebhookSigning::WrongSecret => Some("not-the-channel-secret"),
        };
        let webhook = self
            .sim
            .webhook_for_order(order_id, secret)
            .ok_or_else(|| HarnessError(format!("no order {order_id}")))?;
        Ok(SignedWebhook {
            headers: webhook.headers,
            body: webhook.body,
        })
    }

    async fn sign_raw_webhook(&self, body: &[u8]) -> Result<SignedWebhook, HarnessError> {
        let headers = BTreeMap::from([
            (HEADER_TOPIC.to_string(), TOPIC_ORDER_CREATED.to_string()),
            (HEADER_DELIVERY_ID.to_string(), "raw-1".to_string()),
            (
                HEADER_SIGNATURE.to_string(),
                signature::sign(self.sim.webhook_secret().expose(), body),
            ),
        ]);
        Ok(SignedWebhook {
            headers,
            body: body.to_vec(),
        })
    }

    async fn set_rate_limit(&self, limit: Option<RateLimit>) -> Result<(), HarnessError> {
        self.sim.set_rate_limit(limit);
        Ok(())
    }

    async fn stock_requests_seen(&self) -> Result<u64, HarnessError> {
        Ok(self.sim.counters().stock_updates)
    }
}
