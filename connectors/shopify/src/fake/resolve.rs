//! Answers to validated queries: a small object model the apollo-compiler executor walks,
//! built from the fake shop's state on demand.

use super::state::{decimal, Order, ShopState, Variant};
use crate::config::INVENTORY_REASONS;
use crate::gid::{gid, numeric_id};
use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::JsonValue;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// The most items one connection page may hold.
pub const MAX_PAGE: i64 = 250;

/// A field's value in the fake's object model.
#[derive(Clone)]
pub enum Val {
    Leaf(Value),
    Obj(Obj),
    /// A list; `first` (when the field takes it) cuts it.
    List(Vec<Val>),
    /// A connection over these nodes (cursor = position).
    Conn(Vec<Obj>),
    /// `quantities(names:)`: `(name, quantity)`.
    Quantities(String, Vec<(String, i64)>),
    /// `inventoryLevel(locationId:)`.
    ByLocation(BTreeMap<String, Obj>),
}

/// An object of a schema type.
#[derive(Clone)]
pub struct Obj {
    pub type_name: &'static str,
    pub fields: BTreeMap<&'static str, Val>,
}

impl Obj {
    pub fn new(type_name: &'static str) -> Self {
        Self {
            type_name,
            fields: BTreeMap::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: Val) -> Self {
        self.fields.insert(name, value);
        self
    }

    pub fn leaf(self, name: &'static str, value: Value) -> Self {
        self.with(name, Val::Leaf(value))
    }
}

fn to_json(value: &Value) -> JsonValue {
    serde_json::from_value(value.clone()).unwrap_or(JsonValue::Null)
}

fn argument(info: &ResolveInfo<'_>, name: &str) -> Option<Value> {
    let value = info.arguments().get(name)?;
    let value: Value = serde_json::to_value(value).ok()?;
    (!value.is_null()).then_some(value)
}

fn field_error(message: impl Into<String>) -> FieldError {
    FieldError {
        message: message.into(),
    }
}

fn encode_cursor(value: &Value) -> String {
    STANDARD.encode(value.to_string())
}

fn decode_cursor(cursor: &str) -> Option<Value> {
    let bytes = STANDARD.decode(cursor).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn page_info(
    has_next: bool,
    has_previous: bool,
    start: Option<String>,
    end: Option<String>,
) -> Obj {
    Obj::new("PageInfo")
        .leaf("hasNextPage", json!(has_next))
        .leaf("hasPreviousPage", json!(has_previous))
        .leaf("startCursor", json!(start))
        .leaf("endCursor", json!(end))
}

/// A connection object from nodes with their cursors.
fn connection(
    type_prefix: (&'static str, &'static str),
    nodes: Vec<(String, Obj)>,
    has_next: bool,
    has_previous: bool,
) -> Obj {
    let start = nodes.first().map(|(cursor, _)| cursor.clone());
    let end = nodes.last().map(|(cursor, _)| cursor.clone());
    let edges = nodes
        .iter()
        .map(|(cursor, node)| {
            Val::Obj(
                Obj::new(type_prefix.1)
                    .leaf("cursor", json!(cursor))
                    .with("node", Val::Obj(node.clone())),
            )
        })
        .collect();
    Obj::new(type_prefix.0)
        .with(
            "nodes",
            Val::List(nodes.into_iter().map(|(_, node)| Val::Obj(node)).collect()),
        )
        .with("edges", Val::List(edges))
        .with(
            "pageInfo",
            Val::Obj(page_info(has_next, has_previous, start, end)),
        )
}

fn page_size(info: &ResolveInfo<'_>) -> Result<usize, FieldError> {
    let first = argument(info, "first").and_then(|v| v.as_i64());
    let last = argument(info, "last").and_then(|v| v.as_i64());
    let size = match (first, last) {
        (Some(size), None) | (None, Some(size)) => size,
        (Some(_), Some(_)) => {
            return Err(field_error(
                "providing both `first` and `last` is not supported",
            ))
        }
        (None, None) => {
            return Err(field_error("you must provide one of first or last"));
        }
    };
    if !(0..=MAX_PAGE).contains(&size) {
        return Err(field_error(format!(
            "the page size must be between 0 and {MAX_PAGE}"
        )));
    }
    Ok(usize::try_from(size).unwrap_or(0))
}

/// Nested connections: cursors are positions.
fn nested_connection(
    info: &ResolveInfo<'_>,
    type_name: &str,
    nodes: &[Obj],
) -> Result<Obj, FieldError> {
    let size = page_size(info)?;
    let start = match argument(info, "after").as_ref().and_then(Value::as_str) {
        Some(cursor) => decode_cursor(cursor)
            .and_then(|v| v.get("position").and_then(Value::as_u64))
            .map(|position| position as usize + 1)
            .ok_or_else(|| field_error(format!("invalid cursor {cursor}")))?,
        None => 0,
    };
    let page: Vec<(String, Obj)> = nodes
        .iter()
        .enumerate()
        .skip(start)
        .take(size)
        .map(|(position, node)| {
            (
                encode_cursor(&json!({ "position": position })),
                node.clone(),
            )
        })
        .collect();
    let has_next = start + page.len() < nodes.len();
    let edge_name: &'static str = match type_name {
        "LineItem" => "LineItemEdge",
        "FulfillmentLineItem" => "FulfillmentLineItemEdge",
        "RefundLineItem" => "RefundLineItemEdge",
        _ => "Edge",
    };
    let connection_name: &'static str = match type_name {
        "LineItem" => "LineItemConnection",
        "FulfillmentLineItem" => "FulfillmentLineItemConnection",
        "RefundLineItem" => "RefundLineItemConnection",
        _ => "Connection",
    };
    Ok(connection(
        (connection_name, edge_name),
        page,
        has_next,
        start > 0,
    ))
}

impl ObjectValue for Obj {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let Some(value) = self.fields.get(info.field_name()) else {
            return Err(field_error(format!(
                "the fake shopify does not answer {}.{}",
                self.type_name,
                info.field_name()
            )));
        };
        resolve_val(value, info)
    }
}

fn resolve_val<'a>(
    value: &'a Val,
    info: &'a ResolveInfo<'a>,
) -> Result<ResolvedValue<'a>, FieldError> {
    Ok(match value {
        Val::Leaf(Value::Array(items)) => {
            ResolvedValue::list(items.iter().map(|item| ResolvedValue::leaf(to_json(item))))
        }
        Val::Leaf(leaf) => ResolvedValue::leaf(to_json(leaf)),
        Val::Obj(object) => ResolvedValue::object(object.clone()),
        Val::List(items) => {
            let limit = argument(info, "first")
                .and_then(|v| v.as_u64())
                .map_or(items.len(), |first| first as usize);
            ResolvedValue::List(Box::new(
                items
                    .iter()
                    .take(limit)
                    .map(move |item| resolve_val(item, info)),
            ))
        }
        Val::Conn(nodes) => {
            let type_name = nodes.first().map_or("LineItem", |node| node.type_name);
            let type_name = match info.field_name() {
                "lineItems" => "LineItem",
                "fulfillmentLineItems" => "FulfillmentLineItem",
                "refundLineItems" => "RefundLineItem",
                _ => type_name,
            };
            ResolvedValue::object(nested_connection(info, type_name, nodes)?)
        }
        Val::Quantities(level_gid, quantities) => {
            let names: BTreeSet<String> = argument(info, "names")
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            let objects: Vec<ResolvedValue<'a>> = quantities
                .iter()
                .filter(|(name, _)| names.contains(name))
                .map(|(name, quantity)| {
                    ResolvedValue::object(
                        Obj::new("InventoryQuantity")
                            .leaf("id", json!(format!("{level_gid}&name={name}")))
                            .leaf("name", json!(name))
                            .leaf("quantity", json!(quantity))
                            .leaf("updatedAt", Value::Null),
                    )
                })
                .collect();
            ResolvedValue::list(objects)
        }
        Val::ByLocation(levels) => {
            let location = argument(info, "locationId")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            ResolvedValue::nullable_object(levels.get(&location).cloned())
        }
    })
}

fn time(value: DateTime<Utc>) -> Value {
    json!(value.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// An inventory item; with its variant when asked from an item (not from a variant, to avoid
/// an endless tree).
pub fn item_obj(state: &ShopState, variant: &Variant, with_variant: bool) -> Obj {
    let item_gid = gid("InventoryItem", variant.inventory_item_id);
    let location_gid = gid("Location", state.location_id);
    let mut levels = BTreeMap::new();
    if let Some(available) = variant.available {
        let level_gid = format!(
            "gid://shopify/InventoryLevel/{}?inventory_item_id={}",
            state.location_id, variant.inventory_item_id
        );
        let level = Obj::new("InventoryLevel")
            .leaf("id", json!(level_gid))
            .with(
                "quantities",
                Val::Quantities(
                    level_gid.clone(),
                    vec![
                        ("available".into(), available),
                        ("on_hand".into(), available),
                        ("committed".into(), 0),
                    ],
                ),
            )
            .with(
                "location",
                Val::Obj(
                    Obj::new("Location")
                        .leaf("id", json!(location_gid))
                        .leaf("name", json!("Warehouse")),
                ),
            );
        levels.insert(location_gid, level);
    }
    let mut item = Obj::new("InventoryItem")
        .leaf("id", json!(item_gid))
        .leaf("sku", json!(variant.sku))
        .leaf("tracked", json!(true))
        .with("inventoryLevel", Val::ByLocation(levels));
    if with_variant {
        item = item.with("variant", Val::Obj(variant_obj(state, variant, false)));
    }
    item
}

/// The product title the fake gives a variant's product.
pub fn product_title(variant: &Variant) -> String {
    format!("Product {}", variant.sku)
}

pub fn variant_obj(state: &ShopState, variant: &Variant, with_item: bool) -> Obj {
    let product_title = product_title(variant);
    let mut object = Obj::new("ProductVariant")
        .leaf("id", json!(gid("ProductVariant", variant.id)))
        .leaf("sku", json!(variant.sku))
        .leaf("title", json!("Default Title"))
        .leaf(
            "displayName",
            json!(format!("{product_title} - Default Title")),
        )
        .with(
            "product",
            Val::Obj(
                Obj::new("Product")
                    .leaf("id", json!(gid("Product", variant.product_id)))
                    .leaf("title", json!(product_title)),
            ),
        );
    if with_item {
        object = object.with("inventoryItem", Val::Obj(item_obj(state, variant, false)));
    }
    object
}

fn line_obj(state: &ShopState, order: &Order, line: &super::state::Line) -> Obj {
    let variant = state
        .variants
        .get(&line.variant_id)
        .map(|variant| Val::Obj(variant_obj(state, variant, true)))
        .unwrap_or(Val::Leaf(Value::Null));
    let current = order.current_quantity(line);
    Obj::new("LineItem")
        .leaf("id", json!(gid("LineItem", line.id)))
        .leaf("quantity", json!(line.quantity))
        .leaf("currentQuantity", json!(current))
        .leaf(
            "unfulfilledQuantity",
            json!(order.unfulfilled_quantity(line)),
        )
        .leaf(
            "refundableQuantity",
            json!((line.quantity - order.refunded(line.id)).max(0)),
        )
        .leaf("sku", json!(line.sku))
        .with("variant", variant)
        .with(
            "originalUnitPriceSet",
            Val::Obj(money_bag(line.unit_price_cents, order.currency)),
        )
}

/// A `MoneyBag` of an amount in cents; the fake's buyers pay in the shop currency.
fn money_bag(cents: i64, currency: &str) -> Obj {
    let money = || {
        Val::Obj(
            Obj::new("MoneyV2")
                .leaf("amount", json!(decimal(cents)))
                .leaf("currencyCode", json!(currency)),
        )
    };
    Obj::new("MoneyBag")
        .with("shopMoney", money())
        .with("presentmentMoney", money())
}

pub fn order_obj(state: &ShopState, order: &Order) -> Obj {
    let line_by_id = |line_id: u64| {
        order
            .line(line_id)
            .map(|line| line_obj(state, order, line))
            .unwrap_or_else(|| Obj::new("LineItem"))
    };
    let fulfillments = order
        .fulfillments
        .iter()
        .map(|fulfillment| {
            let lines = fulfillment
                .lines
                .iter()
                .enumerate()
                .map(|(index, (line_id, units))| {
                    Obj::new("FulfillmentLineItem")
                        .leaf(
                            "id",
                            json!(gid(
                                "FulfillmentLineItem",
                                fulfillment.id * 100 + index as u64
                            )),
                        )
                        .leaf("quantity", json!(units))
                        .with("lineItem", Val::Obj(line_by_id(*line_id)))
                })
                .collect();
            Val::Obj(
                Obj::new("Fulfillment")
                    .leaf("id", json!(gid("Fulfillment", fulfillment.id)))
                    .leaf("status", json!(fulfillment.status))
                    .with("fulfillmentLineItems", Val::Conn(lines)),
            )
        })
        .collect();
    let refunds = order
        .refunds
        .iter()
        .map(|refund| {
            let lines = refund
                .lines
                .iter()
                .enumerate()
                .map(|(index, (line_id, units, restock))| {
                    Obj::new("RefundLineItem")
                        .leaf(
                            "id",
                            json!(gid("RefundLineItem", refund.id * 100 + index as u64)),
                        )
                        .leaf("quantity", json!(units))
                        .leaf("restockType", json!(restock))
                        .leaf("restocked", json!(*restock != "NO_RESTOCK"))
                        .with("lineItem", Val::Obj(line_by_id(*line_id)))
                })
                .collect();
            Val::Obj(
                Obj::new("Refund")
                    .leaf("id", json!(gid("Refund", refund.id)))
                    .leaf("createdAt", time(refund.created_at))
                    .with("refundLineItems", Val::Conn(lines)),
            )
        })
        .collect();
    Obj::new("Order")
        .leaf("id", json!(order.gid()))
        .leaf("legacyResourceId", json!(order.id.to_string()))
        .leaf("name", json!(format!("#{}", order.number)))
        .leaf("createdAt", time(order.created_at))
        .leaf("updatedAt", time(order.updated_at))
        .leaf("cancelledAt", order.cancelled_at.map_or(Value::Null, time))
        .leaf("closed", json!(false))
        .leaf("displayFinancialStatus", json!(order.financial_status))
        .leaf(
            "displayFulfillmentStatus",
            json!(order.display_fulfillment_status()),
        )
        .leaf("currencyCode", json!(order.currency))
        .with(
            "currentTotalPriceSet",
            Val::Obj(money_bag(order.current_total_cents(), order.currency)),
        )
        .with(
            "totalPriceSet",
            Val::Obj(money_bag(order.total_cents(), order.currency)),
        )
        .with(
            "lineItems",
            Val::Conn(
                order
                    .lines
                    .iter()
                    .map(|line| line_obj(state, order, line))
                    .collect(),
            ),
        )
        .with("fulfillments", Val::List(fulfillments))
        .with("refunds", Val::List(refunds))
}

/// One condition of an `orders` search query.
struct Condition {
    field: String,
    op: &'static str,
    value: DateTime<Utc>,
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim_matches(|c| c == '\'' || c == '"');
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
}

/// Parses the search syntax terms the fake understands (`updated_at:>='…'`, `created_at:<…`);
/// other terms are refused as a field error.
fn parse_search(query: &str) -> Result<Vec<Condition>, FieldError> {
    let mut conditions = Vec::new();
    for term in query.split_whitespace() {
        if term.eq_ignore_ascii_case("AND") {
            continue;
        }
        let (field, rest) = term.split_once(':').ok_or_else(|| {
            field_error(format!("the fake does not support the search term {term}"))
        })?;
        if !matches!(field, "updated_at" | "created_at" | "processed_at") {
            return Err(field_error(format!(
                "the fake does not support searching on {field}"
            )));
        }
        let (op, value) = [">=", "<=", ">", "<"]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|value| (*op, value)))
            .unwrap_or(("=", rest));
        let value = parse_time(value)
            .ok_or_else(|| field_error(format!("invalid date in search term {term}")))?;
        conditions.push(Condition {
            field: field.to_string(),
            op,
            value,
        });
    }
    Ok(conditions)
}

fn sort_value(order: &Order, key: &str) -> i64 {
    match key {
        "UPDATED_AT" => order.updated_at.timestamp_millis(),
        "CREATED_AT" | "PROCESSED_AT" => order.created_at.timestamp_millis(),
        _ => i64::try_from(order.id).unwrap_or(i64::MAX),
    }
}

/// The query root.
pub struct QueryRoot<'s> {
    pub state: &'s ShopState,
}

impl QueryRoot<'_> {
    fn orders(&self, info: &ResolveInfo<'_>) -> Result<Obj, FieldError> {
        let size = page_size(info)?;
        let sort_key = argument(info, "sortKey")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "PROCESSED_AT".into());
        let reverse = argument(info, "reverse").and_then(|v| v.as_bool()) == Some(true);
        let conditions = match argument(info, "query").as_ref().and_then(Value::as_str) {
            Some(query) => parse_search(query)?,
            None => Vec::new(),
        };
        let mut orders: Vec<&Order> = self
            .state
            .orders
            .values()
            .filter(|order| {
                conditions.iter().all(|condition| {
                    let at = match condition.field.as_str() {
                        "updated_at" => order.updated_at,
                        _ => order.created_at,
                    };
                    match condition.op {
                        ">=" => at >= condition.value,
                        ">" => at > condition.value,
                        "<=" => at <= condition.value,
                        "<" => at < condition.value,
                        _ => at == condition.value,
                    }
                })
            })
            .collect();
        let key = |order: &Order| (sort_value(order, &sort_key), order.id);
        orders.sort_by_key(|order| key(order));
        if reverse {
            orders.reverse();
        }
        let after = match argument(info, "after").as_ref().and_then(Value::as_str) {
            Some(cursor) => {
                let position = decode_cursor(cursor)
                    .and_then(|v| {
                        Some((v.get("last_value")?.as_i64()?, v.get("last_id")?.as_u64()?))
                    })
                    .ok_or_else(|| field_error(format!("invalid cursor {cursor}")))?;
                Some(position)
            }
            None => None,
        };
        let remaining: Vec<&Order> = orders
            .into_iter()
            .filter(|order| match after {
                Some(position) if reverse => key(order) < position,
                Some(position) => key(order) > position,
                None => true,
            })
            .collect();
        let has_next = remaining.len() > size;
        let page: Vec<(String, Obj)> = remaining
            .into_iter()
            .take(size)
            .map(|order| {
                let (value, id) = key(order);
                (
                    encode_cursor(&json!({ "last_id": id, "last_value": value })),
                    order_obj(self.state, order),
                )
            })
            .collect();
        Ok(connection(
            ("OrderConnection", "OrderEdge"),
            page,
            has_next,
            after.is_some(),
        ))
    }

    /// `productVariants`, by id only (the sort key the connector asks for), `after` a cursor
    /// holding the last id.
    fn product_variants(&self, info: &ResolveInfo<'_>) -> Result<Obj, FieldError> {
        let size = page_size(info)?;
        let sort_key = argument(info, "sortKey")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "ID".into());
        if sort_key != "ID" || argument(info, "query").is_some() {
            return Err(field_error(
                "the fake shopify lists productVariants by ID only, without a search query",
            ));
        }
        let after = match argument(info, "after").as_ref().and_then(Value::as_str) {
            Some(cursor) => Some(
                decode_cursor(cursor)
                    .and_then(|v| v.get("last_id")?.as_u64())
                    .ok_or_else(|| field_error(format!("invalid cursor {cursor}")))?,
            ),
            None => None,
        };
        let start = match after {
            Some(last) => std::ops::Bound::Excluded(last),
            None => std::ops::Bound::Unbounded,
        };
        let mut remaining = self
            .state
            .variants
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, variant)| variant);
        let page: Vec<(String, Obj)> = remaining
            .by_ref()
            .take(size)
            .map(|variant| {
                (
                    encode_cursor(&json!({ "last_id": variant.id })),
                    variant_obj(self.state, variant, true),
                )
            })
            .collect();
        let has_next = remaining.next().is_some();
        Ok(connection(
            ("ProductVariantConnection", "ProductVariantEdge"),
            page,
            has_next,
            after.is_some(),
        ))
    }

    fn node(&self, id: &str) -> Option<Obj> {
        if let Some(number) = numeric_id(id, "ProductVariant").and_then(|n| n.parse::<u64>().ok()) {
            let variant = self.state.variants.get(&number)?;
            return Some(variant_obj(self.state, variant, true));
        }
        if let Some(number) = numeric_id(id, "InventoryItem").and_then(|n| n.parse::<u64>().ok()) {
            let variant = self.state.variant_by_item(number)?;
            return Some(item_obj(self.state, variant, true));
        }
        if let Some(number) = numeric_id(id, "Order").and_then(|n| n.parse::<u64>().ok()) {
            let order = self.state.orders.get(&number)?;
            return Some(order_obj(self.state, order));
        }
        for (kind, list) in [("Fulfillment", "fulfillments"), ("Refund", "refunds")] {
            let Some(number) = numeric_id(id, kind).and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let order = self.state.orders.values().find(|order| match kind {
                "Fulfillment" => order.fulfillments.iter().any(|f| f.id == number),
                _ => order.refunds.iter().any(|r| r.id == number),
            })?;
            let Some(Val::List(items)) = order_obj(self.state, order).fields.remove(list) else {
                return None;
            };
            return items.into_iter().find_map(|item| match item {
                Val::Obj(object)
                    if matches!(object.fields.get("id"), Some(Val::Leaf(value)) if value == id) =>
                {
                    Some(object)
                }
                _ => None,
            });
        }
        None
    }
}

fn invalid_id(id: &str) -> FieldError {
    field_error(format!("Invalid global id '{id}'"))
}

fn is_gid(id: &str) -> bool {
    id.strip_prefix("gid://shopify/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(kind, number)| {
            !kind.is_empty()
                && !number.is_empty()
                && number
                    .split('?')
                    .next()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
}

impl ObjectValue for QueryRoot<'_> {
    fn type_name(&self) -> &str {
        "QueryRoot"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        match info.field_name() {
            "orders" => Ok(ResolvedValue::object(self.orders(info)?)),
            "productVariants" => Ok(ResolvedValue::object(self.product_variants(info)?)),
            "order" | "inventoryItem" | "productVariant" | "fulfillment" | "refund" => {
                let id = argument(info, "id")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                if !is_gid(&id) {
                    return Err(invalid_id(&id));
                }
                Ok(ResolvedValue::nullable_object(self.node(&id)))
            }
            "nodes" => {
                let ids: Vec<String> = argument(info, "ids")
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default();
                if ids.len() > usize::try_from(MAX_PAGE).unwrap_or(250) {
                    return Err(field_error("too many ids (at most 250)"));
                }
                if let Some(bad) = ids.iter().find(|id| !is_gid(id)) {
                    return Err(invalid_id(bad));
                }
                let nodes: Vec<ResolvedValue<'a>> = ids
                    .iter()
                    .map(|id| ResolvedValue::nullable_object(self.node(id)))
                    .collect();
                Ok(ResolvedValue::list(nodes))
            }
            other => Err(field_error(format!(
                "the fake shopify does not answer QueryRoot.{other}"
            ))),
        }
    }
}

/// What the fake knows about the API version of a request.
#[derive(Debug, Clone, Copy)]
pub struct VersionRules {
    /// `changeFromQuantity` exists (2026-01 on).
    pub change_from: bool,
    /// `changeFromQuantity` and `@idempotent` are required (2026-04 on).
    pub change_from_required: bool,
}

/// The mutation root: applies `inventorySetQuantities` to the state.
pub struct MutationRoot<'s> {
    pub state: RefCell<&'s mut ShopState>,
    pub rules: VersionRules,
    pub idempotency_key: Option<String>,
    pub next_group: u64,
}

struct UserError {
    code: &'static str,
    field: Vec<String>,
    message: &'static str,
}

impl MutationRoot<'_> {
    fn set_quantities(&self, input: &Value) -> Result<Obj, FieldError> {
        if self.rules.change_from_required && self.idempotency_key.is_none() {
            return Err(field_error(
                "the @idempotent directive is required for this mutation",
            ));
        }
        let mut errors = Vec::new();
        let error = |code, field: Vec<String>, message| UserError {
            code,
            field,
            message,
        };
        let name = input["name"].as_str().unwrap_or_default();
        if !matches!(name, "available" | "on_hand") {
            errors.push(error(
                "INVALID_NAME",
                vec!["input".into(), "name".into()],
                "The quantity name must be either 'available' or 'on_hand'.",
            ));
        }
        let reason = input["reason"].as_str().unwrap_or_default();
        if !INVENTORY_REASONS.contains(&reason) {
            errors.push(error(
                "INVALID_REASON",
                vec!["input".into(), "reason".into()],
                "The specified reason is invalid.",
            ));
        }
        let ignore_compare = input["ignoreCompareQuantity"].as_bool() == Some(true);
        let quantities = input["quantities"].as_array().cloned().unwrap_or_default();
        let mut state = self.state.borrow_mut();
        let location_gid = gid("Location", state.location_id);
        let mut seen = BTreeSet::new();
        let mut changes: Vec<(u64, i64)> = Vec::new();
        for (index, quantity) in quantities.iter().enumerate() {
            let path = |leaf: &str| {
                vec![
                    "input".to_string(),
                    "quantities".to_string(),
                    index.to_string(),
                    leaf.to_string(),
                ]
            };
            let item_id = quantity["inventoryItemId"].as_str().unwrap_or_default();
            if !is_gid(item_id) {
                return Err(invalid_id(item_id));
            }
            let Some(variant) = numeric_id(item_id, "InventoryItem")
                .and_then(|n| n.parse::<u64>().ok())
                .and_then(|n| state.variant_by_item(n))
            else {
                errors.push(error(
                    "INVALID_INVENTORY_ITEM",
                    path("inventoryItemId"),
                    "The specified inventory item could not be found.",
                ));
                continue;
            };
            if quantity["locationId"].as_str() != Some(location_gid.as_str()) {
                errors.push(error(
                    "INVALID_LOCATION",
                    path("locationId"),
                    "The specified location could not be found.",
                ));
                continue;
            }
            if !seen.insert(variant.inventory_item_id) {
                errors.push(error(
                    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    path("inventoryItemId"),
                    "The combination of inventoryItemId and locationId must be unique.",
                ));
                continue;
            }
            let Some(current) = variant.available else {
                errors.push(error(
                    "ITEM_NOT_STOCKED_AT_LOCATION",
                    path("inventoryItemId"),
                    "The specified inventory item is not stocked at the location.",
                ));
                continue;
            };
            let target = quantity["quantity"].as_i64().unwrap_or_default();
            if target < 0 {
                errors.push(error(
                    "INVALID_QUANTITY_NEGATIVE",
                    path("quantity"),
                    "The quantity can't be negative.",
                ));
                continue;
            }
            if target > 1_000_000_000 {
                errors.push(error(
                    "INVALID_QUANTITY_TOO_HIGH",
                    path("quantity"),
                    "The total quantity can't be higher than 1,000,000,000.",
                ));
                continue;
            }
            let explicit_change_from = self.rules.change_from
                && quantity
                    .as_object()
                    .is_some_and(|q| q.contains_key("changeFromQuantity"));
            if explicit_change_from {
                if let Some(expected) = quantity["changeFromQuantity"].as_i64() {
                    if expected != current {
                        errors.push(error(
                            "CHANGE_FROM_QUANTITY_STALE",
                            path("changeFromQuantity"),
                            "The changeFromQuantity value does not match persisted value.",
                        ));
                        continue;
                    }
                }
            } else if self.rules.change_from_required {
                errors.push(error(
                    "COMPARE_QUANTITY_REQUIRED",
                    path("changeFromQuantity"),
                    "The changeFromQuantity argument must be given to each quantity.",
                ));
                continue;
            } else if !ignore_compare {
                match quantity["compareQuantity"].as_i64() {
                    None => {
                        errors.push(error("COMPARE_QUANTITY_REQUIRED", path("compareQuantity"), "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity."));
                        continue;
                    }
                    Some(expected) if expected != current => {
                        errors.push(error(
                            "COMPARE_QUANTITY_STALE",
                            path("compareQuantity"),
                            "The compareQuantity value does not match persisted value.",
                        ));
                        continue;
                    }
                    Some(_) => {}
                }
            }
            changes.push((variant.inventory_item_id, target));
        }
        // Shopify applies the whole input or nothing.
        let group = if errors.is_empty() {
            for (item_id, target) in &changes {
                if let Some(variant) = state.variant_by_item_mut(*item_id) {
                    variant.available = Some(*target);
                }
            }
            Val::Obj(
                Obj::new("InventoryAdjustmentGroup")
                    .leaf(
                        "id",
                        json!(gid("InventoryAdjustmentGroup", self.next_group)),
                    )
                    .leaf("reason", json!(reason)),
            )
        } else {
            Val::Leaf(Value::Null)
        };
        let user_errors = errors
            .into_iter()
            .map(|error| {
                Val::Obj(
                    Obj::new("InventorySetQuantitiesUserError")
                        .leaf("code", json!(error.code))
                        .leaf("field", json!(error.field))
                        .leaf("message", json!(error.message)),
                )
            })
            .collect();
        Ok(Obj::new("InventorySetQuantitiesPayload")
            .with("inventoryAdjustmentGroup", group)
            .with("userErrors", Val::List(user_errors)))
    }
}

impl ObjectValue for MutationRoot<'_> {
    fn type_name(&self) -> &str {
        "Mutation"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        match info.field_name() {
            "inventorySetQuantities" => {
                let input = argument(info, "input").unwrap_or(Value::Null);
                Ok(ResolvedValue::object(self.set_quantities(&input)?))
            }
            other => Err(field_error(format!(
                "the fake shopify does not answer Mutation.{other}"
            ))),
        }
    }
}
