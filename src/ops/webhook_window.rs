//! Webhook answers of the last hour per channel and status, for the channel status. Kept in
//! memory: each replica counts the webhooks it answered.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far back webhook answers are counted.
pub const WINDOW: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
pub struct WebhookWindow {
    answers: Mutex<BTreeMap<String, VecDeque<(Instant, u16)>>>,
}

impl WebhookWindow {
    /// Counts one webhook of `channel` answered with `status`.
    pub fn record(&self, channel: &str, status: u16) {
        let mut answers = self.lock();
        let queue = answers.entry(channel.to_string()).or_default();
        queue.push_back((Instant::now(), status));
        prune(queue);
    }

    /// The channel's answers of the last hour, counted per status.
    pub fn counts(&self, channel: &str) -> BTreeMap<u16, u64> {
        let mut answers = self.lock();
        let mut counts = BTreeMap::new();
        if let Some(queue) = answers.get_mut(channel) {
            prune(queue);
            for (_, status) in queue.iter() {
                *counts.entry(*status).or_default() += 1;
            }
        }
        counts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, VecDeque<(Instant, u16)>>> {
        self.answers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn prune(queue: &mut VecDeque<(Instant, u16)>) {
    while queue.front().is_some_and(|(at, _)| at.elapsed() > WINDOW) {
        queue.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_per_channel_and_status() {
        let window = WebhookWindow::default();
        window.record("shop", 200);
        window.record("shop", 200);
        window.record("shop", 401);
        window.record("market", 503);
        assert_eq!(window.counts("shop"), BTreeMap::from([(200, 2), (401, 1)]));
        assert_eq!(window.counts("market"), BTreeMap::from([(503, 1)]));
        assert!(window.counts("other").is_empty());
    }
}
