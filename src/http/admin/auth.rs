//! Bearer-token authentication of the admin API.
//!
//! The token comes from `admin.token`. Without one configured the admin API refuses every
//! request (an open admin API on a merchant's stock is never what an operator wants). The
//! comparison takes constant time and neither the expected nor the offered token is logged.

use crate::app::AppState;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use subtle::ConstantTimeEq;

pub async fn require_admin_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state
        .settings
        .admin
        .token
        .as_ref()
        .filter(|t| !t.is_empty())
    else {
        tracing::warn!(path = %request.uri().path(), "admin request refused: admin.token is not set");
        return refuse("the admin API is disabled: set admin.token");
    };
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(offered.as_bytes().ct_eq(expected.expose().as_bytes())) {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "admin request refused: missing or wrong bearer token");
        refuse("missing or wrong bearer token")
    }
}

fn refuse(reason: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({ "error": reason })),
    )
        .into_response()
}
