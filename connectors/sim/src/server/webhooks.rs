//! Webhook delivery: signed POSTs from background tasks, retried with backoff like a real
//! platform, in order per order id (each event waits for the previous event of its order).

use super::Shared;
use crate::signature;
use crate::wire::{SimOrder, WebhookPayload, HEADER_DELIVERY_ID, HEADER_SIGNATURE, HEADER_TOPIC};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

use super::state::WebhookEvent;

/// A webhook exactly as the sim sends it: lower-case header names and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimWebhook {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// Builds the signed request for one event.
pub(crate) fn build_webhook(
    secret: &str,
    topic: &str,
    delivery_id: &str,
    order: &SimOrder,
) -> SimWebhook {
    let payload = WebhookPayload {
        topic: topic.to_string(),
        order: order.clone(),
    };
    // Serializing plain strings and integers cannot fail.
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_string(), "application/json".to_string());
    headers.insert(HEADER_TOPIC.to_string(), topic.to_string());
    headers.insert(HEADER_DELIVERY_ID.to_string(), delivery_id.to_string());
    headers.insert(HEADER_SIGNATURE.to_string(), signature::sign(secret, &body));
    SimWebhook { headers, body }
}

/// Sends events in the background, keeping each order's events in order.
pub(crate) struct WebhookDispatcher {
    client: reqwest::Client,
    retry_delays: Vec<Duration>,
    runtime: tokio::runtime::Handle,
    /// The completion signal of the last event queued for each order.
    last_of_order: Mutex<HashMap<String, oneshot::Receiver<()>>>,
    shutdown: watch::Receiver<bool>,
}

impl WebhookDispatcher {
    pub(crate) fn new(
        client: reqwest::Client,
        retry_delays: Vec<Duration>,
        runtime: tokio::runtime::Handle,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            client,
            retry_delays,
            runtime,
            last_of_order: Mutex::new(HashMap::new()),
            shutdown,
        }
    }

    /// Queues `event`. Called while the state lock is held, so that events of one order are
    /// queued in the order they happened.
    pub(crate) fn dispatch(&self, shared: Arc<Shared>, event: WebhookEvent) {
        let (done, finished) = oneshot::channel();
        let previous = {
            let mut last = self
                .last_of_order
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            last.insert(event.order.id.clone(), finished)
        };
        let task = Delivery {
            client: self.client.clone(),
            retry_delays: self.retry_delays.clone(),
            shutdown: self.shutdown.clone(),
            shared,
            event,
        };
        self.runtime.spawn(task.run(previous, done));
    }
}

struct Delivery {
    client: reqwest::Client,
    retry_delays: Vec<Duration>,
    shutdown: watch::Receiver<bool>,
    shared: Arc<Shared>,
    event: WebhookEvent,
}

impl Delivery {
    async fn run(mut self, previous: Option<oneshot::Receiver<()>>, done: oneshot::Sender<()>) {
        if let Some(previous) = previous {
            // An error only means the previous task ended without signalling (shutdown).
            let _ = previous.await;
        }
        let webhook = build_webhook(
            self.shared.webhook_secret.expose(),
            self.event.topic,
            &self.event.delivery_id,
            &self.event.order,
        );
        let attempts = self.retry_delays.len() + 1;
        for attempt in 0..attempts {
            if *self.shutdown.borrow() {
                return;
            }
            let error = self.attempt(&webhook).await;
            let delivered = error.is_none();
            self.shared
                .lock_state()
                .record_delivery_attempt(&self.event.delivery_id, error);
            if delivered {
                let _ = done.send(());
                return;
            }
            if let Some(delay) = self.retry_delays.get(attempt).copied() {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = self.shutdown.changed() => return,
                }
            }
        }
        tracing::debug!(
            delivery_id = %self.event.delivery_id,
            order_id = %self.event.order.id,
            "sim webhook given up"
        );
        self.shared
            .lock_state()
            .record_delivery_given_up(&self.event.delivery_id);
        let _ = done.send(());
    }

    /// One POST; `None` when the target acknowledged it with a 2xx.
    async fn attempt(&self, webhook: &SimWebhook) -> Option<String> {
        let mut request = self.client.post(&self.event.target);
        for (name, value) in &webhook.headers {
            request = request.header(name, value);
        }
        match request.body(webhook.body.clone()).send().await {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("status {}", response.status().as_u16())),
            Err(error) => Some(error.to_string()),
        }
    }
}
