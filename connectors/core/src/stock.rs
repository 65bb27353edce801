//! Stock levels exchanged with channels.

use serde::{Deserialize, Serialize};

/// An absolute quantity for one listing on one channel: what the channel should show (on push)
/// or what it shows now (on a reconciliation read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    /// The channel's id for the listing (variant, offer, item).
    pub listing_id: String,
    /// The seller SKU bound to the listing, for logs and platforms that key stock by SKU.
    pub sku: String,
    /// Whole units; never negative.
    pub quantity: i64,
}
