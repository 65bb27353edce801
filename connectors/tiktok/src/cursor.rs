//! The polling cursor: order search windows `[update_time_ge, update_time_lt)` sorted by
//! `update_time` ascending, paged by `page_token`.
//!
//! A window ends after the second "now" falls in (`update_time_lt = now + 1`). Each next window
//! starts `overlap` seconds (at least one) before the previous one ended, so an order updated
//! later in that last second, or indexed late by TikTok, is read again; orders
//! already returned with the same `update_time` are remembered and dropped, so a replay of the
//! overlap returns nothing twice and orders sharing a second are never skipped.

use omnistock_connector::{ConnectorError, OrderEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersCursor {
    /// `update_time_ge` of the window.
    pub since: i64,
    /// `update_time_lt` of the window being paged; `None` between windows.
    #[serde(default)]
    pub until: Option<i64>,
    /// The next page of the window being paged.
    #[serde(default)]
    pub page_token: Option<String>,
    /// Orders returned whose update time is at or after `since`: `(order id, update_time,
    /// state fingerprint)`. TikTok stamps to the second, so two changes of one order in one
    /// second share an update time; the fingerprint tells them apart.
    #[serde(default)]
    pub seen: Vec<(String, i64, u64)>,
}

impl OrdersCursor {
    pub fn start(since: i64) -> Self {
        Self {
            since,
            until: None,
            page_token: None,
            seen: Vec::new(),
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Result<Self, ConnectorError> {
        serde_json::from_str(text).map_err(|error| {
            ConnectorError::Permanent(format!("unreadable TikTok orders cursor: {error}"))
        })
    }

    /// Whether to return `event`: not when this cursor already returned it at this update time.
    pub fn admit(&mut self, event: &OrderEvent) -> bool {
        let key = (
            event.external_order_id.clone(),
            event.updated_at.timestamp(),
            fingerprint(event),
        );
        if self.seen.contains(&key) {
            return false;
        }
        self.seen.push(key);
        true
    }

    /// The window was read to its end: the next starts `overlap` seconds before it ended.
    pub fn finish_window(&mut self, overlap: i64) {
        if let Some(until) = self.until.take() {
            self.since = self.since.max(until - overlap.max(1));
        }
        self.page_token = None;
        let since = self.since;
        self.seen.retain(|(_, updated, _)| *updated >= since);
    }
}

/// FNV-1a over the order's status and line states: stable across runs and versions.
fn fingerprint(event: &OrderEvent) -> u64 {
    let mut text = String::from(event.status.as_str());
    for line in &event.lines {
        text.push_str(&format!(
            "|{}:{}:{}:{}:{}",
            line.line_id,
            line.quantity,
            line.cancelled_quantity,
            line.fulfilled_quantity,
            line.returned_quantity
        ));
    }
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
