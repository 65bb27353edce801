//! `GET /admin/items?q=`: items whose SKU or title contains the text, for finding an item
//! without knowing its exact SKU (the console's search box).

use super::error::AdminError;
use super::AdminRoute;
use crate::http::AppState;
use crate::ledger::item_search::FoundItem;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const DEFAULT_RESULTS: i64 = 50;
const MAX_RESULTS: i64 = 500;
/// Longer texts match nothing useful and only cost the database a scan.
const MAX_QUERY_CHARS: usize = 200;

pub fn routes() -> Vec<AdminRoute> {
    vec![AdminRoute::get("/items", search_items)]
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Text the SKU or the title contains, ignoring case; empty lists the first items by SKU.
    q: Option<String>,
    /// At most this many items (1 to 500, default 50).
    limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemSummary {
    pub sku: String,
    pub title: String,
    /// Summed over every location.
    pub available: i64,
}

impl From<FoundItem> for ItemSummary {
    fn from(item: FoundItem) -> Self {
        Self {
            sku: item.sku,
            title: item.title,
            available: item.available,
        }
    }
}

/// Items whose SKU or title contains `q`, an exact SKU first, then by SKU.
#[utoipa::path(
    get, path = "/admin/items", tag = "stock",
    params(SearchQuery),
    responses(
        (status = 200, description = "The items found", body = [ItemSummary]),
        (status = 400, description = "A bad `q` or `limit`"),
    )
)]
pub async fn search_items(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Vec<ItemSummary>>, AdminError> {
    let limit = query.limit.unwrap_or(DEFAULT_RESULTS);
    if !(1..=MAX_RESULTS).contains(&limit) {
        return Err(AdminError::bad_request(
            "limit",
            format!("must be between 1 and {MAX_RESULTS}"),
        ));
    }
    let text = query.q.as_deref().unwrap_or_default().trim();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(AdminError::bad_request(
            "q",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let found = state.ledger.search_items(text, limit).await?;
    Ok(Json(found.into_iter().map(ItemSummary::from).collect()))
}
