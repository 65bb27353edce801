//! `/healthz` and `/readyz`.

use crate::helpers::{spawn_app, spawn_app_on_postgres};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn readyz_answers_200_when_the_sqlite_ledger_answers() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn readyz_answers_200_when_the_postgres_ledger_answers() {
    let app = spawn_app_on_postgres().await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn readyz_answers_503_with_a_reason_once_the_database_is_gone() {
    let mut app = spawn_app_on_postgres().await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    app.database.drop_now().await;

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"].as_str().unwrap().contains("database"),
        "{body}"
    );
    // The process itself is still alive.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_answer_404() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/nothing-here").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn build_fails_with_the_address_when_the_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let folder = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", folder.path().join("ledger.db").display());
    let mut settings = crate::helpers::test_settings(&url);
    settings.http.listen = taken.local_addr().unwrap();
    let error = omnistock::app::App::build(settings).await.err().unwrap();
    assert!(
        matches!(error, omnistock::app::AppError::Bind { address, .. } if address == taken.local_addr().unwrap()),
        "{error}"
    );
}
