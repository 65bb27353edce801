//! The built daemon killed with SIGKILL in the middle of a burst of orders and started again:
//! no order is lost and every channel still converges, on both set-ups. The sims run in this
//! test process; the daemon is the real binary with a configuration file.
use crate::common::{TestBackend, TestDatabase};
use omnistock::bus::{AmqpBus, BusConfig};
use omnistock::ledger::{Ledger, MovementMeta};
use omnistock_connector::Secret;
use omnistock_sim::{NewOrderLine, SimActionError, SimHandle, SimOptions, SimServer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const CHANNELS: [&str; 3] = ["sim-a", "sim-b", "sim-c"];
const PATIENCE: Duration = Duration::from_secs(30);
const ON_HAND: i64 = 100;

fn listing_of(sku: &str) -> String {
    format!("L-{sku}")
}

/// A port nobody listens on now; the daemon binds it, so that it keeps its address (and the
/// sims' webhook targets stay right) across the restart.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// RabbitMQ names of one test, deleted on drop.
struct BrokerNames(BusConfig);

impl Drop for BrokerNames {
    fn drop(&mut self) {
        let config = self.0.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(bus) = AmqpBus::connect(config).await {
                    for channel in CHANNELS {
                        let _ = bus.delete_channel_queue(channel).await;
                    }
                    let _ = bus.delete_exchanges().await;
                }
            });
        })
        .join();
    }
}

/// The daemon as a child process; killed when dropped.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(config: &Path, log: &Path) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_omnistock"));
        for (name, _) in std::env::vars() {
            if name.starts_with("OMNISTOCK") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        let child = command
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self { child }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Scene {
    backend: TestBackend,
    database: TestDatabase,
    _broker: Option<BrokerNames>,
    _folder: tempfile::TempDir,
    config: PathBuf,
    log: PathBuf,
    base_url: String,
    sims: BTreeMap<&'static str, SimHandle>,
    client: reqwest::Client,
}

impl Scene {
    async fn new(backend: TestBackend) -> Self {
        let database = TestDatabase::create(backend).await;
        let folder = tempfile::tempdir().unwrap();
        let port = free_port();
        let base_url = format!("http://127.0.0.1:{port}");
        let mut sims = BTreeMap::new();
        for channel in CHANNELS {
            let sim = SimServer::start(SimOptions::for_tests()).await.unwrap();
            sim.set_webhook_target(Some(format!("{base_url}/webhooks/{channel}")));
            sims.insert(channel, sim);
        }
        let (bus, broker) = match backend {
            TestBackend::Sqlite => (
                "url = \"memory://\"\npoll_interval_ms = 200\n".to_string(),
                None,
            ),
            TestBackend::Postgres => {
                let prefix = format!("test_{}.", uuid::Uuid::new_v4().simple());
                let config = BusConfig {
                    url: Secret::new(AMQP_URL),
                    name_prefix: prefix.clone(),
                    ..BusConfig::default()
                };
                (
                    format!("url = \"{AMQP_URL}\"\nname_prefix = \"{prefix}\"\n"),
                    Some(BrokerNames(config)),
                )
            }
        };
        let mut text = format!(
            "[database]\nurl = \"{}\"\n\n[bus]\n{bus}\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [log]\nlevel = \"warn\"\nformat = \"text\"\n",
            database.url
        );
        for (channel, sim) in &sims {
            text.push_str(&format!(
                "\n[[channels]]\nid = \"{channel}\"\nkind = \"sim\"\npoll_interval = \"500ms\"\n\
                 base_url = \"{}\"\napi_token = \"{}\"\nwebhook_secret = \"{}\"\n\
                 poll_overlap_ms = 500\n",
                sim.base_url(),
                sim.api_token().expose(),
                sim.webhook_secret().expose(),
            ));
        }
        let config = folder.path().join("omnistock.toml");
        std::fs::write(&config, text).unwrap();
        let log = folder.path().join("daemon.log");
        Self {
            backend,
            database,
            _broker: broker,
            _folder: folder,
            config,
            log,
            base_url,
            sims,
            client: reqwest::Client::new(),
        }
    }

    fn start_daemon(&self) -> Daemon {
        Daemon::start(&self.config, &self.log)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(response) = self
                .client
                .get(format!("{}/readyz", self.base_url))
                .send()
                .await
            {
                if response.status().is_success() {
                    return;
                }
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the daemon never became ready; its log:\n{}",
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn differences(&self, ledger: &Ledger, skus: &[String]) -> Vec<String> {
        let mut differences = Vec::new();
        for sku in skus {
            let Ok(available) = ledger.available(sku).await else {
                differences.push(format!("reading {sku} failed"));
                continue;
            };
            let available = available.max(0);
            for (channel, sim) in &self.sims {
                let shown = sim.shown_quantity(&listing_of(sku));
                if shown != Some(available) {
                    differences.push(format!(
                        "{channel} shows {shown:?} of {sku}, the ledger {available}"
                    ));
                }
            }
        }
        differences
    }
}

/// Places one order of one unit on the sim; a sim that shows none left is skipped (the buyer
/// goes elsewhere).
fn order(sim: &SimHandle, sku: &str) -> Option<String> {
    match sim.place_order(&[NewOrderLine {
        listing_id: listing_of(sku),
        quantity: 1,
        unit_price_minor: None,
    }]) {
        Ok(order) => Some(order.id),
        Err(SimActionError::InsufficientStock { .. }) => None,
        Err(error) => panic!("placing an order failed: {error}"),
    }
}

async fn a_daemon_killed_mid_burst_loses_no_order_and_converges(backend: TestBackend) {
    let scene = Scene::new(backend).await;
    let daemon = scene.start_daemon();
    scene.wait_ready().await;
    let ledger = Ledger::connect(&scene.database.url).await.unwrap();
    let skus: Vec<String> = (1..=10).map(|index| format!("SKU-{index:02}")).collect();
    for sku in &skus {
        ledger.upsert_item(sku, sku).await.unwrap();
        ledger
            .receive(
                sku,
                "default",
                ON_HAND,
                &MovementMeta::new(format!("initial-{sku}")),
            )
            .await
            .unwrap();
        for (channel, sim) in &scene.sims {
            sim.create_listing(Some(&listing_of(sku)), sku, ON_HAND)
                .unwrap();
            ledger
                .bind_listing(channel, &listing_of(sku), sku, 1)
                .await
                .unwrap();
        }
    }

    let mut placed: Vec<(&str, String)> = Vec::new();
    let mut ordered: BTreeMap<String, i64> = BTreeMap::new();
    let mut daemon = Some(daemon);
    for index in 0..300usize {
        if index == 150 {
            daemon.take().unwrap().kill();
            // Orders keep coming while the daemon is down; their webhooks are given up.
            for step in 0..30usize {
                let channel = CHANNELS[step % CHANNELS.len()];
                let sku = &skus[(step * 7) % skus.len()];
                if let Some(id) = order(&scene.sims[channel], sku) {
                    placed.push((channel, id));
                    *ordered.entry(sku.clone()).or_default() += 1;
                }
            }
            daemon = Some(scene.start_daemon());
        }
        let channel = CHANNELS[index % CHANNELS.len()];
        let sku = &skus[(index * 13 + index / 3) % skus.len()];
        if let Some(id) = order(&scene.sims[channel], sku) {
            placed.push((channel, id));
            *ordered.entry(sku.clone()).or_default() += 1;
        }
        if index % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut missing = Vec::new();
        for (channel, id) in &placed {
            // A busy ledger may time a read out: that is "not yet", not a failure.
            if !matches!(ledger.order(channel, id).await, Ok(Some(_))) {
                missing.push(format!("{channel}/{id}"));
            }
        }
        let mut wrong = Vec::new();
        for sku in &skus {
            let expected = ON_HAND - ordered.get(sku).copied().unwrap_or(0);
            let available = ledger.available(sku).await.ok();
            if available != Some(expected) {
                wrong.push(format!("{sku}: {available:?}, expected {expected}"));
            }
        }
        let differences = scene.differences(&ledger, &skus).await;
        if missing.is_empty() && wrong.is_empty() && differences.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "{:?}: after {PATIENCE:?}: missing orders {missing:?}, wrong availability \
                 {wrong:?}, channels differing {differences:?}; daemon log:\n{}",
                scene.backend,
                scene.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Err(violations) = ledger.check_invariants().await.unwrap() {
        panic!("the ledger's invariants do not hold: {violations:?}");
    }
    drop(daemon);
    ledger.close().await;
    for (_, sim) in scene.sims {
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daemon_killed_mid_burst_loses_no_order_and_converges_embedded() {
    a_daemon_killed_mid_burst_loses_no_order_and_converges(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daemon_killed_mid_burst_loses_no_order_and_converges_production() {
    a_daemon_killed_mid_burst_loses_no_order_and_converges(TestBackend::Postgres).await;
}
