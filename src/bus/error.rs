//! The bus's error type.

/// What can go wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// `bus.url` names a scheme the bus does not know.
    #[error("unsupported bus url scheme {scheme:?} (expected memory://, amqp:// or amqps://)")]
    UnsupportedUrl {
        /// The scheme found (the rest of the url may hold a password, so it is not kept).
        scheme: String,
    },
    /// The database bus's database failed.
    #[error("bus database error while {context}: {source}")]
    Database {
        /// What the bus was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The broker or the connection to it failed.
    #[error("amqp error while {context}: {source}")]
    Amqp {
        /// What the bus was doing.
        context: &'static str,
        /// The client's error.
        #[source]
        source: lapin::Error,
    },
    /// `bus.url` is not a valid AMQP url (the url itself is not repeated: it may hold a
    /// password).
    #[error("invalid amqp url: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// Opening a connection to the broker took too long.
    #[error("connecting to the broker took more than {seconds} s")]
    ConnectTimeout {
        /// The time waited.
        seconds: u64,
    },
    /// The broker refused (nacked) some published messages: they are not durable.
    #[error("broker did not confirm {count} published message(s)")]
    NotConfirmed {
        /// How many messages were nacked.
        count: usize,
    },
    /// The broker did not answer publisher confirms in time; the messages may or may not be
    /// durable, so they are treated as not sent.
    #[error("broker did not confirm published messages within {seconds} s")]
    ConfirmTimeout {
        /// The time waited.
        seconds: u64,
    },
    /// The connection a delivery came on is gone; the broker delivers the message again.
    #[error("could not settle delivery: its connection is closed")]
    DeliveryConnectionClosed,
    /// A message could not be encoded to JSON.
    #[error("could not encode message: {0}")]
    Encode(#[source] serde_json::Error),
    /// The ledger's outbox could not be read or cleared (relay only).
    #[error("outbox error while {context}: {source}")]
    Outbox {
        /// What the relay was doing.
        context: &'static str,
        /// The ledger's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A delivery was settled twice, or its consumer is gone.
    #[error("delivery already settled")]
    AlreadySettled,
}

impl BusError {
    pub(crate) fn database(context: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Database { context, source }
    }

    pub(crate) fn amqp(context: &'static str) -> impl FnOnce(lapin::Error) -> Self {
        move |source| Self::Amqp { context, source }
    }
}
