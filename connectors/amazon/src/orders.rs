//! Orders v0 as Amazon sends them (`getOrders` orders, `getOrderItems` items) and their mapping
//! to the normalized [`OrderEvent`].
//!
//! Status mapping, the same lifecycle as the other connectors: `PendingAvailability`,
//! `Pending`, `Unshipped`, `PartiallyShipped` and `InvoiceUnconfirmed` are open (Amazon
//! already counts a pending order against the listing's quantity, so it holds stock here too);
//! `Shipped` is fulfilled; `Canceled` and `Unfulfillable` are cancelled. Shipped units come
//! from each item's `QuantityShipped`.
//!
//! Fulfillment: only merchant-fulfilled (`MFN`) orders move the ledger's stock. An
//! Amazon-fulfilled (`AFN`, FBA) order is recorded with its lines but without listing or SKU,
//! so the ledger keeps it as unresolved lines that book nothing: FBA stock lives in Amazon's
//! warehouses, not in the merchant's.
//!
//! Money: the order's `OrderTotal` is its total and gives the currency; a line's unit price is
//! its `ItemPrice` (the price of all the units ordered) divided by `QuantityOrdered`, left
//! unknown when it does not divide exactly. Amounts become minor units exactly, never floats.

use chrono::{DateTime, Utc};
use omnistock_connector::money::minor_units;
use omnistock_connector::{OrderEvent, OrderLine, OrderStatus};
use serde::{Deserialize, Serialize};

/// The fulfillment channel of a merchant-fulfilled order.
pub const MERCHANT_FULFILLED: &str = "MFN";
/// The fulfillment channel of an order fulfilled by Amazon (FBA).
pub const AMAZON_FULFILLED: &str = "AFN";

/// A money amount (`Money` in Orders v0: a decimal string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Money {
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub amount: Option<String>,
}

/// The fields of an Orders v0 `Order` omnistock uses (kept in the polling cursor while the
/// order's items are fetched, so its field names stay Amazon's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Order {
    pub amazon_order_id: String,
    pub purchase_date: String,
    pub last_update_date: String,
    pub order_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_total: Option<Money>,
}

impl Order {
    /// `LastUpdateDate`; an unparsable date sorts first and is never lost (it is not
    /// remembered as seen at a wrong instant either).
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        parse_instant(&self.last_update_date)
    }

    pub fn is_amazon_fulfilled(&self) -> bool {
        self.fulfillment_channel.as_deref() == Some(AMAZON_FULFILLED)
    }
}

/// The fields of an Orders v0 `OrderItem` omnistock uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderItem {
    #[serde(rename = "OrderItemId")]
    pub order_item_id: String,
    #[serde(rename = "SellerSKU", default)]
    pub seller_sku: Option<String>,
    #[serde(rename = "QuantityOrdered")]
    pub quantity_ordered: i64,
    #[serde(rename = "QuantityShipped", default)]
    pub quantity_shipped: Option<i64>,
    #[serde(rename = "ItemPrice", default)]
    pub item_price: Option<Money>,
}

/// `payload` of `getOrders`.
#[derive(Debug, Clone, Deserialize)]
pub struct OrdersList {
    #[serde(rename = "Orders")]
    pub orders: Vec<Order>,
    #[serde(rename = "NextToken", default)]
    pub next_token: Option<String>,
}

/// `payload` of `getOrderItems`.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderItemsList {
    #[serde(rename = "OrderItems")]
    pub order_items: Vec<OrderItem>,
    #[serde(rename = "NextToken", default)]
    pub next_token: Option<String>,
}

/// An ISO 8601 instant as Amazon writes them (`2026-12-06T21:35:29Z`, offsets allowed).
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|instant| instant.with_timezone(&Utc))
}

/// An instant in the form Amazon's date parameters take, to the second.
pub fn format_instant(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The order-wide status on the ledger's lifecycle; `None` for a status Amazon may add later.
pub fn map_status(status: &str) -> Option<OrderStatus> {
    match status {
        "PendingAvailability"
        | "Pending"
        | "Unshipped"
        | "PartiallyShipped"
        | "InvoiceUnconfirmed" => Some(OrderStatus::Open),
        "Shipped" => Some(OrderStatus::Fulfilled),
        "Canceled" | "Unfulfillable" => Some(OrderStatus::Cancelled),
        _ => None,
    }
}

/// A `Money` in minor units of its currency, with that currency; `None` when either is
/// missing or the amount is not exact in the currency's minor unit.
fn money_minor(money: &Money) -> Option<(i64, &str)> {
    let currency = money.currency_code.as_deref()?;
    Some((minor_units(money.amount.as_deref()?, currency)?, currency))
}

/// The unit price of an item: `ItemPrice` is the price of the whole `QuantityOrdered`, so
/// it is divided by the quantity. When it does not divide into whole minor units (a
/// promotion spread over the units, say) the unit price is left unknown rather than rounded:
/// the order's total still carries what the buyer pays.
fn unit_price_minor(item: &OrderItem, ordered: i64) -> Option<i64> {
    let (price, _) = money_minor(item.item_price.as_ref()?)?;
    (ordered > 0 && price % ordered == 0).then(|| price / ordered)
}

/// Why an order cannot be turned into an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("order {order}: unknown OrderStatus {status:?}")]
    UnknownStatus { order: String, status: String },
    #[error("order {order}: unparsable {field} {value:?}")]
    BadDate {
        order: String,
        field: &'static str,
        value: String,
    },
}

/// The order's state as one event.
pub fn to_event(order: &Order, items: &[OrderItem]) -> Result<OrderEvent, MappingError> {
    let status = map_status(&order.order_status).ok_or_else(|| MappingError::UnknownStatus {
        order: order.amazon_order_id.clone(),
        status: order.order_status.clone(),
    })?;
    let updated_at = order.updated_at().ok_or_else(|| MappingError::BadDate {
        order: order.amazon_order_id.clone(),
        field: "LastUpdateDate",
        value: order.last_update_date.clone(),
    })?;
    let amazon_fulfilled = order.is_amazon_fulfilled();
    let currency = order
        .order_total
        .as_ref()
        .and_then(|total| total.currency_code.clone())
        .or_else(|| {
            items
                .iter()
                .find_map(|item| item.item_price.as_ref()?.currency_code.clone())
        });
    let total_minor = order
        .order_total
        .as_ref()
        .and_then(money_minor)
        .map(|(total, _)| total);
    let lines = items
        .iter()
        .map(|item| {
            let ordered = item.quantity_ordered.max(0);
            let shipped = match (status, item.quantity_shipped) {
                (_, Some(shipped)) => shipped.clamp(0, ordered),
                // A shipped order whose item does not say how much shipped shipped it all.
                (OrderStatus::Fulfilled, None) => ordered,
                (_, None) => 0,
            };
            let cancelled = match status {
                OrderStatus::Cancelled => ordered - shipped,
                OrderStatus::Open | OrderStatus::Fulfilled => 0,
            };
            let unit_price_minor = unit_price_minor(item, ordered);
            let sku = (!amazon_fulfilled)
                .then(|| item.seller_sku.clone())
                .flatten();
            OrderLine {
                line_id: item.order_item_id.clone(),
                listing_id: sku.clone(),
                sku,
                quantity: ordered,
                cancelled_quantity: cancelled,
                fulfilled_quantity: shipped,
                returned_quantity: 0,
                unit_price_minor,
            }
        })
        .collect();
    Ok(OrderEvent {
        external_order_id: order.amazon_order_id.clone(),
        delivery_id: None,
        status,
        updated_at,
        created_at: parse_instant(&order.purchase_date),
        currency,
        total_minor,
        location: None,
        lines,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn order(status: &str, channel: &str) -> Order {
        Order {
            amazon_order_id: "902-3159896-1390916".into(),
            purchase_date: "2026-12-01T10:00:00Z".into(),
            last_update_date: "2026-12-01T11:00:00Z".into(),
            order_status: status.into(),
            fulfillment_channel: Some(channel.into()),
            order_total: Some(Money {
                currency_code: Some("EUR".into()),
                amount: Some("39.98".into()),
            }),
        }
    }

    fn item(ordered: i64, shipped: Option<i64>) -> OrderItem {
        OrderItem {
            order_item_id: "52986411826454".into(),
            seller_sku: Some("SKU-1".into()),
            quantity_ordered: ordered,
            quantity_shipped: shipped,
            item_price: Some(Money {
                currency_code: Some("EUR".into()),
                amount: Some("39.98".into()),
            }),
        }
    }

    #[test]
    fn merchant_orders_map_onto_the_lifecycle() {
        let event = to_event(&order("Unshipped", "MFN"), &[item(2, Some(0))]).unwrap();
        assert_eq!(event.status, OrderStatus::Open);
        assert_eq!(event.lines[0].sku.as_deref(), Some("SKU-1"));
        assert_eq!(event.lines[0].listing_id.as_deref(), Some("SKU-1"));
        assert_eq!(event.lines[0].unit_price_minor, Some(1999));
        assert_eq!(event.currency.as_deref(), Some("EUR"));
        let partly = to_event(&order("PartiallyShipped", "MFN"), &[item(2, Some(1))]).unwrap();
        assert_eq!(partly.lines[0].target_state(partly.status).open, 1);
        let shipped = to_event(&order("Shipped", "MFN"), &[item(2, None)]).unwrap();
        assert_eq!(shipped.status, OrderStatus::Fulfilled);
        assert_eq!(shipped.lines[0].fulfilled_quantity, 2);
        let cancelled = to_event(&order("Canceled", "MFN"), &[item(2, Some(0))]).unwrap();
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        assert_eq!(cancelled.lines[0].cancelled_quantity, 2);
        assert!(to_event(&order("Teleported", "MFN"), &[]).is_err());
    }

    #[test]
    fn amazon_fulfilled_lines_name_no_listing() {
        let event = to_event(&order("Shipped", "AFN"), &[item(1, Some(1))]).unwrap();
        assert_eq!(event.lines[0].sku, None);
        assert_eq!(event.lines[0].listing_id, None);
        assert_eq!(event.lines[0].quantity, 1);
    }

    #[test]
    fn money_in_minor_units_of_the_currency() {
        let event = to_event(&order("Unshipped", "MFN"), &[item(2, Some(0))]).unwrap();
        assert_eq!(event.total_minor, Some(3998));
        assert_eq!(event.currency.as_deref(), Some("EUR"));
        let mut yen = order("Unshipped", "MFN");
        yen.order_total = Some(Money {
            currency_code: Some("JPY".into()),
            amount: Some("1500".into()),
        });
        assert_eq!(to_event(&yen, &[]).unwrap().total_minor, Some(1500));
        yen.order_total = Some(Money {
            currency_code: None,
            amount: Some("1500".into()),
        });
        assert_eq!(to_event(&yen, &[]).unwrap().total_minor, None);
    }

    #[test]
    fn an_item_price_that_does_not_divide_leaves_the_unit_price_unknown() {
        let mut three = item(3, Some(0));
        three.item_price = Some(Money {
            currency_code: Some("EUR".into()),
            amount: Some("10.00".into()),
        });
        let event = to_event(&order("Unshipped", "MFN"), &[three.clone()]).unwrap();
        assert_eq!(event.lines[0].unit_price_minor, None);
        three.item_price = Some(Money {
            currency_code: Some("EUR".into()),
            amount: Some("10.50".into()),
        });
        let event = to_event(&order("Unshipped", "MFN"), &[three]).unwrap();
        assert_eq!(event.lines[0].unit_price_minor, Some(350));
        let none = to_event(&order("Unshipped", "MFN"), &[item(0, Some(0))]).unwrap();
        assert_eq!(none.lines[0].unit_price_minor, None);
    }
}
