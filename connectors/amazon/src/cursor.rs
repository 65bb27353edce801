//! The polling position over `getOrders`.
//!
//! A scan asks for orders updated at or after `since` and follows `NextToken` to its end. A
//! new scan starts `overlap` before the newest update already delivered, because Amazon's
//! order search is eventually consistent; the orders delivered within that window are
//! remembered with the update they were delivered at, so re-reading them delivers nothing,
//! while an order sharing a timestamp with one already delivered is never skipped. Orders of
//! the current page whose items are still to be fetched wait in `pending` (the items call has
//! its own, smaller usage plan).

use crate::orders::{format_instant, Order};
use chrono::{DateTime, Utc};
use omnistock_connector::ConnectorError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersCursor {
    /// `LastUpdatedAfter` of the current (or next) scan.
    pub since: DateTime<Utc>,
    /// Nothing updated before this is delivered (the channel's cut-over or
    /// `import_orders_since`).
    pub floor: DateTime<Utc>,
    /// The page token of the scan under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The newest `LastUpdateDate` delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water: Option<DateTime<Utc>>,
    /// Orders delivered within the overlap window: order id → the update delivered.
    #[serde(default)]
    pub seen: BTreeMap<String, DateTime<Utc>>,
    /// Orders of the current page still to be delivered, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Order>,
}

impl OrdersCursor {
    pub fn starting_at(floor: DateTime<Utc>) -> Self {
        Self {
            since: floor,
            floor,
            next_token: None,
            high_water: None,
            seen: BTreeMap::new(),
            pending: Vec::new(),
        }
    }

    pub fn decode(text: &str) -> Result<Self, ConnectorError> {
        serde_json::from_str(text).map_err(|error| {
            ConnectorError::Configuration(format!(
                "the stored amazon order cursor is unreadable ({error}); reset the channel's cursor"
            ))
        })
    }

    pub fn encode(&self) -> String {
        // A struct of strings, instants and maps always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The `LastUpdatedAfter` parameter of the scan.
    pub fn last_updated_after(&self) -> String {
        format_instant(self.since)
    }

    /// Whether an order from the search is to be delivered: updated at or after the floor and
    /// not already delivered at this update or a newer one. Orders whose date does not parse
    /// are delivered (mapping reports them).
    pub fn admits(&self, order: &Order) -> bool {
        let Some(updated) = order.updated_at() else {
            return true;
        };
        if updated < self.floor {
            return false;
        }
        if self.pending.iter().any(|pending| {
            pending.amazon_order_id == order.amazon_order_id
                && pending.last_update_date == order.last_update_date
        }) {
            return false;
        }
        self.seen
            .get(&order.amazon_order_id)
            .is_none_or(|delivered| updated > *delivered)
    }

    /// Records that `order` was delivered.
    pub fn delivered(&mut self, order: &Order) {
        if let Some(updated) = order.updated_at() {
            self.seen.insert(order.amazon_order_id.clone(), updated);
            self.high_water = Some(self.high_water.map_or(updated, |high| high.max(updated)));
        }
    }

    /// Whether the scan under way still has orders to deliver or pages to read.
    pub fn scanning(&self) -> bool {
        self.next_token.is_some() || !self.pending.is_empty()
    }

    /// Ends the scan: the next one starts `overlap` before the newest update delivered, and
    /// only orders delivered within that window are remembered.
    pub fn finish_scan(&mut self, overlap: chrono::Duration) {
        self.next_token = None;
        if let Some(high) = self.high_water {
            // Amazon's dates are whole seconds: the window starts on a whole second, and an
            // order updated at its first second is both asked for and remembered.
            let start = high
                .checked_sub_signed(overlap)
                .unwrap_or(high)
                .max(self.floor);
            let start = DateTime::from_timestamp(start.timestamp(), 0).unwrap_or(start);
            self.since = start;
            self.seen.retain(|_, delivered| *delivered >= start);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn order(id: &str, updated: &str) -> Order {
        Order {
            amazon_order_id: id.into(),
            purchase_date: updated.into(),
            last_update_date: updated.into(),
            order_status: "Unshipped".into(),
            fulfillment_channel: Some("MFN".into()),
            order_total: None,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        crate::orders::parse_instant(text).unwrap()
    }

    #[test]
    fn orders_sharing_a_timestamp_are_each_delivered_once() {
        let mut cursor = OrdersCursor::starting_at(at("2026-12-01T00:00:00Z"));
        let first = order("A", "2026-12-01T10:00:00Z");
        let twin = order("B", "2026-12-01T10:00:00Z");
        assert!(cursor.admits(&first));
        cursor.delivered(&first);
        cursor.finish_scan(chrono::Duration::seconds(300));
        assert_eq!(cursor.last_updated_after(), "2026-12-01T09:55:00Z");
        assert!(!cursor.admits(&first), "re-read in the overlap");
        assert!(cursor.admits(&twin), "same timestamp, not delivered yet");
        assert!(
            cursor.admits(&order("A", "2026-12-01T10:00:01Z")),
            "updated"
        );
        assert!(
            !cursor.admits(&order("C", "2026-11-30T23:59:59Z")),
            "before the floor"
        );
        let decoded = OrdersCursor::decode(&cursor.encode()).unwrap();
        assert_eq!(decoded, cursor);
    }

    #[test]
    fn the_window_forgets_what_it_will_not_ask_for_again() {
        let mut cursor = OrdersCursor::starting_at(at("2026-12-01T00:00:00Z"));
        cursor.delivered(&order("OLD", "2026-12-01T01:00:00Z"));
        cursor.delivered(&order("NEW", "2026-12-01T10:00:00Z"));
        cursor.finish_scan(chrono::Duration::seconds(60));
        assert_eq!(cursor.seen.keys().collect::<Vec<_>>(), ["NEW"]);
        assert!(OrdersCursor::decode("garbage").is_err());
    }
}
