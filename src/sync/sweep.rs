//! A sweep of one channel: every listing whose computed quantity differs from what the channel
//! last confirmed is pushed, one page of the channel's SKUs at a time.
//!
//! The pusher takes the next page only when no live stock change waits, so a sweep of a large
//! catalog (minutes for a million SKUs) never holds up the live pushes that the one-second
//! promise is about; a live change waits at most for the page in flight. A page that fails
//! (the channel or the ledger is down) is tried again after a pause that doubles, from where
//! the sweep stopped: nothing is acknowledged by a sweep, so stopping anywhere is safe.

use crate::sync::push::{ChannelPusher, FlushReport};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// The pause before a failed page is tried again; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Why a channel is swept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepCause {
    /// The pusher started (the daemon started or this replica became the sync leader): push
    /// whatever changed while nobody pushed, so the channel converges even after a lost message.
    StartUp,
    /// The channel was resumed: push what accumulated while it was paused.
    Resume,
}

impl SweepCause {
    fn as_str(self) -> &'static str {
        match self {
            Self::StartUp => "start-up",
            Self::Resume => "resume",
        }
    }
}

/// A sweep in progress.
#[derive(Debug)]
pub struct Sweep {
    cause: SweepCause,
    /// The last SKU of the last page pushed; `None` before the first page.
    after: Option<String>,
    report: FlushReport,
    /// When the next page may be taken: now, or after a failure's pause.
    next_page_at: Instant,
    /// The pause after the last failure, while pages keep failing.
    retry_pause: Option<Duration>,
    started: std::time::Instant,
}

impl Sweep {
    pub fn start(cause: SweepCause) -> Self {
        Self {
            cause,
            after: None,
            report: FlushReport::default(),
            next_page_at: Instant::now(),
            retry_pause: None,
            started: std::time::Instant::now(),
        }
    }

    pub fn cause(&self) -> SweepCause {
        self.cause
    }

    /// When the next page may be taken.
    pub fn next_page_at(&self) -> Instant {
        self.next_page_at
    }

    /// Pushes the next page; `true` when the sweep is done (the page was empty).
    pub async fn push_next_page(&mut self, pusher: &ChannelPusher) -> bool {
        let channel = pusher.channel();
        pusher.metrics().sweep_running(&channel.id, true);
        match pusher.sweep_page(self.after.as_deref()).await {
            Ok(Some(page)) => {
                pusher.metrics().sweep_skus(&channel.id, page.skus);
                self.report.absorb(page.report);
                self.after = Some(page.last_sku);
                self.retry_pause = None;
                self.next_page_at = Instant::now();
                false
            }
            Ok(None) => {
                pusher.metrics().sweep_running(&channel.id, false);
                info!(channel = %channel.id, cause = self.cause.as_str(),
                    pushed = self.report.confirmed, calls = self.report.calls,
                    unchanged = self.report.skipped_unchanged, rejected = self.report.rejected,
                    took_ms = self.started.elapsed().as_millis() as u64,
                    "stock sweep done");
                true
            }
            Err(error) => {
                let pause = self
                    .retry_pause
                    .map_or(RETRY_FIRST, |pause| (pause * 2).min(RETRY_MAX));
                warn!(channel = %channel.id, cause = self.cause.as_str(), error = %error,
                    retry_in_s = pause.as_secs(), after_sku = ?self.after,
                    "stock sweep page failed; it is tried again between live pushes");
                channel.control.note_push_error(&error.to_string());
                self.retry_pause = Some(pause);
                self.next_page_at = Instant::now() + pause;
                false
            }
        }
    }
}
