//! One signed Partner API call: common parameters, the signature over the exact body bytes
//! sent, the access token header, the body's `code` read whatever the HTTP status, and the
//! access token refreshed before it expires.

use crate::config::{TikTokChannelConfig, TikTokConfigError, REFRESH_TOKEN_WARNING_SECS};
use crate::errors::{classify, EXPIRED_ACCESS_TOKEN};
use crate::pace::RequestWindow;
use crate::sign::sign_request;
use crate::tokens::{TokenPair, TokenStore};
use chrono::Utc;
use omnistock_connector::{ConnectorError, Secret};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// The envelope of every answer.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub request_id: Option<String>,
    pub data: Option<T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// The answer of the token refresh call.
#[derive(Debug, Deserialize)]
struct RefreshedTokens {
    access_token: String,
    access_token_expire_in: i64,
    refresh_token: String,
    refresh_token_expire_in: i64,
}

/// A signed client for one shop.
pub struct ApiClient {
    http: reqwest::Client,
    api_origin: String,
    auth_origin: String,
    app_key: String,
    app_secret: Secret,
    shop_cipher: Secret,
    /// The pair in use; `None` until the first call reads the store.
    tokens: tokio::sync::Mutex<Option<TokenPair>>,
    /// The pair in the settings: used when the store holds none, or an older one.
    configured: TokenPair,
    store: Arc<dyn TokenStore>,
    refresh_margin: i64,
    /// Set by an "expired token" answer: refresh before the next call whatever the clock says.
    must_refresh: AtomicBool,
    /// A refreshed pair is not in the store yet.
    unsaved: AtomicBool,
    /// Set by the deauthorization webhook: every call fails until an operator re-authorizes.
    deauthorized: AtomicBool,
    /// When the refresh token in use expires (Unix seconds), readable without the token lock.
    refresh_expire: AtomicI64,
    /// When TikTok said the authorization expires (webhook 7; 0: not said).
    authorization_expiration: AtomicI64,
    /// When the refresh token's expiry was last warned about (Unix seconds), to warn daily.
    warned_at: AtomicI64,
    /// Requests sent per API (path template).
    windows: HashMap<&'static str, RequestWindow>,
}

impl ApiClient {
    pub fn new(
        config: &TikTokChannelConfig,
        store: Arc<dyn TokenStore>,
    ) -> Result<Self, TikTokConfigError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .build()
            .map_err(|error| TikTokConfigError::Client(error.to_string()))?;
        let configured = TokenPair {
            access_token: config.access_token.clone(),
            access_token_expire_in: config.access_token_expire_in,
            refresh_token: config.refresh_token.clone(),
            refresh_token_expire_in: config.refresh_token_expire_in,
        };
        Ok(Self {
            http,
            api_origin: config.api_origin(),
            auth_origin: config.auth_origin(),
            app_key: config.app_key.clone(),
            app_secret: config.app_secret.clone(),
            shop_cipher: config.shop_cipher.clone(),
            tokens: tokio::sync::Mutex::new(None),
            configured,
            store,
            refresh_margin: config.refresh_margin(),
            must_refresh: AtomicBool::new(false),
            unsaved: AtomicBool::new(false),
            deauthorized: AtomicBool::new(false),
            refresh_expire: AtomicI64::new(config.refresh_token_expire_in),
            authorization_expiration: AtomicI64::new(0),
            warned_at: AtomicI64::new(0),
            windows: crate::inventory::APIS
                .iter()
                .chain(crate::orders::APIS)
                .chain(
                    [
                        crate::returns::RETURNS_SEARCH_PATH,
                        crate::catalog::PRODUCT_SEARCH_PATH,
                    ]
                    .iter(),
                )
                .map(|api| (*api, RequestWindow::new(config.rate_limit())))
                .collect(),
        })
    }

    /// The request window of an API (one of the path templates in `inventory`, `orders`,
    /// `returns` and `catalog`).
    pub fn window(&self, api: &str) -> Option<&RequestWindow> {
        self.windows.get(api)
    }

    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    pub fn app_secret(&self) -> &Secret {
        &self.app_secret
    }

    /// The seller deauthorized the app (webhook type 6).
    pub fn mark_deauthorized(&self) {
        self.deauthorized.store(true, Ordering::SeqCst);
    }

    pub fn is_deauthorized(&self) -> bool {
        self.deauthorized.load(Ordering::SeqCst)
    }

    /// TikTok announced when the authorization expires (webhook 7).
    pub fn note_authorization_expiration(&self, at: i64) {
        self.authorization_expiration.store(at, Ordering::SeqCst);
    }

    /// When the authorization ends: the refresh token's expiry, or the announced one if sooner.
    pub fn authorization_ends(&self) -> i64 {
        let refresh = self.refresh_expire.load(Ordering::SeqCst);
        match self.authorization_expiration.load(Ordering::SeqCst) {
            0 => refresh,
            announced => announced.min(refresh),
        }
    }

    /// The token pair in use (for tests; values stay wrapped).
    pub async fn tokens(&self) -> TokenPair {
        self.tokens
            .lock()
            .await
            .clone()
            .unwrap_or_else(|| self.configured.clone())
    }

    /// The store's pair when it is newer than `current` (a refresh made before a restart, or
    /// by another replica), else `current`. The store holds what a refresh returned; it is
    /// newer than the settings unless an operator re-authorized and pasted a later pair.
    async fn newest(&self, current: TokenPair) -> Result<TokenPair, ConnectorError> {
        let stored = self.store.load().await.map_err(|reason| {
            ConnectorError::transient(format!("reading the stored TikTok tokens: {reason}"))
        })?;
        Ok(match stored {
            Some(stored) if stored.access_token_expire_in > current.access_token_expire_in => {
                stored
            }
            _ => current,
        })
    }

    /// A call whose body `code` must be 0; returns `data`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        api: &'static str,
        method: Method,
        path: &str,
        query: Vec<(String, String)>,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ConnectorError> {
        let envelope: Envelope<T> = self.call_envelope(api, method, path, query, body).await?;
        if envelope.code != 0 {
            return Err(classify(200, Some(envelope.code), &envelope.message, None));
        }
        envelope.data.ok_or_else(|| {
            ConnectorError::transient(format!(
                "{path}: answer without data (request {:?})",
                envelope.request_id
            ))
        })
    }

    /// A call answered with HTTP 200: the envelope as is, whatever its `code`, for callers that
    /// map business errors themselves.
    pub async fn call_envelope<T: DeserializeOwned>(
        &self,
        api: &'static str,
        method: Method,
        path: &str,
        mut query: Vec<(String, String)>,
        body: Option<&serde_json::Value>,
    ) -> Result<Envelope<T>, ConnectorError> {
        if self.is_deauthorized() {
            return Err(ConnectorError::Configuration(
                "the seller deauthorized the app: re-authorize and update the tokens".into(),
            ));
        }
        let access_token = self.fresh_access_token().await?;
        // Serialized once: these bytes are signed and these bytes are sent.
        let body_bytes = match body {
            Some(value) => serde_json::to_vec(value)
                .map_err(|error| ConnectorError::Permanent(format!("{path}: body: {error}")))?,
            None => Vec::new(),
        };
        query.push(("app_key".into(), self.app_key.clone()));
        query.push(("timestamp".into(), Utc::now().timestamp().to_string()));
        query.push(("shop_cipher".into(), self.shop_cipher.expose().to_string()));
        let sign = sign_request(self.app_secret.expose(), path, &query, &body_bytes);
        query.push(("sign".into(), sign));
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.api_origin))
            .map_err(|error| ConnectorError::Configuration(format!("{path}: url: {error}")))?;
        url.query_pairs_mut().extend_pairs(query.iter());
        let builder = match method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url).body(body_bytes),
        };
        let response = builder
            .header("content-type", "application/json")
            .header("x-tts-access-token", access_token.expose())
            .send()
            .await;
        // Counted once the answer is in: TikTok counted the request somewhere between sending
        // and answering, so the local window never frees room before TikTok's does.
        if let Some(window) = self.windows.get(api) {
            window.record();
        }
        let response = response.map_err(|error| {
            ConnectorError::transient(format!("{path}: {}", without_url(&error)))
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(|error| {
            ConnectorError::transient(format!(
                "{path}: reading the answer: {}",
                without_url(&error)
            ))
        })?;
        let envelope: Result<Envelope<T>, _> = serde_json::from_str(&text);
        if status != 200 {
            let (code, message) = match serde_json::from_str::<Envelope<serde_json::Value>>(&text) {
                Ok(envelope) => (
                    Some(envelope.code).filter(|code| *code != 0),
                    envelope.message,
                ),
                Err(_) => (None, String::new()),
            };
            self.note_code(code);
            return Err(classify(
                status,
                code,
                &format!("{path}: {message}"),
                retry_after,
            ));
        }
        let envelope = envelope.map_err(|error| {
            ConnectorError::transient(format!("{path}: unreadable answer: {error}"))
        })?;
        self.note_code(Some(envelope.code));
        Ok(envelope)
    }

    fn note_code(&self, code: Option<i64>) {
        if code == Some(EXPIRED_ACCESS_TOKEN) {
            self.must_refresh.store(true, Ordering::SeqCst);
        }
    }

    /// The access token, refreshed first when it expires within the margin.
    async fn fresh_access_token(&self) -> Result<Secret, ConnectorError> {
        let mut slot = self.tokens.lock().await;
        let mut tokens = match slot.take() {
            Some(tokens) => tokens,
            None => self.newest(self.configured.clone()).await?,
        };
        let now = Utc::now().timestamp();
        self.warn_if_authorization_ends(&tokens, now);
        let forced = self.must_refresh.load(Ordering::SeqCst);
        if forced || tokens.access_token_expire_in - self.refresh_margin <= now {
            // Another replica may have refreshed already: its pair is the one TikTok expects.
            let newest = self.newest(tokens.clone()).await?;
            let adopted = newest.access_token_expire_in > tokens.access_token_expire_in
                && newest.access_token_expire_in - self.refresh_margin > now;
            if adopted {
                tokens = newest;
            } else {
                let refreshed = match self.refresh(&tokens).await {
                    Ok(refreshed) => refreshed,
                    Err(error) => {
                        *slot = Some(tokens);
                        return Err(error);
                    }
                };
                // Durable before use: a restart must find the pair TikTok now expects. The
                // old pair may be retired already, so an unsaved new pair is still used, and
                // saved again before the next call.
                self.unsaved.store(true, Ordering::SeqCst);
                info!(
                    access_token_expire_in = refreshed.access_token_expire_in,
                    refresh_token_expire_in = refreshed.refresh_token_expire_in,
                    "TikTok access token refreshed"
                );
                tokens = refreshed;
            }
            self.must_refresh.store(false, Ordering::SeqCst);
        }
        if self.unsaved.load(Ordering::SeqCst) {
            match self.store.save(&tokens).await {
                Ok(()) => self.unsaved.store(false, Ordering::SeqCst),
                Err(reason) => {
                    error!(reason = %reason, "refreshed TikTok tokens could not be stored: a restart now would need the seller to re-authorize")
                }
            }
        }
        self.refresh_expire
            .store(tokens.refresh_token_expire_in, Ordering::SeqCst);
        let access = tokens.access_token.clone();
        *slot = Some(tokens);
        Ok(access)
    }

    fn warn_if_authorization_ends(&self, tokens: &TokenPair, now: i64) {
        let left = tokens.refresh_token_expire_in - now;
        if left > REFRESH_TOKEN_WARNING_SECS {
            return;
        }
        let last = self.warned_at.load(Ordering::Relaxed);
        if now - last >= 24 * 3600 {
            self.warned_at.store(now, Ordering::Relaxed);
            warn!(
                refresh_token_expire_in = tokens.refresh_token_expire_in,
                days_left = left / 86_400,
                "TikTok authorization ends soon: the seller must re-authorize the app"
            );
        }
    }

    async fn refresh(&self, tokens: &TokenPair) -> Result<TokenPair, ConnectorError> {
        let now = Utc::now().timestamp();
        if tokens.refresh_token_expire_in <= now {
            return Err(ConnectorError::Configuration(
                "the TikTok refresh token expired: the seller must re-authorize the app".into(),
            ));
        }
        let path = "/api/v2/token/refresh";
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.auth_origin))
            .map_err(|error| ConnectorError::Configuration(format!("{path}: url: {error}")))?;
        url.query_pairs_mut()
            .append_pair("app_key", &self.app_key)
            .append_pair("app_secret", self.app_secret.expose())
            .append_pair("refresh_token", tokens.refresh_token.expose())
            .append_pair("grant_type", "refresh_token");
        let response = self.http.get(url).send().await.map_err(|error| {
            ConnectorError::transient(format!("{path}: {}", without_url(&error)))
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|error| {
            ConnectorError::transient(format!("{path}: {}", without_url(&error)))
        })?;
        let envelope: Envelope<RefreshedTokens> = serde_json::from_str(&text).map_err(|error| {
            classify(
                status.max(500),
                None,
                &format!("{path}: unreadable answer: {error}"),
                None,
            )
        })?;
        if status != 200 || envelope.code != 0 {
            return Err(classify(
                status,
                Some(envelope.code).filter(|code| *code != 0),
                &format!("{path}: {}", envelope.message),
                None,
            ));
        }
        let data = envelope
            .data
            .ok_or_else(|| ConnectorError::transient(format!("{path}: answer without data")))?;
        Ok(TokenPair {
            access_token: Secret::new(data.access_token),
            access_token_expire_in: data.access_token_expire_in,
            refresh_token: Secret::new(data.refresh_token),
            refresh_token_expire_in: data.refresh_token_expire_in,
        })
    }
}

/// A reqwest error without its URL: the token refresh URL carries the app secret.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "body unreadable"
    } else {
        "request failed"
    };
    kind.to_string()
}
