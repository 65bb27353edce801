//! The ledger's invariants, checked against the database (tests, and an admin check).

use crate::ledger::error::DatabaseContext;
use crate::ledger::types::InvariantViolation;
use crate::ledger::{Ledger, LedgerError};

type BalanceSums = (String, String, i64, i64, i64, i64, i64);

impl Ledger {
    /// Checks that every balance equals its journal and its open order lines, and that no open
    /// order line holds stock where there is no balance. `Ok(Err(..))` lists the violations.
    pub async fn check_invariants(
        &self,
    ) -> Result<Result<(), Vec<InvariantViolation>>, LedgerError> {
        let rows: Vec<BalanceSums> = sqlx::query_as(
            "SELECT b.sku, b.location, b.on_hand, b.reserved, \
             (SELECT CAST(COALESCE(SUM(m.on_hand_delta), 0) AS BIGINT) FROM movements m \
              WHERE m.sku = b.sku AND m.location = b.location), \
             (SELECT CAST(COALESCE(SUM(m.reserved_delta), 0) AS BIGINT) FROM movements m \
              WHERE m.sku = b.sku AND m.location = b.location), \
             (SELECT CAST(COALESCE(SUM(l.open_quantity), 0) AS BIGINT) FROM order_lines l \
              WHERE l.sku = b.sku AND l.location = b.location) \
             FROM balances b \
             UNION ALL \
             SELECT m.sku, m.location, 0, 0, CAST(SUM(m.on_hand_delta) AS BIGINT), \
             CAST(SUM(m.reserved_delta) AS BIGINT), 0 FROM movements m \
             WHERE NOT EXISTS (SELECT 1 FROM balances b WHERE b.sku = m.sku AND b.location = m.location) \
             GROUP BY m.sku, m.location \
             UNION ALL \
             SELECT l.sku, l.location, 0, 0, 0, 0, CAST(SUM(l.open_quantity) AS BIGINT) \
             FROM order_lines l WHERE l.sku IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM balances b WHERE b.sku = l.sku AND b.location = l.location) \
             GROUP BY l.sku, l.location",
        )
        .fetch_all(&self.pool)
        .await
        .context("checking the ledger's invariants")?;
        let violations: Vec<InvariantViolation> = rows
            .into_iter()
            .map(
                |(
                    sku,
                    location,
                    on_hand,
                    reserved,
                    journal_on_hand,
                    journal_reserved,
                    open_quantity,
                )| {
                    InvariantViolation {
                        sku,
                        location,
                        on_hand,
                        reserved,
                        journal_on_hand,
                        journal_reserved,
                        open_quantity,
                    }
                },
            )
            .filter(|row| {
                row.on_hand != row.journal_on_hand
                    || row.reserved != row.journal_reserved
                    || row.reserved != row.open_quantity
            })
            .collect();
        if violations.is_empty() {
            Ok(Ok(()))
        } else {
            Ok(Err(violations))
        }
    }
}
