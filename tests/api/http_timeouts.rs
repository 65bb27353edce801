//! Slow clients: a connection that sends half a request head, or a head and half a body, is
//! cut off after `http.header_read_timeout` / `http.body_read_timeout`, and a graceful stop
//! completes while such clients hang.

use crate::helpers::{spawn_app_with, test_settings, TestApp, TestDatabase};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far above the timeouts under test: reaching it means a connection was never cut.
const NEVER: Duration = Duration::from_secs(20);

const HALF_A_HEAD: &[u8] = b"POST /webhooks/shop HTTP/1.1\r\nHost: omnistock\r\nContent-Ty";
const HALF_A_BODY: &[u8] = b"POST /webhooks/shop HTTP/1.1\r\nHost: omnistock\r\n\
    Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\": \"half";

async fn spawn(timeout: Duration) -> TestApp {
    let (database, url) = TestDatabase::sqlite();
    let mut settings = test_settings(&url);
    settings.http.header_read_timeout = timeout;
    settings.http.body_read_timeout = timeout;
    spawn_app_with(settings, database).await
}

async fn hanging_client(app: &TestApp, sent: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream.write_all(sent).await.unwrap();
    stream
}

/// Everything the server sends until it closes the connection.
async fn read_until_closed(mut stream: TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(NEVER, async {
        let mut buffer = [0_u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(count) => received.extend_from_slice(&buffer[..count]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server never closed the connection");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn half_a_request_head_is_cut_off() {
    let app = spawn(Duration::from_secs(1)).await;
    let client = hanging_client(&app, HALF_A_HEAD).await;
    let answer = read_until_closed(client).await;
    // hyper closes the connection (it may say 408 first).
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn half_a_body_is_answered_408_and_cut_off() {
    let app = spawn(Duration::from_secs(1)).await;
    let client = hanging_client(&app, HALF_A_BODY).await;
    let answer = read_until_closed(client).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // The server still serves everyone else.
    assert_eq!(app.get("/healthz").await.status(), reqwest::StatusCode::OK);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_graceful_stop_completes_while_slow_clients_hang() {
    let app = spawn(Duration::from_secs(2)).await;
    let head = hanging_client(&app, HALF_A_HEAD).await;
    let body = hanging_client(&app, HALF_A_BODY).await;
    // Both requests are in the server's hands before the stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = tokio::time::timeout(NEVER, app.stop()).await;
    assert!(stopped.is_ok(), "the stop waited for the slow clients");
    stopped.unwrap().unwrap();
    drop((head, body));
}
