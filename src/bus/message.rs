//! The one message the bus carries: "these SKUs' availability may have changed".

use serde::{Deserialize, Serialize};

/// Stock changes of a set of SKUs, as written to the outbox by the ledger and relayed together:
/// one message per relayed batch, so that the bus carries a few messages a second however many
/// orders are booked.
///
/// Consumers never trust the payload for quantities: the push path recomputes the level from the
/// ledger, so duplicates and reordering are harmless (losing a message is not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireMessage")]
pub struct StockChanged {
    /// The SKUs whose availability changed, each once.
    pub skus: Vec<String>,
    /// The first outbox row this message was relayed from (for tracing a change end to end).
    pub outbox_id: i64,
    /// When the ledger recorded the oldest of these changes, unix milliseconds UTC.
    pub changed_at_ms: i64,
}

/// What the bus may hold: this version's message, or the one-SKU message of versions before
/// it (still queued while replicas are upgraded one by one).
#[derive(Deserialize)]
#[serde(untagged)]
enum WireMessage {
    Skus {
        skus: Vec<String>,
        outbox_id: i64,
        changed_at_ms: i64,
    },
    OneSku {
        sku: String,
        outbox_id: i64,
        changed_at_ms: i64,
    },
}

impl From<WireMessage> for StockChanged {
    fn from(message: WireMessage) -> Self {
        match message {
            WireMessage::Skus {
                skus,
                outbox_id,
                changed_at_ms,
            } => Self {
                skus,
                outbox_id,
                changed_at_ms,
            },
            WireMessage::OneSku {
                sku,
                outbox_id,
                changed_at_ms,
            } => Self {
                skus: vec![sku],
                outbox_id,
                changed_at_ms,
            },
        }
    }
}

impl StockChanged {
    /// A change of one SKU.
    pub fn one(sku: impl Into<String>, outbox_id: i64, changed_at_ms: i64) -> Self {
        Self {
            skus: vec![sku.into()],
            outbox_id,
            changed_at_ms,
        }
    }

    /// The JSON bytes sent on the wire.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses the JSON bytes received from the wire.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_message_of_the_previous_version_reads_as_one_sku() {
        let old = br#"{"sku":"SKU-1","outbox_id":7,"changed_at_ms":1700000000000}"#;
        assert_eq!(
            StockChanged::from_json(old).unwrap(),
            StockChanged::one("SKU-1", 7, 1_700_000_000_000)
        );
    }

    #[test]
    fn a_message_without_skus_is_refused() {
        assert!(StockChanged::from_json(br#"{"outbox_id":7,"changed_at_ms":1}"#).is_err());
    }
}
