//! The Shopify connector's integration tests, in one binary, all against the fake Shopify on
//! a free port: the conformance kit, orders by polling and webhook, stock with
//! compare-and-set, throttling, webhook signatures and the query contract with the schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog;
mod conformance;
mod contract;
mod harness;
mod orders;
mod stock;
mod throttle;
mod webhooks;
