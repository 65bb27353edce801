//! A TCP proxy in front of a shared service (PostgreSQL, RabbitMQ), so that a test can cut its
//! own daemon off without touching the service other tests use: `Stall` stops forwarding
//! without closing a socket (a host cut off by the network, as neither side notices), `Refuse`
//! closes every connection and refuses new ones (a service that is down).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyMode {
    Forward,
    Stall,
    Refuse,
}

pub(crate) struct TcpProxy {
    address: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    accepter: JoinHandle<()>,
}

impl TcpProxy {
    /// A proxy on a free local port forwarding to `upstream`, in `mode`.
    pub(crate) async fn start(upstream: &str, mode: ProxyMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (sender, modes) = watch::channel(mode);
        let upstream = upstream.to_string();
        let accepter = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *modes.borrow() == ProxyMode::Refuse {
                    continue;
                }
                let upstream = upstream.clone();
                let modes = modes.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pipe(client_read, server_write, modes.clone()),
                        pipe(server_read, client_write, modes),
                    );
                });
            }
        });
        Self {
            address,
            mode: sender,
            accepter,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.address.port()
    }

    pub(crate) fn set(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.set(ProxyMode::Refuse);
        self.accepter.abort();
    }
}

/// Copies `from` to `to` while forwarding; holds what it read while stalled; returns (closing
/// its halves) when refused or when either side closes.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut modes: watch::Receiver<ProxyMode>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(mode) = modes
            .wait_for(|mode| *mode != ProxyMode::Stall)
            .await
            .map(|mode| *mode)
        else {
            return;
        };
        if mode == ProxyMode::Refuse {
            return;
        }
        tokio::select! {
            read = from.read(&mut buffer) => {
                let read = match read {
                    Ok(0) | Err(_) => return,
                    Ok(read) => read,
                };
                let Ok(mode) = modes.wait_for(|mode| *mode != ProxyMode::Stall).await.map(|mode| *mode) else {
                    return;
                };
                if mode == ProxyMode::Refuse || to.write_all(&buffer[..read]).await.is_err() {
                    return;
                }
            }
            changed = modes.changed() => if changed.is_err() { return },
        }
    }
}
