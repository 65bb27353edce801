//! The body read timeout: a request's whole body must arrive within `http.body_read_timeout` of
//! its head, or the request is answered 408 and its connection closed.
//!
//! A deadline for the whole body, not per chunk: a client trickling a byte at a time would
//! otherwise hold a connection (and a graceful stop) for as long as it likes. (The head has
//! its own bound, hyper's header read timeout, set in [`super::server`].)

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body::{Frame, SizeHint};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The error a body gives when its deadline passed before its end arrived.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {}ms", .0.as_millis())]
pub struct BodyReadTimeout(Duration);

/// Whether `error` (or an error it wraps) is a [`BodyReadTimeout`].
pub fn is_body_read_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<BodyReadTimeout>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// Middleware: gives the request's body a deadline `timeout` from now, and answers 408 (closing
/// the connection) when a handler's read of it ran out of time, whatever the handler answered.
pub async fn bound_body_read(timeout: Duration, request: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let flag = expired.clone();
    let request = request.map(|body| Body::new(DeadlineBody::new(body, timeout, flag)));
    let response = next.run(request).await;
    if expired.load(Ordering::Acquire) {
        tracing::warn!(
            timeout_ms = timeout.as_millis() as u64,
            "request body not received in time; connection closed"
        );
        return (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            Json(json!({ "error": BodyReadTimeout(timeout).to_string() })),
        )
            .into_response();
    }
    response
}

/// A body that fails with [`BodyReadTimeout`] once its deadline passes before its end.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    expired: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn new(inner: Body, timeout: Duration, expired: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
            expired,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        // The deadline is looked at first, so a trickle of data cannot outrun it.
        if self.deadline.as_mut().poll(context).is_ready() {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(axum::Error::new(BodyReadTimeout(self.timeout)))));
        }
        Pin::new(&mut self.inner).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::FromRequest;

    #[tokio::test]
    async fn a_body_that_never_ends_fails_as_a_timeout() {
        let never_ends =
            Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
        let expired = Arc::new(AtomicBool::new(false));
        let body = DeadlineBody::new(never_ends, Duration::from_millis(20), expired.clone());
        let request = Request::new(Body::new(body));
        let rejection = Bytes::from_request(request, &())
            .await
            .err()
            .unwrap_or_else(|| panic!("a body that never ends was read"));
        assert!(is_body_read_timeout(&rejection), "{rejection}");
        assert!(expired.load(Ordering::Acquire));
        let other = std::io::Error::other("reset");
        assert!(!is_body_read_timeout(&other));
    }
}
