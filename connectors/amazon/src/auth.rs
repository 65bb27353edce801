//! Login with Amazon: the refresh token is exchanged for an access token
//! (`grant_type=refresh_token`, form-encoded, to the LWA token endpoint), which is cached until
//! shortly before it expires (an hour after it is issued) and sent as `x-amz-access-token`.

use omnistock_connector::{ConnectorError, Secret};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracing::debug;

/// A token is refreshed this long before Amazon says it expires, so that a request never
/// leaves with a token that expires on the way.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The LWA credentials of one seller authorization.
#[derive(Debug, Clone)]
pub struct LwaCredentials {
    pub client_id: Secret,
    pub client_secret: Secret,
    pub refresh_token: Secret,
}

#[derive(Debug, Clone)]
struct CachedToken {
    value: Secret,
    refresh_at: Instant,
}

/// Exchanges and caches access tokens. One exchange at a time: concurrent calls wait for the
/// one under way and share its token.
#[derive(Debug)]
pub struct LwaTokens {
    http: reqwest::Client,
    token_url: reqwest::Url,
    credentials: LwaCredentials,
    cached: Mutex<Option<CachedToken>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl LwaTokens {
    pub fn new(
        http: reqwest::Client,
        token_url: reqwest::Url,
        credentials: LwaCredentials,
    ) -> Self {
        Self {
            http,
            token_url,
            credentials,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token: the cached one, or a new one when there is none or it is about to
    /// expire.
    pub async fn access_token(&self) -> Result<Secret, ConnectorError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            if Instant::now() < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        let token = self.exchange().await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Drops the cached token if it is still `used` (Amazon said it expired), so that the next
    /// [`access_token`](Self::access_token) exchanges the refresh token again.
    pub async fn invalidate(&self, used: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|token| &token.value == used) {
            *cached = None;
        }
    }

    async fn exchange(&self) -> Result<CachedToken, ConnectorError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", self.credentials.refresh_token.expose()),
            ("client_id", self.credentials.client_id.expose()),
            ("client_secret", self.credentials.client_secret.expose()),
        ];
        let response = self
            .http
            .post(self.token_url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|error| {
                ConnectorError::transient(format!(
                    "lwa token exchange: request failed: {}",
                    error.without_url()
                ))
            })?;
        let status = response.status();
        let text = response.text().await.map_err(|error| {
            ConnectorError::transient(format!("lwa token exchange: reading the answer: {error}"))
        })?;
        if status.is_success() {
            let token: TokenResponse = serde_json::from_str(&text).map_err(|error| {
                ConnectorError::transient(format!(
                    "lwa token exchange: unexpected answer shape: {error}"
                ))
            })?;
            let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
            debug!(
                expires_in_s = lifetime.as_secs(),
                "lwa access token obtained"
            );
            return Ok(CachedToken {
                value: token.access_token,
                refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN),
            });
        }
        // LWA's error body names the problem (`invalid_grant`, `invalid_client`) and never
        // echoes the secrets.
        let error: Option<TokenError> = serde_json::from_str(&text).ok();
        let reason = error
            .map(|error| format!("{} {}", error.error, error.error_description))
            .unwrap_or_default();
        let message = format!("lwa token exchange: http {status}: {}", reason.trim());
        Err(match status.as_u16() {
            400 | 401 | 403 => ConnectorError::Configuration(format!(
                "{message} (check client_id, client_secret and refresh_token)"
            )),
            429 => ConnectorError::RateLimited {
                message,
                retry_after: Some(Duration::from_secs(1)),
            },
            _ => ConnectorError::transient(message),
        })
    }
}
