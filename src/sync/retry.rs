//! The one place that decides how a failed call to a channel is retried. The channel gateway
//! (`gateway.rs`) applies it to every call.

use backoff::backoff::Backoff;
use backoff::ExponentialBackoff;
use omnistock_connector::ConnectorError;
use std::time::Duration;

/// The longest any wait a platform asks for (Retry-After, a cost-bucket hint) holds a
/// channel's calls: a huge or absurd value must not stall the channel for hours.
pub const MAX_PLATFORM_WAIT: Duration = Duration::from_secs(300);

/// How long transient failures of one call are retried before the work is handed back (the
/// pusher holds its SKUs and pushes them again; the next attempt starts a fresh backoff).
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

/// A wait the platform asked for, bounded by [`MAX_PLATFORM_WAIT`].
pub fn bounded_wait(wait: Duration) -> Duration {
    wait.min(MAX_PLATFORM_WAIT)
}

/// How long to wait before the failed call is tried again, or `None` when it must not be:
/// the error is final (configuration, permanent) or the backoff's budget is spent. Transient
/// and rate-limited failures are retried no sooner than the platform's Retry-After, and never
/// later than [`MAX_PLATFORM_WAIT`].
pub fn next_attempt_in(
    error: &ConnectorError,
    backoff: &mut ExponentialBackoff,
) -> Option<Duration> {
    if !error.is_retryable() {
        return None;
    }
    let backoff_wait = backoff.next_backoff()?;
    Some(bounded_wait(
        backoff_wait.max(error.retry_after().unwrap_or_default()),
    ))
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

    fn limited(retry_after: Option<Duration>) -> ConnectorError {
        ConnectorError::RateLimited {
            message: "429".into(),
            retry_after,
        }
    }

    #[test]
    fn retryable_errors_keep_the_platforms_wait() {
        let mut backoff = channel_backoff();
        let wait = next_attempt_in(&limited(Some(Duration::from_secs(2))), &mut backoff);
        assert_eq!(wait, Some(Duration::from_secs(2)));
        let permanent = ConnectorError::Permanent("unknown listing".into());
        assert_eq!(next_attempt_in(&permanent, &mut backoff), None);
        let configuration = ConnectorError::Configuration("bad token".into());
        assert_eq!(next_attempt_in(&configuration, &mut backoff), None);
    }

    #[test]
    fn a_platforms_wait_is_bounded_and_a_zero_one_still_backs_off() {
        let mut backoff = channel_backoff();
        let huge = limited(Some(Duration::from_secs(u64::MAX)));
        assert_eq!(
            next_attempt_in(&huge, &mut backoff),
            Some(MAX_PLATFORM_WAIT)
        );
        let zero = limited(Some(Duration::ZERO));
        let wait = next_attempt_in(&zero, &mut backoff).unwrap_or_default();
        assert!(
            wait > Duration::ZERO,
            "a zero Retry-After still waits the backoff"
        );
    }
}
