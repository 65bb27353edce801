//! Booking one order snapshot: compare it with what was booked for the order and plan the
//! difference. Pure: the group in `booking_group.rs` reads what a plan needs and writes what it
//! decides.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use omnistock_connector::{LineState, OrderEvent, OrderLine, OrderStatus};
use tracing::warn;

use super::booking_group::BookingRequest;
use super::booking_rows::{BookedOrder, ChannelRules};
use super::types::{OrderLineRecord, UnknownLine};
use super::LedgerError;

/// One balance change a booking plans for a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedChange {
    pub reason: &'static str,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
}

/// The balance changes that take a line from `booked` to `target` (both in stock units).
///
/// Shipping consumes the reservation first (never more than is held, so an order first seen
/// already shipped does not reserve and release in one go); then the reservation is moved to
/// the target's open quantity; returns go back on hand.
pub(crate) fn plan_line_changes(booked: LineState, target: LineState) -> Vec<PlannedChange> {
    let mut changes = Vec::new();
    let shipped = target.committed - booked.committed;
    let from_reservation = if shipped > 0 {
        shipped.min(booked.open.max(0))
    } else {
        0
    };
    if shipped != 0 {
        changes.push(PlannedChange {
            reason: "commit",
            on_hand_delta: -shipped,
            reserved_delta: -from_reservation,
        });
    }
    let hold = target.open - (booked.open - from_reservation);
    if hold != 0 {
        changes.push(PlannedChange {
            reason: if hold > 0 { "reserve" } else { "release" },
            on_hand_delta: 0,
            reserved_delta: hold,
        });
    }
    let returned = target.returned - booked.returned;
    if returned != 0 {
        changes.push(PlannedChange {
            reason: "restock",
            on_hand_delta: returned,
            reserved_delta: 0,
        });
    }
    changes
}

fn scaled(state: LineState, multiplier: i64) -> LineState {
    LineState {
        open: state.open.saturating_mul(multiplier),
        committed: state.committed.saturating_mul(multiplier),
        returned: state.returned.saturating_mul(multiplier),
    }
}

fn booked_state(line: &OrderLineRecord) -> LineState {
    LineState {
        open: line.open_quantity,
        committed: line.committed_quantity,
        returned: line.returned_quantity,
    }
}

/// One balance change a booking plans, with where and for which booked line.
pub(crate) struct LineChange {
    pub sku: String,
    pub location: String,
    pub line_id: String,
    pub change: PlannedChange,
}

/// What the ledger knows about the lines of a round: the components of the channels' listings
/// and which of the lines' SKUs are items.
#[derive(Debug, Default)]
pub(crate) struct Resolutions {
    /// The components of each (channel, listing) that has any, sorted by SKU.
    pub components: HashMap<(String, String), Vec<(String, i64)>>,
    /// Of the SKUs asked about, those that are items.
    pub known_skus: HashSet<String>,
}

impl Resolutions {
    /// The SKUs a line takes and how many units of each per unit sold: its channel listing's
    /// components (one for a single item or multipack, several for a bundle), else its own sku
    /// when that is a known item, else `None` (unknown).
    fn resolve(&self, channel_id: &str, line: &OrderLine) -> Option<Vec<(String, i64)>> {
        if let Some(listing_id) = &line.listing_id {
            let key = (channel_id.to_string(), listing_id.clone());
            if let Some(components) = self.components.get(&key) {
                return Some(components.clone());
            }
        }
        line.sku
            .as_ref()
            .filter(|sku| self.known_skus.contains(*sku))
            .map(|sku| vec![(sku.clone(), 1)])
    }
}

/// An order event whose balance changes are planned, with the lines to write and the order
/// row's final state.
pub(crate) struct PlannedBooking {
    pub order_id: i64,
    pub new_revision: i64,
    pub revision: i64,
    /// Whether anything of the order changed (a new revision is written).
    pub changed: bool,
    pub already_oversold: bool,
    pub currency: Option<String>,
    pub line_changes: Vec<LineChange>,
    pub unknown_lines: Vec<UnknownLine>,
    /// Booked lines to insert or replace.
    pub line_writes: Vec<OrderLineRecord>,
    /// Booked lines to delete (unknown lines that now resolve to a bundle's components).
    pub line_deletes: Vec<String>,
}

impl PlannedBooking {
    /// The SKUs whose availability this booking changes (on hand and reserved not moving
    /// together).
    pub fn changed_skus(&self) -> Vec<String> {
        let skus: BTreeSet<String> = self
            .line_changes
            .iter()
            .filter(|planned| planned.change.on_hand_delta != planned.change.reserved_delta)
            .map(|planned| planned.sku.clone())
            .collect();
        skus.into_iter().collect()
    }
}

/// The longest id (order, line, delivery, listing, SKU) the ledger books, in bytes: well
/// within what PostgreSQL can index, so that a longer one is refused up front, the same way on
/// both backends.
pub const MAX_ID_BYTES: usize = 1024;

/// The largest quantity a line may report: far beyond any real order, far below where sums of
/// balances could overflow.
pub const MAX_LINE_QUANTITY: i64 = 1_000_000_000;

/// Refuses an event the ledger could never book: an id too long or holding a NUL character
/// (PostgreSQL stores no NUL in text), a quantity beyond [`MAX_LINE_QUANTITY`].
pub(crate) fn check_event(event: &OrderEvent) -> Result<(), LedgerError> {
    let refuse = |reason: String| LedgerError::InvalidOrder {
        external_order_id: super::quarantine::order_label(&event.external_order_id),
        reason,
    };
    let check_id = |what: &str, id: &str| {
        if id.len() > MAX_ID_BYTES {
            return Err(refuse(format!(
                "its {what} is {} bytes long, more than {MAX_ID_BYTES}",
                id.len()
            )));
        }
        if id.contains('\0') {
            return Err(refuse(format!("its {what} holds a NUL character")));
        }
        Ok(())
    };
    check_id("order id", &event.external_order_id)?;
    for id in [&event.delivery_id, &event.currency].into_iter().flatten() {
        check_id("delivery id or currency", id)?;
    }
    for line in &event.lines {
        check_id("line id", &line.line_id)?;
        for id in [&line.listing_id, &line.sku].into_iter().flatten() {
            check_id("listing id or sku", id)?;
        }
        let quantities = [
            line.quantity,
            line.cancelled_quantity,
            line.fulfilled_quantity,
            line.returned_quantity,
        ];
        if quantities
            .iter()
            .any(|quantity| quantity.unsigned_abs() > MAX_LINE_QUANTITY.unsigned_abs())
        {
            return Err(refuse(format!(
                "line {:?} reports a quantity beyond {MAX_LINE_QUANTITY}",
                super::quarantine::order_label(&line.line_id)
            )));
        }
    }
    Ok(())
}

/// Whether the snapshot is older than what is booked for its order. Two snapshots stamped with
/// the same time (platforms often have one-second clocks) are ordered by how far the order
/// got, so "cancelled" then "open" ends cancelled either way.
pub(crate) fn is_stale(event: &OrderEvent, booked: &BookedOrder) -> bool {
    let platform_updated_at = event.updated_at.timestamp_millis();
    let older_at_same_time = platform_updated_at == booked.platform_updated_at
        && booked.revision > 0
        && status_rank(event.status) < status_rank_text(&booked.status);
    platform_updated_at < booked.platform_updated_at || older_at_same_time
}

/// Two snapshots of one order stamped alike (one-second platform clocks) arrive in an order
/// nobody knows, so neither may undo the other's progress: shipped, returned and cancelled
/// units of a line only grow, and the open ones only shrink.
fn without_regression(booked: LineState, target: LineState) -> LineState {
    let committed = booked.committed.max(target.committed);
    let returned = booked.returned.max(target.returned).min(committed);
    // Units neither shipped nor cancelled: the fewer of the two, once the shipped are counted.
    let open = (booked.open + booked.committed - committed)
        .min(target.open + target.committed - committed)
        .max(0);
    LineState {
        open,
        committed,
        returned,
    }
}

/// The snapshot's lines that need the listings or items to be resolved: those not yet booked
/// against SKUs (a booked line keeps its SKUs, whatever the listing is bound to now).
pub(crate) fn lines_to_resolve<'e>(
    event: &'e OrderEvent,
    booked_lines: &[OrderLineRecord],
) -> Vec<&'e OrderLine> {
    event
        .lines
        .iter()
        .filter(|line| {
            let mut group = booked_lines
                .iter()
                .filter(|record| platform_line_id(record) == line.line_id)
                .peekable();
            group.peek().is_none() || group.any(|record| record.sku.is_none())
        })
        .collect()
}

/// Whether the snapshot is the first sight of an order placed before its channel's cut-over:
/// what it had shipped (and had returned) by then is recorded without moving on hand, since it
/// left (and came back) before the stock was counted. An order whose placing time is unknown
/// counts as placed after the cut-over, and is booked in full.
fn is_baseline(event: &OrderEvent, order: &BookedOrder, rules: ChannelRules) -> bool {
    let placed_before_cut_over = match (event.created_at, rules.cut_over_at) {
        (Some(created_at), Some(cut_over_at)) => created_at.timestamp_millis() < cut_over_at,
        _ => false,
    };
    order.revision == 0 && placed_before_cut_over
}

/// Plans the booking of a snapshot that is not stale: the difference between the snapshot and
/// the booked lines, as balance changes, line writes and the order's next state. Refuses a
/// snapshot whose lines would be booked under one id twice (a platform line named like a
/// bundle component's line, `<line>#<sku>`).
pub(crate) fn plan_snapshot(
    request: &BookingRequest<'_>,
    order: &BookedOrder,
    booked_lines: Vec<OrderLineRecord>,
    resolutions: &Resolutions,
    rules: ChannelRules,
) -> Result<PlannedBooking, LedgerError> {
    let BookingRequest {
        channel_id, event, ..
    } = *request;
    let external_order_id = event.external_order_id.as_str();
    let order_id = order.id;
    let restock_returns = rules.restock_returns;
    let baseline = is_baseline(event, order, rules);
    let same_stamp =
        order.revision > 0 && event.updated_at.timestamp_millis() == order.platform_updated_at;
    let mut record_ids: HashSet<String> = HashSet::new();
    let booked_lines: HashMap<String, OrderLineRecord> = booked_lines
        .into_iter()
        .map(|line| (line.line_id.clone(), line))
        .collect();
    // The booked lines by the platform line they stand for (a bundle line books several).
    let mut booked_groups: HashMap<String, Vec<&OrderLineRecord>> = HashMap::new();
    for record in booked_lines.values() {
        booked_groups
            .entry(platform_line_id(record).to_string())
            .or_default()
            .push(record);
    }
    let mut snapshot: BTreeMap<&str, &OrderLine> = BTreeMap::new();
    for line in &event.lines {
        if snapshot.insert(line.line_id.as_str(), line).is_some() {
            warn!(channel = %channel_id, order = %external_order_id, line = %line.line_id,
                "order snapshot repeats a line id, the last one counts");
        }
    }

    let mut line_changes: Vec<LineChange> = Vec::new();
    let mut unknown_lines = Vec::new();
    let mut line_writes: Vec<OrderLineRecord> = Vec::new();
    let mut line_deletes: Vec<String> = Vec::new();
    for (line_id, line) in &snapshot {
        let group = booked_groups.get(*line_id);
        // A line booked against SKUs keeps them, whatever the listing is bound to now.
        let booked_components: Option<Vec<(String, i64)>> = group
            .filter(|records| records.iter().all(|record| record.sku.is_some()))
            .map(|records| {
                records
                    .iter()
                    .filter_map(|record| record.sku.clone().map(|sku| (sku, record.multiplier)))
                    .collect()
            });
        let components = booked_components.or_else(|| resolutions.resolve(channel_id, line));
        let line_location = group
            .and_then(|records| records.first())
            .map(|record| record.location.clone())
            .unwrap_or_else(|| order.location.clone());
        let Some(mut components) = components else {
            if !record_ids.insert(line_id.to_string()) {
                return Err(colliding_lines(external_order_id, line_id));
            }
            unknown_lines.push(UnknownLine {
                line_id: line_id.to_string(),
                listing_id: line.listing_id.clone(),
                sku: line.sku.clone(),
            });
            let record = OrderLineRecord {
                line_id: line_id.to_string(),
                parent_line_id: None,
                listing_id: line.listing_id.clone(),
                sku: None,
                location: line_location,
                multiplier: 1,
                quantity: line.quantity,
                open_quantity: 0,
                committed_quantity: 0,
                returned_quantity: 0,
                unit_price_minor: line.unit_price_minor,
            };
            if booked_lines.get(*line_id) != Some(&record) {
                line_writes.push(record);
            }
            continue;
        };
        components.sort();
        let bundle = components.len() > 1;
        // The line was kept unknown before and now resolves to a bundle: its components
        // replace it.
        if bundle
            && booked_lines
                .get(*line_id)
                .is_some_and(|record| record.sku.is_none())
        {
            line_deletes.push(line_id.to_string());
        }
        for (sku, per_unit) in components {
            let record_id = if bundle {
                format!("{line_id}#{sku}")
            } else {
                line_id.to_string()
            };
            if !record_ids.insert(record_id.clone()) {
                return Err(colliding_lines(external_order_id, &record_id));
            }
            let booked = booked_lines
                .get(&record_id)
                .filter(|record| record.sku.is_some());
            let mut target = scaled(line.target_state(event.status), per_unit);
            let booked_state = match booked {
                Some(record) => booked_state(record),
                // A baseline: shipped and returned as of now, on hand untouched; the open
                // units reserve as usual.
                None if baseline => LineState {
                    open: 0,
                    committed: target.committed,
                    returned: target.returned,
                },
                None => LineState::default(),
            };
            if same_stamp && booked.is_some_and(|record| record.quantity == line.quantity) {
                target = without_regression(booked_state, target);
            }
            if !restock_returns {
                // Returns stay where the operator inspects them; what was restocked before
                // (while the channel restocked returns) stays restocked.
                target.returned = booked_state.returned.min(target.committed);
            }
            for change in plan_line_changes(booked_state, target) {
                line_changes.push(LineChange {
                    sku: sku.clone(),
                    location: line_location.clone(),
                    line_id: record_id.clone(),
                    change,
                });
            }
            let record = OrderLineRecord {
                line_id: record_id.clone(),
                parent_line_id: bundle.then(|| line_id.to_string()),
                listing_id: line.listing_id.clone(),
                sku: Some(sku),
                location: line_location.clone(),
                multiplier: per_unit,
                quantity: line.quantity,
                open_quantity: target.open,
                committed_quantity: target.committed,
                returned_quantity: target.returned,
                unit_price_minor: line.unit_price_minor,
            };
            if booked_lines.get(&record_id) != Some(&record) {
                line_writes.push(record);
            }
        }
    }
    // A line the platform no longer reports holds nothing; what shipped stays shipped.
    let mut dropped: Vec<&OrderLineRecord> = booked_lines
        .values()
        .filter(|record| !snapshot.contains_key(platform_line_id(record)))
        .filter(|record| record.sku.is_some() && record.open_quantity != 0)
        .collect();
    dropped.sort_by(|a, b| a.line_id.cmp(&b.line_id));
    for record in dropped {
        if let Some(sku) = &record.sku {
            line_changes.push(LineChange {
                sku: sku.clone(),
                location: record.location.clone(),
                line_id: record.line_id.clone(),
                change: PlannedChange {
                    reason: "release",
                    on_hand_delta: 0,
                    reserved_delta: -record.open_quantity,
                },
            });
            line_writes.push(OrderLineRecord {
                open_quantity: 0,
                ..record.clone()
            });
        }
    }

    let currency = event.currency.clone().or(order.currency.clone());
    let changed = order.revision == 0
        || !line_writes.is_empty()
        || !line_deletes.is_empty()
        || !line_changes.is_empty()
        || order.status != event.status.as_str()
        || currency != order.currency;
    Ok(PlannedBooking {
        order_id,
        new_revision: order.revision + 1,
        revision: order.revision,
        changed,
        already_oversold: order.oversold != 0,
        currency,
        line_changes,
        unknown_lines,
        line_writes,
        line_deletes,
    })
}

fn colliding_lines(external_order_id: &str, record_id: &str) -> LedgerError {
    LedgerError::InvalidOrder {
        external_order_id: external_order_id.to_string(),
        reason: format!("two of its lines would be booked as line {record_id:?}"),
    }
}

/// The platform's id of the line a booked line stands for.
fn platform_line_id(record: &OrderLineRecord) -> &str {
    record
        .parent_line_id
        .as_deref()
        .unwrap_or(record.line_id.as_str())
}

fn status_rank(status: OrderStatus) -> u8 {
    match status {
        OrderStatus::Open => 0,
        OrderStatus::Fulfilled => 1,
        OrderStatus::Cancelled => 2,
    }
}

fn status_rank_text(status: &str) -> u8 {
    OrderStatus::parse(status).map(status_rank).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(open: i64, committed: i64, returned: i64) -> LineState {
        LineState {
            open,
            committed,
            returned,
        }
    }

    fn net(changes: &[PlannedChange]) -> (i64, i64) {
        changes.iter().fold((0, 0), |(on_hand, reserved), change| {
            (
                on_hand + change.on_hand_delta,
                reserved + change.reserved_delta,
            )
        })
    }

    #[test]
    fn partial_ship_consumes_the_reservation() {
        let changes = plan_line_changes(state(5, 0, 0), state(3, 2, 0));
        assert_eq!(
            changes,
            vec![PlannedChange {
                reason: "commit",
                on_hand_delta: -2,
                reserved_delta: -2
            }]
        );
    }

    #[test]
    fn order_first_seen_shipped_only_commits() {
        let changes = plan_line_changes(state(0, 0, 0), state(0, 4, 1));
        assert_eq!(net(&changes), (-3, 0));
        assert!(changes.iter().all(|change| change.reason != "reserve"));
    }

    #[test]
    fn net_change_always_matches_the_states() {
        for booked in [state(0, 0, 0), state(3, 1, 0), state(0, 5, 2)] {
            for target in [
                state(0, 0, 0),
                state(2, 3, 1),
                state(6, 0, 0),
                state(0, 5, 5),
            ] {
                let (on_hand, reserved) = net(&plan_line_changes(booked, target));
                assert_eq!(reserved, target.open - booked.open);
                assert_eq!(
                    on_hand,
                    -(target.committed - booked.committed) + (target.returned - booked.returned)
                );
            }
        }
    }
}
