//! [`ShopifyConnector`]: the [`Connector`] for a Shopify shop.
//!
//! Listing identity: a listing id is the product variant's gid
//! (`gid://shopify/ProductVariant/<id>`), because it is the only id both the GraphQL orders
//! and the webhook payloads carry for a line (webhook line items have `variant_id` and `sku`,
//! not the inventory item). Stock calls resolve the variant to its inventory item (and also
//! accept an inventory item gid, `gid://shopify/InventoryItem/<id>`, directly).

use crate::client::GraphqlClient;
use crate::config::{ShopifyChannelConfig, ShopifyConfigError};
use crate::cursor::{OrdersCursor, Scan};
use crate::levels::LevelCache;
use crate::orders::{
    GqlOrder, NestedPageInfo, NestedSizes, OrderData, OrdersData, PAGE_SIZES, SINGLE_ORDER_SIZES,
};
use crate::queries;
use crate::sales::SalesMemory;
use crate::throttle::ThrottleStatus;
use crate::version::ApiVersion;
use crate::webhook;
use crate::whole_order::NotWholeOr;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omnistock_connector::{
    CallKind, Capabilities, CatalogPage, Connector, ConnectorError, OrderEvent, OrderPage,
    PushResult, StockLevel, WebhookError, WebhookRequest,
};
use serde_json::json;
use std::time::Duration;
use tracing::warn;

/// Orders one page of the overlap window's listing holds: about 50 points requested, refunded
/// down to what the window holds (a small bucket must fit it beside a page of orders); the
/// window is listed to its end.
const WINDOW_PAGE: usize = 50;

#[derive(serde::Deserialize)]
struct StampsData {
    orders: StampConnection,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StampConnection {
    page_info: NestedPageInfo,
    nodes: Vec<OrderStamp>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderStamp {
    id: String,
    updated_at: DateTime<Utc>,
}

/// The kind name of Shopify channels.
pub const SHOPIFY_KIND: &str = "shopify";
/// Shopify's limit on quantities in one `inventorySetQuantities` call.
pub const MAX_QUANTITIES_PER_CALL: usize = 250;

/// A Shopify shop, spoken to over the Admin GraphQL API.
pub struct ShopifyConnector {
    pub(crate) config: ShopifyChannelConfig,
    pub(crate) version: ApiVersion,
    pub(crate) shop_domain: String,
    pub(crate) client: GraphqlClient,
    pub(crate) levels: LevelCache,
    /// What Shopify's own sales took, per order, to keep `levels` true to them.
    pub(crate) sales: SalesMemory,
}

impl ShopifyConnector {
    pub fn new(config: ShopifyChannelConfig) -> Result<Self, ShopifyConfigError> {
        config.validate()?;
        let version = config.api_version()?;
        let client = GraphqlClient::new(
            config.endpoint()?,
            config.access_token.clone(),
            config.request_timeout(),
        )
        .map_err(|error| ShopifyConfigError::Client(error.to_string()))?;
        Ok(Self {
            shop_domain: config.shop_domain(),
            version,
            client,
            levels: LevelCache::default(),
            sales: SalesMemory::default(),
            config,
        })
    }

    pub fn config(&self) -> &ShopifyChannelConfig {
        &self.config
    }

    pub fn api_version(&self) -> ApiVersion {
        self.version
    }

    /// Shopify's cost bucket as the last response described it, for the runtime to pace calls
    /// (`status.wait_for(cost)`); `None` before the first response.
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        self.client.throttle_status()
    }

    /// How long to wait before a query requesting `cost` points fits the bucket as last seen.
    pub fn wait_for_cost(&self, cost: f64) -> Duration {
        self.throttle_status()
            .map(|status| status.wait_for(cost))
            .unwrap_or(Duration::ZERO)
    }

    /// The `available` quantity this connector last saw or set for a listing: the compare
    /// value of its next stock update.
    pub fn known_available(&self, listing_id: &str) -> Option<i64> {
        self.levels
            .get(listing_id)
            .and_then(|level| level.available)
    }

    /// Shopify lowered (or raised) `available` itself for what these orders did: the compare
    /// values of the next stock update follow.
    fn follow_sales(&self, events: &[OrderEvent]) {
        for event in events {
            for change in self.sales.observe(event) {
                self.levels.apply_sale(&change);
            }
        }
    }

    /// The orders of the overlap window behind the watermark not delivered as they are now
    /// (visible in the search index late), read whole; a cheap listing of ids and stamps
    /// first, so a busy store's window is not read again in full at every poll.
    async fn read_overlap_window(
        &self,
        position: &mut OrdersCursor,
        overlap: chrono::Duration,
    ) -> Result<Vec<OrderEvent>, ConnectorError> {
        let Some(query) = position.window_query(overlap) else {
            return Ok(Vec::new());
        };
        let mut stamps = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data: StampsData = self
                .client
                .execute(
                    queries::ORDER_STAMPS_OPERATION,
                    queries::ORDER_STAMPS_QUERY,
                    json!({ "first": WINDOW_PAGE, "after": after, "query": query }),
                )
                .await?;
            stamps.extend(data.orders.nodes);
            match data.orders.page_info {
                NestedPageInfo {
                    has_next_page: true,
                    end_cursor: Some(cursor),
                } => after = Some(cursor),
                _ => break,
            }
        }
        let mut events = Vec::new();
        for stamp in stamps {
            if position.delivered(&stamp.id, stamp.updated_at) {
                continue;
            }
            let Some(order) =
                self.whole_or_left(self.read_whole_by_id(&stamp.id).await, &stamp.id)?
            else {
                continue;
            };
            let event = order.into_snapshot().into_event(None);
            self.follow_sales(std::slice::from_ref(&event));
            if position.admit(&event, overlap) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// The order read whole; `None` (logged) when it cannot be: booking what was read would
    /// release the reservations of what was not, so it is left to its webhooks.
    fn whole_or_left(
        &self,
        read: Result<GqlOrder, NotWholeOr>,
        order_id: &str,
    ) -> Result<Option<GqlOrder>, ConnectorError> {
        match read {
            Ok(order) => Ok(Some(order)),
            Err(NotWholeOr::Failed(error)) => Err(error),
            Err(NotWholeOr::NotWhole(why)) => {
                warn!(shop = %self.shop_domain, order = %order_id, reason = why.reason(), "order not read whole; not booked from polling, left to its webhooks");
                Ok(None)
            }
        }
    }

    fn order_variables(sizes: NestedSizes) -> serde_json::Map<String, serde_json::Value> {
        let mut variables = serde_json::Map::new();
        variables.insert("lineItems".into(), json!(sizes.line_items));
        variables.insert("fulfillments".into(), json!(sizes.fulfillments));
        variables.insert("refunds".into(), json!(sizes.refunds));
        variables.insert("nestedLines".into(), json!(sizes.nested_lines));
        variables
    }

    /// One order with larger nested pages.
    pub(crate) async fn fetch_order(
        &self,
        id: &str,
    ) -> Result<Option<crate::orders::GqlOrder>, ConnectorError> {
        let mut variables = Self::order_variables(SINGLE_ORDER_SIZES);
        variables.insert("id".into(), json!(id));
        let data: OrderData = self
            .client
            .execute(
                queries::ORDER_OPERATION,
                &queries::order_query(),
                serde_json::Value::Object(variables),
            )
            .await?;
        Ok(data.order)
    }
}

#[async_trait]
impl Connector for ShopifyConnector {
    fn kind(&self) -> &'static str {
        SHOPIFY_KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhooks: true,
            polling: true,
            max_stock_batch: MAX_QUANTITIES_PER_CALL,
            rate_limit: Some(self.config.stock_push_rate()),
            compare_and_set: true,
        }
    }

    fn start_cursor(&self, floor: DateTime<Utc>) -> Option<String> {
        // `import_orders_since` is the operator asking for another start (before the cut-over,
        // say, so that orders still open at go-live are seen and reserve).
        let since = self.config.import_orders_since.unwrap_or(floor);
        Some(OrdersCursor::start(Some(since)).encode())
    }

    async fn pull_orders(&self, cursor: Option<&str>) -> Result<OrderPage, ConnectorError> {
        let mut position = match cursor {
            Some(text) => OrdersCursor::decode(text)?,
            None => OrdersCursor::start(self.config.import_orders_since),
        };
        let mut variables = Self::order_variables(PAGE_SIZES);
        variables.insert("first".into(), json!(self.config.orders_page_size()));
        variables.insert(
            "after".into(),
            json!(position.scan.as_ref().map(|scan| scan.after.clone())),
        );
        let overlap = self.config.poll_overlap();
        let mut orders = self.read_overlap_window(&mut position, overlap).await?;
        variables.insert("query".into(), json!(position.search_query()));
        let data: OrdersData = self
            .client
            .execute(
                queries::ORDERS_OPERATION,
                &queries::orders_query(),
                serde_json::Value::Object(variables),
            )
            .await?;
        let filter_since = position.filter_since();
        for node in data.orders.nodes {
            let id = node.id.clone();
            let Some(node) = self.whole_or_left(self.read_whole(node).await, &id)? else {
                continue;
            };
            let event: OrderEvent = node.into_snapshot().into_event(None);
            self.follow_sales(std::slice::from_ref(&event));
            if position.admit(&event, overlap) {
                orders.push(event);
            }
        }
        let has_more = data.orders.page_info.has_next_page;
        position.scan = match (has_more, data.orders.page_info.end_cursor) {
            (true, Some(after)) => Some(Scan {
                since: filter_since,
                after,
            }),
            _ => None,
        };
        Ok(OrderPage {
            orders,
            next_cursor: Some(position.encode()),
            has_more: has_more && position.scan.is_some(),
        })
    }

    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<Vec<OrderEvent>, WebhookError> {
        let rules = webhook::DeliveryRules {
            shop_domain: &self.shop_domain,
            max_age: self.config.webhook_max_age(),
            now: Utc::now(),
        };
        let events = webhook::parse(self.config.client_secret.expose(), &rules, request)?;
        self.follow_sales(&events);
        Ok(events)
    }

    async fn push_stock(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
        self.set_available(levels).await
    }

    async fn read_stock(&self, listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError> {
        self.read_available(listing_ids).await
    }

    async fn read_catalog(&self, page: Option<&str>) -> Result<CatalogPage, ConnectorError> {
        self.read_catalog_page(page).await
    }

    /// Until the cost bucket as last seen holds what this kind of call is expected to request:
    /// every query it may send in a row (a stock push may read levels before it sets them).
    /// An operation not answered yet is expected to need the whole bucket, which no query
    /// exceeds. Never `None`: the gateway then sends this connector's calls one at a time,
    /// the first ones too (before any answer showed the bucket, there is nothing to wait for).
    fn wait_before(&self, call: CallKind) -> Option<Duration> {
        let Some(status) = self.client.throttle_status() else {
            return Some(Duration::ZERO);
        };
        let bucket = status.bucket;
        let operations: &[&str] = match call {
            CallKind::PushStock => &[queries::STOCK_OPERATION, queries::SET_OPERATION],
            CallKind::ReadStock => &[queries::STOCK_OPERATION],
            CallKind::PullOrders => &[queries::ORDERS_OPERATION],
            CallKind::ReadCatalog => &[queries::CATALOG_OPERATION],
        };
        let mut cost: f64 = operations
            .iter()
            .map(|operation| {
                self.client
                    .expected_cost(&[operation])
                    .unwrap_or(bucket.maximum_available)
            })
            .sum();
        if call == CallKind::PullOrders {
            // A poll lists its overlap window first (what that took, once refunded), and a
            // stock update may go out while it waits: room for both, so the page is not the
            // call Shopify throttles.
            cost += self
                .client
                .actual_cost(queries::ORDER_STAMPS_OPERATION)
                .unwrap_or(0.0);
            cost += self
                .client
                .expected_cost(&[queries::SET_OPERATION])
                .unwrap_or(0.0);
        }
        Some(self.wait_for_cost(cost))
    }
}
