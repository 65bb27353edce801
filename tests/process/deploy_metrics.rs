//! Every metric that `deploy/grafana/omnistock.json` and `deploy/prometheus/omnistock-alerts.yml`
//! query is one that a running daemon exports on `/metrics`, so a renamed metric cannot leave
//! an empty panel or an alert that never fires.
use crate::common::TestDatabase;
use crate::service_notify::ManagedDaemon;
use omnistock_sim::{SimOptions, SimServer};
use std::collections::BTreeSet;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);
const QUERIED_BY: [&str; 2] = [
    "deploy/grafana/omnistock.json",
    "deploy/prometheus/omnistock-alerts.yml",
];

/// Every `omnistock_…` name in a file (queries are plain text in both formats).
fn metric_names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("omnistock_") {
        let tail = &rest[start..];
        let end = tail
            .find(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// The sample names of a Prometheus text exposition (`name{labels} value` or `name value`).
fn exported_samples(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_use_is_exported() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut wanted = BTreeSet::new();
    for file in QUERIED_BY {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let names = metric_names_in(&text);
        assert!(!names.is_empty(), "{file} names no omnistock metric");
        wanted.extend(names);
    }

    let database = TestDatabase::sqlite();
    let sim = SimServer::start(SimOptions::for_tests()).await.unwrap();
    let daemon = ManagedDaemon::start(&database.url, &sim);
    daemon.messages_until("READY=1").await;
    // Some series appear with the first call to the platform (the channel is polled).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let exposition = reqwest::get(format!("{}/metrics", daemon.base_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let exported = exported_samples(&exposition);
        let missing: Vec<&String> = wanted.difference(&exported).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "queried by the dashboard or alerts but not exported: {missing:?}\n\
             exported: {exported:?}\nlog:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn names_are_read_from_queries_and_expositions() {
    assert_eq!(
        metric_names_in(r#"rate(omnistock_a_total{channel=~"$channel"}[5m]) / omnistock_b"#),
        BTreeSet::from(["omnistock_a_total".to_string(), "omnistock_b".to_string()])
    );
    assert_eq!(
        exported_samples(
            "# TYPE omnistock_a counter\nomnistock_a_total{channel=\"x\"} 1\nomnistock_b 0\n"
        ),
        BTreeSet::from(["omnistock_a_total".to_string(), "omnistock_b".to_string()])
    );
}
