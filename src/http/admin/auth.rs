//! Bearer-token authentication of the admin API.
//!
//! The token comes from `admin.token`. Without one configured the admin API refuses every
//! request (an open admin API on a merchant's stock is never what an operator wants). The
//! comparison takes constant time, also in the token's length (see [`token_matches`]), and
//! neither the expected nor the offered token is logged.

use crate::http::AppState;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub async fn require_admin_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state
        .settings
        .admin
        .token
        .as_ref()
        .filter(|t| !t.is_empty())
    else {
        tracing::warn!(path = %request.uri().path(), "admin request refused: admin.token is not set");
        return refuse("the admin API is disabled: set admin.token");
    };
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if token_matches(offered, expected.expose()) {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "admin request refused: missing or wrong bearer token");
        refuse("missing or wrong bearer token")
    }
}

/// Whether the offered token is the expected one. Comparing the tokens themselves would return
/// early when their lengths differ (`ct_eq` of slices does), telling a prober the token's
/// length; their SHA-256 digests always have 32 bytes, and those are compared in constant time.
fn token_matches(offered: &str, expected: &str) -> bool {
    let offered = Sha256::digest(offered.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    bool::from(offered.as_slice().ct_eq(expected.as_slice()))
}

fn refuse(reason: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({ "error": reason })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    // Whether the comparison's time depends on the length cannot be measured reliably in a
    // test; what is tested is that it compares fixed-size digests and still decides right.
    #[test]
    fn equal_tokens_match_and_others_of_any_length_do_not() {
        let expected = "s3cret-admin-token";
        assert!(token_matches(expected, expected));
        for offered in [
            "",
            "s",
            "s3cret-admin-toke",
            "s3cret-admin-token ",
            "s3cret-admin-tokem",
            "s3cret-admin-token-and-more",
        ] {
            assert!(!token_matches(offered, expected), "{offered:?} matched");
        }
    }
}
