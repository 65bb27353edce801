//! A fake TikTok Shop for tests, built from the official reference pages.
//!
//! Every request is checked as TikTok documents it: the app key, the `timestamp` window
//! ([now − 5 min, now + 30 s]), the `sign` over path, sorted query and body bytes, the
//! `x-tts-access-token`, the `shop_cipher`, and the query and body parameters against the
//! endpoint's `*.spec.json` (required fields, undocumented fields, types). It serves paged
//! order search and order detail, applies inventory updates per product and warehouse with the
//! documented errors (per SKU, HTTP 200), answers inventory search and product search (paged,
//! at most 10,000 results per search), refreshes tokens on the
//! auth endpoint, limits each API to 50 requests per second (configurable) with HTTP 429, and
//! builds and sends signed webhooks. The error codes of the common checks are not in the local
//! reference pages; the fake uses 106001 (sign), 105001/105002 (token) as TikTok answers, and
//! its own 36009004 for parameter problems.

pub mod spec;
pub mod state;

use crate::config::TikTokChannelConfig;
use crate::listing::ListingId;
use crate::sign::{sign_request, sign_webhook};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use omnistock_connector::{RateLimit, Secret};
use serde_json::{json, Value};
use spec::{template_matches, Reference};
use state::{LineItem, Order, Product, Return, Shop, Sku, DEFAULT_WAREHOUSE};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const APP_KEY: &str = "6a1b2c3d4e5f6";
pub const APP_SECRET: &str = "fake_tiktok_app_secret";
pub const SHOP_CIPHER: &str = "ROW_fakeShopCipher";
pub const SHOP_ID: &str = "7494049642642441621";
pub const INVALID_PARAMETER: i64 = 36_009_004;
const TIMESTAMP_PAST: i64 = 300;
const TIMESTAMP_FUTURE: i64 = 30;

pub const UPDATE_INVENTORY: &str = "/product/202309/products/{product_id}/inventory/update";
pub const INVENTORY_SEARCH: &str = "/product/202309/inventory/search";
pub const ORDER_SEARCH: &str = "/order/202309/orders/search";
pub const ORDER_DETAIL: &str = "/order/202507/orders";
pub const RETURNS_SEARCH: &str = "/return_refund/202309/returns/search";
pub const PRODUCT_SEARCH: &str = "/product/202502/products/search";
/// Search Products: "The total number of search results can not exceed 10000." (12052180).
pub const MAX_PRODUCT_SEARCH_RESULTS: usize = 10_000;
pub const TOKEN_REFRESH: &str = "/api/v2/token/refresh";

#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("binding the fake TikTok Shop failed: {0}")]
    Bind(std::io::Error),
    #[error("reading the reference pages: {0}")]
    Reference(String),
    #[error("{0}")]
    Action(String),
}

/// Tokens the fake accepts.
#[derive(Debug)]
struct Auth {
    /// Access token → expiry (Unix seconds).
    access: HashMap<String, i64>,
    refresh_token: String,
    refresh_expire: i64,
    refreshes: u64,
    generation: u64,
}

#[derive(Debug)]
struct FakeState {
    reference: Reference,
    shop: Shop,
    auth: Auth,
    limits: HashMap<&'static str, RateLimit>,
    windows: HashMap<&'static str, VecDeque<Instant>>,
    requests: HashMap<&'static str, u64>,
    /// Every problem the fake refused a request for, for tests to show.
    refusals: Vec<String>,
    notifications: u64,
    /// Faults injected per API by tests.
    faults: HashMap<&'static str, Fault>,
}

/// A fault a test injects into one API of the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every request is answered with this HTTP status and TikTok code.
    Error { status: u16, code: i64 },
    /// Every request is answered this much later.
    Delay(Duration),
}

/// A running fake TikTok Shop.
#[derive(Clone)]
pub struct FakeTikTok {
    url: String,
    state: Arc<Mutex<FakeState>>,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn answer(status: StatusCode, code: i64, message: &str, data: Value) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "request_id": format!("FAKE{}", now()),
        "data": data,
    });
    (status, Json(body)).into_response()
}

fn refuse(state: &mut FakeState, status: StatusCode, code: i64, message: String) -> Response {
    state.refusals.push(format!("{code}: {message}"));
    answer(status, code, &message, Value::Null)
}

/// The templates the fake serves, in the order they are matched.
const TEMPLATES: &[&str] = &[
    UPDATE_INVENTORY,
    INVENTORY_SEARCH,
    ORDER_SEARCH,
    ORDER_DETAIL,
    RETURNS_SEARCH,
    PRODUCT_SEARCH,
];

impl FakeTikTok {
    /// Starts the fake on a free port, with the reference pages of `specs_dir`.
    pub async fn start(specs_dir: &Path) -> Result<Self, FakeError> {
        let reference = Reference::load(specs_dir).map_err(FakeError::Reference)?;
        let mut auth = Auth {
            access: HashMap::new(),
            refresh_token: "TTP_fake_refresh_0".into(),
            refresh_expire: now() + 365 * 86_400,
            refreshes: 0,
            generation: 0,
        };
        auth.access
            .insert("TTP_fake_access_0".into(), now() + 7 * 86_400);
        let limits = TEMPLATES
            .iter()
            .map(|template| (*template, RateLimit::per_second(50)))
            .collect();
        let state = Arc::new(Mutex::new(FakeState {
            reference,
            shop: Shop::default(),
            auth,
            limits,
            windows: HashMap::new(),
            requests: HashMap::new(),
            refusals: Vec::new(),
            notifications: 0,
            faults: HashMap::new(),
        }));
        let router = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(FakeError::Bind)?;
        let address = listener.local_addr().map_err(FakeError::Bind)?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            url: format!("http://{address}"),
            state,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Channel settings for a connector talking to this fake.
    pub fn channel_config(&self) -> TikTokChannelConfig {
        let auth = &lock(&self.state).auth;
        let (access, expire) = auth
            .access
            .iter()
            .max_by_key(|(_, expire)| **expire)
            .map(|(token, expire)| (token.clone(), *expire))
            .unwrap_or_default();
        TikTokChannelConfig {
            app_key: APP_KEY.into(),
            app_secret: Secret::new(APP_SECRET),
            shop_cipher: Secret::new(SHOP_CIPHER),
            shop_id: Some(SHOP_ID.into()),
            access_token: Secret::new(access),
            access_token_expire_in: expire,
            refresh_token: Secret::new(auth.refresh_token.clone()),
            refresh_token_expire_in: auth.refresh_expire,
            token_store_path: None,
            refresh_margin_secs: None,
            warehouse_id: None,
            warehouses: None,
            orders_page_size: None,
            import_orders_since: None,
            poll_overlap_secs: None,
            rate_limit: None,
            request_timeout_ms: Some(5_000),
            api_origin: Some(self.url.clone()),
            auth_origin: Some(self.url.clone()),
        }
    }

    /// [`FakeTikTok::channel_config`] as a channel's `options` in the daemon's settings.
    pub fn channel_options(&self) -> serde_json::Map<String, Value> {
        let config = self.channel_config();
        let options = json!({
            "app_key": config.app_key,
            "app_secret": config.app_secret.expose(),
            "shop_cipher": config.shop_cipher.expose(),
            "shop_id": config.shop_id,
            "access_token": config.access_token.expose(),
            "access_token_expire_in": config.access_token_expire_in,
            "refresh_token": config.refresh_token.expose(),
            "refresh_token_expire_in": config.refresh_token_expire_in,
            "request_timeout_ms": 5000,
            "api_origin": config.api_origin,
            "auth_origin": config.auth_origin,
        });
        options.as_object().cloned().unwrap_or_default()
    }

    /// A product with one SKU stocked in the default warehouse; its listing id.
    pub fn create_listing(&self, seller_sku: &str, quantity: i64) -> String {
        self.create_product(&[(seller_sku, &[(DEFAULT_WAREHOUSE, quantity)])])
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// A product with these SKUs (seller SKU, warehouses and quantities); their listing ids.
    pub fn create_product(&self, skus: &[(&str, &[(&str, i64)])]) -> Vec<String> {
        let mut state = lock(&self.state);
        let product_id = state.shop.next_id();
        let mut product = Product {
            title: format!(
                "Fake product {}",
                skus.first().map(|(sku, _)| *sku).unwrap_or("")
            ),
            status: "ACTIVATE".into(),
            create_time: now(),
            skus: BTreeMap::new(),
        };
        let mut ids = Vec::new();
        for (seller_sku, warehouses) in skus {
            let sku_id = state.shop.next_id();
            product.skus.insert(
                sku_id.clone(),
                Sku {
                    seller_sku: (*seller_sku).to_string(),
                    warehouses: warehouses
                        .iter()
                        .map(|(id, quantity)| ((*id).to_string(), *quantity))
                        .collect(),
                },
            );
            ids.push(ListingId::new(product_id.clone(), sku_id).encode());
        }
        state.shop.products.insert(product_id, product);
        ids
    }

    /// Sets when a listing's product was created (Unix seconds) and its status (`ACTIVATE`,
    /// `DELETED` …), as Search Products shows them.
    pub fn set_product(
        &self,
        listing_id: &str,
        create_time: i64,
        status: &str,
    ) -> Result<(), FakeError> {
        let listing = ListingId::parse(listing_id)
            .ok_or_else(|| FakeError::Action(format!("bad listing id {listing_id}")))?;
        let mut state = lock(&self.state);
        let product = state
            .shop
            .products
            .get_mut(&listing.product_id)
            .ok_or_else(|| FakeError::Action(format!("no product {}", listing.product_id)))?;
        product.create_time = create_time;
        product.status = status.to_string();
        Ok(())
    }

    /// The title of a listing's product.
    pub fn product_title(&self, listing_id: &str) -> Option<String> {
        let listing = ListingId::parse(listing_id)?;
        let state = lock(&self.state);
        state
            .shop
            .products
            .get(&listing.product_id)
            .map(|product| product.title.clone())
    }

    /// The quantity each warehouse holds for a listing.
    pub fn warehouse_quantities(&self, listing_id: &str) -> Option<BTreeMap<String, i64>> {
        let listing = ListingId::parse(listing_id)?;
        let state = lock(&self.state);
        state
            .shop
            .sku(&listing.product_id, &listing.sku_id)
            .map(|sku| sku.warehouses.clone())
    }

    /// The quantity a listing shows: its warehouse's for a per-warehouse listing
    /// (`product:sku:warehouse`), else all warehouses'.
    pub fn quantity(&self, listing_id: &str) -> Option<i64> {
        let warehouses = self.warehouse_quantities(listing_id)?;
        match ListingId::parse(listing_id)?.warehouse_id {
            Some(warehouse_id) => warehouses.get(&warehouse_id).copied(),
            None => Some(warehouses.values().sum()),
        }
    }

    /// Disables a warehouse (or enables it again): an inventory update changing its quantity is
    /// refused with 12052531 for that warehouse, listing it at what it holds is accepted.
    pub fn set_warehouse_disabled(&self, warehouse_id: &str, disabled: bool) {
        let mut state = lock(&self.state);
        state
            .shop
            .disabled_warehouses
            .retain(|id| id != warehouse_id);
        if disabled {
            state
                .shop
                .disabled_warehouses
                .push(warehouse_id.to_string());
        }
    }

    /// Buyers order `(listing id, units)` lines; all orders get the same update time. Each
    /// order ships from the warehouse holding most of its first line's SKU.
    pub fn place_orders(&self, orders: &[Vec<(String, i64)>]) -> Result<Vec<String>, FakeError> {
        self.place_orders_from(None, orders)
    }

    /// A buyer orders `(listing id, units)` lines shipped from `warehouse_id`.
    pub fn place_order_from(
        &self,
        warehouse_id: &str,
        lines: &[(String, i64)],
    ) -> Result<String, FakeError> {
        self.place_orders_from(Some(warehouse_id), &[lines.to_vec()])?
            .into_iter()
            .next()
            .ok_or_else(|| FakeError::Action("no order placed".into()))
    }

    fn place_orders_from(
        &self,
        warehouse_id: Option<&str>,
        orders: &[Vec<(String, i64)>],
    ) -> Result<Vec<String>, FakeError> {
        let mut state = lock(&self.state);
        let stamp = now();
        let mut ids = Vec::new();
        for lines in orders {
            let order_id = state.shop.next_id();
            let mut line_items = Vec::new();
            let mut shipped_from = warehouse_id.map(str::to_string);
            for (listing_id, units) in lines {
                let listing = ListingId::parse(listing_id)
                    .ok_or_else(|| FakeError::Action(format!("bad listing id {listing_id}")))?;
                let sku = state
                    .shop
                    .products
                    .get_mut(&listing.product_id)
                    .and_then(|product| product.skus.get_mut(&listing.sku_id))
                    .ok_or_else(|| FakeError::Action(format!("no listing {listing_id}")))?;
                let seller_sku = sku.seller_sku.clone();
                let warehouse = shipped_from
                    .clone()
                    .filter(|warehouse| sku.warehouses.contains_key(warehouse))
                    .or_else(|| {
                        sku.warehouses
                            .iter()
                            .max_by_key(|(_, quantity)| **quantity)
                            .map(|(warehouse, _)| warehouse.clone())
                    });
                shipped_from = shipped_from.or_else(|| warehouse.clone());
                // TikTok takes the units from stock when the order is placed.
                if let Some(quantity) =
                    warehouse.and_then(|warehouse| sku.warehouses.get_mut(&warehouse))
                {
                    *quantity = (*quantity - units).max(0);
                }
                for _ in 0..*units {
                    let id = state.shop.next_id();
                    line_items.push(LineItem {
                        id,
                        product_id: listing.product_id.clone(),
                        sku_id: listing.sku_id.clone(),
                        seller_sku: seller_sku.clone(),
                        display_status: "AWAITING_SHIPMENT".into(),
                    });
                }
            }
            let sequence = state.shop.sequence();
            state.shop.orders.insert(
                order_id.clone(),
                Order {
                    id: order_id.clone(),
                    status: "AWAITING_SHIPMENT".into(),
                    create_time: stamp,
                    update_time: stamp,
                    sequence,
                    warehouse_id: shipped_from.unwrap_or_else(|| DEFAULT_WAREHOUSE.to_string()),
                    line_items,
                },
            );
            ids.push(order_id);
        }
        Ok(ids)
    }

    pub fn place_order(&self, lines: &[(String, i64)]) -> Result<String, FakeError> {
        self.place_orders(&[lines.to_vec()])?
            .into_iter()
            .next()
            .ok_or_else(|| FakeError::Action("no order placed".into()))
    }

    /// An order's money as the fake holds it, in cents: the price of one unit of each listing
    /// (`product:sku`) ordered, and the order's total.
    pub fn order_money(&self, order_id: &str) -> Option<(BTreeMap<String, i64>, i64)> {
        let state = lock(&self.state);
        let order = state.shop.orders.get(order_id)?;
        let prices = order
            .line_items
            .iter()
            .map(|item| {
                (
                    ListingId::new(item.product_id.clone(), item.sku_id.clone()).encode(),
                    state::sale_price_cents(&item.sku_id),
                )
            })
            .collect();
        Some((prices, order.total_cents()))
    }

    /// Moves an order (and its line items not cancelled) to `status`.
    pub fn set_order_status(&self, order_id: &str, status: &str) -> Result<(), FakeError> {
        let mut state = lock(&self.state);
        let order = state
            .shop
            .orders
            .get_mut(order_id)
            .ok_or_else(|| FakeError::Action(format!("no order {order_id}")))?;
        order.status = status.to_string();
        order.update_time = now();
        for item in &mut order.line_items {
            if item.display_status != "CANCELLED" {
                item.display_status = status.to_string();
            }
        }
        Ok(())
    }

    pub fn cancel_order(&self, order_id: &str) -> Result<(), FakeError> {
        self.set_order_status(order_id, "CANCELLED")
    }

    /// The buyer asks to return `units` of the order's line items of a listing; the return is
    /// `return_type` in `return_status`. Returns its id.
    pub fn request_return(
        &self,
        order_id: &str,
        listing_id: &str,
        units: usize,
        return_type: &str,
        return_status: &str,
    ) -> Result<String, FakeError> {
        let listing = ListingId::parse(listing_id)
            .ok_or_else(|| FakeError::Action(format!("bad listing id {listing_id}")))?;
        let mut state = lock(&self.state);
        let id = state.shop.next_id();
        let order = state
            .shop
            .orders
            .get(order_id)
            .ok_or_else(|| FakeError::Action(format!("no order {order_id}")))?;
        let line_items: Vec<(String, String, String)> = order
            .line_items
            .iter()
            .filter(|item| item.sku_id == listing.sku_id)
            .take(units)
            .map(|item| {
                (
                    item.id.clone(),
                    item.sku_id.clone(),
                    item.seller_sku.clone(),
                )
            })
            .collect();
        let stamp = now();
        state.shop.returns.push(Return {
            id: id.clone(),
            order_id: order_id.to_string(),
            return_type: return_type.to_string(),
            return_status: return_status.to_string(),
            create_time: stamp,
            update_time: stamp,
            line_items,
        });
        Ok(id)
    }

    /// Moves a return to `return_status`.
    pub fn set_return_status(&self, return_id: &str, return_status: &str) {
        let mut state = lock(&self.state);
        if let Some(found) = state
            .shop
            .returns
            .iter_mut()
            .find(|found| found.id == return_id)
        {
            found.return_status = return_status.to_string();
            found.update_time = now();
        }
    }

    /// Limits an API (a path template of this module; `None`: back to 50/s).
    pub fn set_rate_limit(&self, template: &'static str, limit: Option<RateLimit>) {
        let mut state = lock(&self.state);
        state
            .limits
            .insert(template, limit.unwrap_or_else(|| RateLimit::per_second(50)));
        state.windows.remove(template);
    }

    /// Injects `fault` into an API (a path template of this module; `None`: healthy again).
    pub fn set_fault(&self, template: &'static str, fault: Option<Fault>) {
        let mut state = lock(&self.state);
        match fault {
            Some(fault) => state.faults.insert(template, fault),
            None => state.faults.remove(template),
        };
    }

    /// Requests an API received, refused ones included.
    pub fn requests(&self, template: &'static str) -> u64 {
        lock(&self.state)
            .requests
            .get(template)
            .copied()
            .unwrap_or(0)
    }

    /// Why the fake refused requests so far.
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.state).refusals.clone()
    }

    pub fn token_refreshes(&self) -> u64 {
        lock(&self.state).auth.refreshes
    }

    /// Makes every access token expire now (TikTok answers 105002 until a refresh).
    pub fn expire_access_tokens(&self) {
        let mut state = lock(&self.state);
        let past = now() - 1;
        for expire in state.auth.access.values_mut() {
            *expire = past;
        }
    }

    /// A notification of `topic` about an order, signed with `secret`: (headers, body).
    pub fn webhook(
        &self,
        topic: i64,
        order_id: &str,
        secret: &str,
    ) -> (BTreeMap<String, String>, Vec<u8>) {
        let mut state = lock(&self.state);
        state.notifications += 1;
        let notification_id = format!("73271123930573{:05}", state.notifications);
        let status = state
            .shop
            .orders
            .get(order_id)
            .map(|order| order.status.clone())
            .unwrap_or_default();
        let update_time = state
            .shop
            .orders
            .get(order_id)
            .map(|order| order.update_time)
            .unwrap_or_else(now);
        let data = match topic {
            11 => {
                json!({ "order_id": order_id, "cancellations_role": "BUYER", "cancel_status": "CANCELLATION_REQUEST_SUCCESS", "cancel_id": "4035318504086604100", "create_time": update_time })
            }
            12 => {
                json!({ "order_id": order_id, "return_role": "BUYER", "return_type": "REFUND", "return_status": "RETURN_OR_REFUND_REQUEST_PENDING", "return_id": "4035318504086604100", "create_time": update_time, "update_time": update_time })
            }
            6 => {
                json!({ "message": format!("Shop_id {SHOP_ID} is deauthorized from your APP by merchant.") })
            }
            7 => {
                json!({ "message": "Authorization expires soon", "expiration_time": (now() + 20 * 86_400).to_string() })
            }
            _ => {
                json!({ "order_id": order_id, "order_status": if status == "CANCELLED" { "CANCEL".to_string() } else { status }, "is_on_hold_order": false, "update_time": update_time })
            }
        };
        let body = json!({
            "type": topic,
            "tts_notification_id": notification_id,
            "shop_id": SHOP_ID,
            "timestamp": now(),
            "data": data,
        });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut headers = BTreeMap::new();
        headers.insert(
            "authorization".to_string(),
            sign_webhook(secret, APP_KEY, &body),
        );
        headers.insert("content-type".to_string(), "application/json".to_string());
        (headers, body)
    }

    /// Sends a signed notification to `url`, as TikTok does; the HTTP status answered.
    pub async fn send_webhook(
        &self,
        url: &str,
        topic: i64,
        order_id: &str,
    ) -> Result<u16, FakeError> {
        let (headers, body) = self.webhook(topic, order_id, APP_SECRET);
        let mut request = reqwest::Client::new().post(url).body(body);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .send()
            .await
            .map_err(|error| FakeError::Action(error.to_string()))?;
        Ok(response.status().as_u16())
    }
}

async fn handle(
    State(state): State<Arc<Mutex<FakeState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(query) = uri.query() {
        pairs = url_pairs(query);
    }
    let fault = TEMPLATES
        .iter()
        .copied()
        .find(|template| template_matches(template, &path))
        .and_then(|template| lock(&state).faults.get(template).copied());
    if let Some(Fault::Delay(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    let mut state = lock(&state);
    if path == TOKEN_REFRESH && method == Method::GET {
        return refresh(&mut state, &pairs);
    }
    let post = method == Method::POST;
    let Some(template) = TEMPLATES
        .iter()
        .copied()
        .find(|template| template_matches(template, &path))
    else {
        return refuse(
            &mut state,
            StatusCode::NOT_FOUND,
            404,
            format!("no API at {method} {path}"),
        );
    };
    *state.requests.entry(template).or_insert(0) += 1;
    if let Some(Fault::Error { status, code }) = fault {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return refuse(
            &mut state,
            status,
            code,
            format!("{template}: injected fault"),
        );
    }
    if !allow(&mut state, template) {
        return refuse(
            &mut state,
            StatusCode::TOO_MANY_REQUESTS,
            429,
            format!("{template}: rate limit exceeded"),
        );
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in &pairs {
        if query.insert(key.clone(), value.clone()).is_some() {
            return refuse(
                &mut state,
                StatusCode::BAD_REQUEST,
                INVALID_PARAMETER,
                format!("query parameter {key} given twice"),
            );
        }
    }
    if query.get("app_key").map(String::as_str) != Some(APP_KEY) {
        return refuse(
            &mut state,
            StatusCode::UNAUTHORIZED,
            106_002,
            "invalid app_key".into(),
        );
    }
    let timestamp = query
        .get("timestamp")
        .and_then(|value| value.parse::<i64>().ok());
    let current = now();
    match timestamp {
        Some(stamp)
            if stamp >= current - TIMESTAMP_PAST
                && stamp <= current + TIMESTAMP_FUTURE
                && stamp.to_string().len() == 10 => {}
        _ => {
            return refuse(
                &mut state,
                StatusCode::UNAUTHORIZED,
                106_003,
                format!("timestamp {timestamp:?} outside [now - 5 min, now + 30 s]"),
            )
        }
    }
    let content_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let signed_body: &[u8] = if content_type.starts_with("multipart/form-data") {
        b""
    } else {
        &body
    };
    let expected = sign_request(APP_SECRET, &path, &pairs, signed_body);
    if query.get("sign") != Some(&expected) {
        return refuse(
            &mut state,
            StatusCode::UNAUTHORIZED,
            106_001,
            "Invalid credentials. The 'sign' query parameter is invalid.".into(),
        );
    }
    let token = headers
        .get("x-tts-access-token")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    match state.auth.access.get(token) {
        None => {
            return refuse(
                &mut state,
                StatusCode::UNAUTHORIZED,
                105_001,
                "Invalid credentials. The 'x-tts-access-token' header is invalid.".into(),
            )
        }
        Some(expire) if *expire <= current => {
            return refuse(
                &mut state,
                StatusCode::UNAUTHORIZED,
                105_002,
                "Expired credentials. The 'x-tts-access-token' header has expired.".into(),
            )
        }
        Some(_) => {}
    }
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => Some(value),
            Err(error) => {
                return refuse(
                    &mut state,
                    StatusCode::BAD_REQUEST,
                    INVALID_PARAMETER,
                    format!("body is not JSON: {error}"),
                )
            }
        }
    };
    let header_map: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_ascii_lowercase(),
                value.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let Some(endpoint) = state.reference.endpoint(&path, post).cloned() else {
        return refuse(
            &mut state,
            StatusCode::NOT_FOUND,
            404,
            format!("{method} {path} is not on a reference page"),
        );
    };
    if endpoint.shop_cipher && query.get("shop_cipher").map(String::as_str) != Some(SHOP_CIPHER) {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            INVALID_PARAMETER,
            "shop_cipher is missing or not this shop's".into(),
        );
    }
    let problems = endpoint.check(&query, &header_map, json_body.as_ref());
    if !problems.is_empty() {
        return refuse(
            &mut state,
            StatusCode::BAD_REQUEST,
            INVALID_PARAMETER,
            problems.join("; "),
        );
    }
    let body = json_body.unwrap_or(Value::Null);
    match template {
        UPDATE_INVENTORY => update_inventory(&mut state, &path, &body),
        INVENTORY_SEARCH => inventory_search(&mut state, &body),
        ORDER_SEARCH => order_search(&mut state, &query, &body),
        RETURNS_SEARCH => returns_search(&mut state, &query, &body),
        PRODUCT_SEARCH => product_search(&mut state, &query, &body),
        _ => order_detail(&mut state, &query),
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://fake/?{query}"))
        .map(|url| {
            url.query_pairs()
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A sliding one-period window per API.
fn allow(state: &mut FakeState, template: &'static str) -> bool {
    let limit = state
        .limits
        .get(template)
        .copied()
        .unwrap_or_else(|| RateLimit::per_second(50));
    let window = state.windows.entry(template).or_default();
    let now = Instant::now();
    while window
        .front()
        .is_some_and(|at| now.duration_since(*at) >= limit.period)
    {
        window.pop_front();
    }
    if window.len() >= usize::try_from(limit.requests).unwrap_or(usize::MAX) {
        return false;
    }
    window.push_back(now);
    true
}

fn refresh(state: &mut FakeState, pairs: &[(String, String)]) -> Response {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if get("app_key") != Some(APP_KEY)
        || get("app_secret") != Some(APP_SECRET)
        || get("grant_type") != Some("refresh_token")
    {
        return refuse(
            state,
            StatusCode::OK,
            36_004_004,
            "invalid app_key, app_secret or grant_type".into(),
        );
    }
    if get("refresh_token") != Some(state.auth.refresh_token.as_str())
        || state.auth.refresh_expire <= now()
    {
        return refuse(
            state,
            StatusCode::OK,
            36_004_005,
            "invalid or expired refresh_token".into(),
        );
    }
    state.auth.generation += 1;
    state.auth.refreshes += 1;
    let generation = state.auth.generation;
    let access = format!("TTP_fake_access_{generation}");
    let refresh = format!("TTP_fake_refresh_{generation}");
    let access_expire = now() + 7 * 86_400;
    state.auth.access.insert(access.clone(), access_expire);
    // The used refresh token is retired: only the new pair works from now on.
    state.auth.refresh_token = refresh.clone();
    answer(
        StatusCode::OK,
        0,
        "success",
        json!({
            "access_token": access,
            "access_token_expire_in": access_expire,
            "refresh_token": refresh,
            "refresh_token_expire_in": state.auth.refresh_expire,
            "open_id": "fake_open_id",
            "seller_name": "Fake shop",
            "seller_base_region": "VN",
            "user_type": 0,
        }),
    )
}

fn sku_error(sku_id: &str, warehouse_id: Option<&str>, code: i64, message: &str) -> Value {
    json!({
        "code": 12_052_990,
        "message": "The check failed.",
        "detail": {
            "sku_id": sku_id,
            "extra_errors": [{ "warehouse_id": warehouse_id.unwrap_or(""), "code": code, "message": message }],
        },
    })
}

fn update_inventory(state: &mut FakeState, path: &str, body: &Value) -> Response {
    let product_id = path.split('/').nth(4).unwrap_or("").to_string();
    let Some(product) = state.shop.products.get(&product_id).cloned() else {
        return answer(
            StatusCode::OK,
            12_052_032,
            "The product does not exist",
            Value::Null,
        );
    };
    let skus = body
        .get("skus")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if skus.is_empty() {
        return answer(
            StatusCode::OK,
            12_052_902,
            "The SKU list is empty.",
            Value::Null,
        );
    }
    let mut errors = Vec::new();
    let mut seen = Vec::new();
    let mut updates: Vec<(String, BTreeMap<String, i64>)> = Vec::new();
    for entry in &skus {
        let sku_id = entry
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if seen.contains(&sku_id) {
            errors.push(sku_error(&sku_id, None, 12_052_553, "Sku id duplicate"));
            continue;
        }
        seen.push(sku_id.clone());
        let Some(sku) = product.skus.get(&sku_id) else {
            errors.push(sku_error(
                &sku_id,
                None,
                12_052_556,
                "The SKU id not exist.",
            ));
            continue;
        };
        let inventory = entry
            .get("inventory")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut planned = BTreeMap::new();
        let mut problem = None;
        for stock in &inventory {
            let quantity = stock.get("quantity").and_then(Value::as_i64).unwrap_or(-1);
            let warehouse = match stock.get("warehouse_id").and_then(Value::as_str) {
                Some(id) => id.to_string(),
                None if sku.warehouses.len() == 1 => {
                    sku.warehouses.keys().next().cloned().unwrap_or_default()
                }
                None => {
                    problem = Some((None, 12_019_028, "Multiple warehouses detected. Include all warehouse IDs and the corresponding details and try again.".to_string()));
                    break;
                }
            };
            if !sku.warehouses.contains_key(&warehouse) {
                problem = Some((
                    Some(warehouse),
                    12_052_097,
                    "The warehouse does not exist".to_string(),
                ));
                break;
            }
            // Documented range [1, 99,999]; 0 is accepted for a sold-out SKU.
            if !(0..=99_999).contains(&quantity) {
                problem = Some((
                    Some(warehouse),
                    12_052_055,
                    "The SKU inventory quantity for the warehouse must be within allowed limits."
                        .to_string(),
                ));
                break;
            }
            if state.shop.disabled_warehouses.contains(&warehouse)
                && sku.warehouses.get(&warehouse) != Some(&quantity)
            {
                problem = Some((
                    Some(warehouse),
                    12_052_531,
                    "The warehouse is disabled.".to_string(),
                ));
                break;
            }
            planned.insert(warehouse, quantity);
        }
        if problem.is_none() && planned.len() != sku.warehouses.len() {
            problem = Some((None, 12_019_028, "Multiple warehouses detected. Include all warehouse IDs and the corresponding details and try again.".to_string()));
        }
        match problem {
            Some((warehouse, code, message)) => {
                errors.push(sku_error(&sku_id, warehouse.as_deref(), code, &message))
            }
            None => updates.push((sku_id, planned)),
        }
    }
    if let Some(product) = state.shop.products.get_mut(&product_id) {
        for (sku_id, planned) in updates {
            if let Some(sku) = product.skus.get_mut(&sku_id) {
                sku.warehouses = planned;
            }
        }
    }
    let data = if errors.is_empty() {
        json!({})
    } else {
        json!({ "errors": errors })
    };
    answer(StatusCode::OK, 0, "Success", data)
}

/// The strings of a body's array field (none when absent).
fn string_list(body: &Value, name: &str) -> Vec<String> {
    body.get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn inventory_search(state: &mut FakeState, body: &Value) -> Response {
    let sku_ids = string_list(body, "sku_ids");
    let product_ids = string_list(body, "product_ids");
    if sku_ids.len() > 600 {
        return answer(
            StatusCode::OK,
            12_019_015,
            "The number of SKU exceed the limit",
            Value::Null,
        );
    }
    if product_ids.len() > 100 {
        return answer(
            StatusCode::OK,
            12_019_120,
            "The number of provided product IDs exceeds the limit.",
            Value::Null,
        );
    }
    let mut by_product: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let wanted: Vec<(String, String)> = if sku_ids.is_empty() {
        product_ids
            .iter()
            .filter_map(|product_id| {
                state
                    .shop
                    .products
                    .get(product_id)
                    .map(|product| (product_id, product))
            })
            .flat_map(|(product_id, product)| {
                product
                    .skus
                    .keys()
                    .map(move |sku_id| (product_id.clone(), sku_id.clone()))
            })
            .collect()
    } else {
        sku_ids
            .iter()
            .filter_map(|sku_id| {
                state
                    .shop
                    .product_of(sku_id)
                    .map(|product_id| (product_id.to_string(), sku_id.clone()))
            })
            .collect()
    };
    for (product_id, sku_id) in wanted {
        let Some(sku) = state.shop.sku(&product_id, &sku_id) else {
            continue;
        };
        let total: i64 = sku.warehouses.values().sum();
        by_product.entry(product_id).or_default().push(json!({
            "id": sku_id,
            "seller_sku": sku.seller_sku,
            "total_available_quantity": total,
            "total_committed_quantity": 0,
            "warehouse_inventory": sku.warehouses.iter().map(|(id, quantity)| json!({
                "warehouse_id": id, "available_quantity": quantity, "committed_quantity": 0,
            })).collect::<Vec<_>>(),
        }));
    }
    let inventory: Vec<Value> = by_product
        .into_iter()
        .map(|(product_id, skus)| json!({ "product_id": product_id, "skus": skus }))
        .collect();
    answer(
        StatusCode::OK,
        0,
        "Success",
        json!({ "inventory": inventory }),
    )
}

/// Ends every page token, as TikTok's base64 tokens may: `+`, `/` and `=` must survive the
/// query's encoding and be signed as decoded.
const TOKEN_TAIL: &str = "+/Q=";

/// One page of `found` from `offset`, as JSON, and the token of the next page (empty after the
/// last): the offset and a fingerprint of the search, so a token only fits its own search.
fn page_of<T>(
    found: &[T],
    offset: usize,
    page_size: usize,
    search: &str,
    to_json: impl Fn(&T) -> Value,
) -> (Vec<Value>, String) {
    let page = found
        .iter()
        .skip(offset)
        .take(page_size)
        .map(to_json)
        .collect();
    let next = offset.saturating_add(page_size);
    let token = if next < found.len() {
        format!("{next}.{}{TOKEN_TAIL}", fingerprint(search))
    } else {
        String::new()
    };
    (page, token)
}

fn fingerprint(text: &str) -> u64 {
    // FNV-1a: stable across runs, enough to tie a page token to its search.
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn order_search(state: &mut FakeState, query: &BTreeMap<String, String>, body: &Value) -> Response {
    let page_size: usize = query
        .get("page_size")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    if !(1..=100).contains(&page_size) {
        return refuse(
            state,
            StatusCode::BAD_REQUEST,
            INVALID_PARAMETER,
            "page_size must be within [1-100]".into(),
        );
    }
    let sort_field = query
        .get("sort_field")
        .map(String::as_str)
        .unwrap_or("create_time");
    let sort_order = query
        .get("sort_order")
        .map(String::as_str)
        .unwrap_or("DESC");
    if !matches!(sort_field, "create_time" | "update_time") || !matches!(sort_order, "ASC" | "DESC")
    {
        return refuse(
            state,
            StatusCode::BAD_REQUEST,
            INVALID_PARAMETER,
            "sort_field or sort_order not documented".into(),
        );
    }
    let bound = |name: &str| body.get(name).and_then(Value::as_i64);
    let search = format!("{page_size}|{sort_field}|{sort_order}|{body}");
    let Some(offset) = page_offset(query.get("page_token"), &search) else {
        return refuse(
            state,
            StatusCode::BAD_REQUEST,
            INVALID_PARAMETER,
            "page_token does not belong to this search".into(),
        );
    };
    let status = body.get("order_status").and_then(Value::as_str);
    let warehouse_ids = string_list(body, "warehouse_ids");
    let mut found: Vec<&Order> = state
        .shop
        .orders
        .values()
        .filter(|order| bound("update_time_ge").is_none_or(|ge| order.update_time >= ge))
        .filter(|order| bound("update_time_lt").is_none_or(|lt| order.update_time < lt))
        .filter(|order| bound("create_time_ge").is_none_or(|ge| order.create_time >= ge))
        .filter(|order| bound("create_time_lt").is_none_or(|lt| order.create_time < lt))
        .filter(|order| status.is_none_or(|status| order.status == status))
        .filter(|order| warehouse_ids.is_empty() || warehouse_ids.contains(&order.warehouse_id))
        .collect();
    found.sort_by_key(|order| {
        let key = if sort_field == "update_time" {
            order.update_time
        } else {
            order.create_time
        };
        (key, order.sequence)
    });
    if sort_order == "DESC" {
        found.reverse();
    }
    let total = found.len();
    let (page, next_page_token) =
        page_of(&found, offset, page_size, &search, |order| order.to_json());
    answer(
        StatusCode::OK,
        0,
        "Success",
        json!({ "next_page_token": next_page_token, "total_count": total, "orders": page }),
    )
}

/// The offset a page token of `search` stands for; `None` when it belongs to another search.
fn page_offset(token: Option<&String>, search: &str) -> Option<usize> {
    let Some(token) = token else {
        return Some(0);
    };
    let (offset, print) = token.split_once('.')?;
    (print.strip_suffix(TOKEN_TAIL) == Some(fingerprint(search).to_string().as_str()))
        .then(|| offset.parse().unwrap_or(usize::MAX))
}

/// Search Products: filtered by status, seller SKUs, SKU ids and creation and update times,
/// oldest first, at most [`MAX_PRODUCT_SEARCH_RESULTS`] paged through (12052180 past it).
fn product_search(
    state: &mut FakeState,
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Response {
    let page_size: usize = query
        .get("page_size")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    if !(1..=100).contains(&page_size) {
        return answer(
            StatusCode::OK,
            12_019_109,
            "page size is invalid",
            Value::Null,
        );
    }
    let (seller_skus, sku_ids) = (
        string_list(body, "seller_skus"),
        string_list(body, "sku_ids"),
    );
    if seller_skus.len() > 10 {
        return answer(
            StatusCode::OK,
            12_019_027,
            "The maximum count of \u{201c}seller_skus\u{201d} in the search filter is 10.",
            Value::Null,
        );
    }
    if sku_ids.len() > 10 {
        return answer(
            StatusCode::OK,
            12_019_087,
            "The number of SKU IDs exceeds the limit of 10",
            Value::Null,
        );
    }
    let search = format!("{page_size}|{body}");
    let Some(offset) = page_offset(query.get("page_token"), &search) else {
        return answer(
            StatusCode::OK,
            12_052_910,
            "Invalid input parameters. Refer to the API documentation for details.",
            Value::Null,
        );
    };
    if offset >= MAX_PRODUCT_SEARCH_RESULTS {
        return answer(
            StatusCode::OK,
            12_052_180,
            "The total number of search results can not exceed 10000.",
            Value::Null,
        );
    }
    let bound = |name: &str| body.get(name).and_then(Value::as_i64);
    let status = body.get("status").and_then(Value::as_str).unwrap_or("ALL");
    let mut found: Vec<(&String, &Product)> = state
        .shop
        .products
        .iter()
        .filter(|(_, product)| status == "ALL" || product.status == status)
        .filter(|(_, product)| bound("create_time_ge").is_none_or(|ge| product.create_time >= ge))
        .filter(|(_, product)| bound("create_time_le").is_none_or(|le| product.create_time <= le))
        .filter(|(_, product)| bound("update_time_ge").is_none_or(|ge| product.create_time >= ge))
        .filter(|(_, product)| bound("update_time_le").is_none_or(|le| product.create_time <= le))
        .filter(|(_, product)| {
            seller_skus.is_empty()
                || product
                    .skus
                    .values()
                    .any(|sku| seller_skus.contains(&sku.seller_sku))
        })
        .filter(|(_, product)| {
            sku_ids.is_empty() || product.skus.keys().any(|id| sku_ids.contains(id))
        })
        .collect();
    found.sort_by_key(|(id, product)| (product.create_time, (*id).clone()));
    let total = found.len();
    found.truncate(MAX_PRODUCT_SEARCH_RESULTS);
    let (products, next_page_token) =
        page_of(&found, offset, page_size, &search, |(id, product)| {
            product.to_search_json(id)
        });
    answer(
        StatusCode::OK,
        0,
        "Success",
        json!({ "total_count": total, "products": products, "next_page_token": next_page_token }),
    )
}

fn returns_search(
    state: &mut FakeState,
    query: &BTreeMap<String, String>,
    body: &Value,
) -> Response {
    let page_size: usize = match query.get("page_size").map(|value| value.parse()) {
        None => 10,
        Some(Ok(size)) => size,
        Some(Err(_)) => 0,
    };
    if !(10..=50).contains(&page_size) {
        return answer(
            StatusCode::OK,
            25_001_001,
            "An invalid request parameter was passed. page_size: [10-50]",
            Value::Null,
        );
    }
    let order_ids = string_list(body, "order_ids");
    let search = format!("{page_size}|{body}");
    let Some(offset) = page_offset(query.get("page_token"), &search) else {
        return answer(
            StatusCode::OK,
            25_001_001,
            "An invalid request parameter was passed. page_token",
            Value::Null,
        );
    };
    let found: Vec<&Return> = state
        .shop
        .returns
        .iter()
        .filter(|found| order_ids.is_empty() || order_ids.contains(&found.order_id))
        .collect();
    let total = found.len();
    let (page, next_page_token) =
        page_of(&found, offset, page_size, &search, |found| found.to_json());
    answer(
        StatusCode::OK,
        0,
        "Success",
        json!({ "return_orders": page, "next_page_token": next_page_token, "total_count": total }),
    )
}

fn order_detail(state: &mut FakeState, query: &BTreeMap<String, String>) -> Response {
    let ids: Vec<&str> = query
        .get("ids")
        .map(|ids| ids.split(',').filter(|id| !id.is_empty()).collect())
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 50 {
        return refuse(
            state,
            StatusCode::BAD_REQUEST,
            INVALID_PARAMETER,
            "ids: 1 to 50 order ids".into(),
        );
    }
    let orders: Vec<Value> = ids
        .iter()
        .filter_map(|id| state.shop.orders.get(*id))
        .map(Order::to_json)
        .collect();
    answer(StatusCode::OK, 0, "Success", json!({ "orders": orders }))
}

/// How long a test may wait for the fake's rate-limit window to pass.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);
