//! What request handlers and the daemon's background tasks share: built by `app`, read by the
//! routers here, so that the HTTP layer never imports the module that builds it.

use crate::bus::Bus;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::sync::{ChannelRuntime, Intake};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What request handlers and background tasks share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The effective settings.
    pub settings: Arc<Settings>,
    /// The inventory ledger (a handle to its pool).
    pub ledger: Ledger,
    /// The stock-change bus.
    pub bus: Bus,
    /// The enabled channels by id, with their connectors.
    pub channels: Arc<BTreeMap<String, ChannelRuntime>>,
    /// Books order events from webhooks and polling.
    pub intake: Intake,
    pub metrics: Metrics,
    /// Pause/resume, resync jobs, dead letters, channel activity.
    pub operators: crate::ops::Operators,
}
