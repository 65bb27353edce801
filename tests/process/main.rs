//! The built `omnistock` binary as an operator runs it: the CLI and its configuration errors,
//! stock and listings import/export, `bench` scenarios, the daemon killed and restarted
//! mid-burst, and its systemd notifications. One test binary, so the daemon's crate is linked once for all of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/tcp_proxy.rs"]
mod tcp_proxy;

mod bench_smoke;
mod catalog_cli;
mod cli;
mod demo;
mod deploy_metrics;
mod kill_and_restart;
mod service_notify;
mod stock_cli;
