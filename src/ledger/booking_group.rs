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

use std::collections::{BTreeMap, BTreeSet, HashSet};

use omnistock_connector::OrderEvent;
use tracing::debug;

use super::booking::{finish_order, plan_booking, GroupContext, Planned, PlannedBooking};
use super::push_targets::forget_pushed;
use super::types::{BookingOutcome, BookingResult};
use super::write::{MovementDraft, WriteTx};
use super::{Ledger, LedgerError};

/// One order event to book, as it came from one channel.
#[derive(Debug, Clone, Copy)]
pub struct BookingRequest<'a> {
    pub channel_id: &'a str,
    /// Where the order's new lines hold stock (the channel's location).
    pub location: &'a str,
    pub event: &'a OrderEvent,
}

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
        let mut transaction = WriteTx::begin(self).await?;
        let mut context = GroupContext::default();
        let mut outcomes: Vec<Option<BookingOutcome>> = vec![None; requests.len()];
        for round in rounds(requests) {
            let mut planned: Vec<(usize, PlannedBooking)> = Vec::new();
            for index in round {
                match plan_booking(&mut transaction, &mut context, &requests[index]).await? {
                    Planned::Done(outcome) => outcomes[index] = Some(outcome),
                    Planned::Changes(booking) => planned.push((index, booking)),
                }
            }
            let oversold = apply_balance_changes(&mut transaction, requests, &planned).await?;
            let mut forget: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
            for ((index, booking), oversold_skus) in planned.into_iter().zip(oversold) {
                let request = &requests[index];
                let oversold_now = booking.already_oversold || !oversold_skus.is_empty();
                finish_order(&mut transaction, request, &booking, oversold_now).await?;
                if !booking.line_changes.is_empty() {
                    forget
                        .entry(request.channel_id)
                        .or_default()
                        .extend(booking.listing_ids.iter().cloned());
                }
                outcomes[index] = Some(BookingOutcome {
                    order_id: Some(booking.order_id),
                    result: if booking.changed {
                        BookingResult::Applied
                    } else {
                        BookingResult::Unchanged
                    },
                    changed_skus: booking.changed_skus(),
                    oversold_skus,
                    unknown_lines: booking.unknown_lines,
                });
            }
            // A platform changes its own shown stock when it sells or cancels: the next push
            // of those listings must reach it even if the level equals the last one pushed.
            for (channel_id, listing_ids) in forget {
                let listing_ids: Vec<String> = listing_ids.into_iter().collect();
                forget_pushed(transaction.connection(), channel_id, &listing_ids).await?;
            }
        }
        transaction.commit().await?;
        outcomes
            .into_iter()
            .map(|outcome| outcome.ok_or_else(no_outcome))
            .collect()
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
    let mut changes: Vec<(usize, usize)> = planned
        .iter()
        .enumerate()
        .flat_map(|(booking, (_, plan))| (0..plan.line_changes.len()).map(move |c| (booking, c)))
        .collect();
    let place = |&(booking, change): &(usize, usize)| {
        let line_change = &planned[booking].1.line_changes[change];
        (line_change.sku.as_str(), line_change.location.as_str())
    };
    // Stable: a booking's changes to one place keep their order, bookings keep theirs.
    changes.sort_by(|a, b| place(a).cmp(&place(b)));

    // Per booking and place: whether it reserved there, and availability after its last change.
    let mut after: Vec<BTreeMap<(String, String), (bool, i64)>> =
        vec![BTreeMap::new(); planned.len()];
    for (booking, change) in changes {
        let (index, plan) = &planned[booking];
        let line_change = &plan.line_changes[change];
        let request = &requests[*index];
        let reference = format!("{}/{}", request.channel_id, request.event.external_order_id);
        let key = format!(
            "order:{}:r{}:{}:{}",
            plan.order_id, plan.new_revision, line_change.line_id, line_change.change.reason
        );
        let balance = transaction
            .record(&MovementDraft {
                sku: &line_change.sku,
                location: &line_change.location,
                on_hand_delta: line_change.change.on_hand_delta,
                reserved_delta: line_change.change.reserved_delta,
                reason: line_change.change.reason,
                reference: Some(&reference),
                idempotency_key: &key,
                actor: None,
                note: None,
            })
            .await?
            .ok_or_else(|| {
                LedgerError::Corrupt(format!("movement {key:?} exists for an unbooked revision"))
            })?;
        let entry = after[booking]
            .entry((line_change.sku.clone(), line_change.location.clone()))
            .or_insert((false, 0));
        entry.0 |= line_change.change.reserved_delta > 0;
        entry.1 = balance.available();
    }
    Ok(after
        .into_iter()
        .map(|places| {
            let mut oversold: Vec<String> = places
                .into_iter()
                .filter(|(_, (reserved, available))| *reserved && *available < 0)
                .map(|((sku, _), _)| sku)
                .collect();
            oversold.dedup();
            oversold
        })
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
            lines: Vec::new(),
            delivery_id: None,
            currency: None,
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
