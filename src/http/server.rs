//! Serves the router on the bound listener (HTTP/1.1), with a header read timeout, until the
//! shutdown future completes; then stops accepting and lets the open connections finish.
//!
//! axum's own `serve` sets no read timeouts, so a client that sends half a request head keeps
//! its connection (and a graceful stop) waiting forever. Here hyper closes a connection whose
//! head is not complete within `http.header_read_timeout` (an idle keep-alive connection too),
//! and [`super::body_timeout`] bounds the body; a graceful stop therefore waits at most about the
//! longer of the two plus the slowest handler.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{debug, error};

/// Serves `router` on `listener` until `shutdown` completes, then waits for the open
/// connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    wait_after_accept_error(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            debug!(error = %error, "could not set TCP_NODELAY");
        }
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A client that went away or was too slow (the header read timeout).
                debug!(error = %error, "http connection ended with an error");
            }
        });
    }
    drop(listener);
    debug!(
        connections = graceful.count(),
        "http server stopping; waiting for open connections"
    );
    graceful.shutdown().await;
}

/// A failed accept of one connection (reset before it was accepted) is ignored; anything else
/// (out of file descriptors) is logged and waited out for a second, as hyper used to.
async fn wait_after_accept_error(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    error!(error = %error, "accepting an http connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
