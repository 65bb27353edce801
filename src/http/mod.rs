//! The HTTP surface of the daemon: one axum router on `http.listen`.
//!
//! Each concern is its own router in its own file, merged here:
//! - [`health`]: `GET /healthz` (liveness) and `GET /readyz` (readiness: the ledger answers).
//! - [`admin`]: the operator's API under `/admin`, behind the Bearer token of `admin.token`.
//!
//! [`server`] serves the router with a header read timeout; [`body_timeout`] bounds the body.
//!
//! Later routers (webhooks under `/webhooks/{channel}`, the admin API under `/admin`, metrics on
//! `/metrics`) take the same [`AppState`] and are merged in [`router`].

pub mod admin;
pub mod body_timeout;
pub mod console;
pub mod health;
pub mod metrics;
pub mod server;
mod state;
pub mod webhooks;

pub use state::AppState;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::Router;
use tower_http::trace::TraceLayer;

/// Every route of the process, with the body limit, the body read timeout and request tracing
/// applied to all.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.settings.http.max_body_bytes;
    let body_read_timeout = state.settings.http.body_read_timeout;
    Router::new()
        .merge(health::router())
        .merge(webhooks::router())
        .merge(metrics::router())
        .merge(console::router())
        .nest("/admin", admin::router(state.clone()))
        .layer(middleware::from_fn(move |request, next| {
            body_timeout::bound_body_read(body_read_timeout, request, next)
        }))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
