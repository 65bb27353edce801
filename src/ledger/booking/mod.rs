//! Booking: order snapshots planned against what is booked (`plan.rs`, pure), booked in groups
//! (`group.rs`) with one statement per phase of a round (`rows.rs`), and an operator's
//! operations on one booked line (`line_ops.rs`).

pub(super) mod group;
pub(super) mod line_ops;
pub(super) mod plan;
pub(super) mod rows;
