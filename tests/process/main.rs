//! The built `omnistock` binary as an operator runs it: the CLI and its configuration errors,
//! stock and listings import/export, `bench` scenarios, and the daemon killed and restarted
//! mid-burst. One test binary, so the daemon's crate is linked once for all of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod bench_smoke;
mod cli;
mod demo;
mod kill_and_restart;
mod stock_cli;
