//! Webhooks leave signed, are retried with the same delivery id, keep each order's order and
//! parse into order events.

use crate::harness::{lines, start_sim};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use omnistock_connector::{Connector, OrderStatus, WebhookRequest};
use omnistock_sim::wire::{HEADER_DELIVERY_ID, HEADER_TOPIC};
use omnistock_sim::{DeliveryOutcome, DeliveryRecord, SimHandle, SimWebhook};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Receiver {
    received: Mutex<Vec<SimWebhook>>,
    failures_left: AtomicUsize,
}

impl Receiver {
    fn received(&self) -> Vec<SimWebhook> {
        self.received.lock().unwrap().clone()
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                value.to_str().unwrap().to_string(),
            )
        })
        .collect();
    receiver.received.lock().unwrap().push(SimWebhook {
        headers,
        body: body.to_vec(),
    });
    let failing = receiver
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// A webhook endpoint that answers 500 to its first `fail_first` requests.
async fn start_receiver(fail_first: usize) -> (String, Arc<Receiver>) {
    let receiver = Arc::new(Receiver {
        failures_left: AtomicUsize::new(fail_first),
        ..Receiver::default()
    });
    let router = Router::new()
        .route("/hook", post(receive))
        .with_state(Arc::clone(&receiver));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, receiver)
}

async fn wait_for_deliveries(
    sim: &SimHandle,
    done: impl Fn(&[DeliveryRecord]) -> bool,
) -> Vec<DeliveryRecord> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let deliveries = sim.webhook_deliveries();
        if done(&deliveries) {
            return deliveries;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never settled: {deliveries:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn settled(deliveries: &[DeliveryRecord], count: usize) -> bool {
    deliveries.len() == count
        && deliveries
            .iter()
            .all(|delivery| delivery.outcome != DeliveryOutcome::Pending)
}

#[tokio::test]
async fn webhooks_are_signed_and_parse_into_order_events() {
    let sim = start_sim().await;
    let (url, receiver) = start_receiver(0).await;
    sim.set_webhook_target(Some(url));
    let listing = sim.create_listing(None, "SKU-W", 5).unwrap().listing_id;
    let order = sim.place_order(&lines(&[(listing, 2)])).unwrap();
    sim.cancel_order(&order.id).unwrap();
    wait_for_deliveries(&sim, |deliveries| settled(deliveries, 2)).await;

    let connector = sim.connector().unwrap();
    let received = receiver.received();
    let events: Vec<_> = received
        .iter()
        .map(|webhook| {
            let request = WebhookRequest {
                headers: &webhook.headers,
                body: &webhook.body,
            };
            let mut events = connector.parse_webhook(&request).unwrap();
            assert_eq!(events.len(), 1);
            events.remove(0)
        })
        .collect();
    assert_eq!(events[0].status, OrderStatus::Open);
    assert_eq!(events[1].status, OrderStatus::Cancelled);
    assert_eq!(events[1].lines[0].cancelled_quantity, 2);
    assert!(events
        .iter()
        .all(|event| event.external_order_id == order.id));
    assert_eq!(
        events[0].delivery_id.as_deref(),
        Some(received[0].headers[HEADER_DELIVERY_ID].as_str())
    );
    assert_ne!(events[0].delivery_id, events[1].delivery_id);
    assert_eq!(sim.counters().webhooks_delivered, 2);
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_the_same_id_and_keep_the_order_of_events() {
    let sim = start_sim().await;
    let (url, receiver) = start_receiver(2).await;
    sim.set_webhook_target(Some(url));
    let listing = sim.create_listing(None, "SKU-R", 5).unwrap().listing_id;
    let order = sim.place_order(&lines(&[(listing, 1)])).unwrap();
    sim.cancel_order(&order.id).unwrap();
    let deliveries = wait_for_deliveries(&sim, |deliveries| settled(deliveries, 2)).await;

    assert_eq!(deliveries[0].attempts, 3);
    assert_eq!(deliveries[0].outcome, DeliveryOutcome::Delivered);
    assert_eq!(deliveries[1].attempts, 1);
    let received = receiver.received();
    let seen: Vec<(&str, &str)> = received
        .iter()
        .map(|SimWebhook { headers, .. }| {
            (
                headers[HEADER_TOPIC].as_str(),
                headers[HEADER_DELIVERY_ID].as_str(),
            )
        })
        .collect();
    let created = deliveries[0].delivery_id.as_str();
    let cancelled = deliveries[1].delivery_id.as_str();
    assert_eq!(
        seen,
        vec![
            ("orders/created", created),
            ("orders/created", created),
            ("orders/created", created),
            ("orders/cancelled", cancelled),
        ]
    );
    assert_eq!(
        received[0].body, received[2].body,
        "a retry resends the same body"
    );
}

#[tokio::test]
async fn an_unreachable_target_is_given_up_after_the_last_attempt() {
    let sim = start_sim().await;
    // Nothing listens on a port that was just released.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    sim.set_webhook_target(Some(url));
    let listing = sim.create_listing(None, "SKU-U", 5).unwrap().listing_id;
    sim.place_order(&lines(&[(listing, 1)])).unwrap();
    let deliveries = wait_for_deliveries(&sim, |deliveries| settled(deliveries, 1)).await;
    assert_eq!(deliveries[0].outcome, DeliveryOutcome::Failed);
    assert_eq!(deliveries[0].attempts, 5);
    assert!(deliveries[0].last_error.is_some());
    let counters = sim.counters();
    assert_eq!(
        (counters.webhook_attempts, counters.webhooks_failed),
        (5, 1)
    );
}
