//! How a connector tells the runtime what went wrong, so that the runtime (not the connector)
//! decides whether to retry, wait, park or alert.

use std::time::Duration;

/// A classified connector failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The channel is set up wrongly (bad credentials, missing scope, bad URL): retrying will
    /// not help until an operator fixes the configuration.
    #[error("configuration: {0}")]
    Configuration(String),
    /// A passing fault (timeout, 5xx, connection reset): retry with backoff, no sooner than
    /// `retry_after` when the platform said so.
    #[error("transient: {message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The platform refused the call for exceeding its rate limit: wait `retry_after` (or the
    /// runtime's own estimate) before the next call.
    #[error("rate limited: {message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The platform refused this request for good (unknown listing, invalid value): park it.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl ConnectorError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    /// Whether the same call may succeed later without an operator's help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::RateLimited { .. })
    }

    /// The wait the platform asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } | Self::RateLimited { retry_after, .. } => {
                *retry_after
            }
            Self::Configuration(_) | Self::Permanent(_) => None,
        }
    }
}

/// Why an incoming webhook is not turned into order events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The signature is missing or wrong: answer 401 and store nothing.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The body or a required header cannot be understood: answer 400 with this reason.
    #[error("malformed webhook: {0}")]
    Malformed(String),
    /// A valid delivery of a topic omnistock does not act on: acknowledge and drop it.
    #[error("ignored topic {0}")]
    IgnoredTopic(String),
}
