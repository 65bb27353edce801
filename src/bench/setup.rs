//! The database and the bus a benchmark runs on: always fresh, always removed afterwards.

use super::BenchError;
use crate::bus::{AmqpBus, BusConfig};
use omnistock_connector::Secret;
use sqlx::{Connection, Executor, PgConnection};
use std::path::PathBuf;

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

/// A database made for one run.
pub enum BenchDatabase {
    Sqlite {
        folder: PathBuf,
        url: String,
    },
    Postgres {
        server_url: String,
        name: String,
        url: String,
    },
}

impl BenchDatabase {
    /// Creates the database `--database` asks for.
    pub async fn create(database: &str) -> Result<Self, BenchError> {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        if is_postgres(database) {
            let name = format!("omnistock_bench_{unique}");
            let mut admin = PgConnection::connect(database)
                .await
                .map_err(|error| BenchError::Database(error.to_string()))?;
            admin
                .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                .await
                .map_err(|error| BenchError::Database(error.to_string()))?;
            let _ = admin.close().await;
            let url = replace_database_name(database, &name);
            Ok(Self::Postgres {
                server_url: database.to_string(),
                name,
                url,
            })
        } else if database == "sqlite" || database.starts_with("sqlite:") {
            let folder = std::env::temp_dir().join(format!("omnistock-bench-{unique}"));
            std::fs::create_dir_all(&folder)
                .map_err(BenchError::io(format!("creating {}", folder.display())))?;
            let url = format!("sqlite://{}", folder.join("ledger.db").display());
            Ok(Self::Sqlite { folder, url })
        } else {
            Err(BenchError::Database(format!(
                "expected \"sqlite\" or a postgres:// server URL, got {:?}",
                crate::ledger::redact_database_url(database)
            )))
        }
    }

    /// The URL the daemon connects to.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// The database's name (PostgreSQL) or file (SQLite), for the report.
    pub fn name(&self) -> String {
        match self {
            Self::Sqlite { url, .. } => url.trim_start_matches("sqlite://").to_string(),
            Self::Postgres { name, .. } => name.clone(),
        }
    }

    /// Removes the database (PostgreSQL: even while connections remain).
    pub async fn remove(self) {
        match self {
            Self::Sqlite { folder, .. } => {
                let _ = std::fs::remove_dir_all(folder);
            }
            Self::Postgres {
                server_url, name, ..
            } => match PgConnection::connect(&server_url).await {
                Ok(mut admin) => {
                    let dropped = admin
                        .execute(
                            format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str(),
                        )
                        .await;
                    if let Err(error) = dropped {
                        tracing::warn!(database = %name, error = %error, "cannot drop the benchmark database");
                    }
                    let _ = admin.close().await;
                }
                Err(error) => {
                    tracing::warn!(database = %name, error = %error, "cannot drop the benchmark database")
                }
            },
        }
    }
}

/// `postgres://user@host:5432/postgres?x=y` with the database `name` instead of `postgres`.
fn replace_database_name(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// The bus settings of one run, and what to delete afterwards.
pub struct BenchBus {
    pub config: BusConfig,
    channels: Vec<String>,
}

impl BenchBus {
    /// `base` gives the tuning (prefetch, delivery limit, …), `bus` the URL.
    pub fn new(bus: &str, channels: &[String], base: &BusConfig) -> Result<Self, BenchError> {
        let mut config = BusConfig {
            url: Secret::new(bus),
            // Short, so that a missed wake-up does not show as latency.
            poll_interval_ms: base.poll_interval_ms.min(200),
            ..base.clone()
        };
        if bus.starts_with("amqp://") || bus.starts_with("amqps://") {
            config.name_prefix = format!(
                "{}bench_{}.",
                base.name_prefix,
                uuid::Uuid::new_v4().simple()
            );
        } else if bus != "memory://" {
            return Err(BenchError::Bus(
                "expected memory:// or an amqp:// URL".to_string(),
            ));
        }
        Ok(Self {
            config,
            channels: channels.to_vec(),
        })
    }

    /// Deletes the queues and exchanges this run declared on RabbitMQ.
    pub async fn remove(self) {
        if self.config.name_prefix.is_empty() {
            return;
        }
        match AmqpBus::connect(self.config.clone()).await {
            Ok(bus) => {
                for channel in &self.channels {
                    if let Err(error) = bus.delete_channel_queue(channel).await {
                        tracing::warn!(channel = %channel, error = %error, "cannot delete a benchmark queue");
                    }
                }
                if let Err(error) = bus.delete_exchanges().await {
                    tracing::warn!(error = %error, "cannot delete the benchmark exchanges");
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot clean up the benchmark's RabbitMQ names")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database_name;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            replace_database_name("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            replace_database_name("postgres://u:p@h/db?sslmode=disable", "b"),
            "postgres://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            replace_database_name("postgres://h:5432", "b"),
            "postgres://h:5432/b"
        );
    }
}
