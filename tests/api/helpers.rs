//! `spawn_app()`: a running omnistock on a free port with a fresh database of its own, so that
//! every test runs in parallel with the others and leaves nothing behind.
// Helpers serve every test module; not each of them uses all of them.
#![allow(dead_code)]

use omnistock::ledger::Ledger;
use omnistock::settings::{DatabaseUrl, Settings};
use omnistock::testkit::{DaemonStopError, InProcessDaemon, ScratchDatabase};
use std::net::SocketAddr;

/// The test PostgreSQL server's maintenance database, where test databases are created.
const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A running app and what a test needs to talk to it.
pub(crate) struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub ledger: Ledger,
    pub database: TestDatabase,
    /// `true` while the app is the sync leader.
    pub leader: tokio::sync::watch::Receiver<bool>,
    daemon: Option<InProcessDaemon>,
}

/// The database behind a [`TestApp`]; removed when dropped.
pub(crate) struct TestDatabase(ScratchDatabase);

impl TestDatabase {
    /// An SQLite file in a temporary folder, and its URL.
    pub(crate) fn sqlite() -> (Self, String) {
        Self::with_url(ScratchDatabase::sqlite("omnistock-test").unwrap())
    }

    /// A uniquely named PostgreSQL database, and its URL.
    pub(crate) async fn postgres() -> (Self, String) {
        Self::with_url(
            ScratchDatabase::postgres(POSTGRES_ADMIN_URL, "omnistock_test")
                .await
                .unwrap(),
        )
    }

    fn with_url(scratch: ScratchDatabase) -> (Self, String) {
        let url = scratch.url().to_string();
        (Self(scratch), url)
    }

    /// Drops the PostgreSQL database now, even while the app's pool holds connections to it.
    pub(crate) async fn drop_now(&mut self) {
        self.0.remove().await;
    }
}

/// Settings of a test app: defaults, port 0, the given database.
pub(crate) fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = DatabaseUrl::new(database_url);
    settings.http.listen = "127.0.0.1:0".parse().unwrap();
    settings
}

/// An app on a fresh SQLite file (the embedded set-up).
pub(crate) async fn spawn_app() -> TestApp {
    let (database, url) = TestDatabase::sqlite();
    spawn_app_with(test_settings(&url), database).await
}

/// An app on a fresh PostgreSQL database (the production set-up).
pub(crate) async fn spawn_app_on_postgres() -> TestApp {
    let (database, url) = TestDatabase::postgres().await;
    spawn_app_with(test_settings(&url), database).await
}

/// An app built from `settings` (which must point at `database`).
pub(crate) async fn spawn_app_with(settings: Settings, database: TestDatabase) -> TestApp {
    let daemon = InProcessDaemon::start(settings).await.unwrap();
    TestApp {
        address: daemon.address,
        client: reqwest::Client::new(),
        ledger: daemon.ledger.clone(),
        database,
        leader: daemon.leader.clone(),
        daemon: Some(daemon),
    }
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `GET` an admin endpoint with `token`: the status and the JSON body (null if none).
    pub(crate) async fn admin_get(
        &self,
        token: &str,
        path: &str,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// `POST` a JSON body to an admin endpoint with `token`: the status and the JSON answer.
    pub(crate) async fn admin_post(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Asks the app to stop, as SIGTERM does, and waits until the server has returned.
    pub(crate) async fn stop(mut self) -> Result<(), DaemonStopError> {
        match self.daemon.take() {
            Some(daemon) => daemon.stop().await,
            None => Ok(()),
        }
    }
}
