//! The operators' records, each a small store reached from the `Ledger` (`ledger.jobs()`,
//! `.dead_letters()`, `.quarantine()`, `.webhook_receipts()`, `.channel_status()`,
//! `.credentials(channel)`, `.shadow()`), and the
//! pruning of what is kept only for a while (`housekeeping.rs`).

pub(super) mod channel_rows;
pub mod channel_status;
pub mod credentials;
pub mod dead_letters;
pub(super) mod housekeeping;
pub mod job_kinds;
pub mod jobs;
pub mod quarantine;
pub mod receipts;
pub(super) mod shadow;
