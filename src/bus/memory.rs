//! The embedded bus: messages are rows of `bus_messages` in the ledger's database, one row per
//! (channel queue, message), so what is not acknowledged survives a restart.
//!
//! Meant for one process: the single-active-consumer rule and the in-flight bookkeeping live in
//! this process's memory. Consumers are woken by an in-process `Notify` and poll as a fallback.

use super::{BusConfig, BusError, StockChanged};
use sqlx::{AnyPool, Row};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, OwnedMutexGuard};
use tracing::{debug, warn};

/// The database-backed bus. Cheap to clone.
#[derive(Clone)]
pub struct MemoryBus {
    pool: AnyPool,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("MemoryBus").finish_non_exhaustive()
    }
}

struct Shared {
    config: BusConfig,
    queues: Mutex<HashMap<String, Arc<QueueState>>>,
}

/// What this process knows about one channel queue.
#[derive(Default)]
struct QueueState {
    /// Woken on publish, nack and ack (a full prefetch window may have room again).
    wake: Notify,
    /// Held by the active consumer; other consumers of the queue wait for it.
    active: Arc<tokio::sync::Mutex<()>>,
    /// Rows handed out and not yet settled.
    in_flight: Mutex<HashSet<i64>>,
}

impl QueueState {
    fn in_flight(&self) -> MutexGuard<'_, HashSet<i64>> {
        // A panic while holding this lock cannot leave the set inconsistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl MemoryBus {
    /// A bus over `pool`, which must hold the `bus_queues` and `bus_messages` tables (the
    /// ledger's migrations create them).
    pub fn new(pool: AnyPool, config: BusConfig) -> Self {
        Self {
            pool,
            shared: Arc::new(Shared {
                config,
                queues: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn queue_state(&self, queue: &str) -> Arc<QueueState> {
        let mut queues = self
            .shared
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        queues.entry(queue.to_owned()).or_default().clone()
    }

    /// Fans the messages out to every registered channel queue in one transaction.
    pub async fn publish(&self, messages: &[StockChanged]) -> Result<(), BusError> {
        if messages.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(BusError::database("beginning publish"))?;
        for message in messages {
            sqlx::query(
                "INSERT INTO bus_messages (queue, sku, outbox_id, changed_at_ms, created_at, attempts) \
                 SELECT queue, $1, $2, $3, $4, 0 FROM bus_queues",
            )
            .bind(&message.sku)
            .bind(message.outbox_id)
            .bind(message.changed_at_ms)
            .bind(now)
            .execute(&mut *transaction)
            .await
            .map_err(BusError::database("inserting bus messages"))?;
        }
        transaction
            .commit()
            .await
            .map_err(BusError::database("committing publish"))?;
        let states: Vec<Arc<QueueState>> = self
            .shared
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect();
        for state in states {
            state.wake.notify_one();
        }
        Ok(())
    }

    /// Registers the channel's queue (idempotent).
    pub async fn ensure_channel_queue(&self, channel_id: &str) -> Result<(), BusError> {
        sqlx::query(
            "INSERT INTO bus_queues (queue, created_at) VALUES ($1, $2) ON CONFLICT (queue) DO NOTHING",
        )
        .bind(channel_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(BusError::database("registering channel queue"))?;
        Ok(())
    }

    /// Removes the channel's queue with its messages and dead letters.
    pub async fn delete_channel_queue(&self, channel_id: &str) -> Result<(), BusError> {
        let mut transaction = self
            .pool
            .begin()
            .await
            .map_err(BusError::database("beginning queue delete"))?;
        for statement in [
            "DELETE FROM bus_messages WHERE queue = $1",
            "DELETE FROM bus_queues WHERE queue = $1",
        ] {
            sqlx::query(statement)
                .bind(channel_id)
                .execute(&mut *transaction)
                .await
                .map_err(BusError::database("deleting channel queue"))?;
        }
        transaction
            .commit()
            .await
            .map_err(BusError::database("committing queue delete"))
    }

    /// How many of the channel's messages were dead-lettered.
    pub async fn dead_letter_count(&self, channel_id: &str) -> Result<u64, BusError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM bus_messages WHERE queue = $1 AND dead_at IS NOT NULL",
        )
        .bind(channel_id)
        .fetch_one(&self.pool)
        .await
        .map_err(BusError::database("counting dead letters"))?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// How many of the channel's messages wait or are in flight (not dead-lettered).
    pub async fn pending_count(&self, channel_id: &str) -> Result<u64, BusError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM bus_messages WHERE queue = $1 AND dead_at IS NULL",
        )
        .bind(channel_id)
        .fetch_one(&self.pool)
        .await
        .map_err(BusError::database("counting pending messages"))?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// A consumer of the channel's queue (registering the queue if needed).
    pub async fn consume(&self, channel_id: &str) -> Result<MemoryConsumer, BusError> {
        self.ensure_channel_queue(channel_id).await?;
        Ok(MemoryConsumer {
            pool: self.pool.clone(),
            config: self.shared.config.clone(),
            queue: channel_id.to_owned(),
            state: self.queue_state(channel_id),
            active: None,
        })
    }
}

/// Reads one channel queue's rows oldest first.
pub struct MemoryConsumer {
    pool: AnyPool,
    config: BusConfig,
    queue: String,
    state: Arc<QueueState>,
    /// Taken on the first `next`, released when the consumer is dropped.
    active: Option<OwnedMutexGuard<()>>,
}

impl std::fmt::Debug for MemoryConsumer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MemoryConsumer")
            .field("queue", &self.queue)
            .field("active", &self.active.is_some())
            .finish_non_exhaustive()
    }
}

impl MemoryConsumer {
    /// Waits for the next message of the queue. While another consumer of the same queue is
    /// active in this process, waits for it to go away first.
    pub async fn next(&mut self) -> Result<MemoryDelivery, BusError> {
        if self.active.is_none() {
            self.active = Some(self.state.active.clone().lock_owned().await);
            debug!(channel = %self.queue, "memory bus consumer active");
        }
        let state = self.state.clone();
        loop {
            // Created before looking, so a wake-up that arrives meanwhile is kept as a permit.
            let woken = state.wake.notified();
            if let Some(delivery) = self.try_next().await? {
                return Ok(delivery);
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(self.config.poll_interval()) => {}
            }
        }
    }

    async fn try_next(&mut self) -> Result<Option<MemoryDelivery>, BusError> {
        let in_flight_now = self.state.in_flight().len();
        let prefetch = usize::from(self.config.prefetch.max(1));
        if in_flight_now >= prefetch {
            return Ok(None);
        }
        let limit = i64::try_from(in_flight_now + 1).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT id, sku, outbox_id, changed_at_ms, attempts FROM bus_messages \
             WHERE queue = $1 AND dead_at IS NULL ORDER BY id LIMIT $2",
        )
        .bind(&self.queue)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(BusError::database("reading bus messages"))?;
        for row in rows {
            let id: i64 = row
                .try_get("id")
                .map_err(BusError::database("decoding bus message"))?;
            if self.state.in_flight().contains(&id) {
                continue;
            }
            let attempts: i64 = row
                .try_get("attempts")
                .map_err(BusError::database("decoding bus message"))?;
            let message = StockChanged {
                sku: row
                    .try_get("sku")
                    .map_err(BusError::database("decoding bus message"))?,
                outbox_id: row
                    .try_get("outbox_id")
                    .map_err(BusError::database("decoding bus message"))?,
                changed_at_ms: row
                    .try_get("changed_at_ms")
                    .map_err(BusError::database("decoding bus message"))?,
            };
            if attempts >= i64::from(self.config.delivery_limit.max(1)) {
                warn!(channel = %self.queue, sku = %message.sku, outbox_id = message.outbox_id,
                    attempts, "delivery limit reached, dead-lettering message");
                mark_dead(&self.pool, id).await?;
                continue;
            }
            let claimed = sqlx::query(
                "UPDATE bus_messages SET attempts = attempts + 1 WHERE id = $1 AND dead_at IS NULL",
            )
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(BusError::database("counting a delivery"))?;
            if claimed.rows_affected() == 0 {
                continue; // settled meanwhile
            }
            self.state.in_flight().insert(id);
            return Ok(Some(MemoryDelivery {
                pool: self.pool.clone(),
                state: self.state.clone(),
                queue: self.queue.clone(),
                id,
                message,
                redelivered: attempts > 0,
                settled: false,
            }));
        }
        Ok(None)
    }
}

async fn mark_dead(pool: &AnyPool, id: i64) -> Result<(), BusError> {
    sqlx::query("UPDATE bus_messages SET dead_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await
        .map_err(BusError::database("dead-lettering a message"))?;
    Ok(())
}

/// One row handed to the consumer. Dropping it unsettled puts it back in the queue.
pub struct MemoryDelivery {
    pool: AnyPool,
    state: Arc<QueueState>,
    queue: String,
    id: i64,
    message: StockChanged,
    redelivered: bool,
    settled: bool,
}

impl std::fmt::Debug for MemoryDelivery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MemoryDelivery")
            .field("queue", &self.queue)
            .field("id", &self.id)
            .field("message", &self.message)
            .field("redelivered", &self.redelivered)
            .finish_non_exhaustive()
    }
}

impl MemoryDelivery {
    /// The message.
    pub fn message(&self) -> &StockChanged {
        &self.message
    }

    /// Whether the message was handed out before (in this process or an earlier one).
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// Deletes the row: the message is done.
    pub async fn ack(mut self) -> Result<(), BusError> {
        sqlx::query("DELETE FROM bus_messages WHERE id = $1")
            .bind(self.id)
            .execute(&self.pool)
            .await
            .map_err(BusError::database("acknowledging a message"))?;
        self.release();
        Ok(())
    }

    /// Hands the message out again (`requeue`) or dead-letters it.
    pub async fn nack(mut self, requeue: bool) -> Result<(), BusError> {
        if !requeue {
            mark_dead(&self.pool, self.id).await?;
            warn!(channel = %self.queue, sku = %self.message.sku,
                outbox_id = self.message.outbox_id, "message dead-lettered");
        }
        self.release();
        Ok(())
    }

    fn release(&mut self) {
        if !self.settled {
            self.settled = true;
            self.state.in_flight().remove(&self.id);
            self.state.wake.notify_one();
        }
    }
}

impl Drop for MemoryDelivery {
    fn drop(&mut self) {
        self.release();
    }
}
