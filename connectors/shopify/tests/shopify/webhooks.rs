use crate::harness::{connector, request, start_fake};
use omnistock_connector::{Connector, WebhookError};
use omnistock_shopify::webhook::{
    HEADER_EVENT_ID, HEADER_HMAC, HEADER_SHOP_DOMAIN, HEADER_TRIGGERED_AT, HEADER_WEBHOOK_ID,
};

#[tokio::test]
async fn signatures_are_checked_over_the_raw_body() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("HOOK", 3);
    let order = fake.place_order(&[(listing, 1)]).unwrap();
    let secret = fake.options().client_secret.clone();
    let good = request(&fake.webhook(&order, "orders/create", &secret).unwrap());
    assert!(connector.parse_webhook(&good.request()).is_ok());

    let mut tampered = good.clone();
    let position = tampered.body.len() - 2;
    tampered.body[position] = b' ';
    assert!(matches!(
        connector.parse_webhook(&tampered.request()),
        Err(WebhookError::BadSignature(_))
    ));

    let wrong = request(
        &fake
            .webhook(&order, "orders/create", "another-app")
            .unwrap(),
    );
    assert!(matches!(
        connector.parse_webhook(&wrong.request()),
        Err(WebhookError::BadSignature(_))
    ));

    let mut unsigned = good.clone();
    unsigned.headers.remove(HEADER_HMAC);
    assert!(matches!(
        connector.parse_webhook(&unsigned.request()),
        Err(WebhookError::BadSignature(_))
    ));

    let mut garbled = good.clone();
    garbled
        .headers
        .insert(HEADER_HMAC.into(), "%%% not base64".into());
    assert!(matches!(
        connector.parse_webhook(&garbled.request()),
        Err(WebhookError::BadSignature(_))
    ));
}

#[tokio::test]
async fn deliveries_carry_their_id_topic_and_shop() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("DELIVERY", 3);
    let order = fake.place_order(&[(listing, 1)]).unwrap();
    let secret = fake.options().client_secret.clone();
    let delivery = fake.webhook(&order, "orders/paid", &secret).unwrap();

    let events = connector
        .parse_webhook(&request(&delivery).request())
        .unwrap();
    assert_eq!(
        events[0].delivery_id.as_deref(),
        delivery.headers.get(HEADER_WEBHOOK_ID).map(String::as_str)
    );
    let mut no_webhook_id = request(&delivery);
    no_webhook_id.headers.remove(HEADER_WEBHOOK_ID);
    assert!(matches!(
        connector.parse_webhook(&no_webhook_id.request()),
        Err(WebhookError::Malformed(_))
    ));

    let refund = fake.signed("refunds/create", b"{\"id\":1}".to_vec(), &secret);
    assert!(matches!(
        connector.parse_webhook(&request(&refund).request()),
        Err(WebhookError::IgnoredTopic(topic)) if topic == "refunds/create"
    ));

    let mut other_shop = fake.webhook(&order, "orders/updated", &secret).unwrap();
    other_shop.headers.insert(
        HEADER_SHOP_DOMAIN.into(),
        "someone-else.myshopify.com".into(),
    );
    assert!(matches!(
        connector.parse_webhook(&request(&other_shop).request()),
        Err(WebhookError::Malformed(_))
    ));
}

#[tokio::test]
async fn an_older_delivery_carries_the_older_updated_at() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("ORDERING", 3);
    let order = fake.place_order(&[(listing, 2)]).unwrap();
    let secret = fake.options().client_secret.clone();
    let created = fake.webhook(&order, "orders/create", &secret).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    fake.cancel_order(&order).unwrap();
    let cancelled = fake.webhook(&order, "orders/cancelled", &secret).unwrap();
    // Delivered out of order: the ledger keeps the newer snapshot because its updated_at is
    // later, whatever order the deliveries arrive in.
    let newer = connector
        .parse_webhook(&request(&cancelled).request())
        .unwrap();
    let older = connector
        .parse_webhook(&request(&created).request())
        .unwrap();
    assert!(older[0].updated_at < newer[0].updated_at);
}

#[tokio::test]
async fn a_payload_without_updated_at_is_ordered_by_its_trigger_time() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("TRIGGERED", 3);
    let order = fake.place_order(&[(listing, 1)]).unwrap();
    let mut payload = fake.order_payload(&order).unwrap();
    payload.as_object_mut().unwrap().remove("updated_at");
    let secret = fake.options().client_secret.clone();
    let delivery = fake.signed(
        "orders/updated",
        serde_json::to_vec(&payload).unwrap(),
        &secret,
    );
    let events = connector
        .parse_webhook(&request(&delivery).request())
        .unwrap();
    let triggered = chrono::DateTime::parse_from_rfc3339(
        &delivery.headers[omnistock_shopify::webhook::HEADER_TRIGGERED_AT],
    )
    .unwrap();
    assert_eq!(events[0].updated_at, triggered);

    let mut untimed = request(&delivery);
    untimed
        .headers
        .remove(omnistock_shopify::webhook::HEADER_TRIGGERED_AT);
    assert!(matches!(
        connector.parse_webhook(&untimed.request()),
        Err(WebhookError::Malformed(_))
    ));
}

#[tokio::test]
async fn the_fake_delivers_signed_webhooks_to_a_subscription() {
    use axum::routing::post;
    use std::sync::{Arc, Mutex};
    type Received = Arc<Mutex<Vec<(std::collections::BTreeMap<String, String>, Vec<u8>)>>>;
    let received: Received = Arc::default();
    let sink = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/webhooks/shopify",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = Arc::clone(&sink);
                async move {
                    let headers = headers
                        .iter()
                        .map(|(name, value)| {
                            (
                                name.as_str().to_string(),
                                value.to_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect();
                    sink.lock().unwrap().push((headers, body.to_vec()));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let fake = start_fake().await;
    let connector = connector(&fake);
    fake.subscribe(&format!("http://{address}/webhooks/shopify"));
    let listing = fake.create_listing("SUBSCRIBED", 3);
    let order = fake.place_order(&[(listing, 1)]).unwrap();
    for _ in 0..100 {
        if !received.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (headers, body) = received.lock().unwrap()[0].clone();
    assert_eq!(headers["x-shopify-topic"], "orders/create");
    let delivery = omnistock_connector::conformance::SignedWebhook { headers, body };
    let events = connector.parse_webhook(&delivery.request()).unwrap();
    assert_eq!(events[0].external_order_id, order);
    assert_eq!(fake.sent_webhooks()[0].outcome, Ok(200));
}

/// Shopify gives every topic one merchant action triggers the same `X-Shopify-Event-Id`: a
/// cancel's `orders/updated` and `orders/cancelled` must reach the ledger as two deliveries,
/// while a retry of one of them (same `X-Shopify-Webhook-Id`) is the same delivery.
#[tokio::test]
async fn deliveries_of_one_action_are_told_apart_by_webhook_id() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("ONE-ACTION", 3);
    let order = fake.place_order(&[(listing, 2)]).unwrap();
    fake.cancel_order(&order).unwrap();
    let secret = fake.options().client_secret.clone();
    let deliveries = fake
        .action_webhooks(&order, &["orders/updated", "orders/cancelled"], &secret)
        .unwrap();
    assert_eq!(
        deliveries[0].headers[HEADER_EVENT_ID],
        deliveries[1].headers[HEADER_EVENT_ID]
    );
    let ids: Vec<Option<String>> = deliveries
        .iter()
        .map(|delivery| {
            connector
                .parse_webhook(&request(delivery).request())
                .unwrap()[0]
                .delivery_id
                .clone()
        })
        .collect();
    assert!(ids[0].is_some() && ids[1].is_some());
    assert_ne!(ids[0], ids[1], "one id per delivery, not per event");
    let retry = deliveries[1].clone();
    let retried = connector.parse_webhook(&request(&retry).request()).unwrap();
    assert_eq!(
        retried[0].delivery_id, ids[1],
        "a retry is the same delivery"
    );
}

/// The HMAC covers the body only, with a secret shared by every store of the app: the shop
/// header is required and must name this channel's shop.
#[tokio::test]
async fn a_delivery_must_name_this_shop() {
    let fake = start_fake().await;
    let connector = connector(&fake);
    let listing = fake.create_listing("SHOP-ID", 3);
    let order = fake.place_order(&[(listing, 1)]).unwrap();
    let secret = fake.options().client_secret.clone();
    let delivery = fake.webhook(&order, "orders/create", &secret).unwrap();
    let mut anonymous = request(&delivery);
    anonymous.headers.remove(HEADER_SHOP_DOMAIN);
    assert!(matches!(
        connector.parse_webhook(&anonymous.request()),
        Err(WebhookError::Malformed(reason)) if reason.contains(HEADER_SHOP_DOMAIN)
    ));
    let mut upper = request(&delivery);
    upper.headers.insert(
        HEADER_SHOP_DOMAIN.into(),
        fake.options().shop_domain.to_ascii_uppercase(),
    );
    assert!(connector.parse_webhook(&upper.request()).is_ok());
}

/// A delivery captured and replayed later is refused: its trigger time, or the `updated_at`
/// of the order it carries (signed, unlike the header), is older than the window.
#[tokio::test]
async fn a_delivery_older_than_the_window_is_refused() {
    let fake = start_fake().await;
    let mut config = fake.channel_config("2025-01");
    config.webhook_max_age_seconds = Some(2);
    let connector = omnistock_shopify::ShopifyConnector::new(config).unwrap();
    let listing = fake.create_listing("REPLAY", 3);
    let order = fake.place_order(&[(listing, 1)]).unwrap();
    let secret = fake.options().client_secret.clone();
    let delivery = fake.webhook(&order, "orders/create", &secret).unwrap();
    assert!(connector
        .parse_webhook(&request(&delivery).request())
        .is_ok());

    let mut old_header = request(&delivery);
    old_header.headers.insert(
        HEADER_TRIGGERED_AT.into(),
        (chrono::Utc::now() - chrono::Duration::seconds(60)).to_rfc3339(),
    );
    assert!(matches!(
        connector.parse_webhook(&old_header.request()),
        Err(WebhookError::Malformed(reason)) if reason.contains("older than")
    ));
    let mut untimed = request(&delivery);
    untimed.headers.remove(HEADER_TRIGGERED_AT);
    assert!(matches!(
        connector.parse_webhook(&untimed.request()),
        Err(WebhookError::Malformed(_))
    ));

    // Replayed later with a fresh trigger time: the signed updated_at gives it away.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let mut replayed = request(&delivery);
    replayed
        .headers
        .insert(HEADER_TRIGGERED_AT.into(), chrono::Utc::now().to_rfc3339());
    assert!(matches!(
        connector.parse_webhook(&replayed.request()),
        Err(WebhookError::Malformed(reason)) if reason.contains("older than")
    ));
}
