//! What the tests, `bench` and `demo` build on: a database made for one run (a SQLite file in
//! a folder of its own, or a uniquely named PostgreSQL database) and RabbitMQ names of one run,
//! each removed afterwards — explicitly, or when dropped (also when a test panics); the daemon
//! run in-process; simulated marketplaces around it with a catalog listed on all of them, and
//! whether they all show what the ledger says.

mod daemon;
mod marketplaces;
mod scratch_bus;
mod scratch_database;

pub use daemon::{DaemonStopError, InProcessDaemon};
pub use marketplaces::{
    differences, list_catalog, listing_of, wait_converged, CatalogError, Marketplace, SimChannel,
};
pub use scratch_bus::ScratchBusNames;
pub use scratch_database::{ScratchDatabase, ScratchError};

/// Runs `work` to the end on a runtime of its own, on a thread of its own: what `Drop` uses
/// to clean up, since it may run inside a runtime (which cannot block) or after it is gone.
fn block_on_own_thread<F>(work: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let finished = std::thread::spawn(move || {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(work),
            Err(error) => {
                tracing::warn!(error = %error, "no runtime to clean up a scratch resource")
            }
        }
    })
    .join();
    if finished.is_err() {
        tracing::warn!("cleaning up a scratch resource panicked");
    }
}
