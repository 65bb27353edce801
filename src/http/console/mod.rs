//! The operator console: a few static pages served under `/console`, built into the binary
//! (nothing is loaded from elsewhere at run time). The pages are a client of the admin API:
//! they ask for the admin token, keep it in the browser tab's `sessionStorage`, and send it as
//! `Authorization: Bearer` on every call to `/admin/…`. Serving the assets needs no token, and
//! they hold nothing secret.
//!
//! Caching: every answer carries a strong `ETag` (a digest of the asset) and
//! `Cache-Control: no-cache`, so a browser revalidates each time (a `304` without a body) and
//! an upgraded daemon's pages are used at once.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("assets/index.html"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/console.css"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/api.js"),
    },
    Asset {
        name: "view.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/view.js"),
    },
    Asset {
        name: "main.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/main.js"),
    },
    Asset {
        name: "channels.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/channels.js"),
    },
    Asset {
        name: "items.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/items.js"),
    },
    Asset {
        name: "lists.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/lists.js"),
    },
    Asset {
        name: "reports.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/reports.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("assets/favicon.svg"),
    },
];

/// Each asset's `ETag`, in the order of [`ASSETS`], computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let hex: String = digest[..12]
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            format!("\"{hex}\"")
        })
        .collect()
});

/// Only the page's own files, its own inline-free scripts and styles, and calls to the same
/// origin: a script injected through data shown on a page could not run or send anything away.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `/console` (the page), `/console/` and `/console/{file}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(page))
        .route(
            "/console/",
            get(|| async { Redirect::permanent("/console") }),
        )
        .route("/console/{file}", get(file))
}

async fn page(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name) else {
        return (StatusCode::NOT_FOUND, "no such console file").into_response();
    };
    let asset = &ASSETS[index];
    let etag = ETAGS.get(index).map(String::as_str).unwrap_or_default();
    let headers = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::ETAG, etag),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    if revalidated(request, etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, asset.body).into_response()
}

/// Whether the browser's copy is current: `If-None-Match` lists this `ETag` (or `*`).
fn revalidated(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value: &HeaderValue| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[cfg(test)]
mod tests {
    use super::{revalidated, ASSETS, ETAGS};
    use axum::http::{header, HeaderMap, HeaderValue};

    #[test]
    fn every_asset_has_its_own_etag() {
        assert_eq!(ETAGS.len(), ASSETS.len());
        let mut tags = ETAGS.clone();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }

    #[test]
    fn a_listed_etag_revalidates() {
        let mut headers = HeaderMap::new();
        assert!(!revalidated(&headers, "\"abc\""));
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(revalidated(&headers, "\"abc\""));
        assert!(!revalidated(&headers, "\"abd\""));
    }
}
