//! The settings of one TikTok Shop channel, as they appear under a channel's `options` in the
//! daemon's configuration.

use chrono::{DateTime, Utc};
use omnistock_connector::{RateLimit, Secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// TikTok Shop's API origin (every region).
pub const DEFAULT_API_ORIGIN: &str = "https://open-api.tiktokglobalshop.com";
/// The origin of the token endpoints (`/api/v2/token/get`, `/api/v2/token/refresh`).
pub const DEFAULT_AUTH_ORIGIN: &str = "https://auth.tiktok-shops.com";
/// The rate-limits guide: 50 requests per second per API, per app and shop.
pub const DOCUMENTED_RATE_LIMIT: RateLimit = RateLimit {
    requests: 50,
    period: Duration::from_secs(1),
};
/// Requests per second per API unless configured otherwise: a margin under the documented 50
/// for clocks that disagree on where a second starts.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    requests: 40,
    period: Duration::from_secs(1),
};
/// Order search page size unless configured otherwise; the documented range is 1 to 100.
pub const DEFAULT_ORDERS_PAGE_SIZE: usize = 50;
pub const MAX_ORDERS_PAGE_SIZE: usize = 100;
/// How far back each poll window reaches into the previous one, for orders TikTok indexes late.
pub const DEFAULT_POLL_OVERLAP_SECS: u64 = 120;
/// Refresh the access token this long before it expires unless configured otherwise.
pub const DEFAULT_REFRESH_MARGIN_SECS: u64 = 24 * 3600;
/// Warn that the seller must re-authorize this long before the refresh token expires.
pub const REFRESH_TOKEN_WARNING_SECS: i64 = 30 * 24 * 3600;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 15_000;

/// Settings of a `tiktok_shop` channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TikTokChannelConfig {
    /// The app key from the app's page in Partner Center.
    pub app_key: String,
    /// The app secret: it signs every request and TikTok signs webhooks with it.
    pub app_secret: Secret,
    /// The shop's cipher (`shop_cipher`), from Get Authorized Shops.
    pub shop_cipher: Secret,
    /// The shop's id: webhooks naming another shop are refused. Optional.
    #[serde(default)]
    pub shop_id: Option<String>,
    /// The seller's access token (`x-tts-access-token`), as the token call returned it. Used
    /// until the token store holds a newer one.
    pub access_token: Secret,
    /// When `access_token` expires (Unix seconds, the token call's `access_token_expire_in`).
    pub access_token_expire_in: i64,
    /// The refresh token that goes with `access_token`.
    pub refresh_token: Secret,
    /// When `refresh_token` expires (Unix seconds, `refresh_token_expire_in`).
    pub refresh_token_expire_in: i64,
    /// Where refreshed tokens are kept (a JSON file, written atomically): a restart reads the
    /// newest pair from it. In memory only when left out (a restart then falls back to the
    /// configured pair, which TikTok may have retired).
    #[serde(default)]
    pub token_store_path: Option<PathBuf>,
    /// Refresh the access token this many seconds before it expires; one day when left out.
    #[serde(default)]
    pub refresh_margin_secs: Option<u64>,
    /// The TikTok warehouse whose quantity omnistock sets. A SKU stocked in other warehouses
    /// too keeps their quantities (the update lists every warehouse of a SKU, as TikTok
    /// requires). Optional when every SKU has one warehouse.
    #[serde(default)]
    pub warehouse_id: Option<String>,
    /// Per-warehouse mode: TikTok warehouse id → the ledger location whose stock it sells
    /// (`{ "7068517275539719942" = "east" }`). Each SKU then has one listing per mapped
    /// warehouse (`{product_id}:{sku_id}:{warehouse_id}`) showing what the policy allows from
    /// that location, and an order is booked at the location of the warehouse it ships from.
    /// Warehouses left out keep their quantities. Not together with `warehouse_id`.
    #[serde(default)]
    pub warehouses: Option<BTreeMap<String, String>>,
    /// Orders per search page, 1 to 100; 50 when left out.
    #[serde(default)]
    pub orders_page_size: Option<usize>,
    /// The first poll imports orders updated at or after this instant; the channel's cut-over
    /// when left out.
    #[serde(default)]
    pub import_orders_since: Option<DateTime<Utc>>,
    /// Seconds each poll window reaches back into the previous one; 120 when left out.
    #[serde(default)]
    pub poll_overlap_secs: Option<u64>,
    /// Requests per API omnistock may send (`"N/s"`, `"N/min"`), at most the documented 50/s;
    /// 40/s when left out. A stock push sends one Update Inventory request per product, so the
    /// runtime is told to wait before a push until the requests fit (not only the calls).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Milliseconds one request may take; 15000 when left out.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// Replaces the API origin, for tests against a fake TikTok Shop.
    #[serde(default)]
    pub api_origin: Option<String>,
    /// Replaces the token endpoints' origin, for tests.
    #[serde(default)]
    pub auth_origin: Option<String>,
}

/// Why a TikTok Shop channel's settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TikTokConfigError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("cannot build the http client: {0}")]
    Client(String),
    #[error("token store: {0}")]
    TokenStore(String),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> TikTokConfigError {
    TikTokConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

impl TikTokChannelConfig {
    pub fn validate(&self) -> Result<(), TikTokConfigError> {
        if self.app_key.trim().is_empty() {
            return Err(invalid("app_key", "empty"));
        }
        for (field, secret) in [
            ("app_secret", &self.app_secret),
            ("shop_cipher", &self.shop_cipher),
            ("access_token", &self.access_token),
            ("refresh_token", &self.refresh_token),
        ] {
            if secret.is_empty() {
                return Err(invalid(field, "empty"));
            }
        }
        if !(1..=MAX_ORDERS_PAGE_SIZE).contains(&self.orders_page_size()) {
            return Err(invalid(
                "orders_page_size",
                format!("expected 1 to {MAX_ORDERS_PAGE_SIZE}"),
            ));
        }
        if self.rate_limit().per_second_f64() > DOCUMENTED_RATE_LIMIT.per_second_f64() {
            return Err(invalid(
                "rate_limit",
                format!("above TikTok's documented {DOCUMENTED_RATE_LIMIT}"),
            ));
        }
        self.validate_warehouses()?;
        for (field, origin) in [
            ("api_origin", self.api_origin()),
            ("auth_origin", self.auth_origin()),
        ] {
            reqwest::Url::parse(&origin)
                .map_err(|error| invalid(field, format!("not a URL: {error}")))?;
        }
        Ok(())
    }

    /// `warehouses`: not with `warehouse_id`, not empty, ids as TikTok writes them (digits and
    /// letters: they become part of listing ids), one warehouse per location (two warehouses
    /// selling one location's stock would each show all of it).
    fn validate_warehouses(&self) -> Result<(), TikTokConfigError> {
        let Some(warehouses) = &self.warehouses else {
            return Ok(());
        };
        if self.warehouse_id.is_some() {
            return Err(invalid(
                "warehouses",
                "give either warehouse_id (one warehouse) or warehouses (one listing per warehouse), not both",
            ));
        }
        if warehouses.is_empty() {
            return Err(invalid("warehouses", "maps no warehouse"));
        }
        let mut locations: BTreeMap<&str, &str> = BTreeMap::new();
        for (warehouse_id, location) in warehouses {
            if warehouse_id.is_empty()
                || !warehouse_id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric())
            {
                return Err(invalid(
                    "warehouses",
                    format!("{warehouse_id:?} is not a TikTok warehouse id"),
                ));
            }
            if location.trim().is_empty() {
                return Err(invalid(
                    "warehouses",
                    format!("warehouse {warehouse_id} maps to an empty location"),
                ));
            }
            if let Some(other) = locations.insert(location, warehouse_id) {
                return Err(invalid(
                    "warehouses",
                    format!(
                        "warehouses {other} and {warehouse_id} both map to location {location:?}"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The ledger location of a mapped warehouse (per-warehouse mode).
    pub fn warehouse_location(&self, warehouse_id: &str) -> Option<&str> {
        self.warehouses
            .as_ref()?
            .get(warehouse_id)
            .map(String::as_str)
    }

    /// Whether each mapped warehouse has listings of its own (`warehouses` is set).
    pub fn per_warehouse(&self) -> bool {
        self.warehouses.is_some()
    }

    pub fn api_origin(&self) -> String {
        self.api_origin
            .as_deref()
            .unwrap_or(DEFAULT_API_ORIGIN)
            .trim_end_matches('/')
            .to_string()
    }

    pub fn auth_origin(&self) -> String {
        self.auth_origin
            .as_deref()
            .unwrap_or(DEFAULT_AUTH_ORIGIN)
            .trim_end_matches('/')
            .to_string()
    }

    pub fn orders_page_size(&self) -> usize {
        self.orders_page_size.unwrap_or(DEFAULT_ORDERS_PAGE_SIZE)
    }

    pub fn poll_overlap(&self) -> i64 {
        i64::try_from(self.poll_overlap_secs.unwrap_or(DEFAULT_POLL_OVERLAP_SECS))
            .unwrap_or(i64::MAX)
    }

    pub fn refresh_margin(&self) -> i64 {
        i64::try_from(
            self.refresh_margin_secs
                .unwrap_or(DEFAULT_REFRESH_MARGIN_SECS),
        )
        .unwrap_or(i64::MAX)
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.rate_limit.unwrap_or(DEFAULT_RATE_LIMIT)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(
            self.request_timeout_ms
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS),
        )
    }
}
