//! Keeps calls to one channel inside its rate limit.

use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use omnistock_connector::RateLimit;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Spaces calls evenly at the channel's rate. Bursts are deliberately not allowed: a platform
/// that counts requests in a sliding window would refuse a burst followed by steady traffic,
/// and a 429 costs more than the few milliseconds an even spacing gives away.
///
/// The spacing is [`SPACING_MARGIN`] wider than the limit: the platform counts when calls
/// arrive, and network jitter can bring two calls closer together than they left.
/// How much wider than the limit calls are spaced.
const SPACING_MARGIN: f64 = 1.05;

#[derive(Clone)]
pub struct Throttle {
    limiter: Option<Arc<RateLimiter<NotKeyed, InMemoryState, DefaultClock>>>,
    limit: Option<RateLimit>,
}

impl Throttle {
    /// `None` means the channel has no limit.
    pub fn new(limit: Option<RateLimit>) -> Self {
        let limiter = limit.and_then(|limit| {
            let spacing = limit
                .period
                .checked_div(limit.requests)?
                .mul_f64(SPACING_MARGIN);
            let quota = Quota::with_period(spacing.max(Duration::from_micros(1)))?
                .allow_burst(NonZeroU32::MIN);
            Some(Arc::new(RateLimiter::direct(quota)))
        });
        Self { limiter, limit }
    }

    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// Waits until one more call is allowed.
    pub async fn until_ready(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn calls_are_spaced_at_the_configured_rate() {
        let throttle = Throttle::new(Some(RateLimit::per_second(20)));
        let started = Instant::now();
        for _ in 0..5 {
            throttle.until_ready().await;
        }
        // Five calls at 20/s need four gaps of 50 ms: never fewer.
        assert!(started.elapsed() >= Duration::from_millis(195));
    }

    #[tokio::test]
    async fn no_limit_never_waits() {
        let throttle = Throttle::new(None);
        for _ in 0..1000 {
            throttle.until_ready().await;
        }
        assert_eq!(throttle.limit(), None);
    }
}
