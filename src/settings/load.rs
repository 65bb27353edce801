//! Reading the layers (file, then environment) and turning every failure into one line that
//! names the key.

use super::{validate, Settings};
use config::{ConfigError, Environment, File, FileFormat};
use std::collections::HashMap;
use std::path::Path;

/// Environment variables `OMNISTOCK__SECTION__KEY` override the file (`__` separates levels).
pub const ENVIRONMENT_PREFIX: &str = "OMNISTOCK";
const LEVEL_SEPARATOR: &str = "__";

/// Why the settings could not be loaded. Each message is one line naming the file or the key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or is not TOML.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// A key is unknown, or its value is of the wrong type or refused by a check.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// The settings loaded but could not be printed back.
    #[error("cannot render the settings as toml: {0}")]
    Render(String),
}

impl Settings {
    /// Loads defaults, then `file` (if any), then the process's `OMNISTOCK__…` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_with_environment(file, std::env::vars())
    }

    /// [`Settings::load`] with the environment given explicitly, so tests need not change the
    /// process's environment.
    pub fn load_with_environment(
        file: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| SettingsError::File {
                    path: path.display().to_string(),
                    message: format!("cannot read the file: {error}"),
                })?;
                Some((path.display().to_string(), text))
            }
            None => None,
        };
        let file = file
            .as_ref()
            .map(|(path, text)| (path.as_str(), text.as_str()));
        load_layers(file, environment.into_iter().collect())
    }

    /// Loads defaults, then `toml` (reported as `origin` in errors), then `environment`.
    pub fn from_toml(
        origin: &str,
        toml: &str,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        load_layers(Some((origin, toml)), environment.into_iter().collect())
    }
}

fn load_layers(
    file: Option<(&str, &str)>,
    environment: HashMap<String, String>,
) -> Result<Settings, SettingsError> {
    let overrides: HashMap<String, String> = environment
        .into_iter()
        .filter(|(name, _)| name.starts_with(&format!("{ENVIRONMENT_PREFIX}{LEVEL_SEPARATOR}")))
        .collect();

    let mut builder = config::Config::builder();
    if let Some((path, text)) = file {
        check_toml_syntax(path, text)?;
        builder = builder.add_source(File::from_str(text, FileFormat::Toml));
    }
    builder = builder.add_source(
        Environment::with_prefix(ENVIRONMENT_PREFIX)
            .prefix_separator(LEVEL_SEPARATOR)
            .separator(LEVEL_SEPARATOR)
            .source(Some(overrides.clone().into_iter().collect())),
    );
    let layered = builder.build().map_err(|error| SettingsError::Invalid {
        key: "configuration".to_string(),
        message: one_line(&plain_message(&error)),
    })?;

    let settings: Settings = serde_path_to_error::deserialize(layered).map_err(|error| {
        let key = error.path().to_string();
        let mut message = one_line(&plain_message(error.inner()));
        if let Some(variable) = overriding_variable(&key, &overrides) {
            message.push_str(&format!(" (set by {variable})"));
        }
        SettingsError::Invalid { key, message }
    })?;
    validate::check(&settings)?;
    Ok(settings)
}

/// Parses the file once as plain TOML first, because the config crate's parse errors span
/// several lines; this gives the line number and the problem in one.
fn check_toml_syntax(path: &str, text: &str) -> Result<(), SettingsError> {
    toml::from_str::<toml::Table>(text)
        .map(drop)
        .map_err(|error| {
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = one_line(error.message());
            SettingsError::File {
                path: path.to_string(),
                message: match line {
                    Some(line) => format!("line {line}: {message}"),
                    None => message,
                },
            }
        })
}

/// The environment variable that set `key`, if one did, so the error points at it.
fn overriding_variable(key: &str, overrides: &HashMap<String, String>) -> Option<String> {
    let variable = format!(
        "{ENVIRONMENT_PREFIX}{LEVEL_SEPARATOR}{}",
        key.replace('.', LEVEL_SEPARATOR).to_uppercase()
    );
    overrides
        .keys()
        .find(|name| name.eq_ignore_ascii_case(&variable))
        .cloned()
}

/// The config crate's message without the key and origin it appends: the path tracked by
/// `serde_path_to_error` names the key more precisely.
fn plain_message(error: &ConfigError) -> String {
    let message = match error {
        ConfigError::Type {
            unexpected,
            expected,
            ..
        } => format!("invalid type: {unexpected}, expected {expected}"),
        ConfigError::At { error, .. } => return plain_message(error),
        other => other.to_string(),
    };
    name_tables_as_written(&message)
}

/// serde names a section by its Rust type ("expected struct HttpSettings"); an operator wrote a
/// TOML table.
fn name_tables_as_written(message: &str) -> String {
    const RUST_STRUCT: &str = "expected struct ";
    match message.find(RUST_STRUCT) {
        Some(start) => {
            let rest = &message[start + RUST_STRUCT.len()..];
            let name_end = rest
                .find(|character: char| !character.is_alphanumeric())
                .unwrap_or(rest.len());
            format!("{}expected a table{}", &message[..start], &rest[name_end..])
        }
        None => message.to_string(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn load(toml: &str, environment: &[(&str, &str)]) -> Result<Settings, String> {
        let environment = environment
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()));
        Settings::from_toml("test.toml", toml, environment).map_err(|error| error.to_string())
    }

    const TWO_CHANNELS: &str = r#"
        [[channels]]
        id = "first"
        kind = "sim"
        base_url = "http://127.0.0.1:1"
        api_token = "a"
        webhook_secret = "b"

        [[channels]]
        id = "second"
        kind = "sim"
        rate_limit = "RATE"
        base_url = "http://127.0.0.1:2"
        api_token = "c"
        webhook_secret = "d"
    "#;

    #[test]
    fn defaults_apply_without_a_file() {
        let settings = load("", &[]).unwrap();
        assert_eq!(settings.database.url.expose(), "sqlite://omnistock.db");
        assert!(settings.database.migrate_on_start);
        assert_eq!(settings.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.http.max_body_bytes, 1024 * 1024);
        assert_eq!(settings.bus.url.expose(), "memory://");
        assert!(settings.admin.token.is_none());
        assert!(settings.channels.is_empty());
    }

    #[test]
    fn channel_errors_name_the_index_as_configured() {
        let error = load(&TWO_CHANNELS.replace("RATE", "fast"), &[]).unwrap_err();
        assert_eq!(
            error,
            r#"channels[1].rate_limit: expected "N/s" or "N/min", got "fast""#
        );
        let settings = load(&TWO_CHANNELS.replace("RATE", "40/min"), &[]).unwrap();
        assert_eq!(
            settings.channels[1].rate_limit.unwrap().to_string(),
            "40/min"
        );
        assert!(settings.channels[0].enabled);
        assert_eq!(settings.channels[0].location, "default");
        assert_eq!(settings.channels[0].poll_interval, None);
    }

    #[test]
    fn channel_ids_must_be_well_formed_and_unique() {
        let toml = TWO_CHANNELS.replace("RATE", "1/s");
        let error = load(&toml.replace("\"second\"", "\"first\""), &[]).unwrap_err();
        assert_eq!(
            error,
            r#"channels[1].id: "first" is already the id of channels[0]"#
        );
        let error = load(&toml.replace("\"second\"", "\"Second Shop\""), &[]).unwrap_err();
        assert!(error.starts_with("channels[1].id: "), "{error}");
    }

    #[test]
    fn unknown_kinds_and_unknown_kind_options_are_refused() {
        let toml = TWO_CHANNELS.replace("RATE", "1/s");
        let error = load(&toml.replacen("kind = \"sim\"", "kind = \"ebay\"", 1), &[]).unwrap_err();
        assert!(
            error.starts_with("channels[0].kind: unknown kind \"ebay\""),
            "{error}"
        );
        let error = load(
            &toml.replace("base_url = \"http://127.0.0.1:2\"", "base_uri = \"x\""),
            &[],
        )
        .unwrap_err();
        assert!(error.starts_with("channels[1]: "), "{error}");
        assert!(error.contains("base_uri"), "{error}");
    }

    #[test]
    fn webhook_delivery_retention_outlasts_the_platforms_redeliveries() {
        let settings = load("", &[]).unwrap();
        assert_eq!(
            settings.housekeeping.webhook_delivery_retention,
            std::time::Duration::from_secs(30 * 24 * 3600)
        );
        let error = load(
            "[housekeeping]\nwebhook_delivery_retention = \"48h\"\n",
            &[],
        )
        .unwrap_err();
        assert!(
            error.starts_with("housekeeping.webhook_delivery_retention: must be at least 3d"),
            "{error}"
        );
        let settings = load("[housekeeping]\nwebhook_delivery_retention = \"3d\"\n", &[]).unwrap();
        assert_eq!(
            settings.housekeeping.webhook_delivery_retention,
            std::time::Duration::from_secs(3 * 24 * 3600)
        );
    }

    #[test]
    fn poll_interval_is_a_duration() {
        let toml = TWO_CHANNELS.replace("rate_limit = \"RATE\"", "poll_interval = \"5m\"");
        let settings = load(&toml, &[]).unwrap();
        assert_eq!(
            settings.channels[1].poll_interval,
            Some(std::time::Duration::from_secs(300))
        );
        let error = load(&toml.replace("\"5m\"", "\"soon\""), &[]).unwrap_err();
        assert!(
            error.starts_with("channels[1].poll_interval: expected a duration"),
            "{error}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_in_every_section() {
        let error = load("[database]\nurl = \"sqlite://x.db\"\npool = 3\n", &[]).unwrap_err();
        assert!(
            error.starts_with("database.pool: unknown field `pool`"),
            "{error}"
        );
        let error = load("colour = \"blue\"\n", &[]).unwrap_err();
        assert!(
            error.starts_with("colour: unknown field `colour`"),
            "{error}"
        );
        let error = load("", &[("OMNISTOCK__HTTP__PORT", "80")]).unwrap_err();
        assert!(
            error.contains("http.port") && error.contains("OMNISTOCK__HTTP__PORT"),
            "{error}"
        );
    }

    #[test]
    fn the_environment_wins_and_is_parsed_to_the_right_type() {
        let toml = "[http]\nlisten = \"127.0.0.1:1000\"\n[database]\nmigrate_on_start = true\n";
        let settings = load(
            toml,
            &[
                ("OMNISTOCK__HTTP__LISTEN", "0.0.0.0:2000"),
                ("OMNISTOCK__HTTP__MAX_BODY_BYTES", "4096"),
                ("OMNISTOCK__DATABASE__MIGRATE_ON_START", "false"),
                ("OMNISTOCK__ADMIN__TOKEN", "0123"),
                ("OMNISTOCK_CONFIG", "ignored.toml"),
                ("UNRELATED", "1"),
            ],
        )
        .unwrap();
        assert_eq!(settings.http.listen.to_string(), "0.0.0.0:2000");
        assert_eq!(settings.http.max_body_bytes, 4096);
        assert!(!settings.database.migrate_on_start);
        assert_eq!(settings.admin.token.unwrap().expose(), "0123");
    }

    #[test]
    fn bad_values_name_the_key_and_the_variable_that_set_them() {
        let error = load("", &[("OMNISTOCK__HTTP__LISTEN", "nonsense")]).unwrap_err();
        assert!(error.starts_with("http.listen: "), "{error}");
        assert!(
            error.ends_with("(set by OMNISTOCK__HTTP__LISTEN)"),
            "{error}"
        );
        let error = load("[http]\nmax_body_bytes = \"lots\"\n", &[]).unwrap_err();
        assert!(error.starts_with("http.max_body_bytes: "), "{error}");
        let error = load("[log]\nformat = \"xml\"\n", &[]).unwrap_err();
        assert!(error.starts_with("log.format: "), "{error}");
        let error = load("[log]\nlevel = \"loud=[\"\n", &[]).unwrap_err();
        assert!(error.starts_with("log.level: "), "{error}");
        let error = load("http = 3\n", &[]).unwrap_err();
        assert_eq!(error, "http: invalid type: integer `3`, expected a table");
    }

    #[test]
    fn only_memory_and_amqp_buses_are_accepted() {
        let settings = load(
            "[bus]\nurl = \"amqp://guest:guest@127.0.0.1:5672/%2f\"\n",
            &[],
        )
        .unwrap();
        assert!(!settings.redacted_bus_url().contains("guest@"));
        load(
            "[bus]\nurl = \"amqps://guest:guest@broker.example:5671/%2f\"\n",
            &[],
        )
        .unwrap();
        let error = load("[bus]\nurl = \"redis://user:pw@127.0.0.1\"\n", &[]).unwrap_err();
        assert!(
            error.starts_with("bus.url: expected \"memory://\""),
            "{error}"
        );
        assert!(!error.contains("pw"), "{error}");
    }

    #[test]
    fn booking_writers_must_be_at_least_one() {
        let settings = load("[database]\nbooking_writers = 2\n", &[]).unwrap();
        assert_eq!(settings.database.booking_writers, Some(2));
        let error = load("[database]\nbooking_writers = 0\n", &[]).unwrap_err();
        assert_eq!(error, "database.booking_writers: must be at least 1");
    }

    #[test]
    fn syntax_errors_give_the_file_and_line_on_one_line() {
        let error = load("[http]\nlisten = \n", &[]).unwrap_err();
        assert!(error.starts_with("test.toml: line 2: "), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn rendering_hides_secrets_and_reloads_to_the_same_settings() {
        let toml = TWO_CHANNELS.replace("RATE", "2/s")
            + "[admin]\ntoken = \"admin-secret\"\n[database]\nurl = \"postgres://u:db-secret@h/d\"\n";
        let settings = load(&toml, &[]).unwrap();
        let rendered = settings.to_redacted_toml().unwrap();
        assert!(
            !rendered.contains("admin-secret") && !rendered.contains("db-secret"),
            "{rendered}"
        );
        assert!(!format!("{settings:?}").contains("db-secret"));
        let reloaded = load(&rendered, &[]).unwrap();
        assert_eq!(
            reloaded.channels[1].rate_limit,
            settings.channels[1].rate_limit
        );
        assert_eq!(reloaded.http.listen, settings.http.listen);
    }

    #[test]
    fn secrets_in_a_channel_option_table_are_hidden_too() {
        let options: super::super::ChannelOptions = serde_json::from_value(serde_json::json!({
            "region": "EU",
            "client_secret": "lwa-secret",
            "notifications": {"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q",
                "access_key_id": "AKIAHIDDEN", "secret_access_key": "aws-secret",
                "session_token": "aws-token"},
        }))
        .unwrap();
        let shown = serde_json::to_string(&options).unwrap() + &format!("{options:?}");
        for secret in ["lwa-secret", "AKIAHIDDEN", "aws-secret", "aws-token"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("sqs.eu-west-1"), "{shown}");
    }
}
