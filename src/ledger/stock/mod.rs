//! What is counted and where: the catalog (items, locations, channels, listings), operator
//! stock changes (`changes.rs`) under idempotency keys that remember their request
//! (`fingerprint.rs`), reads of balances, orders and the journal (`reads.rs`), and the checks
//! of the ledger's invariants (`invariants.rs`).

pub(super) mod catalog;
pub(super) mod changes;
pub(super) mod fingerprint;
pub(super) mod invariants;
pub(super) mod reads;
