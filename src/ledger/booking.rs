//! Booking order snapshots: compare with what was booked for the order, apply the difference.

use std::collections::{BTreeMap, HashMap};

use omnistock_connector::{LineState, OrderEvent, OrderLine};
use tracing::{debug, info, warn};

use super::error::DatabaseContext;
use super::reads::read_order_lines;
use super::types::{BookingOutcome, BookingResult, OrderLineRecord, UnknownLine};
use super::write::{MovementDraft, WriteTx};
use super::{Ledger, LedgerError};

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

struct LineChange {
    sku: String,
    location: String,
    line_id: String,
    change: PlannedChange,
}

type OrderRow = (i64, String, String, i64, i64, i64, Option<String>);

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
        let external_order_id = event.external_order_id.as_str();
        let mut transaction = WriteTx::begin(self).await?;
        transaction.ensure_channel(channel_id).await?;
        transaction.ensure_location(location).await?;
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
                transaction.rollback().await?;
                let order_id = self.order_id(channel_id, external_order_id).await?;
                debug!(channel = %channel_id, order = %external_order_id, delivery = %delivery_id,
                    "duplicate delivery ignored");
                return Ok(outcome(order_id, BookingResult::Duplicate));
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

        if platform_updated_at < booked_updated_at {
            transaction.commit().await?;
            debug!(channel = %channel_id, order = %external_order_id, "stale order snapshot ignored");
            return Ok(outcome(Some(order_id), BookingResult::Stale));
        }

        let booked_lines: HashMap<String, OrderLineRecord> =
            read_order_lines(transaction.connection(), order_id)
                .await?
                .into_iter()
                .map(|line| (line.line_id.clone(), line))
                .collect();
        let new_revision = revision + 1;
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
            let booked = booked_lines.get(*line_id);
            let booked_sku = booked.and_then(|record| record.sku.clone());
            let resolved = match (&booked_sku, booked) {
                (Some(sku), Some(record)) => Some((sku.clone(), record.multiplier)),
                _ => resolve_line(&mut transaction, channel_id, line).await?,
            };
            let line_location = booked
                .map(|record| record.location.clone())
                .unwrap_or_else(|| order_location.clone());
            let booked_state = match (&booked_sku, booked) {
                (Some(_), Some(record)) => booked_state(record),
                _ => LineState::default(),
            };
            let (sku, multiplier, target) = match resolved {
                Some((sku, multiplier)) => {
                    let target = scaled(line.target_state(event.status), multiplier);
                    for change in plan_line_changes(booked_state, target) {
                        line_changes.push(LineChange {
                            sku: sku.clone(),
                            location: line_location.clone(),
                            line_id: line_id.to_string(),
                            change,
                        });
                    }
                    (Some(sku), multiplier, target)
                }
                None => {
                    unknown_lines.push(UnknownLine {
                        line_id: line_id.to_string(),
                        listing_id: line.listing_id.clone(),
                        sku: line.sku.clone(),
                    });
                    (None, 1, LineState::default())
                }
            };
            let record = OrderLineRecord {
                line_id: line_id.to_string(),
                listing_id: line.listing_id.clone(),
                sku,
                location: line_location,
                multiplier,
                quantity: line.quantity,
                open_quantity: target.open,
                committed_quantity: target.committed,
                returned_quantity: target.returned,
                unit_price_minor: line.unit_price_minor,
            };
            if booked != Some(&record) {
                upsert_line(&mut transaction, order_id, &record).await?;
                lines_changed = true;
            }
        }
        // A line the platform no longer reports holds nothing; what shipped stays shipped.
        let mut dropped: Vec<&OrderLineRecord> = booked_lines
            .values()
            .filter(|record| !snapshot.contains_key(record.line_id.as_str()))
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
                upsert_line(&mut transaction, order_id, &released).await?;
                lines_changed = true;
            }
        }

        // Balance rows are locked in (sku, location) order so concurrent bookings cannot deadlock.
        line_changes.sort_by(|a, b| (&a.sku, &a.location).cmp(&(&b.sku, &b.location)));
        let reference = format!("{channel_id}/{external_order_id}");
        let mut reserved_balances: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut last_available: BTreeMap<(String, String), i64> = BTreeMap::new();
        for planned in &line_changes {
            let key = format!(
                "order:{order_id}:r{new_revision}:{}:{}",
                planned.line_id, planned.change.reason
            );
            let balance = transaction
                .record(&MovementDraft {
                    sku: &planned.sku,
                    location: &planned.location,
                    on_hand_delta: planned.change.on_hand_delta,
                    reserved_delta: planned.change.reserved_delta,
                    reason: planned.change.reason,
                    reference: Some(&reference),
                    idempotency_key: &key,
                    actor: None,
                    note: None,
                })
                .await?
                .ok_or_else(|| {
                    LedgerError::Corrupt(format!(
                        "movement {key:?} exists for an unbooked revision"
                    ))
                })?;
            let place = (planned.sku.clone(), planned.location.clone());
            if planned.change.reserved_delta > 0 {
                *reserved_balances.entry(place.clone()).or_default() += 1;
            }
            last_available.insert(place, balance.available());
        }
        let mut oversold_skus: Vec<String> = Vec::new();
        for (place, available) in &last_available {
            if *available < 0
                && reserved_balances.contains_key(place)
                && !oversold_skus.contains(&place.0)
            {
                oversold_skus.push(place.0.clone());
            }
        }

        let currency_now = event.currency.clone().or(currency.clone());
        let changed = revision == 0
            || lines_changed
            || !line_changes.is_empty()
            || stored_status != event.status.as_str()
            || currency_now != currency;
        let oversold_now = oversold != 0 || !oversold_skus.is_empty();
        sqlx::query(
            "UPDATE orders SET status = $1, platform_updated_at = $2, revision = $3, \
             oversold = $4, currency = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(event.status.as_str())
        .bind(platform_updated_at)
        .bind(if changed { new_revision } else { revision })
        .bind(i64::from(oversold_now))
        .bind(currency_now.as_deref())
        .bind(now)
        .bind(order_id)
        .execute(transaction.connection())
        .await
        .context("updating an order")?;
        let changed_skus = transaction.commit().await?;

        for sku in &oversold_skus {
            warn!(channel = %channel_id, order = %external_order_id, sku = %sku, "order oversold");
        }
        for line in &unknown_lines {
            warn!(channel = %channel_id, order = %external_order_id, line = %line.line_id,
                listing = ?line.listing_id, sku = ?line.sku, "order line has an unknown listing");
        }
        let result = if changed {
            info!(channel = %channel_id, order = %external_order_id, order_id,
                revision = new_revision, status = event.status.as_str(), "order booked");
            BookingResult::Applied
        } else {
            debug!(channel = %channel_id, order = %external_order_id, "order snapshot unchanged");
            BookingResult::Unchanged
        };
        Ok(BookingOutcome {
            order_id: Some(order_id),
            result,
            changed_skus,
            oversold_skus,
            unknown_lines,
        })
    }

    async fn order_id(
        &self,
        channel_id: &str,
        external_order_id: &str,
    ) -> Result<Option<i64>, LedgerError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM orders WHERE channel_id = $1 AND external_order_id = $2",
        )
        .bind(channel_id)
        .bind(external_order_id)
        .fetch_optional(&self.pool)
        .await
        .context("looking up an order")?;
        Ok(row.map(|(id,)| id))
    }
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

/// The SKU and multiplier of a line: its channel listing's binding, else its own sku when that
/// is a known item, else `None` (unknown).
async fn resolve_line(
    transaction: &mut WriteTx<'_>,
    channel_id: &str,
    line: &OrderLine,
) -> Result<Option<(String, i64)>, LedgerError> {
    if let Some(listing_id) = &line.listing_id {
        let bound: Option<(String, i64)> = sqlx::query_as(
            "SELECT sku, multiplier FROM listings WHERE channel_id = $1 AND listing_id = $2",
        )
        .bind(channel_id)
        .bind(listing_id)
        .fetch_optional(transaction.connection())
        .await
        .context("resolving a listing")?;
        if bound.is_some() {
            return Ok(bound);
        }
    }
    if let Some(sku) = &line.sku {
        let item: Option<(String,)> = sqlx::query_as("SELECT sku FROM items WHERE sku = $1")
            .bind(sku)
            .fetch_optional(transaction.connection())
            .await
            .context("resolving a line's sku")?;
        return Ok(item.map(|(sku,)| (sku, 1)));
    }
    Ok(None)
}

pub(crate) async fn upsert_line(
    transaction: &mut WriteTx<'_>,
    order_id: i64,
    line: &OrderLineRecord,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO order_lines (order_id, line_id, listing_id, sku, location, multiplier, \
         quantity, open_quantity, committed_quantity, returned_quantity, unit_price_minor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (order_id, line_id) DO UPDATE SET listing_id = excluded.listing_id, \
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
