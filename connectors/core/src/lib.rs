//! The connector boundary of omnistock.
//!
//! Everything a channel (marketplace or web shop) exchanges with omnistock is expressed in the
//! normalized types of this crate, so that the ledger and the sync runtime never see a
//! platform's wire format. A connector translates and classifies errors; it never retries,
//! sleeps, rate-limits or touches the database (the runtime does that, once for every platform).

pub mod conformance;
pub mod connector;
pub mod credentials;
pub mod error;
pub mod kind;
pub mod money;
pub mod order;
pub mod rate;
pub mod secret;
pub mod stock;

pub use connector::{
    attach_delivery_ids, CallKind, Capabilities, CatalogListing, CatalogPage, Connector,
    NotificationBatch, NotificationContent, OrderPage, OrderRef, PushResult, QueuedNotification,
    SubmissionStatus, WebhookRequest,
};
pub use credentials::CredentialStore;
pub use error::{ConnectorError, WebhookError};
pub use kind::ConnectorKind;
pub use order::{LineState, OrderEvent, OrderLine, OrderStatus};
pub use rate::{RateLimit, RateLimitParseError};
pub use secret::Secret;
pub use stock::StockLevel;
