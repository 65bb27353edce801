//! Webhook answers of the last hour per channel and HTTP status, for the channel status, counted
//! across every replica.
//!
//! A webhook must not cost a database write more (ingest speed matters), so each replica counts
//! its answers in memory per minute and a flusher adds the increments to the shared
//! `webhook_answer_counts` table every `admin.webhook_counts_flush` and at shutdown. A status
//! reads the table's last hour plus what this replica has not flushed yet.

use crate::ledger::channel_status::WebhookAnswerCount;
use crate::ledger::{Ledger, LedgerError};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tracing::warn;

/// How many minutes the status counts: the current one and the 59 before it.
pub const WINDOW_MINUTES: i64 = 60;

/// Unflushed counts by (channel, minute since the epoch, status).
type Unflushed = BTreeMap<(String, i64, u16), u64>;

pub struct WebhookCounts {
    ledger: Ledger,
    unflushed: Mutex<Unflushed>,
    /// Held while a flush moves counts from memory to the table and while a status reads both,
    /// so that a status never sees counts that are in neither place.
    flushing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for WebhookCounts {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WebhookCounts")
            .finish_non_exhaustive()
    }
}

fn minute_now() -> i64 {
    chrono::Utc::now().timestamp_millis().div_euclid(60_000)
}

impl WebhookCounts {
    pub fn new(ledger: Ledger) -> Self {
        Self {
            ledger,
            unflushed: Mutex::default(),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts one webhook of `channel` answered with `status` (in memory only).
    pub fn record(&self, channel: &str, status: u16) {
        *self
            .lock()
            .entry((channel.to_string(), minute_now(), status))
            .or_default() += 1;
    }

    /// Adds what was counted since the last flush to the shared table, and prunes rows older
    /// than the window. On failure the counts stay in memory for the next flush.
    pub async fn flush(&self) -> Result<(), LedgerError> {
        let _flushing = self.flushing.lock().await;
        let taken: Vec<WebhookAnswerCount> =
            std::mem::take(&mut *self.lock()).into_iter().collect();
        if taken.is_empty() {
            return Ok(());
        }
        if let Err(error) = self
            .ledger
            .channel_status()
            .add_webhook_answer_counts(&taken)
            .await
        {
            let mut unflushed = self.lock();
            for (key, count) in taken {
                *unflushed.entry(key).or_default() += count;
            }
            return Err(error);
        }
        self.ledger
            .channel_status()
            .prune_webhook_answer_counts(minute_now() - WINDOW_MINUTES)
            .await
    }

    /// Every channel's answers of the last hour, per status, from every replica.
    pub async fn last_hour(&self) -> Result<BTreeMap<String, BTreeMap<u16, u64>>, LedgerError> {
        let _flushing = self.flushing.lock().await;
        let since = minute_now() - (WINDOW_MINUTES - 1);
        let mut counts = self
            .ledger
            .channel_status()
            .webhook_answer_counts(since)
            .await?;
        for ((channel, minute, status), count) in self.lock().iter() {
            if *minute >= since {
                *counts
                    .entry(channel.clone())
                    .or_default()
                    .entry(*status)
                    .or_default() += count;
            }
        }
        Ok(counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Unflushed> {
        // A poisoned lock only means a panic mid-update of plain counters: keep using them.
        self.unflushed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Flushes every `interval` until `stopped`, then once more.
pub async fn run_flusher(
    counts: std::sync::Arc<WebhookCounts>,
    interval: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = crate::sync::stop_requested(&mut stopped) => break,
        }
        if let Err(error) = counts.flush().await {
            warn!(error = %error, "flushing webhook answer counts failed; kept for the next flush");
        }
    }
    if let Err(error) = counts.flush().await {
        warn!(error = %error, "flushing webhook answer counts at shutdown failed");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn answers_are_counted_per_channel_and_status_before_and_after_a_flush() {
        let folder = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", folder.path().join("ledger.db").display());
        let ledger = Ledger::connect(&url).await.unwrap();
        ledger.migrate().await.unwrap();
        let counts = WebhookCounts::new(ledger.clone());
        counts.record("shop", 200);
        counts.record("shop", 200);
        counts.record("shop", 401);
        counts.record("market", 503);
        let expected = BTreeMap::from([
            ("market".to_string(), BTreeMap::from([(503, 1)])),
            ("shop".to_string(), BTreeMap::from([(200, 2), (401, 1)])),
        ]);
        assert_eq!(counts.last_hour().await.unwrap(), expected);
        counts.flush().await.unwrap();
        assert_eq!(counts.last_hour().await.unwrap(), expected);
        // Another replica's counts on the same database add up.
        let other = WebhookCounts::new(ledger);
        other.record("shop", 200);
        other.flush().await.unwrap();
        assert_eq!(counts.last_hour().await.unwrap()["shop"][&200], 3);
    }
}
