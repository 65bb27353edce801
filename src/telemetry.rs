//! Logging: tracing events to standard output, as text for people or JSON for collectors.

use crate::settings::{LogFormat, LogSettings};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Why logging could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("RUST_LOG: {0}")]
    InvalidRustLog(String),
    #[error("log.level: {0}")]
    InvalidLevel(String),
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Installs the process's logger: the filter is `RUST_LOG` when set, else `log.level`; the
/// format is `log.format`, where `auto` means text on a terminal and JSON otherwise.
///
/// Nothing secret reaches a log: settings carry secrets in `Secret` and URLs are logged redacted.
pub fn init(settings: &LogSettings) -> Result<(), TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::builder()
            .parse(&directives)
            .map_err(|error| TelemetryError::InvalidRustLog(error.to_string()))?,
        _ => EnvFilter::builder()
            .parse(settings.level.as_str())
            .map_err(|error| TelemetryError::InvalidLevel(error.to_string()))?,
    };
    let terminal = std::io::stdout().is_terminal();
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = if json {
        builder
            .json()
            .flatten_event(false)
            .with_current_span(true)
            .try_init()
    } else {
        builder.with_ansi(terminal).try_init()
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)
}
