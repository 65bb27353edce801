//! The daemon's HTTP API, against a real app on port 0 with its own fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod health;
mod helpers;
