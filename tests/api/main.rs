//! The daemon's HTTP API, against a real app on port 0 with its own fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod amazon;
mod amazon_notifications;
mod broker_outage;
mod console;
mod cost_bucket;
mod discovery_jobs;
mod explain;
mod gateway;
mod go_live;
mod health;
mod helpers;
mod housekeeping;
mod http_timeouts;
mod module_layers;
mod operators;
mod push_retry;
mod replicas;
mod reports;
mod shadow;
mod shopify_store;
mod sweep;
mod sync;
mod sync_load;
mod sync_world;
#[path = "../common/tcp_proxy.rs"]
mod tcp_proxy;
mod tiktok;
mod tiktok_warehouses;
mod webhook_outage;
