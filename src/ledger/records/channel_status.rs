//! The store of what the channel status shows besides stock, reached as
//! [`Ledger::channel_status`]: the last reconciliation, order-poll times, the leader's
//! published push activity, pauses and webhook answer counts.
//!
//! Only storage lives here; what the records mean and when they change is decided by
//! `crate::ops`.

use std::collections::BTreeMap;

use crate::ledger::db::write::WriteTx;
use crate::ledger::error::DatabaseContext;
use crate::ledger::types::now_millis;
use crate::ledger::{Ledger, LedgerError};

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

/// The channel status records of a ledger's database.
#[derive(Debug, Clone, Copy)]
pub struct ChannelStatusStore<'a> {
    ledger: &'a Ledger,
}

impl Ledger {
    /// The channel status records.
    pub fn channel_status(&self) -> ChannelStatusStore<'_> {
        ChannelStatusStore { ledger: self }
    }
}

impl ChannelStatusStore<'_> {
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
        .execute(&self.ledger.pool)
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
                .fetch_all(&self.ledger.pool)
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
        .execute(&self.ledger.pool)
        .await
        .context("recording an order poll")?;
        Ok(())
    }

    /// Poll times and cursor ages of every channel that has either.
    pub async fn poll_records(&self) -> Result<BTreeMap<String, PollRecord>, LedgerError> {
        let polls: Vec<(String, i64)> =
            sqlx::query_as("SELECT channel_id, polled_at FROM channel_polls")
                .fetch_all(&self.ledger.pool)
                .await
                .context("reading order polls")?;
        let cursors: Vec<(String, i64)> =
            sqlx::query_as("SELECT channel_id, updated_at FROM channel_cursors")
                .fetch_all(&self.ledger.pool)
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
        .execute(&self.ledger.pool)
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
        .fetch_all(&self.ledger.pool)
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
            .fetch_optional(&self.ledger.pool)
            .await
            .context("reading a channel's pause")?;
        Ok(row.map(|(paused,)| paused != 0))
    }
}

impl ChannelStatusStore<'_> {
    /// Adds webhook answer counts to the shared per-minute table, in one transaction.
    pub async fn add_webhook_answer_counts(
        &self,
        counts: &[WebhookAnswerCount],
    ) -> Result<(), LedgerError> {
        let mut transaction = WriteTx::begin(self.ledger).await?;
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
        .fetch_all(&self.ledger.pool)
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
            .execute(&self.ledger.pool)
            .await
            .context("pruning webhook answer counts")?;
        Ok(())
    }
}
