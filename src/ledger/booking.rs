//! Booking one order snapshot: compare it with what was booked for the order and plan the
//! difference (the group in `booking_group.rs` applies it).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use omnistock_connector::{LineState, OrderLine, OrderStatus};
use tracing::{debug, warn};

use super::booking_group::BookingRequest;
use super::error::DatabaseContext;
use super::reads::read_order_lines;
use super::types::{BookingOutcome, BookingResult, OrderLineRecord, UnknownLine};
use super::write::WriteTx;
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

type OrderRow = (i64, String, String, i64, i64, i64, Option<String>);

/// What is cached for the length of one booking transaction: the channels' return rules and
/// the locations known to exist, read once however many orders the group books.
#[derive(Default)]
pub(crate) struct GroupContext {
    restock_returns: HashMap<String, bool>,
    known_locations: HashSet<String>,
}

/// The first phase of booking one event: either it is done (duplicate, stale), or its order
/// and lines are written and the balance changes it needs are planned, to be applied together
/// with the rest of its group.
pub(crate) enum Planned {
    Done(BookingOutcome),
    Changes(PlannedBooking),
}

/// An order event whose order row and lines are written, waiting for its balance changes and
/// the final update of its order row.
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
    /// The channel's listings the order's lines name (their confirmed quantities are forgotten
    /// when stock moved).
    pub listing_ids: Vec<String>,
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

/// Phase one of a booking (see [`Planned`]), inside the group's transaction.
///
/// A delivery id seen before makes the event a [`BookingResult::Duplicate`]; a snapshot older
/// than the booked one is [`BookingResult::Stale`]; otherwise the difference between the
/// snapshot and the booked lines is planned.
pub(crate) async fn plan_booking(
    transaction: &mut WriteTx<'_>,
    context: &mut GroupContext,
    request: &BookingRequest<'_>,
) -> Result<Planned, LedgerError> {
    let BookingRequest {
        channel_id,
        location,
        event,
    } = *request;
    let external_order_id = event.external_order_id.as_str();
    let restock_returns = match context.restock_returns.get(channel_id) {
        Some(restock) => *restock,
        None => {
            let restock = channel_restocks_returns(transaction, channel_id).await?;
            context
                .restock_returns
                .insert(channel_id.to_string(), restock);
            restock
        }
    };
    if !context.known_locations.contains(location) {
        transaction.ensure_location(location).await?;
        context.known_locations.insert(location.to_string());
    }
    let now = transaction.now;

    if let Some(delivery_id) = &event.delivery_id {
        let first_time: Option<(String,)> = sqlx::query_as(
            "INSERT INTO webhook_deliveries (channel_id, delivery_id, received_at) \
             VALUES ($1, $2, $3) ON CONFLICT (channel_id, delivery_id) DO NOTHING \
             RETURNING delivery_id",
        )
        .bind(channel_id)
        .bind(delivery_id)
        .bind(now)
        .fetch_optional(transaction.connection())
        .await
        .context("recording a webhook delivery")?;
        if first_time.is_none() {
            let order_id = order_id(transaction, channel_id, external_order_id).await?;
            debug!(channel = %channel_id, order = %external_order_id, delivery = %delivery_id,
                "duplicate delivery ignored");
            return Ok(Planned::Done(outcome(order_id, BookingResult::Duplicate)));
        }
    }

    let platform_updated_at = event.updated_at.timestamp_millis();
    // The no-op update makes the statement return (and, in PostgreSQL, lock) an existing
    // row, so two connections booking the same order take turns.
    let (
        order_id,
        stored_status,
        order_location,
        booked_updated_at,
        revision,
        oversold,
        currency,
    ): OrderRow = sqlx::query_as(
        "INSERT INTO orders (channel_id, external_order_id, status, location, \
             platform_updated_at, revision, oversold, currency, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7, $7) \
             ON CONFLICT (channel_id, external_order_id) \
             DO UPDATE SET channel_id = excluded.channel_id \
             RETURNING id, status, location, platform_updated_at, revision, oversold, currency",
    )
    .bind(channel_id)
    .bind(external_order_id)
    .bind(event.status.as_str())
    .bind(location)
    .bind(platform_updated_at)
    .bind(event.currency.as_deref())
    .bind(now)
    .fetch_one(transaction.connection())
    .await
    .context("upserting an order")?;

    // Two snapshots stamped with the same time (platforms often have one-second clocks) are
    // ordered by how far the order got, so "cancelled" then "open" ends cancelled either way.
    let older_at_same_time = platform_updated_at == booked_updated_at
        && revision > 0
        && status_rank(event.status) < status_rank_text(&stored_status);
    if platform_updated_at < booked_updated_at || older_at_same_time {
        debug!(channel = %channel_id, order = %external_order_id, "stale order snapshot ignored");
        return Ok(Planned::Done(outcome(Some(order_id), BookingResult::Stale)));
    }

    // An order never booked (revision 0) has no lines yet: one round trip saved per new order.
    let booked_lines: HashMap<String, OrderLineRecord> = if revision == 0 {
        HashMap::new()
    } else {
        read_order_lines(transaction.connection(), order_id)
            .await?
            .into_iter()
            .map(|line| (line.line_id.clone(), line))
            .collect()
    };
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
    let mut lines_changed = false;
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
        let components = match booked_components {
            Some(components) => Some(components),
            None => resolve_line(transaction, channel_id, line).await?,
        };
        let line_location = group
            .and_then(|records| records.first())
            .map(|record| record.location.clone())
            .unwrap_or_else(|| order_location.clone());
        let Some(mut components) = components else {
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
                upsert_line(transaction, order_id, &record).await?;
                lines_changed = true;
            }
            continue;
        };
        components.sort();
        let bundle = components.len() > 1;
        if bundle {
            // The line was kept unknown before and now resolves to a bundle: its
            // components replace it.
            if booked_lines
                .get(*line_id)
                .is_some_and(|record| record.sku.is_none())
            {
                delete_line(transaction, order_id, line_id).await?;
                lines_changed = true;
            }
        }
        for (sku, per_unit) in components {
            let record_id = if bundle {
                format!("{line_id}#{sku}")
            } else {
                line_id.to_string()
            };
            let booked = booked_lines
                .get(&record_id)
                .filter(|record| record.sku.is_some());
            let booked_state = booked.map(booked_state).unwrap_or_default();
            let mut target = scaled(line.target_state(event.status), per_unit);
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
                upsert_line(transaction, order_id, &record).await?;
                lines_changed = true;
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
            let released = OrderLineRecord {
                open_quantity: 0,
                ..record.clone()
            };
            upsert_line(transaction, order_id, &released).await?;
            lines_changed = true;
        }
    }

    let currency_now = event.currency.clone().or(currency.clone());
    let changed = revision == 0
        || lines_changed
        || !line_changes.is_empty()
        || stored_status != event.status.as_str()
        || currency_now != currency;
    let mut listing_ids: Vec<String> = event
        .lines
        .iter()
        .filter_map(|line| line.listing_id.clone())
        .collect();
    listing_ids.sort();
    listing_ids.dedup();
    Ok(Planned::Changes(PlannedBooking {
        order_id,
        new_revision: revision + 1,
        revision,
        changed,
        already_oversold: oversold != 0,
        currency: currency_now,
        line_changes,
        unknown_lines,
        listing_ids,
    }))
}

/// Writes the order row's final state once its balance changes are applied.
pub(crate) async fn finish_order(
    transaction: &mut WriteTx<'_>,
    request: &BookingRequest<'_>,
    planned: &PlannedBooking,
    oversold_now: bool,
) -> Result<(), LedgerError> {
    let now = transaction.now;
    sqlx::query(
        "UPDATE orders SET status = $1, platform_updated_at = $2, revision = $3, \
         oversold = $4, currency = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(request.event.status.as_str())
    .bind(request.event.updated_at.timestamp_millis())
    .bind(if planned.changed {
        planned.new_revision
    } else {
        planned.revision
    })
    .bind(i64::from(oversold_now))
    .bind(planned.currency.as_deref())
    .bind(now)
    .bind(planned.order_id)
    .execute(transaction.connection())
    .await
    .context("updating an order")?;
    Ok(())
}

async fn order_id(
    transaction: &mut WriteTx<'_>,
    channel_id: &str,
    external_order_id: &str,
) -> Result<Option<i64>, LedgerError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM orders WHERE channel_id = $1 AND external_order_id = $2")
            .bind(channel_id)
            .bind(external_order_id)
            .fetch_optional(transaction.connection())
            .await
            .context("looking up an order")?;
    Ok(row.map(|(id,)| id))
}

fn outcome(order_id: Option<i64>, result: BookingResult) -> BookingOutcome {
    BookingOutcome {
        order_id,
        result,
        changed_skus: Vec::new(),
        oversold_skus: Vec::new(),
        unknown_lines: Vec::new(),
    }
}

/// The SKUs a line takes and how many units of each per unit sold: its channel listing's
/// components (one for a single item or multipack, several for a bundle), else its own sku
/// when that is a known item, else `None` (unknown).
async fn resolve_line(
    transaction: &mut WriteTx<'_>,
    channel_id: &str,
    line: &OrderLine,
) -> Result<Option<Vec<(String, i64)>>, LedgerError> {
    if let Some(listing_id) = &line.listing_id {
        let components: Vec<(String, i64)> = sqlx::query_as(
            "SELECT sku, quantity FROM listing_components \
             WHERE channel_id = $1 AND listing_id = $2 ORDER BY sku",
        )
        .bind(channel_id)
        .bind(listing_id)
        .fetch_all(transaction.connection())
        .await
        .context("resolving a listing")?;
        if !components.is_empty() {
            return Ok(Some(components));
        }
    }
    if let Some(sku) = &line.sku {
        let item: Option<(String,)> = sqlx::query_as("SELECT sku FROM items WHERE sku = $1")
            .bind(sku)
            .fetch_optional(transaction.connection())
            .await
            .context("resolving a line's sku")?;
        return Ok(item.map(|(sku,)| vec![(sku, 1)]));
    }
    Ok(None)
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

/// Whether the channel puts returned units back on hand; refuses an unknown channel.
async fn channel_restocks_returns(
    transaction: &mut WriteTx<'_>,
    channel_id: &str,
) -> Result<bool, LedgerError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT restock_returns FROM channels WHERE id = $1")
        .bind(channel_id)
        .fetch_optional(transaction.connection())
        .await
        .context("looking up a channel")?;
    row.map(|(restock,)| restock != 0)
        .ok_or_else(|| LedgerError::UnknownChannel(channel_id.to_string()))
}

async fn delete_line(
    transaction: &mut WriteTx<'_>,
    order_id: i64,
    line_id: &str,
) -> Result<(), LedgerError> {
    sqlx::query("DELETE FROM order_lines WHERE order_id = $1 AND line_id = $2")
        .bind(order_id)
        .bind(line_id)
        .execute(transaction.connection())
        .await
        .context("replacing an unknown order line")?;
    Ok(())
}

pub(crate) async fn upsert_line(
    transaction: &mut WriteTx<'_>,
    order_id: i64,
    line: &OrderLineRecord,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO order_lines (order_id, line_id, listing_id, sku, location, multiplier, \
         quantity, open_quantity, committed_quantity, returned_quantity, unit_price_minor, \
         parent_line_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (order_id, line_id) DO UPDATE SET listing_id = excluded.listing_id, \
         parent_line_id = excluded.parent_line_id, \
         sku = excluded.sku, location = excluded.location, multiplier = excluded.multiplier, \
         quantity = excluded.quantity, open_quantity = excluded.open_quantity, \
         committed_quantity = excluded.committed_quantity, \
         returned_quantity = excluded.returned_quantity, \
         unit_price_minor = excluded.unit_price_minor",
    )
    .bind(order_id)
    .bind(&line.line_id)
    .bind(line.listing_id.as_deref())
    .bind(line.sku.as_deref())
    .bind(&line.location)
    .bind(line.multiplier)
    .bind(line.quantity)
    .bind(line.open_quantity)
    .bind(line.committed_quantity)
    .bind(line.returned_quantity)
    .bind(line.unit_price_minor)
    .bind(line.parent_line_id.as_deref())
    .execute(transaction.connection())
    .await
    .context("writing an order line")?;
    Ok(())
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
