//! [`TikTokConnector`]: the [`Connector`] for one TikTok Shop.

use crate::catalog::{self, CatalogCursor, PRODUCT_SEARCH_PATH};
use crate::client::{ApiClient, Method};
use crate::config::{TikTokChannelConfig, TikTokConfigError, REFRESH_TOKEN_WARNING_SECS};
use crate::cursor::OrdersCursor;
use crate::inventory::{Inventory, WarehouseCache, INVENTORY_SEARCH_PATH, UPDATE_INVENTORY_PATH};
use crate::listing::ListingId;
use crate::orders::{
    DetailData, SearchData, TikTokOrder, MAX_DETAIL_IDS, ORDER_DETAIL_PATH, ORDER_SEARCH_PATH,
};
use crate::returns::apply_returns;
use crate::tokens::{
    CredentialTokenStore, FileTokenStore, MemoryTokenStore, TokenPair, TokenStore,
};
use crate::webhook::{verify_and_read, Delivery};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omnistock_connector::{
    CallKind, Capabilities, CatalogPage, Connector, ConnectorError, CredentialStore, OrderEvent,
    OrderPage, OrderRef, PushResult, StockLevel, WebhookError, WebhookRequest,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, warn};

/// The kind name of TikTok Shop channels.
pub const TIKTOK_KIND: &str = "tiktok_shop";

/// Levels per push: each product is one request, so a push of this many single-SKU products
/// stays within one second of the documented 50 requests per API.
pub const MAX_STOCK_BATCH: usize = 40;

pub struct TikTokConnector {
    config: TikTokChannelConfig,
    client: ApiClient,
    warehouses: WarehouseCache,
}

impl TikTokConnector {
    /// A connector whose refreshed tokens go to `token_store_path` (or stay in memory).
    pub fn new(config: TikTokChannelConfig) -> Result<Self, TikTokConfigError> {
        let store: Arc<dyn TokenStore> = match &config.token_store_path {
            Some(path) => Arc::new(FileTokenStore::new(path.clone())),
            None => Arc::new(MemoryTokenStore::default()),
        };
        Self::with_store(config, store)
    }

    /// A connector whose refreshed tokens go to the daemon's store (the ledger), unless
    /// `token_store_path` names a file.
    pub fn with_credentials(
        config: TikTokChannelConfig,
        credentials: Arc<dyn CredentialStore>,
    ) -> Result<Self, TikTokConfigError> {
        if config.token_store_path.is_some() {
            return Self::new(config);
        }
        Self::with_store(config, Arc::new(CredentialTokenStore(credentials)))
    }

    pub fn with_store(
        config: TikTokChannelConfig,
        store: Arc<dyn TokenStore>,
    ) -> Result<Self, TikTokConfigError> {
        config.validate()?;
        let client = ApiClient::new(&config, store)?;
        Ok(Self {
            config,
            client,
            warehouses: WarehouseCache::default(),
        })
    }

    pub fn config(&self) -> &TikTokChannelConfig {
        &self.config
    }

    /// The token pair in use.
    pub async fn tokens(&self) -> TokenPair {
        self.client.tokens().await
    }

    fn inventory(&self) -> Inventory<'_> {
        Inventory {
            client: &self.client,
            cache: &self.warehouses,
            target_warehouse: self.config.warehouse_id.as_deref(),
        }
    }

    fn to_event(&self, order: TikTokOrder, delivery_id: Option<String>) -> Option<OrderEvent> {
        let (id, status) = (order.id.clone(), order.status.clone());
        let per_warehouse = self.config.per_warehouse();
        let location = match (per_warehouse, order.warehouse_id.as_deref()) {
            (false, _) => None,
            (true, Some(warehouse_id)) => {
                let location = self.config.warehouse_location(warehouse_id);
                if location.is_none() {
                    warn!(shop = self.config.shop_id.as_deref().unwrap_or(""), order = %id, warehouse = %warehouse_id,
                        "TikTok order ships from a warehouse not mapped in warehouses: booked at the channel's location, its lines bound to no listing");
                }
                location.map(str::to_string)
            }
            (true, None) => {
                warn!(shop = self.config.shop_id.as_deref().unwrap_or(""), order = %id,
                    "TikTok order names no warehouse: booked at the channel's location");
                None
            }
        };
        let event = order.into_event(delivery_id, per_warehouse, location);
        if event.is_none() {
            warn!(order = %id, status = %status, "TikTok order with an undocumented status skipped");
        }
        event
    }
}

#[async_trait]
impl Connector for TikTokConnector {
    fn kind(&self) -> &'static str {
        TIKTOK_KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhooks: true,
            polling: true,
            max_stock_batch: MAX_STOCK_BATCH,
            rate_limit: Some(self.config.rate_limit()),
            compare_and_set: false,
        }
    }

    fn start_cursor(&self, floor: DateTime<Utc>) -> Option<String> {
        let since = self.config.import_orders_since.unwrap_or(floor);
        Some(OrdersCursor::start(since.timestamp()).encode())
    }

    async fn pull_orders(&self, cursor: Option<&str>) -> Result<OrderPage, ConnectorError> {
        let mut position = match cursor {
            Some(text) => OrdersCursor::decode(text)?,
            None => OrdersCursor::start(
                self.config
                    .import_orders_since
                    .map(|since| since.timestamp())
                    .unwrap_or(0),
            ),
        };
        let until = *position
            .until
            .get_or_insert_with(|| Utc::now().timestamp() + 1);
        let mut query = vec![
            (
                "page_size".to_string(),
                self.config.orders_page_size().to_string(),
            ),
            ("sort_field".to_string(), "update_time".to_string()),
            ("sort_order".to_string(), "ASC".to_string()),
        ];
        if let Some(token) = &position.page_token {
            query.push(("page_token".to_string(), token.clone()));
        }
        let body = json!({ "update_time_ge": position.since, "update_time_lt": until });
        let data: SearchData = self
            .client
            .call(
                ORDER_SEARCH_PATH,
                Method::Post,
                ORDER_SEARCH_PATH,
                query,
                Some(&body),
            )
            .await?;
        let mut orders: Vec<OrderEvent> = data
            .orders
            .into_iter()
            .filter_map(|order| self.to_event(order, None))
            .collect();
        // Returns first: a return changes the snapshot the cursor remembers.
        apply_returns(&self.client, &mut orders).await?;
        orders.retain(|event| position.admit(event));
        let has_more = match data.next_page_token.filter(|token| !token.is_empty()) {
            Some(token) => {
                position.page_token = Some(token);
                true
            }
            None => {
                position.finish_window(self.config.poll_overlap());
                false
            }
        };
        Ok(OrderPage {
            orders,
            next_cursor: Some(position.encode()),
            has_more,
        })
    }

    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<Vec<OrderEvent>, WebhookError> {
        // The order topics name an order without its lines: see `webhook_order_ids`.
        self.webhook_order_ids(request).map(|_| Vec::new())
    }

    fn webhook_order_ids(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Vec<OrderRef>, WebhookError> {
        let delivery = verify_and_read(
            self.client.app_key(),
            self.client.app_secret().expose(),
            self.config.shop_id.as_deref(),
            request,
        )?;
        match delivery {
            Delivery::Order {
                notification_id,
                order_id,
                ..
            } => Ok(vec![OrderRef {
                order_id,
                delivery_id: notification_id,
            }]),
            Delivery::Deauthorized { shop_id } => {
                self.client.mark_deauthorized();
                error!(shop = shop_id.as_deref().unwrap_or(""), "the seller deauthorized omnistock's TikTok app: calls stop until the app is re-authorized and the tokens updated");
                Ok(Vec::new())
            }
            Delivery::AuthorizationExpiring { expiration_time } => {
                if let Some(at) = expiration_time {
                    self.client.note_authorization_expiration(at);
                }
                warn!(
                    expiration_time = expiration_time.unwrap_or_default(),
                    "TikTok authorization expires soon: the seller must re-authorize the app"
                );
                Ok(Vec::new())
            }
        }
    }

    fn alerts(&self) -> Vec<String> {
        let mut alerts = Vec::new();
        if self.client.is_deauthorized() {
            alerts.push(
                "the seller deauthorized the app (webhook 6): calls stop until the shop is re-authorized and the new tokens configured"
                    .to_string(),
            );
        }
        let ends = self.client.authorization_ends();
        let now = Utc::now().timestamp();
        let at = chrono::DateTime::from_timestamp(ends, 0)
            .map(|at| at.to_rfc3339())
            .unwrap_or_else(|| ends.to_string());
        if ends <= now {
            alerts.push(format!(
                "the authorization expired at {at}: the seller must re-authorize the app"
            ));
        } else if ends - now <= REFRESH_TOKEN_WARNING_SECS {
            alerts.push(format!(
                "the authorization ends at {at} (in {} days): the seller must re-authorize the app",
                (ends - now) / 86_400
            ));
        }
        alerts
    }

    async fn fetch_orders(&self, order_ids: &[String]) -> Result<Vec<OrderEvent>, ConnectorError> {
        let mut events = Vec::with_capacity(order_ids.len());
        for chunk in order_ids.chunks(MAX_DETAIL_IDS) {
            let query = vec![("ids".to_string(), chunk.join(","))];
            let data: DetailData = self
                .client
                .call(
                    ORDER_DETAIL_PATH,
                    Method::Get,
                    ORDER_DETAIL_PATH,
                    query,
                    None,
                )
                .await?;
            events.extend(
                data.orders
                    .into_iter()
                    .filter_map(|order| self.to_event(order, None)),
            );
        }
        apply_returns(&self.client, &mut events).await?;
        Ok(events)
    }

    async fn push_stock(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
        self.inventory().push(levels).await
    }

    async fn read_stock(&self, listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError> {
        self.inventory().read(listing_ids).await
    }

    /// One Search Products page of 100 products, a listing per SKU (see [`catalog`] for
    /// catalogs larger than the 10,000 products one search pages through).
    async fn read_catalog(&self, page: Option<&str>) -> Result<CatalogPage, ConnectorError> {
        let cursor = match page {
            Some(text) => CatalogCursor::decode(text)?,
            None => CatalogCursor::default(),
        };
        catalog::read_page(&self.client, cursor, &self.config).await
    }

    /// The mapped ledger location of a per-warehouse listing (`{product_id}:{sku_id}:{warehouse_id}`);
    /// `None` for other listings and unmapped warehouses.
    fn listing_location(&self, listing_id: &str) -> Option<String> {
        let warehouse_id = ListingId::parse(listing_id)?.warehouse_id?;
        self.config
            .warehouse_location(&warehouse_id)
            .map(str::to_string)
    }

    /// Until the APIs the call uses have room, in the last second, for as many requests as the
    /// previous call of this kind sent (a push searches too: the quantities of the warehouses
    /// it does not set). Pushes and catalog pages are always paced (one at a time, so that two
    /// never spend the same room); polls, order fetches and reads only when they must wait, so
    /// that a webhook's fetch never queues behind a long push.
    fn wait_before(&self, call: CallKind) -> Option<Duration> {
        let apis: &[&str] = match call {
            CallKind::PushStock => &[UPDATE_INVENTORY_PATH, INVENTORY_SEARCH_PATH],
            CallKind::ReadStock => &[INVENTORY_SEARCH_PATH],
            CallKind::PullOrders => &[ORDER_SEARCH_PATH],
            CallKind::ReadCatalog => &[PRODUCT_SEARCH_PATH],
        };
        let wait = apis
            .iter()
            .filter_map(|api| self.client.window(api))
            .map(|window| window.wait())
            .max()?;
        let paced = matches!(call, CallKind::PushStock | CallKind::ReadCatalog);
        (paced || !wait.is_zero()).then_some(wait)
    }
}
