//! How many of a channel's listings show a quantity other than the ledger's, for the channel
//! status.
//!
//! Counting reads every listing of the channel, so it goes a page of SKUs at a time (memory
//! stays bounded whatever the catalog: reading a million SKUs' targets at once took gigabytes)
//! and a count is reused for ten times as long as it took to make, at most five minutes: a
//! catalog counted in milliseconds is counted afresh for every look, one counted in seconds is
//! not read again by every dashboard refresh. One count per channel runs at a time; a look
//! that arrives meanwhile gets the last count (it says when it was made), and waits only when
//! there is none yet.

use crate::ledger::{Ledger, LedgerError};
use crate::sync::ChannelRuntime;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// SKUs read per page, as a sweep reads them.
const PAGE_SKUS: usize = 500;
/// How long a count is reused, as a multiple of how long it took.
const REUSE_FACTOR: u32 = 10;
const REUSE_MAX: Duration = Duration::from_secs(300);

/// A count of a channel's out-of-date listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfDate {
    pub listings: usize,
    /// When the count finished (unix ms).
    pub counted_at: i64,
}

/// The last count of one channel; one per channel, in its [`super::ChannelControl`].
#[derive(Debug, Default)]
pub struct OutOfDateCache {
    last: std::sync::Mutex<Option<Counted>>,
    /// Held while a count runs.
    counting: Mutex<()>,
}

#[derive(Debug, Clone, Copy)]
struct Counted {
    count: OutOfDate,
    finished: Instant,
    took: Duration,
}

impl Counted {
    fn still_fresh(&self) -> bool {
        self.finished.elapsed() < (self.took * REUSE_FACTOR).min(REUSE_MAX)
    }
}

impl OutOfDateCache {
    /// The channel's out-of-date listings: the last count while it is fresh, else a new one
    /// (or, while another look makes it, the last one).
    pub async fn get(
        &self,
        ledger: &Ledger,
        channel: &ChannelRuntime,
    ) -> Result<OutOfDate, LedgerError> {
        let last = self.last();
        if let Some(counted) = last.filter(Counted::still_fresh) {
            return Ok(counted.count);
        }
        let _counting = match (self.counting.try_lock(), last) {
            (Ok(counting), _) => counting,
            (Err(_), Some(counted)) => return Ok(counted.count),
            (Err(_), None) => self.counting.lock().await,
        };
        // Another look may have made a count just now.
        if let Some(counted) = self.last().filter(Counted::still_fresh) {
            return Ok(counted.count);
        }
        let clock = Instant::now();
        let listings = count(ledger, channel).await?;
        let counted = Counted {
            count: OutOfDate {
                listings,
                counted_at: chrono::Utc::now().timestamp_millis(),
            },
            finished: Instant::now(),
            took: clock.elapsed(),
        };
        tracing::debug!(channel = %channel.id, listings, took_ms = counted.took.as_millis() as u64,
            "out-of-date listings counted");
        *self.slot() = Some(counted);
        Ok(counted.count)
    }

    fn last(&self) -> Option<Counted> {
        *self.slot()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Counted>> {
        // A poisoned lock only means a panic mid-assignment of a plain value: keep using it.
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Listings of the channel whose computed quantity is not what the channel last confirmed,
/// dead letters aside, read a page of SKUs at a time.
async fn count(ledger: &Ledger, channel: &ChannelRuntime) -> Result<usize, LedgerError> {
    let parked = ledger.dead_lettered_listings(&channel.id).await?;
    let mut out_of_date = 0;
    let mut after: Option<String> = None;
    loop {
        let page = ledger
            .channel_sku_page(&channel.id, after.as_deref(), PAGE_SKUS)
            .await?;
        let Some(last_sku) = page.last().cloned() else {
            return Ok(out_of_date);
        };
        let targets = ledger
            .push_targets(&channel.id, &page, &channel.policy)
            .await?;
        out_of_date += targets
            .iter()
            .filter(|target| !parked.contains(&target.listing_id))
            .filter(|target| target.last_pushed_quantity != Some(target.quantity))
            .count();
        after = Some(last_sku);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use omnistock_connector::Secret;
    use std::sync::Arc;

    /// A ledger without listings and a channel whose connector is never called.
    async fn empty_channel() -> (tempfile::TempDir, Ledger, ChannelRuntime) {
        let folder = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", folder.path().join("ledger.db").display());
        let ledger = Ledger::connect(&url).await.unwrap();
        ledger.migrate().await.unwrap();
        let connector = omnistock_sim::SimConnector::new(omnistock_sim::SimChannelConfig {
            base_url: "http://127.0.0.1:9".into(),
            api_token: Secret::new("token"),
            webhook_secret: Secret::new("secret"),
            max_batch: None,
            request_timeout_ms: None,
            rate_limit: None,
            poll_overlap_ms: None,
        })
        .unwrap();
        let channel = ChannelRuntime::new(
            "shop".into(),
            Arc::new(connector),
            "default".into(),
            None,
            None,
        );
        (folder, ledger, channel)
    }

    fn stale_count(listings: usize) -> Counted {
        Counted {
            count: OutOfDate {
                listings,
                counted_at: 1,
            },
            finished: Instant::now() - Duration::from_secs(1),
            took: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn a_look_during_a_count_gets_the_last_count_or_waits_for_the_first() {
        let (_folder, ledger, channel) = empty_channel().await;
        let cache = OutOfDateCache::default();

        // A count under way and a stale one: the stale one, at once.
        *cache.slot() = Some(stale_count(7));
        let counting = cache.counting.lock().await;
        assert_eq!(cache.get(&ledger, &channel).await.unwrap().listings, 7);
        drop(counting);
        // No count under way: a new one (the ledger has no listings).
        let fresh = cache.get(&ledger, &channel).await.unwrap();
        assert_eq!(fresh.listings, 0);
        assert_ne!(fresh.counted_at, 1);

        // A count under way and none before: the look waits for it.
        *cache.slot() = None;
        let counting = cache.counting.lock().await;
        let look = cache.get(&ledger, &channel);
        tokio::pin!(look);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut look)
                .await
                .is_err(),
            "it did not wait"
        );
        drop(counting);
        assert_eq!(look.await.unwrap().listings, 0);
    }

    #[test]
    fn a_count_is_reused_ten_times_as_long_as_it_took() {
        let counted = |took: Duration, age: Duration| Counted {
            count: OutOfDate {
                listings: 0,
                counted_at: 0,
            },
            finished: Instant::now() - age,
            took,
        };
        let ms = Duration::from_millis;
        assert!(counted(ms(100), ms(900)).still_fresh());
        assert!(!counted(ms(100), ms(1_100)).still_fresh());
        assert!(!counted(Duration::ZERO, Duration::ZERO).still_fresh());
        // However long it took, at most five minutes.
        assert!(!counted(Duration::from_secs(60), Duration::from_secs(301)).still_fresh());
    }
}
