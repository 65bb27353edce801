//! Shadow mode for operators: which channels are in it, what omnistock would do to them (the
//! report), and their switch to live.
//!
//! A channel configured with `mode = "shadow"` starts in shadow mode unless the ledger holds an
//! operator's switch to live (`channel_go_live`); a channel configured `live` is live and its
//! stored switch, if any, is forgotten (so `shadow` configured again later means shadow again).
//! The switch is made once, on any replica ([`Operators::go_live`]): it is stored in the
//! ledger and takes effect at once there; every other replica follows within a second (the
//! reporter below), the sync leader's pusher among them, which then sweeps the channel. A
//! running process never goes back from live to shadow.
//!
//! Before the switch, [`Operators::go_live_plan`] lists every write the first sweep will make,
//! a page at a time: the listings whose policy quantity differs from what the channel was last
//! confirmed or read to show (or that were never read), exactly the walk the sweep makes.

use super::Operators;
use crate::ledger::{Ledger, LedgerError, PushTarget, ShadowListingRecord, TargetPages};
use crate::metrics::Metrics;
use crate::settings::ChannelMode;
use crate::sync::ChannelRuntime;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{info, warn};

/// How many of the largest differences the channel summary shows.
pub const LARGEST_DIFFERENCES: usize = 5;
/// How often the shadow metrics are computed again (each is a count over the channel's rows).
const METRICS_EVERY: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_secs(1);

/// Why a shadow action failed.
#[derive(Debug, thiserror::Error)]
pub enum ShadowError {
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error("channel {0:?} is live, not in shadow mode")]
    NotInShadow(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// One write the first sweep after going live makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWrite {
    pub listing_id: String,
    pub sku: String,
    /// What the channel was last read to show; `None` if never read or not reported.
    pub shown: Option<i64>,
    /// When it was last read; `None` if never.
    pub read_at: Option<i64>,
    /// The quantity the sweep sets.
    pub to_set: i64,
}

/// Where a page of the go-live plan ended: the last write's listing and its lowest SKU (the
/// sweep walks the channel's SKUs in order and meets each listing on its lowest SKU's page;
/// the plan lists the listings of one SKU by listing id). The next page starts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPosition {
    pub sku: String,
    pub listing_id: String,
}

impl PlanPosition {
    fn of(target: &PushTarget) -> Self {
        Self {
            sku: target.lowest_sku.clone(),
            listing_id: target.listing_id.clone(),
        }
    }

    /// Whether `target`, met on a walk starting at this position's SKU, comes after it.
    fn is_before(&self, target: &PushTarget) -> bool {
        target.lowest_sku != self.sku || target.listing_id > self.listing_id
    }

    /// The position as the opaque text of a page's `next`: its SKU and listing id, hex-encoded
    /// with a NUL between (text in the ledger never holds one).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(2 * (self.sku.len() + self.listing_id.len() + 1));
        for byte in self.sku.bytes().chain([0]).chain(self.listing_id.bytes()) {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }

    /// The position an [`encode`](Self::encode) gave; `None` for any other text.
    pub fn decode(text: &str) -> Option<Self> {
        if !text.len().is_multiple_of(2) || !text.is_ascii() {
            return None;
        }
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
            .collect::<Option<_>>()?;
        let decoded = String::from_utf8(bytes).ok()?;
        let (sku, listing_id) = decoded.split_once('\0')?;
        if sku.is_empty() || listing_id.is_empty() || listing_id.contains('\0') {
            return None;
        }
        Some(Self {
            sku: sku.to_string(),
            listing_id: listing_id.to_string(),
        })
    }
}

/// A page of the go-live plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanPage {
    pub writes: Vec<PlannedWrite>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PlanPosition>,
}

/// A switch to live made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneLive {
    /// The first writes of the plan, at most the page's limit.
    pub first_writes: Vec<PlannedWrite>,
    /// How many writes the first sweep makes.
    pub write_count: usize,
    /// When the channel went live (unix ms).
    pub went_live_at: i64,
}

/// A shadow channel's summary: how many of its listings agree, how many differ, the largest
/// differences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShadowSummary {
    pub counts: crate::ledger::ShadowCounts,
    pub largest: Vec<ShadowListingRecord>,
}

/// Sets each channel's mode from its configuration and the ledger's switches, before any
/// pusher starts: configured `shadow` and never switched means shadow; configured `live`
/// forgets a stored switch.
pub(super) async fn load_modes(
    ledger: &Ledger,
    channels: &BTreeMap<String, ChannelRuntime>,
) -> Result<(), LedgerError> {
    let switched = ledger.shadow().switched_live().await?;
    for (channel_id, runtime) in channels {
        match runtime.configured_mode {
            ChannelMode::Live => {
                if switched.contains_key(channel_id) {
                    ledger.shadow().clear_switch(channel_id).await?;
                    info!(channel = %channel_id, "channel configured live: its stored switch to live is no longer needed");
                }
                runtime.control.set_shadow(false);
            }
            ChannelMode::Shadow => {
                let live = switched.contains_key(channel_id);
                runtime.control.set_shadow(!live);
                if live {
                    info!(channel = %channel_id, "channel configured shadow was switched to live by an operator: live (set mode = \"live\" in the configuration)");
                } else {
                    info!(channel = %channel_id, "channel in shadow mode: read, never written");
                }
            }
        }
    }
    Ok(())
}

/// Follows switches to live made on other replicas (once a second) and keeps the shadow
/// metrics (every [`METRICS_EVERY`]), until `stopped`.
pub(super) async fn run_reporter(
    operators: Operators,
    metrics: Metrics,
    mut stopped: watch::Receiver<bool>,
) {
    let mut metrics_due = Instant::now();
    loop {
        if let Err(error) = follow_switches(&operators).await {
            warn!(error = %error, "reading the channels' switches to live failed");
        }
        if metrics_due <= Instant::now() {
            metrics_due = Instant::now() + METRICS_EVERY;
            if let Err(error) = report_metrics(&operators, &metrics).await {
                warn!(error = %error, "computing the shadow metrics failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = crate::sync::stop_requested(&mut stopped) => break,
        }
    }
}

async fn follow_switches(operators: &Operators) -> Result<(), LedgerError> {
    let in_shadow = operators
        .channels
        .values()
        .any(|channel| channel.control.is_shadow());
    if !in_shadow {
        return Ok(());
    }
    let switched = operators.ledger.shadow().switched_live().await?;
    for channel_id in switched.keys() {
        if let Some(runtime) = operators.channels.get(channel_id) {
            if runtime.control.set_shadow(false) {
                info!(channel = %channel_id, "channel switched to live on another replica");
            }
        }
    }
    Ok(())
}

async fn report_metrics(operators: &Operators, metrics: &Metrics) -> Result<(), LedgerError> {
    let counts = operators.ledger.shadow().counts().await?;
    let now = chrono::Utc::now().timestamp_millis();
    for (channel_id, runtime) in operators.channels.iter() {
        let shadow = runtime.control.is_shadow();
        metrics.channel_shadow(channel_id, shadow);
        if !shadow {
            continue;
        }
        let count = counts.get(channel_id).copied().unwrap_or_default();
        let largest = operators
            .ledger
            .shadow()
            .largest_differences(channel_id, 1)
            .await?
            .first()
            .map_or(0, |listing| listing.difference().abs());
        let differing_for = count
            .differing_since
            .map_or(0, |since| (now - since).max(0) / 1000);
        metrics.shadow_listings(
            channel_id,
            count.read.saturating_sub(count.differing),
            count.differing,
            largest,
            differing_for,
        );
    }
    Ok(())
}

impl Operators {
    /// The channel, if it is configured and enabled.
    fn enabled_channel(&self, channel_id: &str) -> Result<&ChannelRuntime, ShadowError> {
        self.channels
            .get(channel_id)
            .ok_or_else(|| ShadowError::UnknownChannel(channel_id.to_string()))
    }

    /// Whether the channel is in shadow mode now; `None` for a channel not enabled here.
    pub fn is_shadow(&self, channel_id: &str) -> Option<bool> {
        self.channels
            .get(channel_id)
            .map(|channel| channel.control.is_shadow())
    }

    /// A page of the shadow channel's listings as last read (only those that differ, when
    /// asked), by listing id: at most `limit`, after the listing `after`.
    pub async fn shadow_listings(
        &self,
        channel_id: &str,
        differing_only: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ShadowListingRecord>, ShadowError> {
        let channel = self.enabled_channel(channel_id)?;
        // A live channel has no shadow report, whatever a read finishing late left behind.
        if !channel.control.is_shadow() {
            return Ok(Vec::new());
        }
        Ok(self
            .ledger
            .shadow()
            .listings_page(channel_id, differing_only, after, limit)
            .await?)
    }

    /// The summary of every channel in shadow mode now.
    pub async fn shadow_summaries(&self) -> Result<BTreeMap<String, ShadowSummary>, LedgerError> {
        let mut summaries = BTreeMap::new();
        let in_shadow: Vec<&String> = self
            .channels
            .iter()
            .filter(|(_, channel)| channel.control.is_shadow())
            .map(|(id, _)| id)
            .collect();
        if in_shadow.is_empty() {
            return Ok(summaries);
        }
        let counts = self.ledger.shadow().counts().await?;
        for channel_id in in_shadow {
            let largest = self
                .ledger
                .shadow()
                .largest_differences(channel_id, LARGEST_DIFFERENCES)
                .await?;
            let summary = ShadowSummary {
                counts: counts.get(channel_id).copied().unwrap_or_default(),
                largest,
            };
            summaries.insert(channel_id.clone(), summary);
        }
        Ok(summaries)
    }

    /// A page of the writes the first sweep after switching the shadow channel to live would
    /// make now: each synced listing (but those parked as dead letters) whose policy quantity
    /// is not what the channel was last read to show, in the sweep's order (see
    /// [`PlanPosition`]), at most `limit` of them after `after`. The walk goes on from where
    /// the last page ended, a page of SKUs at a time, until it has `limit` writes and one more
    /// (which says another page follows), so memory stays bounded whatever the catalog.
    pub async fn go_live_plan(
        &self,
        channel_id: &str,
        after: Option<&PlanPosition>,
        limit: usize,
    ) -> Result<PlanPage, ShadowError> {
        let channel = self.enabled_channel(channel_id)?;
        if !channel.control.is_shadow() {
            return Err(ShadowError::NotInShadow(channel_id.to_string()));
        }
        let limit = limit.max(1);
        let parked = self
            .ledger
            .dead_letters()
            .parked_listings(channel_id)
            .await?;
        let mut pages = match after {
            Some(position) => TargetPages::starting_at(channel_id, &position.sku),
            None => TargetPages::new(channel_id),
        };
        let mut planned: Vec<PushTarget> = Vec::new();
        while planned.len() <= limit {
            let Some(page) = pages.next(&self.ledger, &channel.policy).await? else {
                break;
            };
            let rank: HashMap<&str, usize> = page
                .skus
                .iter()
                .enumerate()
                .map(|(rank, sku)| (sku.as_str(), rank))
                .collect();
            let mut writes: Vec<PushTarget> = page
                .targets
                .into_iter()
                .filter(|target| {
                    !parked.contains(&target.listing_id)
                        && target.last_pushed_quantity != Some(target.quantity)
                        && after.is_none_or(|position| position.is_before(target))
                })
                .collect();
            writes.sort_by(|one, other| {
                (rank.get(one.lowest_sku.as_str()), &one.listing_id)
                    .cmp(&(rank.get(other.lowest_sku.as_str()), &other.listing_id))
            });
            planned.extend(writes);
        }
        let next = if planned.len() > limit {
            planned.truncate(limit);
            planned.last().map(PlanPosition::of)
        } else {
            None
        };
        let listing_ids: Vec<&str> = planned
            .iter()
            .map(|target| target.listing_id.as_str())
            .collect();
        let last_read = self
            .ledger
            .shadow()
            .listings_by_id(channel_id, &listing_ids)
            .await?;
        let writes = planned
            .into_iter()
            .map(|target| {
                let read = last_read.get(&target.listing_id);
                PlannedWrite {
                    shown: read.and_then(|listing| listing.shown),
                    read_at: read.map(|listing| listing.read_at),
                    to_set: target.quantity,
                    listing_id: target.listing_id,
                    sku: target.sku,
                }
            })
            .collect();
        Ok(PlanPage { writes, next })
    }

    /// Switches the shadow channel to live: stored in the ledger (every replica follows within
    /// a second) and effective at once here; the sync leader's pusher then sweeps the channel.
    /// Returns the first `limit` writes that sweep makes and how many it makes in all, as
    /// planned just before the switch, and when the channel went live (unix ms).
    pub async fn go_live(&self, channel_id: &str, limit: usize) -> Result<GoneLive, ShadowError> {
        let channel = self.enabled_channel(channel_id)?;
        let first = self.go_live_plan(channel_id, None, limit).await?;
        let write_count = if first.next.is_none() {
            first.writes.len()
        } else {
            super::out_of_date::count(&self.ledger, channel).await?
        };
        let went_live_at = self
            .ledger
            .shadow()
            .switch_live(channel_id, chrono::Utc::now().timestamp_millis())
            .await?;
        channel.control.set_shadow(false);
        info!(channel = %channel_id, writes = write_count, "channel switched from shadow to live");
        Ok(GoneLive {
            first_writes: first.writes,
            write_count,
            went_live_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_position_comes_back_from_its_text() {
        let position = PlanPosition {
            sku: "SKU/1 ü".to_string(),
            listing_id: "L-1?&x".to_string(),
        };
        let text = position.encode();
        assert!(text.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
        assert_eq!(PlanPosition::decode(&text), Some(position));
    }

    #[test]
    fn other_text_is_no_plan_position() {
        for text in ["", "abc", "zz", "4c2d31", "004c", "4c00", "4c00ff"] {
            assert_eq!(PlanPosition::decode(text), None, "{text}");
        }
    }
}
