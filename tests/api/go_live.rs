//! Go-live and refused orders end to end, on both set-ups: a first poll of a store with a year
//! of history books none of it; an order the ledger can never book is quarantined (poll and
//! webhook alike), the channel's polling goes on, and an operator retries or discards it from
//! the admin API and the CLI.

use crate::sync::skus;
use crate::sync_world::{
    both_setups, listing_of, wait_until, Setup, World, WorldPlan, ADMIN_TOKEN,
};
use chrono::Utc;
use omnistock_connector::{OrderEvent, OrderLine, OrderStatus};
use omnistock_sim::{DeliveryOutcome, NewOrderLine};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

both_setups!(
    a_first_poll_books_no_history_from_before_the_cut_over,
    a_poisoned_order_is_quarantined_and_the_channel_goes_on,
);

const POLL: Duration = Duration::from_millis(200);

async fn a_first_poll_books_no_history_from_before_the_cut_over(setup: Setup) {
    let plan = WorldPlan::default().channel("sim-b", |plan| plan.poll_interval = Some(POLL));
    let mut world = World::start(setup, plan).await;
    world.add_catalog(&skus(1), 10).await;
    let sim = world.sim("sim-b");
    // A store with a year of orders, shipped then, and one left open since.
    sim.set_webhook_target(None);
    sim.set_clock(Some(Utc::now() - chrono::Duration::days(365)));
    let mut history = Vec::new();
    for quantity in [3, 2, 1] {
        let id = world.order("sim-b", "SKU-01", quantity);
        sim.fulfil_order(&id).unwrap();
        history.push(id);
    }
    sim.set_clock(None);
    // Sold after go-live: booked as ever.
    let new = world.order("sim-b", "SKU-01", 1);
    sim.fulfil_order(&new).unwrap();
    let ledger = world.app.ledger.clone();
    wait_until("the new order booked shipped", || {
        let ledger = ledger.clone();
        let new = new.clone();
        async move {
            ledger
                .order("sim-b", &new)
                .await
                .ok()
                .flatten()
                .is_some_and(|order| order.status == OrderStatus::Fulfilled)
        }
    })
    .await;
    // A few more polls: the history stays unread.
    tokio::time::sleep(POLL * 3).await;
    for id in &history {
        assert!(ledger.order("sim-b", id).await.unwrap().is_none(), "{id}");
    }
    let balance = ledger.balance("SKU-01", "default").await.unwrap();
    assert_eq!((balance.on_hand, balance.reserved), (9, 0));
    let (status, channels) = world.app.admin_get(ADMIN_TOKEN, "/admin/channels").await;
    assert_eq!(status, StatusCode::OK);
    let sim_b = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|channel| channel["id"] == "sim-b")
        .unwrap();
    assert!(sim_b["cut_over"].is_string(), "{sim_b}");
    world.stop().await;
}

async fn quarantine(world: &World, query: &str) -> Vec<Value> {
    let (status, body) = world
        .app
        .admin_get(ADMIN_TOKEN, &format!("/admin/quarantine{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

async fn wait_quarantined(world: &World, channel: &str) -> Value {
    let query = format!("?channel={channel}");
    wait_until(&format!("an order of {channel} quarantined"), || async {
        !quarantine(world, &query).await.is_empty()
    })
    .await;
    quarantine(world, &query).await.remove(0)
}

async fn omnistock_cli(world: &World, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_omnistock"))
        .args(args)
        .args(["--url", &world.app.url(""), "--token", ADMIN_TOKEN])
        .env_remove("OMNISTOCK_CONFIG")
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn a_poisoned_order_is_quarantined_and_the_channel_goes_on(setup: Setup) {
    let plan = WorldPlan::default().channel("sim-b", |plan| plan.poll_interval = Some(POLL));
    let mut world = World::start(setup, plan).await;
    world.add_catalog(&skus(1), 10).await;
    // A listing id far beyond what the ledger can index: every order of it is refused.
    let poison = "P".repeat(2_000);
    for channel in ["sim-a", "sim-b"] {
        world
            .sim(channel)
            .create_listing(Some(&poison), "SKU-01", 5)
            .unwrap();
    }
    let order_poison = |channel: &str| {
        world
            .sim(channel)
            .place_order(&[NewOrderLine {
                listing_id: poison.clone(),
                quantity: 1,
                unit_price_minor: None,
            }])
            .unwrap()
            .id
    };

    // Polled: the poisoned order among good ones.
    world.sim("sim-b").set_webhook_target(None);
    world.order("sim-b", "SKU-01", 1);
    order_poison("sim-b");
    world.order("sim-b", "SKU-01", 2);
    world.wait_available("SKU-01", 7).await;
    let polled = wait_quarantined(&world, "sim-b").await;
    assert!(
        polled["error"].as_str().unwrap().contains("bytes long"),
        "{polled}"
    );
    // The cursor moved past it: an order placed later is polled too.
    world.order("sim-b", "SKU-01", 1);
    world.wait_available("SKU-01", 6).await;
    assert!(world
        .app
        .ledger
        .load_cursor("sim-b")
        .await
        .unwrap()
        .is_some());

    // By webhook: answered 200 (redelivering it would help nobody), quarantined.
    let webhook_order = order_poison("sim-a");
    let hooked = wait_quarantined(&world, "sim-a").await;
    assert_eq!(hooked["order"], webhook_order);
    let sim_a = world.sim("sim-a");
    wait_until("the webhook delivered", || async {
        sim_a.webhook_deliveries().iter().any(|delivery| {
            delivery.order_id == webhook_order && delivery.outcome == DeliveryOutcome::Delivered
        })
    })
    .await;
    assert_eq!(quarantine(&world, "").await.len(), 2);

    // Retried unchanged: refused again, still listed, counted.
    let id = polled["id"].as_i64().unwrap();
    let (status, body) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/quarantine/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["status"], "refused");
    assert_eq!(body["quarantined"]["attempts"], 2);

    // Once what refused it is fixed (here: an order quarantined by a refusal since fixed), a
    // retry books it and it leaves the quarantine.
    let fixed = OrderEvent {
        external_order_id: "fixed-1".into(),
        delivery_id: None,
        status: OrderStatus::Open,
        updated_at: Utc::now(),
        created_at: Some(Utc::now()),
        currency: None,
        total_minor: None,
        location: None,
        lines: vec![OrderLine {
            line_id: "1".into(),
            listing_id: Some(listing_of("SKU-01")),
            sku: None,
            quantity: 2,
            cancelled_quantity: 0,
            fulfilled_quantity: 0,
            returned_quantity: 0,
            unit_price_minor: None,
        }],
    };
    let fixed_id = world
        .app
        .ledger
        .quarantine()
        .add("sim-b", &fixed, "refused by an older version")
        .await
        .unwrap();
    let (status, body) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/quarantine/{fixed_id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "booked");
    assert_eq!(body["result"], "applied");
    world.wait_available("SKU-01", 4).await;

    // The CLI: list, retry (refused again: an error naming it), discard.
    let (ok, stdout, stderr) = omnistock_cli(&world, &["quarantine", "list"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("ID"), "{stdout}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    let (ok, _, stderr) = omnistock_cli(&world, &["quarantine", "retry", &id.to_string()]).await;
    assert!(!ok);
    assert!(
        stderr.contains("422") && stderr.contains("bytes long"),
        "{stderr}"
    );
    let (ok, stdout, stderr) =
        omnistock_cli(&world, &["quarantine", "discard", &id.to_string()]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("discarded"), "{stdout}");
    let (status, _) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/quarantine/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (ok, stdout, _) = omnistock_cli(&world, &["channels"]).await;
    assert!(ok);
    assert!(stdout.contains("QUARANTINED"), "{stdout}");
    world.stop().await;
}
