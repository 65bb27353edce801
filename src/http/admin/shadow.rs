//! Shadow mode's routes: `GET /admin/channels/{id}/shadow` (per listing, what omnistock would
//! set beside what the channel shows, and since when they differ) and
//! `POST /admin/channels/{id}/go-live` (a dry run by default: every write the first sweep will
//! make; with `"dry_run": false` the switch to live, stored in the ledger for every replica).
//! The channel summary (`GET /admin/channels`) shows [`ShadowSummaryView`].

use super::error::{parse_body, AdminError};
use super::AdminRoute;
use crate::http::AppState;
use crate::ledger::ShadowListingRecord;
use crate::ops::shadow::{PlannedWrite, ShadowError, ShadowSummary};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Vec<AdminRoute> {
    vec![
        AdminRoute::get("/channels/{id}/shadow", shadow_report),
        AdminRoute::post("/channels/{id}/go-live", go_live),
    ]
}

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// A listing of a shadow channel as last read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShadowListingView {
    pub listing_id: String,
    pub sku: String,
    /// The quantity omnistock would set (its stock policy's, as the pusher computes it).
    pub would_set: i64,
    /// What the channel showed; `null` when it did not report the listing.
    pub shown: Option<i64>,
    /// `would_set` − `shown` (a listing not reported counts as showing 0).
    pub difference: i64,
    pub read_at: DateTime<Utc>,
    /// Since when the two have differed, over every read since; `null` while they agree.
    pub differs_since: Option<DateTime<Utc>>,
}

impl From<ShadowListingRecord> for ShadowListingView {
    fn from(record: ShadowListingRecord) -> Self {
        Self {
            difference: record.difference(),
            read_at: time(record.read_at),
            differs_since: record.differs_since.map(time),
            listing_id: record.listing_id,
            sku: record.sku,
            would_set: record.would_set,
            shown: record.shown,
        }
    }
}

/// A shadow channel at a glance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShadowSummaryView {
    /// Listings read that show what omnistock would set.
    pub in_agreement: u64,
    /// Listings read that show something else.
    pub differing: u64,
    /// The last read of any listing; `null` before the first.
    pub last_read_at: Option<DateTime<Utc>>,
    /// Since when the oldest standing difference has lasted; `null` when all agree.
    pub differing_since: Option<DateTime<Utc>>,
    /// The differing listings farthest from what omnistock would set, largest first.
    pub largest_differences: Vec<ShadowListingView>,
}

impl From<ShadowSummary> for ShadowSummaryView {
    fn from(summary: ShadowSummary) -> Self {
        let counts = summary.counts;
        Self {
            in_agreement: counts.read.saturating_sub(counts.differing),
            differing: counts.differing,
            last_read_at: counts.last_read_at.map(time),
            differing_since: counts.differing_since.map(time),
            largest_differences: summary.largest.into_iter().map(Into::into).collect(),
        }
    }
}

/// The full shadow report of a channel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShadowReport {
    pub id: String,
    /// `shadow`, or `live` once switched (a live channel has no shadow listings).
    pub mode: String,
    pub summary: ShadowSummaryView,
    /// Every listing read (only the differing ones when asked), by listing id.
    pub listings: Vec<ShadowListingView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShadowQuery {
    /// Only the listings whose channel shows something else than omnistock would set.
    #[serde(default)]
    pub differing: bool,
}

/// What the shadow channel shows beside what omnistock would set, per listing.
#[utoipa::path(
    get, path = "/admin/channels/{id}/shadow", tag = "channels",
    params(("id" = String, Path, description = "The channel id"), ShadowQuery),
    responses(
        (status = 200, description = "The channel's shadow report", body = ShadowReport),
        (status = 404, description = "No such enabled channel"),
    )
)]
pub async fn shadow_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ShadowQuery>,
) -> Result<Json<ShadowReport>, AdminError> {
    let operators = &state.operators;
    let listings = operators
        .shadow_listings(&id, query.differing)
        .await
        .map_err(map_error)?;
    let summary = operators
        .shadow_summaries()
        .await?
        .remove(&id)
        .unwrap_or_default();
    let mode = if operators.is_shadow(&id) == Some(true) {
        "shadow"
    } else {
        "live"
    };
    Ok(Json(ShadowReport {
        mode: mode.to_string(),
        summary: summary.into(),
        listings: listings.into_iter().map(Into::into).collect(),
        id,
    }))
}

/// The body of `POST /admin/channels/{id}/go-live`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoLiveRequest {
    /// `true` (the default): only list the writes; `false`: switch the channel to live.
    #[serde(default = "dry_run_by_default")]
    pub dry_run: bool,
}

fn dry_run_by_default() -> bool {
    true
}

/// One write the first sweep after going live makes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlannedWriteView {
    pub listing_id: String,
    pub sku: String,
    /// What the channel was last read to show; `null` if never read or not reported.
    pub shown: Option<i64>,
    pub read_at: Option<DateTime<Utc>>,
    /// The quantity the sweep sets.
    pub to_set: i64,
}

impl From<PlannedWrite> for PlannedWriteView {
    fn from(write: PlannedWrite) -> Self {
        Self {
            listing_id: write.listing_id,
            sku: write.sku,
            shown: write.shown,
            read_at: write.read_at.map(time),
            to_set: write.to_set,
        }
    }
}

/// The answer to a go-live: its dry run, or the switch with the writes it starts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GoLiveResponse {
    pub id: String,
    pub dry_run: bool,
    /// The channel's mode after the request: `shadow` for a dry run, `live` after the switch.
    pub mode: String,
    /// When the channel went live; `null` for a dry run.
    pub went_live_at: Option<DateTime<Utc>>,
    /// Every write the first sweep after the switch makes, in SKU order.
    pub writes: Vec<PlannedWriteView>,
}

/// Lists every write the switch of the shadow channel to live would make (the default), or
/// makes the switch (`"dry_run": false`): stored in the ledger, followed by every replica within
/// a second; the sync leader then sweeps the channel, making those writes.
#[utoipa::path(
    post, path = "/admin/channels/{id}/go-live", tag = "channels",
    params(("id" = String, Path, description = "The channel id")),
    request_body(content = Option<GoLiveRequest>, description = "Empty for a dry run"),
    responses(
        (status = 200, description = "The dry run, or the switch made", body = GoLiveResponse),
        (status = 400, description = "A bad request, naming the field"),
        (status = 404, description = "No such enabled channel"),
        (status = 409, description = "The channel is live already"),
    )
)]
pub async fn go_live(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<GoLiveResponse>, AdminError> {
    let request: GoLiveRequest = if body.iter().all(u8::is_ascii_whitespace) {
        GoLiveRequest {
            dry_run: dry_run_by_default(),
        }
    } else {
        parse_body(&body)?
    };
    let operators = &state.operators;
    let (writes, went_live_at) = if request.dry_run {
        let writes = operators.go_live_plan(&id).await.map_err(map_error)?;
        (writes, None)
    } else {
        let (writes, at) = operators.go_live(&id).await.map_err(map_error)?;
        (writes, Some(time(at)))
    };
    Ok(Json(GoLiveResponse {
        dry_run: request.dry_run,
        mode: if request.dry_run { "shadow" } else { "live" }.to_string(),
        went_live_at,
        writes: writes.into_iter().map(Into::into).collect(),
        id,
    }))
}

fn map_error(error: ShadowError) -> AdminError {
    match error {
        error @ ShadowError::UnknownChannel(_) => AdminError::NotFound(error.to_string()),
        error @ ShadowError::NotInShadow(_) => AdminError::Conflict(error.to_string()),
        ShadowError::Ledger(error) => AdminError::Internal(error),
    }
}
