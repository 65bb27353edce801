//! Test databases for integration tests: a fresh SQLite file or a fresh PostgreSQL database per
//! test, removed when the value is dropped (also when the test panics).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use omnistock::ledger::Ledger;
use omnistock::testkit::ScratchDatabase;

/// The PostgreSQL server tests create their databases on.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("OMNISTOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TestBackend {
    Sqlite,
    Postgres,
}

/// A database of its own for one test, removed when dropped (also when the test panics).
pub(crate) struct TestDatabase {
    pub backend: TestBackend,
    /// The url to connect a [`Ledger`] (or anything else) to.
    pub url: String,
    _scratch: ScratchDatabase,
}

impl TestDatabase {
    pub(crate) async fn create(backend: TestBackend) -> Self {
        match backend {
            TestBackend::Sqlite => Self::sqlite(),
            TestBackend::Postgres => Self::postgres().await,
        }
    }

    /// A SQLite file in a fresh temporary directory (the ledger creates the file).
    pub(crate) fn sqlite() -> Self {
        Self::from(
            TestBackend::Sqlite,
            ScratchDatabase::sqlite("omnistock-test").unwrap(),
        )
    }

    /// A fresh database `omnistock_test_<uuid>` on the test PostgreSQL server.
    pub(crate) async fn postgres() -> Self {
        let scratch = ScratchDatabase::postgres(&postgres_admin_url(), "omnistock_test")
            .await
            .expect("create the test database");
        Self::from(TestBackend::Postgres, scratch)
    }

    fn from(backend: TestBackend, scratch: ScratchDatabase) -> Self {
        Self {
            backend,
            url: scratch.url().to_string(),
            _scratch: scratch,
        }
    }

    /// A migrated ledger on this database; every call opens a pool of its own.
    pub(crate) async fn ledger(&self) -> Ledger {
        let ledger = Ledger::connect(&self.url)
            .await
            .expect("connect the ledger");
        ledger.migrate().await.expect("migrate the ledger");
        ledger
    }
}
