//! The write transaction every balance change goes through: journal row, balance row and outbox
//! rows are written together or not at all.

use std::collections::BTreeSet;

use serde::Serialize;
use sqlx::{Any, AnyConnection, Transaction};

use crate::ledger::db::row_set::{byte_order, rows_json, rows_table, ColumnType, Columns};
use crate::ledger::error::DatabaseContext;
use crate::ledger::types::{now_millis, Balance, MovementReason};
use crate::ledger::{Backend, Ledger, LedgerError, OUTBOX_NOTIFY_CHANNEL};

/// One journal row to write, with the balance change it stands for.
#[derive(Serialize)]
pub(crate) struct MovementDraft<'a> {
    pub sku: &'a str,
    pub location: &'a str,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub reason: MovementReason,
    pub reference: Option<&'a str>,
    pub idempotency_key: &'a str,
    pub actor: Option<&'a str>,
    pub note: Option<&'a str>,
}

/// One movement as a row of a row set (see [`row_set`](crate::ledger::db::row_set)).
#[derive(Serialize)]
struct MovementRow<'a> {
    /// The movement's place in the set: journal rows are written in this order.
    n: usize,
    #[serde(flatten)]
    movement: &'a MovementDraft<'a>,
    created_at: i64,
}

const MOVEMENT_COLUMNS: Columns = &[
    ("n", ColumnType::BigInt),
    ("sku", ColumnType::Text),
    ("location", ColumnType::Text),
    ("on_hand_delta", ColumnType::BigInt),
    ("reserved_delta", ColumnType::BigInt),
    ("reason", ColumnType::Text),
    ("reference", ColumnType::Text),
    ("idempotency_key", ColumnType::Text),
    ("actor", ColumnType::Text),
    ("note", ColumnType::Text),
    ("created_at", ColumnType::BigInt),
];

/// The journal insert of a row set of movements (`m`); nothing for a key that exists.
fn insert_movements(backend: Backend) -> String {
    format!(
        "INSERT INTO movements (sku, location, on_hand_delta, reserved_delta, reason, \
         reference, idempotency_key, actor, note, created_at) \
         SELECT m.sku, m.location, m.on_hand_delta, m.reserved_delta, m.reason, m.reference, \
         m.idempotency_key, m.actor, m.note, m.created_at FROM {} WHERE true ORDER BY m.n \
         ON CONFLICT (idempotency_key) DO NOTHING",
        rows_table(backend, "m", MOVEMENT_COLUMNS)
    )
}

/// Adds the summed changes of each place to its balance row, places in (SKU, location) byte
/// order (the order every writer locks balance rows in). Added in the database, never
/// read-modify-write, so concurrent writers lose nothing. `{source}` has the columns sku,
/// location, on_hand_delta, reserved_delta and created_at.
fn add_to_balances(backend: Backend, source: &str) -> String {
    let order = byte_order(backend);
    format!(
        "INSERT INTO balances (sku, location, on_hand, reserved, updated_at) \
         SELECT sku, location, CAST(SUM(on_hand_delta) AS BIGINT), \
         CAST(SUM(reserved_delta) AS BIGINT), MAX(created_at) FROM {source} WHERE true \
         GROUP BY sku, location ORDER BY sku {order}, location {order} \
         ON CONFLICT (sku, location) DO UPDATE SET \
         on_hand = balances.on_hand + excluded.on_hand, \
         reserved = balances.reserved + excluded.reserved, \
         updated_at = excluded.updated_at \
         RETURNING sku, location, on_hand, reserved"
    )
}

/// One outbox row of a row set.
#[derive(Serialize)]
struct OutboxRow<'a> {
    sku: &'a str,
    created_at: i64,
}

const OUTBOX_COLUMNS: Columns = &[
    ("sku", ColumnType::Text),
    ("created_at", ColumnType::BigInt),
];

/// Write statements find their rows by key, most of them by joining a row set of a few rows
/// (see [`row_set`](crate::ledger::db::row_set)) to large tables. PostgreSQL's planner cannot see a row
/// set's size (it assumes 100 rows), and its statistics may be missing or stale (after a bulk
/// import, say): it would hash, sort or scan whole tables (every order, every listing) for a
/// handful of rows. Inside a write transaction it looks each row up by its index instead.
const POSTGRES_BEGIN: &str = "BEGIN; SET LOCAL enable_hashjoin = off; \
     SET LOCAL enable_mergejoin = off; SET LOCAL enable_seqscan = off";

/// A read-only transaction whose reads find rows by key as a write transaction's do (see
/// [`POSTGRES_BEGIN`]); on SQLite a plain read transaction (one snapshot for all its reads).
pub(crate) async fn begin_key_lookups(
    ledger: &Ledger,
) -> Result<Transaction<'static, Any>, LedgerError> {
    match ledger.backend {
        Backend::Postgres => ledger.pool.begin_with(POSTGRES_BEGIN).await,
        Backend::Sqlite => ledger.pool.begin().await,
    }
    .context("beginning a lookup transaction")
}

/// A balance written back with how many of the statement's movements were new.
#[derive(sqlx::FromRow)]
struct RecordedBalance {
    #[sqlx(flatten)]
    balance: Balance,
    inserted: i64,
}

pub(crate) struct WriteTx<'l> {
    ledger: &'l Ledger,
    transaction: Transaction<'static, Any>,
    /// SKUs whose availability this transaction changed; each gets one outbox row at commit.
    changed_skus: BTreeSet<String>,
    pub now: i64,
}

impl<'l> WriteTx<'l> {
    /// Begins a write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// two writers queue on the busy timeout instead of failing when a reader upgrades;
    /// PostgreSQL looks rows up by key (see [`POSTGRES_BEGIN`]).
    pub(crate) async fn begin(ledger: &'l Ledger) -> Result<Self, LedgerError> {
        let transaction = match ledger.backend {
            Backend::Sqlite => ledger.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => ledger.pool.begin_with(POSTGRES_BEGIN).await,
        }
        .context("beginning a ledger transaction")?;
        Ok(Self {
            ledger,
            transaction,
            changed_skus: BTreeSet::new(),
            now: now_millis(),
        })
    }

    pub(crate) fn backend(&self) -> Backend {
        self.ledger.backend
    }

    pub(crate) fn connection(&mut self) -> &mut AnyConnection {
        &mut self.transaction
    }

    pub(crate) async fn ensure_item(&mut self, sku: &str) -> Result<(), LedgerError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT sku FROM items WHERE sku = $1")
            .bind(sku)
            .fetch_optional(self.connection())
            .await
            .context("looking up an item")?;
        found
            .map(|_| ())
            .ok_or_else(|| LedgerError::UnknownSku(sku.to_string()))
    }

    /// Creates the item, titled by its SKU, unless it exists.
    pub(crate) async fn create_item_if_missing(&mut self, sku: &str) -> Result<(), LedgerError> {
        let now = self.now;
        sqlx::query(
            "INSERT INTO items (sku, title, created_at) VALUES ($1, $1, $2) \
             ON CONFLICT (sku) DO NOTHING",
        )
        .bind(sku)
        .bind(now)
        .execute(self.connection())
        .await
        .context("creating an item")?;
        Ok(())
    }

    /// Creates the location, named by its code, unless it exists (a listing's own location:
    /// orders can be booked there).
    pub(crate) async fn create_location_if_missing(
        &mut self,
        location: &str,
    ) -> Result<(), LedgerError> {
        let now = self.now;
        sqlx::query(
            "INSERT INTO locations (code, name, created_at) VALUES ($1, $1, $2) \
             ON CONFLICT (code) DO NOTHING",
        )
        .bind(location)
        .bind(now)
        .execute(self.connection())
        .await
        .context("creating a listing's location")?;
        Ok(())
    }

    pub(crate) async fn ensure_location(&mut self, location: &str) -> Result<(), LedgerError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT code FROM locations WHERE code = $1")
            .bind(location)
            .fetch_optional(self.connection())
            .await
            .context("looking up a location")?;
        found
            .map(|_| ())
            .ok_or_else(|| LedgerError::UnknownLocation(location.to_string()))
    }

    pub(crate) async fn ensure_channel(&mut self, channel_id: &str) -> Result<(), LedgerError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT id FROM channels WHERE id = $1")
            .bind(channel_id)
            .fetch_optional(self.connection())
            .await
            .context("looking up a channel")?;
        found
            .map(|_| ())
            .ok_or_else(|| LedgerError::UnknownChannel(channel_id.to_string()))
    }

    /// Locks the balance row (creating it at zero), so that a read-then-write of it is safe.
    pub(crate) async fn lock_balance(
        &mut self,
        sku: &str,
        location: &str,
    ) -> Result<Balance, LedgerError> {
        let now = self.now;
        let (on_hand, reserved): (i64, i64) = sqlx::query_as(
            "INSERT INTO balances (sku, location, on_hand, reserved, updated_at) \
             VALUES ($1, $2, 0, 0, $3) \
             ON CONFLICT (sku, location) DO UPDATE SET updated_at = balances.updated_at \
             RETURNING on_hand, reserved",
        )
        .bind(sku)
        .bind(location)
        .bind(now)
        .fetch_one(self.connection())
        .await
        .context("locking a balance")?;
        Ok(Balance {
            sku: sku.to_string(),
            location: location.to_string(),
            on_hand,
            reserved,
        })
    }

    /// Writes the journal row and applies its change to the balance atomically. Returns `None`
    /// (and changes nothing) when a movement with this idempotency key exists already.
    pub(crate) async fn record(
        &mut self,
        movement: &MovementDraft<'_>,
    ) -> Result<Option<Balance>, LedgerError> {
        Ok(self
            .record_all(std::slice::from_ref(movement))
            .await?
            .and_then(|mut balances| balances.pop()))
    }

    /// Writes the journal rows in order and adds their changes to the balances, in one round
    /// trip on PostgreSQL and two on SQLite. Returns the balance of each place touched, after
    /// all the movements, in (SKU, location) order; `None` (and nothing changed) when every
    /// idempotency key exists already. Some keys existing and others not is an error after
    /// which the transaction must not commit (dropping it rolls back).
    pub(crate) async fn record_all(
        &mut self,
        movements: &[MovementDraft<'_>],
    ) -> Result<Option<Vec<Balance>>, LedgerError> {
        if movements.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let rows: Vec<MovementRow<'_>> = movements
            .iter()
            .enumerate()
            .map(|(n, movement)| MovementRow {
                n,
                movement,
                created_at: self.now,
            })
            .collect();
        let rows = rows_json(&rows)?;
        let (inserted, balances) = match self.ledger.backend {
            Backend::Postgres => self.record_in_one_statement(rows).await?,
            Backend::Sqlite => self.record_in_two_statements(rows, movements.len()).await?,
        };
        if inserted == 0 {
            return Ok(None);
        }
        if inserted != movements.len() {
            return Err(LedgerError::Corrupt(format!(
                "{} of {} movements were journaled before",
                movements.len() - inserted,
                movements.len()
            )));
        }
        for movement in movements {
            if movement.on_hand_delta != movement.reserved_delta {
                self.changed_skus.insert(movement.sku.to_string());
            }
        }
        let mut balances = balances;
        balances.sort_by(|a, b| (&a.sku, &a.location).cmp(&(&b.sku, &b.location)));
        Ok(Some(balances))
    }

    /// PostgreSQL: the journal insert feeds the balance upsert in one statement; a movement
    /// whose key exists changes no balance. Returns how many movements were new.
    async fn record_in_one_statement(
        &mut self,
        rows: String,
    ) -> Result<(usize, Vec<Balance>), LedgerError> {
        let sql = format!(
            "WITH movement AS ({} RETURNING sku, location, on_hand_delta, reserved_delta, \
             created_at), balance AS ({}) \
             SELECT sku, location, on_hand, reserved, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM movement) AS inserted FROM balance",
            insert_movements(Backend::Postgres),
            add_to_balances(Backend::Postgres, "movement")
        );
        let returned: Vec<RecordedBalance> = sqlx::query_as(&sql)
            .bind(rows)
            .fetch_all(self.connection())
            .await
            .context("writing movements and their balances")?;
        // No balance row back means no movement was new.
        let inserted = returned.first().map_or(0, |row| row.inserted);
        let balances = returned.into_iter().map(|row| row.balance).collect();
        Ok((usize::try_from(inserted).unwrap_or_default(), balances))
    }

    /// SQLite (no writes inside WITH): the journal rows, then the balances if all were new.
    async fn record_in_two_statements(
        &mut self,
        rows: String,
        count: usize,
    ) -> Result<(usize, Vec<Balance>), LedgerError> {
        let inserted: Vec<(i64,)> = sqlx::query_as(&format!(
            "{} RETURNING id",
            insert_movements(Backend::Sqlite)
        ))
        .bind(&rows)
        .fetch_all(self.connection())
        .await
        .context("writing movements")?;
        if inserted.len() != count {
            return Ok((inserted.len(), Vec::new()));
        }
        let source = rows_table(Backend::Sqlite, "m", MOVEMENT_COLUMNS);
        let balances: Vec<Balance> = sqlx::query_as(&add_to_balances(Backend::Sqlite, &source))
            .bind(&rows)
            .fetch_all(self.connection())
            .await
            .context("updating balances")?;
        Ok((inserted.len(), balances))
    }

    /// Asks for an outbox row for `sku` although no balance changed (a new listing, say).
    pub(crate) fn mark_changed(&mut self, sku: &str) {
        self.changed_skus.insert(sku.to_string());
    }

    /// Writes the outbox rows, commits, and wakes the outbox relay. Returns the SKUs whose
    /// availability changed.
    pub(crate) async fn commit(mut self) -> Result<Vec<String>, LedgerError> {
        let now = self.now;
        let changed: Vec<String> = std::mem::take(&mut self.changed_skus).into_iter().collect();
        if !changed.is_empty() {
            // One statement for the whole set: a group of bookings writes its outbox at once.
            let rows: Vec<OutboxRow<'_>> = changed
                .iter()
                .map(|sku| OutboxRow {
                    sku,
                    created_at: now,
                })
                .collect();
            let insert = format!(
                "INSERT INTO outbox (sku, created_at) SELECT o.sku, o.created_at FROM {}",
                rows_table(self.ledger.backend, "o", OUTBOX_COLUMNS)
            );
            let postgres = self.ledger.backend == Backend::Postgres;
            // On PostgreSQL the relays of every replica are woken by a notification, delivered
            // at commit; sent by the same statement, it costs no round trip of its own.
            let sql = if postgres {
                format!("WITH written AS ({insert}) SELECT pg_notify($2, '')")
            } else {
                insert
            };
            let mut query = sqlx::query(&sql).bind(rows_json(&rows)?);
            if postgres {
                query = query.bind(OUTBOX_NOTIFY_CHANNEL);
            }
            query
                .execute(self.connection())
                .await
                .context("writing outbox rows")?;
        }
        self.transaction
            .commit()
            .await
            .context("committing a ledger transaction")?;
        if !changed.is_empty() {
            self.ledger.outbox_signal.notify_one();
        }
        Ok(changed)
    }

    pub(crate) async fn rollback(self) -> Result<(), LedgerError> {
        self.transaction
            .rollback()
            .await
            .context("rolling back a ledger transaction")
    }
}
