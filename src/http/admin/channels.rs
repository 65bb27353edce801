//! `GET /admin/channels` (each channel's state and recent activity) and
//! `POST /admin/channels/{id}/pause` / `…/resume` (persisted; orders are still booked while a
//! channel is paused, and resuming pushes what accumulated, coalesced).

use super::error::AdminError;
use super::AdminRoute;
use crate::http::AppState;
use crate::ledger::channel_status::PushActivityRecord;
use crate::ops::PauseError;
use crate::sync::push::control::BUDGET_WINDOW;
use crate::sync::ChannelRuntime;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub fn routes() -> Vec<AdminRoute> {
    vec![
        AdminRoute::get("/channels", list_channels),
        AdminRoute::post("/channels/{id}/pause", pause),
        AdminRoute::post("/channels/{id}/resume", resume),
    ]
}

/// One channel's state and recent activity.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelStatus {
    pub id: String,
    pub kind: String,
    /// Disabled in the configuration: neither polled nor pushed to.
    pub enabled: bool,
    /// Pushes stopped by an operator.
    pub paused: bool,
    /// The replica that runs the channel's pushes, polls and jobs (the sync leader, the same
    /// for every channel); `null` for a disabled channel and while no replica leads (a
    /// takeover under way).
    #[serde(default)]
    pub leader: Option<LeaderStatus>,
    pub orders: OrderIntakeStatus,
    /// Webhooks answered in the last hour by every replica, by HTTP status (another replica's
    /// appear within its `admin.webhook_counts_flush`).
    pub webhooks_last_hour: BTreeMap<String, u64>,
    pub push: PushStatus,
    pub rate_limit: RateBudget,
    /// The last reconciliation; `null` before the first.
    pub reconciliation: Option<ReconciliationStatus>,
    /// Listing updates parked as dead letters.
    pub dead_letters: i64,
    /// The channel's go-live instant: orders placed before it are booked as baselines, and
    /// the first poll reads nothing updated before it.
    pub cut_over: Option<DateTime<Utc>>,
    /// Order events refused for good and quarantined (`GET /admin/quarantine`).
    pub quarantined_orders: i64,
    /// Receipts of webhooks naming orders that are not fetched and booked yet (the sync
    /// leader retries them).
    #[serde(default)]
    pub pending_webhook_receipts: i64,
    /// Conditions an operator must act on, as the connector reports them (a TikTok seller who
    /// deauthorized the app or whose authorization ends soon); empty when all is well.
    #[serde(default)]
    pub alerts: Vec<String>,
}

/// The replica that leads.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeaderStatus {
    /// Its name: host, process id and an id of its start.
    pub replica: String,
    /// It is the replica that answered this request.
    pub this_replica: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderIntakeStatus {
    /// Whether orders are polled (besides webhooks).
    pub polled: bool,
    /// The last successful order poll.
    pub last_pull_at: Option<DateTime<Utc>>,
    /// Seconds since the poll cursor last moved.
    pub cursor_age_seconds: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushStatus {
    /// SKUs taken from the queue and not yet pushed (held, while paused).
    pub backlog_skus: usize,
    /// Listings whose computed quantity differs from what the channel last confirmed; `null`
    /// while the channel's first count (of a large catalog) is still running.
    pub listings_out_of_date: Option<usize>,
    /// When that count was made: a count is reused for ten times as long as it took (at most
    /// five minutes), so a large catalog is not read again on every look.
    pub listings_out_of_date_counted_at: Option<DateTime<Utc>>,
    pub last_confirmed_at: Option<DateTime<Utc>>,
    pub last_error: Option<PushErrorStatus>,
    /// The sweep under way (after a start or a change of leader, or a resume); `null` when
    /// none runs.
    pub sweep: Option<SweepStatus>,
    /// When the last sweep finished; `null` before the first.
    pub last_sweep_done_at: Option<DateTime<Utc>>,
    /// The channel's calls keep failing: its changes are held and pushed when it answers
    /// again. As the sync leader (which makes the calls) sees it, on every replica; `null`
    /// before a leader has published it.
    pub degraded: Option<bool>,
    /// Stock-change messages of this channel the bus dead-lettered (for any reason), as the
    /// sync leader last counted them; each rise makes the channel swept. `null` before a
    /// leader has published it.
    pub bus_dead_lettered: Option<u64>,
}

/// A sweep of every listing of the channel, a page of SKUs at a time, between live pushes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SweepStatus {
    /// `start-up`, `resume`, `recovery` (a degraded channel answers again) or `dead-letters`
    /// (the bus dead-lettered some of the channel's changes).
    pub cause: String,
    pub started_at: DateTime<Utc>,
    /// SKUs read so far; the sweep goes through the channel's SKUs in order.
    pub skus_read: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PushErrorStatus {
    pub at: DateTime<Utc>,
    pub error: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RateBudget {
    /// The effective limit, e.g. `"2/s"`; `null` when the channel has none.
    pub limit: Option<String>,
    /// Calls made to the channel in the last minute.
    pub calls_last_minute: usize,
    /// Calls the limit still allows in a minute; `null` without a limit.
    pub remaining_per_minute: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReconciliationStatus {
    pub finished_at: DateTime<Utc>,
    pub drifts: i64,
}

/// The answer to a pause or resume.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PauseResponse {
    pub id: String,
    pub paused: bool,
}

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// Every configured channel with its state and recent activity.
#[utoipa::path(
    get, path = "/admin/channels", tag = "channels",
    responses((status = 200, description = "Every configured channel", body = [ChannelStatus]))
)]
pub async fn list_channels(
    State(state): State<AppState>,
) -> Result<Json<Vec<ChannelStatus>>, AdminError> {
    let ledger = &state.ledger;
    let stored: BTreeMap<String, crate::ledger::Channel> = ledger
        .channels()
        .await?
        .into_iter()
        .map(|channel| (channel.id.clone(), channel))
        .collect();
    let quarantined = ledger.quarantine().counts().await?;
    let receipts = ledger.webhook_receipts().counts().await?;
    let polls = ledger.channel_status().poll_records().await?;
    let reconciliations = ledger.channel_status().reconciliations().await?;
    let dead_letters = ledger.dead_letters().counts().await?;
    let mut webhooks = state.operators.webhooks.last_hour().await?;
    let leader = state
        .operators
        .sync_leader()
        .await?
        .map(|leader| LeaderStatus {
            replica: leader.replica,
            this_replica: leader.this_replica,
        });
    // The pushers run on the sync leader: elsewhere their activity is what it last published.
    let published = if state.operators.is_leader() {
        BTreeMap::new()
    } else {
        ledger.channel_status().push_activities().await?
    };
    // Counted side by side: each count is a walk through the channel's listings.
    let operators = &state.operators;
    let mut out_of_date: BTreeMap<String, _> =
        futures::future::join_all(state.channels.values().map(|channel| async move {
            let count = operators.listings_out_of_date(channel).await;
            (channel.id.clone(), count)
        }))
        .await
        .into_iter()
        .collect();
    let now = Utc::now().timestamp_millis();
    let mut statuses = Vec::new();
    for configured in &state.settings.channels {
        let id = configured.id.to_string();
        let runtime = state.channels.get(&id);
        let activity = match published.get(&id) {
            Some(record) => PushView::published(record),
            None => runtime.map(PushView::live).unwrap_or_default(),
        };
        let calls_last_minute = activity.calls_last_minute;
        let poll = polls.get(&id).copied().unwrap_or_default();
        let out_of_date = out_of_date.remove(&id).flatten();
        let limit = runtime.and_then(|channel| channel.rate_limit);
        let per_minute = limit.map(|limit| limit.allowed_in(BUDGET_WINDOW) as i64);
        statuses.push(ChannelStatus {
            kind: configured.kind.clone(),
            enabled: runtime.is_some(),
            paused: stored.get(&id).is_some_and(|channel| channel.paused),
            leader: runtime.and(leader.clone()),
            orders: OrderIntakeStatus {
                polled: runtime.is_some_and(|channel| channel.poll_interval.is_some()),
                last_pull_at: poll.polled_at.map(time),
                cursor_age_seconds: poll
                    .cursor_moved_at
                    .map(|moved| (now - moved).max(0) / 1000),
            },
            webhooks_last_hour: webhooks
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .map(|(status, count)| (status.to_string(), count))
                .collect(),
            push: PushStatus {
                backlog_skus: activity.backlog_skus,
                listings_out_of_date: out_of_date.map(|count| count.listings),
                listings_out_of_date_counted_at: out_of_date.map(|count| time(count.counted_at)),
                last_confirmed_at: activity.last_confirmed_at.map(time),
                last_error: activity.last_error.map(|(at, error)| PushErrorStatus {
                    at: time(at),
                    error,
                }),
                sweep: activity.sweep,
                last_sweep_done_at: activity.last_sweep_done.map(time),
                degraded: activity.degraded,
                bus_dead_lettered: activity.bus_dead_lettered,
            },
            rate_limit: RateBudget {
                limit: limit.map(|limit| limit.to_string()),
                calls_last_minute,
                remaining_per_minute: per_minute
                    .map(|per_minute| (per_minute - calls_last_minute as i64).max(0)),
            },
            reconciliation: reconciliations.get(&id).map(|record| ReconciliationStatus {
                finished_at: time(record.finished_at),
                drifts: record.drifts,
            }),
            dead_letters: dead_letters.get(&id).copied().unwrap_or(0),
            cut_over: stored.get(&id).and_then(|channel| channel.cut_over),
            quarantined_orders: quarantined.get(&id).copied().unwrap_or(0),
            pending_webhook_receipts: receipts.get(&id).copied().unwrap_or(0),
            alerts: runtime
                .map(|channel| channel.connector.alerts())
                .unwrap_or_default(),
            id,
        });
    }
    Ok(Json(statuses))
}

/// Stops stock pushes to the channel (persisted). Its orders are still booked.
#[utoipa::path(
    post, path = "/admin/channels/{id}/pause", tag = "channels",
    params(("id" = String, Path, description = "The channel id")),
    responses(
        (status = 200, description = "The channel is paused", body = PauseResponse),
        (status = 404, description = "No such enabled channel"),
    )
)]
pub async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PauseResponse>, AdminError> {
    set_paused(&state, id, true).await
}

/// Resumes stock pushes: what accumulated while paused is pushed, one quantity per listing.
#[utoipa::path(
    post, path = "/admin/channels/{id}/resume", tag = "channels",
    params(("id" = String, Path, description = "The channel id")),
    responses(
        (status = 200, description = "The channel is resumed", body = PauseResponse),
        (status = 404, description = "No such enabled channel"),
    )
)]
pub async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PauseResponse>, AdminError> {
    set_paused(&state, id, false).await
}

async fn set_paused(
    state: &AppState,
    id: String,
    paused: bool,
) -> Result<Json<PauseResponse>, AdminError> {
    match state.operators.set_paused(&id, paused).await {
        Ok(()) => Ok(Json(PauseResponse { id, paused })),
        Err(PauseError::UnknownChannel(id)) => {
            Err(AdminError::NotFound(format!("unknown channel {id:?}")))
        }
        Err(PauseError::Ledger(error)) => Err(AdminError::Internal(error)),
    }
}

/// A channel's push activity: the live one on the sync leader, where the pushers run, or what
/// the leader last published elsewhere.
#[derive(Default)]
struct PushView {
    backlog_skus: usize,
    calls_last_minute: usize,
    last_confirmed_at: Option<i64>,
    last_error: Option<(i64, String)>,
    sweep: Option<SweepStatus>,
    last_sweep_done: Option<i64>,
    degraded: Option<bool>,
    bus_dead_lettered: Option<u64>,
}

impl PushView {
    fn live(channel: &ChannelRuntime) -> Self {
        let activity = channel.control.snapshot();
        Self {
            backlog_skus: activity.backlog.len(),
            calls_last_minute: activity.recent_calls.len(),
            last_confirmed_at: activity.last_push_confirmed,
            last_error: activity.last_push_error.clone(),
            sweep: activity.sweep.as_ref().map(|sweep| SweepStatus {
                cause: sweep.cause.to_string(),
                started_at: time(sweep.started_at),
                skus_read: sweep.skus_read,
            }),
            last_sweep_done: activity.last_sweep_done,
            degraded: Some(channel.client.is_degraded()),
            bus_dead_lettered: Some(channel.control.dead_lettered()),
        }
    }

    fn published(record: &PushActivityRecord) -> Self {
        Self {
            backlog_skus: usize::try_from(record.backlog_skus).unwrap_or(0),
            calls_last_minute: usize::try_from(record.calls_last_minute).unwrap_or(0),
            last_confirmed_at: record.last_confirmed_at,
            last_error: record.last_error_at.zip(record.last_error.clone()),
            sweep: record.sweep_cause.clone().zip(record.sweep_started_at).map(
                |(cause, started_at)| SweepStatus {
                    cause,
                    started_at: time(started_at),
                    skus_read: record
                        .sweep_skus
                        .and_then(|skus| u64::try_from(skus).ok())
                        .unwrap_or(0),
                },
            ),
            last_sweep_done: record.last_sweep_done_at,
            degraded: record.degraded.map(|degraded| degraded != 0),
            bus_dead_lettered: record
                .bus_dead_lettered
                .and_then(|count| u64::try_from(count).ok()),
        }
    }
}
