//! The admin API's errors: one JSON shape, `{"error": reason, "field": name}`, with a status that
//! says whose fault it is. Internal errors are logged and answered without their text.

use crate::ledger::LedgerError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request is malformed; `field` names the offending body field or parameter.
    #[error("{field}: {reason}")]
    BadRequest { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but the stock does not allow it.
    #[error("{0}")]
    Conflict(String),
    #[error("internal error")]
    Internal(#[source] LedgerError),
}

impl AdminError {
    pub fn bad_request(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Maps a ledger error, naming `field` for errors about a quantity and `location_field`
    /// for an unknown location.
    pub fn from_ledger(error: LedgerError, quantity_field: &str, location_field: &str) -> Self {
        match error {
            LedgerError::UnknownSku(sku) => Self::NotFound(format!("unknown sku {sku:?}")),
            LedgerError::UnknownLocation(location) => {
                Self::bad_request(location_field, format!("unknown location {location:?}"))
            }
            LedgerError::InvalidQuantity { reason, .. } => {
                Self::bad_request(quantity_field, reason)
            }
            error @ (LedgerError::NegativeOnHand { .. }
            | LedgerError::IdempotencyConflict { .. }) => Self::Conflict(error.to_string()),
            error => Self::Internal(error),
        }
    }
}

/// The whole number a query parameter `name` holds, `default` when it is absent; a 400 naming
/// it when it is not a whole number within `range` (both ends included).
pub fn query_number(
    name: &str,
    text: Option<&str>,
    default: i64,
    range: (i64, i64),
) -> Result<i64, AdminError> {
    let Some(text) = text else {
        return Ok(default);
    };
    let value: i64 = text.parse().map_err(|_| {
        AdminError::bad_request(name, format!("expected a whole number, got {text:?}"))
    })?;
    if value < range.0 || value > range.1 {
        return Err(AdminError::bad_request(
            name,
            format!("must be between {} and {}", range.0, range.1),
        ));
    }
    Ok(value)
}

impl From<LedgerError> for AdminError {
    fn from(error: LedgerError) -> Self {
        Self::from_ledger(error, "quantity", "location")
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self {
            AdminError::BadRequest { field, reason } => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": format!("{field}: {reason}"), "field": field })),
            )
                .into_response(),
            AdminError::NotFound(reason) => {
                (StatusCode::NOT_FOUND, Json(json!({ "error": reason }))).into_response()
            }
            AdminError::Conflict(reason) => {
                (StatusCode::CONFLICT, Json(json!({ "error": reason }))).into_response()
            }
            AdminError::Internal(error) => {
                tracing::error!(error = %error, "admin request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "error": "internal error, see the server log" })),
                )
                    .into_response()
            }
        }
    }
}

/// Parses a JSON body, naming the offending field when it does not fit `T`.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        let reason = error.inner().to_string();
        // serde names a missing field in its message; put it in `field` too.
        let field = match reason
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(missing) if field == "body" => missing.to_string(),
            _ => field,
        };
        AdminError::bad_request(field, reason)
    })
}
