//! What the stock push reads and records: each listing's quantity and what the channel last
//! confirmed (`targets.rs`), and the outbox of changed SKUs (`outbox.rs`).

pub(super) mod outbox;
pub(super) mod targets;
