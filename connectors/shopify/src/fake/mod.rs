//! A fake Shopify for tests: an axum server answering the Admin GraphQL endpoint.
//!
//! It accepts only documents valid against the real Admin schema (2025-01, read from
//! `shared/specs/shopify/`; see [`schema`]) and answers invalid ones as Shopify does (HTTP 200
//! with `errors`), coerces variables against their declared types, computes the documented
//! query cost and enforces it with a leaky bucket (`THROTTLED` with `extensions.cost`),
//! answers in the documented shapes (connections, `userErrors`), applies
//! `inventorySetQuantities` compare-and-set all-or-nothing, and builds signed order webhooks.
//! When the schema folder is absent (or a request uses a version it does not hold) it falls
//! back to its own subset of the schema and records that real validation was skipped.

pub mod cost;
pub mod resolve;
pub mod rest;
pub mod schema;
pub mod state;

use crate::config::ShopifyChannelConfig;
use crate::connector::ShopifyConnector;
use crate::gid::{gid, numeric_id};
use crate::version::{ApiVersion, CompareForm};
use apollo_compiler::executable::Selection;
use apollo_compiler::request::coerce_variable_values;
use apollo_compiler::resolvers::Execution;
use apollo_compiler::response::JsonMap;
use apollo_compiler::{ast, ExecutableDocument};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use omnistock_connector::Secret;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

pub use rest::Delivery;
pub use schema::SchemaSource;
pub use state::now_seconds;

/// The bucket the fake starts with: Shopify's documented Standard figures in points.
pub const DEFAULT_MAXIMUM_AVAILABLE: f64 = 2000.0;
pub const DEFAULT_RESTORE_RATE: f64 = 100.0;

/// Why the fake cannot start or act.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("binding the fake shopify failed: {0}")]
    Bind(std::io::Error),
    #[error("{0}")]
    Action(String),
}

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    pub shop_domain: String,
    pub access_token: String,
    pub client_secret: String,
    pub location_id: u64,
    pub maximum_available: f64,
    pub restore_rate: f64,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            shop_domain: "omnistock-test.myshopify.com".into(),
            access_token: "shpat_fake_token".into(),
            client_secret: "fake_client_secret".into(),
            location_id: 7_000_001,
            maximum_available: DEFAULT_MAXIMUM_AVAILABLE,
            restore_rate: DEFAULT_RESTORE_RATE,
        }
    }
}

/// Shopify's leaky bucket of query-cost points.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    pub maximum_available: f64,
    pub restore_rate: f64,
    available: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(maximum_available: f64, restore_rate: f64) -> Self {
        Self {
            maximum_available,
            restore_rate,
            available: maximum_available,
            at: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let restored = now.duration_since(self.at).as_secs_f64() * self.restore_rate;
        self.available = (self.available + restored).min(self.maximum_available);
        self.at = now;
    }

    /// Takes `cost` points if the bucket holds them.
    fn take(&mut self, cost: f64) -> bool {
        self.refill();
        if cost <= self.available {
            self.available -= cost;
            true
        } else {
            false
        }
    }

    /// Gives back what a query was charged beyond its actual cost.
    fn refund(&mut self, points: f64) {
        self.refill();
        self.available = (self.available + points.max(0.0)).min(self.maximum_available);
    }

    fn status(&mut self) -> Value {
        self.refill();
        json!({
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": self.available.floor(),
            "restoreRate": self.restore_rate,
        })
    }
}

/// How the fake handled one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub api_version: String,
    pub operation_name: Option<String>,
    /// Root fields of the executed operation (empty when the document was refused).
    pub root_fields: Vec<String>,
    pub query: String,
    pub variables: Value,
    pub schema: SchemaSource,
    /// Validation or variable errors the fake answered with.
    pub validation_errors: Vec<String>,
    pub requested_cost: f64,
    pub throttled: bool,
    /// What an executed `inventorySetQuantities` did.
    pub stock_update: Option<StockUpdateOutcome>,
}

/// One `inventorySetQuantities` call as the fake answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockUpdateOutcome {
    /// Quantities in the input.
    pub items: usize,
    /// Whether the change was applied (Shopify applies all of it or none).
    pub applied: bool,
    /// Quantities a user error names.
    pub items_with_errors: usize,
    /// Of those, refused for a stale compare value.
    pub stale: usize,
}

impl StockUpdateOutcome {
    /// Quantities refused only because another one in the same call was.
    pub fn collateral(&self) -> usize {
        if self.applied {
            0
        } else {
            self.items.saturating_sub(self.items_with_errors)
        }
    }

    fn from_answer(variables: &Value, data: &Value) -> Option<Self> {
        let payload = data.get("inventorySetQuantities")?;
        let items = variables["input"]["quantities"]
            .as_array()
            .map_or(0, Vec::len);
        let errors = payload["userErrors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let indices = |stale_only: bool| {
            errors
                .iter()
                .filter(|error| {
                    !stale_only
                        || error["code"]
                            .as_str()
                            .is_some_and(|code| code.ends_with("_STALE"))
                })
                .filter_map(|error| {
                    error["field"]
                        .as_array()?
                        .get(2)?
                        .as_str()
                        .map(str::to_string)
                })
                .collect::<BTreeSet<String>>()
                .len()
        };
        Some(Self {
            items,
            applied: !payload["inventoryAdjustmentGroup"].is_null(),
            items_with_errors: indices(false),
            stale: indices(true),
        })
    }
}

impl RequestRecord {
    pub fn is_stock_update(&self) -> bool {
        self.root_fields
            .iter()
            .any(|field| field == "inventorySetQuantities")
            || self.query.contains("inventorySetQuantities")
    }
}

/// A webhook the fake sent to a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentWebhook {
    pub topic: String,
    pub order_id: String,
    /// The receiver's HTTP status, or the transport error.
    pub outcome: Result<u16, String>,
}

struct Inner {
    options: FakeOptions,
    subscription: Mutex<Option<String>>,
    sent: Arc<Mutex<Vec<SentWebhook>>>,
    state: Mutex<state::ShopState>,
    bucket: Mutex<Bucket>,
    requests: Mutex<Vec<RequestRecord>>,
    next_group: Mutex<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake Shopify; the server stops when the handle is dropped.
pub struct FakeShopify {
    base_url: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeShopify {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn numeric(gid_text: &str, type_name: &str) -> Result<u64, FakeError> {
    numeric_id(gid_text, type_name)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| FakeError::Action(format!("not a {type_name} gid: {gid_text}")))
}

impl FakeShopify {
    pub async fn start(options: FakeOptions) -> Result<Self, FakeError> {
        let inner = Arc::new(Inner {
            state: Mutex::new(state::ShopState::new(options.location_id)),
            bucket: Mutex::new(Bucket::new(options.maximum_available, options.restore_rate)),
            requests: Mutex::new(Vec::new()),
            next_group: Mutex::new(1),
            subscription: Mutex::new(None),
            sent: Arc::new(Mutex::new(Vec::new())),
            options,
        });
        let router = Router::new()
            .route("/admin/api/{version}/graphql.json", post(graphql))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(FakeError::Bind)?;
        let address = listener.local_addr().map_err(FakeError::Bind)?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            base_url: format!("http://{address}"),
            inner,
            server,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn options(&self) -> &FakeOptions {
        &self.inner.options
    }

    pub fn location_gid(&self) -> String {
        gid("Location", self.inner.options.location_id)
    }

    /// Where the real schema comes from for version 2025-01, or why it is not there.
    pub fn schema_source() -> SchemaSource {
        match schema::admin_2025_01() {
            Ok(loaded) => loaded.source.clone(),
            Err(reason) => SchemaSource::Subset { reason },
        }
    }

    /// A channel configuration pointing at this fake.
    pub fn channel_config(&self, api_version: &str) -> ShopifyChannelConfig {
        ShopifyChannelConfig {
            shop: self.inner.options.shop_domain.clone(),
            access_token: Secret::new(self.inner.options.access_token.clone()),
            client_secret: Secret::new(self.inner.options.client_secret.clone()),
            api_version: Some(api_version.to_string()),
            location_id: self.location_gid(),
            orders_page_size: None,
            import_orders_since: None,
            request_timeout_ms: Some(5_000),
            inventory_reason: None,
            stock_push_rate: None,
            poll_overlap_seconds: None,
            webhook_max_age_seconds: None,
            base_url: Some(self.base_url.clone()),
        }
    }

    /// The same configuration as a channel's `options` map (what `[[channels]]` holds besides
    /// `id` and `kind`), for building the connector through the daemon's registry.
    pub fn channel_options(&self, api_version: &str) -> serde_json::Map<String, Value> {
        let options = json!({
            "shop": self.inner.options.shop_domain,
            "access_token": self.inner.options.access_token,
            "client_secret": self.inner.options.client_secret,
            "api_version": api_version,
            "location_id": self.location_gid(),
            "request_timeout_ms": 5000,
            "base_url": self.base_url,
        });
        options.as_object().cloned().unwrap_or_default()
    }

    pub fn connector(&self, api_version: &str) -> Result<ShopifyConnector, FakeError> {
        ShopifyConnector::new(self.channel_config(api_version))
            .map_err(|error| FakeError::Action(error.to_string()))
    }

    /// Creates a product variant stocked at the location; returns the variant gid.
    pub fn create_listing(&self, sku: &str, available: i64) -> String {
        let id = lock(&self.inner.state).add_variant(sku, Some(available));
        gid("ProductVariant", id)
    }

    /// Creates a variant whose item is not stocked at the location.
    pub fn create_unstocked_listing(&self, sku: &str) -> String {
        let id = lock(&self.inner.state).add_variant(sku, None);
        gid("ProductVariant", id)
    }

    /// The inventory item gid of a variant.
    pub fn inventory_item_of(&self, variant_gid: &str) -> Result<String, FakeError> {
        let id = numeric(variant_gid, "ProductVariant")?;
        lock(&self.inner.state)
            .variants
            .get(&id)
            .map(|variant| gid("InventoryItem", variant.inventory_item_id))
            .ok_or_else(|| FakeError::Action(format!("no variant {variant_gid}")))
    }

    /// `available` at the location of a variant or inventory item (`None`: unknown or not
    /// stocked).
    pub fn available(&self, listing_gid: &str) -> Option<i64> {
        let state = lock(&self.inner.state);
        if let Ok(id) = numeric(listing_gid, "ProductVariant") {
            return state.variants.get(&id)?.available;
        }
        let id = numeric(listing_gid, "InventoryItem").ok()?;
        state.variant_by_item(id)?.available
    }

    /// A change made on Shopify's side (a merchant's edit, another app).
    pub fn set_available(&self, variant_gid: &str, available: i64) -> Result<(), FakeError> {
        let id = numeric(variant_gid, "ProductVariant")?;
        let mut state = lock(&self.inner.state);
        let variant = state
            .variants
            .get_mut(&id)
            .ok_or_else(|| FakeError::Action(format!("no variant {variant_gid}")))?;
        variant.available = Some(available);
        Ok(())
    }

    /// Makes a variant's item not stocked at the location any more.
    pub fn unstock(&self, variant_gid: &str) -> Result<(), FakeError> {
        let id = numeric(variant_gid, "ProductVariant")?;
        let mut state = lock(&self.inner.state);
        let variant = state
            .variants
            .get_mut(&id)
            .ok_or_else(|| FakeError::Action(format!("no variant {variant_gid}")))?;
        variant.available = None;
        Ok(())
    }

    /// A buyer orders `(variant gid, units)` lines now; returns the order gid.
    pub fn place_order(&self, lines: &[(String, i64)]) -> Result<String, FakeError> {
        self.place_order_at(lines, now_seconds())
    }

    pub fn place_order_at(
        &self,
        lines: &[(String, i64)],
        at: DateTime<Utc>,
    ) -> Result<String, FakeError> {
        let lines = lines
            .iter()
            .map(|(listing, units)| Ok((numeric(listing, "ProductVariant")?, *units)))
            .collect::<Result<Vec<_>, FakeError>>()?;
        let id = lock(&self.inner.state)
            .place_order(&lines, at)
            .map_err(FakeError::Action)?;
        let order_gid = gid("Order", id);
        self.notify(&order_gid, "orders/create");
        Ok(order_gid)
    }

    pub fn cancel_order(&self, order_gid: &str) -> Result<(), FakeError> {
        let id = numeric(order_gid, "Order")?;
        lock(&self.inner.state)
            .cancel_order(id, now_seconds())
            .map_err(FakeError::Action)?;
        self.notify(order_gid, "orders/cancelled");
        Ok(())
    }

    /// The line item gids of an order.
    pub fn line_items(&self, order_gid: &str) -> Result<Vec<String>, FakeError> {
        let id = numeric(order_gid, "Order")?;
        let state = lock(&self.inner.state);
        let order = state
            .orders
            .get(&id)
            .ok_or_else(|| FakeError::Action(format!("no order {order_gid}")))?;
        Ok(order
            .lines
            .iter()
            .map(|line| gid("LineItem", line.id))
            .collect())
    }

    pub fn fulfill(&self, order_gid: &str, line_gid: &str, units: i64) -> Result<(), FakeError> {
        let order = numeric(order_gid, "Order")?;
        let line = numeric(line_gid, "LineItem")?;
        let fully = {
            let mut state = lock(&self.inner.state);
            state
                .fulfill(order, line, units, now_seconds())
                .map_err(FakeError::Action)?;
            state
                .orders
                .get(&order)
                .is_some_and(|order| order.display_fulfillment_status() == "FULFILLED")
        };
        let topic = if fully {
            "orders/fulfilled"
        } else {
            "orders/partially_fulfilled"
        };
        self.notify(order_gid, topic);
        Ok(())
    }

    /// Ships several `(line gid, units)` in one fulfillment.
    pub fn fulfill_lines(&self, order_gid: &str, lines: &[(String, i64)]) -> Result<(), FakeError> {
        let order = numeric(order_gid, "Order")?;
        let lines = lines
            .iter()
            .map(|(line, units)| Ok((numeric(line, "LineItem")?, *units)))
            .collect::<Result<Vec<_>, FakeError>>()?;
        lock(&self.inner.state)
            .fulfill_lines(order, &lines, now_seconds())
            .map_err(FakeError::Action)?;
        self.notify(order_gid, "orders/updated");
        Ok(())
    }

    /// Refunds units of a line with a restock type (`RETURN`, `CANCEL`, `NO_RESTOCK`).
    pub fn refund(
        &self,
        order_gid: &str,
        line_gid: &str,
        units: i64,
        restock: &'static str,
    ) -> Result<(), FakeError> {
        self.refund_lines(order_gid, &[(line_gid.to_string(), units)], restock)
    }

    /// Refunds several `(line gid, units)` in one refund, with one restock type.
    pub fn refund_lines(
        &self,
        order_gid: &str,
        lines: &[(String, i64)],
        restock: &'static str,
    ) -> Result<(), FakeError> {
        let order = numeric(order_gid, "Order")?;
        let lines = lines
            .iter()
            .map(|(line, units)| Ok((numeric(line, "LineItem")?, *units)))
            .collect::<Result<Vec<_>, FakeError>>()?;
        lock(&self.inner.state)
            .refund_lines(order, &lines, restock, now_seconds())
            .map_err(FakeError::Action)?;
        self.notify(order_gid, "orders/updated");
        Ok(())
    }

    /// An order's money as the fake holds it: its currency, the unit price in cents by
    /// variant gid (the listing id) and the current total in cents.
    pub fn order_money(
        &self,
        order_gid: &str,
    ) -> Result<(String, BTreeMap<String, i64>, i64), FakeError> {
        let id = numeric(order_gid, "Order")?;
        let state = lock(&self.inner.state);
        let order = state
            .orders
            .get(&id)
            .ok_or_else(|| FakeError::Action(format!("no order {order_gid}")))?;
        let unit_prices = order
            .lines
            .iter()
            .map(|line| {
                (
                    gid("ProductVariant", line.variant_id),
                    line.unit_price_cents,
                )
            })
            .collect();
        Ok((
            order.currency.to_string(),
            unit_prices,
            order.current_total_cents(),
        ))
    }

    /// The REST-style payload of an order now.
    pub fn order_payload(&self, order_gid: &str) -> Result<Value, FakeError> {
        let id = numeric(order_gid, "Order")?;
        let state = lock(&self.inner.state);
        let order = state
            .orders
            .get(&id)
            .ok_or_else(|| FakeError::Action(format!("no order {order_gid}")))?;
        Ok(rest::order_payload(order))
    }

    /// The webhook Shopify would send for the order's current state, signed with `secret`.
    pub fn webhook(
        &self,
        order_gid: &str,
        topic: &str,
        secret: &str,
    ) -> Result<Delivery, FakeError> {
        let body = serde_json::to_vec(&self.order_payload(order_gid)?)
            .map_err(|error| FakeError::Action(error.to_string()))?;
        Ok(self.signed(topic, body, secret))
    }

    /// The deliveries one merchant action triggers (a cancel sends `orders/updated` and
    /// `orders/cancelled`): as Shopify documents, they share one `X-Shopify-Event-Id` and each
    /// has its own `X-Shopify-Webhook-Id` (which a retry of that delivery keeps: clone one to
    /// redeliver it).
    pub fn action_webhooks(
        &self,
        order_gid: &str,
        topics: &[&str],
        secret: &str,
    ) -> Result<Vec<Delivery>, FakeError> {
        let event_id = uuid::Uuid::new_v4().to_string();
        topics
            .iter()
            .map(|topic| {
                let mut delivery = self.webhook(order_gid, topic, secret)?;
                delivery.headers.insert(
                    crate::webhook::HEADER_EVENT_ID.to_string(),
                    event_id.clone(),
                );
                Ok(delivery)
            })
            .collect()
    }

    /// Signs any body as a delivery of `topic`.
    pub fn signed(&self, topic: &str, body: Vec<u8>, secret: &str) -> Delivery {
        rest::delivery(
            secret,
            &self.inner.options.shop_domain,
            crate::config::DEFAULT_API_VERSION,
            topic,
            body,
        )
    }

    /// Subscribes `url` to the order topics: from now on every order change made through this
    /// handle is delivered there, signed, in the background (like Shopify, without any promise
    /// about the order deliveries arrive in).
    pub fn subscribe(&self, url: &str) {
        *lock(&self.inner.subscription) = Some(url.to_string());
    }

    /// Webhooks sent to the subscription so far.
    pub fn sent_webhooks(&self) -> Vec<SentWebhook> {
        lock(&self.inner.sent).clone()
    }

    fn notify(&self, order_gid: &str, topic: &str) {
        let Some(url) = lock(&self.inner.subscription).clone() else {
            return;
        };
        let Ok(delivery) = self.webhook(order_gid, topic, &self.inner.options.client_secret) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let sent = Arc::clone(&self.inner.sent);
        let (topic, order_id) = (topic.to_string(), order_gid.to_string());
        runtime.spawn(async move {
            let outcome = post_delivery(&url, &delivery).await;
            lock(&sent).push(SentWebhook {
                topic,
                order_id,
                outcome,
            });
        });
    }

    /// Sends a delivery to a webhook URL the way Shopify does (a POST with the headers).
    pub async fn send_webhook(&self, url: &str, delivery: &Delivery) -> Result<u16, FakeError> {
        post_delivery(url, delivery)
            .await
            .map_err(FakeError::Action)
    }

    /// Replaces the cost bucket (full).
    pub fn set_bucket(&self, maximum_available: f64, restore_rate: f64) {
        *lock(&self.inner.bucket) = Bucket::new(maximum_available, restore_rate);
    }

    /// The bucket's current state as the fake would report it.
    pub fn bucket_status(&self) -> Value {
        lock(&self.inner.bucket).status()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner.requests).clone()
    }

    /// Stock-update requests received so far, refused ones included.
    pub fn stock_requests_seen(&self) -> u64 {
        lock(&self.inner.requests)
            .iter()
            .filter(|record| record.is_stock_update())
            .count() as u64
    }
}

async fn post_delivery(url: &str, delivery: &Delivery) -> Result<u16, String> {
    let client = reqwest::Client::new();
    let mut request = client.post(url).body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    request = request.header("content-type", "application/json");
    let response = request.send().await.map_err(|error| error.to_string())?;
    Ok(response.status().as_u16())
}

fn graphql_errors(errors: Vec<Value>, extensions: Option<Value>) -> Response {
    let mut body = json!({ "errors": errors });
    if let Some(extensions) = extensions {
        body["extensions"] = extensions;
    }
    (StatusCode::OK, Json(body)).into_response()
}

/// The `@idempotent(key:)` of the operation's root field, if any.
fn idempotency_key(
    operation: &apollo_compiler::executable::Operation,
    variables: &JsonMap,
) -> Option<String> {
    operation
        .selection_set
        .selections
        .iter()
        .find_map(|selection| {
            let Selection::Field(field) = selection else {
                return None;
            };
            let directive = field.directives.get("idempotent")?;
            let value = directive.specified_argument_by_name("key")?;
            match value.as_ref() {
                ast::Value::String(key) => Some(key.clone()),
                ast::Value::Variable(name) => variables
                    .get(name.as_str())
                    .and_then(|value| value.as_str())
                    .map(str::to_string),
                _ => None,
            }
        })
}

async fn graphql(
    State(inner): State<Arc<Inner>>,
    Path(version_text): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|value| value.to_str().ok());
    if token != Some(inner.options.access_token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)" })),
        )
            .into_response();
    }
    let Some(version) = ApiVersion::parse(&version_text) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "errors": "Not Found" })),
        )
            .into_response();
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "errors": { "query": "Required parameter missing or invalid" } })),
            )
                .into_response()
        }
    };
    let query = request["query"].as_str().unwrap_or_default().to_string();
    let operation_name = request["operationName"].as_str().map(str::to_string);
    let raw_variables = request
        .get("variables")
        .cloned()
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| json!({}));
    let mut record = RequestRecord {
        api_version: version.to_string(),
        operation_name: operation_name.clone(),
        root_fields: Vec::new(),
        query: query.clone(),
        variables: raw_variables.clone(),
        schema: SchemaSource::Admin {
            version: "2025-01".into(),
        },
        validation_errors: Vec::new(),
        requested_cost: 0.0,
        throttled: false,
        stock_update: None,
    };
    let response = answer(
        &inner,
        version,
        &query,
        operation_name.as_deref(),
        &raw_variables,
        &mut record,
    );
    lock(&inner.requests).push(record);
    response
}

fn answer(
    inner: &Inner,
    version: ApiVersion,
    query: &str,
    operation_name: Option<&str>,
    raw_variables: &Value,
    record: &mut RequestRecord,
) -> Response {
    let is_2026 = version.compare_form() == CompareForm::ChangeFromQuantity;
    let loaded = if version
        == (ApiVersion::Release {
            year: 2025,
            month: 1,
        }) {
        schema::admin_2025_01()
    } else {
        Err(format!("the fake holds no admin schema for {version}"))
    };
    let owned_subset;
    let fake_schema: &schema::FakeSchema = match &loaded {
        Ok(real) => real,
        Err(reason) => {
            owned_subset = match schema::subset(reason.clone(), is_2026) {
                Ok(subset) => subset,
                Err(error) => {
                    return graphql_errors(vec![json!({ "message": error })], None);
                }
            };
            &owned_subset
        }
    };
    record.schema = fake_schema.source.clone();
    let schema = &fake_schema.schema;
    let document = match ExecutableDocument::parse_and_validate(schema, query, "query.graphql") {
        Ok(document) => document,
        Err(with_errors) => {
            let errors: Vec<Value> = with_errors
                .errors
                .iter()
                .map(|diagnostic| {
                    let error = diagnostic.to_json();
                    record.validation_errors.push(error.message.clone());
                    serde_json::to_value(&error)
                        .unwrap_or_else(|_| json!({ "message": error.message }))
                })
                .collect();
            return graphql_errors(errors, None);
        }
    };
    let operation = match document.operations.get(operation_name) {
        Ok(operation) => operation,
        Err(error) => {
            let message = error.message().to_string();
            record.validation_errors.push(message.clone());
            return graphql_errors(vec![json!({ "message": message })], None);
        }
    };
    record.root_fields = operation
        .selection_set
        .selections
        .iter()
        .filter_map(|selection| match selection {
            Selection::Field(field) => Some(field.name.to_string()),
            _ => None,
        })
        .collect();
    let raw: JsonMap = serde_json::from_value(raw_variables.clone()).unwrap_or_default();
    let variables = match coerce_variable_values(schema, operation, &raw) {
        Ok(variables) => variables,
        Err(error) => {
            let message = error.message().to_string();
            record.validation_errors.push(message.clone());
            return graphql_errors(
                vec![json!({ "message": message, "extensions": { "code": "INVALID_VARIABLE" } })],
                None,
            );
        }
    };
    let cost = cost::CostContext {
        schema,
        document: &document,
        variables: &variables,
    }
    .operation_cost(operation);
    record.requested_cost = cost;
    let mut bucket = lock(&inner.bucket);
    if cost > cost::MAX_SINGLE_QUERY_COST {
        let status = bucket.status();
        return graphql_errors(
            vec![json!({
                "message": format!("Query cost is {cost}, which exceeds the single query max cost limit ({}).", cost::MAX_SINGLE_QUERY_COST),
                "extensions": { "code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": cost::MAX_SINGLE_QUERY_COST },
            })],
            Some(
                json!({ "cost": { "requestedQueryCost": cost, "actualQueryCost": null, "throttleStatus": status } }),
            ),
        );
    }
    if !bucket.take(cost) {
        record.throttled = true;
        let status = bucket.status();
        return graphql_errors(
            vec![json!({
                "message": "Throttled",
                "extensions": { "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits" },
            })],
            Some(
                json!({ "cost": { "requestedQueryCost": cost, "actualQueryCost": null, "throttleStatus": status } }),
            ),
        );
    }
    drop(bucket);

    let execution = Execution::new(schema, &document)
        .operation(operation)
        .coerced_variable_values(&variables);
    let result = if operation.operation_type == ast::OperationType::Mutation {
        let group = {
            let mut next = lock(&inner.next_group);
            *next += 1;
            *next
        };
        let mut state = lock(&inner.state);
        let root = resolve::MutationRoot {
            state: RefCell::new(&mut state),
            rules: resolve::VersionRules {
                change_from: is_2026,
                change_from_required: version
                    >= (ApiVersion::Release {
                        year: 2026,
                        month: 4,
                    }),
            },
            idempotency_key: idempotency_key(operation, &variables),
            next_group: group,
        };
        execution.execute_sync(&root)
    } else {
        let state = lock(&inner.state);
        execution.execute_sync(&resolve::QueryRoot { state: &state })
    };
    let mut body = match result {
        Ok(response) => serde_json::to_value(&response)
            .unwrap_or_else(|error| json!({ "errors": [{ "message": error.to_string() }] })),
        Err(error) => json!({ "errors": [{ "message": error.message().to_string() }] }),
    };
    let actual = cost::CostContext {
        schema,
        document: &document,
        variables: &variables,
    }
    .actual_operation_cost(operation, &body["data"])
    .min(cost);
    if operation.operation_type == ast::OperationType::Mutation {
        record.stock_update = StockUpdateOutcome::from_answer(raw_variables, &body["data"]);
    }
    let mut bucket = lock(&inner.bucket);
    bucket.refund(cost - actual);
    let status = bucket.status();
    drop(bucket);
    body["extensions"] = json!({
        "cost": { "requestedQueryCost": cost, "actualQueryCost": actual, "throttleStatus": status }
    });
    (StatusCode::OK, Json(body)).into_response()
}
