//! `POST /admin/stock/adjustments` and `POST /admin/stock/transfers`: operator stock changes,
//! journaled with who asked and why, idempotent under the client's key (`idempotency_key` in the
//! body or an `Idempotency-Key` header). 201 when applied now, 200 when the key was seen before
//! with the same request (nothing is applied twice; the answer shows the balance now), 409 when
//! it was seen with a different one (the ledger keeps a fingerprint of each key's request).

use super::error::{parse_body, AdminError};
use super::items::BalanceView;
use super::AdminRoute;
use crate::http::AppState;
use crate::ledger::{Application, LedgerError, MovementMeta};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};

/// Client keys are journaled under this prefix, so they can never collide with the keys the
/// ledger makes for order bookings.
const CLIENT_KEY_PREFIX: &str = "api:";

pub fn routes() -> Vec<AdminRoute> {
    vec![
        AdminRoute::post("/stock/adjustments", adjust),
        AdminRoute::post("/stock/transfers", transfer),
    ]
}

/// A change of on hand at one location: either `delta` (found, damaged, lost…) or `counted` (a
/// stock-take), never both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AdjustmentRequest {
    sku: String,
    location: String,
    #[serde(default)]
    delta: Option<i64>,
    #[serde(default)]
    counted: Option<i64>,
    actor: String,
    reason: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TransferRequest {
    sku: String,
    from: String,
    to: String,
    quantity: i64,
    actor: String,
    reason: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AdjustmentResponse {
    applied: bool,
    balance: BalanceView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TransferResponse {
    applied: bool,
    from: BalanceView,
    to: BalanceView,
}

fn required(field: &str, value: &str) -> Result<(), AdminError> {
    if value.trim().is_empty() {
        return Err(AdminError::bad_request(field, "must not be empty"));
    }
    Ok(())
}

/// The movement's metadata from the body's key or the `Idempotency-Key` header (one of them,
/// or both equal), the actor and the reason.
fn movement_meta(
    headers: &HeaderMap,
    body_key: Option<&str>,
    actor: &str,
    reason: &str,
) -> Result<MovementMeta, AdminError> {
    let header_key =
        match headers.get("idempotency-key") {
            Some(value) => Some(value.to_str().map_err(|_| {
                AdminError::bad_request("Idempotency-Key", "must be visible ASCII")
            })?),
            None => None,
        };
    let key = match (body_key, header_key) {
        (Some(body), Some(header)) if body != header => {
            return Err(AdminError::bad_request(
                "idempotency_key",
                "differs from the Idempotency-Key header",
            ))
        }
        (Some(key), _) | (None, Some(key)) => key,
        (None, None) => {
            return Err(AdminError::bad_request(
                "idempotency_key",
                "required (in the body or an Idempotency-Key header)",
            ))
        }
    };
    required("idempotency_key", key)?;
    required("actor", actor)?;
    required("reason", reason)?;
    Ok(MovementMeta::new(format!("{CLIENT_KEY_PREFIX}{key}"))
        .actor(actor.trim())
        .note(reason.trim()))
}

/// Maps a ledger error, naming the client's key (without the journal's prefix) in a conflict.
fn stock_error(error: LedgerError, quantity_field: &str, location_field: &str) -> AdminError {
    match error {
        LedgerError::IdempotencyConflict { key } => AdminError::Conflict(format!(
            "idempotency_key {:?} was already used for a different request (sku, location, \
             quantity, actor or reason differ); send a new key for a new change",
            key.strip_prefix(CLIENT_KEY_PREFIX).unwrap_or(&key)
        )),
        error => AdminError::from_ledger(error, quantity_field, location_field),
    }
}

fn status(application: Application) -> StatusCode {
    match application {
        Application::Applied => StatusCode::CREATED,
        Application::AlreadyApplied => StatusCode::OK,
    }
}

/// Changes on hand at one location (`delta`, or `counted` for a stock-take), journaled.
#[utoipa::path(
    post, path = "/admin/stock/adjustments", tag = "stock",
    request_body = AdjustmentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "The client's key, if not in the body")),
    responses(
        (status = 201, description = "Applied now", body = AdjustmentResponse),
        (status = 200, description = "Applied before under this key", body = AdjustmentResponse),
        (status = 400, description = "A bad request, naming the field"),
        (status = 404, description = "Unknown SKU"),
        (status = 409, description = "On hand would become negative, or the key was used for a different request"),
    )
)]
async fn adjust(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<AdjustmentResponse>), AdminError> {
    let request: AdjustmentRequest = parse_body(&body)?;
    required("sku", &request.sku)?;
    required("location", &request.location)?;
    let meta = movement_meta(
        &headers,
        request.idempotency_key.as_deref(),
        &request.actor,
        &request.reason,
    )?;
    let outcome = match (request.delta, request.counted) {
        (Some(delta), None) => state
            .ledger
            .adjust(&request.sku, &request.location, delta, &meta)
            .await
            .map_err(|error| stock_error(error, "delta", "location"))?,
        (None, Some(counted)) => state
            .ledger
            .set_on_hand(&request.sku, &request.location, counted, &meta)
            .await
            .map_err(|error| stock_error(error, "counted", "location"))?,
        (Some(_), Some(_)) => {
            return Err(AdminError::bad_request(
                "counted",
                "give either delta or counted, not both",
            ))
        }
        (None, None) => {
            return Err(AdminError::bad_request(
                "delta",
                "required (or counted, for a stock-take)",
            ))
        }
    };
    Ok((
        status(outcome.application),
        Json(AdjustmentResponse {
            applied: outcome.application == Application::Applied,
            balance: outcome.balance.into(),
        }),
    ))
}

/// Moves on-hand stock between two locations, journaled.
#[utoipa::path(
    post, path = "/admin/stock/transfers", tag = "stock",
    request_body = TransferRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "The client's key, if not in the body")),
    responses(
        (status = 201, description = "Applied now", body = TransferResponse),
        (status = 200, description = "Applied before under this key", body = TransferResponse),
        (status = 400, description = "A bad request, naming the field"),
        (status = 404, description = "Unknown SKU"),
        (status = 409, description = "Not enough on hand at `from`, or the key was used for a different request"),
    )
)]
async fn transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<TransferResponse>), AdminError> {
    let request: TransferRequest = parse_body(&body)?;
    required("sku", &request.sku)?;
    required("from", &request.from)?;
    required("to", &request.to)?;
    if request.from == request.to {
        return Err(AdminError::bad_request("to", "must differ from `from`"));
    }
    let meta = movement_meta(
        &headers,
        request.idempotency_key.as_deref(),
        &request.actor,
        &request.reason,
    )?;
    let outcome = state
        .ledger
        .transfer(
            &request.sku,
            &request.from,
            &request.to,
            request.quantity,
            &meta,
        )
        .await
        .map_err(|error| {
            // An unknown location is named by the field that holds it.
            let location_field = match &error {
                LedgerError::UnknownLocation(code) if *code == request.from => "from",
                _ => "to",
            };
            stock_error(error, "quantity", location_field)
        })?;
    Ok((
        status(outcome.application),
        Json(TransferResponse {
            applied: outcome.application == Application::Applied,
            from: outcome.from.into(),
            to: outcome.to.into(),
        }),
    ))
}
