//! The sim's integration tests, in one binary: the conformance kit, the HTTP API, webhooks and
//! the connector's error classification, all against a real sim on a free port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod conformance;
mod connector;
mod harness;
mod webhooks;
