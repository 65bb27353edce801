//! The store of operators' jobs (`resync_jobs`: resyncs, listing discoveries and counts from
//! a channel, see [`JobKind`]), reached as [`Ledger::jobs`]. Only storage lives here; when a
//! job starts, runs and ends is decided by `ops/jobs.rs`.
//!
//! Rows are read as text and converted with `TryFrom`: a row whose kind, state, trigger, mode,
//! SKU list, parameters or result does not parse is a [`LedgerError::CorruptRow`], never a
//! default (a job whose SKU list read as "every SKU" would push the whole catalog).

use serde::{Deserialize, Serialize};

use super::job_kinds::{JobKind, JobMode, JobParams};
use crate::ledger::db::write::WriteTx;
use crate::ledger::error::{corrupt_row, DatabaseContext};
use crate::ledger::types::now_millis;
use crate::ledger::{Backend, Ledger, LedgerError};

/// The advisory lock key that serializes resync job starts across replicas (the bytes of
/// "omnijobs").
pub const JOB_START_LOCK_KEY: i64 = 0x6f6d_6e69_6a6f_6273;

const TABLE: &str = "resync_jobs";

/// What a resync does with the listings in its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResyncMode {
    /// Send the computed quantity of every listing, whatever was pushed before.
    Push,
    /// Read the channel's stock, push only the listings that differ, record each drift.
    Reconcile,
}

impl ResyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Reconcile => "reconcile",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "push" => Some(Self::Push),
            "reconcile" => Some(Self::Reconcile),
            _ => None,
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for the sync leader to take it.
    Queued,
    /// Running on the sync leader.
    Running,
    Succeeded,
    /// Ended with errors (see `errors` and `last_error`).
    Failed,
    /// Its process stopped (or lost leadership) before it ended; restart it with
    /// `POST /admin/jobs/{id}/restart`.
    Interrupted,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// Queued or running: it still holds its scope.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Who started a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    /// An operator, through the admin API or the CLI.
    Api,
    /// The channel's `reconcile_interval`.
    Schedule,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Schedule => "schedule",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "api" => Some(Self::Api),
            "schedule" => Some(Self::Schedule),
            _ => None,
        }
    }
}

/// A job as stored. Times are unix milliseconds UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub kind: JobKind,
    /// `None`: every channel (a resync only).
    pub channel_id: Option<String>,
    /// `None`: every SKU.
    pub skus: Option<Vec<String>>,
    /// One of the kind's modes ([`JobKind::allows`]).
    pub mode: JobMode,
    /// A catalog job's parameters.
    pub params: Option<JobParams>,
    pub trigger: TriggerKind,
    pub state: JobState,
    pub total: i64,
    pub done: i64,
    pub pushed: i64,
    pub drifts: i64,
    pub errors: i64,
    /// Catalog pages read (a catalog job).
    pub pages: i64,
    pub last_error: Option<String>,
    /// What a catalog job found and did, once it succeeded (its report as JSON).
    pub result: Option<serde_json::Value>,
    /// The interrupted job this one restarted.
    pub restarted_from: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub heartbeat_at: i64,
}

impl JobRecord {
    /// A resync's mode; `None` for another kind of job.
    pub fn resync_mode(&self) -> Option<ResyncMode> {
        match self.kind {
            JobKind::Resync => self.mode.resync(),
            JobKind::Discover | JobKind::ChannelCount => None,
        }
    }
}

/// A row of `resync_jobs` as the database holds it.
#[derive(Debug, sqlx::FromRow)]
struct JobRow {
    id: String,
    kind: String,
    channel_id: Option<String>,
    /// A JSON array of SKUs.
    skus: Option<String>,
    mode: String,
    /// A JSON object ([`JobParams`]).
    params: Option<String>,
    trigger_kind: String,
    state: String,
    total: i64,
    done: i64,
    pushed: i64,
    drifts: i64,
    errors: i64,
    pages: i64,
    last_error: Option<String>,
    /// A JSON document.
    result: Option<String>,
    restarted_from: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    heartbeat_at: i64,
}

impl TryFrom<JobRow> for JobRecord {
    type Error = LedgerError;

    fn try_from(row: JobRow) -> Result<Self, LedgerError> {
        let corrupt = |column, value: &str, problem: &str| {
            corrupt_row(TABLE, &row.id, column, value, problem)
        };
        let skus = match &row.skus {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<Vec<String>>(text)
                    .map_err(|error| corrupt("skus", text, &error.to_string()))?,
            ),
        };
        let kind = JobKind::parse(&row.kind)
            .ok_or_else(|| corrupt("kind", &row.kind, "not a job kind"))?;
        let mode = JobMode::parse(&row.mode)
            .filter(|mode| kind.allows(*mode))
            .ok_or_else(|| corrupt("mode", &row.mode, "not a mode of the job's kind"))?;
        let params = match &row.params {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<JobParams>(text)
                    .map_err(|error| corrupt("params", text, &error.to_string()))?,
            ),
        };
        let result = match &row.result {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|error| corrupt("result", text, &error.to_string()))?,
            ),
        };
        let trigger = TriggerKind::parse(&row.trigger_kind)
            .ok_or_else(|| corrupt("trigger_kind", &row.trigger_kind, "not a trigger kind"))?;
        let state = JobState::parse(&row.state)
            .ok_or_else(|| corrupt("state", &row.state, "not a job state"))?;
        Ok(Self {
            id: row.id,
            kind,
            channel_id: row.channel_id,
            skus,
            mode,
            params,
            trigger,
            state,
            total: row.total,
            done: row.done,
            pushed: row.pushed,
            drifts: row.drifts,
            errors: row.errors,
            pages: row.pages,
            last_error: row.last_error,
            result,
            restarted_from: row.restarted_from,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            heartbeat_at: row.heartbeat_at,
        })
    }
}

/// `value` as the JSON text a column stores; `what` names it in the error.
fn json_text<T: Serialize>(value: Option<&T>, what: &str) -> Result<Option<String>, LedgerError> {
    value
        .map(serde_json::to_string)
        .transpose()
        .map_err(|error| LedgerError::Corrupt(format!("{what} cannot be written: {error}")))
}

/// Converts rows, failing on the first that does not parse.
fn records(rows: Vec<JobRow>) -> Result<Vec<JobRecord>, LedgerError> {
    rows.into_iter().map(JobRecord::try_from).collect()
}

/// How far a job got, written as it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    pub total: i64,
    pub done: i64,
    pub pushed: i64,
    pub drifts: i64,
    pub errors: i64,
    /// Catalog pages read (a catalog job).
    pub pages: i64,
}

const JOB_COLUMNS: &str = "id, kind, channel_id, skus, mode, params, trigger_kind, state, total, \
     done, pushed, drifts, errors, pages, last_error, result, restarted_from, created_at, \
     started_at, finished_at, heartbeat_at";

/// The resync jobs of a ledger's database.
#[derive(Debug, Clone, Copy)]
pub struct JobStore<'a> {
    ledger: &'a Ledger,
}

impl Ledger {
    /// The resync jobs.
    pub fn jobs(&self) -> JobStore<'_> {
        JobStore { ledger: self }
    }
}

impl JobStore<'_> {
    /// Stores `job` (state `queued`) unless an active job conflicts with it; returns the
    /// conflicting job's id instead. Atomic across processes: on PostgreSQL the check and the
    /// insert run under a transaction-level advisory lock, on SQLite under the write lock that
    /// `BEGIN IMMEDIATE` takes, so two replicas can never both insert overlapping jobs.
    pub async fn insert_unless(
        &self,
        job: &JobRecord,
        conflicts: impl Fn(&JobRecord) -> bool,
    ) -> Result<Option<String>, LedgerError> {
        let skus = json_text(job.skus.as_ref(), "a SKU list")?;
        let params = json_text(job.params.as_ref(), "a job's parameters")?;
        let mut transaction = WriteTx::begin(self.ledger).await?;
        if self.ledger.backend == Backend::Postgres {
            // The lock function returns `void`, which the `Any` driver cannot decode: count it.
            sqlx::query(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT pg_advisory_xact_lock($1)) AS locked",
            )
            .bind(JOB_START_LOCK_KEY)
            .fetch_one(transaction.connection())
            .await
            .context("locking resync job starts")?;
        }
        let active: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM resync_jobs WHERE state IN ('queued', 'running') \
             ORDER BY created_at"
        ))
        .fetch_all(transaction.connection())
        .await
        .context("listing active resync jobs")?;
        let active = records(active)?;
        if let Some(conflict) = active.into_iter().find(|active| conflicts(active)) {
            transaction.rollback().await?;
            return Ok(Some(conflict.id));
        }
        sqlx::query(
            "INSERT INTO resync_jobs (id, kind, channel_id, skus, mode, params, trigger_kind, \
             state, restarted_from, created_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&job.id)
        .bind(job.kind.as_str())
        .bind(&job.channel_id)
        .bind(skus)
        .bind(job.mode.as_str())
        .bind(params)
        .bind(job.trigger.as_str())
        .bind(job.state.as_str())
        .bind(&job.restarted_from)
        .bind(job.created_at)
        .bind(job.heartbeat_at)
        .execute(transaction.connection())
        .await
        .context("storing a resync job")?;
        transaction.commit().await?;
        Ok(None)
    }

    pub async fn get(&self, id: &str) -> Result<Option<JobRecord>, LedgerError> {
        let row: Option<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM resync_jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.ledger.pool)
        .await
        .context("reading a resync job")?;
        row.map(JobRecord::try_from).transpose()
    }

    /// The most recent jobs, newest first.
    pub async fn recent(&self, limit: i64) -> Result<Vec<JobRecord>, LedgerError> {
        let rows = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM resync_jobs ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.ledger.pool)
        .await
        .context("listing resync jobs")?;
        records(rows)
    }

    /// The ids of the jobs waiting for the sync leader, oldest first. Ids only: each job is
    /// read once claimed, so one row that does not parse fails its own job, not the others.
    pub async fn queued_ids(&self) -> Result<Vec<String>, LedgerError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM resync_jobs WHERE state = 'queued' ORDER BY created_at, id",
        )
        .fetch_all(&self.ledger.pool)
        .await
        .context("listing queued resync jobs")?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// When the last resync of `mode` for `channel_id` started by `trigger` was created.
    pub async fn last_created(
        &self,
        channel_id: &str,
        mode: ResyncMode,
        trigger: TriggerKind,
    ) -> Result<Option<i64>, LedgerError> {
        let row: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT MAX(created_at) FROM resync_jobs \
             WHERE channel_id = $1 AND kind = 'resync' AND mode = $2 AND trigger_kind = $3",
        )
        .bind(channel_id)
        .bind(mode.as_str())
        .bind(trigger.as_str())
        .fetch_optional(&self.ledger.pool)
        .await
        .context("reading the last scheduled job")?;
        Ok(row.and_then(|(created_at,)| created_at))
    }

    /// The newest job of `kind` and `mode` on `channel_id` that succeeded.
    pub async fn last_succeeded(
        &self,
        channel_id: &str,
        kind: JobKind,
        mode: JobMode,
    ) -> Result<Option<String>, LedgerError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM resync_jobs WHERE channel_id = $1 AND kind = $2 AND mode = $3 \
             AND state = 'succeeded' ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(channel_id)
        .bind(kind.as_str())
        .bind(mode.as_str())
        .fetch_optional(&self.ledger.pool)
        .await
        .context("reading the last succeeded job")?;
        Ok(row.map(|(id,)| id))
    }

    /// Moves a queued job to `running`; `false` when it was not queued any more (another
    /// process claimed it first, or it ended).
    pub async fn claim(&self, id: &str) -> Result<bool, LedgerError> {
        let now = now_millis();
        let claimed = sqlx::query(
            "UPDATE resync_jobs SET state = 'running', started_at = $1, heartbeat_at = $1 \
             WHERE id = $2 AND state = 'queued'",
        )
        .bind(now)
        .bind(id)
        .execute(&self.ledger.pool)
        .await
        .context("claiming a resync job")?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Writes progress and the heartbeat that says the job's process is alive.
    pub async fn record_progress(
        &self,
        id: &str,
        progress: JobProgress,
        last_error: Option<&str>,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE resync_jobs SET total = $1, done = $2, pushed = $3, drifts = $4, errors = $5, \
             pages = $9, last_error = COALESCE($6, last_error), heartbeat_at = $7 WHERE id = $8",
        )
        .bind(progress.total)
        .bind(progress.done)
        .bind(progress.pushed)
        .bind(progress.drifts)
        .bind(progress.errors)
        .bind(last_error)
        .bind(now_millis())
        .bind(id)
        .bind(progress.pages)
        .execute(&self.ledger.pool)
        .await
        .context("recording resync progress")?;
        Ok(())
    }

    /// Stores what a catalog job found and did (its report), before it is finished.
    pub async fn record_result(
        &self,
        id: &str,
        result: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        sqlx::query("UPDATE resync_jobs SET result = $1 WHERE id = $2")
            .bind(result.to_string())
            .bind(id)
            .execute(&self.ledger.pool)
            .await
            .context("recording a job's result")?;
        Ok(())
    }

    /// Ends an active job in `state` (`succeeded`, `failed` or `interrupted`).
    pub async fn finish(
        &self,
        id: &str,
        state: JobState,
        last_error: Option<&str>,
    ) -> Result<(), LedgerError> {
        let now = now_millis();
        sqlx::query(
            "UPDATE resync_jobs SET state = $1, finished_at = $2, heartbeat_at = $2, \
             last_error = COALESCE($3, last_error) \
             WHERE id = $4 AND state IN ('queued', 'running')",
        )
        .bind(state.as_str())
        .bind(now)
        .bind(last_error)
        .bind(id)
        .execute(&self.ledger.pool)
        .await
        .context("finishing a resync job")?;
        Ok(())
    }

    /// Marks `interrupted` every running job whose heartbeat is older than `stale_before`
    /// (unix ms): the process that ran it is gone. Queued jobs wait for a leader and are left
    /// alone. Returns their ids.
    pub async fn interrupt_stale(&self, stale_before: i64) -> Result<Vec<String>, LedgerError> {
        let stale: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM resync_jobs WHERE state = 'running' AND heartbeat_at < $1",
        )
        .bind(stale_before)
        .fetch_all(&self.ledger.pool)
        .await
        .context("finding stale resync jobs")?;
        let ids: Vec<String> = stale.into_iter().map(|(id,)| id).collect();
        for id in &ids {
            self.finish(
                id,
                JobState::Interrupted,
                Some("the process running the job stopped"),
            )
            .await?;
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(skus: Option<&str>, state: &str) -> JobRow {
        JobRow {
            id: "job-1".into(),
            kind: "resync".into(),
            channel_id: Some("shop".into()),
            skus: skus.map(str::to_string),
            mode: "push".into(),
            params: None,
            trigger_kind: "api".into(),
            state: state.into(),
            total: 0,
            done: 0,
            pushed: 0,
            drifts: 0,
            errors: 0,
            pages: 0,
            last_error: None,
            result: None,
            restarted_from: None,
            created_at: 1,
            started_at: None,
            finished_at: None,
            heartbeat_at: 1,
        }
    }

    #[test]
    fn a_row_reads_back_typed() {
        let record = JobRecord::try_from(row(Some(r#"["A","B"]"#), "queued"));
        let record = record.map_err(|error| error.to_string());
        assert_eq!(
            record.map(|job| (job.skus, job.state, job.trigger, job.mode)),
            Ok((
                Some(vec!["A".to_string(), "B".to_string()]),
                JobState::Queued,
                TriggerKind::Api,
                JobMode::Push
            ))
        );
    }

    #[test]
    fn a_row_that_does_not_parse_names_its_table_row_and_value() {
        let unreadable = JobRecord::try_from(row(Some("A,B"), "queued"));
        let message = unreadable.map(|_| ()).map_err(|error| error.to_string());
        let Err(message) = message else {
            panic!("a SKU list that is not JSON must not read as every SKU");
        };
        assert!(
            message.contains("resync_jobs") && message.contains("job-1"),
            "{message}"
        );
        assert!(
            message.contains("skus") && message.contains("A,B"),
            "{message}"
        );
        let unknown_state = JobRecord::try_from(row(None, "paused"));
        assert!(matches!(
            unknown_state,
            Err(LedgerError::CorruptRow(row)) if row.column == "state"
        ));
    }

    #[test]
    fn a_catalog_job_reads_back_with_its_parameters_and_a_mode_of_another_kind_does_not() {
        let mut discovery = row(None, "succeeded");
        discovery.kind = "discover".into();
        discovery.mode = "apply".into();
        discovery.params = Some(r#"{"dry_run_job":"job-0"}"#.into());
        discovery.result = Some(r#"{"listings":3}"#.into());
        let record = JobRecord::try_from(discovery).map_err(|error| error.to_string());
        let record = record.map(|job| {
            (
                job.kind,
                job.mode,
                job.params
                    .as_ref()
                    .and_then(|params| params.dry_run_job.clone()),
                job.result.as_ref().map(|result| result["listings"].clone()),
                job.resync_mode(),
            )
        });
        assert_eq!(
            record,
            Ok((
                JobKind::Discover,
                JobMode::Apply,
                Some("job-0".to_string()),
                Some(serde_json::json!(3)),
                None
            ))
        );
        let mut mixed = row(None, "queued");
        mixed.kind = "discover".into();
        assert!(matches!(
            JobRecord::try_from(mixed),
            Err(LedgerError::CorruptRow(row)) if row.column == "mode"
        ));
    }
}
