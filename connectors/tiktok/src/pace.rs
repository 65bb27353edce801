//! Requests per API in the last period, so that the runtime can wait before a call instead of
//! meeting HTTP 429: one push may send an Update Inventory request per product, so counting
//! calls alone would let a busy second exceed TikTok's per-API limit.

use omnistock_connector::RateLimit;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RequestWindow {
    limit: RateLimit,
    sent: Mutex<VecDeque<Instant>>,
    /// Requests the last call of this kind sent: what the next is expected to send.
    last_call: Mutex<usize>,
}

impl RequestWindow {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            sent: Mutex::new(VecDeque::new()),
            last_call: Mutex::new(1),
        }
    }

    /// One request sent now.
    pub fn record(&self) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push_back(Instant::now());
        }
    }

    /// The call that just ended sent `requests`.
    pub fn call_sent(&self, requests: usize) {
        if let Ok(mut last) = self.last_call.lock() {
            *last = requests.max(1);
        }
    }

    /// How long until a call sending as many requests as the last one fits the limit.
    pub fn wait(&self) -> Duration {
        let expected = self.last_call.lock().map(|last| *last).unwrap_or(1);
        let capacity = usize::try_from(self.limit.requests).unwrap_or(usize::MAX);
        let Ok(mut sent) = self.sent.lock() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        while sent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= self.limit.period)
        {
            sent.pop_front();
        }
        let room = capacity.saturating_sub(sent.len());
        if room >= expected.min(capacity) {
            return Duration::ZERO;
        }
        // The request whose leaving the window makes room for the call.
        let freeing = expected.min(capacity) - room;
        sent.get(freeing - 1)
            .map(|at| (*at + self.limit.period).saturating_duration_since(now))
            .unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_only_when_the_next_call_would_not_fit() {
        let window = RequestWindow::new(RateLimit::per_second(3));
        assert_eq!(window.wait(), Duration::ZERO);
        window.record();
        window.record();
        window.call_sent(1);
        assert_eq!(window.wait(), Duration::ZERO);
        window.call_sent(2);
        assert!(window.wait() > Duration::from_millis(900));
        window.call_sent(1);
        window.record();
        let wait = window.wait();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
    }
}
