//! The settings of one Amazon channel (one seller account in one region), as they appear under
//! a channel's options in the daemon's configuration.

use crate::sqs::NotificationQueueConfig;
use chrono::{DateTime, Utc};
use omnistock_connector::Secret;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Login with Amazon's token endpoint, the same for every region.
pub const LWA_TOKEN_URL: &str = "https://api.amazon.com/auth/o2/token";
/// How long one request may take unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 15_000;
/// How long between two looks at a feed still processing unless configured otherwise.
pub const DEFAULT_FEED_POLL_INTERVAL_MS: u64 = 30_000;
/// Orders per `getOrders` page unless configured otherwise (Amazon's maximum).
pub const DEFAULT_ORDERS_PAGE_SIZE: u32 = 100;
/// How far back each new order search starts before the newest update already seen: Amazon's
/// order search is eventually consistent, so an order can appear with an update time a little
/// in the past.
pub const DEFAULT_POLL_OVERLAP_SECS: u64 = 300;
/// The product type sent with stock patches: Amazon accepts `PRODUCT` for patches that only
/// touch offer-level attributes such as `fulfillment_availability`.
pub const DEFAULT_PRODUCT_TYPE: &str = "PRODUCT";
/// How far back a first poll without a cut-over or `import_orders_since` reads.
pub const DEFAULT_HISTORY_DAYS: i64 = 30;

/// An SP-API region: each has its own API endpoint and serves its own marketplaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Region {
    /// North America: Canada, US, Mexico, Brazil.
    Na,
    /// Europe: Spain, UK, France, Netherlands, Germany, Italy, Sweden, Poland, Egypt, Turkey,
    /// Saudi Arabia, UAE, India, Belgium, South Africa, Ireland.
    Eu,
    /// Far East: Singapore, Australia, Japan.
    Fe,
}

impl Region {
    /// The region's production endpoint.
    pub fn origin(self) -> &'static str {
        match self {
            Region::Na => "https://sellingpartnerapi-na.amazon.com",
            Region::Eu => "https://sellingpartnerapi-eu.amazon.com",
            Region::Fe => "https://sellingpartnerapi-fe.amazon.com",
        }
    }
}

/// Settings of an `amazon` channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmazonChannelConfig {
    /// `NA`, `EU` or `FE`: picks the API endpoint.
    pub region: Region,
    /// The marketplaces (e.g. `ATVPDKIKX0DER`, the US) whose orders are read and whose
    /// listings' quantities are set; at least one, at most 50, all in `region`.
    pub marketplace_ids: Vec<String>,
    /// The seller's merchant token (Seller Central: Settings, Account Info, Merchant Token),
    /// the `sellerId` of the Listings Items API.
    pub seller_id: String,
    /// The LWA client identifier of the registered SP-API application
    /// (`amzn1.application-oa2-client.…`).
    pub client_id: Secret,
    /// The LWA client secret of that application.
    pub client_secret: Secret,
    /// The refresh token the seller's authorization of the application produced (`Atzr|…`).
    pub refresh_token: Secret,
    /// Replaces Login with Amazon's token endpoint, for tests against a fake.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Replaces the region's endpoint (`https://sellingpartnerapi-na.amazon.com`), for tests
    /// against a fake (`http://127.0.0.1:9999`).
    #[serde(default)]
    pub api_origin: Option<String>,
    /// Orders per `getOrders` page, 1 to 100; 100 when left out.
    #[serde(default)]
    pub orders_page_size: Option<u32>,
    /// Seconds each new order search reaches back before the newest update already seen;
    /// 300 when left out.
    #[serde(default)]
    pub poll_overlap_secs: Option<u64>,
    /// The first poll imports orders updated at or after this instant (RFC 3339); from the
    /// channel's cut-over when left out.
    #[serde(default)]
    pub import_orders_since: Option<DateTime<Utc>>,
    /// The `productType` sent with stock patches; `PRODUCT` when left out.
    #[serde(default)]
    pub product_type: Option<String>,
    /// How long to wait between two looks at a feed still processing, in milliseconds;
    /// 30000 when left out (a feed takes minutes).
    #[serde(default)]
    pub feed_poll_interval_ms: Option<u64>,
    /// How long one request may take before it counts as a transient failure, in
    /// milliseconds; 15000 when left out.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
    /// The SQS queue Amazon delivers this seller's `ORDER_CHANGE` notifications to, and the
    /// AWS credentials that read it; orders arrive by polling alone when left out.
    #[serde(default)]
    pub notifications: Option<NotificationQueueConfig>,
}

/// Why an Amazon channel's settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmazonConfigError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("cannot build the http client: {0}")]
    Client(String),
    #[error(transparent)]
    Notifications(#[from] crate::sqs::QueueConfigError),
}

fn parse_http_url(text: &str, field: &'static str) -> Result<reqwest::Url, AmazonConfigError> {
    let invalid = |reason: String| AmazonConfigError::Invalid { field, reason };
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        Ok(_) => Err(invalid("must be an http or https URL".into())),
        Err(error) => Err(invalid(error.to_string())),
    }
}

impl AmazonChannelConfig {
    /// The API's origin, without a trailing slash.
    pub fn origin(&self) -> Result<reqwest::Url, AmazonConfigError> {
        let text = self
            .api_origin
            .as_deref()
            .unwrap_or(self.region.origin())
            .trim_end_matches('/');
        parse_http_url(text, "api_origin")
    }

    pub fn token_url(&self) -> Result<reqwest::Url, AmazonConfigError> {
        parse_http_url(
            self.token_url.as_deref().unwrap_or(LWA_TOKEN_URL),
            "token_url",
        )
    }

    pub fn orders_page_size(&self) -> u32 {
        self.orders_page_size.unwrap_or(DEFAULT_ORDERS_PAGE_SIZE)
    }

    pub fn poll_overlap(&self) -> chrono::Duration {
        let seconds = self.poll_overlap_secs.unwrap_or(DEFAULT_POLL_OVERLAP_SECS);
        chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1000))
    }

    pub fn product_type(&self) -> &str {
        self.product_type.as_deref().unwrap_or(DEFAULT_PRODUCT_TYPE)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(
            self.request_timeout_ms
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS),
        )
    }

    pub fn feed_poll_interval(&self) -> Duration {
        Duration::from_millis(
            self.feed_poll_interval_ms
                .unwrap_or(DEFAULT_FEED_POLL_INTERVAL_MS),
        )
    }

    /// Checks what serde cannot: usable URLs, non-empty secrets and ids, numbers in range.
    pub fn validate(&self) -> Result<(), AmazonConfigError> {
        let invalid = |field: &'static str, reason: &str| AmazonConfigError::Invalid {
            field,
            reason: reason.to_string(),
        };
        if self.marketplace_ids.is_empty() || self.marketplace_ids.len() > 50 {
            return Err(invalid(
                "marketplace_ids",
                "expected 1 to 50 marketplace ids",
            ));
        }
        if self
            .marketplace_ids
            .iter()
            .any(|id| id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(invalid(
                "marketplace_ids",
                "expected ids like ATVPDKIKX0DER (letters and digits)",
            ));
        }
        if self.seller_id.trim().is_empty() {
            return Err(invalid("seller_id", "must not be empty"));
        }
        for (field, secret) in [
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ] {
            if secret.is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
        }
        self.origin()?;
        self.token_url()?;
        if matches!(self.orders_page_size, Some(size) if size == 0 || size > 100) {
            return Err(invalid("orders_page_size", "must be between 1 and 100"));
        }
        if self.feed_poll_interval_ms == Some(0) {
            return Err(invalid("feed_poll_interval_ms", "must be positive"));
        }
        if self.request_timeout_ms == Some(0) {
            return Err(invalid("request_timeout_ms", "must be positive"));
        }
        if self.product_type().trim().is_empty() {
            return Err(invalid("product_type", "must not be empty"));
        }
        if let Some(queue) = &self.notifications {
            queue.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn config() -> AmazonChannelConfig {
        serde_json::from_value(serde_json::json!({
            "region": "EU",
            "marketplace_ids": ["A1PA6795UKMFR9"],
            "seller_id": "A2SELLER",
            "client_id": "amzn1.application-oa2-client.x",
            "client_secret": "secret",
            "refresh_token": "Atzr|token",
        }))
        .unwrap()
    }

    #[test]
    fn defaults_and_endpoints() {
        let config = config();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(
            config.origin().unwrap().as_str(),
            "https://sellingpartnerapi-eu.amazon.com/"
        );
        assert_eq!(config.token_url().unwrap().as_str(), LWA_TOKEN_URL);
        assert_eq!(config.orders_page_size(), 100);
        assert_eq!(config.product_type(), "PRODUCT");
        let mut local = config.clone();
        local.api_origin = Some("http://127.0.0.1:9/".into());
        assert_eq!(local.origin().unwrap().as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn validate_names_the_bad_field_and_debug_hides_secrets() {
        let mut bad = config();
        bad.marketplace_ids.clear();
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("marketplace_ids: "));
        let mut bad = config();
        bad.refresh_token = Secret::new("");
        assert_eq!(
            bad.validate().map_err(|e| e.to_string()),
            Err("refresh_token: must not be empty".to_string())
        );
        let mut bad = config();
        bad.orders_page_size = Some(101);
        assert!(bad.validate().is_err());
        let debug = format!("{:?}", config());
        assert!(
            !debug.contains("Atzr") && !debug.contains("secret\""),
            "{debug}"
        );
    }

    #[test]
    fn unknown_fields_and_regions_are_refused() {
        let parsed: Result<AmazonChannelConfig, _> = serde_json::from_value(serde_json::json!({
            "region": "MARS", "marketplace_ids": ["A"], "seller_id": "S",
            "client_id": "a", "client_secret": "b", "refresh_token": "c"
        }));
        assert!(parsed.is_err());
        let parsed: Result<AmazonChannelConfig, _> = serde_json::from_value(serde_json::json!({
            "region": "NA", "marketplace_ids": ["A"], "seller_id": "S",
            "client_id": "a", "client_secret": "b", "refresh_token": "c", "foo": 1
        }));
        assert!(parsed
            .unwrap_err()
            .to_string()
            .contains("unknown field `foo`"));
    }
}
