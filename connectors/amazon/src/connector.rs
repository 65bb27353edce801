//! [`AmazonConnector`]: the [`Connector`] for one Amazon seller account in one region.
//!
//! Listing identity: a listing id is the seller SKU, the key of the Listings Items API and
//! the `SellerSKU` of order items.

use crate::auth::{LwaCredentials, LwaTokens};
use crate::catalog::{self, CatalogCursor, SearchResults};
use crate::client::{ApiRequest, CallFailure, SpApiClient};
use crate::config::{AmazonChannelConfig, AmazonConfigError, DEFAULT_HISTORY_DAYS};
use crate::cursor::OrdersCursor;
use crate::feeds;
use crate::listings::{self, PatchOutcome};
use crate::orders::{self, Order, OrderItem, OrderItemsList, OrdersList};
use crate::usage::Operation;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omnistock_connector::{
    CallKind, Capabilities, CatalogPage, Connector, ConnectorError, OrderEvent, OrderPage,
    PushResult, RateLimit, StockLevel, SubmissionStatus, WebhookError, WebhookRequest,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::{debug, warn};

/// The `kind` of Amazon channels.
pub const AMAZON_KIND: &str = "amazon";
/// Listings one stock push patches: the burst of `patchListingsItem`'s usage plan.
pub const MAX_PATCHES_PER_CALL: usize = 5;
/// Stock pushes per second the runtime may make: one push of five patches a second keeps
/// within `patchListingsItem`'s 5 requests per second.
pub const STOCK_PUSH_RATE: RateLimit = RateLimit {
    requests: 1,
    period: Duration::from_secs(1),
};

pub struct AmazonConnector {
    config: AmazonChannelConfig,
    client: SpApiClient,
    /// `marketplaceIds` as the calls send it (comma-separated).
    marketplace_ids: String,
    /// The last poll left orders waiting for their items: the next one starts with items
    /// calls, not a search.
    awaiting_items: AtomicBool,
}

impl AmazonConnector {
    pub fn new(config: AmazonChannelConfig) -> Result<Self, AmazonConfigError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .build()
            .map_err(|error| AmazonConfigError::Client(error.to_string()))?;
        let tokens = LwaTokens::new(
            http.clone(),
            config.token_url()?,
            LwaCredentials {
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                refresh_token: config.refresh_token.clone(),
            },
        );
        let client = SpApiClient::new(http, config.origin()?, tokens);
        let marketplace_ids = config.marketplace_ids.join(",");
        Ok(Self {
            config,
            client,
            marketplace_ids,
            awaiting_items: AtomicBool::new(false),
        })
    }

    pub fn config(&self) -> &AmazonChannelConfig {
        &self.config
    }

    pub fn client(&self) -> &SpApiClient {
        &self.client
    }

    pub fn marketplace_ids(&self) -> &str {
        &self.marketplace_ids
    }

    fn first_cursor(&self) -> OrdersCursor {
        let since = self
            .config
            .import_orders_since
            .unwrap_or_else(|| Utc::now() - chrono::Duration::days(DEFAULT_HISTORY_DAYS));
        OrdersCursor::starting_at(since)
    }

    /// One `getOrders` page of the scan under way; its new orders join `pending`.
    async fn search_orders(&self, cursor: &mut OrdersCursor) -> Result<(), ConnectorError> {
        let mut request = ApiRequest::get(Operation::GetOrders, &["orders", "v0", "orders"])
            .query("MarketplaceIds", self.marketplace_ids.clone())
            .query("LastUpdatedAfter", cursor.last_updated_after())
            .query(
                "MaxResultsPerPage",
                self.config.orders_page_size().to_string(),
            );
        if let Some(token) = &cursor.next_token {
            request = request.query("NextToken", token.clone());
        }
        let answer = self.client.call(&request).await?;
        let list: OrdersList = payload(answer, Operation::GetOrders)?;
        let mut fresh: Vec<Order> = list
            .orders
            .into_iter()
            .filter(|order| cursor.admits(order))
            .collect();
        fresh.sort_by(|a, b| {
            (a.updated_at(), &a.amazon_order_id).cmp(&(b.updated_at(), &b.amazon_order_id))
        });
        cursor.pending.extend(fresh);
        cursor.next_token = list.next_token.filter(|token| !token.is_empty());
        Ok(())
    }

    /// Every item of one order (`getOrderItems`, following its `NextToken`).
    async fn order_items(&self, order_id: &str) -> Result<Vec<OrderItem>, ConnectorError> {
        let mut items = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let mut request = ApiRequest::get(
                Operation::GetOrderItems,
                &["orders", "v0", "orders", order_id, "orderItems"],
            );
            if let Some(token) = &next_token {
                request = request.query("NextToken", token.clone());
            }
            let answer = self.client.call(&request).await?;
            let list: OrderItemsList = payload(answer, Operation::GetOrderItems)?;
            items.extend(list.order_items);
            next_token = list.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() {
                return Ok(items);
            }
        }
    }

    async fn patch_one(&self, level: &StockLevel) -> Result<PatchOutcome, CallFailure> {
        let request = listings::patch_request(
            &self.config.seller_id,
            &level.listing_id,
            &self.marketplace_ids,
            self.config.product_type(),
            level.quantity,
        );
        match self.client.call(&request).await {
            Ok(answer) => Ok(listings::patch_outcome(answer)),
            Err(CallFailure::Refused(refusal)) => Ok(PatchOutcome::Refused(refusal.text())),
            Err(failure) => Err(failure),
        }
    }
}

/// The `payload` of a v0 answer.
fn payload<T: serde::de::DeserializeOwned>(
    answer: serde_json::Value,
    operation: Operation,
) -> Result<T, ConnectorError> {
    let payload = answer
        .get("payload")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    serde_json::from_value(payload).map_err(|error| {
        ConnectorError::transient(format!(
            "{}: unexpected answer shape: {error}",
            operation.name()
        ))
    })
}

#[async_trait]
impl Connector for AmazonConnector {
    fn kind(&self) -> &'static str {
        AMAZON_KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhooks: false,
            polling: true,
            max_stock_batch: MAX_PATCHES_PER_CALL,
            rate_limit: Some(STOCK_PUSH_RATE),
            compare_and_set: false,
        }
    }

    fn start_cursor(&self, floor: DateTime<Utc>) -> Option<String> {
        let since = self.config.import_orders_since.unwrap_or(floor);
        Some(OrdersCursor::starting_at(since).encode())
    }

    /// One step of the scan: a `getOrders` page when no order waits for its items, then the
    /// items of the waiting orders while `getOrderItems`' bucket holds tokens (at least one
    /// order per call, so a poll always moves on).
    async fn pull_orders(&self, cursor: Option<&str>) -> Result<OrderPage, ConnectorError> {
        let mut position = match cursor {
            Some(text) => OrdersCursor::decode(text)?,
            None => self.first_cursor(),
        };
        let searched = position.pending.is_empty();
        if searched {
            self.search_orders(&mut position).await?;
        }
        let mut events: Vec<OrderEvent> = Vec::new();
        while let Some(order) = position.pending.first().cloned() {
            if !events.is_empty() && !self.client.plans().has_token(Operation::GetOrderItems) {
                break;
            }
            let items = match self.order_items(&order.amazon_order_id).await {
                Ok(items) => items,
                // Progress made in this call is kept: the waiting orders stay in the cursor.
                Err(error) if searched || !events.is_empty() => {
                    warn!(order = %order.amazon_order_id, error = %error, "amazon order items not read; resuming later");
                    break;
                }
                Err(error) => return Err(error),
            };
            position.pending.remove(0);
            match orders::to_event(&order, &items) {
                Ok(event) => events.push(event),
                Err(error) => {
                    warn!(order = %order.amazon_order_id, error = %error, "amazon order skipped")
                }
            }
            position.delivered(&order);
        }
        if !position.scanning() {
            position.finish_scan(self.config.poll_overlap());
        }
        self.awaiting_items
            .store(!position.pending.is_empty(), Ordering::Relaxed);
        Ok(OrderPage {
            orders: events,
            has_more: position.scanning(),
            next_cursor: Some(position.encode()),
        })
    }

    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<Vec<OrderEvent>, WebhookError> {
        let _ = request;
        Err(WebhookError::BadSignature(
            "amazon sends order notifications to an sqs queue, not http webhooks".into(),
        ))
    }

    /// One `patchListingsItem` per level. A refusal of one listing (400, `INVALID`) is that
    /// listing's permanent rejection; a throttled or failed call ends the push: the first
    /// listing's failure is the call's, later ones leave the rest rejected as retryable.
    async fn push_stock(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
        let mut results = Vec::with_capacity(levels.len());
        for (index, level) in levels.iter().enumerate() {
            match self.patch_one(level).await {
                Ok(PatchOutcome::Accepted) => results.push(PushResult::Confirmed {
                    listing_id: level.listing_id.clone(),
                    quantity: level.quantity.max(0),
                }),
                Ok(PatchOutcome::Refused(reason)) => results.push(PushResult::Rejected {
                    listing_id: level.listing_id.clone(),
                    error: ConnectorError::Permanent(reason),
                }),
                Err(failure) => {
                    let error = ConnectorError::from(failure);
                    if index == 0 || matches!(error, ConnectorError::Configuration(_)) {
                        return Err(error);
                    }
                    results.extend(levels[index..].iter().map(|rest| PushResult::Rejected {
                        listing_id: rest.listing_id.clone(),
                        error: error.clone(),
                    }));
                    break;
                }
            }
        }
        Ok(results)
    }

    async fn read_stock(&self, listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError> {
        let mut levels = Vec::with_capacity(listing_ids.len());
        for sku in listing_ids {
            let request =
                listings::read_request(&self.config.seller_id, sku, &self.marketplace_ids);
            match self.client.call(&request).await {
                Ok(answer) => {
                    if let Some(quantity) = listings::merchant_quantity(answer) {
                        levels.push(StockLevel {
                            listing_id: sku.clone(),
                            sku: sku.clone(),
                            quantity,
                        });
                    }
                }
                Err(failure) if listings::is_not_found(&failure) => {}
                Err(failure) => return Err(failure.into()),
            }
        }
        Ok(levels)
    }

    fn max_stock_submission(&self) -> Option<usize> {
        Some(feeds::MAX_FEED_MESSAGES)
    }

    /// One `JSON_LISTINGS_FEED` carrying every level; the submission id is the feed id.
    async fn submit_stock(&self, levels: &[StockLevel]) -> Result<String, ConnectorError> {
        if levels.len() > feeds::MAX_FEED_MESSAGES {
            return Err(ConnectorError::Permanent(format!(
                "a feed holds at most {} messages, not {}",
                feeds::MAX_FEED_MESSAGES,
                levels.len()
            )));
        }
        let document =
            feeds::feed_document(&self.config.seller_id, self.config.product_type(), levels);
        feeds::submit(&self.client, &self.config.marketplace_ids, &document).await
    }

    async fn submission_status(
        &self,
        submission_id: &str,
        levels: &[StockLevel],
    ) -> Result<SubmissionStatus, ConnectorError> {
        feeds::status(
            &self.client,
            submission_id,
            levels,
            self.config.feed_poll_interval(),
        )
        .await
    }

    /// One `searchListingsItems` page of 20 listings (see [`catalog`] for how a catalog of
    /// more than the 1,000 SKUs one search pages through is read).
    async fn read_catalog(&self, page: Option<&str>) -> Result<CatalogPage, ConnectorError> {
        let cursor = match page {
            Some(text) => CatalogCursor::decode(text)?,
            None => CatalogCursor::default(),
        };
        let request =
            catalog::search_request(&self.config.seller_id, &self.marketplace_ids, &cursor);
        let answer = self.client.call(&request).await?;
        let results: SearchResults = serde_json::from_value(answer).map_err(|error| {
            ConnectorError::transient(format!(
                "{}: unexpected answer shape: {error}",
                Operation::SearchListingsItems.name()
            ))
        })?;
        let first_marketplace = self
            .config
            .marketplace_ids
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let (listings, next) = catalog::read_page(results, cursor, first_marketplace);
        debug!(
            listings = listings.len(),
            more = next.is_some(),
            "amazon catalog page read"
        );
        Ok(CatalogPage {
            listings,
            next_page: next.map(|cursor| cursor.encode()),
        })
    }

    /// Until the operations a call of this kind makes have tokens in their buckets as last
    /// seen: a push's patches (a whole batch), a read's gets, a poll's search and first items
    /// call, a catalog page's search.
    fn wait_before(&self, call: CallKind) -> Option<Duration> {
        let plans = self.client.plans();
        let batch = MAX_PATCHES_PER_CALL as f64;
        Some(match call {
            CallKind::PushStock => plans.wait_for(Operation::PatchListingsItem, batch),
            CallKind::ReadStock => plans.wait_for(Operation::GetListingsItem, batch),
            CallKind::PullOrders if self.awaiting_items.load(Ordering::Relaxed) => {
                plans.wait_for(Operation::GetOrderItems, 1.0)
            }
            CallKind::PullOrders => plans
                .wait_for(Operation::GetOrders, 1.0)
                .max(plans.wait_for(Operation::GetOrderItems, 1.0)),
            CallKind::ReadCatalog => plans.wait_for(Operation::SearchListingsItems, 1.0),
        })
    }
}
