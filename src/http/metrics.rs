//! `GET /metrics`: Prometheus text exposition of [`crate::metrics::Metrics`].

use crate::http::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Response {
    // Checked at each scrape, so that `omnistock_ledger_up` is never older than the scrape.
    let ledger_up = crate::http::health::ledger_answers(&state).await.is_ok();
    state.metrics.ledger_up(ledger_up);
    // Connectors know their alerts; they are counted when scraped.
    for channel in state.channels.values() {
        state
            .metrics
            .channel_alerts(&channel.id, channel.connector.alerts().len());
    }
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "encoding metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
