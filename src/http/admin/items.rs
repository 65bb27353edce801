//! `GET /admin/items/{sku}` (stock, reservations and what each channel should show) and
//! `GET /admin/items/{sku}/movements` (the journal, paged).

use super::error::{query_number, AdminError};
use super::AdminRoute;
use crate::http::AppState;
use crate::ledger::{Balance, Movement, Reservation};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

/// The most journal rows one page returns.
pub const MAX_PAGE_SIZE: i64 = 1000;
const DEFAULT_PAGE_SIZE: i64 = 100;

pub fn routes() -> Vec<AdminRoute> {
    vec![
        AdminRoute::get("/items/{sku}", item),
        AdminRoute::get("/items/{sku}/movements", movements),
    ]
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ItemView {
    sku: String,
    balances: Vec<BalanceView>,
    /// Summed over every location.
    available: i64,
    #[schema(value_type = Vec<Object>)]
    reservations: Vec<Reservation>,
    /// For each enabled channel, its listings taking stock of this item.
    channels: Vec<ChannelView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BalanceView {
    location: String,
    on_hand: i64,
    reserved: i64,
    available: i64,
}

impl From<Balance> for BalanceView {
    fn from(balance: Balance) -> Self {
        Self {
            available: balance.available(),
            location: balance.location,
            on_hand: balance.on_hand,
            reserved: balance.reserved,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChannelView {
    channel: String,
    listings: Vec<ListingView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ListingView {
    listing_id: String,
    /// What the channel's policy lets the listing show now.
    should_show: i64,
    /// What the channel last confirmed; `null` before the first push.
    last_confirmed: Option<i64>,
}

/// An item's stock, open reservations and what each channel's listings should show.
#[utoipa::path(
    get, path = "/admin/items/{sku}", tag = "stock",
    params(("sku" = String, Path, description = "The item's SKU")),
    responses(
        (status = 200, description = "The item", body = ItemView),
        (status = 404, description = "Unknown SKU"),
    )
)]
async fn item(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<ItemView>, AdminError> {
    if !state.ledger.item_exists(&sku).await? {
        return Err(AdminError::NotFound(format!("unknown sku {sku:?}")));
    }
    let balances = state.ledger.balances(&sku).await?;
    let available = balances.iter().map(Balance::available).sum();
    let reservations = state.ledger.open_reservations(&sku).await?;
    let skus = [sku.clone()];
    let mut channels = Vec::new();
    for channel in state.channels.values() {
        let targets = state
            .ledger
            .push_targets(&channel.id, &skus, &channel.policy)
            .await?;
        channels.push(ChannelView {
            channel: channel.id.clone(),
            listings: targets
                .into_iter()
                .map(|target| ListingView {
                    listing_id: target.listing_id,
                    should_show: target.quantity,
                    last_confirmed: target.last_pushed_quantity,
                })
                .collect(),
        });
    }
    Ok(Json(ItemView {
        sku,
        balances: balances.into_iter().map(BalanceView::from).collect(),
        available,
        reservations,
        channels,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Rows with an id above this one (the `next_after` of the previous page).
    after: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MovementPage {
    sku: String,
    movements: Vec<MovementView>,
    /// Pass as `after` for the next page; `null` on the last page.
    next_after: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MovementView {
    id: i64,
    location: String,
    on_hand_delta: i64,
    reserved_delta: i64,
    reason: String,
    reference: Option<String>,
    idempotency_key: String,
    actor: Option<String>,
    note: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Movement> for MovementView {
    fn from(movement: Movement) -> Self {
        Self {
            id: movement.id,
            location: movement.location,
            on_hand_delta: movement.on_hand_delta,
            reserved_delta: movement.reserved_delta,
            reason: movement.reason.as_str().to_string(),
            reference: movement.reference,
            idempotency_key: movement.idempotency_key,
            actor: movement.actor,
            note: movement.note,
            created_at: movement.created_at,
        }
    }
}

/// The item's journal, oldest first, paged.
#[utoipa::path(
    get, path = "/admin/items/{sku}/movements", tag = "stock",
    params(("sku" = String, Path, description = "The item's SKU"), PageQuery),
    responses(
        (status = 200, description = "One page of the journal", body = MovementPage),
        (status = 400, description = "A bad `after` or `limit`"),
        (status = 404, description = "Unknown SKU"),
    )
)]
async fn movements(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<MovementPage>, AdminError> {
    let after = query_number("after", page.after.as_deref(), 0, (0, i64::MAX))?;
    let limit = query_number(
        "limit",
        page.limit.as_deref(),
        DEFAULT_PAGE_SIZE,
        (1, MAX_PAGE_SIZE),
    )?;
    if !state.ledger.item_exists(&sku).await? {
        return Err(AdminError::NotFound(format!("unknown sku {sku:?}")));
    }
    // One row more than asked tells whether another page follows.
    let mut rows = state.ledger.movements(&sku, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_after = if more {
        rows.last().map(|row| row.id)
    } else {
        None
    };
    Ok(Json(MovementPage {
        sku,
        movements: rows.into_iter().map(MovementView::from).collect(),
        next_after,
    }))
}
