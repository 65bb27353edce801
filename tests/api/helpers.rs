//! `spawn_app()`: a running omnistock on a free port with a fresh database of its own, so that
//! every test runs in parallel with the others and leaves nothing behind.
// Helpers serve every test module; not each of them uses all of them.
#![allow(dead_code)]

use omnistock::app::App;
use omnistock::ledger::Ledger;
use omnistock::settings::{DatabaseUrl, Settings};
use sqlx::{Connection, Executor, PgConnection};
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The test PostgreSQL server's maintenance database, where test databases are created.
const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A running app and what a test needs to talk to it.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub ledger: Ledger,
    pub database: TestDatabase,
    /// `true` while the app is the sync leader.
    pub leader: tokio::sync::watch::Receiver<bool>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), omnistock::app::AppError>>>,
}

/// The database behind a [`TestApp`]; removed when dropped.
pub enum TestDatabase {
    /// An SQLite file in a temporary folder (removed with the folder).
    Sqlite(tempfile::TempDir),
    /// A uniquely named PostgreSQL database.
    Postgres { name: String },
}

impl TestDatabase {
    pub fn sqlite() -> (Self, String) {
        let folder = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", folder.path().join("ledger.db").display());
        (Self::Sqlite(folder), url)
    }

    pub async fn postgres() -> (Self, String) {
        let name = format!("omnistock_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(POSTGRES_ADMIN_URL).await.unwrap();
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap();
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        (Self::Postgres { name }, url)
    }

    /// Drops the PostgreSQL database now, even while the app's pool holds connections to it.
    pub async fn drop_now(&self) {
        if let Self::Postgres { name } = self {
            drop_postgres_database(name).await;
        }
    }
}

async fn drop_postgres_database(name: &str) {
    let mut admin = PgConnection::connect(POSTGRES_ADMIN_URL).await.unwrap();
    admin
        .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
        .await
        .unwrap();
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { name } = self {
            // Drop cannot await, and the test's runtime may be gone: use a runtime of our own on
            // a thread of our own.
            let name = name.clone();
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(drop_postgres_database(&name));
            })
            .join();
            if dropped.is_err() && !std::thread::panicking() {
                panic!("could not drop the test database");
            }
        }
    }
}

/// Settings of a test app: defaults, port 0, the given database.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = DatabaseUrl::new(database_url);
    settings.http.listen = "127.0.0.1:0".parse().unwrap();
    settings
}

/// An app on a fresh SQLite file (the embedded set-up).
pub async fn spawn_app() -> TestApp {
    let (database, url) = TestDatabase::sqlite();
    spawn_app_with(test_settings(&url), database).await
}

/// An app on a fresh PostgreSQL database (the production set-up).
pub async fn spawn_app_on_postgres() -> TestApp {
    let (database, url) = TestDatabase::postgres().await;
    spawn_app_with(test_settings(&url), database).await
}

/// An app built from `settings` (which must point at `database`).
pub async fn spawn_app_with(settings: Settings, database: TestDatabase) -> TestApp {
    let app = App::build(settings).await.unwrap();
    let address = app.address();
    let ledger = app.state().ledger.clone();
    let leader = app.leader();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        ledger,
        database,
        leader,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `GET` an admin endpoint with `token`: the status and the JSON body (null if none).
    pub async fn admin_get(
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
    pub async fn admin_post(
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

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Asks the app to stop, as SIGTERM does, and waits until the server has returned.
    pub async fn stop(mut self) -> Result<(), omnistock::app::AppError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.server.take() {
            Some(server) => server.await.unwrap(),
            None => Ok(()),
        }
    }
}
