//! Request fingerprints of operator stock changes: what a change asked for, stored under its
//! idempotency key in the transaction that journals it, so that the key sent again with a
//! different request is refused ([`LedgerError::IdempotencyConflict`]) instead of answered
//! "already applied".

use sha2::{Digest, Sha256};

use crate::ledger::db::write::WriteTx;
use crate::ledger::error::DatabaseContext;
use crate::ledger::types::MovementMeta;
use crate::ledger::LedgerError;

/// The SHA-256 (hex) of a change's canonical request: the operation, SKU, locations, quantity,
/// actor and note, as one JSON array (so that no two requests share a text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestFingerprint(String);

impl RequestFingerprint {
    pub(crate) fn of(
        operation: &str,
        sku: &str,
        locations: &[&str],
        quantity: i64,
        meta: &MovementMeta,
    ) -> Self {
        let canonical =
            serde_json::json!([operation, sku, locations, quantity, meta.actor, meta.note])
                .to_string();
        let digest = Sha256::digest(canonical.as_bytes());
        Self(digest.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    /// Stores the fingerprint under each of the keys the change was journaled with.
    pub(crate) async fn store(
        &self,
        transaction: &mut WriteTx<'_>,
        keys: &[&str],
    ) -> Result<(), LedgerError> {
        let now = transaction.now;
        for key in keys {
            sqlx::query(
                "INSERT INTO request_fingerprints (idempotency_key, fingerprint, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (idempotency_key) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, created_at = excluded.created_at",
            )
            .bind(*key)
            .bind(&self.0)
            .bind(now)
            .execute(transaction.connection())
            .await
            .context("storing a request fingerprint")?;
        }
        Ok(())
    }

    /// Called when `key` was journaled before: `Ok` when that was this same request (or a
    /// change from before fingerprints were stored, which cannot be told apart), the conflict
    /// otherwise.
    pub(crate) async fn check_replay(
        &self,
        transaction: &mut WriteTx<'_>,
        key: &str,
    ) -> Result<(), LedgerError> {
        let stored: Option<(String,)> = sqlx::query_as(
            "SELECT fingerprint FROM request_fingerprints WHERE idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(transaction.connection())
        .await
        .context("reading a request fingerprint")?;
        match stored {
            Some((stored,)) if stored != self.0 => Err(LedgerError::IdempotencyConflict {
                key: key.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_of_the_request_changes_the_fingerprint() {
        let meta = MovementMeta::new("k").actor("dana").note("found");
        let base = RequestFingerprint::of("adjust", "A", &["default"], 5, &meta);
        assert_eq!(
            base,
            RequestFingerprint::of("adjust", "A", &["default"], 5, &meta)
        );
        assert_eq!(base.0.len(), 64);
        let others = [
            RequestFingerprint::of("receive", "A", &["default"], 5, &meta),
            RequestFingerprint::of("adjust", "B", &["default"], 5, &meta),
            RequestFingerprint::of("adjust", "A", &["east"], 5, &meta),
            RequestFingerprint::of("adjust", "A", &["default"], 6, &meta),
            RequestFingerprint::of("adjust", "A", &["default"], 5, &meta.clone().actor("erin")),
            RequestFingerprint::of("adjust", "A", &["default"], 5, &meta.clone().note("lost")),
        ];
        for other in others {
            assert_ne!(base, other);
        }
        // The key is not part of the request.
        let same_request_other_key = MovementMeta::new("other").actor("dana").note("found");
        assert_eq!(
            base,
            RequestFingerprint::of("adjust", "A", &["default"], 5, &same_request_other_key)
        );
    }
}
