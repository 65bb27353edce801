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
    #[error("invalid quantity {quantity}: {reason}")]
    InvalidQuantity { quantity: i64, reason: &'static str },
    #[error("on hand of sku {sku:?} at {location:?} would become negative: {on_hand} on hand, change {delta}")]
    NegativeOnHand {
        sku: String,
        location: String,
        on_hand: i64,
        delta: i64,
    },
    #[error("corrupt ledger data: {0}")]
    Corrupt(String),
    #[error("{context}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
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
