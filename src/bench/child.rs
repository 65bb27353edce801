//! The daemon as a child process (`omnistock serve`) on a benchmark's database, bus and sims:
//! its configuration file, its start, its readiness and its death. `footprint` runs it so that
//! resident memory is the daemon's alone; `faults` so that it can be killed with SIGKILL.

use super::BenchError;
use crate::testkit::ScratchBusNames;
use omnistock_sim::SimHandle;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long a started daemon may take to answer `/readyz` with 200.
const READY_PATIENCE: Duration = Duration::from_secs(60);

/// Everything the daemon's configuration file says.
pub(super) struct DaemonPlan<'a> {
    pub binary: &'a Path,
    /// Where the configuration files and logs go.
    pub folder: &'a Path,
    pub database_url: &'a str,
    pub bus: &'a ScratchBusNames,
    /// Channel ids, one per sim, in the same order.
    pub channels: &'a [String],
    pub sims: &'a [SimHandle],
    /// The daemon's admin token, made up for the run.
    pub admin_token: String,
    /// `RUST_LOG` of the daemon.
    pub log_filter: &'a str,
    /// Keys of `[bus]` beyond its URL and prefix (e.g. `delivery_limit`).
    pub bus_options: toml::Table,
    /// Keys of every `[[channels]]` beyond the sim's own (e.g. `poll_interval`).
    pub channel_options: toml::Table,
}

/// A running daemon. Dropping it kills the process.
pub(super) struct ChildDaemon {
    child: tokio::process::Child,
    pub port: u16,
    pub log_path: PathBuf,
}

impl DaemonPlan<'_> {
    /// Starts `omnistock serve` on a free port, its log in `<folder>/omnistock-<label>.log`.
    /// Returns at once; [`ChildDaemon::wait_ready`] waits for `/readyz`.
    pub(super) fn start(&self, label: &str) -> Result<ChildDaemon, BenchError> {
        let port = free_port()?;
        self.start_on(label, port)
    }

    /// Starts `omnistock serve` on `port` (a restarted daemon keeps its address, as behind a
    /// load balancer, so the sims' webhooks find it again).
    pub(super) fn start_on(&self, label: &str, port: u16) -> Result<ChildDaemon, BenchError> {
        let config = self.folder.join(format!("omnistock-{label}.toml"));
        std::fs::write(&config, self.config(port)?)
            .map_err(BenchError::io(format!("writing {}", config.display())))?;
        let log_path = self.folder.join(format!("omnistock-{label}.log"));
        let log = std::fs::File::create(&log_path)
            .map_err(BenchError::io(format!("creating {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(BenchError::io(format!("opening {}", log_path.display())))?;
        let mut command = tokio::process::Command::new(self.binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OMNISTOCK") {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", self.log_filter)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true);
        let child = command.spawn().map_err(BenchError::io(format!(
            "starting {}",
            self.binary.display()
        )))?;
        Ok(ChildDaemon {
            child,
            port,
            log_path,
        })
    }

    /// The daemon's configuration file.
    fn config(&self, port: u16) -> Result<String, BenchError> {
        let mut root = toml::Table::new();
        let mut database = toml::Table::new();
        database.insert("url".into(), self.database_url.into());
        root.insert("database".into(), database.into());
        let mut bus = self.bus_options.clone();
        bus.insert("url".into(), self.bus.config.url.expose().into());
        bus.insert(
            "name_prefix".into(),
            self.bus.config.name_prefix.as_str().into(),
        );
        root.insert("bus".into(), bus.into());
        let mut http = toml::Table::new();
        http.insert("listen".into(), format!("127.0.0.1:{port}").into());
        root.insert("http".into(), http.into());
        let mut admin = toml::Table::new();
        admin.insert("token".into(), self.admin_token.as_str().into());
        root.insert("admin".into(), admin.into());
        let mut log = toml::Table::new();
        log.insert("format".into(), "json".into());
        root.insert("log".into(), log.into());
        let mut channels = Vec::new();
        for (channel, sim) in self.channels.iter().zip(self.sims) {
            let mut table = self.channel_options.clone();
            table.insert("id".into(), channel.as_str().into());
            table.insert("kind".into(), omnistock_sim::SIM_KIND.into());
            table.insert("base_url".into(), sim.base_url().into());
            table.insert("api_token".into(), sim.api_token().expose().into());
            table.insert(
                "webhook_secret".into(),
                sim.webhook_secret().expose().into(),
            );
            channels.push(toml::Value::Table(table));
        }
        root.insert("channels".into(), toml::Value::Array(channels));
        toml::to_string(&root).map_err(|error| BenchError::InvalidOption(error.to_string()))
    }
}

impl ChildDaemon {
    pub(super) fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// The daemon's base URL.
    pub(super) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until `/readyz` answers 200; returns how long that took from `started`. Fails when
    /// the process exits first (naming the end of its log) or after [`READY_PATIENCE`].
    pub(super) async fn wait_ready(&mut self, started: Instant) -> Result<Duration, BenchError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|error| BenchError::Http(error.to_string()))?;
        let readyz = format!("{}/readyz", self.base_url());
        loop {
            self.check_alive()?;
            if let Ok(response) = client.get(&readyz).send().await {
                if response.status().is_success() {
                    return Ok(started.elapsed());
                }
            }
            if started.elapsed() > READY_PATIENCE {
                return Err(BenchError::Timeout {
                    what: "answer /readyz".to_string(),
                    seconds: READY_PATIENCE.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// An error naming the end of the log when the process has exited.
    pub(super) fn check_alive(&mut self) -> Result<(), BenchError> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                Err(BenchError::Io {
                    what: format!("the daemon exited ({status}); its log ends: {tail}"),
                    source: std::io::Error::other("daemon exited"),
                })
            }
            _ => Ok(()),
        }
    }

    /// SIGKILL, and waits until the process is gone.
    pub(super) async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// The program to run as the daemon: `--binary` when given, else this program.
pub(super) fn daemon_binary(given: Option<&Path>) -> Result<PathBuf, BenchError> {
    match given {
        Some(binary) => Ok(binary.to_path_buf()),
        None => std::env::current_exe().map_err(BenchError::io("finding this program")),
    }
}

/// A port that was free a moment ago (the daemon binds it right after).
pub(super) fn free_port() -> Result<u16, BenchError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(BenchError::io("finding a free port"))?;
    let port = listener
        .local_addr()
        .map_err(BenchError::io("finding a free port"))?
        .port();
    Ok(port)
}
