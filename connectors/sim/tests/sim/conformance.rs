//! The whole conformance kit against the sim, and proof that the kit catches flawed
//! connectors.

use crate::harness::SimHarness;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omnistock_connector::conformance::{self, CheckFailure};
use omnistock_connector::{
    Capabilities, CatalogPage, Connector, ConnectorError, OrderEvent, OrderPage, PushResult,
    StockLevel, WebhookError, WebhookRequest,
};
use omnistock_sim::wire::HEADER_SIGNATURE;
use omnistock_sim::{signature, SimConnector};
use std::sync::Arc;

#[tokio::test]
async fn sim_connector_passes_the_conformance_kit() {
    let harness = SimHarness::start().await;
    if let Err(failures) = conformance::run_all(&harness).await {
        panic!("{failures}");
    }
}

/// Ways a connector can break the contract.
#[derive(Clone, Copy)]
enum Flaw {
    /// Accepts webhooks whatever their signature.
    TrustsEveryWebhook,
    /// Retries a rate-limited push once by itself.
    RetriesWhenLimited,
    /// Reports every page as the last.
    ForgetsMorePages,
    /// Claims a bigger batch than the platform takes.
    OverstatesBatch,
    /// Starts a first poll a day before the floor it is given.
    IgnoresTheFloor,
    /// Reads each line's price from the wrong field (the first line's) and no order total.
    MisreadsMoney,
    /// Reports the first catalog page as the last.
    EndsTheCatalogEarly,
    /// Gives the last listing of a catalog page again at the start of the next.
    RepeatsCatalogListings,
}

struct Flawed {
    inner: SimConnector,
    flaw: Flaw,
}

#[async_trait]
impl Connector for Flawed {
    fn kind(&self) -> &'static str {
        "flawed"
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = self.inner.capabilities();
        if let Flaw::OverstatesBatch = self.flaw {
            capabilities.max_stock_batch += 1;
        }
        capabilities
    }

    fn start_cursor(&self, floor: DateTime<Utc>) -> Option<String> {
        match self.flaw {
            Flaw::IgnoresTheFloor => self.inner.start_cursor(floor - chrono::Duration::days(1)),
            _ => self.inner.start_cursor(floor),
        }
    }

    async fn pull_orders(&self, cursor: Option<&str>) -> Result<OrderPage, ConnectorError> {
        let mut page = self.inner.pull_orders(cursor).await?;
        if let Flaw::ForgetsMorePages = self.flaw {
            page.has_more = false;
        }
        if let Flaw::MisreadsMoney = self.flaw {
            for event in &mut page.orders {
                let first_price = event.lines.first().and_then(|line| line.unit_price_minor);
                for line in &mut event.lines {
                    line.unit_price_minor = first_price;
                }
                event.total_minor = None;
            }
        }
        Ok(page)
    }

    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<Vec<OrderEvent>, WebhookError> {
        if let Flaw::TrustsEveryWebhook = self.flaw {
            let mut headers = request.headers.clone();
            let secret = self.inner.config().webhook_secret.expose();
            headers.insert(
                HEADER_SIGNATURE.into(),
                signature::sign(secret, request.body),
            );
            return self.inner.parse_webhook(&WebhookRequest {
                headers: &headers,
                body: request.body,
            });
        }
        self.inner.parse_webhook(request)
    }

    async fn push_stock(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
        let result = self.inner.push_stock(levels).await;
        match (self.flaw, result) {
            (Flaw::RetriesWhenLimited, Err(ConnectorError::RateLimited { .. })) => {
                self.inner.push_stock(levels).await
            }
            (_, result) => result,
        }
    }

    async fn read_stock(&self, listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError> {
        self.inner.read_stock(listing_ids).await
    }

    async fn read_catalog(&self, page: Option<&str>) -> Result<CatalogPage, ConnectorError> {
        let mut answer = self.inner.read_catalog(page).await?;
        match self.flaw {
            Flaw::EndsTheCatalogEarly => answer.next_page = None,
            Flaw::RepeatsCatalogListings => {
                if let Some(last) = answer.listings.last().cloned() {
                    answer.listings.push(last);
                }
            }
            _ => {}
        }
        Ok(answer)
    }
}

async fn failed_checks(flaw: Flaw) -> Vec<&'static str> {
    let harness =
        SimHarness::start_with(|inner| Arc::new(Flawed { inner, flaw }) as Arc<dyn Connector>)
            .await;
    match conformance::run_all(&harness).await {
        Ok(()) => Vec::new(),
        Err(failures) => failures
            .0
            .iter()
            .map(|failure: &CheckFailure| failure.check)
            .collect(),
    }
}

#[tokio::test]
async fn the_kit_catches_a_connector_that_trusts_unsigned_webhooks() {
    assert_eq!(
        failed_checks(Flaw::TrustsEveryWebhook).await,
        vec!["signature_refusal"]
    );
}

#[tokio::test]
async fn the_kit_catches_a_connector_that_retries_by_itself() {
    assert_eq!(
        failed_checks(Flaw::RetriesWhenLimited).await,
        vec!["rate_limit_handling"]
    );
}

#[tokio::test]
async fn the_kit_catches_a_connector_that_drops_pages() {
    let failed = failed_checks(Flaw::ForgetsMorePages).await;
    assert!(failed.contains(&"pagination"), "{failed:?}");
    assert!(failed.contains(&"cursor_resumption"), "{failed:?}");
}

#[tokio::test]
async fn the_kit_catches_a_first_poll_that_reads_before_the_floor() {
    assert_eq!(
        failed_checks(Flaw::IgnoresTheFloor).await,
        vec!["start_cursor_floor"]
    );
}

#[tokio::test]
async fn the_kit_catches_an_overstated_batch_limit() {
    assert_eq!(
        failed_checks(Flaw::OverstatesBatch).await,
        vec!["batch_limit"]
    );
}

#[tokio::test]
async fn the_kit_catches_a_connector_that_misreads_prices() {
    let failed = failed_checks(Flaw::MisreadsMoney).await;
    assert!(failed.contains(&"order_money"), "{failed:?}");
}

#[tokio::test]
async fn the_kit_catches_a_catalog_read_that_stops_early_or_repeats() {
    assert_eq!(
        failed_checks(Flaw::EndsTheCatalogEarly).await,
        vec!["catalog_read"]
    );
    assert_eq!(
        failed_checks(Flaw::RepeatsCatalogListings).await,
        vec!["catalog_read"]
    );
}
