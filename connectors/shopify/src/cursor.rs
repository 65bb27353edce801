//! The polling position: a compound `(updated_at, order id)` watermark with an overlap window
//! behind it, plus, while a scan of the `orders` connection is under way, Shopify's own page
//! cursor.
//!
//! Shopify stamps `updated_at` to the second, so many orders can share one stamp, and an
//! order can become visible in the search index after orders updated later than it. So each
//! scan asks for `updated_at:>='<watermark>'` (inclusive), and each new scan first lists the
//! ids and stamps of the orders in the overlap window behind the watermark (a cheap query) and
//! reads those it has not delivered as they are. The orders delivered within the window are
//! remembered with a digest of what was delivered: they are skipped while unchanged, delivered
//! again if they changed (within the same second too), and forgotten once the window has moved
//! past them. So a late-indexed order is still found, nothing is skipped, nothing repeats
//! forever, and a busy store's window costs a few points, not a full re-read. The first scan
//! reads exactly from its start (the window would reach before the channel's cut-over).

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use omnistock_connector::{ConnectorError, OrderEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cursor handed to the runtime (serialized as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersCursor {
    /// The newest `updated_at` delivered.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Orders delivered within the overlap window behind `since`:
    /// `(order gid, its updated_at, digest of the delivered state)`.
    #[serde(default)]
    pub recent: Vec<(String, DateTime<Utc>, String)>,
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

    /// The oldest `updated_at` still inside the overlap window (`None`: no window yet).
    fn window_start(&self, overlap: Duration) -> Option<DateTime<Utc>> {
        let since = self.since?;
        Some(if self.recent.is_empty() {
            since
        } else {
            since - overlap
        })
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
        self.filter_since()
            .map(|since| format!("updated_at:>='{}'", stamp(since)))
    }

    /// At the start of a scan, the search query for the overlap window behind the watermark
    /// (`None`: no window yet, or a scan is under way): `updated_at:>='…' updated_at:<'…'`.
    pub fn window_query(&self, overlap: Duration) -> Option<String> {
        if self.scan.is_some() {
            return None;
        }
        let since = self.since?;
        let start = self.window_start(overlap)?;
        (start < since).then(|| {
            format!(
                "updated_at:>='{}' updated_at:<'{}'",
                stamp(start),
                stamp(since)
            )
        })
    }

    /// Whether an order of the overlap window, stamped `updated_at`, was delivered as it is.
    pub fn delivered(&self, order_id: &str, updated_at: DateTime<Utc>) -> bool {
        self.recent
            .iter()
            .any(|(id, at, _)| id == order_id && *at >= updated_at)
    }

    /// Whether `event` must be delivered, and if so records it in the window.
    pub fn admit(&mut self, event: &OrderEvent, overlap: Duration) -> bool {
        if self
            .window_start(overlap)
            .is_some_and(|start| event.updated_at < start)
        {
            return false;
        }
        let digest = digest(event);
        let id = &event.external_order_id;
        match self.recent.iter_mut().find(|(seen, _, _)| seen == id) {
            // Delivered already, or something newer was.
            Some((_, at, seen)) if *at > event.updated_at => return false,
            Some((_, at, seen)) if *at == event.updated_at && *seen == digest => return false,
            Some((_, at, seen)) => {
                *at = event.updated_at;
                *seen = digest;
            }
            None => self.recent.push((id.clone(), event.updated_at, digest)),
        }
        if self.since.is_none_or(|since| event.updated_at > since) {
            self.since = Some(event.updated_at);
        }
        if let Some(since) = self.since {
            let start = since - overlap;
            self.recent.retain(|(_, at, _)| *at >= start);
        }
        true
    }
}

fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
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
            total_minor: None,
            location: None,
            lines: vec![],
        }
    }

    #[test]
    fn equal_stamps_are_delivered_once_unless_changed() {
        let overlap = Duration::seconds(5);
        let mut cursor = OrdersCursor::start(None);
        assert!(cursor.admit(&event("a", 10, OrderStatus::Open), overlap));
        assert!(cursor.admit(&event("b", 10, OrderStatus::Open), overlap));
        // The same page again (an inclusive re-query) delivers nothing.
        assert!(!cursor.admit(&event("a", 10, OrderStatus::Open), overlap));
        assert!(!cursor.admit(&event("b", 10, OrderStatus::Open), overlap));
        // Changed within the same second: delivered again.
        assert!(cursor.admit(&event("a", 10, OrderStatus::Cancelled), overlap));
        // Older than the watermark but inside the overlap window, never seen: delivered once.
        assert!(cursor.admit(&event("c", 7, OrderStatus::Open), overlap));
        assert!(!cursor.admit(&event("c", 7, OrderStatus::Open), overlap));
        // Before the window: never.
        assert!(!cursor.admit(&event("d", 4, OrderStatus::Open), overlap));
        // A newer stamp moves the watermark and forgets what left the window.
        assert!(cursor.admit(&event("e", 14, OrderStatus::Open), overlap));
        assert_eq!(cursor.recent.len(), 3, "{:?}", cursor.recent);
        assert_eq!(
            cursor.search_query().as_deref(),
            Some("updated_at:>='2025-01-01T00:00:14Z'")
        );
        assert_eq!(
            cursor.window_query(overlap).as_deref(),
            Some("updated_at:>='2025-01-01T00:00:09Z' updated_at:<'2025-01-01T00:00:14Z'")
        );
        assert!(cursor.delivered("a", event("a", 10, OrderStatus::Open).updated_at));
        assert!(!cursor.delivered("z", event("z", 10, OrderStatus::Open).updated_at));
        let round_trip = OrdersCursor::decode(&cursor.encode()).unwrap();
        assert_eq!(round_trip, cursor);
        // A fresh cursor reads exactly from its start.
        let fresh = OrdersCursor::start(Some(event("x", 30, OrderStatus::Open).updated_at));
        assert_eq!(
            fresh.search_query().as_deref(),
            Some("updated_at:>='2025-01-01T00:00:30Z'")
        );
        assert_eq!(fresh.window_query(overlap), None);
    }
}
