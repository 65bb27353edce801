//! The embedded bus: messages are rows of `bus_messages` in the ledger's database, one row per
//! (channel queue, message), so what is not acknowledged survives a restart.
//!
//! Meant for one process: the single-active-consumer rule and the in-flight bookkeeping live in
//! this process's memory. Consumers are woken by an in-process `Notify` and poll as a fallback.
//!
//! Writes are batched, because on SQLite every commit is expensive: a consumer claims up to a
//! prefetch window of rows in one statement (which counts the delivery attempt of each) and
//! hands them out one by one from memory, and [`DatabaseDelivery::ack_many`] deletes a whole
//! flush's rows in one statement.

use super::{BusConfig, BusError, StockChanged};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, OwnedMutexGuard};
use tracing::{debug, warn};

/// The most rows one claim takes. Bounds the statement's size; the prefetch window usually
/// bounds it first.
const CLAIM_BATCH: usize = 128;

/// The most ids one `DELETE … WHERE id IN (…)` names (SQLite's historic limit on bound
/// parameters is 999).
const ACK_BATCH: usize = 500;

/// The database-backed bus. Cheap to clone.
#[derive(Clone)]
pub struct DatabaseBus {
    pool: AnyPool,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DatabaseBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DatabaseBus")
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: BusConfig,
    queues: Mutex<HashMap<String, Arc<QueueState>>>,
}

/// A row claimed (its attempt counted) and not yet handed to the consumer.
struct Claimed {
    id: i64,
    message: StockChanged,
    redelivered: bool,
}

/// What this process knows about one channel queue.
#[derive(Default)]
struct QueueState {
    /// Woken on publish, nack and ack (a full prefetch window may have room again).
    wake: Notify,
    /// Held by the active consumer; other consumers of the queue wait for it.
    active: Arc<tokio::sync::Mutex<()>>,
    /// Which rows this process holds, so that a claim skips them.
    holding: Mutex<Holding>,
    /// Held while a claim runs: claims of the queue happen one after the other, each seeing
    /// what the one before took.
    claiming: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Holding {
    /// Rows handed out and not yet settled (an ack's row stays here until it is deleted).
    in_flight: HashSet<i64>,
    /// Rows claimed and not yet handed out. Kept here rather than in the consumer, so that a
    /// consumer taking over the queue hands them out instead of counting their attempt again.
    claimed: VecDeque<Claimed>,
    /// A delivery went back to the queue: the next `next` claims before handing out, so that
    /// the returned row, older than the claimed ones, comes first again.
    returned: bool,
}

impl QueueState {
    fn holding(&self) -> MutexGuard<'_, Holding> {
        // A panic while holding this lock cannot leave the sets inconsistent (single inserts,
        // removes and pops), so a poisoned lock is still usable.
        self.holding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `$first, $first+1, …` for `count` bound parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|index| format!("${index}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl DatabaseBus {
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
            let skus = serde_json::to_string(&message.skus).map_err(BusError::Encode)?;
            sqlx::query(
                "INSERT INTO bus_messages (queue, sku, skus, outbox_id, changed_at_ms, created_at, \
                 attempts) SELECT queue, $1, $2, $3, $4, $5, 0 FROM bus_queues",
            )
            .bind(message.skus.first().map_or("", String::as_str))
            .bind(skus)
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
            .map_err(BusError::database("committing queue delete"))?;
        // Claimed rows are gone with the queue; handing them out would only ack nothing.
        self.queue_state(channel_id).holding().claimed.clear();
        Ok(())
    }

    /// Deletes up to `batch` dead-lettered rows (of any queue) that died before `before` (unix
    /// ms), in one short statement; returns how many. Live rows are never pruned: they are
    /// changes still to be pushed.
    pub async fn prune_dead(&self, before: i64, batch: u32) -> Result<u64, BusError> {
        let deleted = sqlx::query(
            "DELETE FROM bus_messages WHERE id IN (\
                 SELECT id FROM bus_messages WHERE dead_at IS NOT NULL AND dead_at < $1 \
                 ORDER BY dead_at LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .map_err(BusError::database("pruning dead-lettered messages"))?;
        Ok(deleted.rows_affected())
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
    pub async fn consume(&self, channel_id: &str) -> Result<DatabaseConsumer, BusError> {
        self.ensure_channel_queue(channel_id).await?;
        Ok(DatabaseConsumer {
            pool: self.pool.clone(),
            config: self.shared.config.clone(),
            queue: channel_id.to_owned(),
            state: self.queue_state(channel_id),
            active: None,
        })
    }
}

/// The first pause after a failed claim; it doubles up to [`CLAIM_RETRY_MAX`].
const CLAIM_RETRY_FIRST: Duration = Duration::from_millis(50);
const CLAIM_RETRY_MAX: Duration = Duration::from_secs(5);

/// Reads one channel queue's rows oldest first.
pub struct DatabaseConsumer {
    pool: AnyPool,
    config: BusConfig,
    queue: String,
    state: Arc<QueueState>,
    /// Taken on the first `next`, released when the consumer is dropped.
    active: Option<OwnedMutexGuard<()>>,
}

impl std::fmt::Debug for DatabaseConsumer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DatabaseConsumer")
            .field("queue", &self.queue)
            .field("active", &self.active.is_some())
            .finish_non_exhaustive()
    }
}

impl DatabaseConsumer {
    /// Waits for the next message of the queue. While another consumer of the same queue is
    /// active in this process, waits for it to go away first.
    pub async fn next(&mut self) -> Result<DatabaseDelivery, BusError> {
        if self.active.is_none() {
            self.active = Some(self.state.active.clone().lock_owned().await);
            debug!(channel = %self.queue, "database bus consumer active");
        }
        let state = self.state.clone();
        let mut failures: u32 = 0;
        loop {
            // Created before looking, so a wake-up that arrives meanwhile is kept as a permit.
            let woken = state.wake.notified();
            match self.try_next().await {
                Ok(Some(delivery)) => return Ok(delivery),
                Ok(None) => failures = 0,
                Err(error) => {
                    // The queue is the ledger's own database: a busy or briefly unreachable
                    // database is waited out, as the AMQP consumer waits out a broker.
                    failures = failures.saturating_add(1);
                    let wait = CLAIM_RETRY_FIRST
                        .saturating_mul(2_u32.saturating_pow(failures.min(8)))
                        .min(CLAIM_RETRY_MAX);
                    warn!(channel = %self.queue, error = %error, retry_in_ms = wait.as_millis() as u64,
                        "claiming bus messages failed; retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(self.config.poll_interval()) => {}
            }
        }
    }

    async fn try_next(&mut self) -> Result<Option<DatabaseDelivery>, BusError> {
        let returned = self.state.holding().returned;
        if !returned {
            if let Some(delivery) = self.hand_out() {
                return Ok(Some(delivery));
            }
        }
        self.claim().await?;
        Ok(self.hand_out())
    }

    /// The oldest claimed row, now in flight.
    fn hand_out(&self) -> Option<DatabaseDelivery> {
        let mut holding = self.state.holding();
        let claimed = holding.claimed.pop_front()?;
        holding.in_flight.insert(claimed.id);
        Some(DatabaseDelivery {
            pool: self.pool.clone(),
            state: self.state.clone(),
            queue: self.queue.clone(),
            id: claimed.id,
            message: claimed.message,
            redelivered: claimed.redelivered,
            settled: false,
        })
    }

    /// Claims rows in a task of its own: `next` is awaited inside `select!` and may be
    /// cancelled, and a claim cancelled after its statement ran would count attempts of rows
    /// nobody holds (enough of that dead-letters healthy messages). The task always files what
    /// it claimed.
    async fn claim(&mut self) -> Result<(), BusError> {
        let task = tokio::spawn(claim_rows(
            self.pool.clone(),
            self.queue.clone(),
            self.state.clone(),
            usize::from(self.config.prefetch.max(1)),
            i64::from(self.config.delivery_limit.max(1)),
        ));
        match task.await {
            Ok(claimed) => claimed,
            Err(error) => {
                // Only a panic or a runtime shutting down; the rows stay in the queue.
                warn!(channel = %self.queue, error = %error, "claiming bus messages stopped");
                Ok(())
            }
        }
    }
}

/// Claims the oldest live rows this process does not hold, as many as the prefetch window has
/// room for, in one statement that also counts their delivery attempt, and files them as
/// claimed. Rows past the delivery limit are dead-lettered instead.
async fn claim_rows(
    pool: AnyPool,
    queue: String,
    state: Arc<QueueState>,
    prefetch: usize,
    delivery_limit: i64,
) -> Result<(), BusError> {
    let _claiming = state.claiming.lock().await;
    let held: Vec<i64> = {
        let holding = state.holding();
        holding
            .in_flight
            .iter()
            .copied()
            .chain(holding.claimed.iter().map(|claimed| claimed.id))
            .collect()
    };
    let room = prefetch.saturating_sub(held.len()).min(CLAIM_BATCH);
    if room == 0 {
        return Ok(());
    }
    state.holding().returned = false;
    // Claims take `claiming`, so the held set cannot grow between reading it and the claim.
    let skip_held = if held.is_empty() {
        String::new()
    } else {
        format!(" AND id NOT IN ({})", placeholders(3, held.len()))
    };
    let sql = format!(
        "UPDATE bus_messages SET attempts = attempts + 1 WHERE id IN (\
             SELECT id FROM bus_messages WHERE queue = $1 AND dead_at IS NULL{skip_held} \
             ORDER BY id LIMIT $2) \
         RETURNING id, sku, skus, outbox_id, changed_at_ms, attempts"
    );
    let mut query = sqlx::query(&sql)
        .bind(&queue)
        .bind(i64::try_from(room).unwrap_or(i64::MAX));
    for id in &held {
        query = query.bind(*id);
    }
    let rows = query
        .fetch_all(&pool)
        .await
        .map_err(BusError::database("claiming bus messages"))?;
    let mut claimed = Vec::with_capacity(rows.len());
    let mut over_limit = Vec::new();
    for row in &rows {
        let (id, message, attempts) = decode(row)?;
        if attempts > delivery_limit {
            over_limit.push((id, message, attempts - 1));
        } else {
            claimed.push(Claimed {
                id,
                message,
                redelivered: attempts > 1,
            });
        }
    }
    {
        // RETURNING does not promise an order, and a returned row is older than the claimed
        // ones; the queue is oldest first.
        let mut holding = state.holding();
        holding.claimed.extend(claimed);
        holding
            .claimed
            .make_contiguous()
            .sort_by_key(|claimed| claimed.id);
    }
    for (id, message, attempts) in over_limit {
        warn!(channel = %queue, skus = %message.skus.join(","), outbox_id = message.outbox_id, attempts,
            "delivery limit reached, dead-lettering message");
        mark_dead(&pool, id).await?;
    }
    Ok(())
}

/// A claimed row: its id, message and attempts counted so far (this one included).
fn decode(row: &AnyRow) -> Result<(i64, StockChanged, i64), BusError> {
    let decoding = || BusError::database("decoding bus message");
    let id: i64 = row.try_get("id").map_err(decoding())?;
    let attempts: i64 = row.try_get("attempts").map_err(decoding())?;
    let skus: Option<String> = row.try_get("skus").map_err(decoding())?;
    let skus = match skus {
        Some(skus) => serde_json::from_str(&skus)
            .map_err(|error| sqlx::Error::Decode(Box::new(error)))
            .map_err(decoding())?,
        // Written before messages named several SKUs.
        None => vec![row.try_get("sku").map_err(decoding())?],
    };
    let message = StockChanged {
        skus,
        outbox_id: row.try_get("outbox_id").map_err(decoding())?,
        changed_at_ms: row.try_get("changed_at_ms").map_err(decoding())?,
    };
    Ok((id, message, attempts))
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

/// Deletes the rows in statements of at most [`ACK_BATCH`] ids each.
async fn delete_rows(pool: &AnyPool, ids: &[i64]) -> Result<(), BusError> {
    for chunk in ids.chunks(ACK_BATCH) {
        let sql = format!(
            "DELETE FROM bus_messages WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        query
            .execute(pool)
            .await
            .map_err(BusError::database("acknowledging messages"))?;
    }
    Ok(())
}

/// One row handed to the consumer. Dropping it unsettled puts it back in the queue.
pub struct DatabaseDelivery {
    pool: AnyPool,
    state: Arc<QueueState>,
    queue: String,
    id: i64,
    message: StockChanged,
    redelivered: bool,
    settled: bool,
}

impl std::fmt::Debug for DatabaseDelivery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DatabaseDelivery")
            .field("queue", &self.queue)
            .field("id", &self.id)
            .field("message", &self.message)
            .field("redelivered", &self.redelivered)
            .finish_non_exhaustive()
    }
}

impl DatabaseDelivery {
    /// The message.
    pub fn message(&self) -> &StockChanged {
        &self.message
    }

    /// Whether the message was claimed before (in this process or an earlier one): handed out,
    /// or, like RabbitMQ's prefetched messages, taken by a consumer that went away first.
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// Deletes the row: the message is done.
    pub async fn ack(self) -> Result<(), BusError> {
        Self::ack_many(vec![self]).await
    }

    /// Deletes the rows of all these deliveries, in one statement per queue (and per
    /// [`ACK_BATCH`] rows). Returns once they are deleted; on `Err` the deliveries not
    /// deleted go back to their queue.
    pub async fn ack_many(deliveries: Vec<DatabaseDelivery>) -> Result<(), BusError> {
        let mut by_queue: Vec<(Arc<QueueState>, AnyPool, Vec<DatabaseDelivery>)> = Vec::new();
        for delivery in deliveries {
            match by_queue
                .iter_mut()
                .find(|(state, _, _)| Arc::ptr_eq(state, &delivery.state))
            {
                Some((_, _, group)) => group.push(delivery),
                None => by_queue.push((
                    delivery.state.clone(),
                    delivery.pool.clone(),
                    vec![delivery],
                )),
            }
        }
        for (_, pool, mut group) in by_queue {
            let ids: Vec<i64> = group.iter().map(|delivery| delivery.id).collect();
            // The rows stay held (in flight) until they are deleted, so no claim in between
            // can hand them out again.
            delete_rows(&pool, &ids).await?;
            for delivery in &mut group {
                delivery.release(false);
            }
        }
        Ok(())
    }

    /// Hands the message out again (`requeue`) or dead-letters it.
    pub async fn nack(mut self, requeue: bool) -> Result<(), BusError> {
        if !requeue {
            mark_dead(&self.pool, self.id).await?;
            warn!(channel = %self.queue, skus = %self.message.skus.join(","),
                outbox_id = self.message.outbox_id, "message dead-lettered");
        }
        self.release(requeue);
        Ok(())
    }

    /// No longer held by this process: a live (`returned`) row is claimed again by the next
    /// `next`.
    fn release(&mut self, returned: bool) {
        if !self.settled {
            self.settled = true;
            let mut holding = self.state.holding();
            holding.in_flight.remove(&self.id);
            holding.returned |= returned;
            drop(holding);
            self.state.wake.notify_one();
        }
    }
}

impl Drop for DatabaseDelivery {
    fn drop(&mut self) {
        self.release(true);
    }
}
