//! The stock-change bus: carries "SKU x changed" from the ledger's outbox to one queue per
//! channel, where that channel's push worker consumes it.
//!
//! One interface, two backends chosen by `bus.url`:
//! - `memory://` ([`DatabaseBus`], named for where its messages live): the embedded default. Messages are rows in the ledger's own
//!   database (`bus_messages`), so a restart loses nothing; an in-process `Notify` gives low
//!   latency and polling covers everything else. Meant for one process.
//! - `amqp://…` or `amqps://…` (TLS) ([`AmqpBus`]): RabbitMQ, for several replicas; the daemon
//!   starts while the broker is down and connects when it is back. A durable topic exchange, one
//!   durable quorum queue per channel (single active consumer, delivery limit, dead letters),
//!   publisher confirms and persistent messages.
//!
//! Invariants: `publish` returns `Ok` only once the messages are durable; a delivery is removed
//! only by `ack`, which the caller sends after its work is done; everything else (nack, a dropped
//! delivery, a crash, a lost connection) delivers the message again. Payloads carry no
//! quantities, so redelivery and reordering are harmless.
//!
//! The [`relay`] moves the ledger's outbox rows onto the bus.

mod amqp;
mod config;
mod database;
mod error;
mod message;
pub mod relay;

pub use amqp::{AmqpBus, AmqpConsumer, AmqpDelivery};
pub use config::BusConfig;
pub use database::{DatabaseBus, DatabaseConsumer, DatabaseDelivery};
pub use error::BusError;
pub use message::StockChanged;
pub use relay::{Outbox, OutboxRelay, RelayConfig, RelayStats};

use sqlx::AnyPool;

/// The bus, whichever backend `bus.url` chose. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Bus {
    /// Rows in the ledger's database.
    Database(DatabaseBus),
    /// RabbitMQ.
    Amqp(AmqpBus),
}

impl Bus {
    /// Builds the bus named by `config.url`. The database bus keeps its rows in `ledger_pool` (the
    /// ledger's database; its tables come with the ledger's migrations).
    pub async fn connect(config: &BusConfig, ledger_pool: &AnyPool) -> Result<Self, BusError> {
        let url = config.url.expose();
        let scheme = url.split("://").next().unwrap_or_default();
        match scheme {
            "memory" => Ok(Self::Database(DatabaseBus::new(
                ledger_pool.clone(),
                config.clone(),
            ))),
            "amqp" | "amqps" => Ok(Self::Amqp(AmqpBus::connect(config.clone()).await?)),
            other => Err(BusError::UnsupportedUrl {
                scheme: other.to_owned(),
            }),
        }
    }

    /// What `/readyz` reports of the bus: `"database"` (the database bus, in the ledger's
    /// database), else whether the RabbitMQ publishing connection is `"connected"` or
    /// `"disconnected"` now. Does not wait.
    pub fn state(&self) -> &'static str {
        match self {
            Self::Database(_) => "database",
            Self::Amqp(bus) if bus.connected() => "connected",
            Self::Amqp(_) => "disconnected",
        }
    }

    /// Publishes the messages to every channel queue; returns once they are durable (database:
    /// committed; RabbitMQ: confirmed by the broker). On `Err` none of them may be assumed sent.
    pub async fn publish(&self, messages: &[StockChanged]) -> Result<(), BusError> {
        match self {
            Self::Database(bus) => bus.publish(messages).await,
            Self::Amqp(bus) => bus.publish(messages).await,
        }
    }

    /// Makes sure the channel's queue exists and receives every message published from now on.
    /// Idempotent; call it for every channel before the relay starts.
    pub async fn ensure_channel_queue(&self, channel_id: &str) -> Result<(), BusError> {
        match self {
            Self::Database(bus) => bus.ensure_channel_queue(channel_id).await,
            Self::Amqp(bus) => bus.ensure_channel_queue(channel_id).await,
        }
    }

    /// Deletes the channel's queue and its dead letters (a channel removed for good).
    pub async fn delete_channel_queue(&self, channel_id: &str) -> Result<(), BusError> {
        match self {
            Self::Database(bus) => bus.delete_channel_queue(channel_id).await,
            Self::Amqp(bus) => bus.delete_channel_queue(channel_id).await,
        }
    }

    /// How many messages of the channel were dead-lettered and wait for an operator.
    pub async fn dead_letter_count(&self, channel_id: &str) -> Result<u64, BusError> {
        match self {
            Self::Database(bus) => bus.dead_letter_count(channel_id).await,
            Self::Amqp(bus) => bus.dead_letter_count(channel_id).await,
        }
    }

    /// How many of the channel's messages wait to be acknowledged. Database bus: every message
    /// not yet acknowledged; RabbitMQ: the ready ones (not those delivered and unacknowledged).
    pub async fn pending_count(&self, channel_id: &str) -> Result<u64, BusError> {
        match self {
            Self::Database(bus) => bus.pending_count(channel_id).await,
            Self::Amqp(bus) => bus.pending_count(channel_id).await,
        }
    }

    /// Starts consuming the channel's queue (declaring it if needed). Only one consumer per
    /// channel queue is active at a time; others wait and take over when it goes away.
    pub async fn consume(&self, channel_id: &str) -> Result<Consumer, BusError> {
        match self {
            Self::Database(bus) => Ok(Consumer::Database(bus.consume(channel_id).await?)),
            Self::Amqp(bus) => Ok(Consumer::Amqp(Box::new(bus.consume(channel_id).await?))),
        }
    }
}

/// One channel queue's consumer.
#[derive(Debug)]
pub enum Consumer {
    /// See [`DatabaseConsumer`].
    Database(DatabaseConsumer),
    /// See [`AmqpConsumer`] (boxed: it is much larger than the database one).
    Amqp(Box<AmqpConsumer>),
}

impl Consumer {
    /// Waits for the next delivery. Connection losses are retried with backoff inside, so this
    /// returns `Err` only for errors that retrying cannot fix.
    pub async fn next(&mut self) -> Result<Delivery, BusError> {
        match self {
            Self::Database(consumer) => Ok(Delivery::Database(consumer.next().await?)),
            Self::Amqp(consumer) => Ok(Delivery::Amqp(Box::new(consumer.next().await?))),
        }
    }
}

/// One message handed to a consumer; settle it with exactly one of `ack`, `nack`, `reject`.
/// Dropping it unsettled returns it to the queue (database) or leaves it to the broker, which
/// redelivers it when the consumer's connection closes (RabbitMQ).
#[derive(Debug)]
pub enum Delivery {
    /// See [`DatabaseDelivery`].
    Database(DatabaseDelivery),
    /// See [`AmqpDelivery`] (boxed: it is much larger than the database one).
    Amqp(Box<AmqpDelivery>),
}

impl Delivery {
    /// The message.
    pub fn message(&self) -> &StockChanged {
        match self {
            Self::Database(delivery) => delivery.message(),
            Self::Amqp(delivery) => delivery.message(),
        }
    }

    /// Whether this message was delivered before (and not acknowledged then).
    pub fn redelivered(&self) -> bool {
        match self {
            Self::Database(delivery) => delivery.redelivered(),
            Self::Amqp(delivery) => delivery.redelivered(),
        }
    }

    /// The work is done: remove the message for good.
    pub async fn ack(self) -> Result<(), BusError> {
        match self {
            Self::Database(delivery) => delivery.ack().await,
            Self::Amqp(delivery) => delivery.ack().await,
        }
    }

    /// Acknowledges all of them, as `ack` on each would, but cheaper: the database bus deletes
    /// one queue's rows in one statement. Every delivery is settled or, on `Err`, returned to
    /// its queue (database) or left to the broker; the first error is returned.
    pub async fn ack_many(deliveries: Vec<Delivery>) -> Result<(), BusError> {
        let mut database = Vec::new();
        let mut first_error = None;
        for delivery in deliveries {
            match delivery {
                Self::Database(delivery) => database.push(delivery),
                Self::Amqp(delivery) => {
                    if let Err(error) = delivery.ack().await {
                        first_error.get_or_insert(error);
                    }
                }
            }
        }
        if let Err(error) = DatabaseDelivery::ack_many(database).await {
            first_error.get_or_insert(error);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The work failed: deliver it again (`requeue`) or dead-letter it (`!requeue`).
    pub async fn nack(self, requeue: bool) -> Result<(), BusError> {
        match self {
            Self::Database(delivery) => delivery.nack(requeue).await,
            Self::Amqp(delivery) => delivery.nack(requeue).await,
        }
    }

    /// The message can never be processed: move it to the channel's dead letters.
    pub async fn reject(self) -> Result<(), BusError> {
        self.nack(false).await
    }
}
