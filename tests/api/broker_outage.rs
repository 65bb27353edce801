//! The production set-up started while RabbitMQ is down (a proxy in front of the shared broker,
//! refusing connections, stands for it, so other tests keep theirs): the daemon starts, books
//! webhooks and says so in `/readyz`; once the broker is back, the held changes are pushed.

use crate::sync::skus;
use crate::sync_world::{wait_until, Setup, World, WorldPlan};
use crate::tcp_proxy::{ProxyMode, TcpProxy};
use omnistock_connector::Secret;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Instant;

async fn readyz(world: &World) -> (StatusCode, Value) {
    let response = world.app.get("/readyz").await;
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daemon_started_while_the_broker_is_down_books_orders_and_pushes_once_it_is_back() {
    let broker = TcpProxy::start("127.0.0.1:5672", ProxyMode::Refuse).await;
    let proxied = format!("127.0.0.1:{}", broker.port());
    let mut world = World::start_with(Setup::Production, WorldPlan::default(), |settings| {
        let url = settings
            .bus
            .url
            .expose()
            .replace("127.0.0.1:5672", &proxied);
        settings.bus.url = Secret::new(url);
    })
    .await;
    world.add_catalog(&skus(2), 10).await;
    let (status, body) = readyz(&world).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["bus"], "disconnected", "{body}");

    // Booked while the broker is down; the outbox holds the change.
    world.order("sim-a", "SKU-01", 3);
    world.wait_available("SKU-01", 7).await;

    broker.set(ProxyMode::Forward);
    let back_at = Instant::now();
    world.wait_converged().await;
    eprintln!(
        "broker back: every channel converged after {:?}",
        back_at.elapsed()
    );
    wait_until("readyz says the bus is connected", || async {
        readyz(&world).await.1["bus"] == "connected"
    })
    .await;
    world.stop().await;
}
