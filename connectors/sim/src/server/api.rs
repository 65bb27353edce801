//! `/api/*`: what a connector talks to. Every request passes the gate (latency, outage,
//! Bearer token); handlers then apply the rate limit and the injected error rate.

use super::state::StockRequestOutcome;
use super::{Shared, DEFAULT_CATALOG_PAGE_SIZE, MAX_CATALOG_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::cursor::OrderCursor;
use crate::wire::{
    ErrorBody, ListingsResponse, OrdersResponse, StockReadResponse, StockUpdateRequest,
    StockUpdateResponse,
};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/orders", get(list_orders))
        .route("/api/stock", get(read_stock).post(update_stock))
        .route("/api/listings", get(list_listings))
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), gate))
        .with_state(shared)
}

/// An error answer with the sim's error body.
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (latency, outage) = {
        let mut state = shared.lock_state();
        state.counters.api_requests += 1;
        (state.faults.latency_ms, state.faults.outage)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if outage {
        shared.lock_state().counters.outage_refusals += 1;
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "outage",
            "the marketplace is down",
        )
        .into_response();
    }
    if !authorized(&shared, &request) {
        shared.lock_state().counters.unauthorized += 1;
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong Bearer token",
        )
        .into_response();
    }
    next.run(request).await
}

fn authorized(shared: &Shared, request: &Request) -> bool {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let Some(token) = value
        .to_str()
        .ok()
        .and_then(|text| text.strip_prefix("Bearer "))
    else {
        return false;
    };
    bool::from(
        token
            .trim()
            .as_bytes()
            .ct_eq(shared.api_token.expose().as_bytes()),
    )
}

/// Answers 500 for the share of requests the injected error rate asks for.
fn injected_error(shared: &Shared) -> Option<ApiError> {
    let mut state = shared.lock_state();
    let rate = state.faults.error_rate;
    if rate > 0.0 && rand::random::<f64>() < rate {
        state.counters.injected_errors += 1;
        return Some(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "injected fault",
        ));
    }
    None
}

#[derive(Debug, Deserialize)]
struct OrdersQuery {
    updated_since: Option<String>,
    limit: Option<usize>,
}

async fn list_orders(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<OrdersQuery>,
) -> Result<Json<OrdersResponse>, ApiError> {
    shared.lock_state().counters.order_reads += 1;
    if let Some(error) = injected_error(&shared) {
        return Err(error);
    }
    let cursor = match query.updated_since.as_deref() {
        None | Some("") => None,
        Some(text) => Some(OrderCursor::parse(text).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                format!("updated_since {text:?} is not a cursor from next_cursor"),
            )
        })?),
    };
    let limit = query
        .limit
        .unwrap_or(shared.default_page_size)
        .clamp(1, MAX_PAGE_SIZE);
    let (orders, has_more) = shared.lock_state().orders_after(cursor, limit);
    let next_cursor = orders
        .last()
        .map(|order| OrderCursor {
            updated_at_millis: order.updated_at_millis,
            sequence: order.sequence,
        })
        .or(cursor)
        .map(|position| position.to_string());
    Ok(Json(OrdersResponse {
        orders,
        next_cursor,
        has_more,
    }))
}

async fn update_stock(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<StockUpdateRequest>, JsonRejection>,
) -> Result<Json<StockUpdateResponse>, ApiError> {
    let Json(request) = body.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            rejection.body_text(),
        )
    })?;
    let mut state = shared.lock_state();
    state.counters.stock_updates += 1;
    if let Err(wait) = state.admit_stock_update() {
        state.counters.rate_limited += 1;
        state.log_stock_request(&request.updates, StockRequestOutcome::RateLimited);
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many stock updates",
        );
        // Whole seconds, rounded up, as the header demands.
        let seconds = wait.as_millis().div_ceil(1000).max(1);
        error.retry_after_secs = Some(u64::try_from(seconds).unwrap_or(u64::MAX));
        return Err(error);
    }
    if request.updates.len() > shared.max_batch {
        state.log_stock_request(&request.updates, StockRequestOutcome::BatchTooLarge);
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} updates sent, at most {} accepted",
                request.updates.len(),
                shared.max_batch
            ),
        ));
    }
    drop(state);
    if let Some(error) = injected_error(&shared) {
        shared
            .lock_state()
            .log_stock_request(&request.updates, StockRequestOutcome::InjectedError);
        return Err(error);
    }
    let mut state = shared.lock_state();
    let results = state.apply_stock_updates(&request.updates);
    state.log_stock_request(&request.updates, StockRequestOutcome::Applied);
    Ok(Json(StockUpdateResponse { results }))
}

#[derive(Debug, Deserialize)]
struct StockQuery {
    #[serde(default)]
    listing_ids: String,
}

async fn read_stock(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<StockQuery>,
) -> Result<Json<StockReadResponse>, ApiError> {
    shared.lock_state().counters.stock_reads += 1;
    if let Some(error) = injected_error(&shared) {
        return Err(error);
    }
    let listing_ids: Vec<String> = query
        .listing_ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    let levels = shared.lock_state().read_levels(&listing_ids);
    Ok(Json(StockReadResponse { levels }))
}

#[derive(Debug, Deserialize)]
struct ListingsQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// One page of the catalog, in listing-id order.
async fn list_listings(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ListingsQuery>,
) -> Result<Json<ListingsResponse>, ApiError> {
    shared.lock_state().counters.catalog_reads += 1;
    if let Some(error) = injected_error(&shared) {
        return Err(error);
    }
    let limit = query
        .limit
        .unwrap_or(DEFAULT_CATALOG_PAGE_SIZE)
        .clamp(1, MAX_CATALOG_PAGE_SIZE);
    let after = query.after.as_deref().filter(|after| !after.is_empty());
    let (listings, has_more) = shared.lock_state().listings_after(after, limit);
    let next_after = if has_more {
        listings.last().map(|listing| listing.listing_id.clone())
    } else {
        None
    };
    Ok(Json(ListingsResponse {
        listings,
        next_after,
    }))
}
