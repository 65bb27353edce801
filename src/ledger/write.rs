//! The write transaction every balance change goes through: journal row, balance row and outbox
//! rows are written together or not at all.

use std::collections::BTreeSet;

use sqlx::{Any, AnyConnection, Transaction};

use super::error::DatabaseContext;
use super::types::{now_millis, Balance};
use super::{Backend, Ledger, LedgerError, OUTBOX_NOTIFY_CHANNEL};

/// One journal row to write, with the balance change it stands for.
pub(crate) struct MovementDraft<'a> {
    pub sku: &'a str,
    pub location: &'a str,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub reason: &'a str,
    pub reference: Option<&'a str>,
    pub idempotency_key: &'a str,
    pub actor: Option<&'a str>,
    pub note: Option<&'a str>,
}

/// The journal insert of one movement ($1–$10, see [`bind_movement`]); nothing when its
/// idempotency key exists.
macro_rules! insert_movement {
    () => {
        "INSERT INTO movements (sku, location, on_hand_delta, reserved_delta, reason, \
         reference, idempotency_key, actor, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (idempotency_key) DO NOTHING"
    };
}

/// Adds an inserted balance row's quantities to the existing one. Added in the database, never
/// read-modify-write, so concurrent writers lose nothing.
macro_rules! add_to_balance {
    () => {
        "ON CONFLICT (sku, location) DO UPDATE SET \
         on_hand = balances.on_hand + excluded.on_hand, \
         reserved = balances.reserved + excluded.reserved, \
         updated_at = excluded.updated_at \
         RETURNING on_hand, reserved"
    };
}

type AnyQueryAs<'q, O> = sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>>;

/// Binds the ten values of [`insert_movement!`].
fn bind_movement<'q, O>(
    query: AnyQueryAs<'q, O>,
    movement: &MovementDraft<'q>,
    now: i64,
) -> AnyQueryAs<'q, O> {
    query
        .bind(movement.sku)
        .bind(movement.location)
        .bind(movement.on_hand_delta)
        .bind(movement.reserved_delta)
        .bind(movement.reason)
        .bind(movement.reference)
        .bind(movement.idempotency_key)
        .bind(movement.actor)
        .bind(movement.note)
        .bind(now)
}

/// The most outbox rows one INSERT writes (well under both databases' bind limits).
const OUTBOX_ROWS_PER_STATEMENT: usize = 200;

pub(crate) struct WriteTx<'l> {
    ledger: &'l Ledger,
    transaction: Transaction<'static, Any>,
    /// SKUs whose availability this transaction changed; each gets one outbox row at commit.
    changed_skus: BTreeSet<String>,
    pub now: i64,
}

impl<'l> WriteTx<'l> {
    /// Begins a write transaction. SQLite takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// two writers queue on the busy timeout instead of failing when a reader upgrades.
    pub async fn begin(ledger: &'l Ledger) -> Result<Self, LedgerError> {
        let transaction = match ledger.backend {
            Backend::Sqlite => ledger.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => ledger.pool.begin().await,
        }
        .context("beginning a ledger transaction")?;
        Ok(Self {
            ledger,
            transaction,
            changed_skus: BTreeSet::new(),
            now: now_millis(),
        })
    }

    pub fn connection(&mut self) -> &mut AnyConnection {
        &mut self.transaction
    }

    pub async fn ensure_item(&mut self, sku: &str) -> Result<(), LedgerError> {
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
    pub async fn create_item_if_missing(&mut self, sku: &str) -> Result<(), LedgerError> {
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

    pub async fn ensure_location(&mut self, location: &str) -> Result<(), LedgerError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT code FROM locations WHERE code = $1")
            .bind(location)
            .fetch_optional(self.connection())
            .await
            .context("looking up a location")?;
        found
            .map(|_| ())
            .ok_or_else(|| LedgerError::UnknownLocation(location.to_string()))
    }

    pub async fn ensure_channel(&mut self, channel_id: &str) -> Result<(), LedgerError> {
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
    pub async fn lock_balance(
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
    pub async fn record(
        &mut self,
        movement: &MovementDraft<'_>,
    ) -> Result<Option<Balance>, LedgerError> {
        let balance = match self.ledger.backend {
            Backend::Postgres => self.record_in_one_statement(movement).await?,
            Backend::Sqlite => self.record_in_two_statements(movement).await?,
        };
        let Some((on_hand, reserved)) = balance else {
            return Ok(None);
        };
        if movement.on_hand_delta != movement.reserved_delta {
            self.changed_skus.insert(movement.sku.to_string());
        }
        Ok(Some(Balance {
            sku: movement.sku.to_string(),
            location: movement.location.to_string(),
            on_hand,
            reserved,
        }))
    }

    /// PostgreSQL: the journal insert feeds the balance upsert in one statement (one round
    /// trip instead of two on the hottest path); no journal row, no balance change.
    async fn record_in_one_statement(
        &mut self,
        movement: &MovementDraft<'_>,
    ) -> Result<Option<(i64, i64)>, LedgerError> {
        let query = sqlx::query_as(concat!(
            "WITH movement AS (",
            insert_movement!(),
            " RETURNING sku, location, on_hand_delta, reserved_delta, created_at) \
             INSERT INTO balances (sku, location, on_hand, reserved, updated_at) \
             SELECT sku, location, on_hand_delta, reserved_delta, created_at FROM movement ",
            add_to_balance!()
        ));
        bind_movement(query, movement, self.now)
            .fetch_optional(self.connection())
            .await
            .context("writing a movement and its balance")
    }

    /// SQLite (no writes inside WITH): the journal row, then the balance if it was new.
    async fn record_in_two_statements(
        &mut self,
        movement: &MovementDraft<'_>,
    ) -> Result<Option<(i64, i64)>, LedgerError> {
        let now = self.now;
        let query = sqlx::query_as(concat!(insert_movement!(), " RETURNING id"));
        let inserted: Option<(i64,)> = bind_movement(query, movement, now)
            .fetch_optional(self.connection())
            .await
            .context("writing a movement")?;
        if inserted.is_none() {
            return Ok(None);
        }
        let balance: (i64, i64) = sqlx::query_as(concat!(
            "INSERT INTO balances (sku, location, on_hand, reserved, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ",
            add_to_balance!()
        ))
        .bind(movement.sku)
        .bind(movement.location)
        .bind(movement.on_hand_delta)
        .bind(movement.reserved_delta)
        .bind(now)
        .fetch_one(self.connection())
        .await
        .context("updating a balance")?;
        Ok(Some(balance))
    }

    /// Asks for an outbox row for `sku` although no balance changed (a new listing, say).
    pub fn mark_changed(&mut self, sku: &str) {
        self.changed_skus.insert(sku.to_string());
    }

    /// Writes the outbox rows, commits, and wakes the outbox relay. Returns the SKUs whose
    /// availability changed.
    pub async fn commit(mut self) -> Result<Vec<String>, LedgerError> {
        let now = self.now;
        let changed: Vec<String> = std::mem::take(&mut self.changed_skus).into_iter().collect();
        // One statement per chunk of rows: a group of bookings writes its outbox at once.
        for chunk in changed.chunks(OUTBOX_ROWS_PER_STATEMENT) {
            // Placeholders numbered in the order they appear: SQLite numbers `$N` by first
            // appearance, not by N.
            let rows: Vec<String> = (0..chunk.len())
                .map(|index| format!("(${}, ${})", 2 * index + 1, 2 * index + 2))
                .collect();
            let sql = format!(
                "INSERT INTO outbox (sku, created_at) VALUES {}",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for sku in chunk {
                query = query.bind(sku).bind(now);
            }
            query
                .execute(self.connection())
                .await
                .context("writing outbox rows")?;
        }
        if !changed.is_empty() && self.ledger.backend == Backend::Postgres {
            // Delivered at commit, to the relays of every replica.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(OUTBOX_NOTIFY_CHANNEL)
                .execute(self.connection())
                .await
                .context("notifying outbox listeners")?;
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

    pub async fn rollback(self) -> Result<(), LedgerError> {
        self.transaction
            .rollback()
            .await
            .context("rolling back a ledger transaction")
    }
}
