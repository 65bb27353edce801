//! `GET /admin/jobs` (recent jobs: resyncs, listing discoveries, counts from a channel),
//! `GET /admin/jobs/{id}` (one job's state, progress and, for a catalog job, its report) and
//! `POST /admin/jobs/{id}/restart` (a new job of an ended job's scope).

use super::error::AdminError;
use super::resync::start_error;
use super::AdminRoute;
use crate::http::AppState;
pub use crate::ledger::JobState;
use crate::ledger::{JobKind, JobMode, JobRecord, TriggerKind};
use crate::ops::channel_count::ChannelCountReport;
use crate::ops::discovery::DiscoveryReport;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::warn;
use utoipa::{IntoParams, ToSchema};

const DEFAULT_JOBS: i64 = 20;
const MAX_JOBS: i64 = 500;

pub fn routes() -> Vec<AdminRoute> {
    vec![
        AdminRoute::get("/jobs", list_jobs),
        AdminRoute::get("/jobs/{id}", job),
        AdminRoute::post("/jobs/{id}/restart", restart),
    ]
}

/// What a catalog job found and did, once it succeeded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum JobResult {
    /// A `discover` job's classification (and, in mode `apply`, what was bound).
    Discover(DiscoveryReport),
    /// A `channel_count` job's counts.
    ChannelCount(ChannelCountReport),
}

/// A job: a resync, a listing discovery or a count from a channel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: String,
    /// `resync` (the default of a job that names none), `discover` or `channel_count`.
    #[serde(default = "resync")]
    pub kind: JobKind,
    /// `null`: every channel.
    pub channel: Option<String>,
    /// `null`: every SKU.
    pub skus: Option<Vec<String>>,
    /// `push` or `reconcile` for a resync; `dry_run` or `apply` for a catalog job.
    pub mode: JobMode,
    /// A count's location (`null`: the channel's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The dry-run discovery an applying one is compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_job: Option<String>,
    /// `api` (an operator) or `schedule` (the channel's `reconcile_interval`).
    pub trigger: TriggerKind,
    pub state: JobState,
    /// Listings in scope (a catalog job: known once its last page was read, 0 until then).
    pub total: i64,
    /// Listings looked at (a catalog job: read) so far.
    pub done: i64,
    /// Catalog pages read so far (a catalog job).
    #[serde(default)]
    pub pages: i64,
    /// Listings whose quantity the channel confirmed.
    pub pushed: i64,
    /// Listings whose shown quantity differed (reconcile).
    pub drifts: i64,
    pub errors: i64,
    pub last_error: Option<String>,
    /// A catalog job's report once it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// The job this one restarted.
    pub restarted_from: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn resync() -> JobKind {
    JobKind::Resync
}

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

impl From<JobRecord> for JobView {
    fn from(job: JobRecord) -> Self {
        let params = job.params.unwrap_or_default();
        let result = job.result.and_then(|result| {
            let read = match job.kind {
                JobKind::Discover => serde_json::from_value(result).map(JobResult::Discover),
                JobKind::ChannelCount => {
                    serde_json::from_value(result).map(JobResult::ChannelCount)
                }
                JobKind::Resync => return None,
            };
            // A report stored by another version that this one cannot read is left out.
            read.inspect_err(|error| {
                warn!(job = %job.id, error = %error, "a job's stored result does not read");
            })
            .ok()
        });
        Self {
            id: job.id,
            kind: job.kind,
            channel: job.channel_id,
            skus: job.skus,
            mode: job.mode,
            location: params.location,
            dry_run_job: params.dry_run_job,
            trigger: job.trigger,
            state: job.state,
            total: job.total,
            done: job.done,
            pushed: job.pushed,
            drifts: job.drifts,
            errors: job.errors,
            pages: job.pages,
            last_error: job.last_error,
            result,
            restarted_from: job.restarted_from,
            created_at: time(job.created_at),
            started_at: job.started_at.map(time),
            finished_at: job.finished_at.map(time),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// How many jobs, newest first (1–500, default 20).
    pub limit: Option<i64>,
}

/// Recent jobs of every kind, newest first.
#[utoipa::path(
    get, path = "/admin/jobs", tag = "resync",
    params(JobsQuery),
    responses(
        (status = 200, description = "Recent jobs", body = [JobView]),
        (status = 400, description = "A bad limit"),
    )
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    Query(query): Query<JobsQuery>,
) -> Result<Json<Vec<JobView>>, AdminError> {
    let limit = query.limit.unwrap_or(DEFAULT_JOBS);
    if !(1..=MAX_JOBS).contains(&limit) {
        return Err(AdminError::bad_request(
            "limit",
            format!("must be between 1 and {MAX_JOBS}"),
        ));
    }
    let jobs = state.ledger.jobs().recent(limit).await?;
    Ok(Json(jobs.into_iter().map(JobView::from).collect()))
}

/// One job's state, progress and times, and a catalog job's report once it succeeded.
#[utoipa::path(
    get, path = "/admin/jobs/{id}", tag = "resync",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job"),
    )
)]
pub async fn job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, AdminError> {
    match state.ledger.jobs().get(&id).await? {
        Some(job) => Ok(Json(job.into())),
        None => Err(AdminError::NotFound(format!("unknown job {id:?}"))),
    }
}

/// Starts a new job with the scope (or, for a catalog job, the task) of an ended (interrupted,
/// failed or succeeded) one.
#[utoipa::path(
    post, path = "/admin/jobs/{id}/restart", tag = "resync",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 202, description = "The new job", body = JobView),
        (status = 404, description = "No such job"),
        (status = 409, description = "The job is still active, or an overlapping job runs", body = super::resync::ConflictBody),
    )
)]
pub async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<JobView>), Response> {
    match state.operators.jobs.restart(&id).await {
        Ok(job) => Ok((StatusCode::ACCEPTED, Json(job.into()))),
        Err(error) => Err(start_error(error)),
    }
}
