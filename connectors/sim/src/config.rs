//! The settings of one sim channel, as they appear under a channel's `options` in the
//! daemon's configuration.

use crate::server::DEFAULT_MAX_BATCH;
use omnistock_connector::{RateLimit, Secret};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long one request to the sim may take unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;

/// How far before its cursor a poll re-reads unless configured otherwise.
pub const DEFAULT_POLL_OVERLAP_MS: u64 = 2_000;

/// Settings of a `sim` channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimChannelConfig {
    /// The sim's address, e.g. `http://127.0.0.1:8081` (no trailing `/api`).
    pub base_url: String,
    /// The Bearer token `/api/*` requires.
    pub api_token: Secret,
    /// The key the sim signs webhooks with (HMAC-SHA256).
    pub webhook_secret: Secret,
    /// The most stock updates sent in one request; the sim's default is 50.
    #[serde(default)]
    pub max_batch: Option<usize>,
    /// How long one request may take before it counts as a transient failure, in
    /// milliseconds; 10000 when left out.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// The sim's limit on stock-update calls, when it is configured with one (`"N/s"` or
    /// `"N/min"`); the runtime paces pushes to it.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// How far before the stored cursor each poll starts reading again, in milliseconds;
    /// 2000 when left out, 0 turns it off. An order stamped just before the cursor but made
    /// visible just after the previous poll (a slow write on the platform's side) is then
    /// still read; the copies read twice book once.
    #[serde(default)]
    pub poll_overlap_ms: Option<u64>,
}

/// Why a sim channel's settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimConfigError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("cannot build the http client: {0}")]
    Client(String),
}

impl SimChannelConfig {
    pub fn max_batch(&self) -> usize {
        self.max_batch.unwrap_or(DEFAULT_MAX_BATCH)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(
            self.request_timeout_ms
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS),
        )
    }

    pub fn poll_overlap(&self) -> Duration {
        Duration::from_millis(self.poll_overlap_ms.unwrap_or(DEFAULT_POLL_OVERLAP_MS))
    }

    /// Checks what serde cannot: a usable URL, non-empty secrets, positive numbers.
    pub fn validate(&self) -> Result<(), SimConfigError> {
        let invalid = |field: &'static str, reason: &str| SimConfigError::Invalid {
            field,
            reason: reason.to_string(),
        };
        match reqwest::Url::parse(&self.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(_) => return Err(invalid("base_url", "must be an http or https URL")),
            Err(error) => return Err(invalid("base_url", &error.to_string())),
        }
        if self.api_token.is_empty() {
            return Err(invalid("api_token", "must not be empty"));
        }
        if self.webhook_secret.is_empty() {
            return Err(invalid("webhook_secret", "must not be empty"));
        }
        if self.max_batch == Some(0) {
            return Err(invalid("max_batch", "must be positive"));
        }
        if self.request_timeout_ms == Some(0) {
            return Err(invalid("request_timeout_ms", "must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SimChannelConfig {
        SimChannelConfig {
            base_url: "http://127.0.0.1:9".into(),
            api_token: Secret::new("t"),
            webhook_secret: Secret::new("w"),
            max_batch: None,
            request_timeout_ms: None,
            rate_limit: None,
            poll_overlap_ms: None,
        }
    }

    #[test]
    fn validate_names_the_bad_field() {
        assert_eq!(config().validate(), Ok(()));
        let mut bad = config();
        bad.base_url = "ftp://x".into();
        assert!(matches!(
            bad.validate(),
            Err(SimConfigError::Invalid {
                field: "base_url",
                ..
            })
        ));
        let mut bad = config();
        bad.webhook_secret = Secret::new("");
        assert_eq!(
            bad.validate().map_err(|e| e.to_string()),
            Err("webhook_secret: must not be empty".to_string())
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<SimChannelConfig, _> = serde_json::from_value(serde_json::json!({
            "base_url": "http://x", "api_token": "a", "webhook_secret": "b", "foo": 1
        }));
        assert!(parsed
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default()
            .contains("unknown field `foo`"));
    }
}
