//! The RabbitMQ bus (lapin).
//!
//! Topology (every name prefixed by `bus.name_prefix`):
//! - `<exchange>` (default `omnistock.stock`): durable topic exchange; routing key
//!   `stock.changed` (a message names many SKUs).
//! - `omnistock.push.<channel>`: one durable quorum queue per channel, bound with `#`, with
//!   `x-single-active-consumer` (replicas never push to one channel at once) and
//!   `x-delivery-limit` (`bus.delivery_limit`): the broker counts deliveries itself, so a
//!   message that keeps crashing its consumer is dead-lettered even if no ack/nack ever arrives.
//! - `<exchange>.dlx` (direct) and `omnistock.push.<channel>.dead`: where rejected and
//!   over-the-limit messages go, for an operator to inspect.
//!
//! Publishing uses publisher confirms and persistent messages on a connection of its own; a lost
//! connection is reopened on the next publish (the relay backs off between attempts, at most a
//! second while changes wait). Each consumer owns a connection and reopens it with exponential
//! backoff, at most [`RECONNECT_MAX`] apart, so stock flows again soon after the broker returns.
//!
//! The broker may be down when the daemon starts: the bus is built anyway and a channel queue
//! that could not be declared then is declared by the publishing connection as soon as it
//! opens, before anything is published (a message published before its queue exists would be
//! lost). `amqps://` urls connect with TLS (rustls).

use super::{BusConfig, BusError, StockChanged};
use backoff::backoff::Backoff;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// How long a publish waits for the broker's confirms before reporting the batch as not sent.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait between a consumer's reconnection attempts: a broker that is back is used
/// again within about a second.
const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// How long opening a connection may take (a broker behind a black hole never refuses).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Persistent delivery mode: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// The RabbitMQ bus. Cheap to clone; clones share one publishing connection.
#[derive(Clone)]
pub struct AmqpBus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AmqpBus")
            .field("exchange", &self.shared.config.exchange_name())
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: BusConfig,
    publisher: tokio::sync::Mutex<Option<Publisher>>,
    /// The channels whose queues must exist before anything is published: declared again by
    /// every new publishing connection.
    channels: std::sync::Mutex<BTreeSet<String>>,
}

/// A connection with a channel in confirm mode.
struct Publisher {
    connection: Connection,
    channel: Channel,
}

async fn open_connection(config: &BusConfig) -> Result<Connection, BusError> {
    let properties = ConnectionProperties::default().with_connection_name("omnistock".into());
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        Connection::connect(config.url.expose(), properties),
    )
    .await
    .map_err(|_| BusError::ConnectTimeout {
        seconds: CONNECT_TIMEOUT.as_secs(),
    })?
    .map_err(BusError::amqp(
        if config.url.expose().starts_with("amqps:") {
            // rustls's own words ("received corrupt message…") do not say TLS.
            "connecting to the broker over TLS (amqps)"
        } else {
            "connecting to the broker"
        },
    ))
}

async fn declare_exchanges(channel: &Channel, config: &BusConfig) -> Result<(), BusError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            config.exchange_name().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(BusError::amqp("declaring the stock exchange"))?;
    channel
        .exchange_declare(
            config.dead_letter_exchange_name().into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(BusError::amqp("declaring the dead-letter exchange"))
}

fn quorum_arguments() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments
}

/// Declares the channel's queue, its dead-letter queue and their bindings (idempotent).
async fn declare_channel_queue(
    channel: &Channel,
    config: &BusConfig,
    channel_id: &str,
) -> Result<(), BusError> {
    declare_exchanges(channel, config).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let queue = config.channel_queue_name(channel_id);
    let dead_queue = config.dead_letter_queue_name(channel_id);
    channel
        .queue_declare(dead_queue.as_str().into(), durable, quorum_arguments())
        .await
        .map_err(BusError::amqp("declaring a dead-letter queue"))?;
    channel
        .queue_bind(
            dead_queue.as_str().into(),
            config.dead_letter_exchange_name().into(),
            dead_queue.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(BusError::amqp("binding a dead-letter queue"))?;

    let mut arguments = quorum_arguments();
    arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(config.dead_letter_exchange_name().as_str().into()),
    );
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(dead_queue.as_str().into()),
    );
    arguments.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(config.delivery_limit.max(1))),
    );
    channel
        .queue_declare(queue.as_str().into(), durable, arguments)
        .await
        .map_err(BusError::amqp("declaring a channel queue"))?;
    channel
        .queue_bind(
            queue.as_str().into(),
            config.exchange_name().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(BusError::amqp("binding a channel queue"))
}

/// The routing key of every stock message (consumers read the SKUs from the payload).
const ROUTING_KEY: &str = "stock.changed";

impl AmqpBus {
    /// Checks `config.url` and tries to connect to the broker it names and declare the
    /// exchanges. A broker that cannot be reached now is only logged: the daemon starts
    /// (webhooks are booked, the outbox holds the changes) and connects when it is back.
    pub async fn connect(config: BusConfig) -> Result<Self, BusError> {
        config
            .url
            .expose()
            .parse::<lapin::uri::AMQPUri>()
            .map_err(|reason| BusError::InvalidUrl { reason })?;
        let bus = Self {
            shared: Arc::new(Shared {
                config,
                publisher: tokio::sync::Mutex::new(None),
                channels: std::sync::Mutex::default(),
            }),
        };
        if let Err(error) = bus.publisher().await {
            warn!(error = %error, "the broker cannot be reached; starting without it, the outbox holds stock changes until it is back");
        }
        Ok(bus)
    }

    /// Whether the publishing connection is open now (it is opened on demand, so `false` may
    /// also mean "not needed yet" after a loss). Does not wait.
    pub fn connected(&self) -> bool {
        self.shared.publisher.try_lock().map_or(true, |guard| {
            guard.as_ref().is_some_and(|publisher| {
                publisher.connection.status().connected() && publisher.channel.status().connected()
            })
        })
    }

    fn registered_channels(&self) -> Vec<String> {
        self.shared
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// The publishing connection, reopened if it was lost.
    async fn publisher(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Publisher>>, BusError> {
        let mut guard = self.shared.publisher.lock().await;
        let healthy = guard.as_ref().is_some_and(|publisher| {
            publisher.connection.status().connected() && publisher.channel.status().connected()
        });
        if !healthy {
            *guard = None;
            let connection = open_connection(&self.shared.config).await?;
            let channel = connection
                .create_channel()
                .await
                .map_err(BusError::amqp("opening the publishing channel"))?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(BusError::amqp("enabling publisher confirms"))?;
            declare_exchanges(&channel, &self.shared.config).await?;
            for channel_id in self.registered_channels() {
                // On a channel of its own: a refused declaration closes its channel.
                let topology = connection
                    .create_channel()
                    .await
                    .map_err(BusError::amqp("opening a topology channel"))?;
                declare_channel_queue(&topology, &self.shared.config, &channel_id).await?;
            }
            info!(exchange = %self.shared.config.exchange_name(), "bus publisher connected");
            *guard = Some(Publisher {
                connection,
                channel,
            });
        }
        Ok(guard)
    }

    /// A short-lived channel for declarations: a refused declaration closes its channel, and it
    /// must not be the publishing one.
    async fn topology_channel(&self) -> Result<Channel, BusError> {
        let guard = self.publisher().await?;
        match guard.as_ref() {
            Some(publisher) => publisher
                .connection
                .create_channel()
                .await
                .map_err(BusError::amqp("opening a topology channel")),
            None => Err(BusError::DeliveryConnectionClosed),
        }
    }

    /// Publishes persistently and waits for the broker's confirms. Any nack, timeout or
    /// connection error is an `Err`, and the connection is reopened on the next call.
    pub async fn publish(&self, messages: &[StockChanged]) -> Result<(), BusError> {
        if messages.is_empty() {
            return Ok(());
        }
        let payloads = messages
            .iter()
            .map(|message| message.to_json().map_err(BusError::Encode))
            .collect::<Result<Vec<_>, _>>()?;
        let mut guard = self.publisher().await?;
        let Some(publisher) = guard.as_ref() else {
            return Err(BusError::DeliveryConnectionClosed);
        };
        let result = self.publish_on(&publisher.channel, &payloads).await;
        if result.is_err() {
            // Whatever state the channel is in, a fresh one is the safe start for the retry.
            *guard = None;
        }
        result
    }

    async fn publish_on(&self, channel: &Channel, payloads: &[Vec<u8>]) -> Result<(), BusError> {
        let exchange = self.shared.config.exchange_name();
        let mut confirms = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let properties = BasicProperties::default()
                .with_delivery_mode(PERSISTENT)
                .with_content_type("application/json".into())
                .with_timestamp(publish_time_seconds());
            let confirm = channel
                .basic_publish(
                    exchange.as_str().into(),
                    ROUTING_KEY.into(),
                    BasicPublishOptions::default(),
                    payload,
                    properties,
                )
                .await
                .map_err(BusError::amqp("publishing a stock change"))?;
            confirms.push(confirm);
        }
        let wait_all = async {
            let mut refused = 0;
            for confirm in confirms {
                let confirmation = confirm
                    .await
                    .map_err(BusError::amqp("waiting for a publisher confirm"))?;
                if !confirmation.is_ack() {
                    refused += 1;
                }
            }
            Ok::<usize, BusError>(refused)
        };
        let refused = tokio::time::timeout(CONFIRM_TIMEOUT, wait_all)
            .await
            .map_err(|_| BusError::ConfirmTimeout {
                seconds: CONFIRM_TIMEOUT.as_secs(),
            })??;
        if refused > 0 {
            return Err(BusError::NotConfirmed { count: refused });
        }
        debug!(count = payloads.len(), "stock messages published");
        Ok(())
    }

    /// Declares the channel's queue and dead-letter queue (idempotent). While the broker cannot
    /// be reached this only logs: the publishing connection declares them when it opens, before
    /// it publishes anything.
    pub async fn ensure_channel_queue(&self, channel_id: &str) -> Result<(), BusError> {
        self.shared
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(channel_id.to_owned());
        let channel = match self.topology_channel().await {
            Ok(channel) => channel,
            Err(error) => {
                warn!(channel = %channel_id, error = %error, "the broker cannot be reached; the channel's queue is declared when it is back");
                return Ok(());
            }
        };
        declare_channel_queue(&channel, &self.shared.config, channel_id).await
    }

    /// Deletes the channel's queue and dead-letter queue.
    pub async fn delete_channel_queue(&self, channel_id: &str) -> Result<(), BusError> {
        let channel = self.topology_channel().await?;
        for queue in [
            self.shared.config.channel_queue_name(channel_id),
            self.shared.config.dead_letter_queue_name(channel_id),
        ] {
            channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await
                .map_err(BusError::amqp("deleting a queue"))?;
        }
        Ok(())
    }

    /// Deletes the stock and dead-letter exchanges (tests, and uninstalling).
    pub async fn delete_exchanges(&self) -> Result<(), BusError> {
        let channel = self.topology_channel().await?;
        for exchange in [
            self.shared.config.exchange_name(),
            self.shared.config.dead_letter_exchange_name(),
        ] {
            channel
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await
                .map_err(BusError::amqp("deleting an exchange"))?;
        }
        Ok(())
    }

    /// How many messages wait in the channel's dead-letter queue.
    pub async fn dead_letter_count(&self, channel_id: &str) -> Result<u64, BusError> {
        self.ready_count(self.shared.config.dead_letter_queue_name(channel_id))
            .await
    }

    /// Deletes up to `batch` messages of the channel's dead-letter queue that died before
    /// `before` (unix ms); the number deleted. Younger messages are handed back to the queue
    /// (they are held unacknowledged until the scan ends, so each is read once per pass).
    /// A message whose time of death cannot be read is kept.
    pub async fn prune_dead_letters(
        &self,
        channel_id: &str,
        before: i64,
        batch: u32,
    ) -> Result<u64, BusError> {
        let channel = self.topology_channel().await?;
        let queue = self.shared.config.dead_letter_queue_name(channel_id);
        let mut pruned = 0;
        let mut kept = Vec::new();
        for _ in 0..batch {
            let Some(message) = channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
                .await
                .map_err(BusError::amqp("reading a dead-letter queue"))?
            else {
                break;
            };
            let delivery = message.delivery;
            match died_at_millis(&delivery.properties) {
                Some(died) if died < before => {
                    delivery
                        .acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map_err(BusError::amqp("deleting a dead letter"))?;
                    pruned += 1;
                }
                _ => kept.push(delivery),
            }
        }
        for delivery in kept {
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
                .map_err(BusError::amqp("handing back a dead letter"))?;
        }
        Ok(pruned)
    }

    /// How many messages are ready in the channel's queue (delivered, unacknowledged ones are
    /// not counted).
    pub async fn pending_count(&self, channel_id: &str) -> Result<u64, BusError> {
        self.ready_count(self.shared.config.channel_queue_name(channel_id))
            .await
    }

    async fn ready_count(&self, queue: String) -> Result<u64, BusError> {
        let channel = self.topology_channel().await?;
        let queue = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(BusError::amqp("inspecting a queue"))?;
        Ok(u64::from(queue.message_count()))
    }

    /// A consumer of the channel's queue on a connection of its own (declaring the queue).
    /// Fails if the broker cannot be reached now; once running, it reconnects by itself.
    pub async fn consume(&self, channel_id: &str) -> Result<AmqpConsumer, BusError> {
        let session = ConsumerSession::open(&self.shared.config, channel_id).await?;
        Ok(AmqpConsumer {
            config: self.shared.config.clone(),
            channel_id: channel_id.to_owned(),
            session: Some(session),
        })
    }
}

/// One connection's consumption of a channel queue.
struct ConsumerSession {
    _connection: Connection,
    _channel: Channel,
    consumer: lapin::Consumer,
}

impl ConsumerSession {
    async fn open(config: &BusConfig, channel_id: &str) -> Result<Self, BusError> {
        let connection = open_connection(config).await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(BusError::amqp("opening a consumer channel"))?;
        declare_channel_queue(&channel, config, channel_id).await?;
        channel
            .basic_qos(config.prefetch.max(1), BasicQosOptions::default())
            .await
            .map_err(BusError::amqp("setting the prefetch"))?;
        let consumer = channel
            .basic_consume(
                config.channel_queue_name(channel_id).into(),
                String::new().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BusError::amqp("starting a consumer"))?;
        debug!(channel = %channel_id, "bus consumer subscribed");
        Ok(Self {
            _connection: connection,
            _channel: channel,
            consumer,
        })
    }
}

/// Consumes one channel queue; reconnects with exponential backoff when the connection drops.
/// Dropping it closes its connection, and the broker redelivers what it had not acknowledged.
pub struct AmqpConsumer {
    config: BusConfig,
    channel_id: String,
    session: Option<ConsumerSession>,
}

impl std::fmt::Debug for AmqpConsumer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AmqpConsumer")
            .field("channel", &self.channel_id)
            .field("connected", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

impl AmqpConsumer {
    /// Waits for the next decodable message. Undecodable payloads are dead-lettered and skipped;
    /// connection losses are retried forever with backoff (logged at warn).
    pub async fn next(&mut self) -> Result<AmqpDelivery, BusError> {
        loop {
            let session = match self.session.as_mut() {
                Some(session) => session,
                None => self.session.insert(self.reconnect().await),
            };
            match session.consumer.next().await {
                Some(Ok(delivery)) => match StockChanged::from_json(&delivery.data) {
                    Ok(message) => {
                        return Ok(AmqpDelivery {
                            channel_id: self.channel_id.clone(),
                            message,
                            delivery,
                        })
                    }
                    Err(error) => {
                        warn!(channel = %self.channel_id, error = %error,
                            "undecodable bus message, dead-lettering it");
                        let rejected = delivery
                            .acker
                            .reject(BasicRejectOptions { requeue: false })
                            .await;
                        if let Err(error) = rejected {
                            warn!(channel = %self.channel_id, error = %error,
                                "could not dead-letter an undecodable message");
                        }
                    }
                },
                Some(Err(error)) => {
                    warn!(channel = %self.channel_id, error = %error,
                        "bus consumer connection lost, reconnecting");
                    self.session = None;
                }
                None => {
                    warn!(channel = %self.channel_id, "bus consumer cancelled, reconnecting");
                    self.session = None;
                }
            }
        }
    }

    async fn reconnect(&self) -> ConsumerSession {
        let mut backoff = backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(Duration::from_millis(200))
            .with_max_interval(RECONNECT_MAX)
            .with_max_elapsed_time(None)
            .build();
        loop {
            match ConsumerSession::open(&self.config, &self.channel_id).await {
                Ok(session) => {
                    info!(channel = %self.channel_id, "bus consumer reconnected");
                    return session;
                }
                Err(error) => {
                    let wait = backoff.next_backoff().unwrap_or(RECONNECT_MAX);
                    warn!(channel = %self.channel_id, error = %error,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "bus consumer could not reconnect");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// One message from the broker.
pub struct AmqpDelivery {
    channel_id: String,
    message: StockChanged,
    delivery: lapin::message::Delivery,
}

impl std::fmt::Debug for AmqpDelivery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AmqpDelivery")
            .field("channel", &self.channel_id)
            .field("message", &self.message)
            .field("redelivered", &self.delivery.redelivered)
            .finish_non_exhaustive()
    }
}

impl AmqpDelivery {
    /// The message.
    pub fn message(&self) -> &StockChanged {
        &self.message
    }

    /// Whether the broker delivered this message before.
    pub fn redelivered(&self) -> bool {
        self.delivery.redelivered
    }

    /// Acknowledges the message: the broker forgets it.
    pub async fn ack(self) -> Result<(), BusError> {
        let sent = self
            .delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(BusError::amqp("acknowledging a message"))?;
        settled(sent)
    }

    /// Returns the message to the queue (`requeue`) or dead-letters it.
    pub async fn nack(self, requeue: bool) -> Result<(), BusError> {
        if !requeue {
            warn!(channel = %self.channel_id, skus = %self.message.skus.join(","),
                outbox_id = self.message.outbox_id, "message dead-lettered");
        }
        let sent = self
            .delivery
            .acker
            .nack(BasicNackOptions {
                requeue,
                ..BasicNackOptions::default()
            })
            .await
            .map_err(BusError::amqp("rejecting a message"))?;
        settled(sent)
    }
}

/// lapin reports `false` when the delivery's channel is gone: nothing reached the broker.
fn settled(sent: bool) -> Result<(), BusError> {
    if sent {
        Ok(())
    } else {
        Err(BusError::DeliveryConnectionClosed)
    }
}

/// When the broker dead-lettered the message (unix ms): the newest `x-death` entry's `time`,
/// else the publish timestamp (a message is never dead before it is published).
fn died_at_millis(properties: &BasicProperties) -> Option<i64> {
    let death_time =
        properties
            .headers()
            .as_ref()
            .and_then(|headers| match headers.inner().get("x-death") {
                Some(AMQPValue::FieldArray(deaths)) => deaths
                    .as_slice()
                    .iter()
                    .filter_map(|death| match death {
                        AMQPValue::FieldTable(death) => match death.inner().get("time") {
                            Some(AMQPValue::Timestamp(seconds)) => Some(*seconds),
                            _ => None,
                        },
                        _ => None,
                    })
                    .max(),
                _ => None,
            });
    let seconds = death_time.or(*properties.timestamp())?;
    i64::try_from(seconds).ok()?.checked_mul(1_000)
}

/// Now, in whole seconds since the epoch (AMQP's timestamp property).
fn publish_time_seconds() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}
