//! The sim's JSON wire format, shared by the server and the connector so that both sides agree
//! by construction. README.md documents the same shapes for humans.

use serde::{Deserialize, Serialize};

/// Topic of the webhook sent when an order is placed.
pub const TOPIC_ORDER_CREATED: &str = "orders/created";
/// Topic of the webhook sent when an order is cancelled.
pub const TOPIC_ORDER_CANCELLED: &str = "orders/cancelled";
/// Topic of the webhook sent when an order is fulfilled (shipped).
pub const TOPIC_ORDER_FULFILLED: &str = "orders/fulfilled";

/// Header naming the webhook's topic.
pub const HEADER_TOPIC: &str = "x-sim-topic";
/// Header carrying the delivery id: unique per event, the same on every retry of it.
pub const HEADER_DELIVERY_ID: &str = "x-sim-delivery-id";
/// Header carrying `sha256=<hex HMAC-SHA256(webhook_secret, raw body)>`.
pub const HEADER_SIGNATURE: &str = "x-sim-signature";

/// An order as `GET /api/orders` and the webhooks show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimOrder {
    pub id: String,
    /// `open`, `cancelled` or `fulfilled`.
    pub status: String,
    pub currency: String,
    /// What the buyer pays, in minor units of `currency`: Σ unit price × (quantity −
    /// cancelled) over the lines, kept current on every change of the order.
    #[serde(default)]
    pub total_minor: i64,
    /// RFC 3339, millisecond precision.
    pub created_at: String,
    /// RFC 3339, millisecond precision; never goes backwards.
    pub updated_at: String,
    /// `updated_at` as unix milliseconds.
    pub updated_at_millis: i64,
    /// Bumped on every change of any order: orders sharing `updated_at` still have an order.
    pub sequence: u64,
    pub lines: Vec<SimOrderLine>,
}

/// One line of a [`SimOrder`]; quantities are cumulative over the order's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimOrderLine {
    /// Stable across updates of the order.
    pub id: String,
    pub listing_id: String,
    pub sku: String,
    pub quantity: i64,
    pub cancelled_quantity: i64,
    pub fulfilled_quantity: i64,
    pub unit_price_minor: i64,
}

/// The answer of `GET /api/orders`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrdersResponse {
    pub orders: Vec<SimOrder>,
    /// Pass as `updated_since` to resume after the last order of this page; `null` when the
    /// answer is empty and no cursor was given.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// The body of `POST /api/stock`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockUpdateRequest {
    pub updates: Vec<StockUpdate>,
}

/// One absolute quantity to show for a listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockUpdate {
    pub listing_id: String,
    pub quantity: i64,
}

/// The answer of `POST /api/stock`: one result per update, in the request's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockUpdateResponse {
    pub results: Vec<StockUpdateResult>,
}

/// The outcome of one update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockUpdateResult {
    pub listing_id: String,
    /// `ok` or `error`.
    pub status: String,
    /// The quantity now shown, when `status` is `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// `unknown_listing` or `invalid_quantity`, when `status` is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer of `GET /api/stock`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockReadResponse {
    pub levels: Vec<ListingLevel>,
}

/// A listing and the quantity the sim shows for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingLevel {
    pub listing_id: String,
    pub sku: String,
    pub quantity: i64,
}

/// The answer of `GET /api/listings`: one page of the catalog, by listing id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListingsResponse {
    pub listings: Vec<ListingLevel>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<String>,
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable code (`unauthorized`, `rate_limited`, `batch_too_large` …).
    pub error: String,
    pub message: String,
}

/// The body of a webhook: the order as `GET /api/orders` shows it, plus the topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookPayload {
    pub topic: String,
    #[serde(flatten)]
    pub order: SimOrder,
}
