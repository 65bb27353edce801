//! Booking order events in groups: several events in one transaction, so that concurrent
//! webhooks share one commit, one outbox notification and the channel and location lookups.
//!
//! A group books in rounds in which each order appears once (a later event of an order must
//! see the result of the earlier one). A round has three phases: every event's order row and
//! lines ([`plan_booking`]), then all balance changes of the round in (SKU, location) order,
//! then every order row's final state. Order rows and balance rows are therefore locked in one
//! global order, so two groups running side by side on PostgreSQL wait for each other instead
//! of deadlocking. If a group fails as a whole, each of its events is booked alone, so that one
//! bad event fails alone and the others are still booked.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use omnistock_connector::{OrderEvent, OrderLine};
use tracing::debug;

use crate::ledger::booking::plan::{
    check_event, is_stale, lines_to_resolve, plan_snapshot, LineChange, PlannedBooking, Resolutions,
};
use crate::ledger::booking::rows::{
    channel_rules, delete_line, ensure_locations, finish_orders, known_skus, order_ids, read_lines,
    record_deliveries, upsert_orders, write_lines, BookedOrder, ChannelRules, FinishedOrder,
    OrderUpsertRow,
};
use crate::ledger::db::write::{MovementDraft, WriteTx};
use crate::ledger::push::targets::{forget_pushed, listings_taking};
use crate::ledger::stock::catalog::read_components;
use crate::ledger::types::{BookingOutcome, BookingRequest, BookingResult, OrderLineRecord};
use crate::ledger::{Ledger, LedgerError};

impl Ledger {
    /// Books an order snapshot of `channel_id`; new lines hold stock at `location`.
    ///
    /// In one transaction: a delivery id seen before makes it a [`BookingResult::Duplicate`];
    /// a snapshot older than the booked one is [`BookingResult::Stale`]; otherwise the
    /// difference between the snapshot and the booked lines is journaled and applied. An order
    /// that drives availability below zero is still booked, and flagged oversold.
    pub async fn book_order(
        &self,
        channel_id: &str,
        location: &str,
        event: &OrderEvent,
    ) -> Result<BookingOutcome, LedgerError> {
        self.book_alone(&BookingRequest {
            channel_id,
            location,
            event,
        })
        .await
    }

    /// Books every request as [`Ledger::book_order`] does, in one transaction when it can: one
    /// result per request, in order. Each booking is durable when its result is `Ok`.
    pub async fn book_orders(
        &self,
        requests: &[BookingRequest<'_>],
    ) -> Vec<Result<BookingOutcome, LedgerError>> {
        if let [request] = requests {
            return vec![self.book_alone(request).await];
        }
        // An event that can never be booked is refused up front, so that it does not cost the
        // others their shared transaction.
        let checks: Vec<Result<(), LedgerError>> = requests
            .iter()
            .map(|request| check_event(request.event))
            .collect();
        if checks.iter().any(Result::is_err) {
            let valid: Vec<BookingRequest<'_>> = requests
                .iter()
                .zip(&checks)
                .filter(|(_, check)| check.is_ok())
                .map(|(request, _)| *request)
                .collect();
            let booked = match valid.is_empty() {
                true => Vec::new(),
                false => Box::pin(self.book_orders(&valid)).await,
            };
            let mut booked = booked.into_iter();
            return checks
                .into_iter()
                .map(|check| match check {
                    Ok(()) => booked.next().unwrap_or_else(|| Err(no_outcome())),
                    Err(refusal) => Err(refusal),
                })
                .collect();
        }
        match self.book_group(requests).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(error) => {
                // A deadlock with another replica's group, an unknown channel, a lost
                // connection: the transaction is gone, so each event is tried alone.
                debug!(events = requests.len(), error = %error,
                    "grouped booking failed; booking each event alone");
                let mut results = Vec::with_capacity(requests.len());
                for request in requests {
                    results.push(self.book_alone(request).await);
                }
                results
            }
        }
    }

    /// Books one request in a transaction of its own.
    async fn book_alone(
        &self,
        request: &BookingRequest<'_>,
    ) -> Result<BookingOutcome, LedgerError> {
        self.book_group(std::slice::from_ref(request))
            .await?
            .pop()
            .ok_or_else(no_outcome)
    }

    /// Books all `requests` in one transaction; nothing is booked unless all are.
    async fn book_group(
        &self,
        requests: &[BookingRequest<'_>],
    ) -> Result<Vec<BookingOutcome>, LedgerError> {
        for request in requests {
            check_event(request.event)?;
        }
        let mut transaction = WriteTx::begin(self).await?;
        let channels: BTreeSet<&str> = requests.iter().map(|request| request.channel_id).collect();
        let channel_rules = channel_rules(&mut transaction, &channels).await?;
        let locations: BTreeSet<&str> = requests.iter().map(|request| request.location).collect();
        ensure_locations(&mut transaction, &locations).await?;
        let mut outcomes: Vec<Option<BookingOutcome>> = vec![None; requests.len()];
        let mut forget: BTreeSet<(&str, &str)> = BTreeSet::new();
        let mut sold_by_sku: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for round in rounds(requests) {
            let booked = book_round(&mut transaction, requests, &round, &channel_rules).await?;
            for (index, outcome, shown) in booked {
                outcomes[index] = Some(outcome);
                forget.extend(shown.listings);
                for (channel_id, sku) in shown.skus {
                    sold_by_sku
                        .entry(channel_id)
                        .or_default()
                        .push(sku.to_string());
                }
            }
        }
        // A platform changes its own shown stock when it sells or cancels: the next push of
        // those listings must reach it even if the level equals the last one pushed. A line
        // that names no listing, only a SKU, changes every listing of the channel taking it.
        let mut taking_sold_skus: Vec<(&str, String)> = Vec::new();
        for (channel_id, skus) in &sold_by_sku {
            let backend = transaction.backend();
            for listing_id in
                listings_taking(transaction.connection(), backend, channel_id, skus).await?
            {
                taking_sold_skus.push((channel_id, listing_id));
            }
        }
        forget.extend(
            taking_sold_skus
                .iter()
                .map(|(channel_id, listing_id)| (*channel_id, listing_id.as_str())),
        );
        forget_pushed(&mut transaction, &forget).await?;
        transaction.commit().await?;
        outcomes
            .into_iter()
            .map(|outcome| outcome.ok_or_else(no_outcome))
            .collect()
    }
}

/// What a round gives back for one event: its index, its outcome and what the booking changed
/// of the stock its channel shows.
type RoundOutcome<'r> = (usize, BookingOutcome, ShownByChannel<'r>);

/// The listings whose last confirmed quantity a booking makes stale: a platform moves its own
/// shown stock when it sells or cancels.
#[derive(Debug, Default)]
struct ShownByChannel<'r> {
    /// (channel, listing) named by the order's changed lines.
    listings: Vec<(&'r str, &'r str)>,
    /// (channel, SKU) of changed lines that name no listing: every listing of the channel
    /// taking the SKU.
    skus: Vec<(&'r str, &'r str)>,
}

/// Books one round (each order at most once), each phase one statement over the whole round.
async fn book_round<'r>(
    transaction: &mut WriteTx<'_>,
    requests: &'r [BookingRequest<'r>],
    round: &[usize],
    channel_rules: &HashMap<String, ChannelRules>,
) -> Result<Vec<RoundOutcome<'r>>, LedgerError> {
    let mut done: Vec<RoundOutcome<'r>> = Vec::new();
    let fresh = skip_duplicate_deliveries(transaction, requests, round, &mut done).await?;
    let current = lock_orders(transaction, requests, &fresh, &mut done).await?;
    let planned = plan_round(transaction, requests, &current, channel_rules).await?;
    write_planned_lines(transaction, &planned).await?;
    let oversold = apply_balance_changes(transaction, requests, &planned).await?;
    finish_round(transaction, requests, planned, oversold, &mut done).await?;
    Ok(done)
}

/// Creates or locks the order rows of the events, in the round's order (channel, order); a
/// snapshot older than its booked order is done as stale. Returns the others with their rows.
async fn lock_orders<'r>(
    transaction: &mut WriteTx<'_>,
    requests: &'r [BookingRequest<'r>],
    fresh: &[usize],
    done: &mut Vec<RoundOutcome<'r>>,
) -> Result<Vec<(usize, BookedOrder)>, LedgerError> {
    let upserts: Vec<OrderUpsertRow<'_>> = fresh
        .iter()
        .map(|&index| {
            let BookingRequest {
                channel_id,
                location,
                event,
            } = requests[index];
            OrderUpsertRow {
                channel_id,
                external_order_id: &event.external_order_id,
                status: event.status.as_str(),
                location,
                platform_updated_at: event.updated_at.timestamp_millis(),
                currency: event.currency.as_deref(),
                placed_at: event.created_at.map(|placed| placed.timestamp_millis()),
            }
        })
        .collect();
    let mut orders = upsert_orders(transaction, &upserts).await?;
    let mut current: Vec<(usize, BookedOrder)> = Vec::with_capacity(fresh.len());
    for &index in fresh {
        let request = &requests[index];
        let key = (
            request.channel_id.to_string(),
            request.event.external_order_id.clone(),
        );
        let order = orders
            .remove(&key)
            .ok_or_else(|| LedgerError::Corrupt(format!("order {key:?} was not upserted")))?;
        if is_stale(request.event, &order) {
            debug!(channel = %request.channel_id, order = %key.1, "stale order snapshot ignored");
            let stale = outcome(Some(order.id), BookingResult::Stale);
            done.push((index, stale, ShownByChannel::default()));
        } else {
            current.push((index, order));
        }
    }
    Ok(current)
}

/// Reads what the round's plans need (the booked lines of known orders, the listings and items
/// of unbooked lines) and plans each event.
async fn plan_round(
    transaction: &mut WriteTx<'_>,
    requests: &[BookingRequest<'_>],
    current: &[(usize, BookedOrder)],
    channel_rules: &HashMap<String, ChannelRules>,
) -> Result<Vec<(usize, PlannedBooking)>, LedgerError> {
    // An order never booked (revision 0) has no lines yet.
    let booked_before: Vec<i64> = current
        .iter()
        .filter(|(_, order)| order.revision > 0)
        .map(|(_, order)| order.id)
        .collect();
    let mut booked_lines = read_lines(transaction, &booked_before).await?;
    let resolutions = resolve_round(transaction, requests, current, &booked_lines).await?;
    let mut planned: Vec<(usize, PlannedBooking)> = Vec::with_capacity(current.len());
    for (index, order) in current {
        let request = &requests[*index];
        let rules = channel_rules
            .get(request.channel_id)
            .copied()
            .ok_or_else(|| LedgerError::UnknownChannel(request.channel_id.to_string()))?;
        let lines = booked_lines.remove(&order.id).unwrap_or_default();
        let plan = plan_snapshot(request, order, lines, &resolutions, rules)?;
        planned.push((*index, plan));
    }
    Ok(planned)
}

/// Writes the booked lines the plans changed.
async fn write_planned_lines(
    transaction: &mut WriteTx<'_>,
    planned: &[(usize, PlannedBooking)],
) -> Result<(), LedgerError> {
    for (_, booking) in planned {
        for line_id in &booking.line_deletes {
            delete_line(transaction, booking.order_id, line_id).await?;
        }
    }
    let line_writes: Vec<(i64, OrderLineRecord)> = planned
        .iter()
        .flat_map(|(_, booking)| {
            booking
                .line_writes
                .iter()
                .map(|line| (booking.order_id, line.clone()))
        })
        .collect();
    write_lines(transaction, &line_writes).await
}

/// Writes each order row's final state and gives each planned event its outcome.
async fn finish_round<'r>(
    transaction: &mut WriteTx<'_>,
    requests: &'r [BookingRequest<'r>],
    planned: Vec<(usize, PlannedBooking)>,
    oversold: Vec<Vec<String>>,
    done: &mut Vec<RoundOutcome<'r>>,
) -> Result<(), LedgerError> {
    let finished: Vec<FinishedOrder<'_>> = planned
        .iter()
        .zip(&oversold)
        .map(|((index, booking), oversold_skus)| {
            let event = requests[*index].event;
            FinishedOrder {
                id: booking.order_id,
                status: event.status.as_str(),
                platform_updated_at: event.updated_at.timestamp_millis(),
                revision: if booking.changed {
                    booking.new_revision
                } else {
                    booking.revision
                },
                oversold: i64::from(booking.already_oversold || !oversold_skus.is_empty()),
                currency: booking.currency.as_deref(),
                total_minor: event.total_minor,
            }
        })
        .collect();
    finish_orders(transaction, &finished).await?;

    for ((index, booking), oversold_skus) in planned.into_iter().zip(oversold) {
        let request = &requests[index];
        let mut shown = ShownByChannel::default();
        if !booking.line_changes.is_empty() {
            for line in &request.event.lines {
                match (line.listing_id.as_deref(), line.sku.as_deref()) {
                    (Some(listing_id), _) => shown.listings.push((request.channel_id, listing_id)),
                    (None, Some(sku)) => shown.skus.push((request.channel_id, sku)),
                    (None, None) => {}
                }
            }
        }
        let outcome = BookingOutcome {
            order_id: Some(booking.order_id),
            result: if booking.changed {
                BookingResult::Applied
            } else {
                BookingResult::Unchanged
            },
            changed_skus: booking.changed_skus(),
            oversold_skus,
            unknown_lines: booking.unknown_lines,
        };
        done.push((index, outcome, shown));
    }
    Ok(())
}

/// Records the round's delivery ids; an event whose delivery was seen before (in an earlier
/// transaction, an earlier round or earlier in this round) is done as a duplicate. Returns the
/// other events, in the round's order.
async fn skip_duplicate_deliveries<'r>(
    transaction: &mut WriteTx<'_>,
    requests: &'r [BookingRequest<'r>],
    round: &[usize],
    done: &mut Vec<RoundOutcome<'r>>,
) -> Result<Vec<usize>, LedgerError> {
    let mut deliveries: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut repeated: HashSet<usize> = HashSet::new();
    for &index in round {
        let request = &requests[index];
        if let Some(delivery_id) = &request.event.delivery_id {
            if !deliveries.insert((request.channel_id, delivery_id.as_str())) {
                repeated.insert(index);
            }
        }
    }
    let recorded = record_deliveries(transaction, &deliveries).await?;
    let duplicates: Vec<usize> = round
        .iter()
        .copied()
        .filter(|index| {
            let request = &requests[*index];
            request
                .event
                .delivery_id
                .as_ref()
                .is_some_and(|delivery_id| {
                    repeated.contains(index)
                        || !recorded
                            .contains(&(request.channel_id.to_string(), delivery_id.clone()))
                })
        })
        .collect();
    if !duplicates.is_empty() {
        let orders: BTreeSet<(&str, &str)> = duplicates
            .iter()
            .map(|&index| {
                let request = &requests[index];
                (request.channel_id, request.event.external_order_id.as_str())
            })
            .collect();
        let ids = order_ids(transaction, &orders).await?;
        for &index in &duplicates {
            let request = &requests[index];
            let key = (
                request.channel_id.to_string(),
                request.event.external_order_id.clone(),
            );
            debug!(channel = %request.channel_id, order = %key.1,
                delivery = request.event.delivery_id.as_deref(), "duplicate delivery ignored");
            let order_id = ids.get(&key).copied();
            done.push((
                index,
                outcome(order_id, BookingResult::Duplicate),
                ShownByChannel::default(),
            ));
        }
    }
    Ok(round
        .iter()
        .copied()
        .filter(|index| !duplicates.contains(index))
        .collect())
}

/// Reads the listings' components and the items that the round's unbooked lines name.
async fn resolve_round(
    transaction: &mut WriteTx<'_>,
    requests: &[BookingRequest<'_>],
    current: &[(usize, BookedOrder)],
    booked_lines: &HashMap<i64, Vec<OrderLineRecord>>,
) -> Result<Resolutions, LedgerError> {
    let mut unresolved: Vec<(&str, &OrderLine)> = Vec::new();
    for (index, order) in current {
        let request = &requests[*index];
        let booked = booked_lines.get(&order.id).map_or(&[][..], Vec::as_slice);
        for line in lines_to_resolve(request.event, booked) {
            unresolved.push((request.channel_id, line));
        }
    }
    let listings: BTreeSet<(&str, &str)> = unresolved
        .iter()
        .filter_map(|(channel_id, line)| {
            line.listing_id
                .as_deref()
                .map(|listing_id| (*channel_id, listing_id))
        })
        .collect();
    let backend = transaction.backend();
    let components: HashMap<(String, String), Vec<(String, i64)>> =
        read_components(transaction.connection(), backend, &listings)
            .await?
            .into_iter()
            .map(|(listing, parts)| {
                let parts = parts.into_iter().map(|part| (part.sku, part.quantity));
                (listing, parts.collect())
            })
            .collect();
    // A line's own sku counts only when its listing has no components.
    let skus: BTreeSet<&str> = unresolved
        .iter()
        .filter(|(channel_id, line)| {
            line.listing_id.as_ref().is_none_or(|listing_id| {
                !components.contains_key(&(channel_id.to_string(), listing_id.clone()))
            })
        })
        .filter_map(|(_, line)| line.sku.as_deref())
        .collect();
    let known_skus = known_skus(transaction, &skus).await?;
    Ok(Resolutions {
        components,
        known_skus,
    })
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

fn no_outcome() -> LedgerError {
    LedgerError::Corrupt("a booking gave no outcome".to_string())
}

/// Splits a group into rounds in which each order appears once, keeping each order's events in
/// their order; a round is sorted by (channel, order), the order in which rows are locked.
fn rounds(requests: &[BookingRequest<'_>]) -> Vec<Vec<usize>> {
    let key = |index: usize| {
        let request = &requests[index];
        (request.channel_id, request.event.external_order_id.as_str())
    };
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut orders_in_round: HashSet<(&str, &str)> = HashSet::new();
    for index in 0..requests.len() {
        if !orders_in_round.insert(key(index)) {
            rounds.push(std::mem::take(&mut current));
            orders_in_round.clear();
            orders_in_round.insert(key(index));
        }
        current.push(index);
    }
    if !current.is_empty() {
        rounds.push(current);
    }
    for round in &mut rounds {
        round.sort_by_key(|&index| key(index));
    }
    rounds
}

/// Applies the round's balance changes in (SKU, location) order, each booking's changes to a
/// place in the round's order, and returns for each booking the SKUs it oversold: those where
/// it reserved and availability was below zero right after its last change there.
async fn apply_balance_changes(
    transaction: &mut WriteTx<'_>,
    requests: &[BookingRequest<'_>],
    planned: &[(usize, PlannedBooking)],
) -> Result<Vec<Vec<String>>, LedgerError> {
    let mut changes: Vec<(usize, &LineChange)> = planned
        .iter()
        .enumerate()
        .flat_map(|(booking, (_, plan))| plan.line_changes.iter().map(move |c| (booking, c)))
        .collect();
    // Stable: a booking's changes to one place keep their order, bookings keep theirs.
    changes.sort_by(|(_, a), (_, b)| (&a.sku, &a.location).cmp(&(&b.sku, &b.location)));
    if changes.is_empty() {
        return Ok(vec![Vec::new(); planned.len()]);
    }

    let labels: Vec<(String, String)> = changes
        .iter()
        .map(|&(booking, line_change)| {
            let (index, plan) = &planned[booking];
            let request = &requests[*index];
            let reference = format!("{}/{}", request.channel_id, request.event.external_order_id);
            let key = format!(
                "order:{}:r{}:{}:{}",
                plan.order_id,
                plan.new_revision,
                line_change.line_id,
                line_change.change.reason.as_str()
            );
            (reference, key)
        })
        .collect();
    let movements: Vec<MovementDraft<'_>> = changes
        .iter()
        .zip(&labels)
        .map(|((_, line_change), (reference, key))| MovementDraft {
            sku: &line_change.sku,
            location: &line_change.location,
            on_hand_delta: line_change.change.on_hand_delta,
            reserved_delta: line_change.change.reserved_delta,
            reason: line_change.change.reason,
            reference: Some(reference),
            idempotency_key: key,
            actor: None,
            note: None,
        })
        .collect();
    let balances = transaction.record_all(&movements).await?.ok_or_else(|| {
        LedgerError::Corrupt("the movements of a booking exist for an unbooked revision".into())
    })?;

    // Walking each place's changes backwards from its final balance gives the availability
    // right after each change.
    let mut available: HashMap<(&str, &str), i64> = balances
        .iter()
        .map(|balance| {
            (
                (balance.sku.as_str(), balance.location.as_str()),
                balance.available(),
            )
        })
        .collect();
    let mut oversold: Vec<BTreeSet<String>> = vec![BTreeSet::new(); planned.len()];
    let mut last_change_seen: HashSet<(usize, &str, &str)> = HashSet::new();
    let mut reserved_at: HashSet<(usize, &str, &str)> = changes
        .iter()
        .filter(|(_, line_change)| line_change.change.reserved_delta > 0)
        .map(|(booking, line_change)| {
            (
                *booking,
                line_change.sku.as_str(),
                line_change.location.as_str(),
            )
        })
        .collect();
    for &(booking, line_change) in changes.iter().rev() {
        let place = (line_change.sku.as_str(), line_change.location.as_str());
        let after = available
            .get(&place)
            .copied()
            .ok_or_else(|| LedgerError::Corrupt(format!("no balance came back for {place:?}")))?;
        // The booking's last change at this place is the first one met walking backwards.
        if last_change_seen.insert((booking, place.0, place.1))
            && reserved_at.remove(&(booking, place.0, place.1))
            && after < 0
        {
            oversold[booking].insert(line_change.sku.clone());
        }
        let delta = line_change.change.on_hand_delta - line_change.change.reserved_delta;
        available.insert(place, after - delta);
    }
    Ok(oversold
        .into_iter()
        .map(|skus| skus.into_iter().collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use omnistock_connector::OrderStatus;

    fn event(order: &str) -> OrderEvent {
        OrderEvent {
            external_order_id: order.to_string(),
            status: OrderStatus::Open,
            updated_at: Utc.timestamp_millis_opt(0).single().unwrap_or_default(),
            created_at: None,
            lines: Vec::new(),
            delivery_id: None,
            currency: None,
            total_minor: None,
            location: None,
        }
    }

    #[test]
    fn an_order_appears_once_per_round_and_keeps_its_events_in_order() {
        let events = [event("b"), event("a"), event("b"), event("c"), event("b")];
        let requests: Vec<BookingRequest<'_>> = events
            .iter()
            .map(|event| BookingRequest {
                channel_id: "shop",
                location: "main",
                event,
            })
            .collect();
        assert_eq!(rounds(&requests), vec![vec![1, 0], vec![2, 3], vec![4]]);
    }

    #[test]
    fn a_round_is_sorted_by_channel_then_order() {
        let events = [event("2"), event("1"), event("1")];
        let requests = [
            BookingRequest {
                channel_id: "b",
                location: "main",
                event: &events[0],
            },
            BookingRequest {
                channel_id: "b",
                location: "main",
                event: &events[1],
            },
            BookingRequest {
                channel_id: "a",
                location: "main",
                event: &events[2],
            },
        ];
        assert_eq!(rounds(&requests), vec![vec![2, 1, 0]]);
    }
}
