//! The database and the bus a benchmark runs on: always fresh, always removed afterwards.

use super::BenchError;
use crate::bus::BusConfig;
use crate::testkit::{ScratchBusNames, ScratchDatabase};
use omnistock_connector::Secret;

/// `--database` and `--bus`, shared by every scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct Backends {
    /// `sqlite` (a temporary SQLite file, removed afterwards) or the URL of a PostgreSQL server
    /// (e.g. postgres://postgres@127.0.0.1:5432/postgres) on which a fresh, uniquely named
    /// database is created and dropped afterwards.
    #[arg(long, default_value = "sqlite", value_name = "URL")]
    pub database: String,
    /// `memory://` (the in-process bus) or a RabbitMQ URL (amqp://guest:guest@127.0.0.1:5672/%2f);
    /// on RabbitMQ every name gets a unique prefix and is deleted afterwards.
    #[arg(long, default_value = "memory://", value_name = "URL")]
    pub bus: String,
}

impl Default for Backends {
    fn default() -> Self {
        Self {
            database: "sqlite".to_string(),
            bus: "memory://".to_string(),
        }
    }
}

impl Backends {
    /// `sqlite` or `postgres`, for the report.
    pub fn database_kind(&self) -> &'static str {
        if is_postgres(&self.database) {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// `memory` or `rabbitmq`, for the report.
    pub fn bus_kind(&self) -> &'static str {
        if self.bus.starts_with("amqp") {
            "rabbitmq"
        } else {
            "memory"
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A fresh database for one run, as `--database` asks: `sqlite` or a PostgreSQL server URL.
pub(super) async fn scratch_database(database: &str) -> Result<ScratchDatabase, BenchError> {
    ScratchDatabase::create(database, "omnistock_bench")
        .await
        .map_err(|error| BenchError::Database(error.to_string()))
}

/// The bus settings of one run (`base` gives the tuning: prefetch, delivery limit, …; `bus` the
/// URL), with RabbitMQ names of its own.
pub(super) fn scratch_bus(
    bus: &str,
    channels: &[String],
    base: &BusConfig,
) -> Result<ScratchBusNames, BenchError> {
    let on_rabbitmq = bus.starts_with("amqp://") || bus.starts_with("amqps://");
    if !on_rabbitmq && bus != "memory://" {
        return Err(BenchError::Bus(
            "expected memory:// or an amqp:// URL".to_string(),
        ));
    }
    let config = BusConfig {
        url: Secret::new(bus),
        // Short, so that a missed wake-up does not show as latency.
        poll_interval_ms: base.poll_interval_ms.min(200),
        ..base.clone()
    };
    Ok(ScratchBusNames::new(config, "bench", channels))
}
