//! The Shopify connector: orders in (Admin GraphQL `orders` polling and order webhooks),
//! stock out (`inventorySetQuantities`, compare-and-set), cost-based throttling reported to
//! the runtime, and — behind the `fake` feature — a local fake Shopify that validates every
//! query against the real Admin schema.
//!
//! Folder layout follows `connectors/sim`: `config.rs` (settings), `client.rs` (one GraphQL
//! call and its error classification), `queries.rs` (every document sent), `orders.rs` and
//! `cursor.rs` (polling), `whole_order.rs` (nested pages of a polled order), `webhook.rs` (signatures and payloads), `inventory.rs` (stock),
//! `throttle.rs` (the cost bucket), `fake/` (the test server).

pub mod catalog;
pub mod client;
pub mod config;
pub mod connector;
pub mod cursor;
pub mod gid;
pub mod inventory;
pub mod kind;
pub mod levels;
pub mod orders;
pub mod queries;
pub mod sales;
pub mod throttle;
pub mod version;
pub mod webhook;
pub mod whole_order;

#[cfg(feature = "fake")]
pub mod fake;

pub use config::{ShopifyChannelConfig, ShopifyConfigError, DEFAULT_API_VERSION};
pub use connector::{ShopifyConnector, MAX_QUANTITIES_PER_CALL, SHOPIFY_KIND};
pub use kind::ShopifyKind;
pub use throttle::{BucketState, ThrottleStatus};
pub use version::{ApiVersion, CompareForm};
