//! Amazon's usage plans: every SP-API operation has its own token bucket (a rate of requests
//! per second and a burst). The connector keeps a local copy of each bucket from the calls it
//! made, the `x-amzn-RateLimit-Limit` header (the rate actually applied to this seller and
//! application) and 429 answers, so that it can tell the runtime how long to wait before a
//! call instead of learning from a refusal. It never waits itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The operations omnistock calls, each with its documented default usage plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    GetOrders,
    GetOrderItems,
    GetListingsItem,
    PatchListingsItem,
    SearchListingsItems,
    CreateFeedDocument,
    CreateFeed,
    GetFeed,
    GetFeedDocument,
}

impl Operation {
    /// Every operation omnistock calls.
    pub const ALL: [Operation; 9] = [
        Self::GetOrders,
        Self::GetOrderItems,
        Self::GetListingsItem,
        Self::PatchListingsItem,
        Self::SearchListingsItems,
        Self::CreateFeedDocument,
        Self::CreateFeed,
        Self::GetFeed,
        Self::GetFeedDocument,
    ];

    /// The operation id in Amazon's models.
    pub fn name(self) -> &'static str {
        match self {
            Self::GetOrders => "getOrders",
            Self::GetOrderItems => "getOrderItems",
            Self::GetListingsItem => "getListingsItem",
            Self::PatchListingsItem => "patchListingsItem",
            Self::SearchListingsItems => "searchListingsItems",
            Self::CreateFeedDocument => "createFeedDocument",
            Self::CreateFeed => "createFeed",
            Self::GetFeed => "getFeed",
            Self::GetFeedDocument => "getFeedDocument",
        }
    }

    /// The documented default plan: (requests per second, burst). Listings Items' current
    /// limit is 5/s with a burst of 5 for every call (the 2021 model still says 10 for reads).
    pub fn default_plan(self) -> (f64, f64) {
        match self {
            Self::GetOrders => (0.0167, 20.0),
            Self::GetOrderItems => (0.5, 30.0),
            Self::GetListingsItem => (5.0, 5.0),
            Self::PatchListingsItem => (5.0, 5.0),
            Self::SearchListingsItems => (5.0, 5.0),
            Self::CreateFeedDocument => (0.5, 15.0),
            Self::CreateFeed => (0.0083, 15.0),
            Self::GetFeed => (2.0, 15.0),
            Self::GetFeedDocument => (0.0222, 10.0),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(operation: Operation, now: Instant) -> Self {
        let (rate, burst) = operation.default_plan();
        Self {
            rate,
            burst,
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }

    fn wait_for(&self, tokens: f64) -> Duration {
        let missing = tokens.min(self.burst) - self.tokens;
        if missing <= 0.0 || self.rate <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(missing / self.rate).unwrap_or(Duration::from_secs(3600))
    }
}

/// The local copies of the buckets of one seller account's operations.
#[derive(Debug, Default)]
pub struct UsagePlans {
    buckets: Mutex<HashMap<Operation, Bucket>>,
}

impl UsagePlans {
    fn with_bucket<T>(&self, operation: Operation, action: impl FnOnce(&mut Bucket) -> T) -> T {
        let now = Instant::now();
        // A poisoned lock only means a panic mid-update of a few numbers: keep using them.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets
            .entry(operation)
            .or_insert_with(|| Bucket::new(operation, now));
        bucket.refill(now);
        action(bucket)
    }

    /// How long until the bucket holds `tokens` requests (at most its burst).
    pub fn wait_for(&self, operation: Operation, tokens: f64) -> Duration {
        self.with_bucket(operation, |bucket| bucket.wait_for(tokens))
    }

    /// Whether a request could be made now without being throttled, as far as we know.
    pub fn has_token(&self, operation: Operation) -> bool {
        self.wait_for(operation, 1.0).is_zero()
    }

    /// A request was answered (or failed on the way): its token is spent.
    pub fn spend(&self, operation: Operation) {
        self.with_bucket(operation, |bucket| bucket.tokens -= 1.0);
    }

    /// The rate Amazon says it applied (`x-amzn-RateLimit-Limit`).
    pub fn observe_rate(&self, operation: Operation, rate: f64) {
        if rate.is_finite() && rate > 0.0 {
            self.with_bucket(operation, |bucket| bucket.rate = rate);
        }
    }

    /// Amazon refused a request with 429: the bucket is empty. Returns the wait for one token.
    pub fn throttled(&self, operation: Operation) -> Duration {
        self.with_bucket(operation, |bucket| {
            bucket.tokens = 0.0;
            bucket.wait_for(1.0)
        })
    }

    /// The rate currently assumed for an operation, in requests per second.
    pub fn rate(&self, operation: Operation) -> f64 {
        self.with_bucket(operation, |bucket| bucket.rate)
    }
}

/// Parses `x-amzn-RateLimit-Limit` (requests per second, e.g. `0.0167`).
pub fn parse_rate_header(value: &str) -> Option<f64> {
    let rate = value.trim().parse::<f64>().ok()?;
    (rate.is_finite() && rate > 0.0).then_some(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_spent_then_the_rate_paces() {
        let plans = UsagePlans::default();
        for _ in 0..5 {
            assert!(plans.has_token(Operation::PatchListingsItem));
            plans.spend(Operation::PatchListingsItem);
        }
        let wait = plans.wait_for(Operation::PatchListingsItem, 1.0);
        assert!(wait > Duration::from_millis(150) && wait <= Duration::from_millis(200));
        // getOrders: one request a minute once the burst of 20 is spent.
        plans.throttled(Operation::GetOrders);
        let wait = plans.wait_for(Operation::GetOrders, 1.0);
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60));
        plans.observe_rate(Operation::GetOrders, 1.0);
        assert!(plans.wait_for(Operation::GetOrders, 1.0) <= Duration::from_secs(1));
    }

    #[test]
    fn rate_header_of_any_text_never_panics() {
        assert_eq!(parse_rate_header("0.0167"), Some(0.0167));
        assert_eq!(parse_rate_header(" 5 "), Some(5.0));
        for garbage in ["", "-1", "0", "NaN", "inf", "fast"] {
            assert_eq!(parse_rate_header(garbage), None, "{garbage:?}");
        }
    }
}
