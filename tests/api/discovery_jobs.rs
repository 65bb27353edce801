//! Listing discovery and the count from a channel as admin jobs, on both set-ups: a discovery
//! started through `POST /admin/channels/{id}/discover` is followed to its end through
//! `GET /admin/jobs/{id}` and classifies the catalog exactly as the CLI's dry run does; an
//! applying job binds the new listings, a second binds nothing; a wrong token, an unknown and a
//! disabled channel are refused. And `--apply` leaves alone a listing bound after the catalog
//! was classified, checked again in the binding transaction.

use crate::helpers::{spawn_app_with, test_settings, TestDatabase};
use crate::operators::{omnistock_cli, wait_job_ended};
use crate::sync_world::{
    both_setups, sim_channels, start_sims, wait_until, Setup, World, WorldPlan, ADMIN_TOKEN,
    PATIENCE,
};
use omnistock::ledger::{
    Ledger, ListingBinding, ListingComponent, NewListing, NotBound, StockCount,
};
use omnistock::ops::discovery;
use omnistock::sync::gateway::Interrupt;
use omnistock::sync::ChannelRuntime;
use omnistock_connector::Secret;
use omnistock_connector::{Connector, RateLimit};
use omnistock_sim::{SimHandle, SimOptions, SimServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const CHANNEL: &str = "sim-a";
/// Listings whose SKU is no item, enough for three catalog pages of the sim (1,000 each).
const UNMATCHED: usize = 2_400;

both_setups!(
    discovery_runs_as_an_admin_job_with_progress,
    apply_leaves_alone_a_listing_bound_after_it_was_classified,
    a_discovery_stopped_with_the_daemon_is_interrupted_and_restarts
);

/// The catalog of the CLI test (a bound listing, two new, one unmatched, a SKU on two
/// listings, one without SKU, a multipack) and [`UNMATCHED`] more unmatched ones.
async fn stock_the_catalog(ledger: &Ledger, sim: &SimHandle) {
    for (listing, sku, quantity) in [
        ("L-A", "A", 5),
        ("L-B", "B", 3),
        ("L-C1", "C", 2),
        ("L-C2", "C", 2),
        ("L-D", "D", 4),
        ("L-E", "E", 6),
        ("L-X", "X", 1),
        ("L-NONE", "", 1),
    ] {
        sim.create_listing(Some(listing), sku, quantity).unwrap();
    }
    for index in 0..UNMATCHED {
        let name = format!("Z-{index:05}");
        sim.create_listing(Some(&name), &name, 1).unwrap();
    }
    let counts: Vec<StockCount> = [("A", 1), ("B", 3), ("C", 0), ("D", 9), ("E", 6)]
        .into_iter()
        .map(|(sku, on_hand)| StockCount {
            sku: sku.into(),
            location: "default".into(),
            on_hand,
        })
        .collect();
    ledger
        .import_counts(&counts, "discovery-test", Some("test"), None)
        .await
        .unwrap();
    let bindings: Vec<ListingBinding> = [("L-D", "D", 2), ("L-E", "E", 1)]
        .into_iter()
        .map(|(listing, sku, quantity)| ListingBinding {
            channel_id: CHANNEL.into(),
            listing_id: listing.into(),
            location: None,
            components: vec![ListingComponent::new(sku, quantity)],
            sync_enabled: None,
            policy: None,
        })
        .collect();
    ledger.bind_listings(&bindings).await.unwrap();
}

/// The channel as the CLI builds it (its own gateway), on `sim`.
fn channel_on(sim: &SimHandle) -> ChannelRuntime {
    let connector: Arc<dyn Connector> = Arc::new(sim.connector().unwrap());
    ChannelRuntime::new(CHANNEL.into(), connector, "default".into(), None, None)
}

/// Follows job `id` until it ended: every state seen, the last one last.
async fn follow(world: &World, id: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let (status, job) = world
            .app
            .admin_get(ADMIN_TOKEN, &format!("/admin/jobs/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        let ended = !["queued", "running"].contains(&job["state"].as_str().unwrap());
        seen.push(job);
        if ended {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} did not end: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start(world: &World, path: &str, body: Value) -> Value {
    let (status, job) = world.app.admin_post(ADMIN_TOKEN, path, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    job
}

fn class_counts(report: &Value) -> Vec<u64> {
    [
        "bound",
        "new",
        "unmatched",
        "ambiguous",
        "bound_differently",
    ]
    .iter()
    .map(|class| report["counts"][class].as_u64().unwrap())
    .collect()
}

async fn discovery_runs_as_an_admin_job_with_progress(setup: Setup) {
    let plan = WorldPlan::default().channel(CHANNEL, |plan| {
        // Three pages at two a second: the job is seen part way.
        plan.rate_limit = Some(RateLimit::per_second(2));
    });
    let world = World::start_with(setup, plan, |settings| {
        let mut disabled = settings.channels[1].clone();
        disabled.id = "sim-off".parse().unwrap();
        disabled.enabled = false;
        settings.channels.push(disabled);
    })
    .await;
    let sim = world.sim(CHANNEL);
    stock_the_catalog(&world.app.ledger, sim).await;
    let path = format!("/admin/channels/{CHANNEL}/discover");

    // Refusals first: a wrong token, an unknown channel, a disabled one, a bad body.
    let (status, _) = world.app.admin_post("wrong-token", &path, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = world
        .app
        .admin_post(ADMIN_TOKEN, "/admin/channels/nowhere/discover", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.to_string().contains("unknown channel"), "{body}");
    let (status, body) = world
        .app
        .admin_post(ADMIN_TOKEN, "/admin/channels/sim-off/discover", json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("disabled"), "{body}");
    let (status, body) = world
        .app
        .admin_post(ADMIN_TOKEN, &path, json!({ "apply": "yes" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            &path,
            json!({ "apply": true, "dry_run_job": "none" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/channels/{CHANNEL}/count"),
            json!({ "location": "nowhere" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let jobs = world.app.ledger.jobs().recent(10).await.unwrap();
    assert!(jobs.is_empty(), "a refused start recorded a job: {jobs:?}");

    // A dry run, with an empty body, followed to its end.
    let response = world
        .app
        .client
        .post(world.app.url(&path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["kind"], "discover");
    assert_eq!(queued["mode"], "dry_run");
    let dry_run_id = queued["id"].as_str().unwrap().to_string();
    let seen = follow(&world, &dry_run_id).await;
    let done: Vec<i64> = seen
        .iter()
        .map(|job| job["done"].as_i64().unwrap())
        .collect();
    assert!(
        done.windows(2).all(|pair| pair[0] <= pair[1]),
        "progress went back: {done:?}"
    );
    let job = seen.last().unwrap();
    assert_eq!(job["state"], "succeeded", "{job:#}");
    let listings = (8 + UNMATCHED) as i64;
    assert_eq!(job["done"], listings);
    assert_eq!(job["total"], listings);
    assert_eq!(job["pages"], 3);
    let result = &job["result"];
    assert_eq!(
        class_counts(result),
        vec![1, 2, 1 + UNMATCHED as u64, 3, 1],
        "{result:#}"
    );
    assert!(result["applied"].is_null());

    // The same classification as the CLI's dry run (the same function, its own gateway).
    let cli = discovery::discover(
        &world.app.ledger,
        &channel_on(sim),
        false,
        Interrupt::never(),
        |_| {},
    )
    .await
    .unwrap();
    let cli = serde_json::to_value(&cli).unwrap();
    for field in [
        "channel", "pages", "listings", "counts", "examples", "applied",
    ] {
        assert_eq!(result[field], cli[field], "{field} differs from the CLI's");
    }
    let (_, listed) = world.app.admin_get(ADMIN_TOKEN, "/admin/jobs").await;
    let listed = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|job| job["id"] == dry_run_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["kind"], "discover");
    // Restarted, an ended catalog job starts a new one of the same task.
    let (status, restarted) = world
        .app
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/jobs/{dry_run_id}/restart"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{restarted}");
    assert_eq!(
        (
            &restarted["kind"],
            &restarted["mode"],
            &restarted["restarted_from"]
        ),
        (&json!("discover"), &json!("dry_run"), &json!(dry_run_id))
    );
    let restarted = follow(&world, restarted["id"].as_str().unwrap()).await;
    let restarted = restarted.last().unwrap();
    assert_eq!(restarted["result"]["counts"], result["counts"]);
    // The last successful dry run is now the restarted one.
    let dry_run_id = restarted["id"].as_str().unwrap().to_string();

    // The count from the channel as a job, before the listings of A and B are bound (once
    // bound, the daemon pushes the ledger's quantity to them): a dry run, then applied.
    let count_path = format!("/admin/channels/{CHANNEL}/count");
    let dry_count = start(&world, &count_path, json!({})).await;
    assert_eq!(dry_count["kind"], "channel_count");
    let dry_count = follow(&world, dry_count["id"].as_str().unwrap()).await;
    let dry_count = &dry_count.last().unwrap()["result"];
    let changes: Vec<(&str, i64)> = dry_count["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| {
            (
                change["sku"].as_str().unwrap(),
                change["change"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes, vec![("A", 4), ("C", 2)], "{dry_count:#}");
    assert!(dry_count["applied"].is_null());
    let counted = start(&world, &count_path, json!({ "apply": true })).await;
    let counted = follow(&world, counted["id"].as_str().unwrap()).await;
    assert_eq!(counted.last().unwrap()["result"]["applied"], 2);
    let balance = world.app.ledger.balance("A", "default").await.unwrap();
    assert_eq!(balance.on_hand, 5);
    // Apply: the new listings are bound, compared with the dry run (nothing changed since).
    let queued = start(&world, &path, json!({ "apply": true })).await;
    assert_eq!(queued["mode"], "apply");
    assert_eq!(queued["dry_run_job"], dry_run_id.as_str());
    let applied = follow(&world, queued["id"].as_str().unwrap()).await;
    let applied = &applied.last().unwrap()["result"];
    assert_eq!(applied["applied"], 2, "{applied:#}");
    assert_eq!(applied["recheck"]["left_alone"], 0);
    assert_eq!(applied["since_dry_run"], json!([]));
    for (listing, sku) in [("L-A", "A"), ("L-B", "B")] {
        let bound = world.app.ledger.listing(CHANNEL, listing).await.unwrap();
        assert_eq!(bound.map(|bound| bound.sku), Some(sku.to_string()));
    }

    // Applied again: nothing is left to bind, and the report says what changed since the dry
    // run.
    let again = start(&world, &path, json!({ "apply": true })).await;
    let again = follow(&world, again["id"].as_str().unwrap()).await;
    let again = &again.last().unwrap()["result"];
    assert_eq!(again["applied"], 0, "{again:#}");
    assert_eq!(
        again["since_dry_run"],
        json!([
            { "class": "bound", "dry_run": 1, "now": 3 },
            { "class": "new", "dry_run": 2, "now": 0 },
        ])
    );

    // The CLI runs the same job through the admin API with --via-admin.
    let (ok, stdout, stderr) = omnistock_cli(
        &world,
        &[
            "listings",
            "discover",
            "--channel",
            CHANNEL,
            "--via-admin",
            "--format",
            "json",
        ],
    )
    .await;
    assert!(ok, "{stdout}{stderr}");
    let via_admin: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(class_counts(&via_admin), class_counts(again));
    assert!(stderr.contains("dry run: nothing bound"), "{stderr}");
    let (ok, _, stderr) = omnistock_cli(
        &world,
        &[
            "listings",
            "discover",
            "--channel",
            "nowhere",
            "--via-admin",
        ],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("unknown channel"), "{stderr}");

    world.stop().await;
}

async fn apply_leaves_alone_a_listing_bound_after_it_was_classified(setup: Setup) {
    let (_database, url) = match setup {
        Setup::Embedded => TestDatabase::sqlite(),
        Setup::Production => TestDatabase::postgres().await,
    };
    let ledger = Ledger::connect(&url).await.unwrap();
    ledger.migrate().await.unwrap();
    ledger.upsert_channel(CHANNEL, "sim").await.unwrap();
    for sku in ["A", "B", "C"] {
        ledger.upsert_item(sku, sku).await.unwrap();
    }
    let sim = SimServer::start(SimOptions::for_tests()).await.unwrap();
    for (listing, sku) in [("L-A", "A"), ("L-B", "B"), ("L-C", "C")] {
        sim.create_listing(Some(listing), sku, 1).unwrap();
    }
    let channel = channel_on(&sim);

    // Once the (only) page is classified, an operator binds L-A to C as a pair: apply must
    // not overwrite it.
    let operator = ledger.clone();
    let runtime = tokio::runtime::Handle::current();
    let report = discovery::discover(&ledger, &channel, true, Interrupt::never(), |_| {
        tokio::task::block_in_place(|| {
            runtime.block_on(async {
                let binding = ListingBinding {
                    channel_id: CHANNEL.into(),
                    listing_id: "L-A".into(),
                    location: None,
                    components: vec![ListingComponent::new("C", 2)],
                    sync_enabled: None,
                    policy: None,
                };
                operator.bind_listings(&[binding]).await.unwrap();
            })
        });
    })
    .await
    .unwrap();
    assert_eq!(report.count(discovery::ListingClass::New), 3);
    assert_eq!(report.applied, Some(2));
    let recheck = report.recheck.unwrap();
    assert_eq!(recheck.left_alone, 1);
    assert_eq!(recheck.examples[0].listing_id.as_deref(), Some("L-A"));
    assert_eq!(
        recheck.examples[0].detail.as_deref(),
        Some("bound meanwhile to C×2")
    );
    let l_a = ledger.listing(CHANNEL, "L-A").await.unwrap().unwrap();
    assert_eq!((l_a.sku.as_str(), l_a.multiplier), ("C", 2));
    let l_b = ledger.listing(CHANNEL, "L-B").await.unwrap().unwrap();
    assert_eq!((l_b.sku.as_str(), l_b.multiplier), ("B", 1));

    // A SKU that is no item (any more) is left alone too, and nothing else is written.
    let outcome = ledger
        .bind_discovered(
            CHANNEL,
            &[NewListing {
                listing_id: "L-Z".into(),
                sku: "GONE".into(),
                location: None,
            }],
        )
        .await
        .unwrap();
    assert_eq!(outcome.bound, 0);
    assert_eq!(
        outcome.not_bound,
        vec![("L-Z".to_string(), "GONE".to_string(), NotBound::ItemGone)]
    );
    ledger.close().await;
}

async fn a_discovery_stopped_with_the_daemon_is_interrupted_and_restarts(setup: Setup) {
    // Five catalog pages at one a second: the job is under way when the daemon stops.
    let plan = WorldPlan::default().channel(CHANNEL, |plan| {
        plan.rate_limit = Some(RateLimit::per_second(1));
    });
    let sims = start_sims(&plan).await;
    let sim = &sims[0].sim;
    for index in 0..4_500 {
        let name = format!("Z-{index:05}");
        sim.create_listing(Some(&name), &name, 1).unwrap();
    }
    let (database, url) = match setup {
        Setup::Embedded => TestDatabase::sqlite(),
        Setup::Production => TestDatabase::postgres().await,
    };
    let mut settings = test_settings(&url);
    settings.admin.token = Some(Secret::new(ADMIN_TOKEN));
    settings.channels.extend(sim_channels(&plan, &sims));
    let mut app = spawn_app_with(settings.clone(), database).await;
    let path = format!("/admin/channels/{CHANNEL}/discover");
    let (status, job) = app.admin_post(ADMIN_TOKEN, &path, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    wait_until("the job has read a page", || async {
        let (_, job) = app
            .admin_get(ADMIN_TOKEN, &format!("/admin/jobs/{id}"))
            .await;
        job["state"] == "running" && job["pages"].as_i64().unwrap_or(0) >= 1
    })
    .await;

    let database = std::mem::replace(&mut app.database, TestDatabase::sqlite().0);
    app.stop().await.unwrap();
    let app = spawn_app_with(settings, database).await;
    let (_, interrupted) = app
        .admin_get(ADMIN_TOKEN, &format!("/admin/jobs/{id}"))
        .await;
    assert_eq!(interrupted["state"], "interrupted", "{interrupted}");
    assert!(interrupted["result"].is_null());
    assert!(interrupted["pages"].as_i64().unwrap() < 5, "{interrupted}");

    let (status, restarted) = app
        .admin_post(ADMIN_TOKEN, &format!("/admin/jobs/{id}/restart"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{restarted}");
    assert_eq!(restarted["kind"], "discover");
    let ended = wait_job_ended(&app, restarted["id"].as_str().unwrap()).await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(ended["pages"], 5, "{ended}");
    assert_eq!(ended["result"]["counts"]["unmatched"], 4_500, "{ended}");
    app.stop().await.unwrap();
    for market in sims {
        market.sim.shutdown().await;
    }
}
