//! Several replicas of the daemon on one PostgreSQL database and one RabbitMQ: exactly one is
//! the sync leader and does every push, whichever replica accepted a resync, a dead-letter
//! retry or a webhook; the other takes over when the leader stops or is cut off from the database;
//! job starts are atomic across replicas; and every replica's channel status counts every
//! replica's webhooks. (The embedded set-up is one process, always the leader: a second daemon on
//! its SQLite file refuses to start.)

use crate::helpers::{spawn_app_with, test_settings, TestApp, TestDatabase};
use crate::operators::{wait_dead_letters, wait_job_ended};
use crate::sync::skus;
use crate::sync_world::{
    listing_of, metric_value, wait_until, Setup, World, WorldPlan, ADMIN_TOKEN, PATIENCE,
};
use crate::tcp_proxy::{ProxyMode, TcpProxy};
use omnistock::app::App;
use omnistock::ledger::MovementMeta;
use omnistock::settings::DatabaseUrl;
use omnistock::settings::Settings;
use omnistock::sync::duties::LOST_LEADERSHIP_GRACE;
use omnistock::sync::leader::TAKEOVER_BOUND;
use omnistock_connector::RateLimit;
use omnistock_sim::Faults;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

async fn is_leader(app: &TestApp) -> bool {
    let text = app.get("/metrics").await.text().await.unwrap();
    metric_value(&text, "omnistock_sync_leader") == 1.0
}

fn quick_webhook_counts(settings: &mut Settings) {
    settings.admin.webhook_counts_flush = Duration::from_millis(200);
}

/// The world's daemon, leading, and a second replica beside it.
async fn two_replicas(plan: WorldPlan) -> (World, TestApp) {
    let world = World::start_with(Setup::Production, plan, quick_webhook_counts).await;
    wait_until("the first replica leads", || is_leader(&world.app)).await;
    let follower = world.spawn_replica().await;
    (world, follower)
}

async fn channel_status(app: &TestApp, channel: &str) -> Value {
    let (status, channels) = app.admin_get(ADMIN_TOKEN, "/admin/channels").await;
    assert_eq!(status, StatusCode::OK, "{channels}");
    channels
        .as_array()
        .unwrap()
        .iter()
        .find(|status| status["id"] == channel)
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resync_accepted_by_the_follower_runs_on_the_leader_within_the_rate_limit() {
    let plan = WorldPlan::default().channel("sim-a", |plan| {
        plan.rate_limit = Some(RateLimit::per_second(2));
        // Small batches, so that the resync needs several calls.
        plan.max_batch = 2;
    });
    let (mut world, follower) = two_replicas(plan).await;
    world.add_catalog(&skus(8), 10).await;
    world.wait_converged().await;
    // The follower keeps trying; it never gets the lock while the leader holds it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(is_leader(&world.app).await);
    assert!(!is_leader(&follower).await, "two leaders");

    let (status, job) = follower
        .admin_post(
            ADMIN_TOKEN,
            "/admin/resync",
            json!({ "channel": "sim-a", "mode": "push" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["state"], "queued", "{job}");
    let ended = wait_job_ended(&follower, job["id"].as_str().unwrap()).await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(ended["total"], 8, "{ended}");
    assert_eq!(ended["pushed"], 8, "{ended}");

    let sim = world.sim("sim-a");
    assert!(
        sim.max_stock_requests_in_window(Duration::from_secs(1)) <= 2,
        "more than 2 stock requests within a second: {:?}",
        sim.stock_log()
            .iter()
            .map(|request| request.received_at)
            .collect::<Vec<_>>()
    );
    assert_eq!(sim.counters().rate_limited, 0);
    follower.stop().await.unwrap();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_discovery_accepted_by_the_follower_runs_on_the_leader_and_is_the_channels_only_one() {
    let plan = WorldPlan::default().channel("sim-a", |plan| {
        // Three catalog pages at two a second: the job is still active a second later.
        plan.rate_limit = Some(RateLimit::per_second(2));
    });
    let (mut world, follower) = two_replicas(plan).await;
    world.add_catalog(&skus(8), 10).await;
    let sim = world.sim("sim-a");
    for index in 0..2_400 {
        let name = format!("Z-{index:05}");
        sim.create_listing(Some(&name), &name, 1).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(is_leader(&world.app).await);
    assert!(!is_leader(&follower).await, "two leaders");

    let (status, job) = follower
        .admin_post(ADMIN_TOKEN, "/admin/channels/sim-a/discover", json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap();
    // A second catalog job of the channel, on the other replica, waits for none: refused.
    let (status, refused) = world
        .app
        .admin_post(ADMIN_TOKEN, "/admin/channels/sim-a/count", json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["job_id"], id);
    let ended = wait_job_ended(&follower, id).await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(ended["pages"], 3, "{ended}");
    assert_eq!(ended["result"]["counts"]["bound"], 8, "{ended}");
    assert_eq!(ended["result"]["counts"]["unmatched"], 2_400, "{ended}");
    assert!(!is_leader(&follower).await, "the follower took over");
    follower.stop().await.unwrap();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_leader_stops_the_other_replica_takes_over() {
    let (mut world, follower) = two_replicas(WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    world.wait_converged().await;

    // The follower becomes the world's daemon (and owner of its database); the leader stops.
    let mut leader = std::mem::replace(&mut world.app, follower);
    world.app.database = std::mem::replace(&mut leader.database, TestDatabase::sqlite().0);
    for market in &world.markets {
        let target = world.app.url(&format!("/webhooks/{}", market.channel));
        market.sim.set_webhook_target(Some(target));
    }
    leader.stop().await.unwrap();
    let stopped_at = tokio::time::Instant::now();
    wait_until("the survivor leads", || is_leader(&world.app)).await;
    assert!(
        stopped_at.elapsed() < Duration::from_secs(5),
        "took over after {:?}",
        stopped_at.elapsed()
    );

    world.order("sim-a", "SKU-01", 3);
    world.wait_available("SKU-01", 7).await;
    world.wait_converged().await;
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_scope_sent_to_two_replicas_at_once_starts_one_job() {
    let (mut world, follower) = two_replicas(WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    world.wait_converged().await;

    let mut accepted_ids = Vec::new();
    for channel in ["sim-a", "sim-b", "sim-c"] {
        // Paused on the leader, so the accepted job stays active while the other request runs.
        let (status, body) = world
            .app
            .admin_post(
                ADMIN_TOKEN,
                &format!("/admin/channels/{channel}/pause"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let request = json!({ "channel": channel, "mode": "push" });
        let (on_leader, on_follower) = tokio::join!(
            world
                .app
                .admin_post(ADMIN_TOKEN, "/admin/resync", request.clone()),
            follower.admin_post(ADMIN_TOKEN, "/admin/resync", request.clone()),
        );
        let mut answers = [on_leader, on_follower];
        answers.sort_by_key(|(status, _)| status.as_u16());
        let [(accepted_status, accepted), (refused_status, refused)] = answers;
        assert_eq!(accepted_status, StatusCode::ACCEPTED, "{accepted}");
        assert_eq!(refused_status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(refused["job_id"], accepted["id"], "{refused}");
        accepted_ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    for channel in ["sim-a", "sim-b", "sim-c"] {
        world
            .app
            .admin_post(
                ADMIN_TOKEN,
                &format!("/admin/channels/{channel}/resume"),
                json!({}),
            )
            .await;
    }
    for id in &accepted_ids {
        let ended = wait_job_ended(&follower, id).await;
        assert_eq!(ended["state"], "succeeded", "{ended}");
    }
    let (_, jobs) = follower.admin_get(ADMIN_TOKEN, "/admin/jobs").await;
    assert_eq!(jobs.as_array().unwrap().len(), 3, "{jobs}");
    follower.stop().await.unwrap();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_replica_counts_every_replicas_webhooks() {
    let (mut world, follower) = two_replicas(WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    world.wait_converged().await;
    // sim-a's webhooks go to the leader, sim-b's to the follower.
    world
        .sim("sim-b")
        .set_webhook_target(Some(follower.url("/webhooks/sim-b")));

    world.order("sim-a", "SKU-01", 1);
    world.order("sim-b", "SKU-01", 1);
    world.wait_available("SKU-01", 8).await;

    for (name, app) in [("leader", &world.app), ("follower", &follower)] {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let a = channel_status(app, "sim-a").await;
            let b = channel_status(app, "sim-b").await;
            if a["webhooks_last_hour"] == json!({ "200": 1 })
                && b["webhooks_last_hour"] == json!({ "200": 1 })
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the {name}'s status misses webhooks: {a} {b}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    follower.stop().await.unwrap();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_followers_channel_status_shows_the_leaders_push_activity() {
    let (mut world, follower) = two_replicas(WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    world.wait_converged().await;
    world.order("sim-a", "SKU-01", 1);
    world.wait_available("SKU-01", 9).await;
    world.wait_converged().await;

    // The pushers run on the leader only; the follower shows what the leader published.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = channel_status(&follower, "sim-b").await;
        if !status["push"]["last_confirmed_at"].is_null()
            && status["rate_limit"]["calls_last_minute"].as_u64() > Some(0)
            && !status["push"]["last_sweep_done_at"].is_null()
        {
            assert_eq!(status["push"]["sweep"], Value::Null, "{status}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower does not show the leader's pushes: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    follower.stop().await.unwrap();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_follower_shows_a_channel_degraded_on_the_leader_and_its_recovery() {
    let (mut world, follower) = two_replicas(WorldPlan::default()).await;
    world.add_catalog(&skus(2), 10).await;
    world.wait_converged().await;
    let degraded_on_follower = |expected: bool| {
        let follower = &follower;
        async move {
            channel_status(follower, "sim-c").await["push"]["degraded"].as_bool() == Some(expected)
        }
    };
    assert!(degraded_on_follower(false).await);
    // Both replicas name the same leader, and only the leader calls it itself.
    let on_leader = channel_status(&world.app, "sim-c").await["leader"].clone();
    let on_follower = channel_status(&follower, "sim-c").await["leader"].clone();
    assert_eq!(on_leader["this_replica"], true, "{on_leader}");
    assert_eq!(on_follower["this_replica"], false, "{on_follower}");
    assert_eq!(on_leader["replica"], on_follower["replica"]);

    world.sim("sim-c").set_faults(Faults {
        outage: true,
        ..Faults::default()
    });
    world.order("sim-a", "SKU-01", 1);
    world.wait_available("SKU-01", 9).await;
    wait_until("the follower shows sim-c degraded", || {
        degraded_on_follower(true)
    })
    .await;
    let status = channel_status(&follower, "sim-c").await;
    assert_eq!(
        status["push"]["bus_dead_lettered"].as_u64(),
        Some(0),
        "{status}"
    );

    world.sim("sim-c").set_faults(Faults::default());
    wait_until("the follower shows sim-c recovered", || {
        degraded_on_follower(false)
    })
    .await;
    world.wait_converged().await;
    follower.stop().await.unwrap();
    world.stop().await;
}

/// When `leader` changed, from now on (with its value then).
fn record_leadership(mut leader: watch::Receiver<bool>) -> Arc<Mutex<Vec<(Instant, bool)>>> {
    let changes = Arc::new(Mutex::new(vec![(
        Instant::now(),
        *leader.borrow_and_update(),
    )]));
    let recorded = changes.clone();
    tokio::spawn(async move {
        while leader.changed().await.is_ok() {
            let leading = *leader.borrow_and_update();
            recorded.lock().unwrap().push((Instant::now(), leading));
        }
    });
    changes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_its_database_gives_way_before_another_leads() {
    // The first replica reaches PostgreSQL through a proxy that can stop forwarding without
    // closing a socket: neither it nor PostgreSQL notices the cut.
    let proxy = TcpProxy::start("127.0.0.1:5432", ProxyMode::Forward).await;
    let proxied = format!("127.0.0.1:{}", proxy.port());
    let mut direct_url = String::new();
    let mut world = World::start_with(Setup::Production, WorldPlan::default(), |settings| {
        direct_url = settings.database.url.expose().to_string();
        settings.database.url = DatabaseUrl::new(direct_url.replace("127.0.0.1:5432", &proxied));
    })
    .await;
    wait_until("the first replica leads", || is_leader(&world.app)).await;
    let mut follower_settings = world.settings.clone();
    follower_settings.database.url = DatabaseUrl::new(&direct_url);
    let follower = spawn_app_with(follower_settings, TestDatabase::sqlite().0).await;
    world.add_catalog(&skus(2), 10).await;
    world.wait_converged().await;
    assert!(!*follower.leader.borrow(), "two leaders");

    let first = record_leadership(world.app.leader.clone());
    let second = record_leadership(follower.leader.clone());
    proxy.set(ProxyMode::Stall);
    let cut_at = Instant::now();
    let mut leads = follower.leader.clone();
    tokio::time::timeout(
        TAKEOVER_BOUND + Duration::from_secs(5),
        leads.wait_for(|leading| *leading),
    )
    .await
    .expect("the other replica leads within the bound")
    .unwrap();
    let took_over_after = cut_at.elapsed();
    eprintln!("cut off: the other replica led {took_over_after:?} after the cut");

    // The recorders see the change on receivers of their own, a moment after this one did.
    let recorded = |changes: &Arc<Mutex<Vec<(Instant, bool)>>>, leading: bool| {
        changes
            .lock()
            .unwrap()
            .iter()
            .any(|(_, value)| *value == leading)
    };
    let settled = Instant::now() + Duration::from_secs(2);
    while !(recorded(&first, false) && recorded(&second, true)) && Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = first.lock().unwrap().clone();
    let second = second.lock().unwrap().clone();
    let gave_up_at = first
        .iter()
        .find(|(_, leading)| !leading)
        .map(|(at, _)| *at)
        .expect("the cut-off leader gave leadership up");
    let led_at = second
        .iter()
        .find(|(_, leading)| *leading)
        .map(|(at, _)| *at)
        .unwrap();
    // Its work stops within `LOST_LEADERSHIP_GRACE` of giving up; the lease leaves more.
    assert!(
        gave_up_at + LOST_LEADERSHIP_GRACE < led_at,
        "the old leader gave up {:?} after the cut, the new one led {took_over_after:?} after it",
        gave_up_at - cut_at
    );

    // The survivor pushes: a change booked there reaches every channel.
    follower
        .ledger
        .receive("SKU-01", "default", 5, &MovementMeta::new("after-the-cut"))
        .await
        .unwrap();
    wait_until("the new leader pushes", || async {
        world
            .markets
            .iter()
            .all(|market| market.sim.shown_quantity(&listing_of("SKU-01")) == Some(15))
    })
    .await;
    follower.stop().await.unwrap();
    proxy.set(ProxyMode::Forward);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_letter_retried_on_the_follower_is_sent_by_the_leader() {
    let (mut world, follower) = two_replicas(WorldPlan::default()).await;
    world.add_catalog(&skus(1), 10).await;
    world.wait_converged().await;
    // A listing bound in omnistock that the marketplace does not have: parked.
    world
        .app
        .ledger
        .bind_listing("sim-b", "L-GONE", "SKU-01", 1)
        .await
        .unwrap();
    let letters = wait_dead_letters(&follower, 1, "a dead letter").await;
    let letter = &letters[0];

    world
        .sim("sim-b")
        .create_listing(Some("L-GONE"), "SKU-01", 0)
        .unwrap();
    let (status, body) = follower
        .admin_post(
            ADMIN_TOKEN,
            &format!("/admin/dead-letters/{}/retry", letter["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_until("the leader sends the retried listing", || async {
        world.sim("sim-b").shown_quantity("L-GONE") == Some(10)
    })
    .await;
    follower.stop().await.unwrap();
    world.stop().await;
}

#[tokio::test]
async fn a_second_daemon_on_one_sqlite_file_refuses_to_start() {
    // SQLite has no leader election: two daemons on one file would both push to every channel.
    let (database, url) = TestDatabase::sqlite();
    let first = spawn_app_with(test_settings(&url), TestDatabase::sqlite().0).await;
    let refused = match App::build(test_settings(&url)).await {
        Ok(_) => panic!("a second daemon started on {url}"),
        Err(error) => error.to_string(),
    };
    assert!(refused.contains("ledger.db"), "{refused}");
    assert!(
        refused.contains(&format!("pid {}", std::process::id())),
        "{refused}"
    );

    // The lock goes with the daemon that held it.
    first.stop().await.unwrap();
    let second = spawn_app_with(test_settings(&url), TestDatabase::sqlite().0).await;
    second.stop().await.unwrap();
    drop(database);
}
