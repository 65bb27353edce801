//! `GET /admin/items/{sku}/explain` and `omnistock explain`: why each channel shows what it
//! shows of an item, step by step, and why a difference is not pushed yet.

use crate::sync::skus;
use crate::sync_world::{listing_of, wait_until, Setup, World, WorldPlan, ADMIN_TOKEN};
use omnistock::policy::ListingPolicy;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn explain(world: &World, path: &str) -> (StatusCode, Value) {
    world.app.admin_get(ADMIN_TOKEN, path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_channel_shows_what_its_rules_make_of_the_stock_and_says_why_it_waits() {
    let mut world = World::start_with(Setup::Embedded, WorldPlan::default(), |settings| {
        let sim_b = settings
            .channels
            .iter_mut()
            .find(|channel| channel.id.to_string() == "sim-b")
            .unwrap();
        sim_b.stock_policy.safety_buffer = 2;
    })
    .await;
    world.add_catalog(&skus(1), 10).await;
    let ledger = &world.app.ledger;
    ledger.upsert_location("east", "East").await.unwrap();
    ledger
        .set_listing_policy(
            "sim-c",
            &listing_of("SKU-01"),
            &ListingPolicy {
                max_quantity: Some(4),
                ..ListingPolicy::default()
            },
        )
        .await
        .unwrap();
    world
        .app
        .ledger
        .receive(
            "SKU-01",
            "east",
            5,
            &omnistock::ledger::MovementMeta::new("east-5"),
        )
        .await
        .unwrap();
    // In step: each channel confirmed what the explanation says it should show (the sims show
    // a pushed quantity a moment before the ledger records its confirmation).
    wait_until("every listing is in step", || async {
        let (_, explained) = explain(&world, "/admin/items/SKU-01/explain").await;
        explained["channels"].as_array().is_some_and(|channels| {
            channels.len() == 3
                && channels
                    .iter()
                    .all(|channel| channel["listings"][0]["in_step"] == true)
        })
    })
    .await;
    for (id, shown) in [("sim-a", 15), ("sim-b", 13), ("sim-c", 4)] {
        assert_eq!(
            world.sim(id).shown_quantity(&listing_of("SKU-01")),
            Some(shown),
            "{id}"
        );
    }

    let (status, explained) = explain(&world, "/admin/items/SKU-01/explain").await;
    assert_eq!(status, StatusCode::OK, "{explained}");
    let channel = |id: &str| -> Value {
        explained["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|channel| channel["channel"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {explained}"))
    };
    for (id, shown) in [("sim-a", 15), ("sim-b", 13), ("sim-c", 4)] {
        let listing = &channel(id)["listings"][0];
        assert_eq!(listing["quantity"], shown, "{id}: {listing}");
        // The explanation is what the channel was sent and confirmed.
        assert_eq!(listing["last_confirmed_quantity"], shown, "{id}: {listing}");
        assert_eq!(listing["in_step"], true, "{id}: {listing}");
        assert_eq!(listing["not_pushed_because"], json!([]), "{id}: {listing}");
        let component = &listing["components"][0];
        assert_eq!(component["sku"], "SKU-01");
        assert_eq!(component["available"], 15, "{component}");
        assert_eq!(
            component["locations"].as_array().unwrap().len(),
            2,
            "{component}"
        );
    }
    let sim_b = &channel("sim-b")["listings"][0];
    assert_eq!(
        sim_b["rules"]["safety_buffer"],
        json!({"value": 2, "from": "channel"})
    );
    assert_eq!(sim_b["steps"][0]["after_safety_buffer"], 13, "{sim_b}");
    let sim_c = &channel("sim-c")["listings"][0];
    assert_eq!(
        sim_c["rules"]["max_quantity"],
        json!({"value": 4, "from": "listing"})
    );
    assert_eq!(sim_c["rules"]["safety_buffer"]["from"], "default");
    let last_step = sim_c["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last_step,
        json!({"rule": "maximum", "maximum": 4, "before": 15, "after": 4})
    );

    // Paused: a sale elsewhere changes what sim-a should show, and the explanation says why
    // sim-a still shows the old number.
    let (status, _) = world
        .app
        .admin_post(ADMIN_TOKEN, "/admin/channels/sim-a/pause", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    world.order("sim-b", "SKU-01", 3);
    world.wait_available("SKU-01", 12).await;
    let (_, explained) = explain(&world, "/admin/items/SKU-01/explain?channel=sim-a").await;
    assert_eq!(
        explained["channels"].as_array().unwrap().len(),
        1,
        "{explained}"
    );
    let sim_a = &explained["channels"][0];
    assert_eq!(sim_a["paused"], true);
    let listing = &sim_a["listings"][0];
    assert_eq!(listing["quantity"], 12, "{listing}");
    assert_eq!(listing["last_confirmed_quantity"], 15, "{listing}");
    assert_eq!(listing["in_step"], false);
    let reasons = listing["not_pushed_because"].to_string();
    assert!(reasons.contains("paused"), "{reasons}");

    // The CLI prints the same explanation for a person.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_omnistock"))
        .args(["explain", "SKU-01", "--channel", "sim-a"])
        .args(["--url", &world.app.url(""), "--token", ADMIN_TOKEN])
        .env_remove("OMNISTOCK_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("SKU-01 on sim-a (paused)"), "{text}");
    assert!(
        text.contains("should show 12, the channel confirmed 15"),
        "{text}"
    );
    assert!(
        text.contains("not pushed yet: the channel is paused"),
        "{text}"
    );

    let (status, _) = explain(&world, "/admin/items/NO-SUCH/explain").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = explain(&world, "/admin/items/SKU-01/explain?channel=nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    world.stop().await;
}
