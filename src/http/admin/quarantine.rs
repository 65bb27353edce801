//! `GET /admin/quarantine` (order events the ledger refused for good, with the error) and
//! `POST /admin/quarantine/{id}/retry` / `…/discard`.

use super::error::AdminError;
use super::AdminRoute;
use crate::http::AppState;
use crate::ledger::QuarantinedOrder;
use crate::sync::quarantine::{self, QuarantineError, RetryOutcome};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Vec<AdminRoute> {
    vec![
        AdminRoute::get("/quarantine", list_quarantine),
        AdminRoute::post("/quarantine/{id}/retry", retry),
        AdminRoute::post("/quarantine/{id}/discard", discard),
    ]
}

/// A quarantined order event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuarantinedOrderView {
    pub id: i64,
    pub channel: String,
    /// The platform's order id, shortened and escaped.
    pub order: String,
    /// The event's `updated_at`.
    pub order_updated_at: DateTime<Utc>,
    /// Why the ledger refused it, the last time it was tried.
    pub error: String,
    /// Refusals since it was first quarantined.
    pub attempts: i64,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
    /// The normalized order event as it arrived.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

impl From<QuarantinedOrder> for QuarantinedOrderView {
    fn from(record: QuarantinedOrder) -> Self {
        let time = |millis| DateTime::from_timestamp_millis(millis).unwrap_or_default();
        Self {
            id: record.id,
            channel: record.channel_id,
            order: record.order_label,
            order_updated_at: time(record.platform_updated_at),
            error: record.error,
            attempts: record.attempts,
            first_failed_at: time(record.created_at),
            last_failed_at: time(record.updated_at),
            event: serde_json::from_str(&record.event).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// What a retry or a discard did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuarantineAction {
    /// `booked` (it left the quarantine), `refused` (still quarantined, with the new error)
    /// or `discarded`.
    pub status: String,
    /// The booking's result when booked: `applied`, `unchanged`, `stale` or `duplicate`.
    pub result: Option<String>,
    /// Why it was refused again.
    pub error: Option<String>,
    pub quarantined: Option<QuarantinedOrderView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineQuery {
    /// Only this channel's.
    pub channel: Option<String>,
}

/// Quarantined orders, oldest first.
#[utoipa::path(
    get, path = "/admin/quarantine", tag = "quarantine",
    params(QuarantineQuery),
    responses((status = 200, description = "Quarantined orders", body = [QuarantinedOrderView]))
)]
pub async fn list_quarantine(
    State(state): State<AppState>,
    Query(query): Query<QuarantineQuery>,
) -> Result<Json<Vec<QuarantinedOrderView>>, AdminError> {
    let records = state
        .ledger
        .quarantine()
        .list(query.channel.as_deref())
        .await?;
    Ok(Json(
        records
            .into_iter()
            .map(QuarantinedOrderView::from)
            .collect(),
    ))
}

fn map_error(error: QuarantineError) -> AdminError {
    match error {
        QuarantineError::Unknown(id) => {
            AdminError::NotFound(format!("unknown quarantined order {id}"))
        }
        error @ QuarantineError::ChannelGone(_) => AdminError::Conflict(error.to_string()),
        QuarantineError::Ledger(error) => AdminError::Internal(error),
        QuarantineError::Intake(error) => AdminError::Internal(match error {
            crate::sync::IntakeError::Ledger(error) => error,
            other => crate::ledger::LedgerError::Corrupt(other.to_string()),
        }),
    }
}

/// Books the quarantined order again (after what refused it was fixed): 200 `booked` when it
/// was booked, and it leaves the quarantine; 422 `refused` when the ledger refused it again.
#[utoipa::path(
    post, path = "/admin/quarantine/{id}/retry", tag = "quarantine",
    operation_id = "retry_quarantined_order",
    params(("id" = i64, Path, description = "The quarantined order id")),
    responses(
        (status = 200, description = "Booked; it left the quarantine", body = QuarantineAction),
        (status = 422, description = "Refused again; it stays quarantined with the new error", body = QuarantineAction),
        (status = 404, description = "No such quarantined order"),
        (status = 409, description = "Its channel is not enabled"),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<QuarantineAction>), AdminError> {
    let record = state.ledger.quarantine().get(id).await?;
    let channel = record
        .as_ref()
        .and_then(|record| state.channels.get(&record.channel_id));
    match quarantine::retry(&state.intake, channel, id)
        .await
        .map_err(map_error)?
    {
        RetryOutcome::Booked(outcome) => Ok((
            StatusCode::OK,
            Json(QuarantineAction {
                status: "booked".into(),
                result: Some(format!("{:?}", outcome.result).to_ascii_lowercase()),
                error: None,
                quarantined: None,
            }),
        )),
        RetryOutcome::Refused(record) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(QuarantineAction {
                status: "refused".into(),
                result: None,
                error: Some(record.error.clone()),
                quarantined: Some(record.into()),
            }),
        )),
    }
}

/// Drops the quarantined order for good: nothing of it is booked.
#[utoipa::path(
    post, path = "/admin/quarantine/{id}/discard", tag = "quarantine",
    operation_id = "discard_quarantined_order",
    params(("id" = i64, Path, description = "The quarantined order id")),
    responses(
        (status = 200, description = "Discarded", body = QuarantineAction),
        (status = 404, description = "No such quarantined order"),
    )
)]
pub async fn discard(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<QuarantineAction>, AdminError> {
    let record = quarantine::discard(&state.intake, id)
        .await
        .map_err(map_error)?;
    Ok(Json(QuarantineAction {
        status: "discarded".into(),
        result: None,
        error: None,
        quarantined: Some(record.into()),
    }))
}
