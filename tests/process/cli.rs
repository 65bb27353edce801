//! The `omnistock` binary as an operator runs it: configuration errors, `check-config`,
//! `migrate`, and `serve` stopping on SIGTERM.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const GOOD_CONFIG: &str = r#"
[database]
url = "postgres://omnistock:db-password-123@127.0.0.1:5432/omnistock"

[admin]
token = "admin-token-456"

[[channels]]
id = "sim-shop"
kind = "sim"
rate_limit = "5/s"
poll_interval = "30s"
base_url = "http://127.0.0.1:9090"
api_token = "api-token-789"
webhook_secret = "webhook-secret-000"
"#;

/// `omnistock` with a clean environment: no inherited `OMNISTOCK_*` or `RUST_LOG`.
fn omnistock() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnistock"));
    for (name, _) in std::env::vars() {
        if name.starts_with("OMNISTOCK") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null());
    command
}

fn write_config(directory: &Path, text: &str) -> PathBuf {
    let path = directory.join("omnistock.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a failed run that printed exactly one `error: …` line, and returns that line.
fn single_error_line(output: &Output) -> String {
    let stderr = stderr(output);
    assert!(
        !output.status.success(),
        "expected failure, stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    lines[0].to_string()
}

fn check_config(config: &Path) -> Command {
    let mut command = omnistock();
    command.arg("check-config").arg("--config").arg(config);
    command
}

#[test]
fn check_config_prints_effective_settings_with_secrets_redacted() {
    let directory = tempfile::tempdir().unwrap();
    let config = write_config(directory.path(), GOOD_CONFIG);
    let output = check_config(&config).output().unwrap();
    let printed = stdout(&output);
    assert!(output.status.success(), "stderr: {}", stderr(&output));

    for secret in [
        "db-password-123",
        "admin-token-456",
        "api-token-789",
        "webhook-secret-000",
    ] {
        assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
    }
    assert!(printed.contains("[redacted]"), "{printed}");
    assert!(
        printed.contains("omnistock:[redacted]@127.0.0.1:5432"),
        "{printed}"
    );
    // Defaults are filled in, and the file's values kept.
    assert!(printed.contains("listen = \"127.0.0.1:8080\""), "{printed}");
    assert!(printed.contains("url = \"memory://\""), "{printed}");
    assert!(printed.contains("rate_limit = \"5/s\""), "{printed}");
    assert!(printed.contains("poll_interval = \"30s\""), "{printed}");
    assert!(
        printed.contains("base_url = \"http://127.0.0.1:9090\""),
        "{printed}"
    );
    // What it printed is itself a valid configuration.
    let reloaded = write_config(directory.path(), &printed);
    assert!(check_config(&reloaded).output().unwrap().status.success());
}

#[test]
fn the_example_configuration_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/omnistock.toml");
    let output = check_config(&example).output().unwrap();
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert!(
        !stdout(&output).contains("sim-token"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_bad_rate_limit_is_one_line_naming_the_channel_and_key() {
    let directory = tempfile::tempdir().unwrap();
    let config = write_config(
        directory.path(),
        &GOOD_CONFIG.replace("rate_limit = \"5/s\"", "rate_limit = \"fast\""),
    );
    let output = check_config(&config).output().unwrap();
    assert_eq!(
        single_error_line(&output),
        r#"error: channels[0].rate_limit: expected "N/s" or "N/min", got "fast""#
    );
}

#[test]
fn an_unknown_key_is_refused_by_name() {
    let directory = tempfile::tempdir().unwrap();
    let config = write_config(
        directory.path(),
        "[http]\nlisten_address = \"0.0.0.0:80\"\n",
    );
    let output = check_config(&config).output().unwrap();
    let line = single_error_line(&output);
    assert!(line.contains("http.listen_address"), "{line}");
    assert!(line.contains("unknown field"), "{line}");
}

#[test]
fn a_missing_file_or_broken_toml_is_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let output = check_config(&directory.path().join("absent.toml"))
        .output()
        .unwrap();
    assert!(single_error_line(&output).contains("absent.toml"));

    let config = write_config(directory.path(), "[http]\nlisten = \n");
    let line = single_error_line(&check_config(&config).output().unwrap());
    assert!(line.contains("line 2"), "{line}");
}

#[test]
fn the_environment_overrides_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let config = write_config(directory.path(), GOOD_CONFIG);
    let output = check_config(&config)
        .env("OMNISTOCK__HTTP__LISTEN", "0.0.0.0:9999")
        .env("OMNISTOCK__DATABASE__MAX_CONNECTIONS", "3")
        .output()
        .unwrap();
    let printed = stdout(&output);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert!(printed.contains("listen = \"0.0.0.0:9999\""), "{printed}");
    assert!(printed.contains("max_connections = 3"), "{printed}");
}

#[test]
fn the_config_file_can_come_from_omnistock_config() {
    let directory = tempfile::tempdir().unwrap();
    let config = write_config(directory.path(), "[http]\nlisten = \"127.0.0.1:7777\"\n");
    let output = omnistock()
        .arg("check-config")
        .env("OMNISTOCK_CONFIG", &config)
        .output()
        .unwrap();
    assert!(
        stdout(&output).contains("127.0.0.1:7777"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_bad_environment_override_is_one_line_naming_the_variable() {
    let directory = tempfile::tempdir().unwrap();
    let config = write_config(directory.path(), GOOD_CONFIG);
    let output = check_config(&config)
        .env("OMNISTOCK__HTTP__LISTEN", "nonsense")
        .output()
        .unwrap();
    let line = single_error_line(&output);
    assert!(line.starts_with("error: http.listen: "), "{line}");
    assert!(line.contains("OMNISTOCK__HTTP__LISTEN"), "{line}");
}

#[test]
fn migrate_against_an_unreachable_database_is_one_line_without_a_panic() {
    let output = omnistock()
        .arg("migrate")
        .env(
            "OMNISTOCK__DATABASE__URL",
            "postgres://postgres:pw-999@127.0.0.1:1/omnistock",
        )
        .env("OMNISTOCK__LOG__LEVEL", "off")
        .output()
        .unwrap();
    let line = single_error_line(&output);
    assert!(line.contains("127.0.0.1:1"), "{line}");
    assert!(!line.contains("pw-999"), "{line}");
}

#[test]
fn version_and_help() {
    let output = omnistock().arg("--version").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("omnistock {}", env!("CARGO_PKG_VERSION"))
    );

    let help = stdout(&omnistock().arg("--help").output().unwrap());
    for expected in [
        "serve",
        "migrate",
        "check-config",
        "--config",
        "OMNISTOCK__",
    ] {
        assert!(help.contains(expected), "--help lacks {expected}:\n{help}");
    }
}

#[test]
fn serve_answers_health_checks_and_stops_cleanly_on_sigterm() {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("ledger.db");
    let mut child = omnistock()
        .arg("serve")
        .env(
            "OMNISTOCK__DATABASE__URL",
            format!("sqlite://{}", database.display()),
        )
        .env("OMNISTOCK__HTTP__LISTEN", "127.0.0.1:0")
        .env("OMNISTOCK__LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The readiness event carries the bound address; read log lines until it comes.
    let (lines_sender, lines) = mpsc::channel();
    let log = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in log.lines().map_while(Result::ok) {
            if lines_sender.send(line).is_err() {
                break;
            }
        }
    });
    let address = loop {
        let line = match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(error) => {
                let _ = child.kill();
                panic!("no readiness log line: {error}");
            }
        };
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["fields"]["message"] == "omnistock ready" {
            assert_eq!(event["level"], "INFO");
            assert!(event["fields"]["database"]
                .as_str()
                .unwrap()
                .starts_with("sqlite://"));
            assert_eq!(event["fields"]["bus"], "memory://");
            break event["fields"]["listen"].as_str().unwrap().to_string();
        }
    };

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let statuses = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for path in ["/healthz", "/readyz"] {
            let response = client
                .get(format!("http://{address}{path}"))
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        statuses
    });
    assert_eq!(statuses, [200, 200]);

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "exit: {:?}, stderr: {}",
        output.status,
        stderr(&output)
    );
    let rest: Vec<String> = lines.iter().collect();
    assert!(
        rest.iter().any(|line| line.contains("shutdown requested")),
        "{rest:?}"
    );
}
