//! The admin API under `/admin`, for operators and the CLI. Every route sits behind
//! [`auth::require_admin_token`].
//!
//! Each group of endpoints is its own module listing its [`AdminRoute`]s in `routes()`; the
//! router is built from those lists alone, and [`served_routes`] gives them to the test that
//! checks them against the OpenAPI document both ways.

pub mod auth;
pub mod catalog_jobs;
pub mod channels;
pub mod dead_letters;
pub mod error;
pub mod explain;
pub mod item_search;
pub mod items;
pub mod jobs;
pub mod openapi;
pub mod quarantine;
pub mod reports;
pub mod resync;
pub mod shadow;
pub mod stock;

use crate::http::AppState;
use axum::handler::Handler;
use axum::middleware;
use axum::routing::MethodRouter;
use axum::Router;

/// One admin route: its method, its path under `/admin` and the handler that serves it.
pub struct AdminRoute {
    method: &'static str,
    path: &'static str,
    handler: MethodRouter<AppState>,
}

impl AdminRoute {
    pub fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self {
            method: "get",
            path,
            handler: axum::routing::get(handler),
        }
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self {
            method: "post",
            path,
            handler: axum::routing::post(handler),
        }
    }
}

fn routes() -> impl Iterator<Item = AdminRoute> {
    [
        items::routes(),
        item_search::routes(),
        explain::routes(),
        stock::routes(),
        channels::routes(),
        resync::routes(),
        catalog_jobs::routes(),
        jobs::routes(),
        dead_letters::routes(),
        quarantine::routes(),
        reports::routes(),
        openapi::routes(),
        shadow::routes(),
    ]
    .into_iter()
    .flatten()
}

/// Every served admin route as `(method, path)`, e.g. `("get", "/admin/jobs/{id}")`, the way
/// the OpenAPI document names them.
pub fn served_routes() -> Vec<(&'static str, String)> {
    routes()
        .map(|route| (route.method, format!("/admin{}", route.path)))
        .collect()
}

/// Every admin route, behind the Bearer token of `admin.token`.
pub fn router(state: AppState) -> Router<AppState> {
    routes()
        .fold(Router::new(), |router, route| {
            // Two methods on one path merge into one method router.
            router.route(route.path, route.handler)
        })
        .route_layer(middleware::from_fn_with_state(
            state,
            auth::require_admin_token,
        ))
}
