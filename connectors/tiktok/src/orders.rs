//! Orders: Get Order List (search by update time) and Get Order Detail, mapped onto the
//! ledger's lifecycle.
//!
//! TikTok lists one line item per unit sold, each with its own status; omnistock books one
//! line per SKU (its id is the listing id), counting the units ordered, cancelled and shipped.
//! Status mapping: UNPAID, ON_HOLD, AWAITING_SHIPMENT,
//! PARTIALLY_SHIPPING and AWAITING_COLLECTION hold stock (open; under PARTIALLY_SHIPPING a line
//! item already IN_TRANSIT or later counts as shipped); IN_TRANSIT, DELIVERED and COMPLETED are
//! shipped (fulfilled); CANCELLED releases what has not shipped. A line item CANCELLED on its
//! own is cancelled whatever the order's status.
//!
//! Warehouses: an order carries the `warehouse_id` it ships from (Get Order Detail and Get
//! Order List, order level; line items carry none). With `warehouses` mapped, its lines name
//! the SKU's listing in that warehouse (`{product_id}:{sku_id}:{warehouse_id}`) and the event
//! the warehouse's ledger location (see `connector.rs`); the line id stays `{product_id}:{sku_id}`
//! so that a line keeps its id whatever TikTok says of the warehouse.

use crate::listing::ListingId;
use chrono::{DateTime, TimeZone, Utc};
use omnistock_connector::{money, OrderEvent, OrderLine, OrderStatus};
use serde::Deserialize;

pub const ORDER_SEARCH_PATH: &str = "/order/202309/orders/search";
pub const ORDER_DETAIL_PATH: &str = "/order/202507/orders";
/// The APIs of this module, for pacing.
pub const APIS: &[&str] = &[ORDER_SEARCH_PATH, ORDER_DETAIL_PATH];
/// Get Order Detail: `ids`, "Max count: 50".
pub const MAX_DETAIL_IDS: usize = 50;

#[derive(Debug, Deserialize)]
pub struct SearchData {
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub total_count: Option<i64>,
    #[serde(default)]
    pub orders: Vec<TikTokOrder>,
}

#[derive(Debug, Deserialize)]
pub struct DetailData {
    #[serde(default)]
    pub orders: Vec<TikTokOrder>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TikTokOrder {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub create_time: Option<i64>,
    pub update_time: i64,
    /// The seller warehouse the order ships from.
    #[serde(default)]
    pub warehouse_id: Option<String>,
    #[serde(default)]
    pub payment: Option<Payment>,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Payment {
    #[serde(default)]
    pub currency: Option<String>,
    /// What the buyer pays: `sub_total + shipping_fee + taxes + retail_delivery_fee`.
    #[serde(default)]
    pub total_amount: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LineItem {
    pub id: String,
    pub sku_id: String,
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default)]
    pub seller_sku: Option<String>,
    #[serde(default)]
    pub display_status: Option<String>,
    #[serde(default)]
    pub sale_price: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// The ledger status of a TikTok order status; `None` for a status TikTok has not documented.
pub fn order_status(status: &str) -> Option<OrderStatus> {
    match status {
        "UNPAID"
        | "ON_HOLD"
        | "AWAITING_SHIPMENT"
        | "PARTIALLY_SHIPPING"
        | "AWAITING_COLLECTION" => Some(OrderStatus::Open),
        "IN_TRANSIT" | "DELIVERED" | "COMPLETED" => Some(OrderStatus::Fulfilled),
        "CANCELLED" | "CANCEL" => Some(OrderStatus::Cancelled),
        _ => None,
    }
}

fn line_shipped(display_status: Option<&str>) -> bool {
    matches!(
        display_status,
        Some("IN_TRANSIT" | "DELIVERED" | "COMPLETED")
    )
}

fn line_cancelled(display_status: Option<&str>) -> bool {
    matches!(display_status, Some("CANCELLED" | "CANCEL"))
}

/// Minor units of a decimal amount in `currency`. TikTok Shop writes IDR (like VND) without
/// decimals, so IDR counts whole rupiah here; every other code goes by ISO 4217.
pub fn minor_units(amount: &str, currency: Option<&str>) -> Option<i64> {
    let exponent = match currency {
        Some("IDR") => 0,
        Some(code) => money::iso_exponent(code),
        None => 2,
    };
    money::decimal_to_minor(amount, exponent)
}

fn instant(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl TikTokOrder {
    /// The order's snapshot; `None` (logged by the caller) for an undocumented status. With
    /// `per_warehouse`, lines name the SKU's listing in the order's warehouse; `location` is the
    /// ledger location the order ships from, when known.
    pub fn into_event(
        self,
        delivery_id: Option<String>,
        per_warehouse: bool,
        location: Option<String>,
    ) -> Option<OrderEvent> {
        let status = order_status(&self.status)?;
        let currency = self
            .payment
            .as_ref()
            .and_then(|payment| payment.currency.clone());
        let total_minor = self
            .payment
            .as_ref()
            .and_then(|payment| payment.total_amount.as_deref())
            .and_then(|amount| minor_units(amount, currency.as_deref()));
        // One order line per SKU: TikTok lists a line item per unit, each with its status.
        let mut lines: Vec<OrderLine> = Vec::new();
        for item in &self.line_items {
            let display = item.display_status.as_deref();
            let cancelled = line_cancelled(display)
                || status == OrderStatus::Cancelled && !line_shipped(display);
            let shipped = !cancelled && (status == OrderStatus::Fulfilled || line_shipped(display));
            let sku_listing = item
                .product_id
                .as_ref()
                .map(|product_id| ListingId::new(product_id.clone(), item.sku_id.clone()));
            let line_id = sku_listing
                .as_ref()
                .map(ListingId::encode)
                .unwrap_or_else(|| item.sku_id.clone());
            let listing_id = sku_listing.map(|listing| match &self.warehouse_id {
                Some(warehouse_id) if per_warehouse => ListingId {
                    warehouse_id: Some(warehouse_id.clone()),
                    ..listing
                }
                .encode(),
                _ => listing.encode(),
            });
            let position = match lines.iter().position(|line| line.line_id == line_id) {
                Some(position) => position,
                None => {
                    let item_currency = item.currency.as_deref().or(currency.as_deref());
                    lines.push(OrderLine {
                        line_id,
                        listing_id,
                        sku: item.seller_sku.clone().filter(|sku| !sku.is_empty()),
                        quantity: 0,
                        cancelled_quantity: 0,
                        fulfilled_quantity: 0,
                        returned_quantity: 0,
                        unit_price_minor: item
                            .sale_price
                            .as_deref()
                            .and_then(|price| minor_units(price, item_currency)),
                    });
                    lines.len() - 1
                }
            };
            let line = &mut lines[position];
            line.quantity += 1;
            line.cancelled_quantity += i64::from(cancelled);
            line.fulfilled_quantity += i64::from(shipped);
        }
        Some(OrderEvent {
            external_order_id: self.id,
            delivery_id,
            status,
            updated_at: instant(self.update_time),
            created_at: self.create_time.map(instant),
            currency,
            total_minor,
            location,
            lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: &str, items: &[(&str, &str)]) -> TikTokOrder {
        TikTokOrder {
            id: "576461413038785752".into(),
            status: status.into(),
            create_time: Some(1_619_611_561),
            update_time: 1_619_621_355,
            warehouse_id: Some("6955005333819123123".into()),
            payment: Some(Payment {
                currency: Some("IDR".into()),
                total_amount: Some("15000".into()),
            }),
            line_items: items
                .iter()
                .map(|(id, display)| LineItem {
                    id: (*id).into(),
                    sku_id: "2729382476852921560".into(),
                    product_id: Some("1729582718312380123".into()),
                    seller_sku: Some("red_iphone_256".into()),
                    display_status: Some((*display).into()),
                    sale_price: Some("5000".into()),
                    currency: None,
                })
                .collect(),
        }
    }

    #[test]
    fn every_documented_status_maps() {
        for status in [
            "UNPAID",
            "ON_HOLD",
            "AWAITING_SHIPMENT",
            "PARTIALLY_SHIPPING",
            "AWAITING_COLLECTION",
        ] {
            assert_eq!(order_status(status), Some(OrderStatus::Open), "{status}");
        }
        for status in ["IN_TRANSIT", "DELIVERED", "COMPLETED"] {
            assert_eq!(
                order_status(status),
                Some(OrderStatus::Fulfilled),
                "{status}"
            );
        }
        assert_eq!(order_status("CANCELLED"), Some(OrderStatus::Cancelled));
        assert_eq!(order_status("SOMETHING_NEW"), None);
    }

    #[test]
    fn partially_shipping_ships_unit_by_unit() {
        let event = order(
            "PARTIALLY_SHIPPING",
            &[
                ("1", "IN_TRANSIT"),
                ("2", "AWAITING_SHIPMENT"),
                ("3", "CANCELLED"),
            ],
        )
        .into_event(None, false, None)
        .unwrap_or_else(|| panic!("documented status"));
        assert_eq!(event.lines.len(), 1);
        let line = &event.lines[0];
        assert_eq!(
            (
                line.quantity,
                line.fulfilled_quantity,
                line.cancelled_quantity
            ),
            (3, 1, 1)
        );
        let state = line.target_state(event.status);
        assert_eq!((state.open, state.committed), (1, 1));
        assert_eq!(
            line.listing_id.as_deref(),
            Some("1729582718312380123:2729382476852921560")
        );
        assert_eq!(line.line_id, "1729582718312380123:2729382476852921560");
        assert_eq!(line.unit_price_minor, Some(5000));
        assert_eq!(event.total_minor, Some(15000));
        assert_eq!(event.currency.as_deref(), Some("IDR"));
    }

    #[test]
    fn per_warehouse_lines_name_the_listing_in_the_orders_warehouse() {
        let event = order("AWAITING_SHIPMENT", &[("1", "AWAITING_SHIPMENT")])
            .into_event(None, true, Some("east".into()))
            .unwrap_or_else(|| panic!("documented status"));
        let line = &event.lines[0];
        assert_eq!(
            line.listing_id.as_deref(),
            Some("1729582718312380123:2729382476852921560:6955005333819123123")
        );
        assert_eq!(line.line_id, "1729582718312380123:2729382476852921560");
        assert_eq!(event.location.as_deref(), Some("east"));
    }

    #[test]
    fn a_cancelled_order_releases_and_a_shipped_order_commits() {
        let cancelled = order("CANCELLED", &[("1", "CANCELLED")])
            .into_event(None, false, None)
            .unwrap_or_else(|| panic!("status"));
        assert_eq!(cancelled.lines[0].target_state(cancelled.status).open, 0);
        let shipped = order("DELIVERED", &[("1", "AWAITING_COLLECTION")])
            .into_event(None, false, None)
            .unwrap_or_else(|| panic!("status"));
        assert_eq!(shipped.lines[0].target_state(shipped.status).committed, 1);
    }

    #[test]
    fn prices_become_minor_units_by_currency() {
        assert_eq!(minor_units("12.34", Some("USD")), Some(1234));
        assert_eq!(minor_units("12.3", Some("GBP")), Some(1230));
        assert_eq!(minor_units("5000", Some("VND")), Some(5000));
        assert_eq!(minor_units("0.01", Some("USD")), Some(1));
        assert_eq!(minor_units("1.005", Some("USD")), None);
    }
}
