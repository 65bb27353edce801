//! The one place that decides how a failed call to a channel is retried.

use backoff::ExponentialBackoff;
use omnistock_connector::ConnectorError;
use std::time::Duration;

/// How long transient failures of one call are retried before the work is handed back (its
/// queue messages are requeued, so nothing is lost; the next attempt starts a fresh backoff).
const RETRY_BUDGET: Duration = Duration::from_secs(60);

/// The backoff for one call to a channel: quick first retries, capped waits.
pub fn channel_backoff() -> ExponentialBackoff {
    ExponentialBackoff {
        initial_interval: Duration::from_millis(100),
        max_interval: Duration::from_secs(10),
        multiplier: 2.0,
        randomization_factor: 0.2,
        max_elapsed_time: Some(RETRY_BUDGET),
        ..ExponentialBackoff::default()
    }
}

/// Classifies a connector error for the backoff crate: transient and rate-limited failures
/// are retried (never sooner than the platform's Retry-After); the rest are final.
pub fn classify(error: ConnectorError) -> backoff::Error<ConnectorError> {
    if error.is_retryable() {
        let retry_after = error.retry_after();
        backoff::Error::Transient {
            err: error,
            retry_after,
        }
    } else {
        backoff::Error::Permanent(error)
    }
}

/// A short label of the error's class, for metrics.
pub fn error_class(error: &ConnectorError) -> &'static str {
    match error {
        ConnectorError::Configuration(_) => "configuration",
        ConnectorError::Transient { .. } => "transient",
        ConnectorError::RateLimited { .. } => "rate_limited",
        ConnectorError::Permanent(_) => "permanent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_errors_keep_the_platforms_wait() {
        let error = ConnectorError::RateLimited {
            message: "429".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        match classify(error) {
            backoff::Error::Transient { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(2)))
            }
            backoff::Error::Permanent(error) => panic!("retryable error made permanent: {error}"),
        }
        assert!(matches!(
            classify(ConnectorError::Permanent("unknown listing".into())),
            backoff::Error::Permanent(_)
        ));
        assert!(matches!(
            classify(ConnectorError::Configuration("bad token".into())),
            backoff::Error::Permanent(_)
        ));
    }
}
