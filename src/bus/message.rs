//! The one message the bus carries: "this SKU's availability may have changed".

use serde::{Deserialize, Serialize};

/// A stock change of one SKU, as written to the outbox by the ledger.
///
/// Consumers never trust the payload for quantities: the push path recomputes the level from the
/// ledger, so duplicates and reordering are harmless (losing a message is not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockChanged {
    /// The SKU whose availability changed.
    pub sku: String,
    /// The outbox row this message was relayed from (for tracing a change end to end).
    pub outbox_id: i64,
    /// When the ledger recorded the change, unix milliseconds UTC.
    pub changed_at_ms: i64,
}

impl StockChanged {
    /// The JSON bytes sent on the wire.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses the JSON bytes received from the wire.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
