//! How many of a channel's listings show a quantity other than the ledger's, for the channel
//! status.
//!
//! Counting reads every listing of the channel, so it goes a page of SKUs at a time (memory
//! stays bounded whatever the catalog: reading a million SKUs' targets at once took gigabytes)
//! and a count is reused for ten times as long as it took to make, at most five minutes: a
//! catalog counted in milliseconds is counted afresh for every look, one counted in seconds is
//! not read again by every dashboard refresh. A count runs as a task of its own, one per channel
//! at a time. A look waits for it a second (a small catalog is counted by then), or five for a
//! channel's first count; then it takes the last count (which says when it was made) or none,
//! rather than keep an operator (or a load balancer's timeout) waiting through a large catalog.

use crate::ledger::{Ledger, LedgerError, TargetPages};
use crate::sync::ChannelRuntime;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracing::{debug, warn};

/// How long a count is reused, as a multiple of how long it took.
const REUSE_FACTOR: u32 = 10;
const REUSE_MAX: Duration = Duration::from_secs(300);
/// How long a look waits for the count under way: the first count of a channel, or a new one
/// when the last is no longer fresh.
const PATIENCE: Patience = Patience {
    first: Duration::from_secs(5),
    renewal: Duration::from_secs(1),
};

#[derive(Debug, Clone, Copy)]
struct Patience {
    first: Duration,
    renewal: Duration,
}

/// A count of a channel's out-of-date listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfDate {
    pub listings: usize,
    /// When the count finished (unix ms).
    pub counted_at: i64,
}

/// The last count of one channel; one per channel, kept by [`super::Operators`]. Cheap to
/// clone (clones share the count).
#[derive(Debug, Default, Clone)]
pub struct OutOfDateCache {
    last: Arc<std::sync::Mutex<Option<Counted>>>,
    /// Held by the count under way.
    counting: Arc<Mutex<()>>,
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

/// The channel's out-of-date listings: the last count while it is fresh, else a new one (or,
/// while that runs on, the last one); `None` while the channel's first count runs on.
pub async fn listings_out_of_date(
    ledger: &Ledger,
    channel: &ChannelRuntime,
    cache: &OutOfDateCache,
) -> Option<OutOfDate> {
    look(ledger, channel, cache, PATIENCE).await
}

async fn look(
    ledger: &Ledger,
    channel: &ChannelRuntime,
    cache: &OutOfDateCache,
    patience: Patience,
) -> Option<OutOfDate> {
    let last = cache.last();
    if let Some(counted) = last.filter(Counted::still_fresh) {
        return Some(counted.count);
    }
    let ours = match cache.counting.clone().try_lock_owned() {
        Ok(counting) => Some(tokio::spawn(count_and_keep(
            ledger.clone(),
            channel.clone(),
            cache.clone(),
            counting,
        ))),
        Err(_) => None,
    };
    // Wait for the count under way (ours or another look's) a while. Ours is a task of its
    // own, so giving up or hanging up does not stop it.
    let patience = if last.is_some() {
        patience.renewal
    } else {
        patience.first
    };
    let done = tokio::time::timeout(patience, async {
        match ours {
            Some(task) => {
                let _ = task.await;
            }
            None => drop(cache.counting.lock().await),
        }
    })
    .await
    .is_ok();
    let newest = if done { cache.last() } else { None };
    newest.or(last).map(|counted| counted.count)
}

/// Counts the channel's out-of-date listings and keeps the count; `_counting` is held meanwhile.
async fn count_and_keep(
    ledger: Ledger,
    channel: ChannelRuntime,
    cache: OutOfDateCache,
    _counting: tokio::sync::OwnedMutexGuard<()>,
) {
    let clock = Instant::now();
    match count(&ledger, &channel).await {
        Ok(listings) => {
            let took = clock.elapsed();
            debug!(channel = %channel.id, listings, took_ms = took.as_millis() as u64,
                "out-of-date listings counted");
            *cache.slot() = Some(Counted {
                count: OutOfDate {
                    listings,
                    counted_at: chrono::Utc::now().timestamp_millis(),
                },
                finished: Instant::now(),
                took,
            });
        }
        Err(error) => {
            warn!(channel = %channel.id, error = %error, "counting out-of-date listings failed")
        }
    }
}

impl OutOfDateCache {
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
pub(super) async fn count(ledger: &Ledger, channel: &ChannelRuntime) -> Result<usize, LedgerError> {
    let parked = ledger.dead_letters().parked_listings(&channel.id).await?;
    let mut out_of_date = 0;
    let mut pages = TargetPages::new(&channel.id);
    while let Some(page) = pages.next(ledger, &channel.policy).await? {
        out_of_date += page
            .targets
            .iter()
            .filter(|target| !parked.contains(&target.listing_id))
            .filter(|target| target.last_pushed_quantity != Some(target.quantity))
            .count();
    }
    Ok(out_of_date)
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
    async fn a_look_waits_a_while_for_a_count_then_takes_the_last_one_or_none() {
        let (_folder, ledger, channel) = empty_channel().await;
        let cache = OutOfDateCache::default();
        let patience = Patience {
            first: Duration::from_millis(1_000),
            renewal: Duration::from_millis(100),
        };

        // A count that runs on and a stale one: the stale one, after the shorter wait.
        *cache.slot() = Some(stale_count(7));
        let counting = cache.counting.clone().lock_owned().await;
        let clock = Instant::now();
        assert_eq!(
            look(&ledger, &channel, &cache, patience)
                .await
                .unwrap()
                .listings,
            7
        );
        let waited = clock.elapsed();
        assert!(
            waited >= patience.renewal && waited < patience.first,
            "{waited:?}"
        );
        drop(counting);
        // No count under way: a new one (the ledger has no listings), waited for.
        let fresh = look(&ledger, &channel, &cache, patience).await.unwrap();
        assert_eq!((fresh.listings, fresh.counted_at == 1), (0, false));

        // A count that runs on and none before: the longer wait, then no count.
        *cache.slot() = None;
        let counting = cache.counting.clone().lock_owned().await;
        let clock = Instant::now();
        assert_eq!(look(&ledger, &channel, &cache, patience).await, None);
        assert!(clock.elapsed() >= patience.first);
        drop(counting);
        // The first count, waited for.
        assert_eq!(
            look(&ledger, &channel, &cache, patience)
                .await
                .unwrap()
                .listings,
            0
        );
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
