//! `omnistock bench`: every scenario, tiny, on the embedded set-up, and one on PostgreSQL +
//! RabbitMQ. Proves the benchmarks run, measure what they say and clean up after themselves;
//! never judges speed.
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use std::process::Command;

const POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Runs `omnistock bench <args>`, checks it succeeded and printed a table, and returns the
/// figures of its last line.
fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_omnistock"))
        .arg("bench")
        .args(args)
        .env_remove("OMNISTOCK_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let figures: Value = serde_json::from_str(last)
        .unwrap_or_else(|error| panic!("last line is not JSON ({error}): {stdout}"));
    assert_eq!(figures["scenario"], args[0]);
    assert!(
        stdout.starts_with(&format!("omnistock bench {}", args[0])),
        "{stdout}"
    );
    figures
}

fn number(figures: &Value, key: &str) -> f64 {
    figures[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing: {figures}"))
}

fn check_propagation(figures: &Value, orders: f64) {
    assert_eq!(number(figures, "accepted"), orders, "{figures}");
    assert_eq!(number(figures, "measured"), orders, "{figures}");
    assert_eq!(figures["converged"], true, "{figures}");
    assert!(number(figures, "propagation_p50_ms") <= number(figures, "propagation_max_ms"));
}

#[test]
fn every_scenario_runs_tiny_on_the_embedded_set_up() {
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "propagation",
            vec![
                "propagation",
                "--orders",
                "30",
                "--rate",
                "60",
                "--skus",
                "5",
            ],
        ),
        (
            "ingest",
            vec![
                "ingest",
                "--seconds",
                "0.5",
                "--senders",
                "2,4",
                "--skus",
                "20",
                "--lines",
                "2",
            ],
        ),
        (
            "burst",
            vec![
                "burst",
                "--orders",
                "40",
                "--skus",
                "10",
                "--seconds",
                "0.3",
                "--rate-limit",
                "20/s",
            ],
        ),
        (
            "resync",
            vec![
                "resync",
                "--skus",
                "120",
                "--rate-limit",
                "20/s",
                "--max-batch",
                "20",
            ],
        ),
        (
            "footprint",
            vec![
                "footprint",
                "--skus",
                "200",
                "--channels",
                "2",
                "--settle",
                "0.2",
            ],
        ),
        (
            "discover",
            vec![
                "discover",
                "--listings",
                "2500",
                "--known-percent",
                "80",
                "--rate-limit",
                "50/s",
                "--apply",
            ],
        ),
        (
            "faults",
            vec![
                "faults",
                "--faults",
                "kill,broker,outage",
                "--channels",
                "2",
                "--skus",
                "4",
                "--rate",
                "20",
                "--down",
                "0.5",
                "--outage",
                "3",
                "--patience",
                "60",
            ],
        ),
        (
            "report",
            vec![
                "report",
                "--order-lines",
                "400",
                "--days",
                "3",
                "--skus",
                "10",
            ],
        ),
        (
            "history",
            vec![
                "history",
                "--skus",
                "50",
                "--channels",
                "2",
                "--rounds",
                "2",
            ],
        ),
    ];
    let handles: Vec<_> = runs
        .into_iter()
        .map(|(name, args)| (name, std::thread::spawn(move || bench(&args))))
        .collect();
    for (name, handle) in handles {
        let figures = handle.join().unwrap_or_else(|_| panic!("{name} panicked"));
        assert_eq!(figures["database"], "sqlite");
        assert_eq!(figures["bus"], "memory");
        // The temporary SQLite file is gone.
        let file = figures["database_name"].as_str().unwrap();
        assert!(!std::path::Path::new(file).exists(), "{name} left {file}");
        match name {
            "propagation" => check_propagation(&figures, 30.0),
            "ingest" => {
                assert!(number(&figures, "orders_booked") >= 1.0, "{figures}");
                assert_eq!(number(&figures, "other_answers"), 0.0, "{figures}");
                let lines = number(&figures, "lines_per_s");
                let orders = number(&figures, "orders_per_s");
                assert!((lines - orders * 2.0).abs() < 0.05, "{figures}");
                assert_eq!(figures["converged"], true, "{figures}");
                // One step per sender count; the headline is the fastest of them.
                let steps = figures["steps"].as_array().unwrap();
                let senders: Vec<_> = steps.iter().map(|step| step["senders"].clone()).collect();
                assert_eq!(senders, [2, 4], "{figures}");
                let fastest = steps
                    .iter()
                    .map(|step| step["lines_per_s"].as_f64().unwrap())
                    .fold(0.0, f64::max);
                assert_eq!(lines, fastest, "{figures}");
            }
            "burst" => {
                assert_eq!(number(&figures, "accepted"), 40.0, "{figures}");
                assert!(number(&figures, "calls") >= 1.0, "{figures}");
                assert!(number(&figures, "ideal_calls") >= 1.0, "{figures}");
                assert_eq!(figures["converged"], true, "{figures}");
            }
            "resync" => {
                // 120 listings in batches of 20: six calls to each of the two channels.
                for channel in figures["per_channel"].as_array().unwrap() {
                    assert_eq!(channel["calls"], 6, "{figures}");
                }
                assert!(number(&figures, "fraction_of_limit") > 0.0, "{figures}");
            }
            "footprint" => {
                assert_eq!(number(&figures, "listings"), 400.0, "{figures}");
                if std::path::Path::new("/proc/self/status").exists() {
                    assert!(number(&figures, "idle_rss_mib") > 1.0, "{figures}");
                    assert!(number(&figures, "catalog_peak_rss_mib") > 1.0, "{figures}");
                }
                assert!(number(&figures, "idle_ready_ms") > 0.0, "{figures}");
                // An operator's look at the channels answers, and counts every channel.
                assert!(
                    number(&figures, "catalog_channel_status_ms") > 0.0,
                    "{figures}"
                );
                assert!(
                    number(&figures, "catalog_out_of_date_counted_ms")
                        >= number(&figures, "catalog_channel_status_ms"),
                    "{figures}"
                );
            }
            "discover" => {
                // 2,500 listings in pages of 1,000: three catalog calls; 80 % are items.
                assert_eq!(number(&figures, "listings"), 2500.0, "{figures}");
                assert_eq!(number(&figures, "catalog_calls"), 3.0, "{figures}");
                assert_eq!(number(&figures, "new"), 2000.0, "{figures}");
                assert_eq!(number(&figures, "unmatched"), 500.0, "{figures}");
                assert!(number(&figures, "apply_ms") > 0.0, "{figures}");
            }
            "faults" => {
                let faults = figures["faults"].as_array().unwrap();
                let names: Vec<_> = faults.iter().map(|fault| fault["fault"].clone()).collect();
                assert_eq!(names, ["kill", "broker", "outage"], "{figures}");
                // No broker on the embedded set-up: that fault is reported as skipped.
                assert!(faults[1]["skipped"].is_string(), "{figures}");
                for struck in [&faults[0], &faults[2]] {
                    assert!(struck["placed"].as_u64().unwrap() > 0, "{figures}");
                    assert_eq!(struck["booked"], struck["placed"], "{figures}");
                }
                assert_eq!(number(&figures, "lost"), 0.0, "{figures}");
                assert_eq!(number(&figures, "booked_twice"), 0.0, "{figures}");
                assert_eq!(figures["converged"], true, "{figures}");
            }
            "report" => {
                for granularity in ["day", "week", "month"] {
                    assert!(
                        number(&figures, &format!("report_{granularity}_ms")) > 0.0,
                        "{figures}"
                    );
                }
            }
            "history" => {
                // Two rounds of new quantities for 100 listings: one row per listing and round.
                assert_eq!(number(&figures, "history_rows"), 200.0, "{figures}");
            }
            other => panic!("unexpected scenario {other}"),
        }
    }
}

#[tokio::test]
async fn propagation_runs_on_postgres_and_rabbitmq_and_drops_its_database() {
    let figures = tokio::task::spawn_blocking(|| {
        bench(&[
            "propagation",
            "--orders",
            "20",
            "--rate",
            "40",
            "--skus",
            "5",
            "--channels",
            "2",
            "--database",
            POSTGRES_SERVER,
            "--bus",
            AMQP_URL,
        ])
    })
    .await
    .unwrap();
    assert_eq!(figures["database"], "postgres");
    assert_eq!(figures["bus"], "rabbitmq");
    check_propagation(&figures, 20.0);
    let name = figures["database_name"].as_str().unwrap().to_string();
    assert!(name.starts_with("omnistock_bench_"), "{name}");
    let mut admin = PgConnection::connect(POSTGRES_SERVER).await.unwrap();
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "the benchmark database {name} was not dropped");
}
