//! Orders as every connector reports them: a snapshot of the order's current state.
//!
//! Connectors report *state*, not deltas: "line 1 has 3 ordered, 1 cancelled, 2 fulfilled". The
//! ledger compares the snapshot with what it booked before and applies only the difference, so
//! a webhook delivered twice, a polled copy of a webhook, or an older snapshot arriving after a
//! newer one can never double-count stock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The state of an order as a whole, mapped from the platform's own vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Created, pending or paid: its unfulfilled lines hold stock.
    Open,
    /// Cancelled as a whole: nothing is held any more; what already shipped stays shipped.
    Cancelled,
    /// Every line is fulfilled (shipped) or cancelled.
    Fulfilled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Fulfilled => "fulfilled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(OrderStatus::Open),
            "cancelled" => Some(OrderStatus::Cancelled),
            "fulfilled" => Some(OrderStatus::Fulfilled),
            _ => None,
        }
    }
}

/// One line of an order. Quantities are whole units and cumulative over the order's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The platform's id of this line, stable across updates of the order.
    pub line_id: String,
    /// The platform's id of the listing (variant, offer, item) that was sold.
    pub listing_id: Option<String>,
    /// The seller SKU the platform reports for the line, when it reports one.
    pub sku: Option<String>,
    /// Units ordered.
    pub quantity: i64,
    /// Units of this line cancelled so far.
    #[serde(default)]
    pub cancelled_quantity: i64,
    /// Units of this line shipped so far.
    #[serde(default)]
    pub fulfilled_quantity: i64,
    /// Units of this line returned (restockable) so far.
    #[serde(default)]
    pub returned_quantity: i64,
    /// Unit price in minor units of `currency`, when the platform reports it.
    #[serde(default)]
    pub unit_price_minor: Option<i64>,
}

/// What a line should hold in the ledger, derived from an order snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineState {
    /// Units reserved and not yet shipped or cancelled.
    pub open: i64,
    /// Units shipped.
    pub committed: i64,
    /// Units returned to stock.
    pub returned: i64,
}

impl OrderLine {
    /// The ledger state this line asks for under the order's status. Quantities a platform
    /// reports inconsistently (more cancelled than ordered, say) are clamped, never negative.
    pub fn target_state(&self, status: OrderStatus) -> LineState {
        let ordered = self.quantity.max(0);
        let committed = self.fulfilled_quantity.clamp(0, ordered);
        let cancelled = self.cancelled_quantity.clamp(0, ordered - committed);
        let open = match status {
            OrderStatus::Open => ordered - committed - cancelled,
            OrderStatus::Cancelled | OrderStatus::Fulfilled => 0,
        };
        let returned = self.returned_quantity.clamp(0, committed);
        LineState {
            open,
            committed,
            returned,
        }
    }
}

/// A normalized order event: the order's state as of `updated_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// The platform's order id.
    pub external_order_id: String,
    /// The platform's id of this delivery or event, used to drop exact redeliveries early.
    pub delivery_id: Option<String>,
    pub status: OrderStatus,
    /// When the platform last changed the order (UTC). An event older than what the ledger
    /// already booked for this order is ignored.
    pub updated_at: DateTime<Utc>,
    /// When the order was placed on the platform (UTC). An order placed before its channel's
    /// cut-over is booked as a baseline the first time it is seen (what it had shipped leaves
    /// on hand alone: it left before the stock count). `None` when the platform does not say:
    /// the order is then treated as placed after the cut-over and booked in full.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// ISO 4217 currency of the line prices.
    #[serde(default)]
    pub currency: Option<String>,
    /// What the buyer pays for the whole order (lines, shipping and tax, less discounts) in
    /// minor units of `currency`, when the platform reports it.
    #[serde(default)]
    pub total_minor: Option<i64>,
    /// The ledger location the order ships from, when the connector knows it (a platform that
    /// keeps stock per warehouse, its warehouses mapped to ledger locations in the channel's
    /// settings); `None` books the order at the channel's `location`.
    #[serde(default)]
    pub location: Option<String>,
    pub lines: Vec<OrderLine>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(quantity: i64, cancelled: i64, fulfilled: i64, returned: i64) -> OrderLine {
        OrderLine {
            line_id: "1".into(),
            listing_id: None,
            sku: Some("SKU".into()),
            quantity,
            cancelled_quantity: cancelled,
            fulfilled_quantity: fulfilled,
            returned_quantity: returned,
            unit_price_minor: None,
        }
    }

    #[test]
    fn open_line_holds_what_is_neither_shipped_nor_cancelled() {
        let state = line(5, 1, 2, 0).target_state(OrderStatus::Open);
        assert_eq!(
            state,
            LineState {
                open: 2,
                committed: 2,
                returned: 0
            }
        );
    }

    #[test]
    fn cancelled_order_holds_nothing_but_keeps_what_shipped() {
        let state = line(5, 0, 2, 1).target_state(OrderStatus::Cancelled);
        assert_eq!(
            state,
            LineState {
                open: 0,
                committed: 2,
                returned: 1
            }
        );
    }

    #[test]
    fn inconsistent_quantities_are_clamped() {
        let state = line(3, 9, 7, 8).target_state(OrderStatus::Open);
        assert_eq!(
            state,
            LineState {
                open: 0,
                committed: 3,
                returned: 3
            }
        );
        let negative = line(-4, 0, 0, 0).target_state(OrderStatus::Open);
        assert_eq!(negative, LineState::default());
    }
}
