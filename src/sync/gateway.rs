//! The channel gateway: every call omnistock makes to a platform — stock pushes, stock reads
//! for reconciliation, order pulls, catalog reads — goes through the channel's one [`ChannelClient`], shared
//! by its pusher, its poller and its resync work. It owns what is the same for every call:
//!
//! - the throttle (`throttle.rs`): pushes and polls of one channel share its rate limit;
//! - the connector's pacing hint ([`Connector::wait_before`], Shopify's cost bucket): the
//!   gateway waits before the call instead of learning from a refusal;
//! - the retry policy (`retry.rs`): backoff honouring Retry-After, every wait bounded by
//!   [`MAX_PLATFORM_WAIT`](crate::sync::retry::MAX_PLATFORM_WAIT) and cut short by a stop (or,
//!   for stock calls, a pause);
//! - per-call metrics and the call counts of `GET /admin/channels`;
//! - the channel's health: after [`DEGRADED_AFTER_FAILURES`] failed calls in a row over at
//!   least [`DEGRADED_AFTER`] the channel is **degraded** (one `warn`), until a call succeeds
//!   (one `info`). A degraded channel's calls are tried once, not retried: its pusher holds
//!   its changes and probes (see `push.rs`).

use crate::metrics::Metrics;
use crate::sync::push::ChannelControl;
use crate::sync::retry::{bounded_wait, channel_backoff, error_class, next_attempt_in};
use crate::sync::throttle::Throttle;
use omnistock_connector::{
    CallKind, CatalogPage, Connector, ConnectorError, NotificationBatch, OrderEvent, OrderPage,
    PushResult, RateLimit, StockLevel, SubmissionStatus,
};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{info, warn};

/// Failed calls in a row (rate-limit refusals aside: the platform answers) after which a
/// channel is degraded, if they also span [`DEGRADED_AFTER`].
pub const DEGRADED_AFTER_FAILURES: u32 = 3;
/// How long calls must have kept failing before the channel is degraded, so that one passing
/// fault retried to success never marks it.
pub const DEGRADED_AFTER: Duration = Duration::from_secs(5);

/// Why a call through the gateway did not return the platform's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// A stop (or a pause, for stock calls) ended a wait before the call was made.
    #[error("the call was interrupted by a stop or a pause")]
    Interrupted,
    /// A stock write to a channel in shadow mode: refused here, never sent.
    #[error("the channel is in shadow mode: its stock is never written")]
    Shadow,
}

/// What cuts the gateway's waits short: the stop of the task making the call and, for stock
/// calls, the channel's pause. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    stop: Option<watch::Receiver<bool>>,
    paused: Option<watch::Receiver<bool>>,
}

impl Interrupt {
    /// Nothing interrupts (tests, one-off calls).
    pub fn never() -> Self {
        Self::default()
    }

    /// Interrupted once `stop` holds `true` (or its sender is gone).
    pub fn on_stop(stop: watch::Receiver<bool>) -> Self {
        Self {
            stop: Some(stop),
            paused: None,
        }
    }

    /// Also interrupted while `paused` holds `true`.
    pub fn or_pause(mut self, paused: watch::Receiver<bool>) -> Self {
        self.paused = Some(paused);
        self
    }

    /// Whether a stop or a pause holds now.
    pub fn is_requested(&self) -> bool {
        let stopped = self
            .stop
            .as_ref()
            .is_some_and(|stop| *stop.borrow() || stop.has_changed().is_err());
        let paused = self.paused.as_ref().is_some_and(|paused| *paused.borrow());
        stopped || paused
    }

    /// Resolves once a stop or a pause holds.
    async fn requested(&self) {
        let mut stop = self.stop.clone();
        let mut paused = self.paused.clone();
        let stopped = async {
            match stop.as_mut() {
                Some(stop) => crate::sync::stop_requested(stop).await,
                None => std::future::pending().await,
            }
        };
        let paused = async {
            match paused.as_mut() {
                // A pause whose sender is gone can never come: wait forever.
                Some(paused) => {
                    if paused.wait_for(|paused| *paused).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stopped => {}
            _ = paused => {}
        }
    }
}

/// The consecutive failures of a channel's calls.
#[derive(Debug, Default)]
struct Health {
    failures_in_a_row: u32,
    failing_since: Option<Instant>,
}

struct Inner {
    channel_id: String,
    connector: Arc<dyn Connector>,
    throttle: Throttle,
    control: ChannelControl,
    metrics: Metrics,
    health: Mutex<Health>,
    degraded: watch::Sender<bool>,
    /// Held across the advised wait and the call, for calls the connector paces.
    paced: tokio::sync::Mutex<()>,
}

/// One channel's gateway to its platform. Cheap to clone; clones share the throttle and the
/// health.
#[derive(Clone)]
pub struct ChannelClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChannelClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ChannelClient")
            .field("channel", &self.inner.channel_id)
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

impl ChannelClient {
    pub fn new(
        channel_id: &str,
        connector: Arc<dyn Connector>,
        rate_limit: Option<RateLimit>,
        control: ChannelControl,
        metrics: Metrics,
    ) -> Self {
        let (degraded, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                channel_id: channel_id.to_string(),
                connector,
                throttle: Throttle::new(rate_limit),
                control,
                metrics,
                health: Mutex::new(Health::default()),
                degraded,
                paced: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Whether the channel's calls keep failing.
    pub fn is_degraded(&self) -> bool {
        *self.inner.degraded.borrow()
    }

    /// A receiver that sees every change of the channel's health.
    pub fn watch_degraded(&self) -> watch::Receiver<bool> {
        self.inner.degraded.subscribe()
    }

    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    /// Sets stock levels (see [`Connector::push_stock`]); refused without a call while the
    /// channel is in shadow mode.
    pub async fn push_stock(
        &self,
        levels: &[StockLevel],
        interrupt: &Interrupt,
    ) -> Result<Vec<PushResult>, CallError> {
        self.refuse_in_shadow(levels.len())?;
        let connector = &self.inner.connector;
        self.call(CallKind::PushStock, interrupt, || {
            connector.push_stock(levels)
        })
        .await
    }

    /// Reads the levels the channel shows (see [`Connector::read_stock`]).
    pub async fn read_stock(
        &self,
        listing_ids: &[String],
        interrupt: &Interrupt,
    ) -> Result<Vec<StockLevel>, CallError> {
        let connector = &self.inner.connector;
        self.call(CallKind::ReadStock, interrupt, || {
            connector.read_stock(listing_ids)
        })
        .await
    }

    /// The most levels one bulk submission may carry; `None` when the platform has none.
    pub fn max_stock_submission(&self) -> Option<usize> {
        self.inner.connector.max_stock_submission()
    }

    /// Submits levels for asynchronous processing (see [`Connector::submit_stock`]); paced and
    /// counted as a stock push; refused without a call while the channel is in shadow mode.
    pub async fn submit_stock(
        &self,
        levels: &[StockLevel],
        interrupt: &Interrupt,
    ) -> Result<String, CallError> {
        self.refuse_in_shadow(levels.len())?;
        let connector = &self.inner.connector;
        self.call(CallKind::PushStock, interrupt, || {
            connector.submit_stock(levels)
        })
        .await
    }

    /// Where a bulk submission stands (see [`Connector::submission_status`]); paced and
    /// counted as a stock read.
    pub async fn submission_status(
        &self,
        submission_id: &str,
        levels: &[StockLevel],
        interrupt: &Interrupt,
    ) -> Result<SubmissionStatus, CallError> {
        let connector = &self.inner.connector;
        self.call(CallKind::ReadStock, interrupt, || {
            connector.submission_status(submission_id, levels)
        })
        .await
    }

    /// Pulls one page of orders (see [`Connector::pull_orders`]).
    pub async fn pull_orders(
        &self,
        cursor: Option<&str>,
        interrupt: &Interrupt,
    ) -> Result<OrderPage, CallError> {
        let connector = &self.inner.connector;
        self.call(CallKind::PullOrders, interrupt, || {
            connector.pull_orders(cursor)
        })
        .await
    }

    /// Fetches orders a webhook named (see [`Connector::fetch_orders`]); paced and counted as
    /// an order pull.
    pub async fn fetch_orders(
        &self,
        order_ids: &[String],
        interrupt: &Interrupt,
    ) -> Result<Vec<OrderEvent>, CallError> {
        let connector = &self.inner.connector;
        self.call(CallKind::PullOrders, interrupt, || {
            connector.fetch_orders(order_ids)
        })
        .await
    }

    /// The one guard of shadow mode: every stock write to a platform passes here, so none
    /// reaches a shadow channel whichever path asked for it.
    fn refuse_in_shadow(&self, listings: usize) -> Result<(), CallError> {
        if !self.inner.control.is_shadow() {
            return Ok(());
        }
        warn!(channel = %self.inner.channel_id, listings,
            "stock write to a channel in shadow mode refused; nothing was sent");
        Err(CallError::Shadow)
    }

    /// Receives from the channel's notification queue (see
    /// [`Connector::receive_notifications`]): a long poll, counted as a
    /// `receive_notifications` call but neither throttled nor retried, and not part of the
    /// channel's health: the queue is another service than the platform's API, with limits of
    /// its own, and the notification duty (`notifications.rs`) backs off itself.
    pub async fn receive_notifications(&self) -> Result<NotificationBatch, ConnectorError> {
        let connector = &self.inner.connector;
        self.queue_call("receive_notifications", connector.receive_notifications())
            .await
    }

    /// Acknowledges notifications whose bookings are durable (see
    /// [`Connector::acknowledge_notifications`]); counted like
    /// [`receive_notifications`](Self::receive_notifications).
    pub async fn acknowledge_notifications(
        &self,
        receipts: &[String],
    ) -> Result<(), ConnectorError> {
        let connector = &self.inner.connector;
        self.queue_call(
            "acknowledge_notifications",
            connector.acknowledge_notifications(receipts),
        )
        .await
    }

    /// One call to the channel's notification queue, counted in the channel call metrics.
    async fn queue_call<T>(
        &self,
        call: &'static str,
        attempt: impl Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorError> {
        let channel = self.inner.channel_id.as_str();
        let started = Instant::now();
        let answer = attempt.await;
        self.inner
            .metrics
            .channel_call(channel, call, started.elapsed());
        if let Err(error) = &answer {
            self.inner
                .metrics
                .channel_call_failed(channel, call, error_class(error));
        }
        answer
    }

    /// Reads one page of the channel's catalog (see [`Connector::read_catalog`]).
    pub async fn read_catalog(
        &self,
        page: Option<&str>,
        interrupt: &Interrupt,
    ) -> Result<CatalogPage, CallError> {
        let connector = &self.inner.connector;
        self.call(CallKind::ReadCatalog, interrupt, || {
            connector.read_catalog(page)
        })
        .await
    }

    /// Makes one call: throttled, paced by the connector's hint, retried by the policy of
    /// `retry.rs` (once only while the channel is degraded), every wait interruptible.
    async fn call<T, Call, Answer>(
        &self,
        kind: CallKind,
        interrupt: &Interrupt,
        attempt: Call,
    ) -> Result<T, CallError>
    where
        Call: Fn() -> Answer,
        Answer: Future<Output = Result<T, ConnectorError>>,
    {
        let inner = &self.inner;
        let channel = inner.channel_id.as_str();
        let mut backoff = channel_backoff();
        loop {
            wait_unless_interrupted(inner.throttle.until_ready(), interrupt).await?;
            // A connector that paces this call (a cost bucket) is called by one task at a
            // time, each after the wait it advises: two callers deciding on the same last-seen
            // budget would both spend it.
            let _paced = match inner.connector.wait_before(kind) {
                None => None,
                Some(_) => {
                    let turn = wait_unless_interrupted(inner.paced.lock(), interrupt).await?;
                    let wait = inner.connector.wait_before(kind).unwrap_or_default();
                    wait_unless_interrupted(tokio::time::sleep(bounded_wait(wait)), interrupt)
                        .await?;
                    Some(turn)
                }
            };
            inner.control.note_call();
            let started = Instant::now();
            let answer = attempt().await;
            inner
                .metrics
                .channel_call(channel, kind.as_str(), started.elapsed());
            let error = match answer {
                Ok(value) => {
                    self.note_success();
                    return Ok(value);
                }
                Err(error) => error,
            };
            let class = error_class(&error);
            inner
                .metrics
                .channel_call_failed(channel, kind.as_str(), class);
            if kind == CallKind::PushStock {
                inner.metrics.push_failed(channel, class);
            }
            self.note_failure(&error);
            let next = if self.is_degraded() {
                None
            } else {
                next_attempt_in(&error, &mut backoff)
            };
            let Some(wait) = next else {
                return Err(error.into());
            };
            warn!(channel = %channel, call = kind.as_str(), error = %error,
                retry_in_ms = wait.as_millis() as u64, "channel call failed; retrying");
            wait_unless_interrupted(tokio::time::sleep(wait), interrupt).await?;
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        // A poisoned lock only means a panic mid-update of two counters: keep using them.
        self.inner
            .health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn note_success(&self) {
        *self.health() = Health::default();
        let recovered = self.inner.degraded.send_if_modified(|degraded| {
            let was = *degraded;
            *degraded = false;
            was
        });
        if recovered {
            self.inner
                .metrics
                .channel_degraded(&self.inner.channel_id, false);
            info!(channel = %self.inner.channel_id, "channel answers again: no longer degraded");
        }
    }

    fn note_failure(&self, error: &ConnectorError) {
        // A rate-limit refusal is the platform answering: pacing, not an outage.
        if matches!(error, ConnectorError::RateLimited { .. }) {
            return;
        }
        let (failures, failing_for) = {
            let mut health = self.health();
            health.failures_in_a_row = health.failures_in_a_row.saturating_add(1);
            let since = *health.failing_since.get_or_insert_with(Instant::now);
            (health.failures_in_a_row, since.elapsed())
        };
        if failures < DEGRADED_AFTER_FAILURES || failing_for < DEGRADED_AFTER {
            return;
        }
        let entered = self.inner.degraded.send_if_modified(|degraded| {
            let was = *degraded;
            *degraded = true;
            !was
        });
        if entered {
            self.inner
                .metrics
                .channel_degraded(&self.inner.channel_id, true);
            warn!(channel = %self.inner.channel_id, failures, failing_for_s = failing_for.as_secs(),
                error = %error, "channel degraded: its calls keep failing; stock changes are held");
        }
    }
}

/// Runs `wait` unless the interrupt comes first.
async fn wait_unless_interrupted<T>(
    wait: impl Future<Output = T>,
    interrupt: &Interrupt,
) -> Result<T, CallError> {
    if interrupt.is_requested() {
        return Err(CallError::Interrupted);
    }
    tokio::select! {
        biased;
        _ = interrupt.requested() => Err(CallError::Interrupted),
        value = wait => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use omnistock_connector::{Capabilities, OrderEvent, WebhookError, WebhookRequest};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A connector whose calls fail with `error` (or succeed when `None`), counting them.
    struct Scripted {
        error: Mutex<Option<ConnectorError>>,
        calls: AtomicUsize,
        hint: Option<Duration>,
    }

    impl Scripted {
        fn new(error: Option<ConnectorError>) -> Arc<Self> {
            Arc::new(Self {
                error: Mutex::new(error),
                calls: AtomicUsize::new(0),
                hint: None,
            })
        }

        fn answer<T>(&self, value: T) -> Result<T, ConnectorError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match self.error.lock().ok().and_then(|error| error.clone()) {
                Some(error) => Err(error),
                None => Ok(value),
            }
        }
    }

    #[async_trait]
    impl Connector for Scripted {
        fn kind(&self) -> &'static str {
            "scripted"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                webhooks: false,
                polling: true,
                max_stock_batch: 10,
                rate_limit: None,
                compare_and_set: false,
            }
        }
        async fn pull_orders(&self, _cursor: Option<&str>) -> Result<OrderPage, ConnectorError> {
            self.answer(OrderPage {
                orders: Vec::new(),
                next_cursor: None,
                has_more: false,
            })
        }
        fn parse_webhook(
            &self,
            _request: &WebhookRequest<'_>,
        ) -> Result<Vec<OrderEvent>, WebhookError> {
            Ok(Vec::new())
        }
        async fn push_stock(
            &self,
            _levels: &[StockLevel],
        ) -> Result<Vec<PushResult>, ConnectorError> {
            self.answer(Vec::new())
        }
        async fn read_stock(
            &self,
            _listing_ids: &[String],
        ) -> Result<Vec<StockLevel>, ConnectorError> {
            self.answer(Vec::new())
        }
        fn wait_before(&self, _call: CallKind) -> Option<Duration> {
            self.hint
        }
    }

    fn client(connector: Arc<Scripted>, metrics: &Metrics) -> ChannelClient {
        ChannelClient::new(
            "shop",
            connector,
            None,
            ChannelControl::new(),
            metrics.clone(),
        )
    }

    #[tokio::test]
    async fn a_stop_interrupts_a_platforms_huge_wait() {
        let connector = Scripted::new(Some(ConnectorError::RateLimited {
            message: "429".into(),
            retry_after: Some(Duration::from_secs(u64::MAX)),
        }));
        let client = client(connector.clone(), &Metrics::new());
        let (stop, stopped) = watch::channel(false);
        let interrupt = Interrupt::on_stop(stopped);
        let call = tokio::spawn(async move { client.pull_orders(None, &interrupt).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop.send(true);
        let answer = tokio::time::timeout(Duration::from_secs(5), call).await;
        assert!(
            matches!(answer, Ok(Ok(Err(CallError::Interrupted)))),
            "{answer:?}"
        );
        assert_eq!(connector.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_pause_interrupts_a_hinted_wait_before_the_call() {
        let connector = Arc::new(Scripted {
            error: Mutex::new(None),
            calls: AtomicUsize::new(0),
            hint: Some(Duration::from_secs(3600)),
        });
        let client = client(connector.clone(), &Metrics::new());
        let control = ChannelControl::new();
        let interrupt = Interrupt::never().or_pause(control.watch_paused());
        let call = tokio::spawn(async move { client.push_stock(&[], &interrupt).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        control.set_paused(true);
        let answer = tokio::time::timeout(Duration::from_secs(5), call).await;
        assert!(
            matches!(answer, Ok(Ok(Err(CallError::Interrupted)))),
            "{answer:?}"
        );
        assert_eq!(
            connector.calls.load(Ordering::SeqCst),
            0,
            "waited, never called"
        );
    }

    #[tokio::test]
    async fn calls_are_counted_by_kind_and_failures_by_class() {
        let metrics = Metrics::new();
        let connector = Scripted::new(Some(ConnectorError::Permanent("no".into())));
        let client = client(connector.clone(), &metrics);
        let interrupt = Interrupt::never();
        assert!(client.read_stock(&[], &interrupt).await.is_err());
        *connector.error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        assert!(client.pull_orders(None, &interrupt).await.is_ok());
        let text = metrics.encode().unwrap_or_default();
        for line in [
            "omnistock_channel_calls_total{channel=\"shop\",call=\"read_stock\"} 1",
            "omnistock_channel_calls_total{channel=\"shop\",call=\"pull_orders\"} 1",
            "omnistock_channel_call_failures_total{channel=\"shop\",call=\"read_stock\",class=\"permanent\"} 1",
            "omnistock_channel_call_seconds_count{channel=\"shop\",call=\"pull_orders\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
    }

    #[tokio::test]
    async fn failing_calls_degrade_the_channel_until_one_succeeds() {
        let metrics = Metrics::new();
        let connector = Scripted::new(Some(ConnectorError::Configuration("frozen".into())));
        let client = client(connector.clone(), &metrics);
        let interrupt = Interrupt::never();
        let watcher = client.watch_degraded();
        for _ in 0..DEGRADED_AFTER_FAILURES {
            let _ = client.push_stock(&[], &interrupt).await;
        }
        assert!(
            !client.is_degraded(),
            "failing for less than DEGRADED_AFTER"
        );
        // Backdate the row of failures instead of waiting.
        client.health().failing_since = Instant::now().checked_sub(DEGRADED_AFTER);
        let _ = client.push_stock(&[], &interrupt).await;
        assert!(client.is_degraded());
        assert!(watcher.has_changed().unwrap_or(false));
        assert!(metrics
            .encode()
            .unwrap_or_default()
            .contains("omnistock_channel_degraded{channel=\"shop\"} 1"));
        *connector.error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        assert!(client.push_stock(&[], &interrupt).await.is_ok());
        assert!(!client.is_degraded());
    }

    #[tokio::test]
    async fn a_shadow_channel_gets_no_stock_write_but_is_read() {
        let connector = Scripted::new(None);
        let control = ChannelControl::new();
        let client = ChannelClient::new(
            "shop",
            connector.clone(),
            None,
            control.clone(),
            Metrics::new(),
        );
        control.set_shadow(true);
        let interrupt = Interrupt::never();
        let level = StockLevel {
            listing_id: "L-1".into(),
            sku: "A".into(),
            quantity: 3,
        };
        let pushed = client
            .push_stock(std::slice::from_ref(&level), &interrupt)
            .await;
        assert!(matches!(pushed, Err(CallError::Shadow)), "{pushed:?}");
        let submitted = client.submit_stock(&[level], &interrupt).await;
        assert!(matches!(submitted, Err(CallError::Shadow)), "{submitted:?}");
        assert_eq!(connector.calls.load(Ordering::SeqCst), 0, "nothing sent");
        assert!(client.read_stock(&["L-1".into()], &interrupt).await.is_ok());
        assert_eq!(connector.calls.load(Ordering::SeqCst), 1);
        control.set_shadow(false);
        assert!(client.push_stock(&[], &interrupt).await.is_ok());
        assert_eq!(connector.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_degraded_channel_is_tried_once_per_call() {
        let connector = Scripted::new(Some(ConnectorError::transient("503")));
        let client = client(connector.clone(), &Metrics::new());
        client.inner.degraded.send_replace(true);
        let answer = client.push_stock(&[], &Interrupt::never()).await;
        assert!(matches!(answer, Err(CallError::Connector(_))));
        assert_eq!(connector.calls.load(Ordering::SeqCst), 1);
    }
}
