//! SKUs of flushes that failed, pushed again after a pause that doubles, bounded.

use std::collections::BTreeSet;
use std::time::Duration;

/// The pause before held SKUs (of a flush that failed) are pushed again; it doubles up to
/// [`HELD_RETRY_MAX`] while they keep failing. While the channel is degraded this push is
/// the probe that finds it answering again, so the bound is also how soon a recovery is seen.
const HELD_RETRY_FIRST: Duration = Duration::from_millis(500);
const HELD_RETRY_MAX: Duration = Duration::from_secs(5);

/// SKUs of flushes that failed: their messages were acknowledged, and they are pushed again
/// (after a pause that doubles, bounded) until the channel confirms them.
#[derive(Debug, Default)]
pub(super) struct Held {
    pub(super) skus: BTreeSet<String>,
    pub(super) next_push_at: Option<tokio::time::Instant>,
    pause: Option<Duration>,
}

impl Held {
    pub(super) fn hold(&mut self, skus: impl IntoIterator<Item = String>) {
        self.skus.extend(skus);
        let pause = self
            .pause
            .map_or(HELD_RETRY_FIRST, |pause| (pause * 2).min(HELD_RETRY_MAX));
        self.pause = Some(pause);
        self.next_push_at = Some(tokio::time::Instant::now() + pause);
    }

    /// Pushes them at once (the channel answers again).
    pub(super) fn push_now(&mut self) {
        if !self.skus.is_empty() {
            self.pause = None;
            self.next_push_at = Some(tokio::time::Instant::now());
        }
    }

    pub(super) fn take(&mut self) -> Vec<String> {
        self.next_push_at = None;
        std::mem::take(&mut self.skus).into_iter().collect()
    }

    pub(super) fn confirmed(&mut self) {
        self.pause = None;
    }
}
