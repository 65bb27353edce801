//! What is counted and where: the catalog (items, locations, channels, listings), operator
//! stock changes (`changes.rs`) under idempotency keys that remember their request
//! (`fingerprint.rs`), reads of balances, orders and the journal (`reads.rs`), items found by a
//! piece of their SKU or title (`item_search.rs`), and the checks
//! of the ledger's invariants (`invariants.rs`); what the ledger knows of a page of a channel's
//! catalog (`catalog_match.rs`); the location each listing sells from (`listing_locations.rs`);
//! the binding of the listings discovery found new, checked again as they are bound
//! (`discovered.rs`).

pub(super) mod catalog;
pub(super) mod catalog_match;
pub(super) mod changes;
pub(super) mod discovered;
pub(super) mod fingerprint;
pub(super) mod invariants;
pub mod item_search;
pub(super) mod listing_locations;
pub(super) mod reads;
