//! The HTTP surface of the daemon: one axum router on `http.listen`.
//!
//! Each concern is its own router in its own file, merged here:
//! - [`health`]: `GET /healthz` (liveness) and `GET /readyz` (readiness: the ledger answers).
//! - [`admin`]: the operator's API under `/admin`, behind the Bearer token of `admin.token`.
//!
//! Later routers (webhooks under `/webhooks/{channel}`, the admin API under `/admin`, metrics on
//! `/metrics`) take the same [`AppState`] and are merged in [`router`].

pub mod admin;
pub mod health;
pub mod metrics;
pub mod webhooks;

use crate::app::AppState;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use tower_http::trace::TraceLayer;

/// Every route of the process, with the body limit and request tracing applied to all.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.settings.http.max_body_bytes;
    Router::new()
        .merge(health::router())
        .merge(webhooks::router())
        .merge(metrics::router())
        .nest("/admin", admin::router(state.clone()))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
