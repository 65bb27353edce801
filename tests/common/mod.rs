//! Test databases for integration tests: a fresh SQLite file or a fresh PostgreSQL database per
//! test, removed when the value is dropped (also when the test panics).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use omnistock::ledger::Ledger;
use sqlx::Connection;

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("OMNISTOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A database of its own for one test.
pub struct TestDatabase {
    pub backend: TestBackend,
    /// The url to connect a [`Ledger`] (or anything else) to.
    pub url: String,
    directory: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDatabase {
    pub async fn create(backend: TestBackend) -> Self {
        match backend {
            TestBackend::Sqlite => Self::sqlite(),
            TestBackend::Postgres => Self::postgres().await,
        }
    }

    /// A SQLite file in a fresh temporary directory (the ledger creates the file).
    pub fn sqlite() -> Self {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("ledger.db");
        Self {
            backend: TestBackend::Sqlite,
            url: format!("sqlite://{}", path.display()),
            directory: Some(directory),
            postgres_name: None,
        }
    }

    /// A fresh database `omnistock_test_<uuid>` on the test PostgreSQL server.
    pub async fn postgres() -> Self {
        let admin_url = postgres_admin_url();
        let name = format!("omnistock_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to the test postgres server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("admin url has a database");
        Self {
            backend: TestBackend::Postgres,
            url: format!("{base}/{name}"),
            directory: None,
            postgres_name: Some(name),
        }
    }

    /// A migrated ledger on this database; every call opens a pool of its own.
    pub async fn ledger(&self) -> Ledger {
        let ledger = Ledger::connect(&self.url)
            .await
            .expect("connect the ledger");
        ledger.migrate().await.expect("migrate the ledger");
        ledger
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop may run inside or outside a runtime; a thread of its own can always block.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for dropping the test database");
            runtime.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}
