//! A webhook while PostgreSQL does not answer (its connections open but silent, as when the
//! network drops packets): answered 503 within 2 s, before platforms give up waiting (Shopify
//! waits 5 s), and the platform's redelivery after the outage books the order once.

use crate::sync::skus;
use crate::sync_world::{Setup, World, WorldPlan};
use crate::tcp_proxy::{ProxyMode, TcpProxy};
use omnistock::settings::DatabaseUrl;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

const POSTGRES: &str = "127.0.0.1:5432";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_is_answered_503_in_time_while_the_database_is_silent() {
    let proxy = TcpProxy::start(POSTGRES, ProxyMode::Forward).await;
    let through_proxy = format!("127.0.0.1:{}", proxy.port());
    let mut world = World::start_with(Setup::Production, WorldPlan::default(), |settings| {
        let url = settings
            .database
            .url
            .expose()
            .replace(POSTGRES, &through_proxy);
        settings.database.url = DatabaseUrl::new(url);
    })
    .await;
    world.add_catalog(&skus(1), 10).await;
    world.sim("sim-a").set_webhook_target(None);
    let order = world.order("sim-a", "SKU-01", 2);
    let webhook = world.sim("sim-a").webhook_for_order(&order, None).unwrap();

    proxy.set(ProxyMode::Stall);
    for _ in 0..2 {
        let started = Instant::now();
        let response = world
            .post_webhook("sim-a", &webhook.headers, webhook.body.clone())
            .await;
        let waited = started.elapsed();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        // The bound the platforms need, not a speed: without it the answer waits for the
        // database for as long as it is silent.
        assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
    }
    proxy.set(ProxyMode::Forward);

    // The platform delivers again until it gets 200, as it would.
    let mut redeliveries = 0;
    loop {
        redeliveries += 1;
        let response = world
            .post_webhook("sim-a", &webhook.headers, webhook.body.clone())
            .await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(redeliveries < 20, "still 503 after the database came back");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A booking that was under way when the first 503 went out may have committed since; the
    // redelivery found it (its delivery id), so the order is booked once either way.
    assert_eq!(world.stored_orders().await, 1);
    assert_eq!(world.stored_deliveries().await, 1);
    assert_eq!(world.app.ledger.available("SKU-01").await.unwrap(), 8);
    world.wait_converged().await;
    world.stop().await;
}
