//! One SP-API call: the access token attached (refreshed once when Amazon says it expired),
//! the usage plan's bucket updated from the answer, and what went wrong classified.

use crate::auth::LwaTokens;
use crate::usage::{parse_rate_header, Operation, UsagePlans};
use omnistock_connector::ConnectorError;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The header that carries the LWA access token.
pub const ACCESS_TOKEN_HEADER: &str = "x-amz-access-token";
/// The header that carries the rate Amazon applied to the operation.
pub const RATE_LIMIT_HEADER: &str = "x-amzn-RateLimit-Limit";
/// Amazon asks callers to name their application and language in `User-Agent`.
const USER_AGENT: &str = concat!("omnistock/", env!("CARGO_PKG_VERSION"), " (Language=Rust)");

/// One entry of an SP-API `errors` list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: Option<String>,
}

impl ApiError {
    fn text(&self) -> String {
        match self
            .details
            .as_deref()
            .filter(|details| !details.is_empty())
        {
            Some(details) => format!("{}: {} ({details})", self.code, self.message),
            None => format!("{}: {}", self.code, self.message),
        }
    }

    fn says_expired(&self) -> bool {
        let mentions = |text: &str| text.to_ascii_lowercase().contains("expired");
        mentions(&self.message) || self.details.as_deref().is_some_and(mentions)
    }
}

#[derive(Deserialize)]
struct ErrorList {
    #[serde(default)]
    errors: Vec<ApiError>,
}

/// Amazon refused this request itself (400, 404, 413, 415): the same request will be refused
/// again, whatever the other requests do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub operation: Operation,
    pub status: u16,
    pub errors: Vec<ApiError>,
}

impl Refusal {
    pub fn text(&self) -> String {
        let errors: Vec<String> = self.errors.iter().map(ApiError::text).collect();
        format!(
            "{}: http {}: {}",
            self.operation.name(),
            self.status,
            errors.join("; ")
        )
    }
}

/// Why a call did not answer with success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    /// The request was refused for what it asked (kept per listing by the caller).
    Refused(Refusal),
    /// The call failed as a whole (auth, rate, outage).
    Failed(ConnectorError),
}

impl From<CallFailure> for ConnectorError {
    fn from(failure: CallFailure) -> Self {
        match failure {
            CallFailure::Refused(refusal) => ConnectorError::Permanent(refusal.text()),
            CallFailure::Failed(error) => error,
        }
    }
}

impl From<ConnectorError> for CallFailure {
    fn from(error: ConnectorError) -> Self {
        CallFailure::Failed(error)
    }
}

/// A request to one operation.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub operation: Operation,
    pub method: reqwest::Method,
    /// Path segments after the origin, each percent-encoded on the way (a seller SKU may hold
    /// `/` or spaces).
    pub path: Vec<String>,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl ApiRequest {
    pub fn get(operation: Operation, path: &[&str]) -> Self {
        Self {
            operation,
            method: reqwest::Method::GET,
            path: path.iter().map(|segment| segment.to_string()).collect(),
            query: Vec::new(),
            body: None,
        }
    }

    pub fn with_method(mut self, method: reqwest::Method) -> Self {
        self.method = method;
        self
    }

    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// The SP-API client of one seller account in one region.
#[derive(Debug)]
pub struct SpApiClient {
    http: reqwest::Client,
    origin: reqwest::Url,
    tokens: LwaTokens,
    plans: UsagePlans,
}

impl SpApiClient {
    pub fn new(http: reqwest::Client, origin: reqwest::Url, tokens: LwaTokens) -> Self {
        Self {
            http,
            origin,
            tokens,
            plans: UsagePlans::default(),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn plans(&self) -> &UsagePlans {
        &self.plans
    }

    fn url(&self, request: &ApiRequest) -> Result<reqwest::Url, ConnectorError> {
        let mut url = self.origin.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| {
                ConnectorError::Configuration("api_origin: cannot hold a path".into())
            })?;
            segments.pop_if_empty();
            for segment in &request.path {
                segments.push(segment);
            }
        }
        Ok(url)
    }

    /// Sends the request and returns the decoded JSON answer of a 2xx.
    pub async fn call(&self, request: &ApiRequest) -> Result<Value, CallFailure> {
        let token = self.tokens.access_token().await?;
        match self.send(request, &token).await? {
            Answer::Ok(value) => Ok(value),
            Answer::Failed(failure) => Err(failure),
            Answer::TokenExpired => {
                // Refresh once: a second expiry right after a fresh exchange is not a token
                // problem.
                self.tokens.invalidate(&token).await;
                let fresh = self.tokens.access_token().await?;
                match self.send(request, &fresh).await? {
                    Answer::Ok(value) => Ok(value),
                    Answer::Failed(failure) => Err(failure),
                    Answer::TokenExpired => {
                        Err(CallFailure::Failed(ConnectorError::Configuration(format!(
                            "{}: a freshly exchanged access token was refused as expired",
                            request.operation.name()
                        ))))
                    }
                }
            }
        }
    }

    async fn send(
        &self,
        request: &ApiRequest,
        token: &omnistock_connector::Secret,
    ) -> Result<Answer, ConnectorError> {
        let operation = request.operation;
        let mut builder = self
            .http
            .request(request.method.clone(), self.url(request)?)
            .header(ACCESS_TOKEN_HEADER, token.expose())
            .header(reqwest::header::USER_AGENT, USER_AGENT)
            .header(reqwest::header::ACCEPT, "application/json");
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = builder.send().await;
        // Spent once the answer is in: Amazon took the token somewhere between sending and
        // answering, so refilling from the answer keeps the local bucket no fuller than
        // Amazon's (from the send, a quicker request later could reach an empty bucket).
        self.plans.spend(operation);
        let response = response.map_err(|error| {
            ConnectorError::transient(format!(
                "{}: request failed: {}",
                operation.name(),
                error.without_url()
            ))
        })?;
        let status = response.status().as_u16();
        if let Some(rate) = response
            .headers()
            .get(RATE_LIMIT_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_rate_header)
        {
            self.plans.observe_rate(operation, rate);
        }
        let text = response.text().await.map_err(|error| {
            ConnectorError::transient(format!("{}: reading the answer: {error}", operation.name()))
        })?;
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(Answer::Ok(Value::Null));
            }
            return serde_json::from_str(&text)
                .map(Answer::Ok)
                .map_err(|error| {
                    ConnectorError::transient(format!(
                        "{}: the answer is not JSON: {error}",
                        operation.name()
                    ))
                });
        }
        let errors = serde_json::from_str::<ErrorList>(&text)
            .map(|list| list.errors)
            .unwrap_or_default();
        Ok(self.classify(operation, status, errors))
    }

    fn classify(&self, operation: Operation, status: u16, errors: Vec<ApiError>) -> Answer {
        let name = operation.name();
        let texts: Vec<String> = errors.iter().map(ApiError::text).collect();
        let message = format!("{name}: http {status}: {}", texts.join("; "));
        let failed = |error| Answer::Failed(CallFailure::Failed(error));
        match status {
            401 => Answer::TokenExpired,
            403 if errors.iter().any(ApiError::says_expired) => Answer::TokenExpired,
            403 => failed(ConnectorError::Configuration(format!(
                "{message} (the application or the seller's authorization lacks the {} role)",
                required_role(operation)
            ))),
            429 => failed(ConnectorError::RateLimited {
                message,
                retry_after: Some(
                    self.plans
                        .throttled(operation)
                        .max(Duration::from_millis(200)),
                ),
            }),
            500..=599 => failed(ConnectorError::Transient {
                message,
                retry_after: None,
            }),
            400 | 404 | 409 | 413 | 415 | 422 => Answer::Failed(CallFailure::Refused(Refusal {
                operation,
                status,
                errors,
            })),
            _ => failed(ConnectorError::Permanent(message)),
        }
    }
}

enum Answer {
    Ok(Value),
    Failed(CallFailure),
    TokenExpired,
}

/// The SP-API role an operation needs, for the configuration error that names it.
pub fn required_role(operation: Operation) -> &'static str {
    match operation {
        Operation::GetOrders | Operation::GetOrderItems => "Inventory and Order Tracking",
        Operation::GetListingsItem
        | Operation::PatchListingsItem
        | Operation::SearchListingsItems
        | Operation::CreateFeedDocument
        | Operation::CreateFeed
        | Operation::GetFeed
        | Operation::GetFeedDocument => "Product Listing",
    }
}
