//! Liveness and readiness for load balancers and orchestrators.
//!
//! `/healthz` answers 200 as long as the process serves requests. `/readyz` answers 200 only
//! when the ledger's database answers, and 503 with a short JSON reason otherwise, so traffic
//! is routed away from a replica that cannot book orders. Both name the bus's state (`bus`:
//! `database`, `connected` or `disconnected`) without depending on it: while the broker is down a
//! replica still books orders, and the outbox holds the stock changes until it is back.

use crate::http::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::time::Duration;

/// A readiness probe must answer before the orchestrator's own timeout, even when the database
/// hangs instead of refusing.
const DATABASE_PING_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let bus = state.bus.state();
    match ledger_answers(&state).await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "bus": bus })),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": reason, "bus": bus })),
        ),
    }
}

/// Pings the ledger's database within [`DATABASE_PING_TIMEOUT`]; the reason when it fails.
pub(crate) async fn ledger_answers(state: &AppState) -> Result<(), &'static str> {
    match tokio::time::timeout(DATABASE_PING_TIMEOUT, state.ledger.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check: database ping failed");
            Err("database unreachable")
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = DATABASE_PING_TIMEOUT.as_millis() as u64,
                "readiness check: database ping timed out"
            );
            Err("database did not answer in time")
        }
    }
}
