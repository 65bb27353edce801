//! The daemon's typed settings and their layered loading.
//!
//! Layers, last wins: built-in defaults (the `Default` impls below, the one place defaults are
//! written) → the TOML file given by `--config` / `OMNISTOCK_CONFIG` → environment variables
//! `OMNISTOCK__SECTION__KEY`. Every struct refuses unknown keys, so a typo is an error instead
//! of a silently ignored setting. `config/omnistock.toml` documents every key.

mod duration;
mod load;
mod redact;
mod validate;

pub use duration::{format_duration, parse_duration};
pub use load::{SettingsError, ENVIRONMENT_PREFIX};

use crate::bus::BusConfig;
use crate::policy::StockPolicy;
use omnistock_connector::{RateLimit, Secret};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

/// Everything the daemon reads from its configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The ledger's database.
    pub database: DatabaseSettings,
    /// The stock-change bus.
    #[serde(serialize_with = "redact::serialize_bus")]
    pub bus: BusConfig,
    /// The HTTP server (webhooks, health, admin, metrics).
    pub http: HttpSettings,
    /// The admin API.
    pub admin: AdminSettings,
    /// Logging.
    pub log: LogSettings,
    /// Pruning of housekeeping rows (never the journal, never orders).
    pub housekeeping: HousekeepingSettings,
    /// The sales channels, in the order configured (`[[channels]]` tables).
    pub channels: Vec<ChannelSettings>,
}

/// `[database]`: where the ledger lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user:password@host/db`.
    pub url: DatabaseUrl,
    /// Upper bound on the connections the ledger's pool opens.
    pub max_connections: u32,
    /// Tasks that book incoming orders, each taking the orders waiting and booking them in one
    /// transaction (group commit). Unset: 1 on SQLite (one write lock), 4 on PostgreSQL.
    pub booking_writers: Option<usize>,
    /// Apply pending migrations when `serve` starts; when false, run `omnistock migrate` first.
    pub migrate_on_start: bool,
    /// How long a ledger call (a booking writer's included) waits for a pooled connection, or
    /// for a new one to open, before it fails, e.g. `"2s"`; also bounds connecting at start.
    #[serde(with = "duration::required")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::new("sqlite://omnistock.db"),
            max_connections: 10,
            booking_writers: None,
            migrate_on_start: true,
            acquire_timeout: Duration::from_secs(2),
        }
    }
}

/// `[http]`: the one HTTP listener of the process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address and port to listen on; port 0 picks a free port (used by tests).
    pub listen: SocketAddr,
    /// Requests with a larger body are refused with 413 before they are read.
    pub max_body_bytes: usize,
    /// A connection whose request head (request line and headers) is not complete this long
    /// after it was expected is closed, e.g. `"10s"`; also how long an idle keep-alive
    /// connection is kept.
    #[serde(with = "duration::required")]
    pub header_read_timeout: Duration,
    /// A request whose body has not arrived in full this long after its head is answered 408
    /// and its connection closed, e.g. `"30s"`.
    #[serde(with = "duration::required")]
    pub body_read_timeout: Duration,
    /// How long a webhook waits for its booking before it is answered 503 (the platform
    /// delivers again), e.g. `"1500ms"`; below the 5 s platforms wait for an answer.
    #[serde(with = "duration::required")]
    pub webhook_booking_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080)),
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            webhook_booking_timeout: Duration::from_millis(1500),
        }
    }
}

/// `[housekeeping]`: rows kept only for a while, pruned by the sync leader in small batches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HousekeepingSettings {
    /// How often the pruning runs, e.g. `"1h"`; the first time a minute after start (or after
    /// `interval`, if shorter).
    #[serde(with = "duration::required")]
    pub interval: Duration,
    /// How long a webhook's delivery id is remembered, so that a redelivery is known as one,
    /// e.g. `"30d"`. At least 3 days: platforms redeliver for up to 48 hours.
    #[serde(with = "duration::required")]
    pub webhook_delivery_retention: Duration,
    /// How long a dead-lettered message is kept (the embedded bus's rows, RabbitMQ's
    /// dead-letter queues), e.g. `"7d"`.
    #[serde(with = "duration::required")]
    pub bus_retention: Duration,
    /// How long a finished resync job is kept (the newest of each channel, mode and trigger is
    /// always kept), e.g. `"90d"`.
    #[serde(with = "duration::required")]
    pub job_retention: Duration,
}

impl HousekeepingSettings {
    /// Platforms redeliver a webhook for up to 48 hours (Shopify), so its delivery id must be
    /// remembered longer than that.
    pub const MIN_WEBHOOK_DELIVERY_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);
}

impl Default for HousekeepingSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            webhook_delivery_retention: Duration::from_secs(30 * 24 * 3600),
            bus_retention: Duration::from_secs(7 * 24 * 3600),
            job_retention: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// `[admin]`: the operator's API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Bearer token the admin API requires; without one the admin API is disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// How often this replica adds the webhook answers it counted to the table the channel
    /// status reads (so every replica's status shows every replica's webhooks), e.g. `"5s"`.
    #[serde(with = "duration::required")]
    pub webhook_counts_flush: Duration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            token: None,
            webhook_counts_flush: Duration::from_secs(5),
        }
    }
}

/// `[log]`: what the process logs and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` (human-readable), `json` (one object per line) or `auto` (text when standard
    /// output is a terminal, JSON otherwise).
    pub format: LogFormat,
    /// A filter such as `info` or `omnistock=debug,info`; `RUST_LOG`, when set, replaces it.
    pub level: LogLevel,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            level: LogLevel("info".to_string()),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// A tracing filter directive, checked when the settings load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLevel(String);

impl LogLevel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        tracing_subscriber::EnvFilter::builder()
            .parse(&text)
            .map_err(|error| {
                serde::de::Error::custom(format!(
                    "expected a level such as \"info\" or \"omnistock=debug,info\", got \"{text}\" ({error})"
                ))
            })?;
        Ok(Self(text))
    }
}

/// One `[[channels]]` table: a sales channel and how to reach it.
///
/// The common keys are fields; every other key is the kind's own setting, kept in `options` and
/// checked by the kind's own settings type (see `registry::validate_channel_options`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelSettings {
    /// Unique name of the channel (`a-z`, `0-9`, `_`, `-`); it appears in webhook paths, logs
    /// and metrics, so it should not change once orders were booked.
    pub id: ChannelId,
    /// The platform: one of `registry::known_kinds()`.
    pub kind: String,
    /// A disabled channel is neither polled nor pushed to, and its webhooks are refused.
    #[serde(default = "default_channel_enabled")]
    pub enabled: bool,
    /// The ledger location whose stock this channel sells and receives orders against.
    #[serde(default = "default_channel_location")]
    pub location: String,
    /// Requests per period omnistock allows itself against this channel, e.g. `"2/s"` or
    /// `"40/min"`; the stricter of this and the platform's documented limit applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// How often orders are polled as a safety net for missed webhooks, e.g. `"30s"`, `"5m"`;
    /// absent means no polling.
    #[serde(
        default,
        with = "duration::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub poll_interval: Option<Duration>,
    /// How often a `reconcile` job reads this channel's stock and puts drift right, e.g.
    /// `"6h"`; absent means no scheduled reconciliation (an operator can still start one).
    #[serde(
        default,
        with = "duration::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub reconcile_interval: Option<Duration>,
    /// The channel's go-live instant (RFC 3339, e.g. `"2026-01-01T00:00:00Z"`): when the stock
    /// was counted. An order placed before it is booked as a baseline (what it had shipped
    /// leaves on hand alone), and the first poll reads nothing updated before it. Stored in
    /// the ledger at every start when set; absent: the moment the channel was first connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_over: Option<chrono::DateTime<chrono::Utc>>,
    /// `[channels.stock_policy]`: how much of the stock this channel is shown (locations,
    /// safety buffer, percentage, maximum, show-zero-below, fixed quantity) and whether its
    /// returns are restocked. Listings may override it in the ledger.
    #[serde(default)]
    pub stock_policy: StockPolicy,
    /// The kind's own keys (base URL, tokens, …).
    #[serde(flatten)]
    pub options: ChannelOptions,
}

fn default_channel_enabled() -> bool {
    true
}

fn default_channel_location() -> String {
    "default".to_string()
}

/// A channel's name, checked when the settings load.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ChannelId(String);

impl ChannelId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::str::FromStr for ChannelId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let allowed = |character: char| {
            character.is_ascii_lowercase()
                || character.is_ascii_digit()
                || matches!(character, '_' | '-')
        };
        if text.is_empty() || !text.chars().all(allowed) {
            return Err(format!(
                "expected a non-empty name of a-z, 0-9, '_' and '-', got \"{text}\""
            ));
        }
        Ok(Self(text.to_string()))
    }
}

impl<'de> Deserialize<'de> for ChannelId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A channel kind's own settings, as written; `Debug` and `Serialize` hide the values of keys
/// that name a secret (token, secret, password, key), since the kind's typed settings that know
/// which keys are secrets are only built by the registry.
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct ChannelOptions(pub serde_json::Map<String, serde_json::Value>);

impl ChannelOptions {
    fn redacted(&self) -> serde_json::Map<String, serde_json::Value> {
        redacted_table(&self.0)
    }
}

/// `table` with the values of secret-named keys hidden, in nested tables too (Amazon's
/// `notifications` holds AWS credentials).
fn redacted_table(
    table: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    table
        .iter()
        .map(|(key, value)| {
            let value = match value {
                _ if redact::is_secret_key(key) => {
                    serde_json::Value::String("[redacted]".to_string())
                }
                serde_json::Value::Object(nested) => {
                    serde_json::Value::Object(redacted_table(nested))
                }
                other => other.clone(),
            };
            (key.clone(), value)
        })
        .collect()
}

impl fmt::Debug for ChannelOptions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), formatter)
    }
}

impl Serialize for ChannelOptions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.redacted().serialize(serializer)
    }
}

/// The database URL. It may hold a password, so `Debug`, `Display` and `Serialize` print it with
/// the password replaced; [`DatabaseUrl::expose`] gives the real one to the ledger.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&redact::redact_url(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "\"{self}\"")
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Settings {
    /// The effective settings as TOML, secrets shown as `[redacted]` (for `check-config`).
    pub fn to_redacted_toml(&self) -> Result<String, SettingsError> {
        toml::to_string_pretty(self).map_err(|error| SettingsError::Render(error.to_string()))
    }

    /// The bus URL with its password hidden, for logs.
    pub fn redacted_bus_url(&self) -> String {
        redact::redact_url(self.bus.url.expose())
    }
}
