//! The operators' records: resync jobs, dead letters, reconciliations and order-poll times.
//!
//! Only storage lives here; what the records mean and when they change is decided by
//! `crate::ops`.

use std::collections::{BTreeMap, BTreeSet};

use super::error::DatabaseContext;
use super::push_targets::forget_pushed;
use super::types::now_millis;
use super::write::WriteTx;
use super::{Backend, Ledger, LedgerError};

/// The advisory lock key that serializes resync job starts across replicas (the bytes of
/// "omnijobs").
pub const JOB_START_LOCK_KEY: i64 = 0x6f6d_6e69_6a6f_6273;

/// Webhook answers counted in one minute: `(channel, minute since the epoch, HTTP status)` and
/// how many.
pub type WebhookAnswerCount = ((String, i64, u16), u64);

/// A channel's push activity as the sync leader last published it. Times are unix
/// milliseconds UTC.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PushActivityRecord {
    pub channel_id: String,
    pub backlog_skus: i64,
    pub calls_last_minute: i64,
    pub last_confirmed_at: Option<i64>,
    pub last_error_at: Option<i64>,
    pub last_error: Option<String>,
    /// The sweep under way: why (`start-up`, `resume`), since when, SKUs read so far.
    pub sweep_cause: Option<String>,
    pub sweep_started_at: Option<i64>,
    pub sweep_skus: Option<i64>,
    pub last_sweep_done_at: Option<i64>,
    /// 1 while the channel is degraded, else 0.
    pub degraded: Option<i64>,
    /// The channel's stock messages the bus dead-lettered, as the leader last counted them.
    pub bus_dead_lettered: Option<i64>,
    pub updated_at: i64,
}

/// A resync job as stored. Times are unix milliseconds UTC.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRecord {
    pub id: String,
    /// `None`: every channel.
    pub channel_id: Option<String>,
    /// JSON array of SKUs; `None`: every SKU.
    pub skus: Option<String>,
    /// `push` or `reconcile`.
    pub mode: String,
    /// `api` or `schedule`.
    pub trigger_kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `interrupted`.
    pub state: String,
    pub total: i64,
    pub done: i64,
    pub pushed: i64,
    pub drifts: i64,
    pub errors: i64,
    pub last_error: Option<String>,
    /// The interrupted job this one restarted.
    pub restarted_from: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub heartbeat_at: i64,
}

/// How far a job got, written as it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    pub total: i64,
    pub done: i64,
    pub pushed: i64,
    pub drifts: i64,
    pub errors: i64,
}

/// A listing update a channel refused for good.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadLetterRecord {
    pub id: i64,
    pub channel_id: String,
    pub listing_id: String,
    pub sku: String,
    /// The quantity that was refused.
    pub quantity: i64,
    pub error: String,
    /// How many times the update was refused since it was first parked.
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The last reconciliation of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconciliationRecord {
    pub finished_at: i64,
    pub drifts: i64,
}

/// When a channel's orders were last pulled and when its cursor last moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollRecord {
    pub polled_at: Option<i64>,
    pub cursor_moved_at: Option<i64>,
}

const JOB_COLUMNS: &str = "id, channel_id, skus, mode, trigger_kind, state, total, done, pushed, \
     drifts, errors, last_error, restarted_from, created_at, started_at, finished_at, heartbeat_at";

impl Ledger {
    /// Stores `job` (state `queued`) unless an active job conflicts with it; returns the
    /// conflicting job's id instead. Atomic across processes: on PostgreSQL the check and the
    /// insert run under a transaction-level advisory lock, on SQLite under the write lock that
    /// `BEGIN IMMEDIATE` takes, so two replicas can never both insert overlapping jobs.
    pub async fn insert_job_unless(
        &self,
        job: &JobRecord,
        conflicts: impl Fn(&JobRecord) -> bool,
    ) -> Result<Option<String>, LedgerError> {
        let mut transaction = WriteTx::begin(self).await?;
        if self.backend == Backend::Postgres {
            // The lock function returns `void`, which the `Any` driver cannot decode: count it.
            sqlx::query(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT pg_advisory_xact_lock($1)) AS locked",
            )
            .bind(JOB_START_LOCK_KEY)
            .fetch_one(transaction.connection())
            .await
            .context("locking resync job starts")?;
        }
        let active: Vec<JobRecord> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM resync_jobs WHERE state IN ('queued', 'running') \
             ORDER BY created_at"
        ))
        .fetch_all(transaction.connection())
        .await
        .context("listing active resync jobs")?;
        if let Some(conflict) = active.into_iter().find(|active| conflicts(active)) {
            transaction.rollback().await?;
            return Ok(Some(conflict.id));
        }
        sqlx::query(
            "INSERT INTO resync_jobs (id, channel_id, skus, mode, trigger_kind, state, \
             restarted_from, created_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&job.id)
        .bind(&job.channel_id)
        .bind(&job.skus)
        .bind(&job.mode)
        .bind(&job.trigger_kind)
        .bind(&job.state)
        .bind(&job.restarted_from)
        .bind(job.created_at)
        .bind(job.heartbeat_at)
        .execute(transaction.connection())
        .await
        .context("storing a resync job")?;
        transaction.commit().await?;
        Ok(None)
    }

    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>, LedgerError> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM resync_jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a resync job")
    }

    /// The most recent jobs, newest first.
    pub async fn recent_jobs(&self, limit: i64) -> Result<Vec<JobRecord>, LedgerError> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM resync_jobs ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("listing resync jobs")
    }

    /// Jobs waiting for the sync leader, oldest first.
    pub async fn queued_jobs(&self) -> Result<Vec<JobRecord>, LedgerError> {
        sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM resync_jobs WHERE state = 'queued' ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .context("listing queued resync jobs")
    }

    /// When the last job of `mode` for `channel_id` started by `trigger_kind` was created.
    pub async fn last_job_created(
        &self,
        channel_id: &str,
        mode: &str,
        trigger_kind: &str,
    ) -> Result<Option<i64>, LedgerError> {
        let row: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT MAX(created_at) FROM resync_jobs \
             WHERE channel_id = $1 AND mode = $2 AND trigger_kind = $3",
        )
        .bind(channel_id)
        .bind(mode)
        .bind(trigger_kind)
        .fetch_optional(&self.pool)
        .await
        .context("reading the last scheduled job")?;
        Ok(row.and_then(|(created_at,)| created_at))
    }

    /// Moves a queued job to `running`; `false` when it was not queued any more (another
    /// process claimed it first, or it ended).
    pub async fn claim_job(&self, id: &str) -> Result<bool, LedgerError> {
        let now = now_millis();
        let claimed = sqlx::query(
            "UPDATE resync_jobs SET state = 'running', started_at = $1, heartbeat_at = $1 \
             WHERE id = $2 AND state = 'queued'",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("claiming a resync job")?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Writes progress and the heartbeat that says the job's process is alive.
    pub async fn record_job_progress(
        &self,
        id: &str,
        progress: JobProgress,
        last_error: Option<&str>,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE resync_jobs SET total = $1, done = $2, pushed = $3, drifts = $4, errors = $5, \
             last_error = COALESCE($6, last_error), heartbeat_at = $7 WHERE id = $8",
        )
        .bind(progress.total)
        .bind(progress.done)
        .bind(progress.pushed)
        .bind(progress.drifts)
        .bind(progress.errors)
        .bind(last_error)
        .bind(now_millis())
        .bind(id)
        .execute(&self.pool)
        .await
        .context("recording resync progress")?;
        Ok(())
    }

    /// Ends a job in `state` (`succeeded`, `failed` or `interrupted`).
    pub async fn finish_job(
        &self,
        id: &str,
        state: &str,
        last_error: Option<&str>,
    ) -> Result<(), LedgerError> {
        let now = now_millis();
        sqlx::query(
            "UPDATE resync_jobs SET state = $1, finished_at = $2, heartbeat_at = $2, \
             last_error = COALESCE($3, last_error) \
             WHERE id = $4 AND state IN ('queued', 'running')",
        )
        .bind(state)
        .bind(now)
        .bind(last_error)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("finishing a resync job")?;
        Ok(())
    }

    /// Marks `interrupted` every running job whose heartbeat is older than `stale_before`
    /// (unix ms): the process that ran it is gone. Queued jobs wait for a leader and are left
    /// alone. Returns their ids.
    pub async fn interrupt_stale_jobs(
        &self,
        stale_before: i64,
    ) -> Result<Vec<String>, LedgerError> {
        let stale: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM resync_jobs WHERE state = 'running' AND heartbeat_at < $1",
        )
        .bind(stale_before)
        .fetch_all(&self.pool)
        .await
        .context("finding stale resync jobs")?;
        let ids: Vec<String> = stale.into_iter().map(|(id,)| id).collect();
        for id in &ids {
            self.finish_job(
                id,
                "interrupted",
                Some("the process running the job stopped"),
            )
            .await?;
        }
        Ok(ids)
    }

    pub async fn record_reconciliation(
        &self,
        channel_id: &str,
        job_id: &str,
        drifts: i64,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO channel_reconciliations (channel_id, job_id, finished_at, drifts) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (channel_id) DO UPDATE SET \
             job_id = excluded.job_id, finished_at = excluded.finished_at, drifts = excluded.drifts",
        )
        .bind(channel_id)
        .bind(job_id)
        .bind(now_millis())
        .bind(drifts)
        .execute(&self.pool)
        .await
        .context("recording a reconciliation")?;
        Ok(())
    }

    /// The last reconciliation of every channel that had one.
    pub async fn reconciliations(
        &self,
    ) -> Result<BTreeMap<String, ReconciliationRecord>, LedgerError> {
        let rows: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT channel_id, finished_at, drifts FROM channel_reconciliations")
                .fetch_all(&self.pool)
                .await
                .context("reading reconciliations")?;
        Ok(rows
            .into_iter()
            .map(|(channel, finished_at, drifts)| {
                (
                    channel,
                    ReconciliationRecord {
                        finished_at,
                        drifts,
                    },
                )
            })
            .collect())
    }

    /// Remembers that the channel's orders were pulled successfully now.
    pub async fn record_poll(&self, channel_id: &str) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO channel_polls (channel_id, polled_at) VALUES ($1, $2) \
             ON CONFLICT (channel_id) DO UPDATE SET polled_at = excluded.polled_at",
        )
        .bind(channel_id)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .context("recording an order poll")?;
        Ok(())
    }

    /// Poll times and cursor ages of every channel that has either.
    pub async fn poll_records(&self) -> Result<BTreeMap<String, PollRecord>, LedgerError> {
        let polls: Vec<(String, i64)> =
            sqlx::query_as("SELECT channel_id, polled_at FROM channel_polls")
                .fetch_all(&self.pool)
                .await
                .context("reading order polls")?;
        let cursors: Vec<(String, i64)> =
            sqlx::query_as("SELECT channel_id, updated_at FROM channel_cursors")
                .fetch_all(&self.pool)
                .await
                .context("reading cursor ages")?;
        let mut records: BTreeMap<String, PollRecord> = BTreeMap::new();
        for (channel, polled_at) in polls {
            records.entry(channel).or_default().polled_at = Some(polled_at);
        }
        for (channel, moved_at) in cursors {
            records.entry(channel).or_default().cursor_moved_at = Some(moved_at);
        }
        Ok(records)
    }

    /// Parks a refused listing update, or counts one more refusal of a parked one.
    pub async fn park_dead_letter(
        &self,
        channel_id: &str,
        listing_id: &str,
        sku: &str,
        quantity: i64,
        error: &str,
    ) -> Result<(), LedgerError> {
        let now = now_millis();
        sqlx::query(
            "INSERT INTO dead_letters (channel_id, listing_id, sku, quantity, error, attempts, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) \
             ON CONFLICT (channel_id, listing_id) DO UPDATE SET quantity = excluded.quantity, \
             error = excluded.error, attempts = dead_letters.attempts + 1, \
             updated_at = excluded.updated_at",
        )
        .bind(channel_id)
        .bind(listing_id)
        .bind(sku)
        .bind(quantity)
        .bind(error)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("parking a dead letter")?;
        Ok(())
    }

    /// Dead letters, oldest first; of one channel when `channel_id` is given.
    pub async fn dead_letters(
        &self,
        channel_id: Option<&str>,
    ) -> Result<Vec<DeadLetterRecord>, LedgerError> {
        let select = "SELECT id, channel_id, listing_id, sku, quantity, error, attempts, \
             created_at, updated_at FROM dead_letters";
        match channel_id {
            Some(channel_id) => {
                sqlx::query_as(&format!("{select} WHERE channel_id = $1 ORDER BY id"))
                    .bind(channel_id)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query_as(&format!("{select} ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .context("listing dead letters")
    }

    pub async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetterRecord>, LedgerError> {
        sqlx::query_as(
            "SELECT id, channel_id, listing_id, sku, quantity, error, attempts, created_at, \
             updated_at FROM dead_letters WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a dead letter")
    }

    /// Takes a dead letter out to send its update again: in one transaction the letter is
    /// removed, what the channel last confirmed for its listing is forgotten, and an outbox row
    /// for its SKU is written, so whichever replica is the sync leader pushes the listing at
    /// its quantity then. `None` when there was no dead letter with this id.
    pub async fn retry_dead_letter(
        &self,
        id: i64,
    ) -> Result<Option<DeadLetterRecord>, LedgerError> {
        let mut transaction = WriteTx::begin(self).await?;
        let letter: Option<DeadLetterRecord> = sqlx::query_as(
            "DELETE FROM dead_letters WHERE id = $1 RETURNING id, channel_id, listing_id, sku, \
             quantity, error, attempts, created_at, updated_at",
        )
        .bind(id)
        .fetch_optional(transaction.connection())
        .await
        .context("taking out a dead letter")?;
        let Some(letter) = letter else {
            transaction.rollback().await?;
            return Ok(None);
        };
        let listing = (letter.channel_id.as_str(), letter.listing_id.as_str());
        forget_pushed(&mut transaction, &BTreeSet::from([listing])).await?;
        transaction.mark_changed(&letter.sku);
        transaction.commit().await?;
        Ok(Some(letter))
    }

    /// Removes a dead letter; `false` when there was none with this id.
    pub async fn delete_dead_letter(&self, id: i64) -> Result<bool, LedgerError> {
        let deleted = sqlx::query("DELETE FROM dead_letters WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .context("removing a dead letter")?;
        Ok(deleted.rows_affected() > 0)
    }

    /// The listings of `channel_id` that are parked as dead letters.
    pub async fn dead_lettered_listings(
        &self,
        channel_id: &str,
    ) -> Result<BTreeSet<String>, LedgerError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT listing_id FROM dead_letters WHERE channel_id = $1")
                .bind(channel_id)
                .fetch_all(&self.pool)
                .await
                .context("reading dead-lettered listings")?;
        Ok(rows.into_iter().map(|(listing,)| listing).collect())
    }

    /// How many dead letters each channel has (channels without any are absent).
    pub async fn dead_letter_counts(&self) -> Result<BTreeMap<String, i64>, LedgerError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT channel_id, CAST(COUNT(*) AS BIGINT) FROM dead_letters GROUP BY channel_id",
        )
        .fetch_all(&self.pool)
        .await
        .context("counting dead letters")?;
        Ok(rows.into_iter().collect())
    }

    /// Stores what the leader's pusher of a channel is doing (replacing what was stored).
    pub async fn store_push_activity(
        &self,
        record: &PushActivityRecord,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO channel_push_activity (channel_id, backlog_skus, calls_last_minute, \
             last_confirmed_at, last_error_at, last_error, sweep_cause, sweep_started_at, \
             sweep_skus, last_sweep_done_at, degraded, bus_dead_lettered, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (channel_id) DO UPDATE SET backlog_skus = excluded.backlog_skus, \
             calls_last_minute = excluded.calls_last_minute, \
             last_confirmed_at = excluded.last_confirmed_at, \
             last_error_at = excluded.last_error_at, last_error = excluded.last_error, \
             sweep_cause = excluded.sweep_cause, sweep_started_at = excluded.sweep_started_at, \
             sweep_skus = excluded.sweep_skus, last_sweep_done_at = excluded.last_sweep_done_at, \
             degraded = excluded.degraded, bus_dead_lettered = excluded.bus_dead_lettered, \
             updated_at = excluded.updated_at",
        )
        .bind(&record.channel_id)
        .bind(record.backlog_skus)
        .bind(record.calls_last_minute)
        .bind(record.last_confirmed_at)
        .bind(record.last_error_at)
        .bind(record.last_error.as_deref())
        .bind(record.sweep_cause.as_deref())
        .bind(record.sweep_started_at)
        .bind(record.sweep_skus)
        .bind(record.last_sweep_done_at)
        .bind(record.degraded)
        .bind(record.bus_dead_lettered)
        .bind(record.updated_at)
        .execute(&self.pool)
        .await
        .context("storing a channel's push activity")?;
        Ok(())
    }

    /// The push activity the leader last published, per channel.
    pub async fn push_activities(
        &self,
    ) -> Result<BTreeMap<String, PushActivityRecord>, LedgerError> {
        let rows: Vec<PushActivityRecord> = sqlx::query_as(
            "SELECT channel_id, backlog_skus, calls_last_minute, last_confirmed_at, \
             last_error_at, last_error, sweep_cause, sweep_started_at, sweep_skus, \
             last_sweep_done_at, degraded, bus_dead_lettered, updated_at \
             FROM channel_push_activity",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading the channels' push activity")?;
        Ok(rows
            .into_iter()
            .map(|record| (record.channel_id.clone(), record))
            .collect())
    }

    /// Whether pushes to the channel are paused; `None` for an unknown channel.
    pub async fn channel_paused(&self, channel_id: &str) -> Result<Option<bool>, LedgerError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT paused FROM channels WHERE id = $1")
            .bind(channel_id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a channel's pause")?;
        Ok(row.map(|(paused,)| paused != 0))
    }
}

impl Ledger {
    /// Adds webhook answer counts to the shared per-minute table, in one transaction.
    pub async fn add_webhook_answer_counts(
        &self,
        counts: &[WebhookAnswerCount],
    ) -> Result<(), LedgerError> {
        let mut transaction = WriteTx::begin(self).await?;
        for ((channel_id, minute, status), count) in counts {
            sqlx::query(
                "INSERT INTO webhook_answer_counts (channel_id, minute, status, count) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (channel_id, minute, status) \
                 DO UPDATE SET count = webhook_answer_counts.count + excluded.count",
            )
            .bind(channel_id)
            .bind(*minute)
            .bind(i64::from(*status))
            .bind(i64::try_from(*count).unwrap_or(i64::MAX))
            .execute(transaction.connection())
            .await
            .context("adding webhook answer counts")?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Webhook answers per channel and status counted from `since_minute` on (minutes since
    /// the epoch), by every replica.
    pub async fn webhook_answer_counts(
        &self,
        since_minute: i64,
    ) -> Result<BTreeMap<String, BTreeMap<u16, u64>>, LedgerError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT channel_id, status, CAST(SUM(count) AS BIGINT) FROM webhook_answer_counts \
             WHERE minute >= $1 GROUP BY channel_id, status",
        )
        .bind(since_minute)
        .fetch_all(&self.pool)
        .await
        .context("reading webhook answer counts")?;
        let mut counts: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
        for (channel, status, count) in rows {
            let status = u16::try_from(status).unwrap_or(0);
            *counts
                .entry(channel)
                .or_default()
                .entry(status)
                .or_default() += u64::try_from(count).unwrap_or(0);
        }
        Ok(counts)
    }

    /// Removes the webhook answer counts of minutes before `before_minute`.
    pub async fn prune_webhook_answer_counts(&self, before_minute: i64) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM webhook_answer_counts WHERE minute < $1")
            .bind(before_minute)
            .execute(&self.pool)
            .await
            .context("pruning webhook answer counts")?;
        Ok(())
    }
}
