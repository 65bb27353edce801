//! Operator stock operations: receive, adjust, count (set on hand) and transfer.
//!
//! Each is idempotent under its key, and the key remembers what it asked for (a
//! [`RequestFingerprint`]): the same key with the same request changes nothing and answers
//! "already applied"; with a different request it is [`LedgerError::IdempotencyConflict`].

use tracing::{debug, info};

use crate::ledger::db::write::{MovementDraft, WriteTx};
use crate::ledger::stock::fingerprint::RequestFingerprint;
use crate::ledger::types::{
    Application, Balance, MovementMeta, MovementReason, StockCount, StockOutcome, TransferOutcome,
};
use crate::ledger::{Ledger, LedgerError};

impl Ledger {
    /// Adds `quantity` (> 0) received units to on hand.
    pub async fn receive(
        &self,
        sku: &str,
        location: &str,
        quantity: i64,
        meta: &MovementMeta,
    ) -> Result<StockOutcome, LedgerError> {
        if quantity <= 0 {
            return Err(LedgerError::InvalidQuantity {
                quantity,
                reason: "a receipt must be positive",
            });
        }
        self.change_on_hand(sku, location, quantity, MovementReason::Receive, meta)
            .await
    }

    /// Adds `delta` (≠ 0) to on hand, for damage, loss or found stock; say why in `meta.note`.
    pub async fn adjust(
        &self,
        sku: &str,
        location: &str,
        delta: i64,
        meta: &MovementMeta,
    ) -> Result<StockOutcome, LedgerError> {
        if delta == 0 {
            return Err(LedgerError::InvalidQuantity {
                quantity: delta,
                reason: "an adjustment must not be zero",
            });
        }
        self.change_on_hand(sku, location, delta, MovementReason::Adjust, meta)
            .await
    }

    /// Sets on hand to a counted quantity; the journal records the difference.
    pub async fn set_on_hand(
        &self,
        sku: &str,
        location: &str,
        counted: i64,
        meta: &MovementMeta,
    ) -> Result<StockOutcome, LedgerError> {
        if counted < 0 {
            return Err(LedgerError::InvalidQuantity {
                quantity: counted,
                reason: "a counted quantity must not be negative",
            });
        }
        let fingerprint = RequestFingerprint::of("count", sku, &[location], counted, meta);
        let mut transaction = WriteTx::begin(self).await?;
        transaction.ensure_item(sku).await?;
        transaction.ensure_location(location).await?;
        // The row stays locked until commit, so the difference is computed from a stable count.
        let before = transaction.lock_balance(sku, location).await?;
        let delta = counted - before.on_hand;
        let recorded = transaction
            .record(&MovementDraft {
                sku,
                location,
                on_hand_delta: delta,
                reserved_delta: 0,
                reason: MovementReason::Count,
                reference: None,
                idempotency_key: &meta.idempotency_key,
                actor: meta.actor.as_deref(),
                note: meta.note.as_deref(),
            })
            .await?;
        let change = StockChange {
            sku,
            location,
            reason: MovementReason::Count,
            meta,
            fingerprint: &fingerprint,
        };
        self.finish_stock_change(transaction, recorded, change)
            .await
    }

    /// Moves `quantity` (> 0) on hand from one location to another.
    pub async fn transfer(
        &self,
        sku: &str,
        from: &str,
        to: &str,
        quantity: i64,
        meta: &MovementMeta,
    ) -> Result<TransferOutcome, LedgerError> {
        if quantity <= 0 {
            return Err(LedgerError::InvalidQuantity {
                quantity,
                reason: "a transfer must be positive",
            });
        }
        if from == to {
            return Err(LedgerError::InvalidQuantity {
                quantity,
                reason: "a transfer needs two different locations",
            });
        }
        let fingerprint = RequestFingerprint::of("transfer", sku, &[from, to], quantity, meta);
        let mut transaction = WriteTx::begin(self).await?;
        transaction.ensure_item(sku).await?;
        transaction.ensure_location(from).await?;
        transaction.ensure_location(to).await?;
        let incoming_key = format!("{}:in", meta.idempotency_key);
        let outgoing = MovementDraft {
            sku,
            location: from,
            on_hand_delta: -quantity,
            reserved_delta: 0,
            reason: MovementReason::TransferOut,
            reference: Some(to),
            idempotency_key: &meta.idempotency_key,
            actor: meta.actor.as_deref(),
            note: meta.note.as_deref(),
        };
        let incoming = MovementDraft {
            sku,
            location: to,
            on_hand_delta: quantity,
            reserved_delta: 0,
            reason: MovementReason::TransferIn,
            reference: Some(from),
            idempotency_key: &incoming_key,
            actor: meta.actor.as_deref(),
            note: meta.note.as_deref(),
        };
        // Rows are locked in location order so that opposite transfers cannot deadlock.
        let (first, second) = if from < to {
            (&outgoing, &incoming)
        } else {
            (&incoming, &outgoing)
        };
        let Some(first_balance) = transaction.record(first).await? else {
            let replay = fingerprint
                .check_replay(&mut transaction, first.idempotency_key)
                .await;
            transaction.rollback().await?;
            replay?;
            debug!(sku = %sku, key = %meta.idempotency_key, "transfer already applied");
            return Ok(TransferOutcome {
                application: Application::AlreadyApplied,
                from: self.balance(sku, from).await?,
                to: self.balance(sku, to).await?,
            });
        };
        let Some(second_balance) = transaction.record(second).await? else {
            // Another change took this key (an adjustment keyed `<key>:in`, say): a conflict
            // when it fingerprinted a different request.
            fingerprint
                .check_replay(&mut transaction, second.idempotency_key)
                .await?;
            return Err(LedgerError::Corrupt(format!(
                "one movement of transfer {:?} exists without the other",
                meta.idempotency_key
            )));
        };
        let (from_balance, to_balance) = if from < to {
            (first_balance, second_balance)
        } else {
            (second_balance, first_balance)
        };
        if from_balance.on_hand < 0 {
            transaction.rollback().await?;
            return Err(LedgerError::NegativeOnHand {
                sku: sku.to_string(),
                location: from.to_string(),
                on_hand: from_balance.on_hand + quantity,
                delta: -quantity,
            });
        }
        fingerprint
            .store(&mut transaction, &[&meta.idempotency_key, &incoming_key])
            .await?;
        transaction.commit().await?;
        info!(sku = %sku, from = %from, to = %to, quantity, key = %meta.idempotency_key, "stock transferred");
        Ok(TransferOutcome {
            application: Application::Applied,
            from: from_balance,
            to: to_balance,
        })
    }

    /// Sets every counted quantity in one transaction (a bulk stock-take): items not known yet
    /// are created (titled by their SKU), locations must exist. Each row is journaled as a
    /// `count` under `<key prefix>:<index>`, so replaying the same import changes nothing. On
    /// any error nothing is applied. Returns how many rows were applied now.
    pub async fn import_counts(
        &self,
        counts: &[StockCount],
        key_prefix: &str,
        actor: Option<&str>,
        note: Option<&str>,
    ) -> Result<usize, LedgerError> {
        let mut transaction = WriteTx::begin(self).await?;
        let mut applied = 0;
        for (index, count) in counts.iter().enumerate() {
            match import_count(
                &mut transaction,
                count,
                &format!("{key_prefix}:{index}"),
                actor,
                note,
            )
            .await
            {
                Ok(true) => applied += 1,
                Ok(false) => {}
                Err(error) => {
                    transaction.rollback().await?;
                    return Err(error);
                }
            }
        }
        transaction.commit().await?;
        info!(rows = counts.len(), applied, key = %key_prefix, "stock counts imported");
        Ok(applied)
    }

    async fn change_on_hand(
        &self,
        sku: &str,
        location: &str,
        delta: i64,
        reason: MovementReason,
        meta: &MovementMeta,
    ) -> Result<StockOutcome, LedgerError> {
        let fingerprint = RequestFingerprint::of(reason.as_str(), sku, &[location], delta, meta);
        let mut transaction = WriteTx::begin(self).await?;
        transaction.ensure_item(sku).await?;
        transaction.ensure_location(location).await?;
        let recorded = transaction
            .record(&MovementDraft {
                sku,
                location,
                on_hand_delta: delta,
                reserved_delta: 0,
                reason,
                reference: None,
                idempotency_key: &meta.idempotency_key,
                actor: meta.actor.as_deref(),
                note: meta.note.as_deref(),
            })
            .await?;
        if let Some(balance) = &recorded {
            // Orders may ship stock that was never counted in; an operator may still add to a
            // negative on hand, but never take it (further) below zero.
            if delta < 0 && balance.on_hand < 0 {
                let on_hand = balance.on_hand - delta;
                transaction.rollback().await?;
                return Err(LedgerError::NegativeOnHand {
                    sku: sku.to_string(),
                    location: location.to_string(),
                    on_hand,
                    delta,
                });
            }
        }
        let change = StockChange {
            sku,
            location,
            reason,
            meta,
            fingerprint: &fingerprint,
        };
        self.finish_stock_change(transaction, recorded, change)
            .await
    }

    async fn finish_stock_change(
        &self,
        mut transaction: WriteTx<'_>,
        recorded: Option<Balance>,
        change: StockChange<'_>,
    ) -> Result<StockOutcome, LedgerError> {
        let StockChange {
            sku,
            location,
            reason,
            meta,
            fingerprint,
        } = change;
        match recorded {
            Some(balance) => {
                fingerprint
                    .store(&mut transaction, &[&meta.idempotency_key])
                    .await?;
                transaction.commit().await?;
                info!(sku = %sku, location = %location, reason = reason.as_str(), on_hand = balance.on_hand,
                    key = %meta.idempotency_key, "stock changed");
                Ok(StockOutcome {
                    application: Application::Applied,
                    balance,
                })
            }
            None => {
                let replay = fingerprint
                    .check_replay(&mut transaction, &meta.idempotency_key)
                    .await;
                transaction.rollback().await?;
                replay?;
                debug!(sku = %sku, location = %location, reason = reason.as_str(), key = %meta.idempotency_key,
                    "stock change already applied");
                Ok(StockOutcome {
                    application: Application::AlreadyApplied,
                    balance: self.balance(sku, location).await?,
                })
            }
        }
    }
}

/// What a one-place stock change asked for, for [`Ledger::finish_stock_change`].
struct StockChange<'a> {
    sku: &'a str,
    location: &'a str,
    reason: MovementReason,
    meta: &'a MovementMeta,
    fingerprint: &'a RequestFingerprint,
}

async fn import_count(
    transaction: &mut WriteTx<'_>,
    count: &StockCount,
    key: &str,
    actor: Option<&str>,
    note: Option<&str>,
) -> Result<bool, LedgerError> {
    if count.on_hand < 0 {
        return Err(LedgerError::InvalidQuantity {
            quantity: count.on_hand,
            reason: "a counted quantity must not be negative",
        });
    }
    transaction.ensure_location(&count.location).await?;
    transaction.create_item_if_missing(&count.sku).await?;
    let before = transaction
        .lock_balance(&count.sku, &count.location)
        .await?;
    let recorded = transaction
        .record(&MovementDraft {
            sku: &count.sku,
            location: &count.location,
            on_hand_delta: count.on_hand - before.on_hand,
            reserved_delta: 0,
            reason: MovementReason::Count,
            reference: None,
            idempotency_key: key,
            actor,
            note,
        })
        .await?;
    Ok(recorded.is_some())
}
