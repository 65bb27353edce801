//! The built daemon under a pretend systemd: the test binds the notify socket, starts
//! `omnistock serve` with `NOTIFY_SOCKET` and `WATCHDOG_USEC`, and reads what it is told:
//! READY=1 (with /readyz already 200), STATUS= lines, WATCHDOG=1 only while the daemon can
//! answer its own /readyz, STOPPING=1 on SIGTERM, then a clean exit.
use crate::common::TestDatabase;
use crate::tcp_proxy::{ProxyMode, TcpProxy};
use omnistock_sim::{SimHandle, SimOptions, SimServer};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::UnixDatagram;

const PATIENCE: Duration = Duration::from_secs(30);
/// 1 s: the daemon probes itself every 500 ms.
const WATCHDOG_USEC: &str = "1000000";

/// The daemon as a child process under a pretend service manager; killed when dropped.
pub(crate) struct ManagedDaemon {
    child: Child,
    socket: UnixDatagram,
    pub(crate) base_url: String,
    log: std::path::PathBuf,
    _folder: tempfile::TempDir,
}

impl ManagedDaemon {
    pub(crate) fn start(database_url: &str, sim: &SimHandle) -> Self {
        let folder = tempfile::tempdir().unwrap();
        let socket_path = folder.path().join("notify.sock");
        let socket = UnixDatagram::bind(&socket_path).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = folder.path().join("omnistock.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = \"{database_url}\"\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n\
                 [log]\nlevel = \"info\"\nformat = \"text\"\n\n\
                 [[channels]]\nid = \"sim-a\"\nkind = \"sim\"\npoll_interval = \"500ms\"\nrate_limit = \"20/s\"\nbase_url = \"{}\"\n\
                 api_token = \"{}\"\nwebhook_secret = \"{}\"\n",
                sim.base_url(),
                sim.api_token().expose(),
                sim.webhook_secret().expose(),
            ),
        )
        .unwrap();
        let log = folder.path().join("daemon.log");
        let child = spawn(&config, &socket_path, &log);
        Self {
            child,
            socket,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
            _folder: folder,
        }
    }

    /// The next datagram, split into its `KEY=value` lines.
    async fn next_message(&self, within: Duration) -> Option<Vec<String>> {
        let mut buffer = vec![0u8; 4096];
        let read = tokio::time::timeout(within, self.socket.recv(&mut buffer))
            .await
            .ok()?
            .unwrap();
        let text = String::from_utf8(buffer[..read].to_vec()).unwrap();
        Some(text.lines().map(str::to_string).collect())
    }

    /// Every message until one holds `line`; panics with the daemon's log after PATIENCE.
    pub(crate) async fn messages_until(&self, line: &str) -> Vec<Vec<String>> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(message) = self.next_message(left).await else {
                panic!(
                    "no {line} within {PATIENCE:?}; messages: {seen:?}; log:\n{}",
                    self.log_text()
                );
            };
            let done = message.iter().any(|each| each == line);
            seen.push(message);
            if done {
                return seen;
            }
        }
    }

    async fn readyz_status(&self) -> u16 {
        reqwest::get(format!("{}/readyz", self.base_url))
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit the SIGTERM asked for.
    async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the daemon did not stop on SIGTERM; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ManagedDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(config: &Path, socket: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnistock"));
    for (name, _) in std::env::vars() {
        if name.starts_with("OMNISTOCK") || name == "RUST_LOG" || name.starts_with("WATCHDOG") {
            command.env_remove(name);
        }
    }
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("NOTIFY_SOCKET", socket)
        .env("WATCHDOG_USEC", WATCHDOG_USEC)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn holds(message: &[String], line: &str) -> bool {
    message.iter().any(|each| each == line)
}

#[tokio::test]
async fn the_daemon_tells_systemd_ready_status_watchdog_and_stopping_in_order() {
    let database = TestDatabase::sqlite();
    let sim = SimServer::start(SimOptions::for_tests()).await.unwrap();
    let mut daemon = ManagedDaemon::start(&database.url, &sim);

    let first = daemon.messages_until("READY=1").await;
    assert_eq!(first.len(), 1, "READY=1 is the first message: {first:?}");
    let ready = &first[0];
    assert!(
        ready
            .iter()
            .any(|line| line.starts_with("STATUS=ready: 1 channel")),
        "READY=1 comes with a status line: {ready:?}"
    );
    assert_eq!(
        daemon.readyz_status().await,
        200,
        "/readyz answers 200 once READY=1 is sent"
    );

    // Fed from the self-check, every 500 ms.
    let mut seen = first.clone();
    seen.extend(daemon.messages_until("WATCHDOG=1").await);
    seen.extend(daemon.messages_until("WATCHDOG=1").await);
    // The only replica leads, and says so (at READY=1 or as soon as it has the lock).
    assert!(
        seen.iter()
            .flatten()
            .any(|line| line.starts_with("STATUS=") && line.ends_with(", sync leader")),
        "no status line names the sync leader: {seen:?}"
    );

    daemon.terminate();
    let until_stopping = daemon.messages_until("STOPPING=1").await;
    let stopping = until_stopping.last().unwrap();
    assert!(
        stopping
            .iter()
            .any(|line| line.starts_with("STATUS=stopping")),
        "STOPPING=1 comes with a status line: {stopping:?}"
    );
    let status = daemon.wait_exit().await;
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    // Nothing after STOPPING=1: the watchdog is no longer fed.
    let after = daemon.next_message(Duration::from_millis(200)).await;
    assert!(after.is_none(), "a message after STOPPING=1: {after:?}");
}

#[tokio::test]
async fn the_watchdog_is_fed_only_while_the_ledger_answers() {
    let database = TestDatabase::postgres().await;
    let proxy = TcpProxy::start("127.0.0.1:5432", ProxyMode::Forward).await;
    let proxied_url = database
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port()));
    assert_ne!(
        proxied_url, database.url,
        "the database goes through the proxy"
    );
    let sim = SimServer::start(SimOptions::for_tests()).await.unwrap();
    let daemon = ManagedDaemon::start(&proxied_url, &sim);
    daemon.messages_until("READY=1").await;
    daemon.messages_until("WATCHDOG=1").await;

    // The database stops answering: the self-check fails and the watchdog goes hungry (systemd
    // would restart the daemon after WatchdogSec). Status lines may still come.
    proxy.set(ProxyMode::Stall);
    // A probe already under way may still have been answered (each gives up after 500 ms).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    while daemon.next_message(Duration::ZERO).await.is_some() {}
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Some(message) = daemon
        .next_message(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        assert!(
            !holds(&message, "WATCHDOG=1"),
            "the watchdog was fed while the ledger did not answer"
        );
    }

    proxy.set(ProxyMode::Forward);
    daemon.messages_until("WATCHDOG=1").await;
}
