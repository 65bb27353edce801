//! A simulated marketplace and the connector that talks to it.
//!
//! The sim is a real HTTP server (see README.md for its API): listings, orders with a compound
//! cursor, batched stock updates with per-item errors, signed webhooks retried with backoff,
//! a rate limit and injectable faults. The demo, the integration tests and the benchmarks run
//! omnistock against it, and the conformance kit runs against it like against any platform's
//! fake. [`SimConnector`] talks to it over HTTP only, like a connector to a real platform.

pub mod config;
pub mod connector;
pub mod cursor;
pub mod kind;
pub mod server;
pub mod signature;
pub mod wire;

pub use config::{SimChannelConfig, SimConfigError};
pub use connector::{SimConnector, SIM_KIND};
pub use kind::SimKind;
pub use server::state::{
    DeliveryOutcome, DeliveryRecord, Faults, NewOrderLine, SimActionError, SimCounters,
    StockRequestOutcome, StockRequestRecord,
};
pub use server::webhooks::SimWebhook;
pub use server::{
    run_standalone, SimError, SimHandle, SimOptions, SimServer, DEFAULT_MAX_BATCH,
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
