//! The admin API under `/admin`, for operators and the CLI. Every route sits behind
//! [`auth::require_admin_token`].
//!
//! Each group of endpoints is its own module with its own `router()`, merged in [`router`].

pub mod auth;
pub mod channels;
pub mod dead_letters;
pub mod error;
pub mod items;
pub mod jobs;
pub mod openapi;
pub mod resync;
pub mod stock;

use crate::app::AppState;
use axum::middleware;
use axum::Router;

/// Every admin route, behind the Bearer token of `admin.token`.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(items::router())
        .merge(stock::router())
        .merge(channels::router())
        .merge(resync::router())
        .merge(jobs::router())
        .merge(dead_letters::router())
        .merge(openapi::router())
        .route_layer(middleware::from_fn_with_state(
            state,
            auth::require_admin_token,
        ))
}
