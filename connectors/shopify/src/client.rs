//! One GraphQL call to the Admin API: send, read the cost bucket, classify what went wrong.

use crate::throttle::{refill_time, throttled_wait, QueryCost, ThrottleStatus};
use omnistock_connector::{ConnectorError, Secret};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tracing::debug;

/// The header that carries the access token.
pub const ACCESS_TOKEN_HEADER: &str = "X-Shopify-Access-Token";

/// A GraphQL client for one shop.
pub struct GraphqlClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    access_token: Secret,
    last_throttle: Mutex<Option<ThrottleStatus>>,
    /// The requested cost each operation last had, by operation name: what the next call of
    /// it is expected to cost.
    requested_costs: Mutex<HashMap<String, f64>>,
    /// What each operation actually cost the last time (Shopify refunds the rest).
    actual_costs: Mutex<HashMap<String, f64>>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    data: Option<Value>,
    #[serde(default)]
    errors: Option<Value>,
    #[serde(default)]
    extensions: Option<Extensions>,
}

#[derive(Debug, Deserialize)]
struct Extensions {
    cost: Option<QueryCost>,
}

/// One entry of a response's `errors`.
#[derive(Debug, Clone, Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    extensions: Option<Value>,
}

impl GraphqlError {
    fn code(&self) -> Option<&str> {
        self.extensions.as_ref()?.get("code")?.as_str()
    }
}

impl GraphqlClient {
    pub fn new(
        endpoint: reqwest::Url,
        access_token: Secret,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("omnistock/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            endpoint,
            access_token,
            last_throttle: Mutex::new(None),
            requested_costs: Mutex::new(HashMap::new()),
            actual_costs: Mutex::new(HashMap::new()),
        })
    }

    pub fn endpoint(&self) -> &reqwest::Url {
        &self.endpoint
    }

    /// The cost bucket as the last response described it.
    pub fn throttle_status(&self) -> Option<ThrottleStatus> {
        self.last_throttle.lock().ok().and_then(|guard| *guard)
    }

    /// The highest cost the last calls of these operations requested; `None` before any ran.
    pub fn expected_cost(&self, operation_names: &[&str]) -> Option<f64> {
        let costs = self.requested_costs.lock().ok()?;
        operation_names
            .iter()
            .filter_map(|name| costs.get(*name).copied())
            .reduce(f64::max)
    }

    /// What `operation_name` actually cost when last answered.
    pub fn actual_cost(&self, operation_name: &str) -> Option<f64> {
        self.actual_costs.lock().ok()?.get(operation_name).copied()
    }

    fn record_requested(&self, operation_name: &str, cost: Option<&QueryCost>) {
        if let Some(actual) = cost.and_then(|cost| cost.actual_query_cost) {
            if let Ok(mut costs) = self.actual_costs.lock() {
                costs.insert(operation_name.to_string(), actual);
            }
        }
        if let Some(requested) = cost.and_then(|cost| cost.requested_query_cost) {
            if let Ok(mut costs) = self.requested_costs.lock() {
                costs.insert(operation_name.to_string(), requested);
            }
        }
    }

    fn record(&self, cost: Option<&QueryCost>) {
        if let Some(bucket) = cost.and_then(|cost| cost.throttle_status) {
            if let Ok(mut guard) = self.last_throttle.lock() {
                *guard = Some(ThrottleStatus::new(bucket));
            }
        }
    }

    /// Runs `document` with `variables` and decodes `data` as `T`.
    pub async fn execute<T: DeserializeOwned>(
        &self,
        operation_name: &str,
        document: &str,
        variables: Value,
    ) -> Result<T, ConnectorError> {
        let body = json!({
            "query": document,
            "operationName": operation_name,
            "variables": variables,
        });
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(ACCESS_TOKEN_HEADER, self.access_token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|error| {
                ConnectorError::transient(format!("{operation_name}: request failed: {error}"))
            })?;
        let status = response.status();
        let retry_after_header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let text = response.text().await.map_err(|error| {
            ConnectorError::transient(format!("{operation_name}: reading the response: {error}"))
        })?;
        let envelope: Option<Envelope> = serde_json::from_str(&text).ok();
        let cost = envelope
            .as_ref()
            .and_then(|envelope| envelope.extensions.as_ref())
            .and_then(|extensions| extensions.cost.clone());
        self.record(cost.as_ref());
        self.record_requested(operation_name, cost.as_ref());

        if !status.is_success() {
            return Err(self.classify_status(operation_name, status, retry_after_header, &text));
        }
        let envelope = envelope.ok_or_else(|| {
            ConnectorError::transient(format!(
                "{operation_name}: the response is not a GraphQL response"
            ))
        })?;
        let errors: Vec<GraphqlError> = envelope
            .errors
            .map(|errors| serde_json::from_value(errors).unwrap_or_default())
            .unwrap_or_default();
        if !errors.is_empty() {
            return Err(classify_errors(operation_name, &errors, cost.as_ref()));
        }
        if let Some(cost) = &cost {
            debug!(
                operation = operation_name,
                requested = cost.requested_query_cost,
                actual = cost.actual_query_cost,
                available = cost
                    .throttle_status
                    .map(|bucket| bucket.currently_available),
                "shopify query cost"
            );
        }
        let data = envelope.data.unwrap_or(Value::Null);
        serde_json::from_value(data).map_err(|error| {
            ConnectorError::Permanent(format!(
                "{operation_name}: unexpected response shape: {error}"
            ))
        })
    }

    fn classify_status(
        &self,
        operation_name: &str,
        status: reqwest::StatusCode,
        retry_after: Option<Duration>,
        body: &str,
    ) -> ConnectorError {
        let snippet: String = body.chars().take(200).collect();
        let message = format!("{operation_name}: http {status}: {snippet}");
        match status.as_u16() {
            401 | 403 => ConnectorError::Configuration(format!(
                "{message} (check access_token and the app's access scopes)"
            )),
            402 => ConnectorError::Configuration(format!("{message} (the shop is frozen)")),
            404 => ConnectorError::Configuration(format!("{message} (check shop and api_version)")),
            423 => ConnectorError::Configuration(format!("{message} (the shop is locked)")),
            429 => {
                let estimate = self.throttle_status().map(|status| status.wait_for(50.0));
                ConnectorError::RateLimited {
                    message,
                    retry_after: retry_after.or(estimate).or(Some(Duration::from_secs(1))),
                }
            }
            500..=599 => ConnectorError::Transient {
                message,
                retry_after,
            },
            _ => ConnectorError::Permanent(message),
        }
    }
}

/// `Retry-After` in seconds (fractions allowed). A negative, infinite, unparsable or
/// unrepresentable value is no advice at all (the runtime bounds every wait anyway).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds = value.trim().parse::<f64>().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(seconds).ok()
}

fn classify_errors(
    operation_name: &str,
    errors: &[GraphqlError],
    cost: Option<&QueryCost>,
) -> ConnectorError {
    let messages: Vec<&str> = errors.iter().map(|error| error.message.as_str()).collect();
    let message = format!("{operation_name}: {}", messages.join("; "));
    let has = |code: &str| errors.iter().any(|error| error.code() == Some(code));
    if has("THROTTLED") {
        let retry_after = cost
            .and_then(throttled_wait)
            .unwrap_or_else(|| refill_time(50.0, 50.0));
        return ConnectorError::RateLimited {
            message,
            retry_after: Some(retry_after),
        };
    }
    if has("ACCESS_DENIED") {
        return ConnectorError::Configuration(format!("{message} (the app lacks an access scope)"));
    }
    if has("MAX_COST_EXCEEDED") {
        return ConnectorError::Permanent(message);
    }
    if has("INTERNAL_SERVER_ERROR") || has("SERVICE_UNAVAILABLE") {
        return ConnectorError::transient(message);
    }
    // A query Shopify does not understand: an api_version without the fields this connector
    // uses, or a bug. Retrying will not help.
    ConnectorError::Configuration(format!("{message} (check api_version)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_of_any_text_never_panics() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        for garbage in [
            "-1",
            "abc",
            "",
            "NaN",
            "inf",
            "-inf",
            "1e300",
            "Wed, 21 Oct 2015",
        ] {
            assert_eq!(parse_retry_after(garbage), None, "{garbage:?}");
        }
    }
}
