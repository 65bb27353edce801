//! The TikTok Shop connector's integration tests, in one binary, all against the fake TikTok
//! Shop on a free port (driven by the reference pages in `../shared/specs/tiktok-shop`; every
//! test skips with a message when that folder is absent): the conformance kit, stock per
//! product and warehouse, orders by polling and webhook, the catalog by product search, token
//! refresh and pacing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog;
mod conformance;
mod harness;
mod orders;
mod stock;
mod tokens;
mod webhooks;
