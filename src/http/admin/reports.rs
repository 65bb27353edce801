//! `GET /admin/reports/channels`: channel performance per period (README "Channel reports"),
//! computed by `crate::reports`.

use super::error::AdminError;
use super::AdminRoute;
use crate::http::AppState;
use crate::reports::{channels_report, ChannelsReport, Granularity, ReportError, ReportRange};
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

/// The range when `from` is not given: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

pub fn routes() -> Vec<AdminRoute> {
    vec![AdminRoute::get("/reports/channels", channels)]
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start of the range (RFC 3339, included); default: 30 days before `to`.
    from: Option<String>,
    /// End of the range (RFC 3339, excluded); default: now.
    to: Option<String>,
    /// `day` (default), `week` (from Monday) or `month`, in UTC.
    granularity: Option<String>,
}

/// Per channel and period: orders, units, revenue per currency, cancellation and return
/// rates, sell-through, inventory turnover, days of cover, hours at 0 and oversold orders.
#[utoipa::path(
    get, path = "/admin/reports/channels", tag = "reports",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = ChannelsReport),
        (status = 400, description = "A bad `from`, `to` or `granularity`"),
    )
)]
pub async fn channels(
    State(state): State<AppState>,
    Query(query): Query<ReportQuery>,
) -> Result<Json<ChannelsReport>, AdminError> {
    let now = Utc::now();
    let to = instant("to", query.to.as_deref())?.unwrap_or(now);
    let from = instant("from", query.from.as_deref())?.unwrap_or(to - Duration::days(DEFAULT_DAYS));
    let granularity = match query.granularity.as_deref() {
        None => Granularity::Day,
        Some(text) => Granularity::parse(text).ok_or_else(|| {
            AdminError::bad_request("granularity", "must be day, week or month".to_string())
        })?,
    };
    let range = ReportRange::new(from, to, granularity).map_err(report_error)?;
    let report = channels_report(&state.ledger, range, now)
        .await
        .map_err(report_error)?;
    Ok(Json(report))
}

fn instant(field: &'static str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, AdminError> {
    text.map(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|instant| instant.with_timezone(&Utc))
            .map_err(|error| {
                AdminError::bad_request(field, format!("must be an RFC 3339 instant: {error}"))
            })
    })
    .transpose()
}

fn report_error(error: ReportError) -> AdminError {
    match error {
        ReportError::BadRange { field, reason } => AdminError::bad_request(field, reason),
        ReportError::Ledger(error) => error.into(),
    }
}
