//! `POST /webhooks/{channel_id}`: signed order webhooks from the channels.
//!
//! The answer tells the platform whether to deliver again, so it is chosen with care: 2xx only
//! once the booking is durable; 401 for a bad signature (nothing stored); 400 with the reason
//! for a body that cannot be understood; 404 for a channel that is not configured; 413 for a
//! body over `http.max_body_bytes`; 408 for a body not received within `http.body_read_timeout`;
//! 503 when the ledger cannot book within `http.webhook_booking_timeout` (the platform retries,
//! and its redelivery books nothing twice, see `sync/intake.rs`). A webhook that names orders
//! without their state (TikTok Shop) is answered 200 once its receipt is durable, booked or
//! not: the receipt comes first (see `sync/receipts.rs`). An order the ledger refuses
//! for good (a value the database cannot store, say) is quarantined and answered 200
//! `quarantined`: redelivering it forever would help nobody, and an operator retries it from
//! the quarantine.

use crate::http::body_timeout::is_body_read_timeout;
use crate::http::AppState;
use crate::ledger::quarantine::order_label;
use crate::sync::channel::ChannelRuntime;
use crate::sync::gateway::Interrupt;
use crate::sync::quarantine::EventBooking;
use crate::sync::receipts::{self, ReceiptError};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use omnistock_connector::{OrderEvent, WebhookError, WebhookRequest};
use serde_json::json;
use std::collections::BTreeMap;
use tracing::{info, warn};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/{channel_id}", post(receive_webhook))
}

async fn receive_webhook(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (status, reply) = handle(&state, &channel_id, &headers, body).await;
    if state.channels.contains_key(&channel_id) {
        state.metrics.webhook_response(&channel_id, status.as_u16());
        state
            .operators
            .webhooks
            .record(&channel_id, status.as_u16());
    }
    (status, Json(reply)).into_response()
}

async fn handle(
    state: &AppState,
    channel_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (StatusCode, serde_json::Value) {
    let Some(channel) = state.channels.get(channel_id) else {
        warn!(channel = %channel_id, "webhook for an unknown channel refused");
        return (
            StatusCode::NOT_FOUND,
            json!({ "error": format!("unknown channel {channel_id:?}") }),
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            warn!(channel = %channel_id, error = %rejection.body_text(), "webhook body refused");
            // The body timeout's middleware answers 408 whatever this says; the status here is
            // the one counted.
            let status = if is_body_read_timeout(&rejection) {
                StatusCode::REQUEST_TIMEOUT
            } else {
                rejection.status()
            };
            return (status, json!({ "error": rejection.body_text() }));
        }
    };
    let lowercase_headers: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_ascii_lowercase(), value.to_string()))
        })
        .collect();
    let request = WebhookRequest {
        headers: &lowercase_headers,
        body: &body,
    };
    let events = match channel.connector.parse_webhook(&request) {
        Ok(events) => events,
        Err(WebhookError::BadSignature(reason)) => {
            warn!(channel = %channel_id, reason = %reason, "webhook with a bad signature refused");
            return (
                StatusCode::UNAUTHORIZED,
                json!({ "error": "bad signature" }),
            );
        }
        Err(WebhookError::Malformed(reason)) => {
            warn!(channel = %channel_id, reason = %reason, "malformed webhook refused");
            return (StatusCode::BAD_REQUEST, json!({ "error": reason }));
        }
        Err(WebhookError::IgnoredTopic(topic)) => {
            info!(channel = %channel_id, topic = %topic, "webhook topic ignored");
            return (
                StatusCode::OK,
                json!({ "status": "ignored", "topic": topic }),
            );
        }
    };
    let mut events = events;
    let started = tokio::time::Instant::now();
    let budget = state.settings.http.webhook_booking_timeout;
    let receipt = match receive_named_orders(state, channel, &request, budget).await {
        Ok(Some((receipt, fetched))) => {
            events.extend(fetched);
            Some(receipt)
        }
        Ok(None) => None,
        Err(answer) => return answer,
    };
    // The intake's writers finish a booking even if this request is dropped (a platform that
    // hangs up), so a redelivery finds it done.
    let booked = state
        .intake
        .book_or_quarantine(
            channel,
            &events,
            Some(budget.saturating_sub(started.elapsed())),
        )
        .await;
    match booked {
        Ok(outcomes) => {
            if let Some(receipt) = receipt {
                receipts::settle(&state.ledger, channel_id, receipt.id).await;
            }
            let results: Vec<serde_json::Value> = events
                .iter()
                .zip(&outcomes)
                .map(|(event, outcome)| match outcome {
                    EventBooking::Booked(outcome) => json!({
                        "order": event.external_order_id,
                        "result": outcome.result.as_str(),
                    }),
                    EventBooking::Quarantined { id, .. } => json!({
                        "order": order_label(&event.external_order_id),
                        "result": "quarantined",
                        "quarantine_id": id,
                    }),
                })
                .collect();
            (
                StatusCode::OK,
                json!({ "status": "booked", "orders": results }),
            )
        }
        Err(error) => match receipt {
            Some(receipt) => {
                pending(state, channel_id, receipt, ReceiptError::Booking(error)).await
            }
            None => {
                warn!(channel = %channel_id, error = %error, "webhook could not be booked; asking the platform to retry");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "error": "the ledger is unavailable; retry later" }),
                )
            }
        },
    }
}

/// A stored receipt of a webhook naming orders (see `sync/receipts.rs`).
#[derive(Debug, Clone, Copy)]
struct Receipt {
    id: i64,
    /// Failed attempts before this one.
    attempts: i64,
}

/// The answer to a webhook whose receipt is durable but whose orders are not booked: 200, the
/// sync leader books them later.
async fn pending(
    state: &AppState,
    channel_id: &str,
    receipt: Receipt,
    error: ReceiptError,
) -> (StatusCode, serde_json::Value) {
    if let Err(noted) = receipts::note_failure(
        &state.ledger,
        channel_id,
        receipt.id,
        receipt.attempts,
        &error,
    )
    .await
    {
        // The receipt stays due now: the leader tries it at its next look.
        warn!(channel = %channel_id, receipt = receipt.id, error = %noted, "a webhook receipt's failure could not be recorded");
    }
    (
        StatusCode::OK,
        json!({ "status": "received", "receipt": receipt.id }),
    )
}

/// For a webhook naming orders without their state (TikTok Shop): stores its receipt durably
/// first (503 when that fails, so that the platform delivers again), then fetches the orders
/// through the channel's gateway within `budget`. A fetch that fails or is slow, or a
/// redelivery of a receipt still pending, is answered 200 at once: the receipt is durable and
/// the sync leader fetches and books it. `None` when the webhook names no orders.
async fn receive_named_orders(
    state: &AppState,
    channel: &ChannelRuntime,
    request: &WebhookRequest<'_>,
    budget: std::time::Duration,
) -> Result<Option<(Receipt, Vec<OrderEvent>)>, (StatusCode, serde_json::Value)> {
    let refs = match channel.connector.webhook_order_ids(request) {
        Ok(refs) => refs,
        // `parse_webhook` accepted the same request: only a connector disagreeing with itself.
        Err(error) => {
            warn!(channel = %channel.id, error = %error, "webhook naming orders refused");
            return Err((
                StatusCode::BAD_REQUEST,
                json!({ "error": error.to_string() }),
            ));
        }
    };
    if refs.is_empty() {
        return Ok(None);
    }
    let delivery = receipts::delivery_key(&refs, request.body);
    let (id, new) = match state
        .ledger
        .webhook_receipts()
        .add(
            &channel.id,
            &delivery,
            &refs,
            receipts::leader_waits(budget),
        )
        .await
    {
        Ok(stored) => stored,
        Err(error) => {
            warn!(channel = %channel.id, delivery = %delivery, error = %error, "a webhook receipt could not be stored; asking the platform to retry");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "the ledger is unavailable; retry later" }),
            ));
        }
    };
    if !new {
        info!(channel = %channel.id, delivery = %delivery, receipt = id, "webhook redelivered while its receipt is pending");
        return Err((
            StatusCode::OK,
            json!({ "status": "received", "receipt": id }),
        ));
    }
    let receipt = Receipt { id, attempts: 0 };
    match receipts::fetch_named(channel, &refs, budget, &Interrupt::never()).await {
        Ok(fetched) => Ok(Some((receipt, fetched))),
        Err(error) => Err(pending(state, &channel.id, receipt, error).await),
    }
}
