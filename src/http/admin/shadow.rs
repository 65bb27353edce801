//! Shadow mode's routes: `GET /admin/channels/{id}/shadow` (per listing, what omnistock would
//! set beside what the channel shows, and since when they differ) and
//! `POST /admin/channels/{id}/go-live` (a dry run by default: every write the first sweep will
//! make; with `"dry_run": false` the switch to live, stored in the ledger for every replica).
//! The channel summary (`GET /admin/channels`) shows [`ShadowSummaryView`].
//!
//! A report and a dry run are paged by a keyset cursor (`?limit=&after=`, `after` being the
//! `next` of the page before): a channel of 100,000 listings is never one answer, and a page
//! costs the same wherever it is.

use super::error::{parse_body, query_number, AdminError};
use super::AdminRoute;
use crate::http::AppState;
use crate::ledger::ShadowListingRecord;
use crate::ops::shadow::{GoneLive, PlanPosition, PlannedWrite, ShadowError, ShadowSummary};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Rows in a page of a report or a dry run when `limit` is not given.
pub const DEFAULT_PAGE_ROWS: i64 = 1_000;
/// The most rows a page may hold.
pub const MAX_PAGE_ROWS: i64 = 10_000;

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
    /// Of every listing, whatever the page.
    pub summary: ShadowSummaryView,
    /// This page of the listings read (only the differing ones when asked), by listing id.
    pub listings: Vec<ShadowListingView>,
    /// Pass as `after` for the next page (the last listing id of this one); `null` on the last
    /// page.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShadowQuery {
    /// Only the listings whose channel shows something else than omnistock would set.
    #[serde(default)]
    pub differing: bool,
    /// Listings in the page: 1 to 10,000, default 1,000.
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// The listings after this listing id: the `next` of the previous page (absent for the
    /// first).
    pub after: Option<String>,
}

/// The `limit` asked, within bounds.
fn page_limit(limit: Option<&str>) -> Result<usize, AdminError> {
    let limit = query_number("limit", limit, DEFAULT_PAGE_ROWS, (1, MAX_PAGE_ROWS))?;
    Ok(usize::try_from(limit).unwrap_or(1))
}

/// What the shadow channel shows beside what omnistock would set, per listing.
#[utoipa::path(
    get, path = "/admin/channels/{id}/shadow", tag = "channels",
    params(("id" = String, Path, description = "The channel id"), ShadowQuery),
    responses(
        (status = 200, description = "A page of the channel's shadow report", body = ShadowReport),
        (status = 400, description = "A bad `limit` or `after`, naming it"),
        (status = 404, description = "No such enabled channel"),
    )
)]
pub async fn shadow_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ShadowQuery>,
) -> Result<Json<ShadowReport>, AdminError> {
    let limit = page_limit(query.limit.as_deref())?;
    if query.after.as_deref() == Some("") {
        return Err(AdminError::bad_request(
            "after",
            "expected a listing id (the `next` of the previous page)",
        ));
    }
    let operators = &state.operators;
    // One listing more than asked tells whether another page follows.
    let mut listings = operators
        .shadow_listings(&id, query.differing, query.after.as_deref(), limit + 1)
        .await
        .map_err(map_error)?;
    let next = if listings.len() > limit {
        listings.truncate(limit);
        listings.last().map(|listing| listing.listing_id.clone())
    } else {
        None
    };
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
        next,
        id,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GoLiveQuery {
    /// Writes in the page of a dry run (or listed by the switch): 1 to 10,000, default 1,000.
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// A dry run's writes after this position: the `next` of the previous page (absent for
    /// the first).
    pub after: Option<String>,
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

/// The answer to a go-live: a page of its dry run, or the switch with the writes it starts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GoLiveResponse {
    pub id: String,
    pub dry_run: bool,
    /// The channel's mode after the request: `shadow` for a dry run, `live` after the switch.
    pub mode: String,
    /// When the channel went live; `null` for a dry run.
    pub went_live_at: Option<DateTime<Utc>>,
    /// A dry run: this page of the writes the first sweep after the switch makes, in the
    /// sweep's order (by SKU). The switch: the first `limit` of them.
    pub writes: Vec<PlannedWriteView>,
    /// A dry run: pass as `after` for the next page; `null` on the last page and for the
    /// switch.
    pub next: Option<String>,
    /// The switch: how many writes its first sweep makes in all; `null` for a dry run (count
    /// its pages).
    pub write_count: Option<u64>,
}

/// Lists every write the switch of the shadow channel to live would make (the default), or
/// makes the switch (`"dry_run": false`): stored in the ledger, followed by every replica within
/// a second; the sync leader then sweeps the channel, making those writes.
#[utoipa::path(
    post, path = "/admin/channels/{id}/go-live", tag = "channels",
    params(("id" = String, Path, description = "The channel id"), GoLiveQuery),
    request_body(content = Option<GoLiveRequest>, description = "Empty for a dry run"),
    responses(
        (status = 200, description = "A page of the dry run, or the switch made", body = GoLiveResponse),
        (status = 400, description = "A bad request (`dry_run`, `limit`, `after`), naming the field"),
        (status = 404, description = "No such enabled channel"),
        (status = 409, description = "The channel is live already"),
    )
)]
pub async fn go_live(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<GoLiveQuery>,
    body: Bytes,
) -> Result<Json<GoLiveResponse>, AdminError> {
    let limit = page_limit(query.limit.as_deref())?;
    let after = query
        .after
        .as_deref()
        .map(|text| {
            PlanPosition::decode(text).ok_or_else(|| {
                AdminError::bad_request("after", "expected the `next` of the previous page")
            })
        })
        .transpose()?;
    let request: GoLiveRequest = if body.iter().all(u8::is_ascii_whitespace) {
        GoLiveRequest {
            dry_run: dry_run_by_default(),
        }
    } else {
        parse_body(&body)?
    };
    if after.is_some() && !request.dry_run {
        return Err(AdminError::bad_request(
            "after",
            "only a dry run is paged; the switch starts from the first write",
        ));
    }
    let operators = &state.operators;
    let answer = if request.dry_run {
        let page = operators
            .go_live_plan(&id, after.as_ref(), limit)
            .await
            .map_err(map_error)?;
        GoLiveResponse {
            dry_run: true,
            mode: "shadow".to_string(),
            went_live_at: None,
            writes: page.writes.into_iter().map(Into::into).collect(),
            next: page.next.map(|position| position.encode()),
            write_count: None,
            id,
        }
    } else {
        let GoneLive {
            first_writes,
            write_count,
            went_live_at,
        } = operators.go_live(&id, limit).await.map_err(map_error)?;
        GoLiveResponse {
            dry_run: false,
            mode: "live".to_string(),
            went_live_at: Some(time(went_live_at)),
            writes: first_writes.into_iter().map(Into::into).collect(),
            next: None,
            write_count: Some(u64::try_from(write_count).unwrap_or(u64::MAX)),
            id,
        }
    };
    Ok(Json(answer))
}

fn map_error(error: ShadowError) -> AdminError {
    match error {
        error @ ShadowError::UnknownChannel(_) => AdminError::NotFound(error.to_string()),
        error @ ShadowError::NotInShadow(_) => AdminError::Conflict(error.to_string()),
        ShadowError::Ledger(error) => AdminError::Internal(error),
    }
}
