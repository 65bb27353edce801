//! `POST /admin/channels/{id}/discover` (listing discovery) and `POST /admin/channels/{id}/count`
//! (a first stock count from what the channel shows): each records a catalog job (`queued`, run
//! by the sync leader whichever replica accepted it) and answers 202 with it at once; its
//! progress (pages and listings read) and, once it succeeded, its report are at
//! `GET /admin/jobs/{id}`. An empty body is a dry run. A second catalog job of the same channel
//! while one is queued or running is refused with 409 and that job's id.

use super::error::{parse_body, AdminError};
use super::jobs::JobView;
use super::resync::start_error;
use super::AdminRoute;
use crate::http::AppState;
use crate::ops::catalog_jobs::CatalogTask;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

pub fn routes() -> Vec<AdminRoute> {
    vec![
        AdminRoute::post("/channels/{id}/discover", discover),
        AdminRoute::post("/channels/{id}/count", count),
    ]
}

/// A listing discovery to start.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverRequest {
    /// Bind the new listings (each re-checked in the binding transaction); `false` (the
    /// default): a dry run that binds nothing.
    #[serde(default)]
    pub apply: bool,
    /// With `apply`: the dry-run discovery job whose classification the result is compared
    /// with (`since_dry_run`); absent: the channel's last one that succeeded, if any.
    #[serde(default)]
    pub dry_run_job: Option<String>,
}

/// A count from the channel to start.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    /// Set the changed on hands (one transaction, journaled as counts by `channel:<id>`);
    /// `false` (the default): a dry run.
    #[serde(default)]
    pub apply: bool,
    /// The location counted; absent: the channel's own.
    #[serde(default)]
    pub location: Option<String>,
}

/// Starts a listing discovery job on the channel: its catalog read page by page and every
/// listing classified against the ledger (bound, new, unmatched, ambiguous, bound differently);
/// with `"apply": true` the new ones are bound.
#[utoipa::path(
    post, path = "/admin/channels/{id}/discover", tag = "channels",
    params(("id" = String, Path, description = "The channel id")),
    request_body(content = Option<DiscoverRequest>, description = "Empty for a dry run"),
    responses(
        (status = 202, description = "The job was queued for the sync leader", body = JobView),
        (status = 400, description = "A bad request, naming the field; or a `dry_run_job` that is no succeeded dry-run discovery of the channel"),
        (status = 404, description = "No such channel"),
        (status = 409, description = "The channel is disabled, or a catalog job of the channel is queued or running", body = super::resync::ConflictBody),
    )
)]
pub async fn discover(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<JobView>), Response> {
    let request: DiscoverRequest = optional_body(&body).map_err(IntoResponse::into_response)?;
    if request.dry_run_job.is_some() && !request.apply {
        return Err(
            AdminError::bad_request("dry_run_job", "is given only with \"apply\": true")
                .into_response(),
        );
    }
    let task = CatalogTask::Discover {
        apply: request.apply,
        dry_run_job: request.dry_run_job,
    };
    start(&state, id, task).await
}

/// Starts a count job on the channel: on hand at the location set so that what the ledger
/// shows available equals what the channel shows, for every item the catalog carries.
#[utoipa::path(
    post, path = "/admin/channels/{id}/count", tag = "channels",
    params(("id" = String, Path, description = "The channel id")),
    request_body(content = Option<CountRequest>, description = "Empty for a dry run"),
    responses(
        (status = 202, description = "The job was queued for the sync leader", body = JobView),
        (status = 400, description = "A bad request, naming the field"),
        (status = 404, description = "No such channel, or no such location"),
        (status = 409, description = "The channel is disabled, or a catalog job of the channel is queued or running", body = super::resync::ConflictBody),
    )
)]
pub async fn count(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<JobView>), Response> {
    let request: CountRequest = optional_body(&body).map_err(IntoResponse::into_response)?;
    let task = CatalogTask::ChannelCount {
        apply: request.apply,
        location: request.location,
    };
    start(&state, id, task).await
}

/// The request, or its default when the body is empty.
fn optional_body<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_body(body)
    }
}

async fn start(
    state: &AppState,
    channel: String,
    task: CatalogTask,
) -> Result<(StatusCode, Json<JobView>), Response> {
    let disabled = state
        .settings
        .channels
        .iter()
        .any(|configured| configured.id.as_str() == channel && !configured.enabled);
    if disabled {
        return Err(AdminError::Conflict(format!(
            "channel {channel:?} is disabled (enabled = false): its catalog is not read"
        ))
        .into_response());
    }
    match state
        .operators
        .jobs
        .start_catalog(&channel, task, None)
        .await
    {
        Ok(job) => Ok((StatusCode::ACCEPTED, Json(job.into()))),
        Err(error) => Err(start_error(error)),
    }
}
