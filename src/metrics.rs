//! The process's Prometheus metrics, served on `GET /metrics` in the text exposition format.
//!
//! One `Metrics` value is built at start and shared (it is cheap to clone); every subsystem
//! records through its typed methods, so metric names and labels are defined in this one place.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    channel: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    channel: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: String,
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    channel: String,
    call: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    channel: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallFailureLabels {
    channel: String,
    call: &'static str,
    class: &'static str,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~32 s: stock pushes are expected well under a second, retries can take long.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

struct Families {
    orders_booked: Family<ChannelLabel, Counter>,
    oversold_orders: Family<ChannelLabel, Counter>,
    unknown_listing_lines: Family<ChannelLabel, Counter>,
    webhook_responses: Family<WebhookLabels, Counter>,
    pushes: Family<ChannelLabel, Counter>,
    pushed_listings: Family<ChannelLabel, Counter>,
    push_failures: Family<FailureLabels, Counter>,
    push_latency: Family<ChannelLabel, Histogram, fn() -> Histogram>,
    queue_lag: Family<ChannelLabel, Histogram, fn() -> Histogram>,
    push_backlog: Family<ChannelLabel, Gauge>,
    sweep_running: Family<ChannelLabel, Gauge>,
    sweep_skus: Family<ChannelLabel, Counter>,
    outbox_backlog: Gauge,
    reconcile_drifts: Family<ChannelLabel, Counter>,
    dead_letters_parked: Family<ChannelLabel, Counter>,
    dead_letters: Family<ChannelLabel, Gauge>,
    booking_group_events: Histogram,
    sync_leader: Gauge,
    task_restarts: Family<TaskLabels, Counter>,
    channel_calls: Family<CallLabels, Counter>,
    channel_call_failures: Family<CallFailureLabels, Counter>,
    channel_call_seconds: Family<CallLabels, Histogram, fn() -> Histogram>,
    channel_degraded: Family<ChannelLabel, Gauge>,
    channel_alerts: Family<ChannelLabel, Gauge>,
    bus_dead_lettered: Family<ChannelLabel, Gauge>,
    webhook_receipts_pending: Family<ChannelLabel, Gauge>,
    queue_notifications: Family<NotificationLabels, Counter>,
    ledger_up: Gauge,
    rate_limit_per_minute: Family<ChannelLabel, Gauge<f64, AtomicU64>>,
}

/// Shared handle to every metric of the process.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    families: Arc<Families>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let families = Families {
            orders_booked: Family::default(),
            oversold_orders: Family::default(),
            unknown_listing_lines: Family::default(),
            webhook_responses: Family::default(),
            pushes: Family::default(),
            pushed_listings: Family::default(),
            push_failures: Family::default(),
            push_latency: Family::new_with_constructor(latency_histogram),
            queue_lag: Family::new_with_constructor(latency_histogram),
            push_backlog: Family::default(),
            sweep_running: Family::default(),
            sweep_skus: Family::default(),
            outbox_backlog: Gauge::default(),
            reconcile_drifts: Family::default(),
            dead_letters_parked: Family::default(),
            dead_letters: Family::default(),
            // 1, 2, 4, … 256 events: the intake's largest group.
            booking_group_events: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            sync_leader: Gauge::default(),
            task_restarts: Family::default(),
            channel_calls: Family::default(),
            channel_call_failures: Family::default(),
            channel_call_seconds: Family::new_with_constructor(latency_histogram),
            channel_degraded: Family::default(),
            channel_alerts: Family::default(),
            bus_dead_lettered: Family::default(),
            webhook_receipts_pending: Family::default(),
            queue_notifications: Family::default(),
            ledger_up: Gauge::default(),
            rate_limit_per_minute: Family::default(),
        };
        let mut registry = Registry::with_prefix("omnistock");
        registry.register(
            "orders_booked",
            "Order events booked in the ledger, per channel",
            families.orders_booked.clone(),
        );
        registry.register(
            "oversold_orders",
            "Orders booked for more than was available, per channel",
            families.oversold_orders.clone(),
        );
        registry.register(
            "unknown_listing_lines",
            "Order lines whose listing is bound to no item, per channel",
            families.unknown_listing_lines.clone(),
        );
        registry.register(
            "webhook_responses",
            "Webhook requests answered, per channel and HTTP status",
            families.webhook_responses.clone(),
        );
        registry.register(
            "stock_pushes",
            "Stock-update calls that the channel confirmed",
            families.pushes.clone(),
        );
        registry.register(
            "stock_pushed_listings",
            "Listings whose quantity a channel confirmed",
            families.pushed_listings.clone(),
        );
        registry.register(
            "stock_push_failures",
            "Stock-update calls or listings that failed, per channel and error class",
            families.push_failures.clone(),
        );
        registry.register(
            "stock_push_latency_seconds",
            "Time from the stock change being queued until the channel confirmed it",
            families.push_latency.clone(),
        );
        registry.register(
            "queue_lag_seconds",
            "Age of a stock-change message when the channel's pusher took it",
            families.queue_lag.clone(),
        );
        registry.register(
            "push_backlog_skus",
            "SKUs waiting to be pushed to a channel",
            families.push_backlog.clone(),
        );
        registry.register(
            "sweep_running",
            "1 while a sweep of a channel (at start or on resume) is under way, else 0",
            families.sweep_running.clone(),
        );
        registry.register(
            "sweep_skus",
            "SKUs a channel's sweeps have gone through",
            families.sweep_skus.clone(),
        );
        registry.register(
            "outbox_backlog",
            "Stock-change events written by the ledger and not yet on the bus",
            families.outbox_backlog.clone(),
        );
        registry.register(
            "reconcile_drifts",
            "Listings whose shown stock differed from the ledger's when reconciled, per channel",
            families.reconcile_drifts.clone(),
        );
        registry.register(
            "dead_letters_parked",
            "Listing updates a channel refused for good and that were parked, per channel",
            families.dead_letters_parked.clone(),
        );
        registry.register(
            "dead_letters",
            "Parked listing updates waiting for an operator, per channel",
            families.dead_letters.clone(),
        );
        registry.register(
            "booking_group_events",
            "Order events booked together in one ledger transaction (group commit)",
            families.booking_group_events.clone(),
        );
        registry.register(
            "sync_leader",
            "1 while this replica is the sync leader (pushes, polls, resync jobs), else 0",
            families.sync_leader.clone(),
        );
        registry.register(
            "task_restarts",
            "Sync leader tasks that panicked or ended unexpectedly and were restarted, per task and channel",
            families.task_restarts.clone(),
        );
        registry.register(
            "channel_calls",
            "Calls made to a channel's platform (every attempt), per channel and call kind",
            families.channel_calls.clone(),
        );
        registry.register(
            "channel_call_failures",
            "Calls to a channel's platform that failed, per channel, call kind and error class",
            families.channel_call_failures.clone(),
        );
        registry.register(
            "channel_call_seconds",
            "Duration of one call to a channel's platform, per channel and call kind",
            families.channel_call_seconds.clone(),
        );
        registry.register(
            "channel_degraded",
            "1 while a channel's calls keep failing (its stock changes are held), else 0",
            families.channel_degraded.clone(),
        );
        registry.register(
            "channel_alerts",
            "Conditions of a channel an operator must act on (see GET /admin/channels), as last counted",
            families.channel_alerts.clone(),
        );
        registry.register(
            "bus_dead_lettered_messages",
            "Stock-change messages the bus dead-lettered for a channel (each makes it swept)",
            families.bus_dead_lettered.clone(),
        );
        registry.register(
            "webhook_receipts_pending",
            "Webhook receipts whose named orders are not booked yet, per channel (set by the sync leader)",
            families.webhook_receipts_pending.clone(),
        );
        registry.register(
            "queue_notifications",
            "Messages of a channel's notification queue (Amazon's SQS queue) by outcome: received, booked, skipped (nothing to book), unreadable (left for the queue's redrive policy), acknowledged",
            families.queue_notifications.clone(),
        );
        registry.register(
            "ledger_up",
            "1 when the ledger's database answered the check made at this scrape, else 0",
            families.ledger_up.clone(),
        );
        registry.register(
            "rate_limit_per_minute",
            "The channel's rate limit in calls per minute (the stricter of the platform's and the configured one); absent when it has none",
            families.rate_limit_per_minute.clone(),
        );
        Self {
            registry: Arc::new(registry),
            families: Arc::new(families),
        }
    }

    fn channel(channel: &str) -> ChannelLabel {
        ChannelLabel {
            channel: channel.to_string(),
        }
    }

    /// Creates the channel's series at zero, so that dashboards and alerts see 0 (and count
    /// the first event) rather than no series until something happens.
    pub fn declare_channel(&self, channel: &str) {
        const CLASSES: [&str; 4] = ["transient", "rate_limited", "permanent", "configuration"];
        const CALLS: [&str; 3] = ["push_stock", "read_stock", "pull_orders"];
        let label = Self::channel(channel);
        let families = &self.families;
        drop(families.orders_booked.get_or_create(&label));
        drop(families.pushes.get_or_create(&label));
        drop(families.pushed_listings.get_or_create(&label));
        drop(families.push_latency.get_or_create(&label));
        drop(families.queue_lag.get_or_create(&label));
        drop(families.push_backlog.get_or_create(&label));
        drop(families.sweep_running.get_or_create(&label));
        drop(families.reconcile_drifts.get_or_create(&label));
        drop(families.dead_letters_parked.get_or_create(&label));
        drop(families.dead_letters.get_or_create(&label));
        drop(families.channel_degraded.get_or_create(&label));
        drop(families.bus_dead_lettered.get_or_create(&label));
        // A 401 counted from zero: the first refused webhook is an increase an alert sees.
        drop(families.webhook_responses.get_or_create(&WebhookLabels {
            channel: channel.to_string(),
            status: 401,
        }));
        for class in CLASSES {
            drop(families.push_failures.get_or_create(&FailureLabels {
                channel: channel.to_string(),
                kind: class.to_string(),
            }));
            for call in CALLS {
                drop(
                    families
                        .channel_call_failures
                        .get_or_create(&CallFailureLabels {
                            channel: channel.to_string(),
                            call,
                            class,
                        }),
                );
            }
        }
    }

    /// The channel's rate limit, as calls per minute, for the budget panels.
    pub fn rate_limit(&self, channel: &str, limit: Option<omnistock_connector::RateLimit>) {
        if let Some(limit) = limit {
            let per_minute = limit.allowed_in(std::time::Duration::from_secs(60));
            self.families
                .rate_limit_per_minute
                .get_or_create(&Self::channel(channel))
                .set(per_minute);
        }
    }

    pub fn ledger_up(&self, up: bool) {
        self.families.ledger_up.set(i64::from(up));
    }

    pub fn booking_group(&self, events: usize) {
        self.families.booking_group_events.observe(events as f64);
    }

    pub fn order_booked(&self, channel: &str) {
        self.families
            .orders_booked
            .get_or_create(&Self::channel(channel))
            .inc();
    }

    pub fn order_oversold(&self, channel: &str) {
        self.families
            .oversold_orders
            .get_or_create(&Self::channel(channel))
            .inc();
    }

    pub fn unknown_listing_lines(&self, channel: &str, lines: u64) {
        self.families
            .unknown_listing_lines
            .get_or_create(&Self::channel(channel))
            .inc_by(lines);
    }

    pub fn webhook_response(&self, channel: &str, status: u16) {
        self.families
            .webhook_responses
            .get_or_create(&WebhookLabels {
                channel: channel.to_string(),
                status,
            })
            .inc();
    }

    pub fn push_confirmed(&self, channel: &str, listings: u64) {
        let label = Self::channel(channel);
        self.families.pushes.get_or_create(&label).inc();
        self.families
            .pushed_listings
            .get_or_create(&label)
            .inc_by(listings);
    }

    /// `kind` is the error class: `transient`, `rate_limited`, `permanent`, `configuration`.
    pub fn push_failed(&self, channel: &str, kind: &str) {
        self.families
            .push_failures
            .get_or_create(&FailureLabels {
                channel: channel.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    pub fn push_latency(&self, channel: &str, latency: Duration) {
        self.families
            .push_latency
            .get_or_create(&Self::channel(channel))
            .observe(latency.as_secs_f64());
    }

    pub fn queue_lag(&self, channel: &str, lag: Duration) {
        self.families
            .queue_lag
            .get_or_create(&Self::channel(channel))
            .observe(lag.as_secs_f64());
    }

    pub fn push_backlog(&self, channel: &str, skus: usize) {
        self.families
            .push_backlog
            .get_or_create(&Self::channel(channel))
            .set(i64::try_from(skus).unwrap_or(i64::MAX));
    }

    pub fn sweep_running(&self, channel: &str, running: bool) {
        self.families
            .sweep_running
            .get_or_create(&Self::channel(channel))
            .set(i64::from(running));
    }

    pub fn sweep_skus(&self, channel: &str, skus: usize) {
        self.families
            .sweep_skus
            .get_or_create(&Self::channel(channel))
            .inc_by(skus as u64);
    }

    pub fn outbox_backlog(&self, entries: usize) {
        self.families
            .outbox_backlog
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    pub fn reconcile_drift(&self, channel: &str) {
        self.families
            .reconcile_drifts
            .get_or_create(&Self::channel(channel))
            .inc();
    }

    pub fn dead_letter_parked(&self, channel: &str) {
        self.families
            .dead_letters_parked
            .get_or_create(&Self::channel(channel))
            .inc();
    }

    pub fn dead_letters(&self, channel: &str, count: i64) {
        self.families
            .dead_letters
            .get_or_create(&Self::channel(channel))
            .set(count);
    }

    pub fn sync_leader(&self, leader: bool) {
        self.families.sync_leader.set(i64::from(leader));
    }

    /// A supervised task of the sync leader ended unexpectedly and is restarted (`channel` is
    /// empty for a task of no one channel).
    pub fn task_restart(&self, task: &str, channel: &str) {
        self.families
            .task_restarts
            .get_or_create(&TaskLabels {
                task: task.to_string(),
                channel: channel.to_string(),
            })
            .inc();
    }

    /// One call to a channel's platform, made, with how long it took.
    pub fn channel_call(&self, channel: &str, call: &'static str, took: Duration) {
        let label = CallLabels {
            channel: channel.to_string(),
            call,
        };
        self.families.channel_calls.get_or_create(&label).inc();
        self.families
            .channel_call_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    /// `class` is the error class: `transient`, `rate_limited`, `permanent`, `configuration`.
    pub fn channel_call_failed(&self, channel: &str, call: &'static str, class: &'static str) {
        self.families
            .channel_call_failures
            .get_or_create(&CallFailureLabels {
                channel: channel.to_string(),
                call,
                class,
            })
            .inc();
    }

    pub fn channel_degraded(&self, channel: &str, degraded: bool) {
        self.families
            .channel_degraded
            .get_or_create(&Self::channel(channel))
            .set(i64::from(degraded));
    }

    pub fn channel_alerts(&self, channel: &str, alerts: usize) {
        self.families
            .channel_alerts
            .get_or_create(&Self::channel(channel))
            .set(i64::try_from(alerts).unwrap_or(i64::MAX));
    }

    pub fn bus_dead_lettered(&self, channel: &str, messages: u64) {
        self.families
            .bus_dead_lettered
            .get_or_create(&Self::channel(channel))
            .set(i64::try_from(messages).unwrap_or(i64::MAX));
    }

    pub fn webhook_receipts_pending(&self, channel: &str, receipts: i64) {
        self.families
            .webhook_receipts_pending
            .get_or_create(&Self::channel(channel))
            .set(receipts);
    }

    /// `outcome`: `received`, `booked`, `skipped`, `unreadable` or `acknowledged`.
    pub fn queue_notifications(&self, channel: &str, outcome: &'static str, messages: u64) {
        self.families
            .queue_notifications
            .get_or_create(&NotificationLabels {
                channel: channel.to_string(),
                outcome,
            })
            .inc_by(messages);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.order_booked("shop");
        metrics.order_booked("shop");
        metrics.webhook_response("shop", 401);
        metrics.push_latency("amazon", Duration::from_millis(20));
        metrics.outbox_backlog(7);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("omnistock_orders_booked_total{channel=\"shop\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("omnistock_webhook_responses_total{channel=\"shop\",status=\"401\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("omnistock_stock_push_latency_seconds_count{channel=\"amazon\"} 1"),
            "{text}"
        );
        assert!(text.contains("omnistock_outbox_backlog 7"), "{text}");
    }
}
