//! Shadow mode end to end, on both set-ups: a sim channel with `mode = "shadow"` is read but
//! never written while orders flow on every channel; its report shows exactly the listings
//! whose sim quantity differs from the policy's; the go-live dry run lists exactly the writes
//! the switch then makes, and the switch converges it. On two replicas, a switch accepted by
//! the follower is made by the leader.

use crate::operators::omnistock_cli;
use crate::sync::skus;
use crate::sync_world::{
    both_setups, listing_of, metric_value, wait_until, Setup, World, WorldPlan, ADMIN_TOKEN,
};
use omnistock::settings::ChannelMode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const SHADOW: &str = "sim-b";

both_setups!(a_shadow_channel_is_read_never_written_and_goes_live_as_planned);

/// Three sims; `sim-b` in shadow mode, read in full every second.
fn plan() -> WorldPlan {
    WorldPlan::default().channel(SHADOW, |plan| {
        plan.mode = ChannelMode::Shadow;
        plan.reconcile_interval = Some(Duration::from_secs(1));
    })
}

/// The listings whose sim shows another quantity than the ledger's (the default policy shows
/// what is available), with (what the sim shows, what the policy says).
async fn sim_differences(world: &World, channel: &str) -> BTreeMap<String, (Option<i64>, i64)> {
    let sim = world.sim(channel);
    let mut differing = BTreeMap::new();
    for sku in &world.skus {
        let listing = listing_of(sku);
        let shown = sim.shown_quantity(&listing);
        let policy = world.app.ledger.available(sku).await.unwrap();
        if shown != Some(policy) {
            differing.insert(listing, (shown, policy));
        }
    }
    differing
}

/// The report's differing listings, with (shown, would set).
fn reported_differences(report: &Value) -> BTreeMap<String, (Option<i64>, i64)> {
    report["listings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|listing| !listing["differs_since"].is_null())
        .map(|listing| {
            (
                listing["listing_id"].as_str().unwrap().to_string(),
                (
                    listing["shown"].as_i64(),
                    listing["would_set"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

async fn shadow_report(world: &World) -> Value {
    let (status, report) = world
        .app
        .admin_get(ADMIN_TOKEN, &format!("/admin/channels/{SHADOW}/shadow"))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

async fn channel_status(world: &World, channel: &str) -> Value {
    let (status, channels) = world.app.admin_get(ADMIN_TOKEN, "/admin/channels").await;
    assert_eq!(status, StatusCode::OK, "{channels}");
    channels
        .as_array()
        .unwrap()
        .iter()
        .find(|status| status["id"] == channel)
        .cloned()
        .unwrap()
}

/// A go-live answer's writes: listing → (shown, to set).
fn planned_writes(answer: &Value) -> BTreeMap<String, (Option<i64>, i64)> {
    answer["writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|write| {
            (
                write["listing_id"].as_str().unwrap().to_string(),
                (write["shown"].as_i64(), write["to_set"].as_i64().unwrap()),
            )
        })
        .collect()
}

/// Every page of the shadow report asked with `query` (`limit` included), following `next` to
/// the end: the listings in the order the pages gave them, and the pages.
async fn report_pages(world: &World, query: &str) -> (Vec<Value>, Vec<Value>) {
    let mut listings = Vec::new();
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(after) => format!("/admin/channels/{SHADOW}/shadow?{query}&after={after}"),
            None => format!("/admin/channels/{SHADOW}/shadow?{query}"),
        };
        let (status, page) = world.app.admin_get(ADMIN_TOKEN, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        listings.extend(page["listings"].as_array().unwrap().iter().cloned());
        after = page["next"].as_str().map(str::to_string);
        pages.push(page);
        if after.is_none() {
            return (listings, pages);
        }
        assert!(pages.len() < 100, "the report's pages do not end");
    }
}

/// Every page of the go-live dry run of `limit` writes a page, following `next` to the end:
/// the writes in the order the pages gave them, and how many pages.
async fn dry_run_pages(world: &World, limit: usize) -> (Vec<Value>, usize) {
    let mut writes = Vec::new();
    let mut pages = 0;
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/admin/channels/{SHADOW}/go-live?limit={limit}");
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let (status, page) = world.app.admin_post(ADMIN_TOKEN, &path, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["dry_run"], true);
        let on_page = page["writes"].as_array().unwrap();
        assert!(on_page.len() <= limit, "{page}");
        writes.extend(on_page.iter().cloned());
        pages += 1;
        after = page["next"].as_str().map(str::to_string);
        if after.is_none() {
            return (writes, pages);
        }
        assert!(pages < 100, "the dry run's pages do not end");
    }
}

/// The field a 400 answer names.
async fn refused_field(world: &World, post: bool, path: &str) -> String {
    let (status, answer) = if post {
        world.app.admin_post(ADMIN_TOKEN, path, json!({})).await
    } else {
        world.app.admin_get(ADMIN_TOKEN, path).await
    };
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
    answer["field"].as_str().unwrap_or_default().to_string()
}

fn written_listings(world: &World, channel: &str) -> BTreeSet<String> {
    world
        .sim(channel)
        .stock_log()
        .into_iter()
        .flat_map(|request| request.listing_ids)
        .collect()
}

async fn a_shadow_channel_is_read_never_written_and_goes_live_as_planned(setup: Setup) {
    let mut world = World::start(setup, plan()).await;
    let skus = skus(8);
    world.add_catalog(&skus, 10).await;
    // The old system shows other quantities of three listings on the shadow channel.
    let shadow_sim = world.sim(SHADOW);
    for (sku, quantity) in [(&skus[0], 3), (&skus[1], 25), (&skus[2], 0)] {
        shadow_sim
            .create_listing(Some(&listing_of(sku)), sku, quantity)
            .unwrap();
    }
    // Orders on every channel, the shadow one included (one on a listing that differs).
    world.order("sim-a", &skus[3], 2);
    world.order(SHADOW, &skus[4], 1);
    world.order(SHADOW, &skus[0], 1);
    world.order("sim-c", &skus[5], 3);
    world.wait_available(&skus[3], 8).await;
    world.wait_available(&skus[4], 9).await;
    world.wait_available(&skus[0], 9).await;
    world.wait_available(&skus[5], 7).await;
    // The live channels follow the ledger, the shadow one's own orders included.
    for live in ["sim-a", "sim-c"] {
        let world = &world;
        wait_until(&format!("{live} follows the ledger"), || async move {
            sim_differences(world, live).await.is_empty()
        })
        .await;
    }

    // The report shows exactly the listings whose sim quantity differs from the policy's.
    let expected = sim_differences(&world, SHADOW).await;
    assert_eq!(
        expected.keys().cloned().collect::<BTreeSet<_>>(),
        [&skus[0], &skus[1], &skus[2], &skus[3], &skus[5]]
            .into_iter()
            .map(|sku| listing_of(sku))
            .collect(),
        "the old system never set the other channels' sales"
    );
    {
        let world = &world;
        let expected = &expected;
        wait_until(
            "the shadow report shows the sim's differences",
            || async move { reported_differences(&shadow_report(world).await) == *expected },
        )
        .await;
    }
    let report = shadow_report(&world).await;
    assert_eq!(report["mode"], "shadow");
    assert_eq!(report["listings"].as_array().unwrap().len(), skus.len());
    assert_eq!(report["summary"]["differing"], expected.len() as u64);
    assert_eq!(
        report["summary"]["in_agreement"],
        (skus.len() - expected.len()) as u64
    );
    // The largest difference first: SKU-02 shows 25 where 10 would be set.
    assert_eq!(
        report["summary"]["largest_differences"][0]["listing_id"],
        listing_of(&skus[1])
    );
    let (status, differing_only) = world
        .app
        .admin_get(
            ADMIN_TOKEN,
            &format!("/admin/channels/{SHADOW}/shadow?differing=true"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        differing_only["listings"].as_array().unwrap().len(),
        expected.len()
    );
    // Paged by three: every listing exactly once, by listing id, the summary on every page
    // the whole channel's.
    let (paged, pages) = report_pages(&world, "limit=3").await;
    assert_eq!(pages.len(), 3, "8 listings by 3");
    let ids: Vec<&str> = paged
        .iter()
        .map(|listing| listing["listing_id"].as_str().unwrap())
        .collect();
    let mut in_order = ids.clone();
    in_order.sort_unstable();
    in_order.dedup();
    assert_eq!(ids, in_order, "in order, none twice");
    let all: Vec<&str> = report["listings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|listing| listing["listing_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, all);
    for page in &pages {
        assert_eq!(page["summary"]["differing"], expected.len() as u64);
        assert_eq!(
            page["summary"]["in_agreement"],
            (skus.len() - expected.len()) as u64
        );
    }
    assert!(report["next"].is_null(), "one page by default");
    let (differing_paged, _) = report_pages(&world, "differing=true&limit=2").await;
    assert_eq!(
        differing_paged
            .iter()
            .map(|listing| listing["listing_id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        expected.keys().cloned().collect::<Vec<_>>()
    );
    // A bad page is refused, naming what is wrong.
    let report_path = format!("/admin/channels/{SHADOW}/shadow");
    let go_live_path = format!("/admin/channels/{SHADOW}/go-live");
    for (post, query, field) in [
        (false, "limit=0", "limit"),
        (false, "limit=10001", "limit"),
        (false, "limit=many", "limit"),
        (false, "after=", "after"),
        (true, "limit=0", "limit"),
        (true, "after=not-a-cursor", "after"),
    ] {
        let path = if post { &go_live_path } else { &report_path };
        assert_eq!(
            refused_field(&world, post, &format!("{path}?{query}")).await,
            field,
            "{query}"
        );
    }

    let status = channel_status(&world, SHADOW).await;
    assert_eq!(status["mode"], "shadow", "{status}");
    assert_eq!(status["shadow"]["differing"], expected.len() as u64);
    assert_eq!(channel_status(&world, "sim-a").await["mode"], "live");
    {
        let world = &world;
        let differing = expected.len() as f64;
        wait_until("the shadow metrics", || async move {
            let text = world.metrics().await;
            metric_value(&text, "omnistock_channel_shadow{channel=\"sim-b\"}") == 1.0
                && metric_value(
                    &text,
                    "omnistock_shadow_listings{channel=\"sim-b\",state=\"differ\"}",
                ) == differing
                && metric_value(
                    &text,
                    "omnistock_shadow_largest_difference{channel=\"sim-b\"}",
                ) == 15.0
        })
        .await;
    }

    // A resync asked of the shadow channel reads it too, and writes nothing.
    let (status, job) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            "/admin/resync",
            json!({ "channel": SHADOW, "mode": "push" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    crate::operators::wait_job_ended(&world.app, job["id"].as_str().unwrap()).await;
    assert!(
        world.sim(SHADOW).stock_log().is_empty(),
        "the shadow channel received stock writes: {:?}",
        world.sim(SHADOW).stock_log()
    );

    // The CLI: the report as CSV (following pages of three), the channel table, the dry run.
    let (ok, csv, stderr) = omnistock_cli(
        &world,
        &["shadow", SHADOW, "--format", "csv", "--page-size", "3"],
    )
    .await;
    assert!(ok, "{csv}{stderr}");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), skus.len() + 1, "{csv}");
    assert!(rows[0].starts_with("listing_id,sku,would_set,shown,difference"));
    let largest = format!("{},{},10,25,-15,", listing_of(&skus[1]), skus[1]);
    assert!(rows.iter().any(|row| row.starts_with(&largest)), "{csv}");
    let csv_ids: Vec<&str> = rows[1..]
        .iter()
        .map(|row| row.split(',').next().unwrap())
        .collect();
    assert_eq!(csv_ids, all, "every listing once, in order");
    let (ok, table, stderr) = omnistock_cli(&world, &["channels"]).await;
    assert!(ok, "{table}{stderr}");
    assert!(table.contains("shadow"), "{table}");
    let (ok, text, stderr) =
        omnistock_cli(&world, &["channel", "go-live", SHADOW, "--page-size", "2"]).await;
    assert!(ok, "{text}{stderr}");
    assert!(text.starts_with("dry run"), "{text}");
    for listing in expected.keys() {
        assert_eq!(
            text.matches(&format!("{listing} ")).count(),
            1,
            "{listing} not once: {text}"
        );
    }
    assert!(
        text.ends_with(&format!("dry run: {} write(s) in all\n", expected.len())),
        "{text}"
    );
    assert_eq!(channel_status(&world, SHADOW).await["mode"], "shadow");

    // The dry run lists exactly the differing listings, with what they show and will be set to.
    let (status, dry_run) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/channels/{SHADOW}/go-live"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry_run}");
    assert_eq!(dry_run["dry_run"], true);
    assert!(dry_run["next"].is_null(), "one page by default");
    let planned = planned_writes(&dry_run);
    assert_eq!(planned, expected);
    // Paged by two: the same writes, each once, in the same order.
    let (paged_writes, pages) = dry_run_pages(&world, 2).await;
    assert_eq!(pages, 3, "5 writes by 2");
    let listing_ids = |writes: &[Value]| -> Vec<String> {
        writes
            .iter()
            .map(|write| write["listing_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        listing_ids(&paged_writes),
        listing_ids(dry_run["writes"].as_array().unwrap())
    );
    assert_eq!(planned_writes(&json!({ "writes": paged_writes })), planned);
    assert!(world.sim(SHADOW).stock_log().is_empty());
    assert_eq!(channel_status(&world, SHADOW).await["mode"], "shadow");

    // The switch: the first sweep makes exactly those writes and the channel converges.
    let (status, switched) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/channels/{SHADOW}/go-live"),
            json!({ "dry_run": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{switched}");
    assert_eq!(switched["mode"], "live");
    assert!(!switched["went_live_at"].is_null());
    // The same writes (their read times move on with every read of the channel).
    assert_eq!(planned_writes(&switched), planned);
    assert_eq!(switched["write_count"], planned.len() as u64);
    world.wait_converged().await;
    assert_eq!(
        written_listings(&world, SHADOW),
        planned.keys().cloned().collect::<BTreeSet<_>>()
    );
    assert_eq!(channel_status(&world, SHADOW).await["mode"], "live");
    // Going live twice is refused; the shadow report of a live channel is empty.
    let (status, _) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/channels/{SHADOW}/go-live"),
            json!({ "dry_run": false }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let report = shadow_report(&world).await;
    assert_eq!(report["mode"], "live");
    assert!(report["listings"].as_array().unwrap().is_empty());

    // Live now, it follows the ledger like the others.
    world.order("sim-a", &skus[6], 4);
    world.wait_available(&skus[6], 6).await;
    world.wait_converged().await;
    world.stop().await;
}

/// Two replicas on PostgreSQL and RabbitMQ: the switch accepted by the follower is stored in
/// the ledger, the leader's pusher follows it and makes the planned writes, and both replicas
/// report the channel live.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switch_accepted_by_the_follower_is_made_by_the_leader() {
    let mut world = World::start(Setup::Production, plan()).await;
    {
        let world = &world;
        wait_until("the first replica leads", || async move {
            metric_value(&world.metrics().await, "omnistock_sync_leader") == 1.0
        })
        .await;
    }
    let follower = world.spawn_replica().await;
    let skus = skus(4);
    world.add_catalog(&skus, 10).await;
    let differing = listing_of(&skus[0]);
    world
        .sim(SHADOW)
        .create_listing(Some(&differing), &skus[0], 3)
        .unwrap();
    let follower_ref = &follower;
    wait_until("the follower reports the difference", || async move {
        let (_, report) = follower_ref
            .admin_get(ADMIN_TOKEN, &format!("/admin/channels/{SHADOW}/shadow"))
            .await;
        report["summary"]["differing"] == 1 && report["summary"]["in_agreement"] == 3
    })
    .await;
    assert!(world.sim(SHADOW).stock_log().is_empty());

    let (status, switched) = follower
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/channels/{SHADOW}/go-live"),
            json!({ "dry_run": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{switched}");
    assert_eq!(
        switched["writes"].as_array().unwrap().len(),
        1,
        "{switched}"
    );
    assert_eq!(switched["writes"][0]["listing_id"], differing.as_str());
    assert_eq!(switched["writes"][0]["shown"], 3);
    assert_eq!(switched["writes"][0]["to_set"], 10);
    world.wait_converged().await;
    assert_eq!(
        written_listings(&world, SHADOW),
        BTreeSet::from([differing.clone()])
    );
    for replica in [&world.app, &follower] {
        let (_, channels) = replica.admin_get(ADMIN_TOKEN, "/admin/channels").await;
        let status = channels
            .as_array()
            .unwrap()
            .iter()
            .find(|status| status["id"] == SHADOW)
            .cloned()
            .unwrap();
        assert_eq!(status["mode"], "live", "{status}");
    }
    follower.stop().await.unwrap();
    world.stop().await;
}

/// Without a full read due (the default hour), what omnistock would push is read as it changes:
/// the report follows orders on the other channels listing by listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shadow_channel_is_read_on_every_change_omnistock_would_have_pushed() {
    let plan = WorldPlan::default().channel(SHADOW, |plan| plan.mode = ChannelMode::Shadow);
    let mut world = World::start(Setup::Embedded, plan).await;
    let skus = skus(3);
    world.add_catalog(&skus, 10).await;
    {
        let world = &world;
        wait_until("every listing read once", || async move {
            let report = shadow_report(world).await;
            report["summary"]["in_agreement"] == 3
        })
        .await;
    }
    // Sales elsewhere the old system does not pass on: each one is read and reported at once.
    world.order("sim-a", &skus[0], 2);
    world.order("sim-c", &skus[2], 5);
    let expected = BTreeMap::from([
        (listing_of(&skus[0]), (Some(10), 8)),
        (listing_of(&skus[2]), (Some(10), 5)),
    ]);
    {
        let world = &world;
        let expected = &expected;
        wait_until(
            "the changed listings reported as differing",
            || async move { reported_differences(&shadow_report(world).await) == *expected },
        )
        .await;
    }
    assert!(world.sim(SHADOW).stock_log().is_empty());
    world.stop().await;
}
