//! Pruning of rows kept only for a while: webhook delivery ids and finished resync jobs. Never
//! the journal, never orders, balances or listings.
//!
//! Each call deletes at most `batch` rows in one short statement (rows found by an index), so
//! that pruning a large backlog never holds locks for long; the caller repeats until a call
//! deletes fewer than `batch`.

use crate::ledger::error::DatabaseContext;
use crate::ledger::{Ledger, LedgerError};

impl Ledger {
    /// Deletes up to `batch` webhook delivery ids received before `before` (unix ms). A
    /// redelivery of a pruned one is still booked once: its order snapshot equals the booked
    /// one.
    pub async fn prune_webhook_deliveries(
        &self,
        before: i64,
        batch: u32,
    ) -> Result<u64, LedgerError> {
        let deleted = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE (channel_id, delivery_id) IN (\
                 SELECT channel_id, delivery_id FROM webhook_deliveries \
                 WHERE received_at < $1 ORDER BY received_at LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .context("pruning webhook delivery ids")?;
        Ok(deleted.rows_affected())
    }

    /// Deletes up to `batch` resync jobs that finished before `before` (unix ms), except the
    /// newest job of each channel, mode and trigger: scheduled reconciliation reads when the
    /// last one was queued.
    pub async fn prune_finished_jobs(&self, before: i64, batch: u32) -> Result<u64, LedgerError> {
        let deleted = sqlx::query(
            "DELETE FROM resync_jobs WHERE id IN (\
                 SELECT job.id FROM resync_jobs job \
                 WHERE job.finished_at IS NOT NULL AND job.finished_at < $1 \
                 AND job.state NOT IN ('queued', 'running') \
                 AND EXISTS (SELECT 1 FROM resync_jobs newer \
                     WHERE newer.channel_id IS NOT DISTINCT FROM job.channel_id \
                     AND newer.kind = job.kind AND newer.mode = job.mode \
                     AND newer.trigger_kind = job.trigger_kind \
                     AND newer.created_at > job.created_at) \
                 ORDER BY job.finished_at LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .context("pruning finished resync jobs")?;
        Ok(deleted.rows_affected())
    }
}
