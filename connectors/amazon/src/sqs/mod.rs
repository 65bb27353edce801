//! The seller's SQS queue that Amazon delivers `ORDER_CHANGE` notifications to: its settings
//! (`config.rs`) and a client that long-polls it and deletes what was booked (`client.rs`).

pub mod client;
pub mod config;

pub use client::{QueueMessage, SqsClient};
pub use config::{NotificationQueueConfig, QueueConfigError};
