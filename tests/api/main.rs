//! The daemon's HTTP API, against a real app on port 0 with its own fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod cost_bucket;
mod gateway;
mod health;
mod helpers;
mod operations;
mod push_retry;
mod replicas;
mod sweep;
mod sync;
mod sync_load;
mod sync_world;
