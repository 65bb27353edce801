//! The sync leader's work: one pusher per channel (start-up sweep, then its queue), one poller
//! per polled channel, and the resync job runner. Started when this replica becomes the sync
//! leader (see `leader.rs`), stopped when it loses leadership or stops; becoming leader again
//! starts them again.
//!
//! Only one replica pushes to a channel at a time this way, whichever replica accepted a resync
//! or received the webhooks; RabbitMQ's single active consumer stays as a second guard. Polling
//! books idempotently and could run everywhere, but runs on the leader alone to spend each
//! platform's API calls once.

use crate::bus::{Bus, Consumer};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::ops::Jobs;
use crate::sync::channel::ChannelRuntime;
use crate::sync::intake::Intake;
use crate::sync::poll::run_poller;
use crate::sync::push::ChannelPusher;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// How long stopping waits for the tasks to finish what they are doing before abandoning them.
/// Abandoned work is safe: unacknowledged messages are delivered again.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The same when leadership is lost: short, because another replica may be leading already.
const LOST_LEADERSHIP_GRACE: Duration = Duration::from_secs(1);

/// How long a pusher waits before it tries again to subscribe to its queue.
const CONSUME_RETRY: Duration = Duration::from_secs(2);

/// What the leader's tasks are built from. Cheap to clone.
#[derive(Clone)]
pub struct LeaderDuties {
    pub ledger: Ledger,
    pub bus: Bus,
    pub channels: Vec<ChannelRuntime>,
    pub intake: Intake,
    pub metrics: Metrics,
    pub jobs: Jobs,
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
        tasks.spawn(crate::ops::run_queued(self.jobs.clone(), stopped.clone()));
        for channel in &self.channels {
            // Subscribed here, not in the task, so that the pushers consume once this returns.
            let consumer = match self.bus.consume(&channel.id).await {
                Ok(consumer) => Some(consumer),
                Err(error) => {
                    warn!(channel = %channel.id, error = %error, "subscribing to the stock queue failed; trying again");
                    None
                }
            };
            tasks.spawn(push_channel(
                self.bus.clone(),
                ChannelPusher::new(channel.clone(), self.ledger.clone(), self.metrics.clone()),
                consumer,
                stopped.clone(),
            ));
            if let Some(interval) = channel.poll_interval {
                tasks.spawn(run_poller(
                    channel.clone(),
                    interval,
                    self.intake.clone(),
                    self.ledger.clone(),
                    stopped.clone(),
                ));
            }
            info!(
                channel = %channel.id,
                kind = %channel.kind,
                location = %channel.location,
                rate_limit = ?channel.rate_limit.map(|limit| limit.to_string()),
                poll_interval_secs = ?channel.poll_interval.map(|interval| interval.as_secs()),
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

/// Resolves once leadership equals `value`; `false` if the election is gone.
async fn leadership_is(leader: &mut watch::Receiver<bool>, value: bool) -> bool {
    leader.wait_for(|leading| *leading == value).await.is_ok()
}
