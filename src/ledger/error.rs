//! What can go wrong in the ledger, as one enum for its callers.

/// An error of a ledger operation. Database urls in messages never carry a password.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("unsupported database url scheme {scheme:?}: expected sqlite://, postgres:// or postgresql://")]
    UnsupportedUrl { scheme: String },
    #[error("cannot reach database {database}")]
    Unreachable {
        database: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("the SQLite database {database} is in use by {holder} (it holds {lock_file}): one daemon per file; stop that one or give this one a database of its own")]
    InUse {
        database: String,
        lock_file: String,
        holder: String,
    },
    #[error("cannot lock {lock_file}")]
    Lock {
        lock_file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("migrating database {database} failed")]
    Migration {
        database: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("unknown sku {0:?}")]
    UnknownSku(String),
    #[error("unknown location {0:?}")]
    UnknownLocation(String),
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error("unknown listing {listing_id:?} on channel {channel_id:?}")]
    UnknownListing {
        channel_id: String,
        listing_id: String,
    },
    #[error("unknown order {external_order_id:?} on channel {channel_id:?}")]
    UnknownOrder {
        channel_id: String,
        external_order_id: String,
    },
    #[error("unknown line {line_id:?} of order {external_order_id:?} on channel {channel_id:?}")]
    UnknownOrderLine {
        channel_id: String,
        external_order_id: String,
        line_id: String,
    },
    #[error("line {line_id:?} of order {external_order_id:?} has no known sku")]
    UnresolvedLine {
        external_order_id: String,
        line_id: String,
    },
    /// An order event the ledger can never book as it is; `external_order_id` is shortened
    /// and escaped for display.
    #[error("order {external_order_id} cannot be booked: {reason}")]
    InvalidOrder {
        external_order_id: String,
        reason: String,
    },
    #[error("invalid quantity {quantity}: {reason}")]
    InvalidQuantity { quantity: i64, reason: &'static str },
    #[error("on hand of sku {sku:?} at {location:?} would become negative: {on_hand} on hand, change {delta}")]
    NegativeOnHand {
        sku: String,
        location: String,
        on_hand: i64,
        delta: i64,
    },
    /// An operator's change was sent again under its key with a different request.
    #[error("idempotency key {key:?} was already used for a different request")]
    IdempotencyConflict { key: String },
    #[error("corrupt ledger data: {0}")]
    Corrupt(String),
    /// A stored row that does not read back as what was written (boxed: the error is passed
    /// around often and should stay small).
    #[error(transparent)]
    CorruptRow(Box<CorruptRow>),
    #[error("{context}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl LedgerError {
    /// Whether the ledger or its database refused this booking's own data, so that the same
    /// event fails the same way however often it is booked again (it is quarantined), as
    /// opposed to a failure of the database itself (unreachable, busy, a deadlock, a lost
    /// connection), after which the same booking may succeed. In doubt: not a refusal.
    pub fn is_refusal(&self) -> bool {
        match self {
            LedgerError::InvalidOrder { .. }
            | LedgerError::InvalidQuantity { .. }
            | LedgerError::UnresolvedLine { .. } => true,
            LedgerError::Database { source, .. } => database_refused_data(source),
            _ => false,
        }
    }
}

/// A database error about the data of the statement rather than the database's state.
fn database_refused_data(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(database) = error else {
        return false;
    };
    if let Some(postgres) = database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        // SQLSTATE classes: 21 cardinality violation, 22 data exception (a value out of
        // range, text PostgreSQL cannot store), 23 integrity constraint violation, 54 program
        // limit exceeded (an index row too large).
        return matches!(postgres.code().get(..2), Some("21" | "22" | "23" | "54"));
    }
    if database
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // Primary result codes (the low byte of an extended one): 18 TOOBIG, 19 CONSTRAINT,
        // 20 MISMATCH.
        let code = database
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .unwrap_or(0);
        return matches!(code & 0xff, 18..=20);
    }
    false
}

/// How many characters of a bad value a [`LedgerError::CorruptRow`] shows.
const CORRUPT_VALUE_CHARS: usize = 200;

/// The error for a row of `table` whose `column` holds `value`, which does not parse.
pub(crate) fn corrupt_row(
    table: &'static str,
    id: &str,
    column: &'static str,
    value: &str,
    problem: &str,
) -> LedgerError {
    let mut shown: String = value.chars().take(CORRUPT_VALUE_CHARS).collect();
    if value.chars().nth(CORRUPT_VALUE_CHARS).is_some() {
        shown.push('…');
    }
    LedgerError::CorruptRow(Box::new(CorruptRow {
        table,
        id: id.to_string(),
        column,
        value: shown,
        problem: problem.to_string(),
    }))
}

/// A stored row that does not read back: its table, its id, the column and the value
/// (shortened), and why it does not parse.
#[derive(Debug, thiserror::Error)]
#[error("corrupt row {id} of {table}: {column} holds {value:?}: {problem}")]
pub struct CorruptRow {
    pub table: &'static str,
    pub id: String,
    pub column: &'static str,
    pub value: String,
    pub problem: String,
}

/// Attaches what the ledger was doing to a database error.
pub(crate) trait DatabaseContext<T> {
    fn context(self, context: &'static str) -> Result<T, LedgerError>;
}

impl<T> DatabaseContext<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, LedgerError> {
        self.map_err(|source| LedgerError::Database { context, source })
    }
}
