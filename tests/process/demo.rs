//! `omnistock demo`, the README's first command, tiny: it runs the daemon on the embedded
//! default with simulated marketplaces, ends converged and leaves no database behind.
use std::process::Command;

#[test]
fn a_tiny_demo_converges_and_cleans_up() {
    // TMPDIR of its own, so the check of what is left behind sees only this run.
    let temporary = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_omnistock"))
        .args([
            "demo",
            "--orders",
            "20",
            "--rate",
            "50",
            "--channels",
            "2",
            "--skus",
            "3",
        ])
        .env("TMPDIR", temporary.path())
        .env_remove("OMNISTOCK_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = |label: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"))
            .to_string()
    };
    let placed = summary("orders placed");
    assert!(placed.starts_with("20 "), "{stdout}");
    // "20 (3 cancelled, …": each order and each cancellation booked once, none twice.
    let cancelled: u64 = placed
        .split_once('(')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no cancellations in {placed:?}"));
    let booked = summary("order events booked");
    assert!(
        booked.starts_with(&format!("{} ", 20 + cancelled)),
        "{stdout}"
    );
    assert!(summary("converged").starts_with("yes"), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(temporary.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "the demo left {left:?} behind");
}
