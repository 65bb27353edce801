//! Booking one order snapshot: compare it with what was booked for the order and plan the
//! difference. Pure: the group in `group.rs` reads what a plan needs and writes what it
//! decides.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use omnistock_connector::{LineState, OrderEvent, OrderLine, OrderStatus};
use tracing::warn;

use crate::ledger::booking::rows::{BookedOrder, ChannelRules};
use crate::ledger::types::{BookingRequest, MovementReason, OrderLineRecord, UnknownLine};
use crate::ledger::LedgerError;

/// One balance change a booking plans for a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedChange {
    pub reason: MovementReason,
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
            reason: MovementReason::Commit,
            on_hand_delta: -shipped,
            reserved_delta: -from_reservation,
        });
    }
    let hold = target.open - (booked.open - from_reservation);
    if hold != 0 {
        changes.push(PlannedChange {
            reason: if hold > 0 {
                MovementReason::Reserve
            } else {
                MovementReason::Release
            },
            on_hand_delta: 0,
            reserved_delta: hold,
        });
    }
    let returned = target.returned - booked.returned;
    if returned != 0 {
        changes.push(PlannedChange {
            reason: MovementReason::Restock,
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
    pub(crate) fn changed_skus(&self) -> Vec<String> {
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
pub(crate) const MAX_ID_BYTES: usize = 1024;

/// The largest quantity a line may report: far beyond any real order, far below where sums of
/// balances could overflow.
pub(crate) const MAX_LINE_QUANTITY: i64 = 1_000_000_000;

/// Refuses an event the ledger could never book: an id too long or holding a NUL character
/// (PostgreSQL stores no NUL in text), a quantity beyond [`MAX_LINE_QUANTITY`].
pub(crate) fn check_event(event: &OrderEvent) -> Result<(), LedgerError> {
    let refuse = |reason: String| LedgerError::InvalidOrder {
        external_order_id: crate::ledger::records::quarantine::order_label(
            &event.external_order_id,
        ),
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
                crate::ledger::records::quarantine::order_label(&line.line_id)
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
///
/// In steps: index the booked lines, take the snapshot's lines (one per id), plan each line
/// (unknown, or one booked line per SKU it takes), release the booked lines the snapshot no
/// longer reports, then say whether the order changed.
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
    let booked_lines: HashMap<String, OrderLineRecord> = booked_lines
        .into_iter()
        .map(|line| (line.line_id.clone(), line))
        .collect();
    let booked_groups = group_by_platform_line(&booked_lines);
    let snapshot = snapshot_lines(channel_id, event);
    let mut plan = LinePlan {
        event,
        booked_lines: &booked_lines,
        baseline: is_baseline(event, order, rules),
        same_stamp: order.revision > 0
            && event.updated_at.timestamp_millis() == order.platform_updated_at,
        restock_returns: rules.restock_returns,
        record_ids: HashSet::new(),
        line_changes: Vec::new(),
        unknown_lines: Vec::new(),
        line_writes: Vec::new(),
        line_deletes: Vec::new(),
    };
    for (line_id, line) in &snapshot {
        let group = booked_groups.get(*line_id);
        let location = line_location(group, order);
        match line_components(group, resolutions, channel_id, line) {
            None => plan.unknown_line(line_id, line, location)?,
            Some(components) => plan.resolved_line(line_id, line, components, location)?,
        }
    }
    plan.release_dropped_lines(&snapshot);
    Ok(plan.finish(order))
}

/// The booked lines by the platform line they stand for (a bundle line books several).
fn group_by_platform_line(
    booked_lines: &HashMap<String, OrderLineRecord>,
) -> HashMap<String, Vec<&OrderLineRecord>> {
    let mut groups: HashMap<String, Vec<&OrderLineRecord>> = HashMap::new();
    for record in booked_lines.values() {
        groups
            .entry(platform_line_id(record).to_string())
            .or_default()
            .push(record);
    }
    groups
}

/// The snapshot's lines by id; of a repeated id, the last one counts.
fn snapshot_lines<'e>(channel_id: &str, event: &'e OrderEvent) -> BTreeMap<&'e str, &'e OrderLine> {
    let mut snapshot: BTreeMap<&str, &OrderLine> = BTreeMap::new();
    for line in &event.lines {
        if snapshot.insert(line.line_id.as_str(), line).is_some() {
            warn!(channel = %channel_id, order = %event.external_order_id, line = %line.line_id,
                "order snapshot repeats a line id, the last one counts");
        }
    }
    snapshot
}

/// The SKUs a snapshot line takes and how many of each per unit: a line booked against SKUs
/// keeps them, whatever the listing is bound to now; otherwise what the ledger resolves it to
/// now; `None` while it is unknown.
fn line_components(
    group: Option<&Vec<&OrderLineRecord>>,
    resolutions: &Resolutions,
    channel_id: &str,
    line: &OrderLine,
) -> Option<Vec<(String, i64)>> {
    let booked_components: Option<Vec<(String, i64)>> = group
        .filter(|records| records.iter().all(|record| record.sku.is_some()))
        .map(|records| {
            records
                .iter()
                .filter_map(|record| record.sku.clone().map(|sku| (sku, record.multiplier)))
                .collect()
        });
    booked_components.or_else(|| resolutions.resolve(channel_id, line))
}

/// Where a line is booked: where it was booked before, else the order's location.
fn line_location(group: Option<&Vec<&OrderLineRecord>>, order: &BookedOrder) -> String {
    group
        .and_then(|records| records.first())
        .map(|record| record.location.clone())
        .unwrap_or_else(|| order.location.clone())
}

/// The plan of one snapshot's lines as it is made, line by line.
struct LinePlan<'a> {
    event: &'a OrderEvent,
    booked_lines: &'a HashMap<String, OrderLineRecord>,
    /// The first sight of an order placed before the cut-over (see [`is_baseline`]).
    baseline: bool,
    /// The snapshot is stamped like the booked one (see [`without_regression`]).
    same_stamp: bool,
    restock_returns: bool,
    /// The ids of the booked lines planned so far: two lines may not take one.
    record_ids: HashSet<String>,
    line_changes: Vec<LineChange>,
    unknown_lines: Vec<UnknownLine>,
    line_writes: Vec<OrderLineRecord>,
    line_deletes: Vec<String>,
}

impl LinePlan<'_> {
    /// Takes `record_id` for one booked line; refuses it when another line took it.
    fn take_record_id(&mut self, record_id: &str) -> Result<(), LedgerError> {
        if self.record_ids.insert(record_id.to_string()) {
            Ok(())
        } else {
            Err(colliding_lines(&self.event.external_order_id, record_id))
        }
    }

    /// Writes `record` unless it is booked as it is.
    fn write_if_changed(&mut self, record: OrderLineRecord) {
        if self.booked_lines.get(&record.line_id) != Some(&record) {
            self.line_writes.push(record);
        }
    }

    /// A line whose listing and SKU are unknown: kept on the order, holding nothing.
    fn unknown_line(
        &mut self,
        line_id: &str,
        line: &OrderLine,
        location: String,
    ) -> Result<(), LedgerError> {
        self.take_record_id(line_id)?;
        self.unknown_lines.push(UnknownLine {
            line_id: line_id.to_string(),
            listing_id: line.listing_id.clone(),
            sku: line.sku.clone(),
        });
        self.write_if_changed(OrderLineRecord {
            line_id: line_id.to_string(),
            parent_line_id: None,
            listing_id: line.listing_id.clone(),
            sku: None,
            location,
            multiplier: 1,
            quantity: line.quantity,
            open_quantity: 0,
            committed_quantity: 0,
            returned_quantity: 0,
            unit_price_minor: self.unit_price(line_id, line),
        });
        Ok(())
    }

    /// The line's unit price: the snapshot's, else what was booked (a platform's notification
    /// may carry no prices, and must not erase those a fuller snapshot gave).
    fn unit_price(&self, record_id: &str, line: &OrderLine) -> Option<i64> {
        line.unit_price_minor.or_else(|| {
            self.booked_lines
                .get(record_id)
                .and_then(|record| record.unit_price_minor)
        })
    }

    /// A line that takes `components`: one booked line per SKU (`<line>#<sku>` for a bundle),
    /// each moved from what is booked to what the snapshot says.
    fn resolved_line(
        &mut self,
        line_id: &str,
        line: &OrderLine,
        mut components: Vec<(String, i64)>,
        location: String,
    ) -> Result<(), LedgerError> {
        components.sort();
        let bundle = components.len() > 1;
        // The line was kept unknown before and now resolves to a bundle: its components
        // replace it.
        if bundle
            && self
                .booked_lines
                .get(line_id)
                .is_some_and(|record| record.sku.is_none())
        {
            self.line_deletes.push(line_id.to_string());
        }
        for (sku, per_unit) in components {
            let record_id = if bundle {
                format!("{line_id}#{sku}")
            } else {
                line_id.to_string()
            };
            self.take_record_id(&record_id)?;
            let target = self.component_line(&record_id, &sku, per_unit, line, &location);
            let unit_price_minor = self.unit_price(&record_id, line);
            self.write_if_changed(OrderLineRecord {
                line_id: record_id,
                parent_line_id: bundle.then(|| line_id.to_string()),
                listing_id: line.listing_id.clone(),
                sku: Some(sku),
                location: location.clone(),
                multiplier: per_unit,
                quantity: line.quantity,
                open_quantity: target.open,
                committed_quantity: target.committed,
                returned_quantity: target.returned,
                unit_price_minor,
            });
        }
        Ok(())
    }

    /// Plans the balance changes of one booked line (`record_id`, taking `per_unit` of `sku`
    /// per unit of `line`); returns the state it is booked in after them.
    fn component_line(
        &mut self,
        record_id: &str,
        sku: &str,
        per_unit: i64,
        line: &OrderLine,
        location: &str,
    ) -> LineState {
        let booked = self
            .booked_lines
            .get(record_id)
            .filter(|record| record.sku.is_some());
        let mut target = scaled(line.target_state(self.event.status), per_unit);
        let booked_state = match booked {
            Some(record) => booked_state(record),
            // A baseline: shipped and returned as of now, on hand untouched; the open
            // units reserve as usual.
            None if self.baseline => LineState {
                open: 0,
                committed: target.committed,
                returned: target.returned,
            },
            None => LineState::default(),
        };
        if self.same_stamp && booked.is_some_and(|record| record.quantity == line.quantity) {
            target = without_regression(booked_state, target);
        }
        if !self.restock_returns {
            // Returns stay where the operator inspects them; what was restocked before
            // (while the channel restocked returns) stays restocked.
            target.returned = booked_state.returned.min(target.committed);
        }
        for change in plan_line_changes(booked_state, target) {
            self.line_changes.push(LineChange {
                sku: sku.to_string(),
                location: location.to_string(),
                line_id: record_id.to_string(),
                change,
            });
        }
        target
    }

    /// A line the platform no longer reports holds nothing; what shipped stays shipped.
    fn release_dropped_lines(&mut self, snapshot: &BTreeMap<&str, &OrderLine>) {
        let mut dropped: Vec<&OrderLineRecord> = self
            .booked_lines
            .values()
            .filter(|record| !snapshot.contains_key(platform_line_id(record)))
            .filter(|record| record.sku.is_some() && record.open_quantity != 0)
            .collect();
        dropped.sort_by(|a, b| a.line_id.cmp(&b.line_id));
        for record in dropped {
            if let Some(sku) = &record.sku {
                self.line_changes.push(LineChange {
                    sku: sku.clone(),
                    location: record.location.clone(),
                    line_id: record.line_id.clone(),
                    change: PlannedChange {
                        reason: MovementReason::Release,
                        on_hand_delta: 0,
                        reserved_delta: -record.open_quantity,
                    },
                });
                self.line_writes.push(OrderLineRecord {
                    open_quantity: 0,
                    ..record.clone()
                });
            }
        }
    }

    /// The booking planned: the order's next state and whether anything of it changed.
    fn finish(self, order: &BookedOrder) -> PlannedBooking {
        let event = self.event;
        let currency = event.currency.clone().or(order.currency.clone());
        let changed = order.revision == 0
            || !self.line_writes.is_empty()
            || !self.line_deletes.is_empty()
            || !self.line_changes.is_empty()
            || order.status != event.status.as_str()
            || currency != order.currency;
        PlannedBooking {
            order_id: order.id,
            new_revision: order.revision + 1,
            revision: order.revision,
            changed,
            already_oversold: order.oversold != 0,
            currency,
            line_changes: self.line_changes,
            unknown_lines: self.unknown_lines,
            line_writes: self.line_writes,
            line_deletes: self.line_deletes,
        }
    }
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
                reason: MovementReason::Commit,
                on_hand_delta: -2,
                reserved_delta: -2
            }]
        );
    }

    #[test]
    fn order_first_seen_shipped_only_commits() {
        let changes = plan_line_changes(state(0, 0, 0), state(0, 4, 1));
        assert_eq!(net(&changes), (-3, 0));
        assert!(changes
            .iter()
            .all(|change| change.reason != MovementReason::Reserve));
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
