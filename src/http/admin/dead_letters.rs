//! `GET /admin/dead-letters` (listing updates a channel refused for good, with the error) and
//! `POST /admin/dead-letters/{id}/retry` / `…/discard`.

use super::error::AdminError;
use super::AdminRoute;
use crate::http::AppState;
use crate::ledger::DeadLetterRecord;
use crate::ops::dead_letters::{self, DeadLetterError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Vec<AdminRoute> {
    vec![
        AdminRoute::get("/dead-letters", list_dead_letters),
        AdminRoute::post("/dead-letters/{id}/retry", retry),
        AdminRoute::post("/dead-letters/{id}/discard", discard),
    ]
}

/// A parked listing update.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterView {
    pub id: i64,
    pub channel: String,
    pub listing_id: String,
    pub sku: String,
    /// The quantity the channel refused.
    pub quantity: i64,
    pub error: String,
    /// Refusals since it was first parked.
    pub attempts: i64,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
}

impl From<DeadLetterRecord> for DeadLetterView {
    fn from(letter: DeadLetterRecord) -> Self {
        let time = |millis| DateTime::from_timestamp_millis(millis).unwrap_or_default();
        Self {
            id: letter.id,
            channel: letter.channel_id,
            listing_id: letter.listing_id,
            sku: letter.sku,
            quantity: letter.quantity,
            error: letter.error,
            attempts: letter.attempts,
            first_failed_at: time(letter.created_at),
            last_failed_at: time(letter.updated_at),
        }
    }
}

/// What was done with a dead letter.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterAction {
    /// `retrying` or `discarded`.
    pub status: String,
    pub dead_letter: DeadLetterView,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLettersQuery {
    /// Only this channel's.
    pub channel: Option<String>,
}

/// Parked listing updates, oldest first.
#[utoipa::path(
    get, path = "/admin/dead-letters", tag = "dead letters",
    params(DeadLettersQuery),
    responses((status = 200, description = "Dead letters", body = [DeadLetterView]))
)]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    Query(query): Query<DeadLettersQuery>,
) -> Result<Json<Vec<DeadLetterView>>, AdminError> {
    let letters = state
        .ledger
        .dead_letters()
        .list(query.channel.as_deref())
        .await?;
    Ok(Json(
        letters.into_iter().map(DeadLetterView::from).collect(),
    ))
}

fn map_error(error: DeadLetterError) -> AdminError {
    match error {
        DeadLetterError::Unknown(id) => AdminError::NotFound(format!("unknown dead letter {id}")),
        error @ DeadLetterError::ChannelGone(_) => AdminError::Conflict(error.to_string()),
        DeadLetterError::Ledger(error) => AdminError::Internal(error),
    }
}

/// Sends the listing's update again (at its quantity now), after live pushes; a new refusal
/// parks it again.
#[utoipa::path(
    post, path = "/admin/dead-letters/{id}/retry", tag = "dead letters",
    operation_id = "retry_dead_letter",
    params(("id" = i64, Path, description = "The dead letter id")),
    responses(
        (status = 202, description = "The update is being sent again", body = DeadLetterAction),
        (status = 404, description = "No such dead letter"),
        (status = 409, description = "Its channel is no longer enabled"),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<DeadLetterAction>), AdminError> {
    let letter = state.ledger.dead_letters().get(id).await?;
    let channel = letter
        .as_ref()
        .and_then(|letter| state.channels.get(&letter.channel_id));
    let letter = dead_letters::retry(&state.ledger, channel, id)
        .await
        .map_err(map_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DeadLetterAction {
            status: "retrying".into(),
            dead_letter: letter.into(),
        }),
    ))
}

/// Drops the dead letter; the listing is pushed again from its next stock change.
#[utoipa::path(
    post, path = "/admin/dead-letters/{id}/discard", tag = "dead letters",
    operation_id = "discard_dead_letter",
    params(("id" = i64, Path, description = "The dead letter id")),
    responses(
        (status = 200, description = "Discarded", body = DeadLetterAction),
        (status = 404, description = "No such dead letter"),
    )
)]
pub async fn discard(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DeadLetterAction>, AdminError> {
    let letter = dead_letters::discard(&state.ledger, id)
        .await
        .map_err(map_error)?;
    Ok(Json(DeadLetterAction {
        status: "discarded".into(),
        dead_letter: letter.into(),
    }))
}
