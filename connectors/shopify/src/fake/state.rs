//! What the fake shop holds: variants with their inventory items and `available` quantity at
//! the shop's one location, and orders with fulfillments and refunds. Placing an order
//! commits stock the way Shopify does (`available` goes down), cancelling restocks what was
//! not shipped.

use crate::gid::gid;
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Variant {
    pub id: u64,
    pub sku: String,
    pub inventory_item_id: u64,
    /// The product the variant belongs to (one product per variant in the fake).
    pub product_id: u64,
    /// `None`: not stocked at the location.
    pub available: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub id: u64,
    pub variant_id: u64,
    pub sku: String,
    pub quantity: i64,
    /// Units removed by an order edit.
    pub removed: i64,
    /// The price of one unit, in cents of the order's currency.
    pub unit_price_cents: i64,
}

/// The fake's price of one unit of a SKU, in cents: 10.00 to 19.00 by the SKU, so that lines
/// of different SKUs have different prices.
pub fn unit_price_cents(sku: &str) -> i64 {
    let spread: i64 = sku.bytes().map(i64::from).sum::<i64>() % 10;
    1000 + 100 * spread
}

/// Cents as Shopify writes an amount: "12.34".
pub fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[derive(Debug, Clone)]
pub struct Fulfillment {
    pub id: u64,
    /// `SUCCESS`, `CANCELLED` …
    pub status: &'static str,
    pub lines: Vec<(u64, i64)>,
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub id: u64,
    pub created_at: DateTime<Utc>,
    /// `(line id, units, restock type)`, the restock type as the GraphQL enum spells it.
    pub lines: Vec<(u64, i64, &'static str)>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: u64,
    pub number: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub financial_status: &'static str,
    pub currency: &'static str,
    pub lines: Vec<Line>,
    pub fulfillments: Vec<Fulfillment>,
    pub refunds: Vec<Refund>,
}

impl Order {
    pub fn line(&self, line_id: u64) -> Option<&Line> {
        self.lines.iter().find(|line| line.id == line_id)
    }

    pub fn shipped(&self, line_id: u64) -> i64 {
        self.fulfillments
            .iter()
            .filter(|f| f.status == "SUCCESS")
            .flat_map(|f| &f.lines)
            .filter(|(id, _)| *id == line_id)
            .map(|(_, units)| units)
            .sum()
    }

    pub fn refunded(&self, line_id: u64) -> i64 {
        self.refunds
            .iter()
            .flat_map(|r| &r.lines)
            .filter(|(id, _, _)| *id == line_id)
            .map(|(_, units, _)| units)
            .sum()
    }

    fn refunded_unshipped(&self, line_id: u64) -> i64 {
        self.refunds
            .iter()
            .flat_map(|r| &r.lines)
            .filter(|(id, _, restock)| *id == line_id && *restock != "RETURN")
            .map(|(_, units, _)| units)
            .sum()
    }

    /// Units neither refunded nor removed.
    pub fn current_quantity(&self, line: &Line) -> i64 {
        (line.quantity - line.removed - self.refunded(line.id)).max(0)
    }

    /// Units still to ship.
    pub fn unfulfilled_quantity(&self, line: &Line) -> i64 {
        if self.cancelled_at.is_some() {
            return 0;
        }
        (line.quantity - line.removed - self.shipped(line.id) - self.refunded_unshipped(line.id))
            .max(0)
    }

    pub fn display_fulfillment_status(&self) -> &'static str {
        let owed: i64 = self
            .lines
            .iter()
            .map(|line| self.unfulfilled_quantity(line))
            .sum();
        let shipped: i64 = self.lines.iter().map(|line| self.shipped(line.id)).sum();
        match (owed, shipped) {
            (0, s) if s > 0 => "FULFILLED",
            (_, s) if s > 0 => "PARTIALLY_FULFILLED",
            _ => "UNFULFILLED",
        }
    }

    pub fn gid(&self) -> String {
        gid("Order", self.id)
    }

    /// What the buyer pays now (`currentTotalPriceSet`, `current_total_price`), in cents: the
    /// units neither refunded nor removed at their price; the fake charges no shipping or tax.
    pub fn current_total_cents(&self) -> i64 {
        self.lines
            .iter()
            .map(|line| line.unit_price_cents * self.current_quantity(line))
            .sum()
    }

    /// What the order cost when placed (`totalPriceSet`, `total_price`), in cents.
    pub fn total_cents(&self) -> i64 {
        self.lines
            .iter()
            .map(|line| line.unit_price_cents * line.quantity)
            .sum()
    }
}

/// The fake shop's data.
#[derive(Debug)]
pub struct ShopState {
    next_id: u64,
    next_number: u64,
    pub location_id: u64,
    pub variants: BTreeMap<u64, Variant>,
    pub orders: BTreeMap<u64, Order>,
}

/// Shopify stamps times to the second.
pub fn now_seconds() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

impl ShopState {
    pub fn new(location_id: u64) -> Self {
        Self {
            next_id: 1_000_000,
            next_number: 1001,
            location_id,
            variants: BTreeMap::new(),
            orders: BTreeMap::new(),
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_variant(&mut self, sku: &str, available: Option<i64>) -> u64 {
        let id = self.next_id();
        let inventory_item_id = self.next_id();
        let product_id = self.next_id();
        self.variants.insert(
            id,
            Variant {
                id,
                sku: sku.to_string(),
                inventory_item_id,
                product_id,
                available,
            },
        );
        id
    }

    pub fn variant_by_item(&self, item_id: u64) -> Option<&Variant> {
        self.variants
            .values()
            .find(|variant| variant.inventory_item_id == item_id)
    }

    pub fn variant_by_item_mut(&mut self, item_id: u64) -> Option<&mut Variant> {
        self.variants
            .values_mut()
            .find(|variant| variant.inventory_item_id == item_id)
    }

    /// Places an order stamped `at`; commits stock like Shopify.
    pub fn place_order(&mut self, lines: &[(u64, i64)], at: DateTime<Utc>) -> Result<u64, String> {
        let mut order_lines = Vec::with_capacity(lines.len());
        for (variant_id, quantity) in lines {
            let variant = self
                .variants
                .get(variant_id)
                .ok_or_else(|| format!("no variant {variant_id}"))?;
            let sku = variant.sku.clone();
            let line_id = self.next_id();
            order_lines.push(Line {
                id: line_id,
                variant_id: *variant_id,
                unit_price_cents: unit_price_cents(&sku),
                sku,
                quantity: *quantity,
                removed: 0,
            });
        }
        for (variant_id, quantity) in lines {
            if let Some(variant) = self.variants.get_mut(variant_id) {
                variant.available = variant.available.map(|available| available - quantity);
            }
        }
        let id = self.next_id();
        let number = self.next_number;
        self.next_number += 1;
        self.orders.insert(
            id,
            Order {
                id,
                number,
                created_at: at,
                updated_at: at,
                cancelled_at: None,
                financial_status: "PAID",
                currency: "EUR",
                lines: order_lines,
                fulfillments: Vec::new(),
                refunds: Vec::new(),
            },
        );
        Ok(id)
    }

    /// Cancels with restock and a refund of what was not shipped (Shopify's default).
    pub fn cancel_order(&mut self, order_id: u64, at: DateTime<Utc>) -> Result<(), String> {
        let refund_id = self.next_id();
        let order = self
            .orders
            .get(&order_id)
            .ok_or_else(|| format!("no order {order_id}"))?
            .clone();
        let restock: Vec<(u64, u64, i64)> = order
            .lines
            .iter()
            .map(|line| (line.id, line.variant_id, order.unfulfilled_quantity(line)))
            .filter(|(_, _, units)| *units > 0)
            .collect();
        for (_, variant_id, units) in &restock {
            if let Some(variant) = self.variants.get_mut(variant_id) {
                variant.available = variant.available.map(|available| available + units);
            }
        }
        let order = self
            .orders
            .get_mut(&order_id)
            .ok_or_else(|| format!("no order {order_id}"))?;
        if !restock.is_empty() {
            order.refunds.push(Refund {
                id: refund_id,
                created_at: at,
                lines: restock
                    .iter()
                    .map(|(line_id, _, units)| (*line_id, *units, "CANCEL"))
                    .collect(),
            });
        }
        order.cancelled_at = Some(at);
        order.financial_status = "REFUNDED";
        order.updated_at = at;
        Ok(())
    }

    /// Ships `units` of a line.
    pub fn fulfill(
        &mut self,
        order_id: u64,
        line_id: u64,
        units: i64,
        at: DateTime<Utc>,
    ) -> Result<(), String> {
        self.fulfill_lines(order_id, &[(line_id, units)], at)
    }

    /// Ships `(line, units)` of several lines in one fulfillment.
    pub fn fulfill_lines(
        &mut self,
        order_id: u64,
        lines: &[(u64, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), String> {
        let fulfillment_id = self.next_id();
        let order = self
            .orders
            .get_mut(&order_id)
            .ok_or_else(|| format!("no order {order_id}"))?;
        for (line_id, _) in lines {
            order
                .line(*line_id)
                .ok_or_else(|| format!("no line {line_id}"))?;
        }
        order.fulfillments.push(Fulfillment {
            id: fulfillment_id,
            status: "SUCCESS",
            lines: lines.to_vec(),
        });
        order.updated_at = at;
        Ok(())
    }

    /// Refunds `units` of a line with a restock type (`RETURN`, `CANCEL`, `NO_RESTOCK`).
    pub fn refund(
        &mut self,
        order_id: u64,
        line_id: u64,
        units: i64,
        restock: &'static str,
        at: DateTime<Utc>,
    ) -> Result<(), String> {
        self.refund_lines(order_id, &[(line_id, units)], restock, at)
    }

    /// Refunds `(line, units)` of several lines in one refund, with one restock type.
    pub fn refund_lines(
        &mut self,
        order_id: u64,
        lines: &[(u64, i64)],
        restock: &'static str,
        at: DateTime<Utc>,
    ) -> Result<(), String> {
        let refund_id = self.next_id();
        let order = self
            .orders
            .get_mut(&order_id)
            .ok_or_else(|| format!("no order {order_id}"))?;
        let mut restocked = Vec::with_capacity(lines.len());
        for (line_id, units) in lines {
            let variant_id = order
                .line(*line_id)
                .ok_or_else(|| format!("no line {line_id}"))?
                .variant_id;
            restocked.push((variant_id, *units));
        }
        order.refunds.push(Refund {
            id: refund_id,
            created_at: at,
            lines: lines
                .iter()
                .map(|(line_id, units)| (*line_id, *units, restock))
                .collect(),
        });
        order.financial_status = "PARTIALLY_REFUNDED";
        order.updated_at = at;
        // Shopify restocks what a refund says it restocks (LEGACY_RESTOCK included).
        if matches!(restock, "RETURN" | "CANCEL" | "LEGACY_RESTOCK") {
            for (variant_id, units) in restocked {
                if let Some(variant) = self.variants.get_mut(&variant_id) {
                    variant.available = variant.available.map(|available| available + units);
                }
            }
        }
        Ok(())
    }
}
