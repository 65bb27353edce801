//! A TCP proxy for tests that cut a connection without closing it: `pause` stops forwarding
//! bytes both ways on every connection (they stay open, as when a network drops packets), and
//! `resume` delivers what was held and forwards again. Connections opened while paused reach
//! the upstream only once resumed.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub struct TcpProxy {
    address: SocketAddr,
    forwarding: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// A proxy on a free local port to `upstream`, forwarding.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (forwarding, watching) = watch::channel(true);
        let task = tokio::spawn(accept(listener, upstream, watching));
        Self {
            address,
            forwarding,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Stops forwarding; every connection stays open and silent.
    pub fn pause(&self) {
        self.forwarding.send_replace(false);
    }

    pub fn resume(&self) {
        self.forwarding.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // The accept task owns the connections' tasks: aborting it closes them all.
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, forwarding: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let forwarding = forwarding.clone();
        connections.spawn(async move {
            let mut ready = forwarding.clone();
            if ready.wait_for(|on| *on).await.is_err() {
                return;
            }
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::select! {
                () = pump(client_read, server_write, forwarding.clone()) => {}
                () = pump(server_read, client_write, forwarding) => {}
            }
        });
        // Finished connections are reaped as new ones arrive.
        while connections.try_join_next().is_some() {}
    }
}

/// Copies `from` to `to`, holding each chunk while forwarding is off.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut forwarding: watch::Receiver<bool>,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if forwarding.wait_for(|on| *on).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
