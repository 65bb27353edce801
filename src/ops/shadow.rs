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
//! Before the switch, [`Operators::go_live_plan`] lists every write the first sweep will make:
//! the listings whose policy quantity differs from what the channel was last read to show (or
//! that were never read), exactly the walk the sweep makes.

use super::Operators;
use crate::ledger::{Ledger, LedgerError, ShadowListingRecord, TargetPages};
use crate::metrics::Metrics;
use crate::settings::ChannelMode;
use crate::sync::ChannelRuntime;
use std::collections::BTreeMap;
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

    /// The shadow channel's listings as last read (only those that differ, when asked).
    pub async fn shadow_listings(
        &self,
        channel_id: &str,
        differing_only: bool,
    ) -> Result<Vec<ShadowListingRecord>, ShadowError> {
        let channel = self.enabled_channel(channel_id)?;
        // A live channel has no shadow report, whatever a read finishing late left behind.
        if !channel.control.is_shadow() {
            return Ok(Vec::new());
        }
        Ok(self
            .ledger
            .shadow()
            .listings(channel_id, differing_only)
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

    /// Every write the first sweep after switching the shadow channel to live would make now:
    /// each synced listing (but those parked as dead letters) whose policy quantity is not what
    /// the channel was last read to show, in SKU order, a page at a time as the sweep walks.
    pub async fn go_live_plan(&self, channel_id: &str) -> Result<Vec<PlannedWrite>, ShadowError> {
        let channel = self.enabled_channel(channel_id)?;
        if !channel.control.is_shadow() {
            return Err(ShadowError::NotInShadow(channel_id.to_string()));
        }
        let last_read: BTreeMap<String, ShadowListingRecord> = self
            .ledger
            .shadow()
            .listings(channel_id, false)
            .await?
            .into_iter()
            .map(|listing| (listing.listing_id.clone(), listing))
            .collect();
        let parked = self
            .ledger
            .dead_letters()
            .parked_listings(channel_id)
            .await?;
        let mut pages = TargetPages::new(channel_id);
        let mut writes = Vec::new();
        while let Some(page) = pages.next(&self.ledger, &channel.policy).await? {
            for target in page.targets {
                if parked.contains(&target.listing_id)
                    || target.last_pushed_quantity == Some(target.quantity)
                {
                    continue;
                }
                let read = last_read.get(&target.listing_id);
                writes.push(PlannedWrite {
                    shown: read.and_then(|listing| listing.shown),
                    read_at: read.map(|listing| listing.read_at),
                    to_set: target.quantity,
                    listing_id: target.listing_id,
                    sku: target.sku,
                });
            }
        }
        Ok(writes)
    }

    /// Switches the shadow channel to live: stored in the ledger (every replica follows within
    /// a second) and effective at once here; the sync leader's pusher then sweeps the channel.
    /// Returns the writes that sweep makes, as planned just before the switch, and when the
    /// channel went live (unix ms).
    pub async fn go_live(&self, channel_id: &str) -> Result<(Vec<PlannedWrite>, i64), ShadowError> {
        let channel = self.enabled_channel(channel_id)?;
        let writes = self.go_live_plan(channel_id).await?;
        let went_live_at = self
            .ledger
            .shadow()
            .switch_live(channel_id, chrono::Utc::now().timestamp_millis())
            .await?;
        channel.control.set_shadow(false);
        info!(channel = %channel_id, writes = writes.len(), "channel switched from shadow to live");
        Ok((writes, went_live_at))
    }
}
