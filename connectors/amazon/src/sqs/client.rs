//! A minimal Amazon SQS client: `ReceiveMessage` (long polling) and `DeleteMessageBatch`, in
//! the AWS JSON 1.0 protocol SQS documents today (`POST /`, `x-amz-target:
//! AmazonSQS.<Action>`, `content-type: application/x-amz-json-1.0`), every request signed by
//! AWS's own SigV4 signer (`aws-sigv4`). It neither retries nor sleeps: the runtime does.
//!
//! The SDK (`aws-sdk-sqs`) would bring its own HTTP stack, runtime and credential chain for two
//! calls; the signer and the `reqwest` client the connector already has keep the build lean.

use crate::sqs::config::{NotificationQueueConfig, QueueConfigError};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use omnistock_connector::{ConnectorError, Secret};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// The JSON protocol's content type.
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// The service name requests are signed for.
const SERVICE: &str = "sqs";

/// One message as `ReceiveMessage` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// `ApproximateReceiveCount` and the other system attributes asked for.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

impl QueueMessage {
    /// How many times SQS has delivered this message, this delivery included.
    pub fn receive_count(&self) -> Option<u32> {
        self.attributes
            .get("ApproximateReceiveCount")
            .and_then(|count| count.parse().ok())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveAnswer {
    #[serde(default)]
    messages: Vec<QueueMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteAnswer {
    #[serde(default)]
    failed: Vec<DeleteFailure>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteFailure {
    id: String,
    #[serde(default)]
    code: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveRequest<'a> {
    queue_url: &'a str,
    max_number_of_messages: u32,
    wait_time_seconds: u32,
    visibility_timeout: u32,
    message_system_attribute_names: [&'a str; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteRequest<'a> {
    queue_url: &'a str,
    entries: Vec<DeleteEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteEntry<'a> {
    id: String,
    receipt_handle: &'a str,
}

/// The most entries one `DeleteMessageBatch` may carry.
pub const MAX_DELETE_BATCH: usize = 10;

/// One channel's notification queue.
pub struct SqsClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    queue_url: String,
    region: String,
    access_key_id: Secret,
    secret_access_key: Secret,
    session_token: Option<Secret>,
    wait_time_secs: u32,
    max_messages: u32,
    visibility_timeout_secs: u32,
}

impl std::fmt::Debug for SqsClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SqsClient")
            .field("queue_url", &self.queue_url)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SqsClient {
    /// A client for the queue of `config`, whose requests may take `request_timeout` beyond
    /// the long poll's wait.
    pub fn new(
        config: &NotificationQueueConfig,
        request_timeout: Duration,
    ) -> Result<Self, QueueConfigError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.receive_timeout(request_timeout))
            .build()
            .map_err(|error| QueueConfigError {
                field: "queue_url",
                reason: format!("cannot build the http client: {error}"),
            })?;
        Ok(Self {
            http,
            endpoint: config.endpoint()?,
            queue_url: config.queue_url.clone(),
            region: config.region.clone(),
            access_key_id: config.access_key_id.clone(),
            secret_access_key: config.secret_access_key.clone(),
            session_token: config.session_token.clone(),
            wait_time_secs: config.wait_time_secs(),
            max_messages: config.max_messages(),
            visibility_timeout_secs: config.visibility_timeout_secs(),
        })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Waits up to the configured wait for messages and returns up to the configured number;
    /// each stays hidden from other receivers for the visibility timeout.
    pub async fn receive(&self) -> Result<Vec<QueueMessage>, ConnectorError> {
        let request = ReceiveRequest {
            queue_url: &self.queue_url,
            max_number_of_messages: self.max_messages,
            wait_time_seconds: self.wait_time_secs,
            visibility_timeout: self.visibility_timeout_secs,
            message_system_attribute_names: ["ApproximateReceiveCount"],
        };
        let answer: ReceiveAnswer = self.call("ReceiveMessage", &request).await?;
        Ok(answer.messages)
    }

    /// Deletes the messages of these receipt handles, [`MAX_DELETE_BATCH`] a request. A handle
    /// SQS refuses (expired: the message was delivered again since) is an error naming how
    /// many; the message comes back and is booked as the duplicate it is.
    pub async fn delete(&self, receipt_handles: &[String]) -> Result<(), ConnectorError> {
        let mut refused = Vec::new();
        for chunk in receipt_handles.chunks(MAX_DELETE_BATCH) {
            let request = DeleteRequest {
                queue_url: &self.queue_url,
                entries: chunk
                    .iter()
                    .enumerate()
                    .map(|(index, handle)| DeleteEntry {
                        id: index.to_string(),
                        receipt_handle: handle,
                    })
                    .collect(),
            };
            let answer: DeleteAnswer = self.call("DeleteMessageBatch", &request).await?;
            refused.extend(
                answer
                    .failed
                    .into_iter()
                    .map(|failure| format!("{} ({})", failure.id, failure.code)),
            );
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::transient(format!(
                "sqs refused to delete {} of {} messages: {}",
                refused.len(),
                receipt_handles.len(),
                refused.join(", ")
            )))
        }
    }

    /// Signs and sends one JSON-protocol request and reads its answer or classifies its error.
    async fn call<Request: Serialize, Answer: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        request: &Request,
    ) -> Result<Answer, ConnectorError> {
        let body = serde_json::to_vec(request)
            .map_err(|error| ConnectorError::Permanent(format!("sqs {action}: {error}")))?;
        let target = format!("AmazonSQS.{action}");
        let mut headers = vec![
            ("content-type".to_string(), CONTENT_TYPE.to_string()),
            ("x-amz-target".to_string(), target),
        ];
        headers.extend(self.signature(&headers, &body)?);
        let mut builder = self.http.post(self.endpoint.clone());
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder.body(body).send().await.map_err(|error| {
            ConnectorError::transient(format!("sqs {action}: {}", error.without_url()))
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|error| {
            ConnectorError::transient(format!("sqs {action}: reading the answer: {error}"))
        })?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|error| {
                ConnectorError::transient(format!("sqs {action}: unreadable answer: {error}"))
            });
        }
        Err(classify(action, status, &text))
    }

    /// The headers SigV4 adds to a request with these headers and body, signed now.
    fn signature(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, ConnectorError> {
        let credentials = Credentials::new(
            self.access_key_id.expose(),
            self.secret_access_key.expose(),
            self.session_token
                .as_ref()
                .map(|token| token.expose().to_string()),
            None,
            "omnistock-channel-settings",
        );
        let identity = credentials.into();
        let unsignable = |error: String| {
            ConnectorError::Configuration(format!("cannot sign the sqs request: {error}"))
        };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| unsignable(error.to_string()))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.endpoint.as_str(),
            headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|error| unsignable(error.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|error| unsignable(error.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect())
    }
}

/// What an SQS error answer means for the runtime: throttling and 5xx pass, credentials and
/// permissions are configuration, a missing queue is configuration too (the URL is wrong).
fn classify(action: &str, status: reqwest::StatusCode, text: &str) -> ConnectorError {
    // `{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "…"}` (`Message` too).
    let answer: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let field = |name: &str| answer.get(name).and_then(|value| value.as_str());
    // An answer from in front of SQS's JSON handler (a signature refused early) may be XML.
    let xml = |name: &str| {
        text.split(&format!("<{name}>"))
            .nth(1)
            .and_then(|rest| rest.split(&format!("</{name}>")).next())
    };
    let code = field("__type")
        .and_then(|kind| kind.rsplit('#').next())
        .or_else(|| xml("Code"))
        .unwrap_or_default()
        .to_string();
    let detail = field("message")
        .or(field("Message"))
        .or_else(|| xml("Message"))
        .unwrap_or_default();
    let message = format!("sqs {action}: {status} {code} {detail}")
        .trim()
        .to_string();
    let throttled =
        code.contains("Throttl") || code == "RequestThrottled" || status.as_u16() == 429;
    if throttled {
        return ConnectorError::RateLimited {
            message,
            retry_after: None,
        };
    }
    if status.is_server_error() {
        return ConnectorError::transient(message);
    }
    if matches!(status.as_u16(), 401 | 403)
        || code.contains("AccessDenied")
        || code.contains("InvalidClientTokenId")
        || code.contains("SignatureDoesNotMatch")
        || code.contains("NonExistentQueue")
        || code.contains("QueueDoesNotExist")
    {
        return ConnectorError::Configuration(message);
    }
    ConnectorError::Permanent(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_classified() {
        let throttled = classify(
            "ReceiveMessage",
            reqwest::StatusCode::BAD_REQUEST,
            r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"slow down"}"#,
        );
        assert!(matches!(throttled, ConnectorError::RateLimited { .. }));
        let missing = classify(
            "ReceiveMessage",
            reqwest::StatusCode::BAD_REQUEST,
            r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no queue"}"#,
        );
        assert!(
            matches!(&missing, ConnectorError::Configuration(text) if text.contains("QueueDoesNotExist")),
            "{missing:?}"
        );
        assert!(matches!(
            classify(
                "DeleteMessageBatch",
                reqwest::StatusCode::BAD_GATEWAY,
                "<html>"
            ),
            ConnectorError::Transient { .. }
        ));
        let forged = classify(
            "ReceiveMessage",
            reqwest::StatusCode::FORBIDDEN,
            "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></ErrorResponse>",
        );
        assert!(
            matches!(&forged, ConnectorError::Configuration(text) if text.contains("SignatureDoesNotMatch")),
            "{forged:?}"
        );
    }
}
