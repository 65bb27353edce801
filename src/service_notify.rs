//! Tells the service manager (systemd's `Type=notify`) what the daemon is doing: `READY=1` once
//! the ledger is migrated and the listener bound, `STATUS=` lines naming the channels and the
//! replica's sync role, `WATCHDOG=1` each time the daemon answers its own `/readyz`, and
//! `STOPPING=1` when shutdown begins. Without `NOTIFY_SOCKET` (not under systemd) every call is
//! a no-op.
//!
//! The watchdog is fed only by a real probe through the daemon's listener, router and ledger, so
//! a daemon whose runtime is stuck or whose database is gone stops feeding it and systemd
//! restarts it after `WatchdogSec`; a free-running timer would prove only that one task runs.

use crate::sync::ChannelRuntime;
use sd_notify::NotifyState;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the STATUS= line is made of, read when the line is written.
#[derive(Clone)]
pub struct StatusSource {
    pub channels: Arc<BTreeMap<String, ChannelRuntime>>,
    pub leader: watch::Receiver<bool>,
}

impl StatusSource {
    /// One line for `systemctl status`, e.g. `ready: 3 channels (sim-b degraded), sync leader`.
    pub fn line(&self) -> String {
        let degraded: Vec<&str> = self
            .channels
            .values()
            .filter(|channel| channel.client.is_degraded())
            .map(|channel| channel.id.as_str())
            .collect();
        let health = if degraded.is_empty() {
            String::new()
        } else {
            format!(" ({} degraded)", degraded.join(", "))
        };
        let role = if *self.leader.borrow() {
            "sync leader"
        } else {
            "follower"
        };
        let count = self.channels.len();
        let noun = if count == 1 { "channel" } else { "channels" };
        format!("ready: {count} {noun}{health}, {role}")
    }
}

/// Sends the daemon's state to the service manager.
pub struct ServiceNotifier {
    status: StatusSource,
    address: SocketAddr,
}

impl ServiceNotifier {
    /// `address` is the bound listener, probed for the watchdog.
    pub fn new(status: StatusSource, address: SocketAddr) -> Self {
        Self { status, address }
    }

    /// READY=1 with the first STATUS= line, then a task that keeps the status current and feeds
    /// the watchdog when `WatchdogSec` is set. The task ends when `stopping` is called.
    pub fn ready(self) -> RunningNotifier {
        send(&[NotifyState::Ready, NotifyState::Status(&self.status.line())]);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.keep_alive(stopped));
        RunningNotifier { stop, task }
    }

    async fn keep_alive(self, mut stopped: watch::Receiver<bool>) {
        let watchdog = sd_notify::watchdog_enabled();
        // Half the watchdog period, as sd_watchdog_enabled(3) advises; without a watchdog the
        // status is refreshed at this pace only.
        let period = watchdog.map_or(STATUS_PERIOD, |timeout| timeout / 2);
        let mut leader = self.status.leader.clone();
        // Once the election's sender is gone, `changed` would return at once, forever.
        let mut leader_open = true;
        let mut last_status = self.status.line();
        loop {
            tokio::select! {
                _ = stopped.changed() => return,
                changed = leader.changed(), if leader_open => leader_open = changed.is_ok(),
                () = tokio::time::sleep(period) => {
                    if watchdog.is_some() {
                        self.feed_watchdog(period).await;
                    }
                }
            }
            let status = self.status.line();
            if status != last_status {
                send(&[NotifyState::Status(&status)]);
                last_status = status;
            }
        }
    }

    async fn feed_watchdog(&self, timeout: Duration) {
        match tokio::time::timeout(timeout, probe_readyz(self.address)).await {
            Ok(Ok(())) => send(&[NotifyState::Watchdog]),
            Ok(Err(reason)) => {
                tracing::warn!(reason = %reason, "watchdog not fed: self-check failed");
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "watchdog not fed: self-check did not answer in time"
                );
            }
        }
    }
}

/// The keep-alive task of a daemon that told the manager it is ready.
pub struct RunningNotifier {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningNotifier {
    /// STOPPING=1; the watchdog is no longer fed (systemd ignores it while stopping).
    pub async fn stopping(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        send(&[
            NotifyState::Stopping,
            NotifyState::Status("stopping: finishing in-flight requests"),
        ]);
    }
}

/// How often the status line is refreshed when there is no watchdog.
const STATUS_PERIOD: Duration = Duration::from_secs(5);

/// GET /readyz through the daemon's own listener: proves that it accepts connections, that the
/// runtime serves requests and that the ledger answers (see `http::health`).
async fn probe_readyz(address: SocketAddr) -> Result<(), String> {
    let target = SocketAddr::new(loopback_for(address.ip()), address.port());
    let mut stream = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|error| format!("cannot connect to {target}: {error}"))?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|error| format!("cannot send the request: {error}"))?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .await
        .map_err(|error| format!("no answer: {error}"))?;
    // "HTTP/1.1 200"
    match &head[9..12] {
        b"200" => Ok(()),
        status => Err(format!(
            "/readyz answered {}",
            String::from_utf8_lossy(status)
        )),
    }
}

/// A listener on all interfaces is probed on loopback.
fn loopback_for(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

fn send(state: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::warn!(error = %error, "cannot notify the service manager");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unspecified_addresses_are_probed_on_loopback() {
        assert_eq!(
            loopback_for("0.0.0.0".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            loopback_for("::".parse().unwrap()),
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            loopback_for("10.1.2.3".parse().unwrap()),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
    }
}
