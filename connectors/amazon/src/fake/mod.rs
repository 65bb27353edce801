//! A fake SP-API for tests: an axum server that answers Login with Amazon's token endpoint,
//! Orders v0, Listings Items 2021-08-01 (get, patch and search) and Feeds 2021-06-30.
//!
//! It accepts only requests valid against Amazon's official models (read at test time from
//! `shared/specs/amazon-sp-api/`, see [`spec`]): the operation must exist for the method and
//! path, its parameters and body must match the model, and a JSON_LISTINGS_FEED document must
//! match its schema. A request that does not is answered 400 `InvalidInput` and recorded in
//! [`FakeSpApi::violations`], as is any answer of the fake's own outside the documented
//! shapes. It checks `x-amz-access-token` (403 `Unauthorized` for a missing, unknown or
//! expired token), enforces usage plans when asked (429 `QuotaExceeded`, with
//! `x-amzn-RateLimit-Limit` on every answer), and processes feeds after a delay into a report
//! that mixes accepted and refused messages.

pub mod schema;
pub mod spec;
pub mod sqs;
pub mod state;

use crate::config::{AmazonChannelConfig, Region};
use crate::usage::Operation;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use omnistock_connector::{RateLimit, Secret};
use serde_json::{json, Value};
use spec::Specs;
use state::{Bucket, FakeFeed, FakeItem, FakeOrder, FeedDocument, ListingPages, State};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use spec::{specs_dir, SPECS_DIR_ENV};

/// The marketplace the fake sells in (Amazon.de).
pub const MARKETPLACE_ID: &str = "A1PA6795UKMFR9";
/// The currency of the fake's prices (`CurrencyCode`).
pub const CURRENCY: &str = "EUR";
/// The most SKUs one listings search pages through (`ItemSearchResults.numberOfResults`).
pub const MAX_SEARCHED_LISTINGS: usize = 1000;
/// The rate the fake reports while usage plans are not enforced.
const UNLIMITED_RATE: f64 = 1000.0;

/// Why the fake cannot start or act.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("amazon models unavailable: {0}")]
    SpecsMissing(String),
    #[error("binding the fake sp-api failed: {0}")]
    Bind(std::io::Error),
    #[error("{0}")]
    Action(String),
}

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub seller_id: String,
    /// How long an issued access token lives.
    pub token_lifetime: Duration,
    /// Enforce the documented usage plans (429 past a bucket).
    pub enforce_usage_plans: bool,
    /// How long a feed takes from submission to its report.
    pub feed_processing: Duration,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            client_id: "amzn1.application-oa2-client.fake".into(),
            client_secret: "amzn1.oa2-cs.v1.fake-secret".into(),
            refresh_token: "Atzr|fake-refresh-token".into(),
            seller_id: "A2FAKESELLER".into(),
            token_lifetime: Duration::from_secs(3600),
            enforce_usage_plans: false,
            feed_processing: Duration::from_millis(300),
        }
    }
}

struct Shared {
    specs: Specs,
    options: FakeOptions,
    origin: String,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a test panicked mid-change; the data is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running fake SP-API. Dropping it stops the server.
pub struct FakeSpApi {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSpApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSpApi {
    /// Loads the models and serves on a free loopback port. `Err(SpecsMissing)` when the models
    /// are not there (tests then skip and say so).
    pub async fn start(options: FakeOptions) -> Result<Self, FakeError> {
        let specs = Specs::load(&spec::specs_dir()).map_err(FakeError::SpecsMissing)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(FakeError::Bind)?;
        let address = listener.local_addr().map_err(FakeError::Bind)?;
        let shared = Arc::new(Shared {
            specs,
            options,
            origin: format!("http://{address}"),
            state: Mutex::new(State::default()),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { shared, server })
    }

    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    pub fn options(&self) -> &FakeOptions {
        &self.shared.options
    }

    /// A channel configuration pointing at the fake.
    pub fn channel_config(&self) -> AmazonChannelConfig {
        let options = &self.shared.options;
        AmazonChannelConfig {
            region: Region::Eu,
            marketplace_ids: vec![MARKETPLACE_ID.to_string()],
            seller_id: options.seller_id.clone(),
            client_id: Secret::new(options.client_id.clone()),
            client_secret: Secret::new(options.client_secret.clone()),
            refresh_token: Secret::new(options.refresh_token.clone()),
            token_url: Some(format!("{}/auth/o2/token", self.shared.origin)),
            api_origin: Some(self.shared.origin.clone()),
            orders_page_size: None,
            poll_overlap_secs: None,
            import_orders_since: None,
            product_type: None,
            feed_poll_interval_ms: Some(100),
            request_timeout_ms: Some(5_000),
            notifications: None,
        }
    }

    /// The same configuration as a channel's options in the daemon's settings (secrets in
    /// clear, as a configuration file holds them).
    pub fn channel_options(&self) -> serde_json::Map<String, Value> {
        let options = &self.shared.options;
        let mut map = serde_json::Map::new();
        map.insert("region".into(), json!("EU"));
        map.insert("marketplace_ids".into(), json!([MARKETPLACE_ID]));
        map.insert("seller_id".into(), json!(options.seller_id));
        map.insert("client_id".into(), json!(options.client_id));
        map.insert("client_secret".into(), json!(options.client_secret));
        map.insert("refresh_token".into(), json!(options.refresh_token));
        map.insert(
            "token_url".into(),
            json!(format!("{}/auth/o2/token", self.shared.origin)),
        );
        map.insert("api_origin".into(), json!(self.shared.origin));
        map.insert("feed_poll_interval_ms".into(), json!(100));
        map
    }

    /// Every violation of the models seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.shared.state().violations.clone()
    }

    /// Requests received for an operation (by its id in the models), throttled ones included.
    pub fn requests(&self, operation: &str) -> u64 {
        self.shared
            .state()
            .requests
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    pub fn token_exchanges(&self) -> u64 {
        self.shared.state().token_exchanges
    }

    /// Makes every issued access token expired, as an hour passing would.
    pub fn expire_tokens(&self) {
        let now = std::time::Instant::now();
        for expires in self.shared.state().access_tokens.values_mut() {
            *expires = now;
        }
    }

    /// Creates a merchant-fulfilled listing showing `quantity`, created now; returns its
    /// seller SKU.
    pub fn create_listing(&self, sku: &str, quantity: i64) -> String {
        self.create_listing_created_at(sku, quantity, whole_second(Utc::now()))
    }

    /// Creates a merchant-fulfilled listing created at `created` (for searches by creation
    /// instant); returns its seller SKU.
    pub fn create_listing_created_at(
        &self,
        sku: &str,
        quantity: i64,
        created: DateTime<Utc>,
    ) -> String {
        self.shared
            .state()
            .insert_listing(sku, Some(quantity), created);
        sku.to_string()
    }

    /// Creates a listing fulfilled by Amazon only (no `DEFAULT` availability).
    pub fn create_fba_listing(&self, sku: &str) {
        self.shared
            .state()
            .insert_listing(sku, None, whole_second(Utc::now()));
    }

    /// A listing's ASIN and title as its summary shows them.
    pub fn summary(&self, sku: &str) -> Option<(String, String)> {
        self.shared
            .state()
            .summaries
            .get(sku)
            .map(|summary| (summary.asin.clone(), summary.title.clone()))
    }

    /// The `DEFAULT` quantity of a listing (`None`: no such merchant listing).
    pub fn quantity(&self, sku: &str) -> Option<i64> {
        self.shared.state().listings.get(sku).copied().flatten()
    }

    /// A buyer orders `(sku, quantity)` lines, merchant-fulfilled; returns the order id.
    pub fn place_order(&self, lines: &[(String, i64)]) -> Result<String, FakeError> {
        let mut state = self.shared.state();
        let at = state.stamp();
        place(&mut state, lines, "MFN", at)
    }

    /// Places an order with a fulfillment channel of choice (`MFN` or `AFN`).
    pub fn place_order_fulfilled_by(
        &self,
        lines: &[(String, i64)],
        channel: &str,
    ) -> Result<String, FakeError> {
        let mut state = self.shared.state();
        let at = state.stamp();
        place(&mut state, lines, channel, at)
    }

    /// Places orders that all carry one update instant.
    pub fn place_orders_at_one_instant(
        &self,
        orders: &[Vec<(String, i64)>],
    ) -> Result<Vec<String>, FakeError> {
        let mut state = self.shared.state();
        let at = state.stamp();
        orders
            .iter()
            .map(|lines| place(&mut state, lines, "MFN", at))
            .collect()
    }

    /// An order's money as the fake holds it, in cents: the unit price by SKU and the total.
    pub fn order_money(&self, order_id: &str) -> Option<(BTreeMap<String, i64>, i64)> {
        let state = self.shared.state();
        let order = state.orders.iter().find(|order| order.id == order_id)?;
        let unit_prices = order
            .items
            .iter()
            .map(|item| (item.sku.clone(), item.unit_price_cents))
            .collect();
        Some((unit_prices, order.total_cents()))
    }

    /// Sets an order's status (`Canceled`, `Shipped` …) and, for `Shipped`, ships every unit.
    pub fn set_status(&self, order_id: &str, status: &str) -> Result<(), FakeError> {
        let mut state = self.shared.state();
        let at = state.stamp();
        let order = state
            .order_mut(order_id)
            .ok_or_else(|| FakeError::Action(format!("no order {order_id}")))?;
        order.status = status.to_string();
        order.updated = at;
        if status == "Shipped" {
            for item in &mut order.items {
                item.shipped = item.quantity;
            }
        }
        Ok(())
    }

    /// Limits `patchListingsItem` to `limit` (`None`: back to the fake's options).
    pub fn set_stock_rate_limit(&self, limit: Option<RateLimit>) {
        self.set_rate_limit(Operation::PatchListingsItem, limit);
    }

    /// Limits an operation to `limit` (`None`: back to the fake's options).
    pub fn set_rate_limit(&self, operation: Operation, limit: Option<RateLimit>) {
        let mut state = self.shared.state();
        match limit {
            Some(limit) => {
                let bucket = Bucket::new(limit.per_second_f64(), f64::from(limit.requests));
                state.buckets.insert(operation.name().to_string(), bucket);
            }
            None => {
                state.buckets.remove(operation.name());
            }
        }
    }

    /// The application loses the role an operation needs (403 `Unauthorized`).
    pub fn deny(&self, operation: &str) {
        self.shared.state().denied.insert(operation.to_string());
    }

    /// The next request of `operation` is answered with `status` (500, 503 …).
    pub fn fail_next(&self, operation: &str, status: u16) {
        self.shared
            .state()
            .failures
            .entry(operation.to_string())
            .or_default()
            .push_back(status);
    }

    /// The next feeds refuse this SKU's message with `message`.
    pub fn refuse_in_feeds(&self, sku: &str, message: &str) {
        self.shared
            .state()
            .feed_refusals
            .insert(sku.to_string(), message.to_string());
    }

    /// Feeds submitted so far: (feed type, number of messages).
    pub fn feeds(&self) -> Vec<(String, usize)> {
        let state = self.shared.state();
        state
            .feeds
            .iter()
            .map(|feed| {
                let messages = state
                    .documents
                    .get(&feed.input_document)
                    .and_then(|document| document.content.as_ref())
                    .and_then(|content| serde_json::from_slice::<Value>(content).ok())
                    .and_then(|document| document.get("messages")?.as_array().map(Vec::len))
                    .unwrap_or(0);
                (feed.feed_type.clone(), messages)
            })
            .collect()
    }
}

fn place(
    state: &mut State,
    lines: &[(String, i64)],
    channel: &str,
    at: DateTime<Utc>,
) -> Result<String, FakeError> {
    let number = state.next_number();
    let id = format!("302-{number:07}-{number:07}");
    let mut items = Vec::with_capacity(lines.len());
    for (sku, quantity) in lines {
        if !state.listings.contains_key(sku) {
            return Err(FakeError::Action(format!("no listing {sku}")));
        }
        let item_number = state.next_number();
        items.push(FakeItem {
            item_id: format!("{:014}", 40_000_000_000_000_u64 + item_number),
            sku: sku.clone(),
            quantity: *quantity,
            shipped: 0,
            unit_price_cents: state::unit_price_cents(sku),
        });
        if channel == "MFN" {
            if let Some(Some(shown)) = state.listings.get_mut(sku) {
                *shown = (*shown - quantity).max(0);
            }
        }
    }
    state.orders.push(FakeOrder {
        id: id.clone(),
        purchased: at,
        updated: at,
        status: "Unshipped".into(),
        channel: channel.to_string(),
        items,
    });
    Ok(id)
}

/// An instant to the second, as Amazon's dates show it.
fn whole_second(instant: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(instant.timestamp(), 0).unwrap_or(instant)
}

/// Cents as Amazon writes an amount: "12.34".
fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn errors(code: &str, message: &str, details: &str) -> Value {
    json!({"errors": [{"code": code, "message": message, "details": details}]})
}

fn json_response(status: StatusCode, body: &Value, rate: Option<f64>) -> Response {
    let mut response = (status, axum::Json(body.clone())).into_response();
    let headers = response.headers_mut();
    if let Some(rate) = rate {
        if let Ok(value) = HeaderValue::from_str(&format!("{rate}")) {
            headers.insert("x-amzn-RateLimit-Limit", value);
        }
    }
    headers.insert("x-amzn-RequestId", HeaderValue::from_static("fake-request"));
    response
}

fn decode_segment(segment: &str) -> String {
    reqwest::Url::parse(&format!("http://x/?s={segment}"))
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .next()
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_else(|| segment.to_string())
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    let Some(query) = uri.query() else {
        return Vec::new();
    };
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|url| {
            url.query_pairs()
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The largest body the fake reads: a feed document of 25,000 messages is several megabytes.
const MAX_BODY: usize = 64 * 1024 * 1024;

async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response(),
    };
    let path = uri.path().to_string();
    if path == "/auth/o2/token" && method == Method::POST {
        return token_endpoint(&shared, &headers, &body);
    }
    if let Some(document_id) = path.strip_prefix("/fake-s3/") {
        return document_endpoint(&shared, &method, document_id, &headers, body);
    }
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode_segment)
        .collect();
    let Some(matched) = shared.specs.match_request(method.as_str(), &segments) else {
        let message = format!("no operation {method} {path} in the models");
        shared.state().violations.push(message.clone());
        return json_response(
            StatusCode::NOT_FOUND,
            &errors("NotFound", &message, ""),
            None,
        );
    };
    let operation = matched.operation.clone();
    let query = query_pairs(&uri);
    {
        let mut state = shared.state();
        *state.requests.entry(operation.id.clone()).or_insert(0) += 1;
        let token = headers
            .get("x-amz-access-token")
            .and_then(|value| value.to_str().ok());
        if let Err(details) = state.check_token(token) {
            return json_response(
                StatusCode::FORBIDDEN,
                &errors(
                    "Unauthorized",
                    "Access to requested resource is denied.",
                    details,
                ),
                None,
            );
        }
        if state.denied.contains(&operation.id) {
            return json_response(
                StatusCode::FORBIDDEN,
                &errors(
                    "Unauthorized",
                    "Access to requested resource is denied.",
                    "",
                ),
                None,
            );
        }
        let injected = state
            .failures
            .get_mut(&operation.id)
            .and_then(|queue| queue.pop_front());
        if let Some(status) = injected {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return json_response(
                status,
                &errors(
                    "InternalFailure",
                    "We encountered an internal error. Please try again.",
                    "",
                ),
                None,
            );
        }
    }
    let problems = shared.specs.check(&matched, &query, &body);
    if !problems.is_empty() {
        let message = format!("{}: {}", operation.id, problems.join("; "));
        shared.state().violations.push(message.clone());
        return json_response(
            StatusCode::BAD_REQUEST,
            &errors("InvalidInput", &message, ""),
            None,
        );
    }
    let rate = {
        let mut state = shared.state();
        let plan = plan_of(&operation.id);
        let enforce =
            shared.options.enforce_usage_plans || state.buckets.contains_key(&operation.id);
        if enforce {
            let bucket = state
                .buckets
                .entry(operation.id.clone())
                .or_insert_with(|| Bucket::new(plan.0, plan.1));
            let rate = bucket.rate;
            if !bucket.take() {
                return json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &errors(
                        "QuotaExceeded",
                        "You exceeded your quota for the requested resource.",
                        "",
                    ),
                    Some(rate),
                );
            }
            rate
        } else {
            UNLIMITED_RATE
        }
    };
    let params = Params {
        path: matched.path_params.clone(),
        query,
    };
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, answer) = dispatch(&shared, &operation.id, &params, &body_json);
    let problems = shared
        .specs
        .check_response(&operation, status.as_u16(), &answer);
    if !problems.is_empty() {
        shared.state().violations.push(format!(
            "the fake's own answer to {}: {}",
            operation.id,
            problems.join("; ")
        ));
    }
    json_response(status, &answer, Some(rate))
}

/// The documented plan of an operation by its id (rate per second, burst).
fn plan_of(operation_id: &str) -> (f64, f64) {
    Operation::ALL
        .into_iter()
        .find(|operation| operation.name() == operation_id)
        .map(Operation::default_plan)
        .unwrap_or((1.0, 1.0))
}

struct Params {
    path: Vec<(String, String)>,
    query: Vec<(String, String)>,
}

impl Params {
    fn path(&self, name: &str) -> &str {
        self.path
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_default()
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn list(&self, name: &str) -> Vec<&str> {
        self.query(name)
            .map(|value| value.split(',').collect())
            .unwrap_or_default()
    }
}

fn token_endpoint(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let form_type = headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let form: Vec<(String, String)> = std::str::from_utf8(body)
        .ok()
        .and_then(|text| reqwest::Url::parse(&format!("http://x/?{text}")).ok())
        .map(|url| {
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let options = &shared.options;
    if !form_type.starts_with("application/x-www-form-urlencoded")
        || field("grant_type") != Some("refresh_token")
    {
        shared
            .state()
            .violations
            .push("lwa: expected a form with grant_type=refresh_token".into());
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}),
            None,
        );
    }
    if field("client_id") != Some(options.client_id.as_str())
        || field("client_secret") != Some(options.client_secret.as_str())
    {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
            None,
        );
    }
    if field("refresh_token") != Some(options.refresh_token.as_str()) {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"}),
            None,
        );
    }
    let token = shared.state().issue_token(options.token_lifetime);
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "refresh_token": options.refresh_token,
            "token_type": "bearer",
            "expires_in": options.token_lifetime.as_secs(),
        }),
        None,
    )
}

fn dispatch(
    shared: &Shared,
    operation: &str,
    params: &Params,
    body: &Value,
) -> (StatusCode, Value) {
    let mut state = shared.state();
    match operation {
        "getOrders" => get_orders(&mut state, params),
        "getOrderItems" => get_order_items(&state, params),
        "getListingsItem" => get_listing(&state, params),
        "searchListingsItems" => search_listings(&mut state, params),
        "patchListingsItem" => patch_listing(&mut state, params, body),
        "createFeedDocument" => create_feed_document(&mut state, &shared.origin, body),
        "createFeed" => create_feed(&mut state, body),
        "getFeed" => get_feed(shared, &mut state, params),
        "getFeedDocument" => get_feed_document(&state, &shared.origin, params),
        other => (
            StatusCode::BAD_REQUEST,
            errors(
                "InvalidInput",
                &format!("the fake does not serve {other}"),
                "",
            ),
        ),
    }
}

fn order_json(order: &FakeOrder) -> Value {
    let shipped: i64 = order.items.iter().map(|item| item.shipped).sum();
    let ordered: i64 = order.items.iter().map(|item| item.quantity).sum();
    json!({
        "AmazonOrderId": order.id,
        "PurchaseDate": order.purchased.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "LastUpdateDate": order.updated.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "OrderStatus": order.status,
        "FulfillmentChannel": order.channel,
        "SalesChannel": "Amazon.de",
        "MarketplaceId": MARKETPLACE_ID,
        "OrderType": "StandardOrder",
        "NumberOfItemsShipped": shipped,
        "NumberOfItemsUnshipped": ordered - shipped,
        "OrderTotal": {"CurrencyCode": CURRENCY, "Amount": decimal(order.total_cents())},
        "IsPrime": false,
        "IsBusinessOrder": false,
    })
}

fn get_orders(state: &mut State, params: &Params) -> (StatusCode, Value) {
    let page_size = params
        .query("MaxResultsPerPage")
        .and_then(|size| size.parse::<usize>().ok())
        .unwrap_or(100);
    if !(1..=100).contains(&page_size) {
        return (
            StatusCode::BAD_REQUEST,
            errors("InvalidInput", "MaxResultsPerPage must be 1 to 100", ""),
        );
    }
    let remaining: Vec<String> = match params.query("NextToken") {
        Some(token) => match state.order_pages.remove(token) {
            Some(ids) => ids,
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    errors("InvalidInput", "Invalid NextToken", ""),
                )
            }
        },
        None => {
            let after = params
                .query("LastUpdatedAfter")
                .and_then(crate::orders::parse_instant);
            let created_after = params
                .query("CreatedAfter")
                .and_then(crate::orders::parse_instant);
            if after.is_none() && created_after.is_none() {
                return (
                    StatusCode::BAD_REQUEST,
                    errors(
                        "InvalidInput",
                        "Either CreatedAfter or LastUpdatedAfter must be specified",
                        "",
                    ),
                );
            }
            let marketplaces = params.list("MarketplaceIds");
            let channels = params.list("FulfillmentChannels");
            let mut found: Vec<&FakeOrder> = state
                .orders
                .iter()
                .filter(|_| marketplaces.contains(&MARKETPLACE_ID))
                .filter(|order| after.is_none_or(|after| order.updated >= after))
                .filter(|order| created_after.is_none_or(|after| order.purchased >= after))
                .filter(|order| channels.is_empty() || channels.contains(&order.channel.as_str()))
                .collect();
            found.sort_by(|a, b| (a.updated, &a.id).cmp(&(b.updated, &b.id)));
            found.into_iter().map(|order| order.id.clone()).collect()
        }
    };
    let (page, rest) = remaining.split_at(page_size.min(remaining.len()));
    let orders: Vec<Value> = page
        .iter()
        .filter_map(|id| state.orders.iter().find(|order| &order.id == id))
        .map(order_json)
        .collect();
    let mut payload = json!({"Orders": orders});
    if !rest.is_empty() {
        let number = state.next_number();
        let token = format!("fake-orders-page-{number}");
        state.order_pages.insert(token.clone(), rest.to_vec());
        payload["NextToken"] = json!(token);
    }
    (StatusCode::OK, json!({"payload": payload}))
}

fn get_order_items(state: &State, params: &Params) -> (StatusCode, Value) {
    let order_id = params.path("orderId");
    let Some(order) = state.orders.iter().find(|order| order.id == order_id) else {
        return (
            StatusCode::NOT_FOUND,
            errors("InvalidInput", &format!("Invalid order id {order_id}"), ""),
        );
    };
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|item| {
            json!({
                "ASIN": format!("B0{:08}", item.item_id.len()),
                "SellerSKU": item.sku,
                "OrderItemId": item.item_id,
                "Title": format!("Item {}", item.sku),
                "QuantityOrdered": item.quantity,
                "QuantityShipped": item.shipped,
                "ItemPrice": {"CurrencyCode": CURRENCY, "Amount": decimal(item.price_cents())},
            })
        })
        .collect();
    (
        StatusCode::OK,
        json!({"payload": {"AmazonOrderId": order.id, "OrderItems": items}}),
    )
}

fn get_listing(state: &State, params: &Params) -> (StatusCode, Value) {
    let sku = params.path("sku");
    if params.path("sellerId").is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            errors("InvalidInput", "sellerId", ""),
        );
    }
    let Some(quantity) = state.listings.get(sku) else {
        return (
            StatusCode::NOT_FOUND,
            errors(
                "NOT_FOUND",
                &format!("SKU '{sku}' not found in marketplace {MARKETPLACE_ID}"),
                "",
            ),
        );
    };
    let mut item = json!({"sku": sku});
    if params
        .list("includedData")
        .contains(&"fulfillmentAvailability")
    {
        item["fulfillmentAvailability"] = availability_json(*quantity);
    }
    (StatusCode::OK, item)
}

/// A listing's `fulfillmentAvailability`: the merchant's quantity, or Amazon's for an FBA one.
fn availability_json(quantity: Option<i64>) -> Value {
    match quantity {
        Some(quantity) => json!([{"fulfillmentChannelCode": "DEFAULT", "quantity": quantity}]),
        None => json!([{"fulfillmentChannelCode": "AMAZON_EU", "quantity": 12}]),
    }
}

/// A listings search: filtered by marketplace and creation instant, sorted as asked (SKU
/// breaks ties), at most [`MAX_SEARCHED_LISTINGS`] paged through, `numberOfResults` counting
/// all found.
fn search_listings(state: &mut State, params: &Params) -> (StatusCode, Value) {
    let page_size = params
        .query("pageSize")
        .and_then(|size| size.parse::<usize>().ok())
        .unwrap_or(10);
    if page_size == 0 {
        return (
            StatusCode::BAD_REQUEST,
            errors("InvalidInput", "pageSize must be at least 1", ""),
        );
    }
    let pages = match params.query("pageToken") {
        Some(token) => match state.listing_pages.remove(token) {
            Some(pages) => pages,
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    errors("InvalidInput", "Invalid pageToken", ""),
                )
            }
        },
        None => {
            let instant = |name: &str| params.query(name).and_then(crate::orders::parse_instant);
            let (after, before) = (instant("createdAfter"), instant("createdBefore"));
            let in_marketplace = params.list("marketplaceIds").contains(&MARKETPLACE_ID);
            let mut found: Vec<(&String, &state::ListingSummary)> = state
                .summaries
                .iter()
                .filter(|_| in_marketplace)
                .filter(|(_, summary)| after.is_none_or(|after| summary.created >= after))
                .filter(|(_, summary)| before.is_none_or(|before| summary.created <= before))
                .collect();
            let by_sku = params.query("sortBy") == Some("sku");
            found.sort_by(|(sku_a, a), (sku_b, b)| {
                if by_sku {
                    sku_a.cmp(sku_b)
                } else {
                    (a.created, sku_a).cmp(&(b.created, sku_b))
                }
            });
            if params.query("sortOrder").unwrap_or("DESC") == "DESC" {
                found.reverse();
            }
            ListingPages {
                found: found.len(),
                remaining: found
                    .into_iter()
                    .take(MAX_SEARCHED_LISTINGS)
                    .map(|(sku, _)| sku.clone())
                    .collect(),
            }
        }
    };
    let included = params.list("includedData");
    let summaries = included.is_empty() || included.contains(&"summaries");
    let availability = included.contains(&"fulfillmentAvailability");
    let (page, rest) = pages
        .remaining
        .split_at(page_size.min(pages.remaining.len()));
    let items: Vec<Value> = page
        .iter()
        .filter_map(|sku| Some((sku, state.summaries.get(sku)?, state.listings.get(sku)?)))
        .map(|(sku, summary, quantity)| {
            let mut item = json!({"sku": sku});
            if summaries {
                let date = summary.created.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                item["summaries"] = json!([{
                    "marketplaceId": MARKETPLACE_ID,
                    "asin": summary.asin,
                    "productType": "PRODUCT",
                    "conditionType": "new_new",
                    "status": ["BUYABLE", "DISCOVERABLE"],
                    "itemName": summary.title,
                    "createdDate": date,
                    "lastUpdatedDate": date,
                }]);
            }
            if availability {
                item["fulfillmentAvailability"] = availability_json(*quantity);
            }
            item
        })
        .collect();
    let mut answer = json!({"numberOfResults": pages.found, "items": items});
    if !rest.is_empty() {
        let number = state.next_number();
        let token = format!("fake-listings-page-{number}");
        state.listing_pages.insert(
            token.clone(),
            ListingPages {
                remaining: rest.to_vec(),
                found: pages.found,
            },
        );
        answer["pagination"] = json!({"nextToken": token});
    }
    (StatusCode::OK, answer)
}

/// The quantity a `fulfillment_availability` patch sets, or why it is refused.
fn patched_quantity(patch: &Value) -> Result<i64, String> {
    let op = patch.get("op").and_then(Value::as_str).unwrap_or_default();
    let path = patch
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if path != "/attributes/fulfillment_availability" {
        return Err(format!(
            "the fake only patches fulfillment_availability, not {path}"
        ));
    }
    if !matches!(op, "merge" | "replace" | "add") {
        return Err(format!("op {op} cannot set a quantity"));
    }
    let entry = patch
        .pointer("/value/0")
        .ok_or("fulfillment_availability needs one value")?;
    if entry
        .get("fulfillment_channel_code")
        .and_then(Value::as_str)
        != Some("DEFAULT")
    {
        return Err("fulfillment_channel_code must be DEFAULT for merchant stock".into());
    }
    match entry.get("quantity").and_then(Value::as_i64) {
        Some(quantity) if quantity >= 0 => Ok(quantity),
        _ => Err("quantity must be a whole number of at least 0".into()),
    }
}

fn patch_listing(state: &mut State, params: &Params, body: &Value) -> (StatusCode, Value) {
    let sku = params.path("sku").to_string();
    if !state.listings.contains_key(&sku) {
        return (
            StatusCode::BAD_REQUEST,
            errors(
                "InvalidInput",
                &format!("SKU '{sku}' does not exist for this seller"),
                "",
            ),
        );
    }
    let number = state.next_number();
    let submission_id = format!("fake-submission-{number}");
    let patches = body
        .get("patches")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut issues = Vec::new();
    let mut quantity = None;
    for patch in &patches {
        match patched_quantity(patch) {
            Ok(value) => quantity = Some(value),
            Err(message) => issues.push(json!({
                "code": "90220",
                "message": message,
                "severity": "ERROR",
                "attributeNames": ["fulfillment_availability"],
            })),
        }
    }
    if issues.is_empty() {
        if let (Some(quantity), Some(shown)) = (quantity, state.listings.get_mut(&sku)) {
            *shown = Some(quantity);
        }
    }
    let status = if issues.is_empty() {
        "ACCEPTED"
    } else {
        "INVALID"
    };
    (
        StatusCode::OK,
        json!({"sku": sku, "status": status, "submissionId": submission_id, "issues": issues}),
    )
}

fn create_feed_document(state: &mut State, origin: &str, body: &Value) -> (StatusCode, Value) {
    let number = state.next_number();
    let id = format!("amzn1.tortuga.4.eu.fake-{number}");
    let content_type = body
        .get("contentType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    state.documents.insert(
        id.clone(),
        FeedDocument {
            content: None,
            content_type,
        },
    );
    (
        StatusCode::CREATED,
        json!({"feedDocumentId": id, "url": format!("{origin}/fake-s3/{id}")}),
    )
}

fn create_feed(state: &mut State, body: &Value) -> (StatusCode, Value) {
    let document = body
        .get("inputFeedDocumentId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let uploaded = state
        .documents
        .get(&document)
        .is_some_and(|document| document.content.is_some());
    if !uploaded {
        return (
            StatusCode::BAD_REQUEST,
            errors(
                "InvalidInput",
                &format!("feed document {document} has no uploaded content"),
                "",
            ),
        );
    }
    let number = state.next_number();
    let id = format!("{}", 50_000_000_000_u64 + number);
    state.feeds.push(FakeFeed {
        id: id.clone(),
        feed_type: body
            .get("feedType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        input_document: document,
        created: Utc::now(),
        submitted: std::time::Instant::now(),
        result_document: None,
        fatal: false,
    });
    (StatusCode::ACCEPTED, json!({"feedId": id}))
}

fn get_feed(shared: &Shared, state: &mut State, params: &Params) -> (StatusCode, Value) {
    let feed_id = params.path("feedId").to_string();
    let Some(index) = state.feeds.iter().position(|feed| feed.id == feed_id) else {
        return (
            StatusCode::NOT_FOUND,
            errors("NotFound", &format!("feed {feed_id} not found"), ""),
        );
    };
    let elapsed = state.feeds[index].submitted.elapsed();
    let delay = shared.options.feed_processing;
    let status = if elapsed < delay / 2 {
        "IN_QUEUE"
    } else if elapsed < delay {
        "IN_PROGRESS"
    } else {
        if state.feeds[index].result_document.is_none() {
            process_feed(shared, state, index);
        }
        if state.feeds[index].fatal {
            "FATAL"
        } else {
            "DONE"
        }
    };
    let feed = &state.feeds[index];
    let mut answer = json!({
        "feedId": feed.id,
        "feedType": feed.feed_type,
        "marketplaceIds": [MARKETPLACE_ID],
        "createdTime": feed.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "processingStatus": status,
    });
    if let Some(result) = &feed.result_document {
        answer["resultFeedDocumentId"] = json!(result);
        answer["processingEndTime"] =
            json!(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    (StatusCode::OK, answer)
}

/// Applies a JSON_LISTINGS_FEED document and writes its processing report.
fn process_feed(shared: &Shared, state: &mut State, index: usize) {
    let document_id = state.feeds[index].input_document.clone();
    let feed_id = state.feeds[index].id.clone();
    let content = state
        .documents
        .get(&document_id)
        .and_then(|document| document.content.clone())
        .unwrap_or_default();
    let document: Value = serde_json::from_slice(&content).unwrap_or(Value::Null);
    let mut problems = Vec::new();
    schema::validate(
        &shared.specs.feed_schema,
        &document,
        &shared.specs.feed_schema,
        "feed",
        &mut problems,
    );
    let mut issues = Vec::new();
    let mut accepted = 0;
    let mut invalid = 0;
    let messages = document
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let fatal = !problems.is_empty();
    if fatal {
        state.violations.push(format!(
            "JSON_LISTINGS_FEED document: {}",
            problems.join("; ")
        ));
        issues.push(json!({"code": "4000001", "severity": "ERROR",
            "message": format!("The feed does not match its schema: {}", problems.join("; "))}));
    } else {
        for message in &messages {
            let message_id = message
                .get("messageId")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let sku = message
                .get("sku")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let refusal = if let Some(reason) = state.feed_refusals.get(sku) {
                Some(("90220".to_string(), reason.clone()))
            } else if !state.listings.contains_key(sku) {
                Some((
                    "8541".to_string(),
                    format!("SKU '{sku}' does not exist for this seller"),
                ))
            } else {
                let patches = message
                    .get("patches")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut outcome = None;
                for patch in &patches {
                    match patched_quantity(patch) {
                        Ok(quantity) => {
                            if let Some(shown) = state.listings.get_mut(sku) {
                                *shown = Some(quantity);
                            }
                        }
                        Err(reason) => outcome = Some(("90220".to_string(), reason)),
                    }
                }
                outcome
            };
            match refusal {
                Some((code, reason)) => {
                    invalid += 1;
                    issues.push(json!({"messageId": message_id, "sku": sku, "code": code,
                        "severity": "ERROR", "message": reason,
                        "attributeName": "fulfillment_availability"}));
                }
                None => accepted += 1,
            }
        }
    }
    let report = json!({
        "header": {"sellerId": shared.options.seller_id, "version": "2.0", "feedId": feed_id},
        "issues": issues,
        "summary": {
            "errors": issues.len(),
            "warnings": 0,
            "messagesProcessed": messages.len(),
            "messagesAccepted": accepted,
            "messagesInvalid": invalid,
        },
    });
    let mut report_problems = Vec::new();
    schema::validate(
        &shared.specs.report_schema,
        &report,
        &shared.specs.report_schema,
        "report",
        &mut report_problems,
    );
    if !report_problems.is_empty() {
        state.violations.push(format!(
            "the fake's own processing report: {}",
            report_problems.join("; ")
        ));
    }
    let number = state.next_number();
    let report_id = format!("amzn1.tortuga.4.eu.report-{number}");
    state.documents.insert(
        report_id.clone(),
        FeedDocument {
            content: Some(report.to_string().into_bytes()),
            content_type: "application/json".into(),
        },
    );
    state.feeds[index].result_document = Some(report_id);
    state.feeds[index].fatal = fatal;
}

fn get_feed_document(state: &State, origin: &str, params: &Params) -> (StatusCode, Value) {
    let id = params.path("feedDocumentId");
    if !state.documents.contains_key(id) {
        return (
            StatusCode::NOT_FOUND,
            errors("NotFound", &format!("feed document {id} not found"), ""),
        );
    }
    (
        StatusCode::OK,
        json!({"feedDocumentId": id, "url": format!("{origin}/fake-s3/{id}")}),
    )
}

/// The pre-signed document URLs: `PUT` uploads a feed, `GET` downloads a document.
fn document_endpoint(
    shared: &Shared,
    method: &Method,
    document_id: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = shared.state();
    let Some(document) = state.documents.get_mut(document_id) else {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    };
    match *method {
        Method::PUT => {
            let content_type = headers
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if content_type != document.content_type {
                let message = format!(
                    "upload of {document_id}: content type {content_type:?} differs from the document's {:?}",
                    document.content_type
                );
                state.violations.push(message.clone());
                return (StatusCode::FORBIDDEN, message).into_response();
            }
            document.content = Some(body.to_vec());
            StatusCode::OK.into_response()
        }
        Method::GET => match &document.content {
            Some(content) => (StatusCode::OK, content.clone()).into_response(),
            None => (StatusCode::NOT_FOUND, "NoSuchKey").into_response(),
        },
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}
