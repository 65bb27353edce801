//! Shopify's cost bucket as the connector last saw it (`extensions.cost.throttleStatus`).
//!
//! The connector never waits: it records the bucket after every response so that the runtime
//! can pace calls with [`ThrottleStatus::wait_for`], and turns a `THROTTLED` refusal into a
//! `retry_after` that is exactly as long as the bucket needs to refill for the refused query.

use serde::Deserialize;
use std::time::{Duration, Instant};

/// The shortest wait ever suggested, so that a refusal never asks for an immediate retry.
const MIN_WAIT: Duration = Duration::from_millis(50);

/// `extensions.cost` of a GraphQL response.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryCost {
    pub requested_query_cost: Option<f64>,
    pub actual_query_cost: Option<f64>,
    pub throttle_status: Option<BucketState>,
}

/// `throttleStatus`: the bucket when the response was made.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketState {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

/// The bucket as last observed, and when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    pub bucket: BucketState,
    pub observed_at: Instant,
}

impl ThrottleStatus {
    pub fn new(bucket: BucketState) -> Self {
        Self {
            bucket,
            observed_at: Instant::now(),
        }
    }

    /// Points available now, assuming nobody else spent any since the observation.
    pub fn available_now(&self) -> f64 {
        let restored = self.observed_at.elapsed().as_secs_f64() * self.bucket.restore_rate;
        (self.bucket.currently_available + restored).min(self.bucket.maximum_available)
    }

    /// How long to wait before a query requesting `cost` points fits the bucket.
    pub fn wait_for(&self, cost: f64) -> Duration {
        let missing = cost.min(self.bucket.maximum_available) - self.available_now();
        if missing <= 0.0 {
            return Duration::ZERO;
        }
        refill_time(missing, self.bucket.restore_rate)
    }
}

/// The time the bucket needs to restore `missing` points, never shorter than [`MIN_WAIT`].
pub fn refill_time(missing: f64, restore_rate: f64) -> Duration {
    if restore_rate <= 0.0 || !restore_rate.is_finite() {
        return Duration::from_secs(1);
    }
    let seconds = (missing.max(1.0) / restore_rate).min(3600.0);
    Duration::from_secs_f64(seconds).max(MIN_WAIT)
}

/// The wait a `THROTTLED` refusal asks for: until the bucket holds the requested cost.
pub fn throttled_wait(cost: &QueryCost) -> Option<Duration> {
    let bucket = cost.throttle_status?;
    let requested = cost
        .requested_query_cost
        .unwrap_or(bucket.maximum_available);
    let missing = requested.min(bucket.maximum_available) - bucket.currently_available;
    Some(refill_time(missing, bucket.restore_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(requested: f64, available: f64, rate: f64) -> QueryCost {
        QueryCost {
            requested_query_cost: Some(requested),
            actual_query_cost: None,
            throttle_status: Some(BucketState {
                maximum_available: 1000.0,
                currently_available: available,
                restore_rate: rate,
            }),
        }
    }

    #[test]
    fn throttled_wait_is_what_the_bucket_needs() {
        assert_eq!(
            throttled_wait(&cost(752.0, 666.0, 50.0)),
            Some(Duration::from_secs_f64(86.0 / 50.0))
        );
        // Never zero, even when the bucket says it had enough (another client spent it).
        assert_eq!(throttled_wait(&cost(10.0, 20.0, 50.0)), Some(MIN_WAIT));
        assert_eq!(
            throttled_wait(&QueryCost {
                requested_query_cost: Some(1.0),
                actual_query_cost: None,
                throttle_status: None,
            }),
            None
        );
    }

    #[test]
    fn wait_for_accounts_for_restoring() {
        let status = ThrottleStatus::new(BucketState {
            maximum_available: 100.0,
            currently_available: 0.0,
            restore_rate: 10.0,
        });
        let wait = status.wait_for(50.0);
        assert!(wait <= Duration::from_secs(5) && wait > Duration::from_secs(4));
        assert_eq!(status.wait_for(0.0), Duration::ZERO);
    }
}
