//! `/control/*`: the buyer's and the operator's side of the marketplace, open without a token
//! so that tests, benchmarks and the demo can drive it. Each route mirrors a `SimHandle` method.

use super::api::ApiError;
use super::state::{
    DeliveryRecord, Faults, NewOrderLine, SimActionError, SimCounters, StockRequestRecord,
};
use super::Shared;
use crate::wire::{ListingLevel, SimOrder};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use omnistock_connector::RateLimit;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/control/listings", get(list_listings).post(create_listing))
        .route("/control/orders", post(place_order))
        .route("/control/orders/{id}", get(get_order))
        .route("/control/orders/{id}/cancel", post(cancel_order))
        .route("/control/orders/{id}/fulfil", post(fulfil_order))
        .route("/control/faults", get(get_faults).put(set_faults))
        .route(
            "/control/rate_limit",
            get(get_rate_limit).put(set_rate_limit),
        )
        .route("/control/webhook", get(get_webhook).put(set_webhook))
        .route("/control/clock", axum::routing::put(set_clock))
        .route("/control/counters", get(counters))
        .route("/control/stock_log", get(stock_log))
        .route("/control/webhook_deliveries", get(webhook_deliveries))
        .with_state(shared)
}

impl From<SimActionError> for ApiError {
    fn from(error: SimActionError) -> Self {
        let (status, code) = match &error {
            SimActionError::UnknownListing(_) => (StatusCode::NOT_FOUND, "unknown_listing"),
            SimActionError::UnknownOrder(_) => (StatusCode::NOT_FOUND, "unknown_order"),
            SimActionError::InsufficientStock { .. } => {
                (StatusCode::CONFLICT, "insufficient_stock")
            }
            SimActionError::OrderNotOpen { .. } => (StatusCode::CONFLICT, "order_not_open"),
            SimActionError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        };
        ApiError::new(status, code, error.to_string())
    }
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            rejection.body_text(),
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewListing {
    #[serde(default)]
    listing_id: Option<String>,
    sku: String,
    quantity: i64,
}

async fn create_listing(
    State(shared): State<Arc<Shared>>,
    request: Result<Json<NewListing>, JsonRejection>,
) -> Result<(StatusCode, Json<ListingLevel>), ApiError> {
    let listing = body(request)?;
    let created =
        shared
            .lock_state()
            .upsert_listing(listing.listing_id, listing.sku, listing.quantity)?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list_listings(State(shared): State<Arc<Shared>>) -> Json<Vec<ListingLevel>> {
    Json(shared.lock_state().listings())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    lines: Vec<NewOrderLine>,
}

async fn place_order(
    State(shared): State<Arc<Shared>>,
    request: Result<Json<NewOrder>, JsonRejection>,
) -> Result<(StatusCode, Json<SimOrder>), ApiError> {
    let order = body(request)?;
    let placed = shared.place_order(&order.lines)?;
    Ok((StatusCode::CREATED, Json(placed)))
}

async fn get_order(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<SimOrder>, ApiError> {
    let order = shared.lock_state().order(&id);
    order
        .map(Json)
        .ok_or_else(|| SimActionError::UnknownOrder(id).into())
}

async fn cancel_order(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<SimOrder>, ApiError> {
    Ok(Json(shared.cancel_order(&id)?))
}

async fn fulfil_order(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<SimOrder>, ApiError> {
    Ok(Json(shared.fulfil_order(&id)?))
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(shared.lock_state().faults.clone())
}

async fn set_faults(
    State(shared): State<Arc<Shared>>,
    request: Result<Json<Faults>, JsonRejection>,
) -> Result<Json<Faults>, ApiError> {
    let faults = body(request)?;
    if !(0.0..=1.0).contains(&faults.error_rate) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "error_rate must be between 0 and 1",
        ));
    }
    shared.lock_state().faults = faults.clone();
    Ok(Json(faults))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitSetting {
    /// `"N/s"` or `"N/min"`; `null` for no limit.
    limit: Option<RateLimit>,
}

async fn get_rate_limit(State(shared): State<Arc<Shared>>) -> Json<RateLimitSetting> {
    Json(RateLimitSetting {
        limit: shared.lock_state().rate_limit(),
    })
}

async fn set_rate_limit(
    State(shared): State<Arc<Shared>>,
    request: Result<Json<RateLimitSetting>, JsonRejection>,
) -> Result<Json<RateLimitSetting>, ApiError> {
    let setting = body(request)?;
    shared.lock_state().set_rate_limit(setting.limit);
    Ok(Json(setting))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookSetting {
    /// Where webhooks go; `null` stops sending.
    url: Option<String>,
}

async fn get_webhook(State(shared): State<Arc<Shared>>) -> Json<WebhookSetting> {
    Json(WebhookSetting {
        url: shared.lock_state().webhook_target.clone(),
    })
}

async fn set_webhook(
    State(shared): State<Arc<Shared>>,
    request: Result<Json<WebhookSetting>, JsonRejection>,
) -> Result<Json<WebhookSetting>, ApiError> {
    let setting = body(request)?;
    if let Some(url) = &setting.url {
        if reqwest::Url::parse(url).is_err() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!("{url:?} is not a URL"),
            ));
        }
    }
    shared.lock_state().webhook_target = setting.url.clone();
    Ok(Json(setting))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockSetting {
    /// RFC 3339; `null` for real time.
    frozen_at: Option<DateTime<Utc>>,
}

async fn set_clock(
    State(shared): State<Arc<Shared>>,
    request: Result<Json<ClockSetting>, JsonRejection>,
) -> Result<Json<ClockSetting>, ApiError> {
    let setting = body(request)?;
    shared.lock_state().set_clock(setting.frozen_at);
    Ok(Json(setting))
}

async fn counters(State(shared): State<Arc<Shared>>) -> Json<SimCounters> {
    Json(shared.lock_state().counters.clone())
}

async fn stock_log(State(shared): State<Arc<Shared>>) -> Json<Vec<StockRequestRecord>> {
    Json(shared.lock_state().stock_log.clone())
}

async fn webhook_deliveries(State(shared): State<Arc<Shared>>) -> Json<Vec<DeliveryRecord>> {
    Json(shared.lock_state().deliveries())
}
