//! The polling position: a compound `(updated_at, order id)` watermark plus, while a scan of
//! the `orders` connection is under way, Shopify's own page cursor.
//!
//! Shopify stamps `updated_at` to the second, so many orders can share one stamp. The query
//! asks for `updated_at:>='<watermark>'` (inclusive), and the orders at exactly the watermark
//! that were already delivered are remembered with a digest of what was delivered: they are
//! skipped while unchanged, delivered again if they changed within the same second, and
//! forgotten as soon as the watermark moves on. So nothing is skipped and nothing repeats
//! forever.

use chrono::{DateTime, SecondsFormat, Utc};
use omnistock_connector::{ConnectorError, OrderEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cursor handed to the runtime (serialized as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersCursor {
    /// The newest `updated_at` delivered.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Orders delivered at exactly `since`: `(order gid, digest of the delivered state)`.
    #[serde(default)]
    pub delivered_at_since: Vec<(String, String)>,
    /// A scan in progress: its filter and Shopify's cursor for the next page.
    #[serde(default)]
    pub scan: Option<Scan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    pub since: Option<DateTime<Utc>>,
    pub after: String,
}

impl OrdersCursor {
    pub fn start(since: Option<DateTime<Utc>>) -> Self {
        Self {
            since,
            ..Self::default()
        }
    }

    pub fn decode(text: &str) -> Result<Self, ConnectorError> {
        serde_json::from_str(text).map_err(|error| {
            ConnectorError::Permanent(format!("unreadable shopify orders cursor: {error}"))
        })
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The `since` the current scan filters on.
    pub fn filter_since(&self) -> Option<DateTime<Utc>> {
        match &self.scan {
            Some(scan) => scan.since,
            None => self.since,
        }
    }

    /// The search query for the scan: `updated_at:>='…'` (inclusive).
    pub fn search_query(&self) -> Option<String> {
        self.filter_since().map(|since| {
            format!(
                "updated_at:>='{}'",
                since.to_rfc3339_opts(SecondsFormat::Secs, true)
            )
        })
    }

    /// Whether `event` must be delivered, and if so records it in the watermark.
    pub fn admit(&mut self, event: &OrderEvent) -> bool {
        let digest = digest(event);
        match self.since {
            Some(since) if event.updated_at < since => false,
            Some(since) if event.updated_at == since => {
                match self
                    .delivered_at_since
                    .iter_mut()
                    .find(|(id, _)| *id == event.external_order_id)
                {
                    Some((_, seen)) if *seen == digest => false,
                    Some((_, seen)) => {
                        *seen = digest;
                        true
                    }
                    None => {
                        self.delivered_at_since
                            .push((event.external_order_id.clone(), digest));
                        true
                    }
                }
            }
            _ => {
                self.since = Some(event.updated_at);
                self.delivered_at_since = vec![(event.external_order_id.clone(), digest)];
                true
            }
        }
    }
}

/// A short digest of an event's state (not its delivery id).
fn digest(event: &OrderEvent) -> String {
    let state = OrderEvent {
        delivery_id: None,
        ..event.clone()
    };
    let bytes = serde_json::to_vec(&state).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use omnistock_connector::OrderStatus;

    fn event(id: &str, second: u32, status: OrderStatus) -> OrderEvent {
        OrderEvent {
            external_order_id: id.into(),
            delivery_id: None,
            status,
            updated_at: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, second).unwrap(),
            created_at: None,
            currency: None,
            lines: vec![],
        }
    }

    #[test]
    fn equal_stamps_are_delivered_once_unless_changed() {
        let mut cursor = OrdersCursor::start(None);
        assert!(cursor.admit(&event("a", 1, OrderStatus::Open)));
        assert!(cursor.admit(&event("b", 1, OrderStatus::Open)));
        // The same page again (an inclusive re-query) delivers nothing.
        assert!(!cursor.admit(&event("a", 1, OrderStatus::Open)));
        assert!(!cursor.admit(&event("b", 1, OrderStatus::Open)));
        // Changed within the same second: delivered again.
        assert!(cursor.admit(&event("a", 1, OrderStatus::Cancelled)));
        // Older than the watermark: never.
        assert!(!cursor.admit(&event("c", 0, OrderStatus::Open)));
        // A newer stamp moves the watermark and forgets the old ones.
        assert!(cursor.admit(&event("c", 2, OrderStatus::Open)));
        assert_eq!(cursor.delivered_at_since.len(), 1);
        assert_eq!(
            cursor.search_query().as_deref(),
            Some("updated_at:>='2025-01-01T00:00:02Z'")
        );
        let round_trip = OrdersCursor::decode(&cursor.encode()).unwrap();
        assert_eq!(round_trip, cursor);
    }
}
