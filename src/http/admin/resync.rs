//! `POST /admin/resync`: records a resync job (`queued`, run by the sync leader whichever
//! replica accepted it) and answers 202 with it at once; the job's progress is at
//! `GET /admin/jobs/{id}`. A job whose scope overlaps a queued or running one, on any replica,
//! is refused with 409 and that job's id.

use super::error::{parse_body, AdminError};
use super::jobs::JobView;
use super::AdminRoute;
use crate::http::AppState;
use crate::ledger::{ResyncMode, TriggerKind};
use crate::ops::{ResyncScope, StartJobError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes() -> Vec<AdminRoute> {
    vec![AdminRoute::post("/resync", start_resync)]
}

/// What to resync.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResyncRequest {
    /// One channel; absent: every enabled channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// These SKUs' listings; absent: every listing.
    #[serde(default)]
    pub skus: Option<Vec<String>>,
    /// `push` (default) or `reconcile`.
    #[serde(default = "default_mode")]
    pub mode: ResyncMode,
}

fn default_mode() -> ResyncMode {
    ResyncMode::Push
}

/// A refusal because another job covers the same listings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictBody {
    pub error: String,
    /// The queued or running job.
    pub job_id: Option<String>,
}

/// Starts a resync job.
#[utoipa::path(
    post, path = "/admin/resync", tag = "resync",
    request_body = ResyncRequest,
    responses(
        (status = 202, description = "The job was queued for the sync leader", body = JobView),
        (status = 400, description = "A bad request, naming the field"),
        (status = 404, description = "Unknown channel"),
        (status = 409, description = "An overlapping job runs", body = ConflictBody),
    )
)]
pub async fn start_resync(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<JobView>), Response> {
    let request: ResyncRequest = parse_body(&body).map_err(IntoResponse::into_response)?;
    if let Some(skus) = &request.skus {
        if skus.is_empty() || skus.iter().any(|sku| sku.trim().is_empty()) {
            return Err(AdminError::bad_request("skus", "must list non-empty skus").into_response());
        }
    }
    let scope = ResyncScope {
        channel: request.channel,
        skus: request.skus,
        mode: request.mode,
    };
    match state
        .operators
        .jobs
        .start(scope, TriggerKind::Api, None)
        .await
    {
        Ok(job) => Ok((StatusCode::ACCEPTED, Json(job.into()))),
        Err(error) => Err(start_error(error)),
    }
}

/// The answer to a job that could not start.
pub fn start_error(error: StartJobError) -> Response {
    match error {
        StartJobError::UnknownChannel(channel) => {
            AdminError::NotFound(format!("unknown channel {channel:?}")).into_response()
        }
        StartJobError::UnknownJob(id) => {
            AdminError::NotFound(format!("unknown job {id:?}")).into_response()
        }
        StartJobError::Overlap(job_id) => (
            StatusCode::CONFLICT,
            Json(ConflictBody {
                error: format!(
                    "a resync of an overlapping scope is queued or running: job {job_id}"
                ),
                job_id: Some(job_id),
            }),
        )
            .into_response(),
        StartJobError::CatalogBusy(job_id) => (
            StatusCode::CONFLICT,
            Json(ConflictBody {
                error: format!("a catalog job of the channel is queued or running: job {job_id}"),
                job_id: Some(job_id),
            }),
        )
            .into_response(),
        error @ StartJobError::UnknownLocation(_) => {
            AdminError::NotFound(error.to_string()).into_response()
        }
        error @ StartJobError::NotADryRun(_) => {
            AdminError::bad_request("dry_run_job", error.to_string()).into_response()
        }
        error @ StartJobError::NotRestartable(..) => (
            StatusCode::CONFLICT,
            Json(ConflictBody {
                error: error.to_string(),
                job_id: None,
            }),
        )
            .into_response(),
        StartJobError::Ledger(error) => AdminError::Internal(error).into_response(),
    }
}
