//! `GET /admin/items/{sku}/explain?channel=`: why each channel shows the quantity it shows of
//! an item (see [`crate::ops::explain`]), and, where the channel's confirmed quantity differs,
//! why it has not been pushed yet.

use super::error::AdminError;
use super::AdminRoute;
use crate::http::AppState;
use crate::ops::explain::{explain_item, ListingExplanation};
use crate::sync::ChannelRuntime;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Vec<AdminRoute> {
    vec![AdminRoute::get("/items/{sku}/explain", explain)]
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// Only this channel; every enabled channel when absent.
    channel: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemExplanation {
    pub sku: String,
    pub channels: Vec<ChannelExplanation>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelExplanation {
    pub channel: String,
    pub paused: bool,
    /// As the sync leader sees it; `null` before a leader has published it.
    pub degraded: Option<bool>,
    pub listings: Vec<ListingExplanation>,
}

/// For each listing that takes the item: every step from the ledger to the quantity, what the
/// channel last confirmed, and why a difference has not been pushed yet.
#[utoipa::path(
    get, path = "/admin/items/{sku}/explain", tag = "stock",
    params(("sku" = String, Path, description = "The item's SKU"), ExplainQuery),
    responses(
        (status = 200, description = "The explanation", body = ItemExplanation),
        (status = 404, description = "Unknown SKU or channel"),
    )
)]
pub async fn explain(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    Query(query): Query<ExplainQuery>,
) -> Result<Json<ItemExplanation>, AdminError> {
    if !state.ledger.item_exists(&sku).await? {
        return Err(AdminError::NotFound(format!("unknown sku {sku:?}")));
    }
    let channels: Vec<&ChannelRuntime> = match &query.channel {
        Some(id) => vec![state
            .channels
            .get(id)
            .ok_or_else(|| AdminError::NotFound(format!("unknown or disabled channel {id:?}")))?],
        None => state.channels.values().collect(),
    };
    let published = if state.operators.is_leader() {
        Default::default()
    } else {
        state.ledger.channel_status().push_activities().await?
    };
    let policies: Vec<(&str, &crate::policy::StockPolicy)> = channels
        .iter()
        .map(|channel| (channel.id.as_str(), &channel.policy))
        .collect();
    let mut by_channel = explain_item(&state.ledger, &sku, &policies).await?;
    let mut explained = Vec::with_capacity(channels.len());
    for channel in channels {
        let paused = state
            .ledger
            .channel_status()
            .channel_paused(&channel.id)
            .await?
            .unwrap_or(false);
        let degraded = match published.get(&channel.id) {
            Some(record) => record.degraded.map(|degraded| degraded != 0),
            None if state.operators.is_leader() => Some(channel.client.is_degraded()),
            None => None,
        };
        let mut listings = by_channel.remove(&channel.id).unwrap_or_default();
        let parked = state
            .ledger
            .dead_letters()
            .parked_listings(&channel.id)
            .await?;
        let activity = channel.control.snapshot();
        let pending = Pending {
            paused,
            degraded: degraded == Some(true),
            // The backlog is known where the pusher runs.
            queued: state.operators.is_leader() && activity.backlog.contains(&sku),
            rate_limited: rate_budget_spent(channel, activity.recent_calls.len()),
        };
        for listing in listings.iter_mut().filter(|listing| !listing.in_step) {
            listing.not_pushed_because =
                pending.reasons(listing, parked.contains(&listing.listing_id));
        }
        explained.push(ChannelExplanation {
            channel: channel.id.clone(),
            paused,
            degraded,
            listings,
        });
    }
    Ok(Json(ItemExplanation {
        sku,
        channels: explained,
    }))
}

/// What holds a channel's pushes back now.
struct Pending {
    paused: bool,
    degraded: bool,
    queued: bool,
    rate_limited: bool,
}

impl Pending {
    fn reasons(&self, listing: &ListingExplanation, dead_lettered: bool) -> Vec<String> {
        let mut reasons = Vec::new();
        if !listing.sync_enabled {
            reasons.push("sync is off for this listing: omnistock never pushes it".to_string());
        }
        if self.paused {
            reasons.push("the channel is paused (POST /admin/channels/{id}/resume)".to_string());
        }
        if dead_lettered {
            reasons.push(
                "parked as a dead letter: the channel refused it (GET /admin/dead-letters)"
                    .to_string(),
            );
        }
        if self.degraded {
            reasons.push(
                "the channel is degraded: its calls keep failing; pushed when it answers again"
                    .to_string(),
            );
        }
        if self.rate_limited {
            reasons.push("waiting for the channel's rate limit".to_string());
        }
        if self.queued {
            reasons.push("queued in the channel's pusher, to be pushed next".to_string());
        }
        if reasons.is_empty() {
            reasons.push(match listing.last_confirmed_quantity {
                None => "never pushed yet: the channel's sweep has not reached it".to_string(),
                Some(_) => {
                    "changed since the last push: on its way (in the bus or in flight)".to_string()
                }
            });
        }
        reasons
    }
}

/// The pusher made `recent_calls` in the last minute, as many as the rate limit allows.
fn rate_budget_spent(channel: &ChannelRuntime, recent_calls: usize) -> bool {
    let Some(limit) = channel.rate_limit else {
        return false;
    };
    let per_window = limit.allowed_in(crate::sync::push::control::BUDGET_WINDOW);
    recent_calls as f64 >= per_window.floor()
}
