//! What operators can change and see of one channel's pusher while it runs: whether it is
//! paused, the resync work waiting for it and its recent push activity (with its sweep).
//!
//! One `ChannelControl` exists per configured channel (it travels in the channel's
//! `ChannelRuntime`); the admin API and the resync jobs write to it, the pusher reads it.

use super::resync::ResyncWork;
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How far back the push calls counted against the rate-limit budget go.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(60);

/// Shared handle to one channel's controls. Cheap to clone.
#[derive(Clone)]
pub struct ChannelControl {
    inner: Arc<Inner>,
}

struct Inner {
    paused: watch::Sender<bool>,
    work_sender: mpsc::UnboundedSender<ResyncWork>,
    work_receiver: tokio::sync::Mutex<mpsc::UnboundedReceiver<ResyncWork>>,
    activity: Mutex<Activity>,
    /// How many of the channel's messages the bus has dead-lettered, as last counted; the
    /// pusher sweeps the channel when it rises.
    dead_lettered: watch::Sender<u64>,
    /// The channel is in shadow mode: read, never written (see `shadow.rs`).
    shadow: watch::Sender<bool>,
}

/// The pusher's recent activity, as the channel status shows it.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// SKUs waiting to be pushed (taken from the queue, or held while paused).
    pub backlog: BTreeSet<String>,
    /// The last failure of a push call or of a listing, with when it happened (unix ms).
    pub last_push_error: Option<(i64, String)>,
    /// When the channel last confirmed a push (unix ms).
    pub last_push_confirmed: Option<i64>,
    /// When each recent call to the channel was made.
    pub recent_calls: VecDeque<Instant>,
    /// The sweep under way, if any.
    pub sweep: Option<SweepProgress>,
    /// When the last sweep finished (unix ms).
    pub last_sweep_done: Option<i64>,
}

/// How far a sweep of the channel has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepProgress {
    /// Why it runs: `start-up`, `resume` or `recovery`.
    pub cause: &'static str,
    /// When it started (unix ms).
    pub started_at: i64,
    /// SKUs read so far (pages are read in SKU order).
    pub skus_read: u64,
}

impl Default for ChannelControl {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ChannelControl {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ChannelControl")
            .field("paused", &self.is_paused())
            .field("shadow", &self.is_shadow())
            .finish_non_exhaustive()
    }
}

impl ChannelControl {
    pub fn new() -> Self {
        let (paused, _) = watch::channel(false);
        let (work_sender, work_receiver) = mpsc::unbounded_channel();
        let (dead_lettered, _) = watch::channel(0);
        let (shadow, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                paused,
                work_sender,
                work_receiver: tokio::sync::Mutex::new(work_receiver),
                activity: Mutex::new(Activity::default()),
                dead_lettered,
                shadow,
            }),
        }
    }

    pub fn is_paused(&self) -> bool {
        *self.inner.paused.borrow()
    }

    /// Sets the pause; returns whether it changed.
    pub fn set_paused(&self, paused: bool) -> bool {
        self.inner.paused.send_if_modified(|current| {
            let changed = *current != paused;
            *current = paused;
            changed
        })
    }

    /// A receiver that sees every change of the pause.
    pub fn watch_paused(&self) -> watch::Receiver<bool> {
        self.inner.paused.subscribe()
    }

    /// Whether the channel is in shadow mode: the gateway refuses every stock write, and the
    /// pusher reads the listings it would have pushed instead.
    pub fn is_shadow(&self) -> bool {
        *self.inner.shadow.borrow()
    }

    /// Sets shadow mode; returns whether it changed.
    pub fn set_shadow(&self, shadow: bool) -> bool {
        self.inner.shadow.send_if_modified(|current| {
            let changed = *current != shadow;
            *current = shadow;
            changed
        })
    }

    /// A receiver that sees every change of the mode.
    pub fn watch_shadow(&self) -> watch::Receiver<bool> {
        self.inner.shadow.subscribe()
    }

    /// Notes how many of the channel's messages the bus has dead-lettered; returns whether the
    /// count rose (its pusher then sweeps the channel: those changes reached no push).
    pub fn note_dead_lettered(&self, count: u64) -> bool {
        self.inner.dead_lettered.send_if_modified(|current| {
            let rose = count > *current;
            *current = count;
            rose
        })
    }

    /// The last count of the channel's dead-lettered messages.
    pub fn dead_lettered(&self) -> u64 {
        *self.inner.dead_lettered.borrow()
    }

    /// A receiver that sees every rise of the dead-lettered count.
    pub fn watch_dead_lettered(&self) -> watch::Receiver<u64> {
        self.inner.dead_lettered.subscribe()
    }

    /// Hands resync work to the channel's pusher. `false` when no pusher can take it.
    pub fn submit(&self, work: ResyncWork) -> bool {
        self.inner.work_sender.send(work).is_ok()
    }

    /// The next resync work for the pusher; waits until there is some.
    pub async fn next_work(&self) -> Option<ResyncWork> {
        self.inner.work_receiver.lock().await.recv().await
    }

    /// Drops the resync work no pusher took: the pusher is gone, so each job waiting on it
    /// records its chunk failed ("the channel's pusher is gone") instead of waiting for ever.
    /// The number of chunks dropped.
    pub fn drop_pending_work(&self) -> usize {
        // Uncontended: the pusher that held the receiver has ended.
        let Ok(mut receiver) = self.inner.work_receiver.try_lock() else {
            return 0;
        };
        let mut dropped = 0;
        while receiver.try_recv().is_ok() {
            dropped += 1;
        }
        dropped
    }

    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        // A poisoned lock only means a panic mid-update of plain counters: keep using them.
        self.inner
            .activity
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of the recent activity.
    pub fn snapshot(&self) -> Activity {
        let mut activity = self.activity();
        prune_calls(&mut activity.recent_calls);
        activity.clone()
    }

    pub fn set_backlog(&self, skus: &BTreeSet<String>) {
        self.activity().backlog = skus.clone();
    }

    pub fn add_backlog(&self, skus: impl IntoIterator<Item = String>) {
        self.activity().backlog.extend(skus);
    }

    pub fn clear_backlog(&self) {
        self.activity().backlog.clear();
    }

    pub fn note_push_error(&self, error: &str) {
        self.activity().last_push_error =
            Some((chrono::Utc::now().timestamp_millis(), error.into()));
    }

    pub fn note_push_confirmed(&self) {
        self.activity().last_push_confirmed = Some(chrono::Utc::now().timestamp_millis());
    }

    /// Notes how far the sweep under way has got.
    pub fn note_sweep(&self, progress: SweepProgress) {
        self.activity().sweep = Some(progress);
    }

    /// Notes that the sweep under way went through every page.
    pub fn note_sweep_done(&self) {
        let mut activity = self.activity();
        if activity.sweep.take().is_some() {
            activity.last_sweep_done = Some(chrono::Utc::now().timestamp_millis());
        }
    }

    /// Notes that the sweep under way, if any, stopped with its pusher before it was done.
    pub fn note_sweep_stopped(&self) {
        self.activity().sweep = None;
    }

    /// Counts one call against the rate-limit budget.
    pub fn note_call(&self) {
        let mut activity = self.activity();
        activity.recent_calls.push_back(Instant::now());
        prune_calls(&mut activity.recent_calls);
    }
}

fn prune_calls(calls: &mut VecDeque<Instant>) {
    while calls
        .front()
        .is_some_and(|call| call.elapsed() > BUDGET_WINDOW)
    {
        calls.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_reported_as_changed_only_when_it_changes() {
        let control = ChannelControl::new();
        let mut watcher = control.watch_paused();
        assert!(!control.is_paused());
        assert!(control.set_paused(true));
        assert!(watcher.has_changed().unwrap_or(false));
        watcher.mark_unchanged();
        assert!(!control.set_paused(true), "pausing twice changes nothing");
        assert!(!watcher.has_changed().unwrap_or(true));
        assert!(control.set_paused(false));
        assert!(!control.is_paused());
    }

    #[test]
    fn the_backlog_and_calls_are_remembered() {
        let control = ChannelControl::new();
        control.add_backlog(["A".to_string(), "B".to_string()]);
        control.add_backlog(["A".to_string()]);
        control.note_call();
        control.note_push_error("boom");
        let activity = control.snapshot();
        assert_eq!(activity.backlog.len(), 2);
        assert_eq!(activity.recent_calls.len(), 1);
        assert_eq!(
            activity.last_push_error.map(|(_, error)| error),
            Some("boom".into())
        );
        control.clear_backlog();
        assert!(control.snapshot().backlog.is_empty());
    }

    #[test]
    fn only_a_finished_sweep_counts_as_done() {
        let control = ChannelControl::new();
        let progress = SweepProgress {
            cause: "start-up",
            started_at: 1,
            skus_read: 500,
        };
        control.note_sweep(progress.clone());
        assert_eq!(control.snapshot().sweep, Some(progress.clone()));
        control.note_sweep_stopped();
        let stopped = control.snapshot();
        assert_eq!((stopped.sweep, stopped.last_sweep_done), (None, None));
        control.note_sweep(progress);
        control.note_sweep_done();
        let done = control.snapshot();
        assert!(done.sweep.is_none() && done.last_sweep_done.is_some());
        // Ending again (the pusher stops after its sweep finished) keeps the time.
        control.note_sweep_stopped();
        assert_eq!(control.snapshot().last_sweep_done, done.last_sweep_done);
    }

    #[test]
    fn work_dropped_for_a_gone_pusher_answers_the_job_waiting_on_it() {
        let control = ChannelControl::new();
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        assert!(control.submit(ResyncWork {
            mode: crate::ledger::ResyncMode::Push,
            skus: vec!["SKU-1".to_string()],
            listing_ids: None,
            reply,
        }));
        assert_eq!(control.drop_pending_work(), 1);
        // The job reads a closed reply as "the channel's pusher is gone" (see `jobs.rs`).
        assert!(matches!(
            answer.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        ));
        assert_eq!(control.drop_pending_work(), 0);
    }
}
