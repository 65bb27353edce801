//! The settings of an Amazon channel's notification queue: the seller's SQS queue that
//! `ORDER_CHANGE` notifications are delivered to, and the AWS credentials that read it.

use omnistock_connector::Secret;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long one receive waits for a message unless configured otherwise (SQS's maximum long
/// poll: one request per 20 s while the queue is empty).
pub const DEFAULT_WAIT_TIME_SECS: u32 = 20;
/// Messages per receive unless configured otherwise (SQS's maximum).
pub const DEFAULT_MAX_MESSAGES: u32 = 10;
/// How long a received message stays hidden from other receivers unless configured otherwise:
/// long enough to book a batch, short enough that a crash delays a notification by a minute.
pub const DEFAULT_VISIBILITY_TIMEOUT_SECS: u32 = 60;

/// `notifications` under an `amazon` channel's options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationQueueConfig {
    /// The queue's URL (`https://sqs.eu-west-1.amazonaws.com/123456789012/omnistock-orders`):
    /// requests go to its origin unless `endpoint` says otherwise.
    pub queue_url: String,
    /// The queue's AWS region (`eu-west-1`), the region requests are signed for.
    pub region: String,
    /// The access key id of an IAM identity allowed `sqs:ReceiveMessage` and
    /// `sqs:DeleteMessage` on the queue.
    pub access_key_id: Secret,
    /// That access key's secret.
    pub secret_access_key: Secret,
    /// The session token, with temporary credentials only.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// Replaces the queue URL's origin as the endpoint requests are sent to, for tests against
    /// a local SQS-compatible server (`http://127.0.0.1:5000`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// How long one receive waits for a message, 1 to 20 seconds; 20 when left out.
    #[serde(default)]
    pub wait_time_secs: Option<u32>,
    /// Messages per receive, 1 to 10; 10 when left out.
    #[serde(default)]
    pub max_messages: Option<u32>,
    /// How long a received message stays hidden from other receivers before it is delivered
    /// again unless deleted, 1 to 43200 seconds; 60 when left out.
    #[serde(default)]
    pub visibility_timeout_secs: Option<u32>,
}

/// Why a notification queue's settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notifications.{field}: {reason}")]
pub struct QueueConfigError {
    pub field: &'static str,
    pub reason: String,
}

impl NotificationQueueConfig {
    pub fn wait_time_secs(&self) -> u32 {
        self.wait_time_secs.unwrap_or(DEFAULT_WAIT_TIME_SECS)
    }

    pub fn max_messages(&self) -> u32 {
        self.max_messages.unwrap_or(DEFAULT_MAX_MESSAGES)
    }

    pub fn visibility_timeout_secs(&self) -> u32 {
        self.visibility_timeout_secs
            .unwrap_or(DEFAULT_VISIBILITY_TIMEOUT_SECS)
    }

    /// How long a receive may take: its wait and the request's own timeout.
    pub fn receive_timeout(&self, request_timeout: Duration) -> Duration {
        Duration::from_secs(u64::from(self.wait_time_secs())) + request_timeout
    }

    /// Where requests are sent: `endpoint`, or the queue URL's origin.
    pub fn endpoint(&self) -> Result<reqwest::Url, QueueConfigError> {
        let invalid = |field: &'static str, reason: String| QueueConfigError { field, reason };
        let queue = reqwest::Url::parse(&self.queue_url)
            .map_err(|error| invalid("queue_url", error.to_string()))?;
        if !matches!(queue.scheme(), "http" | "https") || queue.host_str().is_none() {
            return Err(invalid("queue_url", "must be an http or https URL".into()));
        }
        let text = match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => queue.origin().ascii_serialization(),
        };
        match reqwest::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
            Ok(_) => Err(invalid("endpoint", "must be an http or https URL".into())),
            Err(error) => Err(invalid("endpoint", error.to_string())),
        }
    }

    /// Checks what serde cannot: usable URLs, non-empty credentials, numbers in SQS's ranges.
    pub fn validate(&self) -> Result<(), QueueConfigError> {
        let invalid = |field: &'static str, reason: &str| QueueConfigError {
            field,
            reason: reason.to_string(),
        };
        self.endpoint()?;
        if self.region.trim().is_empty()
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid("region", "expected an AWS region like eu-west-1"));
        }
        if self.access_key_id.is_empty() {
            return Err(invalid("access_key_id", "must not be empty"));
        }
        if self.secret_access_key.is_empty() {
            return Err(invalid("secret_access_key", "must not be empty"));
        }
        if !(1..=20).contains(&self.wait_time_secs()) {
            return Err(invalid("wait_time_secs", "must be between 1 and 20"));
        }
        if !(1..=10).contains(&self.max_messages()) {
            return Err(invalid("max_messages", "must be between 1 and 10"));
        }
        if !(1..=43_200).contains(&self.visibility_timeout_secs()) {
            return Err(invalid(
                "visibility_timeout_secs",
                "must be between 1 and 43200",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config() -> NotificationQueueConfig {
        serde_json::from_value(serde_json::json!({
            "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
            "region": "eu-west-1",
            "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": "wJalrXUtnFEMI",
        }))
        .unwrap()
    }

    #[test]
    fn defaults_endpoint_and_redaction() {
        let config = config();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(
            config.endpoint().unwrap().as_str(),
            "https://sqs.eu-west-1.amazonaws.com/"
        );
        assert_eq!((config.wait_time_secs(), config.max_messages()), (20, 10));
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("wJalr") && !debug.contains("AKIAEXAMPLE"),
            "{debug}"
        );
        let mut local = config.clone();
        local.endpoint = Some("http://127.0.0.1:5000".into());
        assert_eq!(local.endpoint().unwrap().as_str(), "http://127.0.0.1:5000/");
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let mut bad = config();
        bad.wait_time_secs = Some(21);
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "notifications.wait_time_secs: must be between 1 and 20"
        );
        let mut bad = config();
        bad.max_messages = Some(0);
        assert!(bad.validate().is_err());
        let mut bad = config();
        bad.queue_url = "ftp://x/1/q".into();
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("notifications.queue_url"));
        let mut bad = config();
        bad.secret_access_key = Secret::new("");
        assert!(bad.validate().is_err());
    }
}
