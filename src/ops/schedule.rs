//! The operators' background task: once a second it follows pause changes made on other
//! replicas, marks jobs whose process died interrupted, refreshes the dead-letter metric and,
//! on the sync leader only, queues the scheduled reconciliations that are due (so that several
//! replicas never each start one).

use super::jobs::{ResyncScope, StartJobError};
use super::{dead_letters, stale_cutoff, Operators};
use crate::ledger::channel_status::PushActivityRecord;
use crate::ledger::{ResyncMode, TriggerKind};
use crate::metrics::Metrics;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

const TICK: Duration = Duration::from_secs(1);

pub(super) async fn run(
    operators: Operators,
    metrics: Metrics,
    reconcile_intervals: BTreeMap<String, Duration>,
    mut stopped: watch::Receiver<bool>,
) {
    let started_at = chrono::Utc::now().timestamp_millis();
    let none_scheduled = BTreeMap::new();
    loop {
        let leading = operators.is_leader();
        let intervals = if leading {
            &reconcile_intervals
        } else {
            &none_scheduled
        };
        if let Err(error) = tick(&operators, &metrics, intervals, started_at).await {
            warn!(error = %error, "the operators' schedule tick failed");
        }
        if leading {
            if let Err(error) = publish_push_activity(&operators).await {
                warn!(error = %error, "publishing the channels' push activity failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = crate::sync::stop_requested(&mut stopped) => break,
        }
    }
}

async fn tick(
    operators: &Operators,
    metrics: &Metrics,
    reconcile_intervals: &BTreeMap<String, Duration>,
    started_at: i64,
) -> Result<(), crate::ledger::LedgerError> {
    let ledger = &operators.ledger;
    for channel in ledger.channels().await? {
        if let Some(runtime) = operators.channels.get(&channel.id) {
            if runtime.control.set_paused(channel.paused) {
                info!(channel = %channel.id, paused = channel.paused, "channel pause changed on another replica");
            }
        }
    }
    for id in ledger.jobs().interrupt_stale(stale_cutoff()).await? {
        info!(job = %id, "resync job whose process stopped marked interrupted");
    }
    let now = chrono::Utc::now().timestamp_millis();
    for (channel, interval) in reconcile_intervals {
        // A shadow channel's pusher reads it in full on this interval instead.
        if operators.is_shadow(channel) == Some(true) {
            continue;
        }
        // Without an earlier scheduled run the first one is due one interval after start, so
        // that restarts do not each cost a full reconciliation.
        let last = ledger
            .jobs()
            .last_created(channel, ResyncMode::Reconcile, TriggerKind::Schedule)
            .await?
            .unwrap_or(started_at);
        if now - last < interval.as_millis() as i64 {
            continue;
        }
        let scope = ResyncScope {
            channel: Some(channel.clone()),
            skus: None,
            mode: ResyncMode::Reconcile,
        };
        match operators
            .jobs
            .start(scope, TriggerKind::Schedule, None)
            .await
        {
            Ok(job) => info!(channel = %channel, job = %job.id, "scheduled reconciliation queued"),
            Err(StartJobError::Overlap(job)) => {
                debug!(channel = %channel, job = %job, "scheduled reconciliation skipped: a resync is running")
            }
            Err(error) => {
                warn!(channel = %channel, error = %error, "scheduled reconciliation could not start")
            }
        }
    }
    let channel_ids: Vec<String> = operators.channels.keys().cloned().collect();
    dead_letters::report_counts(ledger, metrics, &channel_ids).await
}

/// Stores what this leader's pushers are doing, so that every replica's channel status shows
/// it (the pushers run on the leader only).
async fn publish_push_activity(operators: &Operators) -> Result<(), crate::ledger::LedgerError> {
    let now = chrono::Utc::now().timestamp_millis();
    for (channel_id, runtime) in operators.channels.iter() {
        let activity = runtime.control.snapshot();
        let (last_error_at, last_error) = match activity.last_push_error {
            Some((at, error)) => (Some(at), Some(error)),
            None => (None, None),
        };
        let sweep = activity.sweep.as_ref();
        let record = PushActivityRecord {
            channel_id: channel_id.clone(),
            backlog_skus: i64::try_from(activity.backlog.len()).unwrap_or(i64::MAX),
            calls_last_minute: i64::try_from(activity.recent_calls.len()).unwrap_or(i64::MAX),
            last_confirmed_at: activity.last_push_confirmed,
            last_error_at,
            last_error,
            sweep_cause: sweep.map(|sweep| sweep.cause.to_string()),
            sweep_started_at: sweep.map(|sweep| sweep.started_at),
            sweep_skus: sweep.map(|sweep| i64::try_from(sweep.skus_read).unwrap_or(i64::MAX)),
            last_sweep_done_at: activity.last_sweep_done,
            degraded: Some(i64::from(runtime.client.is_degraded())),
            bus_dead_lettered: Some(
                i64::try_from(runtime.control.dead_lettered()).unwrap_or(i64::MAX),
            ),
            updated_at: now,
        };
        operators
            .ledger
            .channel_status()
            .store_push_activity(&record)
            .await?;
    }
    Ok(())
}
