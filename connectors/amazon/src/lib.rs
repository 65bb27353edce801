//! The Amazon connector (Selling Partner API): Login with Amazon tokens, orders by polling
//! (Orders v0 `getOrders` and `getOrderItems`), stock out by `patchListingsItem` and read back
//! by `getListingsItem`, large pushes by one `JSON_LISTINGS_FEED`, the catalog by
//! `searchListingsItems`, every operation's usage plan reported to the runtime, and — behind
//! the `fake` feature — a local fake SP-API that validates every request against Amazon's
//! official models.
//!
//! Folder layout follows `connectors/shopify`: `config.rs` (settings), `auth.rs` (LWA),
//! `client.rs` (one call and its error classification), `usage.rs` (usage plans),
//! `orders.rs` and `cursor.rs` (polling), `listings.rs` (stock by patch and read), `feeds.rs`
//! (large pushes by `JSON_LISTINGS_FEED`), `catalog.rs` (discovery by `searchListingsItems`),
//! `fake/` (the test server).

pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod connector;
pub mod cursor;
pub mod feeds;
pub mod kind;
pub mod listings;
pub mod notifications;
pub mod orders;
pub mod usage;

#[cfg(feature = "fake")]
pub mod fake;

pub use config::{AmazonChannelConfig, AmazonConfigError, Region};
pub use connector::{AmazonConnector, AMAZON_KIND, MAX_PATCHES_PER_CALL};
pub use kind::AmazonKind;
