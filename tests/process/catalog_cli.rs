//! `omnistock listings discover` and `omnistock stock import --from-channel` as an operator
//! runs them, against a sim whose catalog holds every case: a listing already bound, new ones,
//! one whose SKU is no item, a SKU on two listings, a listing without SKU and one bound as a
//! multipack; on SQLite (the embedded default) and on PostgreSQL, each run its own database.
use crate::common::{TestBackend, TestDatabase};
use omnistock::ledger::{Ledger, MovementReason};
use omnistock_sim::{SimOptions, SimServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

async fn omnistock(config: &Path, arguments: &[&str]) -> Output {
    let config = config.to_path_buf();
    let arguments: Vec<String> = arguments.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_omnistock"))
            .arg("--config")
            .arg(&config)
            .args(&arguments)
            .env_remove("OMNISTOCK_CONFIG")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

fn counts(report: &Value) -> Vec<u64> {
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

fn write(folder: &Path, name: &str, body: &str) -> PathBuf {
    let path = folder.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

mod discovery_binds_the_unambiguous_listings_and_the_channel_seeds_the_count {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded() {
        discovery_and_count(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn production() {
        discovery_and_count(TestBackend::Postgres).await;
    }
}

async fn discovery_and_count(backend: TestBackend) {
    let sim = SimServer::start(SimOptions::for_tests()).await.unwrap();
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
    let folder = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(backend).await;
    let config = write(
        folder.path(),
        "omnistock.toml",
        &format!(
            "[database]\nurl = \"{}\"\n\n[[channels]]\nid = \"shop\"\nkind = \"sim\"\n\
             base_url = \"{}\"\napi_token = \"{}\"\nwebhook_secret = \"{}\"\n",
            database.url,
            sim.base_url(),
            sim.api_token().expose(),
            sim.webhook_secret().expose()
        ),
    );
    let stock = write(
        folder.path(),
        "stock.csv",
        "sku,location,on_hand\nA,default,1\nB,default,3\nC,default,0\nD,default,9\nE,default,6\n",
    );
    ok(&omnistock(&config, &["stock", "import", &stock.display().to_string()]).await);
    let listings = write(
        folder.path(),
        "listings.csv",
        "channel,listing_id,sku,multiplier\nshop,L-D,D,2\nshop,L-E,E,1\n",
    );
    ok(&omnistock(
        &config,
        &["listings", "import", &listings.display().to_string()],
    )
    .await);

    let discover = [
        "listings",
        "discover",
        "--channel",
        "shop",
        "--format",
        "json",
    ];
    let dry_run = omnistock(&config, &discover).await;
    let report: Value = serde_json::from_str(&ok(&dry_run)).unwrap();
    assert_eq!(counts(&report), vec![1, 2, 1, 3, 1], "{report:#}");
    assert_eq!(report["listings"], 8);
    assert!(report["applied"].is_null());
    let new: Vec<&str> = report["examples"]["new"]
        .as_array()
        .unwrap()
        .iter()
        .map(|example| example["listing_id"].as_str().unwrap())
        .collect();
    assert_eq!(new, vec!["L-A", "L-B"]);
    assert!(text(&dry_run.stderr).contains("dry run: nothing bound"));
    // A dry run binds nothing: the same report again.
    let again: Value = serde_json::from_str(&ok(&omnistock(&config, &discover).await)).unwrap();
    assert_eq!(counts(&again), vec![1, 2, 1, 3, 1]);
    let dry_run_file = write(folder.path(), "dry-run.json", &ok(&dry_run));

    // Between the dry run and --apply an operator binds L-B: apply leaves it as it is, binds
    // only L-A, and says which classes changed since the dry run.
    let by_hand = write(
        folder.path(),
        "by-hand.csv",
        "channel,listing_id,sku\nshop,L-B,B\n",
    );
    ok(&omnistock(
        &config,
        &["listings", "import", &by_hand.display().to_string()],
    )
    .await);
    let applied = omnistock(
        &config,
        &[
            "listings",
            "discover",
            "--channel",
            "shop",
            "--apply",
            "--since",
            &dry_run_file.display().to_string(),
            "--format",
            "json",
        ],
    )
    .await;
    let applied_report: Value = serde_json::from_str(&ok(&applied)).unwrap();
    assert_eq!(applied_report["applied"], 1, "{applied_report:#}");
    assert_eq!(applied_report["recheck"]["left_alone"], 0);
    assert_eq!(
        applied_report["since_dry_run"],
        serde_json::json!([
            { "class": "bound", "dry_run": 1, "now": 2 },
            { "class": "new", "dry_run": 2, "now": 1 },
        ]),
        "{applied_report:#}"
    );
    assert!(
        text(&applied.stderr).contains("1 listing(s) bound"),
        "{}",
        text(&applied.stderr)
    );
    let after: Value = serde_json::from_str(&ok(&omnistock(&config, &discover).await)).unwrap();
    assert_eq!(counts(&after), vec![3, 0, 1, 3, 1], "{after:#}");

    let unknown = omnistock(&config, &["listings", "discover", "--channel", "nowhere"]).await;
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("unknown channel \"nowhere\""));

    // The count from the channel: A shows 5 (on hand 1), B and E already match, C is on two
    // listings showing the same quantity (2; on hand 0), D is a multipack (left out), X is no
    // item, and the listing without SKU is left out.
    let import = [
        "stock",
        "import",
        "--from-channel",
        "shop",
        "--format",
        "json",
    ];
    let dry_count: Value = serde_json::from_str(&ok(&omnistock(&config, &import).await)).unwrap();
    let changes: Vec<(String, i64, i64, i64)> = dry_count["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| {
            (
                change["sku"].as_str().unwrap().to_string(),
                change["on_hand"].as_i64().unwrap(),
                change["channel_quantity"].as_i64().unwrap(),
                change["change"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![("A".into(), 1, 5, 4), ("C".into(), 0, 2, 2)],
        "{dry_count:#}"
    );
    assert_eq!(dry_count["unchanged"], 2);
    assert_eq!(dry_count["skipped"]["bound_differently"], 1);
    assert_eq!(dry_count["skipped"]["unmatched"], 1);
    assert_eq!(dry_count["skipped"]["no_sku"], 1);
    let exported = ok(&omnistock(&config, &["stock", "export"]).await);
    assert!(
        exported.contains("A,default,1,0,1"),
        "a dry run changed stock: {exported}"
    );

    let counted = omnistock(
        &config,
        &["stock", "import", "--from-channel", "shop", "--apply"],
    )
    .await;
    let table = ok(&counted);
    assert!(table.contains("A") && table.contains("+4"), "{table}");
    assert!(text(&counted.stderr).contains("2 count(s) applied at default from channel shop"));
    let exported = ok(&omnistock(&config, &["stock", "export"]).await);
    assert!(exported.contains("A,default,5,0,5"), "{exported}");
    assert!(exported.contains("C,default,2,0,2"), "{exported}");
    assert!(exported.contains("D,default,9,0,9"), "{exported}");

    let ledger = Ledger::connect(&database.url).await.unwrap();
    let journal = ledger.movements("A", 0, 100).await.unwrap();
    let last = journal.last().unwrap();
    assert_eq!(last.reason, MovementReason::Count);
    assert_eq!(last.on_hand_delta, 4);
    assert_eq!(last.actor.as_deref(), Some("channel:shop"));
    ledger.close().await;
    // Counted again, nothing changes.
    let again: Value = serde_json::from_str(&ok(&omnistock(&config, &import).await)).unwrap();
    assert_eq!(again["changes"].as_array().unwrap().len(), 0, "{again:#}");
}
