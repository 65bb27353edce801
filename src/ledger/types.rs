//! The values the ledger's operations take and return.

use chrono::{DateTime, Utc};
use omnistock_connector::{OrderEvent, OrderStatus};
use serde::{Deserialize, Serialize};

use crate::policy::ListingPolicy;

/// The stock of one SKU at one location.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Balance {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
    /// Units held by open order lines.
    pub reserved: i64,
}

impl Balance {
    /// What may still be sold: on hand minus reserved (negative when oversold).
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

/// Whether an idempotent operation changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Application {
    /// Applied now.
    Applied,
    /// An earlier call with the same idempotency key applied it; nothing changed now.
    AlreadyApplied,
}

/// Who asks for an operator stock change and under which key; the key makes it idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementMeta {
    /// Unique per intended change: a second call with the same key changes nothing.
    pub idempotency_key: String,
    pub actor: Option<String>,
    pub note: Option<String>,
}

impl MovementMeta {
    pub fn new(idempotency_key: impl Into<String>) -> Self {
        Self {
            idempotency_key: idempotency_key.into(),
            actor: None,
            note: None,
        }
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// The result of receive, adjust and set_on_hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockOutcome {
    pub application: Application,
    /// The balance after the operation (the current one when already applied).
    pub balance: Balance,
}

/// The result of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOutcome {
    pub application: Application,
    pub from: Balance,
    pub to: Balance,
}

/// One row of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub id: i64,
    pub sku: String,
    pub location: String,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub reason: MovementReason,
    /// The order (`channel/external id`) or other document behind the change.
    pub reference: Option<String>,
    pub idempotency_key: String,
    pub actor: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Why a journal row moved stock (the `reason` column, in snake case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementReason {
    /// An operator received stock.
    Receive,
    /// An operator corrected on hand by a difference.
    Adjust,
    /// An operator (or an import) set on hand to what was counted.
    Count,
    /// The sending side of a transfer.
    TransferOut,
    /// The receiving side of a transfer.
    TransferIn,
    /// An order line holds more.
    Reserve,
    /// An order line holds less (cancelled, or shipped from elsewhere).
    Release,
    /// An order line shipped: on hand and its reservation go down.
    Commit,
    /// Shipped units came back.
    Restock,
}

impl MovementReason {
    const ALL: [Self; 9] = [
        Self::Receive,
        Self::Adjust,
        Self::Count,
        Self::TransferOut,
        Self::TransferIn,
        Self::Reserve,
        Self::Release,
        Self::Commit,
        Self::Restock,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receive => "receive",
            Self::Adjust => "adjust",
            Self::Count => "count",
            Self::TransferOut => "transfer_out",
            Self::TransferIn => "transfer_in",
            Self::Reserve => "reserve",
            Self::Release => "release",
            Self::Commit => "commit",
            Self::Restock => "restock",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }
}

/// One order event to book, as it came from one channel.
#[derive(Debug, Clone, Copy)]
pub struct BookingRequest<'a> {
    pub channel_id: &'a str,
    /// Where the order's new lines hold stock: the order's own location when its connector
    /// says it ([`OrderEvent::location`]), else the channel's.
    pub location: &'a str,
    pub event: &'a OrderEvent,
}

/// What book_order did with a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingResult {
    /// The snapshot differed from what was booked; the difference is booked now.
    Applied,
    /// This delivery id was booked before; nothing changed.
    Duplicate,
    /// The snapshot is older than the one booked; nothing changed.
    Stale,
    /// The snapshot equals what is booked.
    Unchanged,
}

impl BookingResult {
    /// The name in logs and webhook answers.
    pub fn as_str(self) -> &'static str {
        match self {
            BookingResult::Applied => "applied",
            BookingResult::Duplicate => "duplicate",
            BookingResult::Stale => "stale",
            BookingResult::Unchanged => "unchanged",
        }
    }
}

/// A snapshot line whose listing is not bound and whose sku is not a known item: the line is
/// kept (with no sku) and books nothing until it can be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLine {
    pub line_id: String,
    pub listing_id: Option<String>,
    pub sku: Option<String>,
}

/// The result of book_order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingOutcome {
    /// The ledger's id of the order; `None` only for a duplicate delivery of an unknown order.
    pub order_id: Option<i64>,
    pub result: BookingResult,
    /// SKUs whose availability changed (their new level must be pushed to channels).
    pub changed_skus: Vec<String>,
    /// SKUs whose available quantity went below zero by this booking.
    pub oversold_skus: Vec<String>,
    pub unknown_lines: Vec<UnknownLine>,
}

/// A listing of a SKU on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub channel_id: String,
    pub listing_id: String,
    /// The first component's SKU (the only one unless the listing is a bundle).
    pub sku: String,
    /// Stock units one unit of the listing consumes (a 6-pack listing of a single-unit SKU: 6).
    pub multiplier: i64,
    /// What one unit of the listing takes from stock, by SKU (one entry unless a bundle).
    pub components: Vec<ListingComponent>,
    /// This listing's overrides of its channel's stock policy.
    pub policy: ListingPolicy,
    pub sync_enabled: bool,
    pub last_pushed_quantity: Option<i64>,
    pub last_pushed_at: Option<DateTime<Utc>>,
    /// The ledger location the listing sells from, when its channel keeps stock per location
    /// (`Connector::listing_location`); `None` when the channel's policy decides.
    pub location: Option<String>,
}

/// One item a listing unit takes from stock: `quantity` units of `sku`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ListingComponent {
    pub sku: String,
    pub quantity: i64,
}

impl ListingComponent {
    pub fn new(sku: impl Into<String>, quantity: i64) -> Self {
        Self {
            sku: sku.into(),
            quantity,
        }
    }
}

/// A listing to bind in a bulk import: the listing and what one unit of it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingBinding {
    pub channel_id: String,
    pub listing_id: String,
    pub components: Vec<ListingComponent>,
    /// `None` leaves the listing's sync switch as it is (on for a new listing).
    pub sync_enabled: Option<bool>,
    /// `None` leaves the listing's policy overrides as they are; `Some` replaces them (an empty
    /// one removes them).
    pub policy: Option<ListingPolicy>,
    /// The ledger location the listing sells from, as its channel's connector says
    /// (`Connector::listing_location`); written as given, `None` included.
    pub location: Option<String>,
}

/// A listing whose location ([`Listing::location`]) a refresh changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationChange {
    pub listing_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A counted quantity to set in a bulk stock import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockCount {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
}

/// An open order line holding stock of a SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    pub channel_id: String,
    pub external_order_id: String,
    pub line_id: String,
    pub location: String,
    pub quantity: i64,
}

/// A configured sales channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub kind: String,
    pub paused: bool,
    /// The channel's go-live instant: an order placed before it is booked as a baseline, and
    /// the first poll reads nothing updated before it.
    pub cut_over: Option<DateTime<Utc>>,
}

/// A booked order with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: i64,
    pub channel_id: String,
    pub external_order_id: String,
    pub status: OrderStatus,
    pub location: String,
    pub platform_updated_at: DateTime<Utc>,
    /// Incremented by every booking or line operation that changed the order.
    pub revision: i64,
    pub oversold: bool,
    pub currency: Option<String>,
    /// What the buyer pays for the whole order, in minor units of `currency`, when reported.
    pub total_minor: Option<i64>,
    pub lines: Vec<OrderLineRecord>,
}

/// A booked order line; quantities other than `quantity` are stock units booked in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OrderLineRecord {
    pub line_id: String,
    /// For one component of a bundle line: the line the platform reported.
    pub parent_line_id: Option<String>,
    pub listing_id: Option<String>,
    /// `None` for an unknown line (nothing booked).
    pub sku: Option<String>,
    pub location: String,
    pub multiplier: i64,
    /// Units ordered, in the platform's units.
    pub quantity: i64,
    pub open_quantity: i64,
    pub committed_quantity: i64,
    pub returned_quantity: i64,
    pub unit_price_minor: Option<i64>,
}

/// Names one booked order line for an operator line operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRef {
    pub channel_id: String,
    pub external_order_id: String,
    pub line_id: String,
}

/// What an operator does to a booked line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOperation {
    /// Hold more units for the line.
    Reserve,
    /// Stop holding units (at most the open quantity).
    Release,
    /// Ship open units: they leave on hand and the reservation.
    Commit,
    /// Put shipped units back on hand (at most shipped minus already returned).
    Restock,
}

impl LineOperation {
    /// The journal's reason for this operation's movement.
    pub fn reason(self) -> MovementReason {
        match self {
            LineOperation::Reserve => MovementReason::Reserve,
            LineOperation::Release => MovementReason::Release,
            LineOperation::Commit => MovementReason::Commit,
            LineOperation::Restock => MovementReason::Restock,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LineOperation::Reserve => "reserve",
            LineOperation::Release => "release",
            LineOperation::Commit => "commit",
            LineOperation::Restock => "restock",
        }
    }
}

/// The result of a line operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineOutcome {
    pub application: Application,
    pub balance: Balance,
    pub line: OrderLineRecord,
}

/// One outbox row: the availability of `sku` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub sku: String,
    pub created_at: DateTime<Utc>,
}

/// A balance that disagrees with its journal or with its order lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvariantViolation {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// Σ on_hand_delta of the journal.
    pub journal_on_hand: i64,
    /// Σ reserved_delta of the journal.
    pub journal_reserved: i64,
    /// Σ open_quantity of the order lines.
    pub open_quantity: i64,
}

pub(crate) fn from_millis(millis: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or_default()
}

pub(crate) fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}
