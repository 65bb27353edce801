//! The daemon run in this process, on a task of its own, as `serve` runs it.

use crate::app::{App, AppError};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::settings::Settings;
use std::net::SocketAddr;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Why the daemon did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonStopError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("the daemon's task panicked or was cancelled")]
    Panicked,
}

/// A running daemon: its address, its ledger and metrics, whether it leads. Dropping it asks
/// the daemon to stop (without waiting); [`InProcessDaemon::stop`] waits for the end.
pub struct InProcessDaemon {
    pub address: SocketAddr,
    pub ledger: Ledger,
    pub metrics: Metrics,
    /// `true` while this daemon is the sync leader.
    pub leader: watch::Receiver<bool>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), AppError>>>,
}

impl std::fmt::Debug for InProcessDaemon {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("InProcessDaemon")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl InProcessDaemon {
    /// Builds the daemon from `settings` (connecting and migrating its ledger, binding its
    /// listener) and starts serving.
    pub async fn start(settings: Settings) -> Result<Self, AppError> {
        let app = App::build(settings).await?;
        let address = app.address();
        let ledger = app.state().ledger.clone();
        let metrics = app.state().metrics.clone();
        let leader = app.leader();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            ledger,
            metrics,
            leader,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// `http://<address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Asks the daemon to stop, as SIGTERM does, and waits until it has.
    pub async fn stop(mut self) -> Result<(), DaemonStopError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.task.take() {
            Some(task) => Ok(task.await.map_err(|_| DaemonStopError::Panicked)??),
            None => Ok(()),
        }
    }
}

impl Drop for InProcessDaemon {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
