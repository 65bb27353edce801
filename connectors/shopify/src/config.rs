//! The settings of one Shopify channel, as they appear under a channel's `options` in the
//! daemon's configuration.

use crate::version::{ApiVersion, SUPPORTED_VERSIONS};
use chrono::{DateTime, Utc};
use omnistock_connector::{RateLimit, Secret};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The Admin API version used when `api_version` is left out.
pub const DEFAULT_API_VERSION: &str = "2025-01";
/// How long one request may take unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 15_000;
/// Orders per polled page unless configured otherwise. A page's requested query cost grows
/// with it (about 180 points per order with the nested line items, fulfillments and refunds),
/// and Shopify refuses a single query above 1000 points: 4 leaves a margin.
pub const DEFAULT_ORDERS_PAGE_SIZE: usize = 4;
/// The largest page that stays under Shopify's 1000-point limit for one query.
pub const MAX_ORDERS_PAGE_SIZE: usize = 5;
/// How old a webhook delivery may be, in seconds, unless configured otherwise: an hour
/// covers Shopify's early retries (8 over 4 hours, most in the first hour) while a delivery
/// captured and replayed later is refused; the polling safety net imports what a refused late
/// delivery carried.
pub const DEFAULT_WEBHOOK_MAX_AGE_SECONDS: u64 = 3600;
/// How far behind its watermark a poll re-reads, in seconds, unless configured otherwise: an
/// order can become visible in Shopify's search index after orders updated later than it.
pub const DEFAULT_POLL_OVERLAP_SECONDS: u64 = 30;
/// The `reason` sent with `inventorySetQuantities` unless configured otherwise.
pub const DEFAULT_INVENTORY_REASON: &str = "correction";
/// Stock-update calls per second the runtime paces pushes at unless configured otherwise: an
/// `inventorySetQuantities` call requests about 12 points and the smallest documented restore
/// rate is 50 points per second, so 4 calls a second leave room for polling and reads.
pub const DEFAULT_STOCK_PUSH_RATE: RateLimit = RateLimit {
    requests: 4,
    period: Duration::from_secs(1),
};

/// The reasons `inventorySetQuantities` accepts (Shopify's documented list).
pub const INVENTORY_REASONS: &[&str] = &[
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];

/// Settings of a `shopify` channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyChannelConfig {
    /// The shop's permanent domain, `your-store.myshopify.com` (a bare `your-store` is
    /// completed). Webhooks from any other shop are refused.
    pub shop: String,
    /// The Admin API access token of the app installed on the shop (`shpat_…`), sent as
    /// `X-Shopify-Access-Token`.
    pub access_token: Secret,
    /// The app's client secret (API secret key): Shopify signs webhooks with it.
    pub client_secret: Secret,
    /// The Admin API version, `YYYY-MM` (or `unstable`); `2025-01` when left out. It also
    /// picks the compare-and-set form of stock updates: `compareQuantity` up to 2025-10,
    /// `changeFromQuantity` with an idempotency key from 2026-01.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The location whose `available` quantity omnistock sets and reads,
    /// `gid://shopify/Location/<id>`.
    pub location_id: String,
    /// Orders per polled page, 1 to 5; 4 when left out.
    #[serde(default)]
    pub orders_page_size: Option<usize>,
    /// The first poll imports orders updated at or after this instant (RFC 3339); from the
    /// channel's cut-over when left out. Set it before the cut-over to see orders still open
    /// at go-live (they are booked as baselines: what they shipped before leaves on hand alone).
    #[serde(default)]
    pub import_orders_since: Option<DateTime<Utc>>,
    /// How long one request may take before it counts as a transient failure, in
    /// milliseconds; 15000 when left out.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// The `reason` recorded on Shopify for every stock change omnistock makes (one of
    /// Shopify's documented inventory reasons); `correction` when left out.
    #[serde(default)]
    pub inventory_reason: Option<String>,
    /// Stock-update calls the runtime may make (`"N/s"` or `"N/min"`); `4/s` when left out.
    /// Shopify limits by query cost, not by calls: raise it on plans with a faster restore
    /// rate (Advanced, Plus).
    #[serde(default)]
    pub stock_push_rate: Option<RateLimit>,
    /// How far behind the newest `updated_at` it has seen each poll re-reads, in seconds; 30
    /// when left out. Orders re-read unchanged are not delivered again; each re-read costs query
    /// points, so keep it short.
    #[serde(default)]
    pub poll_overlap_seconds: Option<u64>,
    /// The oldest webhook delivery accepted, in seconds since its `X-Shopify-Triggered-At`
    /// (and since the `updated_at` of the order it carries); 3600 when left out. Older ones
    /// are refused: polling imports the change instead.
    #[serde(default)]
    pub webhook_max_age_seconds: Option<u64>,
    /// Replaces `https://{shop}` as the API's origin, for tests against a fake Shopify
    /// (`http://127.0.0.1:9999`); the path `/admin/api/{version}/graphql.json` is kept.
    #[serde(default)]
    pub base_url: Option<String>,
}

/// Why a Shopify channel's settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopifyConfigError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("cannot build the http client: {0}")]
    Client(String),
}

impl ShopifyChannelConfig {
    /// The shop's `*.myshopify.com` domain.
    pub fn shop_domain(&self) -> String {
        let shop = self
            .shop
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_ascii_lowercase();
        if shop.contains('.') {
            shop
        } else {
            format!("{shop}.myshopify.com")
        }
    }

    pub fn api_version(&self) -> Result<ApiVersion, ShopifyConfigError> {
        let text = self.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION);
        let invalid = |reason: String| ShopifyConfigError::Invalid {
            field: "api_version",
            reason,
        };
        let version = ApiVersion::parse(text)
            .ok_or_else(|| invalid(format!("expected YYYY-MM or unstable, got {text:?}")))?;
        if !version.is_supported() {
            return Err(invalid(format!(
                "{version} is not one of the versions omnistock's documents are validated against ({})",
                SUPPORTED_VERSIONS.join(", ")
            )));
        }
        Ok(version)
    }

    /// The GraphQL endpoint, `https://{shop}/admin/api/{version}/graphql.json`.
    pub fn endpoint(&self) -> Result<reqwest::Url, ShopifyConfigError> {
        let version = self.api_version()?;
        let origin = match &self.base_url {
            Some(base) => base.trim_end_matches('/').to_string(),
            None => format!("https://{}", self.shop_domain()),
        };
        let text = format!("{origin}/admin/api/{version}/graphql.json");
        let invalid = |reason: String| ShopifyConfigError::Invalid {
            field: if self.base_url.is_some() {
                "base_url"
            } else {
                "shop"
            },
            reason,
        };
        match reqwest::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
            Ok(_) => Err(invalid("must be an http or https URL".into())),
            Err(error) => Err(invalid(error.to_string())),
        }
    }

    pub fn orders_page_size(&self) -> usize {
        self.orders_page_size.unwrap_or(DEFAULT_ORDERS_PAGE_SIZE)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(
            self.request_timeout_ms
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS),
        )
    }

    pub fn inventory_reason(&self) -> &str {
        self.inventory_reason
            .as_deref()
            .unwrap_or(DEFAULT_INVENTORY_REASON)
    }

    pub fn poll_overlap(&self) -> chrono::Duration {
        let seconds = self
            .poll_overlap_seconds
            .unwrap_or(DEFAULT_POLL_OVERLAP_SECONDS);
        chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1000))
    }

    pub fn webhook_max_age(&self) -> chrono::Duration {
        let seconds = self
            .webhook_max_age_seconds
            .unwrap_or(DEFAULT_WEBHOOK_MAX_AGE_SECONDS);
        chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1000))
    }

    pub fn stock_push_rate(&self) -> RateLimit {
        self.stock_push_rate.unwrap_or(DEFAULT_STOCK_PUSH_RATE)
    }

    /// Checks what serde cannot: a usable shop and URL, non-empty secrets, a location gid,
    /// numbers in range.
    pub fn validate(&self) -> Result<(), ShopifyConfigError> {
        let invalid = |field: &'static str, reason: &str| ShopifyConfigError::Invalid {
            field,
            reason: reason.to_string(),
        };
        let domain = self.shop_domain();
        if domain.is_empty()
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(invalid(
                "shop",
                "expected a domain like your-store.myshopify.com",
            ));
        }
        if self.access_token.is_empty() {
            return Err(invalid("access_token", "must not be empty"));
        }
        if self.client_secret.is_empty() {
            return Err(invalid("client_secret", "must not be empty"));
        }
        self.endpoint()?;
        if crate::gid::numeric_id(&self.location_id, "Location").is_none() {
            return Err(invalid(
                "location_id",
                "expected gid://shopify/Location/<id>",
            ));
        }
        match self.orders_page_size {
            Some(size) if size == 0 || size > MAX_ORDERS_PAGE_SIZE => {
                return Err(invalid("orders_page_size", "must be between 1 and 5"))
            }
            _ => {}
        }
        if self.webhook_max_age_seconds == Some(0) {
            return Err(invalid("webhook_max_age_seconds", "must be positive"));
        }
        if self.request_timeout_ms == Some(0) {
            return Err(invalid("request_timeout_ms", "must be positive"));
        }
        if !INVENTORY_REASONS.contains(&self.inventory_reason()) {
            return Err(invalid(
                "inventory_reason",
                "must be one of Shopify's inventory reasons (correction, restock, other …)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn config() -> ShopifyChannelConfig {
        serde_json::from_value(serde_json::json!({
            "shop": "demo-store",
            "access_token": "shpat_x",
            "client_secret": "secret",
            "location_id": "gid://shopify/Location/1",
        }))
        .unwrap()
    }

    #[test]
    fn defaults_and_endpoint() {
        let config = config();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.shop_domain(), "demo-store.myshopify.com");
        assert_eq!(
            config.endpoint().unwrap().as_str(),
            "https://demo-store.myshopify.com/admin/api/2025-01/graphql.json"
        );
        let mut local = config.clone();
        local.base_url = Some("http://127.0.0.1:9/".into());
        local.api_version = Some("2026-04".into());
        assert_eq!(
            local.endpoint().unwrap().as_str(),
            "http://127.0.0.1:9/admin/api/2026-04/graphql.json"
        );
    }

    #[test]
    fn validate_names_the_bad_field() {
        let mut bad = config();
        bad.location_id = "1".into();
        assert_eq!(
            bad.validate().map_err(|e| e.to_string()),
            Err("location_id: expected gid://shopify/Location/<id>".to_string())
        );
        let mut bad = config();
        bad.api_version = Some("latest".into());
        assert!(matches!(
            bad.validate(),
            Err(ShopifyConfigError::Invalid {
                field: "api_version",
                ..
            })
        ));
        let mut bad = config();
        bad.api_version = Some("2025-07".into());
        assert!(bad
            .validate()
            .is_err_and(|error| error.to_string().contains("2025-01, 2026-01, 2026-04")));
        let mut bad = config();
        bad.orders_page_size = Some(50);
        assert!(bad.validate().is_err());
        let mut bad = config();
        bad.inventory_reason = Some("because".into());
        assert!(bad.validate().is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<ShopifyChannelConfig, _> = serde_json::from_value(serde_json::json!({
            "shop": "a", "access_token": "a", "client_secret": "b",
            "location_id": "gid://shopify/Location/1", "foo": 1
        }));
        assert!(parsed
            .unwrap_err()
            .to_string()
            .contains("unknown field `foo`"));
    }
}
