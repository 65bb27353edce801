//! The sync runtime: order intake (webhooks and polling) and the per-channel stock push.
//!
//! Connectors only translate; everything that is the same for every platform — booking,
//! cursors, coalescing, rate limits, retries, acknowledgements — lives here, once.

pub mod channel;
pub mod duties;
pub mod gateway;
pub mod intake;
pub mod leader;
pub mod notifications;
pub mod poll;
pub mod push;
pub mod quarantine;
pub mod receipts;
pub mod retry;
pub mod runtime;
pub mod throttle;

pub use channel::ChannelRuntime;
pub use gateway::{CallError, ChannelClient, Interrupt};
pub use intake::{Intake, IntakeError};
pub use leader::LeaderElection;
pub use push::{ChannelControl, ChannelPusher};
pub use runtime::SyncRuntime;

/// Resolves once `shutdown` holds `true` (or its sender is gone). The guard `wait_for` returns
/// is dropped here, so callers can `select!` on this across other awaits.
pub(crate) async fn stop_requested(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopped| *stopped).await;
}
