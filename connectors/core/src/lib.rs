//! The connector boundary of omnistock.
//!
//! Everything a channel (marketplace or web shop) exchanges with omnistock is expressed in the
//! normalized types of this crate, so that the ledger and the sync runtime never see a
//! platform's wire format. A connector translates and classifies errors; it never retries,
//! sleeps, rate-limits or touches the database (the runtime does that, once for every platform).

pub mod conformance;
pub mod connector;
pub mod error;
pub mod kind;
pub mod order;
pub mod rate;
pub mod secret;
pub mod stock;

pub use connector::{
    CallKind, Capabilities, Connector, OrderPage, PushResult, SubmissionStatus, WebhookRequest,
};
pub use error::{ConnectorError, WebhookError};
pub use kind::ConnectorKind;
pub use order::{LineState, OrderEvent, OrderLine, OrderStatus};
pub use rate::{RateLimit, RateLimitParseError};
pub use secret::Secret;
pub use stock::StockLevel;
