//! `GET /admin/openapi.json`: the OpenAPI description of the whole admin API, generated from
//! the handlers' `#[utoipa::path]` annotations and the response types' `ToSchema` derives, so
//! it changes with the code. A test compares its operations with [`super::served_routes`]
//! both ways, so a route can be neither served undocumented nor documented unserved.

use super::catalog_jobs;
use super::shadow;
use super::AdminRoute;
use super::{
    channels, dead_letters, explain, item_search, items, jobs, quarantine, reports, resync, stock,
};
use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub fn routes() -> Vec<AdminRoute> {
    vec![AdminRoute::get("/openapi.json", openapi_json)]
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "omnistock admin API",
        description = "The operator's API of the omnistock daemon. Every route needs `Authorization: Bearer <admin.token>`."
    ),
    paths(
        item_search::search_items,
        items::item,
        items::movements,
        explain::explain,
        stock::adjust,
        stock::transfer,
        channels::list_channels,
        channels::pause,
        channels::resume,
        resync::start_resync,
        catalog_jobs::discover,
        catalog_jobs::count,
        jobs::list_jobs,
        jobs::job,
        jobs::restart,
        dead_letters::list_dead_letters,
        dead_letters::retry,
        dead_letters::discard,
        quarantine::list_quarantine,
        quarantine::retry,
        quarantine::discard,
        reports::channels,
        openapi_json,
        shadow::shadow_report,
        shadow::go_live,
    ),
    modifiers(&BearerToken),
    security(("bearer" = []))
)]
pub struct AdminApi;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// This document.
#[utoipa::path(
    get, path = "/admin/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 description of the admin API", content_type = "application/json"))
)]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(AdminApi::openapi())
}
