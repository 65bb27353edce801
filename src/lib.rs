//! omnistock: one inventory ledger, every sales channel in sync.
//!
//! See ARCHITECTURE.md for the map of modules and the path of an order and of a stock change.

pub mod app;
pub mod bench;
pub mod bus;
pub mod cli;
pub mod demo;
pub mod http;
pub mod ledger;
pub mod metrics;
pub mod ops;
pub mod policy;
pub mod registry;
pub mod reports;
pub mod service_notify;
pub mod settings;
pub mod sync;
pub mod telemetry;
pub mod testkit;
