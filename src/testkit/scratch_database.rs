//! A database made for one run.

use sqlx::{Connection, Executor, PgConnection};
use std::path::PathBuf;

/// Why a scratch database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("expected \"sqlite\" or a postgres:// server URL, got {0:?}")]
    UnknownTarget(String),
    #[error("creating the database {name} on {server}: {source}")]
    Postgres {
        name: String,
        /// The server's URL without its password.
        server: String,
        source: sqlx::Error,
    },
    #[error("creating the folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the database lives, until it is removed.
#[derive(Debug)]
enum Place {
    SqliteFolder(PathBuf),
    Postgres { server_url: String, name: String },
}

/// A fresh database, removed by [`ScratchDatabase::remove`] or when dropped.
#[derive(Debug)]
pub struct ScratchDatabase {
    url: String,
    place: Option<Place>,
}

impl ScratchDatabase {
    /// `target` is `sqlite` (a file in a fresh temporary folder) or the URL of a PostgreSQL
    /// server, on which a database `<prefix>_<uuid>` is created.
    pub async fn create(target: &str, prefix: &str) -> Result<Self, ScratchError> {
        if is_postgres(target) {
            Self::postgres(target, prefix).await
        } else if target == "sqlite" || target.starts_with("sqlite:") {
            Self::sqlite(prefix)
        } else {
            Err(ScratchError::UnknownTarget(
                crate::ledger::redact_database_url(target),
            ))
        }
    }

    /// A SQLite file `ledger.db` in a fresh temporary folder (the ledger creates the file).
    pub fn sqlite(prefix: &str) -> Result<Self, ScratchError> {
        let folder = std::env::temp_dir().join(format!("{prefix}-{}", unique()));
        std::fs::create_dir_all(&folder).map_err(|source| ScratchError::Folder {
            path: folder.clone(),
            source,
        })?;
        Ok(Self {
            url: format!("sqlite://{}", folder.join("ledger.db").display()),
            place: Some(Place::SqliteFolder(folder)),
        })
    }

    /// A database `<prefix>_<uuid>` on the PostgreSQL server `server_url` (any database of it).
    pub async fn postgres(server_url: &str, prefix: &str) -> Result<Self, ScratchError> {
        let name = format!("{prefix}_{}", unique());
        let failed = |source| ScratchError::Postgres {
            name: name.clone(),
            server: crate::ledger::redact_database_url(server_url),
            source,
        };
        let mut admin = PgConnection::connect(server_url).await.map_err(failed)?;
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .map_err(failed)?;
        let _ = admin.close().await;
        Ok(Self {
            url: replace_database_name(server_url, &name),
            place: Some(Place::Postgres {
                server_url: server_url.to_string(),
                name,
            }),
        })
    }

    /// The URL to connect a ledger (or the daemon) to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name (PostgreSQL) or file (SQLite), for reports.
    pub fn name(&self) -> String {
        match &self.place {
            Some(Place::Postgres { name, .. }) => name.clone(),
            _ => self.url.trim_start_matches("sqlite://").to_string(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        is_postgres(&self.url)
    }

    /// Removes the database now (PostgreSQL: even while connections to it remain); later
    /// calls, and the drop, do nothing.
    pub async fn remove(&mut self) {
        if let Some(place) = self.place.take() {
            remove(place).await;
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Some(place) = self.place.take() {
            super::block_on_own_thread(remove(place));
        }
    }
}

async fn remove(place: Place) {
    match place {
        Place::SqliteFolder(folder) => {
            if let Err(error) = std::fs::remove_dir_all(&folder) {
                tracing::warn!(folder = %folder.display(), error = %error, "cannot remove a scratch database's folder");
            }
        }
        Place::Postgres { server_url, name } => {
            let dropped = async {
                let mut admin = PgConnection::connect(&server_url).await?;
                admin
                    .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await?;
                admin.close().await
            };
            if let Err(error) = dropped.await {
                tracing::warn!(database = %name, error = %error, "cannot drop a scratch database");
            }
        }
    }
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
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
