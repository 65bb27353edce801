//! The trait every channel implements.

use crate::error::{ConnectorError, WebhookError};
use crate::order::OrderEvent;
use crate::rate::RateLimit;
use crate::stock::StockLevel;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The kinds of call the runtime makes to a platform, for pacing hints and per-call metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// [`Connector::push_stock`].
    PushStock,
    /// [`Connector::read_stock`].
    ReadStock,
    /// [`Connector::pull_orders`].
    PullOrders,
    /// [`Connector::read_catalog`].
    ReadCatalog,
}

impl CallKind {
    /// A short label, for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PushStock => "push_stock",
            Self::ReadStock => "read_stock",
            Self::PullOrders => "pull_orders",
            Self::ReadCatalog => "read_catalog",
        }
    }
}

/// What a connector can do; the runtime honours it for every platform the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The platform sends signed order webhooks.
    pub webhooks: bool,
    /// Orders can be pulled by cursor.
    pub polling: bool,
    /// The most stock levels one [`Connector::push_stock`] call may carry.
    pub max_stock_batch: usize,
    /// The platform's documented limit for stock-update calls.
    pub rate_limit: Option<RateLimit>,
    /// The platform can refuse an update whose expected current quantity is stale.
    pub compare_and_set: bool,
}

/// One page of orders pulled from a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<OrderEvent>,
    /// The position to resume from; the runtime persists it after booking `orders`. Opaque to
    /// everything but the connector that made it.
    pub next_cursor: Option<String>,
    /// More orders are waiting after this page: pull again at once with `next_cursor`.
    pub has_more: bool,
}

/// One listing of a channel's catalog, as [`Connector::read_catalog`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogListing {
    /// The channel's id for the listing, the one stock pushes name.
    pub listing_id: String,
    /// The seller SKU on the listing; `None` when the platform has none for it.
    pub sku: Option<String>,
    /// The listing's title, for reports.
    pub title: Option<String>,
    /// The platform's other ids of the listing (product id, inventory item id, ASIN …) by name.
    pub platform_ids: BTreeMap<String, String>,
    /// The quantity the channel shows now, when the catalog read carries it.
    pub quantity: Option<i64>,
}

/// One page of a channel's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogPage {
    pub listings: Vec<CatalogListing>,
    /// The position of the next page; `None` on the last page. Opaque to everything but the
    /// connector that made it.
    pub next_page: Option<String>,
}

/// An incoming webhook request, as the HTTP layer received it.
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    /// Header names in lower case.
    pub headers: &'a BTreeMap<String, String>,
    /// The raw body, byte for byte: signatures are computed over it.
    pub body: &'a [u8],
}

/// An order a webhook names without carrying its state (TikTok Shop's notifications hold an
/// order id, not its lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    pub order_id: String,
    /// The delivery's id, set on the fetched snapshot so that a redelivery books nothing twice.
    pub delivery_id: Option<String>,
}

/// Sets each fetched event's delivery id from the reference that named its order.
pub fn attach_delivery_ids(events: &mut [OrderEvent], refs: &[OrderRef]) {
    for event in events.iter_mut() {
        if let Some(named) = refs
            .iter()
            .find(|named| named.order_id == event.external_order_id)
        {
            event.delivery_id.clone_from(&named.delivery_id);
        }
    }
}

/// The outcome of a stock push for one listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushResult {
    /// The channel now shows `quantity`.
    Confirmed { listing_id: String, quantity: i64 },
    /// The channel refused this listing; the rest of the batch is unaffected.
    Rejected {
        listing_id: String,
        error: ConnectorError,
    },
}

/// Where a bulk stock submission ([`Connector::submit_stock`]) stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionStatus {
    /// The platform is still processing it: nothing is confirmed yet; ask again after
    /// `poll_after`.
    InFlight { poll_after: Duration },
    /// Processed: one result per submitted level, in any order.
    Done(Vec<PushResult>),
}

/// One message received from a channel's notification queue ([`Connector::receive_notifications`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedNotification {
    /// The queue's id of the message, for logs.
    pub message_id: String,
    /// The handle that acknowledges this delivery of the message
    /// ([`Connector::acknowledge_notifications`]); opaque to everything but the connector.
    pub receipt: String,
    /// How many times the queue has delivered the message, this delivery included, when it
    /// says.
    pub deliveries: Option<u32>,
    pub content: NotificationContent,
}

/// What a received notification asks of the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationContent {
    /// Order snapshots (each with its delivery id, the notification's id): book them, then
    /// acknowledge the message.
    Orders(Vec<OrderEvent>),
    /// Nothing to book (a type omnistock does not act on, or a change the poll reads):
    /// acknowledge the message.
    Nothing { reason: String },
    /// The body cannot be read: never acknowledged, so the queue delivers it again and its
    /// redrive policy moves it to a dead-letter queue.
    Unreadable { error: String },
}

/// What one receive from a notification queue returned (empty when the wait ended without a
/// message).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotificationBatch {
    pub notifications: Vec<QueuedNotification>,
}

/// An I/O adapter for one platform. Implementations translate between the platform's wire
/// format and the normalized types and classify errors; they never sleep, retry, rate-limit
/// or touch the database.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The kind this connector implements (`"sim"`, `"shopify"` …).
    fn kind(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// The cursor of a first poll that reads nothing updated before `floor` (the channel's
    /// cut-over), unless the channel's own settings ask for another start. `None` when the
    /// connector cannot start from an instant: the first poll then reads from the start of the
    /// channel's configured history.
    fn start_cursor(&self, floor: DateTime<Utc>) -> Option<String> {
        let _ = floor;
        None
    }

    /// Orders changed at or after the position in `cursor` (`None`: from the start of the
    /// channel's configured history), oldest first, one page.
    async fn pull_orders(&self, cursor: Option<&str>) -> Result<OrderPage, ConnectorError>;

    /// Verifies the webhook's signature and turns it into order events.
    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<Vec<OrderEvent>, WebhookError>;

    /// Sets absolute quantities; `levels.len()` never exceeds
    /// [`Capabilities::max_stock_batch`]. A call-level failure is an `Err`; per-listing
    /// refusals are `PushResult::Rejected`.
    async fn push_stock(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError>;

    /// The quantities the channel shows now, for reconciliation. Listings the channel does not
    /// know are left out of the answer.
    async fn read_stock(&self, listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError>;

    /// The most stock levels one [`submit_stock`](Connector::submit_stock) may carry, or
    /// `None` (the default) when the platform has no asynchronous bulk update and
    /// [`push_stock`](Connector::push_stock) is the only way.
    fn max_stock_submission(&self) -> Option<usize> {
        None
    }

    /// Submits absolute quantities for asynchronous processing (Amazon's feeds) and returns the
    /// submission's id. The submission is in flight until
    /// [`submission_status`](Connector::submission_status) says it is done: no listing of it
    /// is confirmed before.
    async fn submit_stock(&self, levels: &[StockLevel]) -> Result<String, ConnectorError> {
        let _ = levels;
        Err(ConnectorError::Configuration(format!(
            "{} has no bulk stock submission",
            self.kind()
        )))
    }

    /// Where a submission stands; `levels` are the levels it carried, in the order they were
    /// submitted (the runtime keeps them while it is in flight).
    async fn submission_status(
        &self,
        submission_id: &str,
        levels: &[StockLevel],
    ) -> Result<SubmissionStatus, ConnectorError> {
        let _ = (submission_id, levels);
        Err(ConnectorError::Configuration(format!(
            "{} has no bulk stock submission",
            self.kind()
        )))
    }

    /// One page of every listing the channel has, from the start (`page` is `None`) or from the
    /// position a previous page returned. Used to discover listings and to take a first stock
    /// count; the default says the connector cannot read its catalog.
    async fn read_catalog(&self, page: Option<&str>) -> Result<CatalogPage, ConnectorError> {
        let _ = page;
        Err(ConnectorError::Configuration(format!(
            "{} cannot read its catalog",
            self.kind()
        )))
    }

    /// How long the runtime should wait before a call of this kind so that it fits the
    /// platform's budget as the connector last saw it (a cost bucket's remaining points and
    /// the call's expected cost), possibly zero; `None` when the connector does not pace this
    /// call. The runtime calls a connector that paces a call one task at a time, each after
    /// the advised wait; the connector never waits itself. The runtime waits before the call
    /// instead of learning from a refusal.
    fn wait_before(&self, call: CallKind) -> Option<Duration> {
        let _ = call;
        None
    }

    /// Verifies a webhook like [`Connector::parse_webhook`] and returns the orders it names
    /// without their state: the runtime fetches them with [`Connector::fetch_orders`] and books
    /// the snapshots with what `parse_webhook` returned. Empty (the default) for platforms
    /// whose webhooks carry whole orders.
    fn webhook_order_ids(
        &self,
        request: &WebhookRequest<'_>,
    ) -> Result<Vec<OrderRef>, WebhookError> {
        let _ = request;
        Ok(Vec::new())
    }

    /// Conditions an operator must act on (the seller withdrew the app's authorization, or it
    /// ends soon), as short texts without secrets; shown in `GET /admin/channels` and counted
    /// in the `channel_alerts` metric. Empty (the default) when all is well.
    fn alerts(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether the channel's orders also arrive through a notification queue the runtime
    /// reads with [`receive_notifications`](Connector::receive_notifications) (Amazon's SQS
    /// queue). `false` (the default) for platforms without one or channels not set up for it.
    fn has_notification_queue(&self) -> bool {
        false
    }

    /// Waits (a long poll, bounded by the connector's settings) for the next messages of the
    /// channel's notification queue and reads them. Each stays invisible to other receivers
    /// for a while and is delivered again unless acknowledged.
    async fn receive_notifications(&self) -> Result<NotificationBatch, ConnectorError> {
        Err(ConnectorError::Configuration(format!(
            "{} has no notification queue",
            self.kind()
        )))
    }

    /// Removes the messages of these receipts from the queue; the runtime calls it only after
    /// what they carried is durably booked.
    async fn acknowledge_notifications(&self, receipts: &[String]) -> Result<(), ConnectorError> {
        let _ = receipts;
        Err(ConnectorError::Configuration(format!(
            "{} has no notification queue",
            self.kind()
        )))
    }

    /// The ledger location a listing's stock lives in when the channel keeps stock per
    /// location (TikTok Shop's warehouses mapped in the channel's settings); `None` (the
    /// default) when the channel's stock policy decides which locations feed it.
    fn listing_location(&self, listing_id: &str) -> Option<String> {
        let _ = listing_id;
        None
    }

    /// The current snapshots of these orders (left out: orders the platform does not know).
    /// Only called with ids from [`Connector::webhook_order_ids`].
    async fn fetch_orders(&self, order_ids: &[String]) -> Result<Vec<OrderEvent>, ConnectorError> {
        let _ = order_ids;
        Ok(Vec::new())
    }
}
