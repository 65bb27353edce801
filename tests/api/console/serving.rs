//! The console's files: served from the binary with their content types, revalidated by
//! `ETag`, referring to nothing outside the daemon; and `GET /admin/items?q=`, the item search
//! the console's Items page uses.

use crate::helpers::{spawn_app, spawn_app_with, test_settings, TestApp, TestDatabase};
use omnistock::ledger::MovementMeta;
use omnistock_connector::Secret;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;

const TOKEN: &str = "console-search-token";

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .send()
        .await
        .unwrap()
}

/// The files a text refers to: `/console/x` in the page, `./x.js` in an import.
fn referred_files(text: &str) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for (prefix, end) in [("\"/console/", '"'), ("from './", '\'')] {
        for (index, _) in text.match_indices(prefix) {
            let rest = &text[index + prefix.len()..];
            if let Some(name) = rest.split(end).next() {
                files.insert(name.to_string());
            }
        }
    }
    files
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_its_types_and_revalidated() {
    let app = spawn_app().await;

    let page = get(&app, "/console").await;
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[CACHE_CONTROL], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    let html = page.text().await.unwrap();

    // Every file the page and its scripts refer to is served, with its type, and none of them
    // refers to anything outside the daemon.
    let mut pending: Vec<String> = referred_files(&html).into_iter().collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let response = get(&app, &format!("/console/{name}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let expected = match name.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("unexpected file type {other}"),
        };
        assert_eq!(response.headers()[CONTENT_TYPE], expected, "{name}");
        let text = response.text().await.unwrap();
        let outside = text
            .replace("http://www.w3.org/2000/svg", "")
            .contains("://");
        assert!(!outside, "{name} refers to something outside the daemon");
        pending.extend(referred_files(&text));
    }
    for name in [
        "main.js",
        "api.js",
        "channels.js",
        "items.js",
        "lists.js",
        "reports.js",
        "console.css",
    ] {
        assert!(seen.contains(name), "{name} is not referred to: {seen:?}");
    }

    // A browser holding the current copy gets a 304 without a body.
    let etag = headers[ETAG].to_str().unwrap().to_string();
    let again = app
        .client
        .get(app.url("/console"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());
    let stale = app
        .client
        .get(app.url("/console"))
        .header(IF_NONE_MATCH, "\"an-older-version\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);

    let slash = get(&app, "/console/").await;
    assert_eq!(slash.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(slash.headers()[LOCATION], "/console");
    assert_eq!(
        get(&app, "/console/secrets.txt").await.status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await.unwrap();
}

async fn search_app(postgres: bool) -> TestApp {
    let (database, url) = if postgres {
        TestDatabase::postgres().await
    } else {
        TestDatabase::sqlite()
    };
    let mut settings = test_settings(&url);
    settings.admin.token = Some(Secret::new(TOKEN));
    spawn_app_with(settings, database).await
}

async fn search(app: &TestApp, query: &str) -> (StatusCode, Value) {
    app.admin_get(TOKEN, &format!("/admin/items{query}")).await
}

fn skus(found: &Value) -> Vec<&str> {
    found
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {found}"))
        .iter()
        .map(|item| item["sku"].as_str().unwrap())
        .collect()
}

async fn items_are_found_by_a_piece_of_their_sku_or_title(postgres: bool) {
    let app = search_app(postgres).await;
    let ledger = &app.ledger;
    ledger.upsert_location("main", "Main").await.unwrap();
    for (sku, title) in [
        ("MUG-BLUE", "Blue mug"),
        ("MUG", "Plain mug"),
        ("TEE-RED", "Red T-shirt"),
        ("100%_COTTON", "Cotton bag"),
    ] {
        ledger.upsert_item(sku, title).await.unwrap();
    }
    ledger
        .receive(
            "MUG-BLUE",
            "main",
            5,
            &MovementMeta::new("receive-mug-blue"),
        )
        .await
        .unwrap();

    let (status, found) = search(&app, "?q=mug").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        skus(&found),
        ["MUG", "MUG-BLUE"],
        "by SKU and title, ignoring case"
    );
    assert_eq!(found[1]["title"], "Blue mug");
    assert_eq!(found[1]["available"], 5);
    assert_eq!(found[0]["available"], 0);

    let (_, found) = search(&app, "?q=T-SHIRT").await;
    assert_eq!(skus(&found), ["TEE-RED"], "by title");
    let (_, found) = search(&app, "?q=MUG-BLUE").await;
    assert_eq!(skus(&found), ["MUG-BLUE"]);
    // The exact SKU first, then the others by SKU.
    let (_, found) = search(&app, "?q=MUG&limit=1").await;
    assert_eq!(skus(&found), ["MUG"]);
    // LIKE's wildcards are taken literally.
    let (_, found) = search(&app, "?q=%25_").await;
    assert_eq!(skus(&found), ["100%_COTTON"]);
    let (_, found) = search(&app, "?q=_").await;
    assert_eq!(skus(&found), ["100%_COTTON"]);
    let (_, found) = search(&app, "").await;
    assert_eq!(
        found.as_array().unwrap().len(),
        4,
        "no text lists every item"
    );

    let (status, refused) = search(&app, "?q=mug&limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["field"], "limit");
    let (status, refused) = search(&app, &format!("?q={}", "x".repeat(201))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["field"], "q");
    let (status, _) = app.admin_get("wrong-token", "/admin/items?q=mug").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_found_by_a_piece_of_their_sku_or_title_on_sqlite() {
    items_are_found_by_a_piece_of_their_sku_or_title(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_found_by_a_piece_of_their_sku_or_title_on_postgres() {
    items_are_found_by_a_piece_of_their_sku_or_title(true).await;
}
