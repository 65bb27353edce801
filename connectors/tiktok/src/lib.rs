//! The TikTok Shop connector: every Partner API request signed (`sign.rs`), stock set per
//! product and warehouse (`inventory.rs`), orders polled by update time and fetched by id
//! (`orders.rs`, `cursor.rs`), the catalog by Search Products (`catalog.rs`), webhooks verified by their `Authorization` signature
//! (`webhook.rs`), access tokens refreshed before they expire and kept in a durable store
//! (`tokens.rs`), and — behind the `fake` feature — a local fake TikTok Shop driven by the
//! official reference pages.
//!
//! Layout: `config.rs` (settings), `client.rs` (one signed call and its error classification),
//! `errors.rs` (TikTok's body codes mapped to the runtime's classes), `connector.rs` (the
//! [`omnistock_connector::Connector`]), `kind.rs` (the registry entry), `fake/` (the test server).

pub mod catalog;
pub mod client;
pub mod config;
pub mod connector;
pub mod cursor;
pub mod errors;
pub mod inventory;
pub mod kind;
pub mod listing;
pub mod orders;
pub mod pace;
pub mod returns;
pub mod sign;
pub mod tokens;
pub mod webhook;

#[cfg(feature = "fake")]
pub mod fake;

pub use config::{TikTokChannelConfig, TikTokConfigError};
pub use connector::{TikTokConnector, TIKTOK_KIND};
pub use kind::TikTokKind;
pub use tokens::{CredentialTokenStore, FileTokenStore, MemoryTokenStore, TokenPair, TokenStore};
