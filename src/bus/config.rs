//! The bus's typed settings (`[bus]` in the configuration file).

use omnistock_connector::Secret;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Settings of the stock-change bus.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `memory://` (embedded: durable through the ledger's database, one process) or
    /// `amqp://user:password@host:5672/%2f` (RabbitMQ, several replicas).
    pub url: Secret,
    /// Prepended to every exchange and queue name, so that several installations (or tests)
    /// can share one broker without seeing each other's messages. Empty by default.
    pub name_prefix: String,
    /// The durable topic exchange stock changes are published to (routing key `stock.<sku>`).
    pub exchange: String,
    /// How many unacknowledged deliveries one channel's consumer may hold at once. The pusher
    /// holds a flush's messages until the channel confirmed, so this caps how many stock
    /// changes one flush can coalesce: at 16, 200 changes/s per channel queued up for seconds
    /// (`omnistock bench propagation`, see README's Performance section).
    pub prefetch: u16,
    /// After this many deliveries without an ack, a message is dead-lettered instead of being
    /// delivered again (a poison message must not block a channel's queue forever).
    pub delivery_limit: u32,
    /// How often the database bus looks for new rows when no in-process wake-up arrived
    /// (messages written by another process, or a missed wake-up), in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("memory://"),
            name_prefix: String::new(),
            exchange: "omnistock.stock".to_owned(),
            prefetch: 256,
            delivery_limit: 20,
            poll_interval_ms: 1_000,
        }
    }
}

impl BusConfig {
    /// The database bus's polling fallback.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    /// The full name of the stock exchange.
    pub fn exchange_name(&self) -> String {
        format!("{}{}", self.name_prefix, self.exchange)
    }

    /// The full name of the dead-letter exchange.
    pub fn dead_letter_exchange_name(&self) -> String {
        format!("{}{}.dlx", self.name_prefix, self.exchange)
    }

    /// The full name of one channel's push queue.
    pub fn channel_queue_name(&self, channel_id: &str) -> String {
        format!("{}omnistock.push.{channel_id}", self.name_prefix)
    }

    /// The full name of one channel's dead-letter queue.
    pub fn dead_letter_queue_name(&self, channel_id: &str) -> String {
        format!("{}.dead", self.channel_queue_name(channel_id))
    }
}
