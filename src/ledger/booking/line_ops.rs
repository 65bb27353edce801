//! Operator operations on one booked order line: reserve, release, commit (ship), restock.

use tracing::{debug, info};

use crate::ledger::booking::rows::write_lines;
use crate::ledger::db::write::{MovementDraft, WriteTx};
use crate::ledger::error::DatabaseContext;
use crate::ledger::stock::reads::read_order_lines;
use crate::ledger::types::{Application, LineOperation, LineOutcome, LineRef, MovementMeta};
use crate::ledger::{Ledger, LedgerError};

impl Ledger {
    /// Holds `quantity` more units for the line.
    pub async fn reserve_line(
        &self,
        line: &LineRef,
        quantity: i64,
        meta: &MovementMeta,
    ) -> Result<LineOutcome, LedgerError> {
        self.apply_line_operation(line, LineOperation::Reserve, quantity, meta)
            .await
    }

    /// Stops holding `quantity` units (at most the open quantity).
    pub async fn release_line(
        &self,
        line: &LineRef,
        quantity: i64,
        meta: &MovementMeta,
    ) -> Result<LineOutcome, LedgerError> {
        self.apply_line_operation(line, LineOperation::Release, quantity, meta)
            .await
    }

    /// Ships `quantity` open units: they leave on hand and the reservation.
    pub async fn commit_line(
        &self,
        line: &LineRef,
        quantity: i64,
        meta: &MovementMeta,
    ) -> Result<LineOutcome, LedgerError> {
        self.apply_line_operation(line, LineOperation::Commit, quantity, meta)
            .await
    }

    /// Puts `quantity` shipped units back on hand.
    pub async fn restock_line(
        &self,
        line: &LineRef,
        quantity: i64,
        meta: &MovementMeta,
    ) -> Result<LineOutcome, LedgerError> {
        self.apply_line_operation(line, LineOperation::Restock, quantity, meta)
            .await
    }

    /// Applies `operation` to the line, idempotent under `meta.idempotency_key`. Quantities are
    /// stock units.
    pub async fn apply_line_operation(
        &self,
        line: &LineRef,
        operation: LineOperation,
        quantity: i64,
        meta: &MovementMeta,
    ) -> Result<LineOutcome, LedgerError> {
        if quantity <= 0 {
            return Err(LedgerError::InvalidQuantity {
                quantity,
                reason: "a line operation's quantity must be positive",
            });
        }
        let mut transaction = WriteTx::begin(self).await?;
        let now = transaction.now;
        // Touching the order row locks it, as book_order does, so both take turns.
        let order: Option<(i64,)> = sqlx::query_as(
            "UPDATE orders SET updated_at = $1 WHERE channel_id = $2 AND external_order_id = $3 \
             RETURNING id",
        )
        .bind(now)
        .bind(&line.channel_id)
        .bind(&line.external_order_id)
        .fetch_optional(transaction.connection())
        .await
        .context("locking an order")?;
        let Some((order_id,)) = order else {
            transaction.rollback().await?;
            return Err(LedgerError::UnknownOrder {
                channel_id: line.channel_id.clone(),
                external_order_id: line.external_order_id.clone(),
            });
        };
        let Some(record) = read_order_lines(transaction.connection(), order_id)
            .await?
            .into_iter()
            .find(|record| record.line_id == line.line_id)
        else {
            transaction.rollback().await?;
            return Err(LedgerError::UnknownOrderLine {
                channel_id: line.channel_id.clone(),
                external_order_id: line.external_order_id.clone(),
                line_id: line.line_id.clone(),
            });
        };
        let Some(sku) = record.sku.clone() else {
            transaction.rollback().await?;
            return Err(LedgerError::UnresolvedLine {
                external_order_id: line.external_order_id.clone(),
                line_id: line.line_id.clone(),
            });
        };

        let mut updated = record.clone();
        let (on_hand_delta, reserved_delta, limit) = match operation {
            LineOperation::Reserve => {
                updated.open_quantity += quantity;
                (0, quantity, None)
            }
            LineOperation::Release => {
                updated.open_quantity -= quantity;
                (0, -quantity, Some(record.open_quantity))
            }
            LineOperation::Commit => {
                updated.open_quantity -= quantity;
                updated.committed_quantity += quantity;
                (-quantity, -quantity, Some(record.open_quantity))
            }
            LineOperation::Restock => {
                updated.returned_quantity += quantity;
                (
                    quantity,
                    0,
                    Some(record.committed_quantity - record.returned_quantity),
                )
            }
        };
        let reference = format!("{}/{}", line.channel_id, line.external_order_id);
        let recorded = transaction
            .record(&MovementDraft {
                sku: &sku,
                location: &record.location,
                on_hand_delta,
                reserved_delta,
                reason: operation.reason(),
                reference: Some(&reference),
                idempotency_key: &meta.idempotency_key,
                actor: meta.actor.as_deref(),
                note: meta.note.as_deref(),
            })
            .await?;
        let Some(balance) = recorded else {
            transaction.rollback().await?;
            debug!(channel = %line.channel_id, order = %line.external_order_id, line = %line.line_id,
                operation = operation.as_str(), key = %meta.idempotency_key, "line operation already applied");
            return Ok(LineOutcome {
                application: Application::AlreadyApplied,
                balance: self.balance(&sku, &record.location).await?,
                line: record,
            });
        };
        if let Some(limit) = limit {
            if quantity > limit {
                transaction.rollback().await?;
                return Err(LedgerError::InvalidQuantity {
                    quantity,
                    reason: match operation {
                        LineOperation::Restock => "more than the line shipped and kept",
                        _ => "more than the line holds open",
                    },
                });
            }
        }
        write_lines(&mut transaction, &[(order_id, updated.clone())]).await?;
        sqlx::query("UPDATE orders SET revision = revision + 1 WHERE id = $1")
            .bind(order_id)
            .execute(transaction.connection())
            .await
            .context("bumping an order's revision")?;
        transaction.commit().await?;
        info!(channel = %line.channel_id, order = %line.external_order_id, line = %line.line_id,
            sku = %sku, operation = operation.as_str(), quantity, key = %meta.idempotency_key,
            "line operation applied");
        Ok(LineOutcome {
            application: Application::Applied,
            balance,
            line: updated,
        })
    }
}
