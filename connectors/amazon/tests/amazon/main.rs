//! The Amazon connector's integration tests, in one binary, all against the fake SP-API on a
//! free port (which validates every request against Amazon's official models and skips, saying
//! so, when the models are not beside the repository): the conformance kit, LWA tokens, orders
//! by polling, stock by patch and read, the catalog by search, usage plans and error classes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod catalog;
mod conformance;
mod fake;
mod feeds;
mod harness;
mod orders;
mod stock;
