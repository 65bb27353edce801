//! The sync leader's work: one pusher per channel (start-up sweep, then its queue), one poller
//! per polled channel, one notification reader per channel with a notification queue
//! (`notifications.rs`), the resync job runner, and the pending webhook receipts'
//! fetch-and-book (`receipts.rs`). Started when this replica becomes the sync
//! leader (see `leader.rs`), stopped when it loses leadership or stops; becoming leader again
//! starts them again.
//!
//! Every task runs under [`supervise`]: one that panics or ends while it should run is logged
//! at `error`, counted (`omnistock_task_restarts_total`) and started again after a backoff.
//!
//! Only one replica pushes to a channel at a time this way, whichever replica accepted a resync
//! or received the webhooks; RabbitMQ's single active consumer stays as a second guard. Polling
//! books idempotently and could run everywhere, but runs on the leader alone to spend each
//! platform's API calls once.

use crate::bus::{Bus, Consumer};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::sync::channel::ChannelRuntime;
use crate::sync::intake::Intake;
use crate::sync::notifications::run_notifications;
use crate::sync::poll::run_poller;
use crate::sync::push::ChannelPusher;
use crate::sync::receipts::{run_receipts, ReceiptDuty};
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

/// How long stopping waits for the tasks to finish what they are doing before abandoning them.
/// Abandoned work is safe: unacknowledged messages are delivered again.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The same when leadership is lost: short, because another replica may be leading already.
pub const LOST_LEADERSHIP_GRACE: Duration = Duration::from_secs(1);

/// How long a pusher waits before it tries again to subscribe to its queue.
/// Short, so that stock flows again soon after the broker is back.
const CONSUME_RETRY: Duration = Duration::from_secs(1);

/// The first wait before a supervised task that ended is started again; doubled at every
/// restart in a row, up to [`RESTART_BACKOFF_MAX`].
const RESTART_BACKOFF_FIRST: Duration = Duration::from_secs(1);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A task that ran at least this long before it ended is restarted after the first backoff
/// again: it is not failing in a loop.
const RESTART_BACKOFF_RESET: Duration = Duration::from_secs(60);

/// Runs the queued resync jobs until the stop it is given: built by `ops/`, which keeps the
/// jobs, so that the leader's work runs them without `sync/` depending on `ops/`.
pub type JobRunner = Arc<dyn Fn(watch::Receiver<bool>) -> BoxFuture<'static, ()> + Send + Sync>;

/// What the leader's tasks are built from. Cheap to clone.
#[derive(Clone)]
pub struct LeaderDuties {
    pub ledger: Ledger,
    pub bus: Bus,
    pub channels: Vec<ChannelRuntime>,
    pub intake: Intake,
    pub metrics: Metrics,
    pub job_runner: JobRunner,
}

/// The leader's tasks while they run.
pub struct Running {
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
}

impl LeaderDuties {
    /// Starts the duties now when this replica leads already, so that a lone replica's
    /// pushers are subscribed before it reports itself ready; [`LeaderDuties::follow`] takes
    /// them over.
    pub async fn start_if_leading(&self, leader: &watch::Receiver<bool>) -> Option<Running> {
        let leading = *leader.borrow();
        if leading {
            Some(self.start().await)
        } else {
            None
        }
    }

    /// Follows `leader`: runs the duties while it holds `true` (from `running`, if they were
    /// started already), until `stopped`.
    pub async fn follow(
        self,
        mut leader: watch::Receiver<bool>,
        mut running: Option<Running>,
        mut stopped: watch::Receiver<bool>,
    ) {
        loop {
            let running = match running.take() {
                Some(running) => running,
                None => {
                    tokio::select! {
                        biased;
                        _ = crate::sync::stop_requested(&mut stopped) => return,
                        still_open = leadership_is(&mut leader, true) => if !still_open { return },
                    }
                    self.start().await
                }
            };
            let stopping = tokio::select! {
                biased;
                _ = crate::sync::stop_requested(&mut stopped) => true,
                _ = leadership_is(&mut leader, false) => false,
            };
            if stopping {
                running.stop(STOP_GRACE).await;
                return;
            }
            running.stop(LOST_LEADERSHIP_GRACE).await;
            info!("the sync leader's work stopped: leadership lost");
        }
    }

    async fn start(&self) -> Running {
        info!(
            channels = self.channels.len(),
            "starting the sync leader's work"
        );
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let job_runner = self.job_runner.clone();
        let job_stop = stopped.clone();
        tasks.spawn(supervise(
            Supervised::new("job_runner", ""),
            self.metrics.clone(),
            stopped.clone(),
            move || job_runner(job_stop.clone()),
            || {},
        ));
        let receipts = ReceiptDuty::new(
            self.ledger.clone(),
            self.intake.clone(),
            &self.channels,
            self.metrics.clone(),
        );
        let receipt_stop = stopped.clone();
        tasks.spawn(supervise(
            Supervised::new("webhook_receipts", ""),
            self.metrics.clone(),
            stopped.clone(),
            move || run_receipts(receipts.clone(), receipt_stop.clone()),
            || {},
        ));
        for channel in &self.channels {
            // Subscribed here, not in the task, so that the pushers consume once this returns.
            let mut consumer = match self.bus.consume(&channel.id).await {
                Ok(consumer) => Some(consumer),
                Err(error) => {
                    warn!(channel = %channel.id, error = %error, "subscribing to the stock queue failed; trying again");
                    None
                }
            };
            let (bus, ledger, metrics) =
                (self.bus.clone(), self.ledger.clone(), self.metrics.clone());
            let (pushed_channel, push_stop) = (channel.clone(), stopped.clone());
            let (control, channel_id) = (channel.control.clone(), channel.id.clone());
            tasks.spawn(supervise(
                Supervised::new("pusher", &channel.id),
                self.metrics.clone(),
                stopped.clone(),
                move || {
                    push_channel(
                        bus.clone(),
                        ChannelPusher::new(pushed_channel.clone(), ledger.clone(), metrics.clone()),
                        // A restarted pusher subscribes again.
                        consumer.take(),
                        push_stop.clone(),
                    )
                },
                move || {
                    let dropped = control.drop_pending_work();
                    if dropped > 0 {
                        warn!(channel = %channel_id, chunks = dropped, "resync work dropped: the channel's pusher is gone");
                    }
                },
            ));
            if let Some(interval) = channel.poll_interval {
                let (polled, intake, ledger, poll_stop) = (
                    channel.clone(),
                    self.intake.clone(),
                    self.ledger.clone(),
                    stopped.clone(),
                );
                tasks.spawn(supervise(
                    Supervised::new("poller", &channel.id),
                    self.metrics.clone(),
                    stopped.clone(),
                    move || {
                        run_poller(
                            polled.clone(),
                            interval,
                            intake.clone(),
                            ledger.clone(),
                            poll_stop.clone(),
                        )
                    },
                    || {},
                ));
            }
            if channel.connector.has_notification_queue() {
                let (notified, intake, metrics, notification_stop) = (
                    channel.clone(),
                    self.intake.clone(),
                    self.metrics.clone(),
                    stopped.clone(),
                );
                tasks.spawn(supervise(
                    Supervised::new("notifications", &channel.id),
                    self.metrics.clone(),
                    stopped.clone(),
                    move || {
                        run_notifications(
                            notified.clone(),
                            intake.clone(),
                            metrics.clone(),
                            notification_stop.clone(),
                        )
                    },
                    || {},
                ));
            }
            info!(
                channel = %channel.id,
                kind = %channel.kind,
                location = %channel.location,
                rate_limit = channel.rate_limit.map(|limit| limit.to_string()),
                poll_interval_secs = channel.poll_interval.map(|interval| interval.as_secs()),
                notification_queue = channel.connector.has_notification_queue(),
                "channel sync started"
            );
        }
        Running { tasks, stop }
    }
}

impl Running {
    /// Asks every task to stop and waits for them, at most `grace`.
    async fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        drain(&mut self.tasks, grace, "sync tasks").await;
    }
}

/// Waits for every task of `tasks`, at most `grace`, then abandons the rest (their work is
/// safe to abandon: unacknowledged messages are delivered again, outbox rows stay).
pub async fn drain(tasks: &mut JoinSet<()>, grace: Duration, what: &str) {
    let drained = tokio::time::timeout(grace, async {
        while let Some(result) = tasks.join_next().await {
            if let Err(error) = result {
                warn!(tasks = what, error = %error, "a sync task ended abnormally");
            }
        }
    })
    .await;
    if drained.is_err() {
        warn!(tasks = what, "tasks did not stop in time; abandoning them");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Runs the pusher on `consumer`, or first subscribes to the channel's queue (trying again
/// while the bus refuses).
async fn push_channel(
    bus: Bus,
    pusher: ChannelPusher,
    consumer: Option<Consumer>,
    mut stopped: watch::Receiver<bool>,
) {
    // Beside the pusher, for as long as it runs: the bus's dead letters of its channel.
    let watch = tokio::spawn(watch_dead_letters(
        bus.clone(),
        pusher.channel().clone(),
        pusher.metrics().clone(),
        stopped.clone(),
    ));
    let _watch = AbortOnDrop(watch);
    if let Some(consumer) = consumer {
        return pusher.run(consumer, stopped).await;
    }
    let channel_id = pusher.channel().id.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CONSUME_RETRY) => {}
            _ = crate::sync::stop_requested(&mut stopped) => return,
        }
        match bus.consume(&channel_id).await {
            Ok(consumer) => return pusher.run(consumer, stopped).await,
            Err(error) => {
                warn!(channel = %channel_id, error = %error, retry_in_ms = CONSUME_RETRY.as_millis() as u64, "subscribing to the stock queue failed");
            }
        }
    }
}

/// How often the leader counts a channel's dead-lettered messages.
const DEAD_LETTER_CHECK: Duration = Duration::from_secs(5);

/// Counts the messages the bus dead-lettered for `channel` every [`DEAD_LETTER_CHECK`]: the
/// metric and the channel status show the count, and a rise makes the pusher sweep the
/// channel (those changes reached no push, whatever the reason the bus gave up on them).
async fn watch_dead_letters(
    bus: Bus,
    channel: ChannelRuntime,
    metrics: Metrics,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        match bus.dead_letter_count(&channel.id).await {
            Ok(count) => {
                metrics.bus_dead_lettered(&channel.id, count);
                if channel.control.note_dead_lettered(count) {
                    warn!(channel = %channel.id, dead_lettered = count,
                        "the bus dead-lettered stock changes of this channel; sweeping it");
                }
            }
            Err(error) => {
                debug!(channel = %channel.id, error = %error, "counting dead-lettered messages failed")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(DEAD_LETTER_CHECK) => {}
            _ = crate::sync::stop_requested(&mut stopped) => return,
        }
    }
}

/// Aborts a task when dropped, so a helper task ends with the one it serves.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Which task [`supervise`] runs, for its logs and the restart metric.
#[derive(Debug, Clone)]
pub struct Supervised {
    pub task: &'static str,
    /// Empty for a task of no one channel.
    pub channel: String,
}

impl Supervised {
    pub fn new(task: &'static str, channel: &str) -> Self {
        Self {
            task,
            channel: channel.to_string(),
        }
    }
}

/// Runs the task `make` builds until `stopped`; when it panics or ends before, logs it at
/// `error`, counts it, calls `on_end` (to fail what waited on it), and starts a new one after a
/// backoff (1 s, doubling up to a minute; from 1 s again after a task that ran a minute). The
/// task runs in a task of its own, so its panic is caught here; it is aborted if this is.
pub async fn supervise<F, Fut>(
    name: Supervised,
    metrics: Metrics,
    mut stopped: watch::Receiver<bool>,
    mut make: F,
    on_end: impl Fn(),
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = RESTART_BACKOFF_FIRST;
    loop {
        let started = Instant::now();
        let mut running = JoinSet::new();
        running.spawn(make());
        let ended = tokio::select! {
            ended = running.join_next() => ended,
            _ = crate::sync::stop_requested(&mut stopped) => {
                // The task sees the same stop; its own grace bounds the wait (see `drain`).
                while running.join_next().await.is_some() {}
                return;
            }
        };
        if *stopped.borrow() {
            return;
        }
        let how = match ended {
            Some(Err(join_error)) => describe_failure(join_error),
            Some(Ok(())) | None => "ended unexpectedly".to_string(),
        };
        if started.elapsed() >= RESTART_BACKOFF_RESET {
            backoff = RESTART_BACKOFF_FIRST;
        }
        error!(
            task = name.task,
            channel = %name.channel,
            failure = %how,
            restart_in_ms = backoff.as_millis() as u64,
            "a sync task stopped; restarting it"
        );
        metrics.task_restart(name.task, &name.channel);
        on_end();
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = crate::sync::stop_requested(&mut stopped) => return,
        }
        backoff = (backoff * 2).min(RESTART_BACKOFF_MAX);
    }
}

/// What a task's join error says: its panic message, or that it was cancelled.
fn describe_failure(join_error: JoinError) -> String {
    if !join_error.is_panic() {
        return "cancelled".to_string();
    }
    let panic = join_error.into_panic();
    let message = panic
        .downcast_ref::<&str>()
        .map(|message| message.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    format!("panicked: {message}")
}

/// Resolves once leadership equals `value`; `false` if the election is gone.
async fn leadership_is(leader: &mut watch::Receiver<bool>, value: bool) -> bool {
    leader.wait_for(|leading| *leading == value).await.is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Starts `supervise` over a task that ends the way `first_run` says on its first run and
    /// runs until stopped after; returns what it needs to watch it.
    fn supervised_task(
        first_run: fn(),
    ) -> (
        Metrics,
        watch::Sender<bool>,
        Arc<AtomicUsize>,
        Arc<AtomicUsize>,
        tokio::task::JoinHandle<()>,
    ) {
        let metrics = Metrics::new();
        let (stop, stopped) = watch::channel(false);
        let starts = Arc::new(AtomicUsize::new(0));
        let ends = Arc::new(AtomicUsize::new(0));
        let supervisor = tokio::spawn(supervise(
            Supervised::new("pusher", "sim-a"),
            metrics.clone(),
            stopped.clone(),
            {
                let starts = starts.clone();
                move || {
                    let run = starts.fetch_add(1, Ordering::SeqCst);
                    let mut stopped = stopped.clone();
                    async move {
                        if run == 0 {
                            first_run();
                            return;
                        }
                        crate::sync::stop_requested(&mut stopped).await;
                    }
                }
            },
            {
                let ends = ends.clone();
                move || {
                    ends.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
        (metrics, stop, starts, ends, supervisor)
    }

    async fn wait_for_starts(starts: &AtomicUsize, count: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while starts.load(Ordering::SeqCst) < count {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
    }

    fn restarts_counted(metrics: &Metrics) -> bool {
        metrics
            .encode()
            .unwrap()
            .contains(r#"omnistock_task_restarts_total{task="pusher",channel="sim-a"} 1"#)
    }

    #[tokio::test]
    async fn a_task_that_panics_is_counted_and_started_again() {
        let (metrics, stop, starts, ends, supervisor) =
            supervised_task(|| panic!("injected pusher failure"));
        wait_for_starts(&starts, 2).await;
        assert_eq!(
            ends.load(Ordering::SeqCst),
            1,
            "what waited on it was failed"
        );
        assert!(restarts_counted(&metrics), "{}", metrics.encode().unwrap());

        stop.send(true).unwrap();
        supervisor.await.unwrap();
        assert_eq!(
            starts.load(Ordering::SeqCst),
            2,
            "not restarted once stopped"
        );
    }

    #[tokio::test]
    async fn a_task_that_ends_on_its_own_is_started_again() {
        let (metrics, stop, starts, ends, supervisor) = supervised_task(|| {});
        wait_for_starts(&starts, 2).await;
        assert_eq!(ends.load(Ordering::SeqCst), 1);
        assert!(restarts_counted(&metrics), "{}", metrics.encode().unwrap());
        stop.send(true).unwrap();
        supervisor.await.unwrap();
    }
}
