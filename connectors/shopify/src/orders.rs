//! Shopify orders as omnistock sees them.
//!
//! The GraphQL `Order` (polling) and the REST-style order payload (webhooks) are first reduced
//! to one [`OrderSnapshot`] built only from facts both carry — line quantities, successful
//! fulfillments, refunds with their restock type — and one function maps the snapshot to an
//! [`OrderEvent`], so that an order polled and the same order delivered by webhook map to the
//! same event.
//!
//! Line quantities, cumulative over the order's life:
//! - shipped: units in fulfillments with status SUCCESS;
//! - returned: refunded with restock type RETURN (back in stock), and LEGACY_RESTOCK units
//!   beyond the unshipped ones;
//! - cancelled: refunded with restock type CANCEL, plus units removed by an order edit
//!   (`quantity − currentQuantity − refunded`), plus LEGACY_RESTOCK units up to what was not
//!   shipped (the rest of a legacy restock was shipped and came back: returned);
//! - a restock type this code does not know (or none) counts as NO_RESTOCK, on both paths;
//! - fulfilled (consumed): shipped, plus NO_RESTOCK refunds beyond what was shipped and not
//!   returned (Shopify does not restock those, so they left the stock like a shipment).
//!
//! Money, in minor units of the shop currency (exact, no floats): a line's unit price is its
//! price before discounts (`originalUnitPriceSet.shopMoney`, REST `price`), the order's total
//! what the buyer pays now, after edits and refunds (`currentTotalPriceSet.shopMoney`, REST
//! `current_total_price`), so the poll and the webhook give the same figures.
//!
//! Order status: `cancelledAt` set → cancelled; else every line shipped, consumed or cancelled
//! → fulfilled; else open. The financial status (pending, authorized, paid, partially
//! refunded, voided, expired) does not change what is held: Shopify keeps unfulfilled units
//! committed until the order is cancelled, and so does omnistock.

use chrono::{DateTime, Utc};
use omnistock_connector::money::minor_units;
use omnistock_connector::{OrderEvent, OrderLine, OrderStatus};
use serde::Deserialize;
use std::collections::BTreeMap;
use tracing::warn;

/// How a refunded line was restocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restock {
    Cancel,
    Return,
    NoRestock,
    /// Restocked before Shopify told cancels from returns: unshipped units count as
    /// cancelled, shipped ones as returned.
    Legacy,
}

impl Restock {
    /// Parses GraphQL (`RETURN`) and REST (`return`) spellings alike.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "CANCEL" => Some(Self::Cancel),
            "RETURN" => Some(Self::Return),
            "NO_RESTOCK" => Some(Self::NoRestock),
            "LEGACY_RESTOCK" => Some(Self::Legacy),
            _ => None,
        }
    }

    /// The one mapping of a refund line's restock type, for the webhook and the GraphQL shape
    /// alike. A type this code does not know (a later API version's, or none) counts as not
    /// restocked: omnistock never puts units back on hand that Shopify may not have.
    pub fn from_wire(order_id: &str, text: Option<&str>) -> Self {
        match text.and_then(Self::parse) {
            Some(restock) => restock,
            None => {
                warn!(order = %order_id, restock_type = text.unwrap_or(""), "unknown refund restock type, counted as not restocked");
                Self::NoRestock
            }
        }
    }
}

/// One line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSnapshot {
    /// `gid://shopify/LineItem/<id>`.
    pub id: String,
    /// `gid://shopify/ProductVariant/<id>`: the listing id.
    pub variant_id: Option<String>,
    pub sku: Option<String>,
    pub quantity: i64,
    /// Units not refunded or removed, when the payload reports it.
    pub current_quantity: Option<i64>,
    /// The price of one unit before discounts, in minor units of the shop currency.
    pub unit_price_minor: Option<i64>,
}

/// The facts of an order both APIs report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSnapshot {
    /// `gid://shopify/Order/<id>`.
    pub id: String,
    pub updated_at: DateTime<Utc>,
    /// When the order was placed (`createdAt`, `created_at`).
    pub created_at: Option<DateTime<Utc>>,
    pub cancelled: bool,
    pub currency: Option<String>,
    /// What the buyer pays now, in minor units of `currency`.
    pub total_minor: Option<i64>,
    pub lines: Vec<LineSnapshot>,
    /// `(line id, units)` of fulfillments with status SUCCESS.
    pub shipped: Vec<(String, i64)>,
    /// `(line id, units, restock)` of every refund line.
    pub refunded: Vec<(String, i64, Restock)>,
}

#[derive(Default)]
struct LineTotals {
    shipped: i64,
    cancel: i64,
    returned: i64,
    no_restock: i64,
    legacy: i64,
}

impl OrderSnapshot {
    pub fn into_event(self, delivery_id: Option<String>) -> OrderEvent {
        let mut totals: BTreeMap<&str, LineTotals> = BTreeMap::new();
        for (line_id, units) in &self.shipped {
            totals.entry(line_id).or_default().shipped += units.max(&0);
        }
        for (line_id, units, restock) in &self.refunded {
            let entry = totals.entry(line_id).or_default();
            let units = *units.max(&0);
            match restock {
                Restock::Cancel => entry.cancel += units,
                Restock::Return => entry.returned += units,
                Restock::NoRestock => entry.no_restock += units,
                Restock::Legacy => entry.legacy += units,
            }
        }
        let lines: Vec<OrderLine> = self
            .lines
            .iter()
            .map(|line| {
                let empty = LineTotals::default();
                let totals = totals.get(line.id.as_str()).unwrap_or(&empty);
                let refunded = totals.cancel + totals.returned + totals.no_restock + totals.legacy;
                let current = line.current_quantity.unwrap_or(line.quantity - refunded);
                let removed = (line.quantity - current - refunded).max(0);
                // A legacy restock releases the units still unshipped first; the rest were
                // shipped and came back.
                let unshipped = (line.quantity - totals.shipped - totals.cancel - removed).max(0);
                let legacy_cancel = totals.legacy.min(unshipped);
                let returned = totals.returned + totals.legacy - legacy_cancel;
                let kept_after_shipping = (totals.shipped - returned).max(0);
                let consumed_unshipped = (totals.no_restock - kept_after_shipping).max(0);
                OrderLine {
                    line_id: line.id.clone(),
                    listing_id: line.variant_id.clone(),
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    cancelled_quantity: totals.cancel + legacy_cancel + removed,
                    fulfilled_quantity: (totals.shipped + consumed_unshipped).min(line.quantity),
                    returned_quantity: returned,
                    unit_price_minor: line.unit_price_minor,
                }
            })
            .collect();
        let status = if self.cancelled {
            OrderStatus::Cancelled
        } else if !lines.is_empty()
            && lines
                .iter()
                .all(|line| line.target_state(OrderStatus::Open).open == 0)
        {
            OrderStatus::Fulfilled
        } else {
            OrderStatus::Open
        };
        OrderEvent {
            external_order_id: self.id,
            delivery_id,
            status,
            updated_at: self.updated_at,
            created_at: self.created_at,
            currency: self.currency,
            total_minor: self.total_minor,
            location: None,
            lines,
        }
    }
}

/// A decimal amount of `currency` in minor units; `None` (with a warning) when it is not exact
/// in the currency's minor unit, so that a figure is never rounded into the ledger.
pub fn amount_minor(order_id: &str, field: &str, amount: &str, currency: &str) -> Option<i64> {
    let minor = minor_units(amount, currency);
    if minor.is_none() {
        warn!(order = %order_id, field, amount, currency, "amount not exact in minor units, left unknown");
    }
    minor
}

/// An empty SKU means none.
pub fn non_empty(sku: Option<String>) -> Option<String> {
    sku.map(|sku| sku.trim().to_string())
        .filter(|sku| !sku.is_empty())
}

// ---- GraphQL wire types ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrdersData {
    pub orders: OrderConnection,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderData {
    pub order: Option<GqlOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderConnection {
    pub page_info: PageInfo,
    pub nodes: Vec<GqlOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub has_next_page: bool,
    #[serde(default)]
    pub end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NestedPageInfo {
    pub has_next_page: bool,
    #[serde(default)]
    pub end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlOrder {
    pub id: String,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub display_financial_status: Option<String>,
    #[serde(default)]
    pub display_fulfillment_status: Option<String>,
    pub currency_code: Option<String>,
    #[serde(default)]
    pub current_total_price_set: Option<MoneyBag>,
    pub line_items: GqlNestedLines<GqlLineItem>,
    pub fulfillments: Vec<GqlFulfillment>,
    pub refunds: Vec<GqlRefund>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlLineItem {
    pub id: String,
    pub quantity: i64,
    pub current_quantity: i64,
    pub sku: Option<String>,
    pub variant: Option<IdOnly>,
    #[serde(default)]
    pub original_unit_price_set: Option<MoneyBag>,
}

/// A `MoneyBag`: an amount in the shop currency (and the buyer's, which omnistock ignores).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyBag {
    pub shop_money: MoneyV2,
}

/// A `MoneyV2`: a decimal amount (a string) and its currency.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyV2 {
    pub amount: String,
    pub currency_code: String,
}

impl MoneyBag {
    /// The shop amount in minor units of its currency.
    fn shop_minor(&self, order_id: &str, field: &str) -> Option<i64> {
        let money = &self.shop_money;
        amount_minor(order_id, field, &money.amount, &money.currency_code)
    }
}

#[derive(Debug, Deserialize)]
pub struct IdOnly {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlFulfillment {
    #[serde(default)]
    pub id: Option<String>,
    pub status: String,
    pub fulfillment_line_items: GqlNestedLines<GqlFulfillmentLine>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlNestedLines<T> {
    pub page_info: NestedPageInfo,
    pub nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlFulfillmentLine {
    pub quantity: Option<i64>,
    pub line_item: IdOnly,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlRefund {
    #[serde(default)]
    pub id: Option<String>,
    pub refund_line_items: GqlNestedLines<GqlRefundLine>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GqlRefundLine {
    pub quantity: i64,
    #[serde(default)]
    pub restock_type: Option<String>,
    pub line_item: IdOnly,
}

/// The sizes of the nested lists an order query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestedSizes {
    pub line_items: usize,
    pub fulfillments: usize,
    pub refunds: usize,
    pub nested_lines: usize,
}

/// Sizes for a page of orders: about 183 points per order (a line costs 4 with its price), so
/// a page of 5, the most a channel may set, stays under Shopify's 1000 for one query.
pub const PAGE_SIZES: NestedSizes = NestedSizes {
    line_items: 10,
    fulfillments: 3,
    refunds: 3,
    nested_lines: 10,
};

/// Sizes for one order the page truncated: about 935 points.
pub const SINGLE_ORDER_SIZES: NestedSizes = NestedSizes {
    line_items: 100,
    fulfillments: 5,
    refunds: 5,
    nested_lines: 25,
};

impl GqlOrder {
    /// Whether a nested list may have been cut short by `sizes`.
    pub fn is_truncated(&self, sizes: NestedSizes) -> bool {
        self.line_items.page_info.has_next_page
            || self.fulfillments.len() >= sizes.fulfillments
            || self.refunds.len() >= sizes.refunds
            || self.fulfillments.iter().any(|f| {
                // Only a successful fulfillment's lines count.
                f.status.eq_ignore_ascii_case("SUCCESS")
                    && f.fulfillment_line_items.page_info.has_next_page
            })
            || self
                .refunds
                .iter()
                .any(|r| r.refund_line_items.page_info.has_next_page)
    }

    pub fn into_snapshot(self) -> OrderSnapshot {
        let order_id = self.id.as_str();
        let lines = self
            .line_items
            .nodes
            .into_iter()
            .map(|line| LineSnapshot {
                unit_price_minor: line
                    .original_unit_price_set
                    .as_ref()
                    .and_then(|price| price.shop_minor(order_id, "originalUnitPriceSet")),
                id: line.id,
                variant_id: line.variant.map(|variant| variant.id),
                sku: non_empty(line.sku),
                quantity: line.quantity,
                current_quantity: Some(line.current_quantity),
            })
            .collect();
        let total_minor = self
            .current_total_price_set
            .as_ref()
            .and_then(|total| total.shop_minor(order_id, "currentTotalPriceSet"));
        let shipped = self
            .fulfillments
            .into_iter()
            .filter(|fulfillment| fulfillment.status.eq_ignore_ascii_case("SUCCESS"))
            .flat_map(|fulfillment| fulfillment.fulfillment_line_items.nodes)
            .map(|line| (line.line_item.id, line.quantity.unwrap_or(0)))
            .collect();
        let refunded = self
            .refunds
            .into_iter()
            .flat_map(|refund| refund.refund_line_items.nodes)
            .map(|line| {
                let restock = Restock::from_wire(&self.id, line.restock_type.as_deref());
                (line.line_item.id, line.quantity, restock)
            })
            .collect();
        OrderSnapshot {
            id: self.id,
            updated_at: self.updated_at,
            created_at: self.created_at,
            cancelled: self.cancelled_at.is_some(),
            currency: self.currency_code,
            total_minor,
            lines,
            shipped,
            refunded,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use omnistock_connector::LineState;

    fn snapshot(quantity: i64, current: i64) -> OrderSnapshot {
        OrderSnapshot {
            id: "gid://shopify/Order/1".into(),
            updated_at: Utc::now(),
            created_at: None,
            cancelled: false,
            currency: Some("EUR".into()),
            total_minor: None,
            lines: vec![LineSnapshot {
                id: "L".into(),
                variant_id: Some("gid://shopify/ProductVariant/9".into()),
                sku: Some("SKU".into()),
                quantity,
                current_quantity: Some(current),
                unit_price_minor: None,
            }],
            shipped: vec![],
            refunded: vec![],
        }
    }

    fn state(snapshot: OrderSnapshot) -> (OrderStatus, LineState) {
        let event = snapshot.into_event(None);
        let status = event.status;
        (status, event.lines[0].target_state(status))
    }

    #[test]
    fn new_order_holds_everything() {
        let (status, line) = state(snapshot(3, 3));
        assert_eq!(status, OrderStatus::Open);
        assert_eq!(
            line,
            LineState {
                open: 3,
                committed: 0,
                returned: 0
            }
        );
    }

    #[test]
    fn shipped_then_returned() {
        let mut order = snapshot(3, 2);
        order.shipped = vec![("L".into(), 3)];
        order.refunded = vec![("L".into(), 1, Restock::Return)];
        let (status, line) = state(order);
        assert_eq!(status, OrderStatus::Fulfilled);
        assert_eq!(
            line,
            LineState {
                open: 0,
                committed: 3,
                returned: 1
            }
        );
    }

    #[test]
    fn cancel_refund_and_edit_removal_release_units() {
        let mut order = snapshot(5, 2);
        order.refunded = vec![("L".into(), 2, Restock::Cancel)];
        // 5 ordered, 2 refunded with restock, 1 removed by an edit: 2 still held.
        let (_, line) = state(order);
        assert_eq!(
            line,
            LineState {
                open: 2,
                committed: 0,
                returned: 0
            }
        );
    }

    #[test]
    fn no_restock_refund_of_unshipped_units_consumes_them() {
        let mut order = snapshot(3, 2);
        order.refunded = vec![("L".into(), 1, Restock::NoRestock)];
        let (_, line) = state(order);
        assert_eq!(
            line,
            LineState {
                open: 2,
                committed: 1,
                returned: 0
            }
        );
        // After shipping everything, a no-restock refund is of a shipped unit.
        let mut order = snapshot(3, 2);
        order.shipped = vec![("L".into(), 3)];
        order.refunded = vec![("L".into(), 1, Restock::NoRestock)];
        let (_, line) = state(order);
        assert_eq!(
            line,
            LineState {
                open: 0,
                committed: 3,
                returned: 0
            }
        );
    }

    #[test]
    fn cancelled_order_holds_nothing() {
        let mut order = snapshot(3, 0);
        order.cancelled = true;
        order.refunded = vec![("L".into(), 3, Restock::Cancel)];
        let (status, line) = state(order);
        assert_eq!(status, OrderStatus::Cancelled);
        assert_eq!(line, LineState::default());
    }
}
