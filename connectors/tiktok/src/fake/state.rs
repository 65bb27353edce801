//! The fake shop's data: products (title, status, creation time) with SKUs stocked per
//! warehouse, and orders with one line
//! item per unit.

use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const DEFAULT_WAREHOUSE: &str = "7068517275539719942";
pub const CURRENCY: &str = "USD";

#[derive(Debug, Clone)]
pub struct Sku {
    pub seller_sku: String,
    pub warehouses: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default)]
pub struct Product {
    pub title: String,
    /// `ACTIVATE`, `DRAFT`, `DELETED` …
    pub status: String,
    /// When the product was created (Unix seconds).
    pub create_time: i64,
    pub skus: BTreeMap<String, Sku>,
}

impl Product {
    /// The product as Search Products lists it.
    pub fn to_search_json(&self, id: &str) -> Value {
        json!({
            "id": id,
            "title": self.title,
            "status": self.status,
            "create_time": self.create_time,
            "update_time": self.create_time,
            "sales_regions": ["US"],
            "skus": self.skus.iter().map(|(sku_id, sku)| json!({
                "id": sku_id,
                "seller_sku": sku.seller_sku,
                "price": { "currency": CURRENCY, "tax_exclusive_price": "9.99", "sale_price": "9.99" },
                "inventory": sku.warehouses.iter().map(|(warehouse_id, quantity)| json!({
                    "warehouse_id": warehouse_id, "quantity": quantity,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct LineItem {
    pub id: String,
    pub product_id: String,
    pub sku_id: String,
    pub seller_sku: String,
    pub display_status: String,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: String,
    pub status: String,
    pub create_time: i64,
    pub update_time: i64,
    /// Placement order, to sort orders sharing a second as TikTok would list them.
    pub sequence: u64,
    /// The seller warehouse the order ships from (`warehouse_id`, order level as documented).
    pub warehouse_id: String,
    pub line_items: Vec<LineItem>,
}

impl Order {
    /// What the buyer pays (`payment.total_amount`, in cents): the sale prices of the line
    /// items not cancelled; the fake charges no shipping or tax.
    pub fn total_cents(&self) -> i64 {
        self.line_items
            .iter()
            .filter(|item| item.display_status != "CANCELLED")
            .map(|item| sale_price_cents(&item.sku_id))
            .sum()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "create_time": self.create_time,
            "update_time": self.update_time,
            "warehouse_id": self.warehouse_id,
            "payment": {
                "currency": CURRENCY,
                "total_amount": decimal(self.total_cents()),
            },
            "line_items": self.line_items.iter().map(|item| json!({
                "id": item.id,
                "sku_id": item.sku_id,
                "product_id": item.product_id,
                "seller_sku": item.seller_sku,
                "display_status": item.display_status,
                "sale_price": decimal(sale_price_cents(&item.sku_id)),
                "currency": CURRENCY,
                "package_status": package_status(&item.display_status),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The fake's price of one unit of a SKU, in cents: 9.99 to 18.99 by the SKU id, so that
/// lines of different SKUs have different prices.
pub fn sale_price_cents(sku_id: &str) -> i64 {
    let spread: i64 = sku_id.bytes().map(i64::from).sum::<i64>() % 10;
    999 + 100 * spread
}

/// Cents as TikTok writes an amount: "12.34".
fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn package_status(display_status: &str) -> &'static str {
    match display_status {
        "AWAITING_COLLECTION" => "PROCESSING",
        "IN_TRANSIT" => "FULFILLING",
        "DELIVERED" | "COMPLETED" => "COMPLETED",
        "CANCELLED" => "CANCELLED",
        _ => "TO_FULFILL",
    }
}

/// A return or refund request of some line items of an order.
#[derive(Debug, Clone)]
pub struct Return {
    pub id: String,
    pub order_id: String,
    pub return_type: String,
    pub return_status: String,
    pub create_time: i64,
    pub update_time: i64,
    /// `(order line item id, SKU id, seller SKU)`.
    pub line_items: Vec<(String, String, String)>,
}

impl Return {
    pub fn to_json(&self) -> Value {
        json!({
            "order_id": self.order_id,
            "return_id": self.id,
            "return_type": self.return_type,
            "return_status": self.return_status,
            "role": "BUYER",
            "create_time": self.create_time,
            "update_time": self.update_time,
            "return_line_items": self.line_items.iter().enumerate().map(|(index, (line_item_id, sku_id, seller_sku))| json!({
                "return_line_item_id": format!("{}{index}", self.id),
                "order_line_item_id": line_item_id,
                "sku_id": sku_id,
                "seller_sku": seller_sku,
            })).collect::<Vec<_>>(),
        })
    }
}

#[derive(Debug, Default)]
pub struct Shop {
    pub products: BTreeMap<String, Product>,
    pub orders: BTreeMap<String, Order>,
    pub returns: Vec<Return>,
    /// Warehouses the seller disabled: an update changing their quantity is refused
    /// (12052531, "The warehouse is disabled.").
    pub disabled_warehouses: Vec<String>,
    next_id: u64,
}

impl Shop {
    /// A fresh 19-digit id, as TikTok's look.
    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}", 1_729_000_000_000_000_000_u64 + self.next_id)
    }

    pub fn sequence(&self) -> u64 {
        self.next_id
    }

    pub fn sku(&self, product_id: &str, sku_id: &str) -> Option<&Sku> {
        self.products.get(product_id)?.skus.get(sku_id)
    }

    /// The product holding `sku_id`.
    pub fn product_of(&self, sku_id: &str) -> Option<&str> {
        self.products
            .iter()
            .find(|(_, product)| product.skus.contains_key(sku_id))
            .map(|(id, _)| id.as_str())
    }
}
