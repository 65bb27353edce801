//! Operators' controls on both set-ups: reconcile finds and fixes drift made behind omnistock's
//! back, a paused channel receives nothing and catches up on resume, a permanently refused
//! update lands in dead letters and can be retried, resync jobs are tracked and refuse
//! overlaps, scheduled reconciliation runs, jobs survive a restart as `interrupted`, and the
//! OpenAPI document describes every admin route.

use crate::helpers::{spawn_app_with, test_settings, TestApp, TestDatabase};
use crate::sync::skus;
use crate::sync_world::ChannelPlan;
use crate::sync_world::{
    both_setups, listing_of, metric_value, sim_channels, start_sims, wait_until, Setup, World,
    WorldPlan, ADMIN_TOKEN, PATIENCE,
};
use omnistock::ledger::{ListingBinding, ListingComponent, StockCount};
use omnistock_connector::Secret;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

both_setups!(
    reconcile_finds_stock_changed_behind_our_back_and_puts_it_right,
    a_paused_channel_receives_nothing_and_catches_up_on_resume,
    a_permanently_refused_update_is_dead_lettered_and_can_be_retried,
    resync_jobs_push_everything_and_refuse_overlapping_scopes,
    a_channel_job_walks_a_large_catalog_a_page_at_a_time,
    scheduled_reconciliation_runs_on_its_interval,
    channel_status_reports_each_channel,
    every_admin_route_is_in_the_openapi_document,
    the_cli_drives_the_controls,
);

async fn admin_get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    app.admin_get(ADMIN_TOKEN, path).await
}

async fn admin_post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    app.admin_post(ADMIN_TOKEN, path, body).await
}

/// Starts a resync and waits until its job ended; returns the ended job.
async fn resync(app: &TestApp, request: Value) -> Value {
    let (status, job) = admin_post(app, "/admin/resync", request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    wait_job_ended(app, job["id"].as_str().unwrap()).await
}

pub(crate) async fn wait_job_ended(app: &TestApp, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, job) = admin_get(app, &format!("/admin/jobs/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job still active: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until there are `count` dead letters; returns them.
pub(crate) async fn wait_dead_letters(app: &TestApp, count: usize, what: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, letters) = admin_get(app, "/admin/dead-letters").await;
        if letters
            .as_array()
            .is_some_and(|letters| letters.len() == count)
        {
            return letters;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waiting for {what}: {letters}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every channel confirmed every listing's quantity (a channel can show the right
/// number before its push arrived, and that push would then undo a change made meanwhile).
async fn wait_settled(world: &World) {
    wait_settled_channels(world, &["sim-a", "sim-b", "sim-c"]).await;
}

/// [`wait_settled`] for some channels. (A polled channel's duplicate copy of an order makes it
/// forget what it confirmed for the order's listings, so it need not settle.)
async fn wait_settled_channels(world: &World, ids: &[&str]) {
    world.wait_converged().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, channels) = admin_get(&world.app, "/admin/channels").await;
        let settled = channels.as_array().is_some_and(|channels| {
            channels
                .iter()
                .filter(|channel| ids.iter().any(|id| channel["id"] == *id))
                .all(|channel| {
                    channel["push"]["listings_out_of_date"] == 0
                        && channel["push"]["backlog_skus"] == 0
                })
        });
        if settled {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not settled: {channels}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn channel_status(app: &TestApp, channel: &str) -> Value {
    let (status, channels) = admin_get(app, "/admin/channels").await;
    assert_eq!(status, StatusCode::OK, "{channels}");
    channels
        .as_array()
        .unwrap()
        .iter()
        .find(|status| status["id"] == channel)
        .cloned()
        .unwrap()
}

async fn reconcile_finds_stock_changed_behind_our_back_and_puts_it_right(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(3), 10).await;
    wait_settled(&world).await;
    // Someone edits the stock in the marketplace's back office.
    world
        .sim("sim-b")
        .create_listing(Some(&listing_of("SKU-02")), "SKU-02", 99)
        .unwrap();

    let job = resync(
        &world.app,
        json!({ "channel": "sim-b", "mode": "reconcile" }),
    )
    .await;

    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["mode"], "reconcile");
    assert_eq!(job["total"], 3, "{job}");
    assert_eq!(job["done"], 3, "{job}");
    assert_eq!(job["drifts"], 1, "{job}");
    assert_eq!(
        job["pushed"], 1,
        "only the drifting listing is pushed: {job}"
    );
    assert!(job["started_at"].is_string() && job["finished_at"].is_string());
    assert_eq!(
        world.sim("sim-b").shown_quantity(&listing_of("SKU-02")),
        Some(10)
    );
    world.wait_converged().await;
    let status = channel_status(&world.app, "sim-b").await;
    assert_eq!(status["reconciliation"]["drifts"], 1, "{status}");
    let metrics = world.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "omnistock_reconcile_drifts_total{channel=\"sim-b\"}"
        ),
        1.0
    );
    // A second reconcile finds nothing.
    let again = resync(
        &world.app,
        json!({ "channel": "sim-b", "mode": "reconcile" }),
    )
    .await;
    assert_eq!(again["drifts"], 0, "{again}");
    assert_eq!(again["pushed"], 0, "{again}");
    let (status, jobs) = admin_get(&world.app, "/admin/jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jobs[0]["id"], again["id"], "newest first: {jobs}");
    assert_eq!(jobs[1]["id"], job["id"], "{jobs}");
    world.stop().await;
}

async fn a_paused_channel_receives_nothing_and_catches_up_on_resume(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    // Settled: no push is in flight when the pause arrives (a flush under way finishes).
    wait_settled(&world).await;

    let (status, body) = admin_post(&world.app, "/admin/channels/sim-b/pause", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "id": "sim-b", "paused": true }));
    let requests_before = world.sim("sim-b").stock_log().len();

    // Three sales on sim-a and one on the paused channel itself: all are booked.
    for _ in 0..3 {
        world.order("sim-a", "SKU-01", 1);
    }
    world.order("sim-b", "SKU-01", 1);
    world.wait_available("SKU-01", 6).await;
    wait_until("sim-c shows 6", || async {
        world.sim("sim-c").shown_quantity(&listing_of("SKU-01")) == Some(6)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        world.sim("sim-b").stock_log().len(),
        requests_before,
        "a paused channel received a stock update"
    );
    let status = channel_status(&world.app, "sim-b").await;
    assert_eq!(status["paused"], true);
    // A count made a moment before the sales may be shown for a while (it is reused for ten
    // times as long as it took): the next one counts the listing the pause left behind.
    wait_until("sim-b counts a listing out of date", || async {
        let status = channel_status(&world.app, "sim-b").await;
        status["push"]["listings_out_of_date"]
            .as_u64()
            .is_some_and(|count| count >= 1)
    })
    .await;
    // The pause is stored.
    assert!(
        world.app.ledger.channels().await.unwrap()[1].paused,
        "sim-b is paused in the ledger"
    );

    let (status, body) = admin_post(&world.app, "/admin/channels/sim-b/resume", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["paused"], false);
    world.wait_converged().await;
    let catch_up: Vec<_> = world.sim("sim-b").stock_log()[requests_before..].to_vec();
    let pushes_of_sku_01: usize = catch_up
        .iter()
        .map(|request| {
            request
                .listing_ids
                .iter()
                .filter(|id| **id == listing_of("SKU-01"))
                .count()
        })
        .sum();
    assert_eq!(
        pushes_of_sku_01, 1,
        "what accumulated is pushed once, coalesced: {catch_up:?}"
    );
    let (status, _) = admin_post(&world.app, "/admin/channels/nope/pause", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    world.stop().await;
}

async fn a_permanently_refused_update_is_dead_lettered_and_can_be_retried(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    world.wait_converged().await;
    // A listing bound in omnistock that the marketplace does not have (a removed product).
    world
        .app
        .ledger
        .bind_listing("sim-b", "L-GONE", "SKU-01", 1)
        .await
        .unwrap();

    let letters = wait_dead_letters(&world.app, 1, "a dead letter").await;
    let letter = &letters[0];
    assert_eq!(letter["channel"], "sim-b", "{letter}");
    assert_eq!(letter["listing_id"], "L-GONE");
    assert_eq!(letter["sku"], "SKU-01");
    assert_eq!(letter["quantity"], 10);
    assert!(
        letter["error"]
            .as_str()
            .unwrap()
            .contains("unknown_listing"),
        "{letter}"
    );
    wait_until("the dead-letter metric", || async {
        metric_value(
            &world.metrics().await,
            "omnistock_dead_letters{channel=\"sim-b\"}",
        ) == 1.0
    })
    .await;
    // Parked: further changes are not sent to it again, the rest of the channel goes on.
    world.order("sim-a", "SKU-01", 2);
    world.wait_converged().await;
    let (_, only_b) = admin_get(&world.app, "/admin/dead-letters?channel=sim-b").await;
    assert_eq!(only_b[0]["attempts"], 1, "{only_b}");
    let (_, only_a) = admin_get(&world.app, "/admin/dead-letters?channel=sim-a").await;
    assert_eq!(only_a, json!([]));

    // The product is back on the marketplace: retry.
    world
        .sim("sim-b")
        .create_listing(Some("L-GONE"), "SKU-01", 0)
        .unwrap();
    let id = letter["id"].as_i64().unwrap();
    let (status, body) = admin_post(
        &world.app,
        &format!("/admin/dead-letters/{id}/retry"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "retrying");
    wait_until("the retried listing shows 8", || async {
        world.sim("sim-b").shown_quantity("L-GONE") == Some(8)
    })
    .await;
    let (_, letters) = admin_get(&world.app, "/admin/dead-letters").await;
    assert_eq!(letters, json!([]));

    // Discarding: another removed product, parked, then dropped by the operator.
    world
        .app
        .ledger
        .bind_listing("sim-c", "L-GONE-TOO", "SKU-01", 1)
        .await
        .unwrap();
    let letters = wait_dead_letters(&world.app, 1, "a second dead letter").await;
    let id = letters[0]["id"].as_i64().unwrap();
    let (status, body) = admin_post(
        &world.app,
        &format!("/admin/dead-letters/{id}/discard"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "discarded");
    assert_eq!(body["dead_letter"]["listing_id"], "L-GONE-TOO");
    let (status, _) = admin_post(
        &world.app,
        &format!("/admin/dead-letters/{id}/retry"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    world.stop().await;
}

/// A job over a whole channel reads its listings a page of SKUs at a time: every listing is
/// pushed once, also a bundle whose parts fall on different pages, and the total known from
/// the start is what it did.
async fn a_channel_job_walks_a_large_catalog_a_page_at_a_time(setup: Setup) {
    const ITEMS: usize = 1_100;
    let plan = WorldPlan {
        channels: vec![ChannelPlan::new("sim-a")],
        ..WorldPlan::default()
    };
    let world = World::start(setup, plan).await;
    let ledger = &world.app.ledger;
    let skus: Vec<String> = (0..ITEMS).map(|index| format!("SKU-{index:04}")).collect();
    let counts: Vec<StockCount> = skus
        .iter()
        .map(|sku| StockCount {
            sku: sku.clone(),
            location: "default".to_string(),
            on_hand: 4,
        })
        .collect();
    ledger
        .import_counts(&counts, "catalog", None, None)
        .await
        .unwrap();
    let mut bindings: Vec<ListingBinding> = skus
        .iter()
        .map(|sku| ListingBinding {
            channel_id: "sim-a".to_string(),
            listing_id: listing_of(sku),
            components: vec![ListingComponent::new(sku.clone(), 1)],
            sync_enabled: None,
            policy: None,
            location: None,
        })
        .collect();
    bindings.push(ListingBinding {
        channel_id: "sim-a".to_string(),
        listing_id: "bundle".to_string(),
        components: vec![
            ListingComponent::new(skus[ITEMS - 1].clone(), 1),
            ListingComponent::new(skus[1].clone(), 1),
        ],
        sync_enabled: None,
        policy: None,
        location: None,
    });
    let sim = world.sim("sim-a");
    for binding in &bindings {
        sim.create_listing(Some(&binding.listing_id), &binding.components[0].sku, 0)
            .unwrap();
    }
    ledger.bind_listings(&bindings).await.unwrap();

    let job = resync(&world.app, json!({ "channel": "sim-a", "mode": "push" })).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    for figure in ["total", "done", "pushed"] {
        assert_eq!(job[figure], bindings.len(), "{figure}: {job}");
    }
    world.wait_converged().await;
    world.stop().await;
}

async fn resync_jobs_push_everything_and_refuse_overlapping_scopes(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    wait_settled(&world).await;
    world
        .sim("sim-c")
        .create_listing(Some(&listing_of("SKU-01")), "SKU-01", 50)
        .unwrap();

    // `push` sends every listing of every channel, whatever was pushed before.
    let job = resync(&world.app, json!({ "mode": "push" })).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["channel"], Value::Null);
    assert_eq!(job["total"], 6, "{job}");
    assert_eq!(job["pushed"], 6, "{job}");
    world.wait_converged().await;

    // A job on a paused channel waits; an overlapping one is refused with its id.
    admin_post(&world.app, "/admin/channels/sim-a/pause", json!({})).await;
    let (status, waiting) = admin_post(
        &world.app,
        "/admin/resync",
        json!({ "channel": "sim-a", "mode": "push" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{waiting}");
    let (status, refused) = admin_post(
        &world.app,
        "/admin/resync",
        json!({ "channel": "sim-a", "skus": ["SKU-01"], "mode": "reconcile" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["job_id"], waiting["id"]);
    let (status, everything) = admin_post(&world.app, "/admin/resync", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{everything}");
    // Another channel's scope does not overlap.
    let other = resync(
        &world.app,
        json!({ "channel": "sim-b", "skus": ["SKU-02"] }),
    )
    .await;
    assert_eq!(other["state"], "succeeded", "{other}");
    assert_eq!(other["total"], 1, "{other}");
    assert_eq!(other["skus"], json!(["SKU-02"]));

    admin_post(&world.app, "/admin/channels/sim-a/resume", json!({})).await;
    let finished = wait_job_ended(&world.app, waiting["id"].as_str().unwrap()).await;
    assert_eq!(finished["state"], "succeeded", "{finished}");
    assert_eq!(finished["pushed"], 2, "{finished}");

    // Requests that cannot start.
    let (status, body) =
        admin_post(&world.app, "/admin/resync", json!({ "mode": "sideways" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "mode");
    let (status, _) = admin_post(&world.app, "/admin/resync", json!({ "channel": "nope" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin_get(&world.app, "/admin/jobs/not-a-job").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = admin_get(&world.app, "/admin/jobs?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    world.stop().await;
}

/// A queued job whose stored SKU list does not parse fails with an error naming its row and
/// the value; it never runs (it used to run as a job of every SKU of every channel).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_stored_skus_do_not_parse_fails_instead_of_running_on_every_sku() {
    let mut world = World::start(Setup::Embedded, WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    wait_settled(&world).await;
    let now = chrono::Utc::now().timestamp_millis();
    sqlx::query(
        "INSERT INTO resync_jobs (id, channel_id, skus, mode, trigger_kind, state, created_at, \
         heartbeat_at) VALUES ('corrupt-job', NULL, 'SKU-01,SKU-02', 'push', 'api', 'queued', \
         $1, $1)",
    )
    .bind(now)
    .execute(world.app.ledger.pool())
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (state, pushed, last_error) = loop {
        let (state, pushed, last_error): (String, i64, Option<String>) = sqlx::query_as(
            "SELECT state, pushed, last_error FROM resync_jobs WHERE id = 'corrupt-job'",
        )
        .fetch_one(world.app.ledger.pool())
        .await
        .unwrap();
        if !matches!(state.as_str(), "queued" | "running") {
            break (state, pushed, last_error);
        }
        assert!(tokio::time::Instant::now() < deadline, "job still {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((state.as_str(), pushed), ("failed", 0), "{last_error:?}");
    let last_error = last_error.unwrap_or_default();
    for named in ["resync_jobs", "corrupt-job", "skus", "SKU-01,SKU-02"] {
        assert!(last_error.contains(named), "{named} in {last_error:?}");
    }
    world.stop().await;
}

async fn scheduled_reconciliation_runs_on_its_interval(setup: Setup) {
    let plan = WorldPlan::default().channel("sim-a", |plan| {
        plan.reconcile_interval = Some(Duration::from_secs(1));
    });
    let mut world = World::start(setup, plan).await;
    world.add_catalog(&skus(1), 10).await;
    wait_settled(&world).await;
    world
        .sim("sim-a")
        .create_listing(Some(&listing_of("SKU-01")), "SKU-01", 3)
        .unwrap();

    world.wait_converged().await;
    let (_, jobs) = admin_get(&world.app, "/admin/jobs").await;
    let scheduled: Vec<&Value> = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["trigger"] == "schedule")
        .collect();
    assert!(!scheduled.is_empty(), "{jobs}");
    assert!(scheduled.iter().all(|job| job["channel"] == "sim-a"));
    assert!(scheduled.iter().all(|job| job["mode"] == "reconcile"));
    wait_until("the drift metric", || async {
        metric_value(
            &world.metrics().await,
            "omnistock_reconcile_drifts_total{channel=\"sim-a\"}",
        ) == 1.0
    })
    .await;
    world.stop().await;
}

async fn channel_status_reports_each_channel(setup: Setup) {
    let plan = WorldPlan::default().channel("sim-c", |plan| {
        plan.poll_interval = Some(Duration::from_millis(200));
    });
    let mut world = World::start(setup, plan).await;
    world.add_catalog(&skus(2), 10).await;
    world.wait_converged().await;
    world.order("sim-a", "SKU-01", 1);
    world.order("sim-c", "SKU-02", 1);
    world.wait_available("SKU-01", 9).await;
    world.wait_available("SKU-02", 9).await;
    wait_settled_channels(&world, &["sim-a", "sim-b"]).await;
    wait_until("sim-c polled past its order", || async {
        channel_status(&world.app, "sim-c").await["orders"]["cursor_age_seconds"].is_i64()
    })
    .await;

    let (status, channels) = admin_get(&world.app, "/admin/channels").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = channels
        .as_array()
        .unwrap()
        .iter()
        .map(|channel| channel["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sim-a", "sim-b", "sim-c"]);
    let a = channel_status(&world.app, "sim-a").await;
    assert_eq!(a["kind"], "sim");
    assert_eq!(a["enabled"], true);
    assert_eq!(a["paused"], false);
    assert_eq!(a["orders"]["polled"], false);
    assert_eq!(a["webhooks_last_hour"]["200"], 1, "{a}");
    assert_eq!(a["push"]["backlog_skus"], 0, "{a}");
    assert_eq!(a["push"]["listings_out_of_date"], 0, "{a}");
    assert!(a["push"]["last_confirmed_at"].is_string(), "{a}");
    assert_eq!(a["push"]["last_error"], Value::Null);
    // The start-up sweep is over (a sweep under way is covered in sweep.rs).
    assert_eq!(a["push"]["sweep"], Value::Null, "{a}");
    assert!(a["push"]["last_sweep_done_at"].is_string(), "{a}");
    assert!(a["rate_limit"]["calls_last_minute"].as_u64().unwrap() >= 1);
    assert_eq!(a["reconciliation"], Value::Null);
    assert_eq!(a["dead_letters"], 0);
    // One replica, so it is the sync leader.
    assert_eq!(
        metric_value(&world.metrics().await, "omnistock_sync_leader"),
        1.0
    );
    let c = channel_status(&world.app, "sim-c").await;
    assert_eq!(c["orders"]["polled"], true, "{c}");
    assert!(c["orders"]["cursor_age_seconds"].is_i64(), "{c}");

    // The new routes are behind the token too.
    let response = world
        .app
        .client
        .get(world.app.url("/admin/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    world.stop().await;
}

async fn every_admin_route_is_in_the_openapi_document(setup: Setup) {
    let world = World::start(setup, WorldPlan::default()).await;
    let (status, document) = admin_get(&world.app, "/admin/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        assert!(path.starts_with("/admin/"), "{path} is not an admin route");
        for (method, operation) in operations.as_object().unwrap() {
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|responses| !responses.is_empty()),
                "{method} {path} has no responses"
            );
            documented.insert((method.clone(), path.clone()));
        }
    }
    // The router is built from this list alone, so it is exactly what is served.
    let served: BTreeSet<(String, String)> = omnistock::http::admin::served_routes()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    assert!(served.len() >= 15, "{served:?}");
    for (method, path) in &served {
        // Each one reaches the running daemon's admin router (not 404/405).
        let concrete = path.replace("{sku}", "SKU-NONE").replace("{id}", "0");
        let request = match method.as_str() {
            "get" => world.app.client.get(world.app.url(&concrete)),
            _ => world.app.client.post(world.app.url(&concrete)),
        };
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} is not an admin route of the daemon"
        );
    }
    assert!(document["components"]["schemas"]["JobView"].is_object());
    assert!(document["components"]["schemas"]["ItemView"].is_object());
    world.stop().await;
}

/// The OpenAPI document is one a generated client can use: each path parameter is a `{name}` of
/// its path and each `{name}` is declared (a query parameter declared as a path parameter broke
/// clients), and, where the project's Python tools are installed (`.ci/python-tools`, as CI
/// does), an independent validator accepts the whole document.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_openapi_document_is_valid() {
    let world = World::start(Setup::Embedded, WorldPlan::default()).await;
    let (status, document) = admin_get(&world.app, "/admin/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for (path, operations) in document["paths"].as_object().unwrap() {
        let in_template: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        for (method, operation) in operations.as_object().unwrap() {
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .map(|parameters| {
                    parameters
                        .iter()
                        .filter(|parameter| parameter["in"] == "path")
                        .filter_map(|parameter| parameter["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(
                declared, in_template,
                "{method} {path}: path parameters declared vs in the path"
            );
        }
    }

    let validator = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/ci-python/bin/openapi-spec-validator");
    if validator.exists() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("openapi.json");
        std::fs::write(&file, document.to_string()).unwrap();
        let output = std::process::Command::new(&validator)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "openapi-spec-validator refused the document:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    } else {
        eprintln!(
            "skipped the independent validator: {} is missing (./.ci/python-tools installs it)",
            validator.display()
        );
    }
    world.stop().await;
}

/// A job whose daemon stops is `interrupted`, stays so after a restart, and can be restarted.
mod restart {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn embedded() {
        jobs_are_interrupted_by_a_stop_and_can_be_restarted(false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn production() {
        jobs_are_interrupted_by_a_stop_and_can_be_restarted(true).await;
    }
}

async fn jobs_are_interrupted_by_a_stop_and_can_be_restarted(postgres: bool) {
    let plan = WorldPlan::default();
    let sims = start_sims(&plan).await;
    let sim_a = &sims[0].sim;
    let (database, url) = if postgres {
        TestDatabase::postgres().await
    } else {
        TestDatabase::sqlite()
    };
    let mut settings = test_settings(&url);
    settings.bus.poll_interval_ms = 200;
    settings.admin.token = Some(Secret::new(ADMIN_TOKEN));
    settings.channels.extend(sim_channels(&plan, &sims));
    let mut app = spawn_app_with(settings.clone(), database).await;
    // Paused before the listing is bound, so that neither the binding's stock change nor the
    // job reaches the channel: the job waits and is still running when the daemon stops.
    admin_post(&app, "/admin/channels/sim-a/pause", json!({})).await;
    app.ledger.upsert_item("SKU-01", "SKU-01").await.unwrap();
    app.ledger
        .bind_listing("sim-a", &listing_of("SKU-01"), "SKU-01", 1)
        .await
        .unwrap();
    sim_a
        .create_listing(Some(&listing_of("SKU-01")), "SKU-01", 7)
        .unwrap();
    let (status, job) = admin_post(&app, "/admin/resync", json!({ "channel": "sim-a" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    wait_until("the job runs", || async {
        admin_get(&app, &format!("/admin/jobs/{id}")).await.1["state"] == "running"
    })
    .await;

    let database = std::mem::replace(&mut app.database, TestDatabase::sqlite().0);
    app.stop().await.unwrap();
    let app = spawn_app_with(settings, database).await;

    let (_, interrupted) = admin_get(&app, &format!("/admin/jobs/{id}")).await;
    assert_eq!(interrupted["state"], "interrupted", "{interrupted}");
    assert!(interrupted["finished_at"].is_string());
    // The pause survived the restart too: nothing was pushed.
    assert_eq!(sim_a.shown_quantity(&listing_of("SKU-01")), Some(7));
    let (status, body) = admin_get(&app, "/admin/channels").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["paused"], true, "{body}");

    admin_post(&app, "/admin/channels/sim-a/resume", json!({})).await;
    let (status, restarted) =
        admin_post(&app, &format!("/admin/jobs/{id}/restart"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{restarted}");
    assert_eq!(restarted["restarted_from"], id.as_str());
    let ended = wait_job_ended(&app, restarted["id"].as_str().unwrap()).await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(sim_a.shown_quantity(&listing_of("SKU-01")), Some(0));
    app.stop().await.unwrap();
    for market in sims {
        market.sim.shutdown().await;
    }
}

/// Runs the built `omnistock` with `args` against the world's daemon; returns (success, stdout,
/// stderr).
pub(crate) async fn omnistock_cli(world: &World, args: &[&str]) -> (bool, String, String) {
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

async fn the_cli_drives_the_controls(setup: Setup) {
    let mut world = World::start(setup, WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    wait_settled(&world).await;
    world
        .sim("sim-b")
        .create_listing(Some(&listing_of("SKU-01")), "SKU-01", 4)
        .unwrap();

    let (ok, stdout, stderr) = omnistock_cli(
        &world,
        &["resync", "--channel", "sim-b", "--mode", "reconcile"],
    )
    .await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.starts_with("JOB "), "{stdout}");
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert!(
        stderr.contains("2/2"),
        "the progress bar shows the work: {stderr}"
    );
    assert_eq!(
        world.sim("sim-b").shown_quantity(&listing_of("SKU-01")),
        Some(10)
    );

    let (ok, stdout, stderr) = omnistock_cli(&world, &["channel", "pause", "sim-a"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "channel sim-a paused\n");
    let (ok, stdout, _) = omnistock_cli(&world, &["channels"]).await;
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("CHANNEL"), "{stdout}");
    assert!(
        lines[1].starts_with("sim-a") && lines[1].contains("paused"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("sim-b") && lines[2].contains("active"),
        "{stdout}"
    );
    assert!(lines[2].contains("(1 drift)"), "{stdout}");
    let (ok, stdout, _) = omnistock_cli(&world, &["channel", "resume", "sim-a"]).await;
    assert!(ok);
    assert_eq!(stdout, "channel sim-a resumed\n");

    let (ok, stdout, _) = omnistock_cli(&world, &["dead-letters"]).await;
    assert!(ok);
    assert_eq!(stdout.lines().count(), 1, "only the header: {stdout}");
    let (ok, _, stderr) = omnistock_cli(&world, &["dead-letters", "--retry", "99"]).await;
    assert!(!ok);
    assert!(stderr.contains("404"), "{stderr}");
    world.stop().await;
}
