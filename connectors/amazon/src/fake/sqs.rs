//! A local SQS-compatible server for tests: `moto_server` (the `moto[server]` Python package,
//! installed into `target/ci-python` by `.ci/python-tools`) started on a free port, with the
//! test-side calls a test needs (create a queue, send a message, count what is left). The
//! connector's own calls are signed; these are not (moto does not check signatures unless asked).
//!
//! Without moto, [`LocalSqs::start`] says so and returns `None` so the test can skip — except
//! under CI (`CI` set), where the venv is installed and a missing server is a failure.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The AWS account moto gives every queue.
pub const ACCOUNT: &str = "123456789012";

/// A running `moto_server`, stopped when dropped.
pub struct LocalSqs {
    child: Child,
    endpoint: String,
    http: reqwest::Client,
}

/// Where `moto_server` is: `$OMNISTOCK_MOTO_SERVER`, else the project's venv.
fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("OMNISTOCK_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("ci-python/bin/moto_server")
}

impl LocalSqs {
    /// Starts `moto_server -H 127.0.0.1 -p 0` and reads the port it bound from its first lines.
    /// `None` (after saying why) when moto is not installed outside CI.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts a server that checks the SigV4 signature of every request after the first
    /// `unsigned` ones (moto's `INITIAL_NO_AUTH_ACTION_COUNT`), and spends three of them on an
    /// IAM user allowed `sqs:*`; returns the server and that user's access key id and secret.
    pub async fn start_verifying_signatures(unsigned: u32) -> Option<(Self, String, String)> {
        let sqs = Self::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", unsigned.to_string())])?;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#;
        sqs.iam(&[("Action", "CreateUser"), ("UserName", "omnistock")])
            .await;
        sqs.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "omnistock"),
            ("PolicyName", "sqs"),
            ("PolicyDocument", policy),
        ])
        .await;
        let key = sqs
            .iam(&[("Action", "CreateAccessKey"), ("UserName", "omnistock")])
            .await;
        let element = |name: &str| {
            key.split(&format!("<{name}>"))
                .nth(1)
                .and_then(|rest| rest.split(&format!("</{name}>")).next())
                .unwrap_or_else(|| panic!("no {name} in {key}"))
                .to_string()
        };
        let (id, secret) = (element("AccessKeyId"), element("SecretAccessKey"));
        Some((sqs, id, secret))
    }

    /// One unsigned IAM call (query protocol); its XML answer.
    async fn iam(&self, parameters: &[(&str, &str)]) -> String {
        let mut form: Vec<(&str, &str)> = parameters.to_vec();
        form.push(("Version", "2010-05-08"));
        let response = self
            .http
            .post(&self.endpoint)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=TEST/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            )
            .form(&form)
            .send()
            .await
            .unwrap_or_else(|error| panic!("iam: {error}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "iam {parameters:?}: {status} {text}");
        text
    }

    fn start_with(environment: &[(&str, String)]) -> Option<Self> {
        let path = moto_server_path();
        if !path.exists() {
            let message = format!(
                "{} is not there: run .ci/python-tools to install moto",
                path.display()
            );
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("skipped: {message}");
            return None;
        }
        let mut child = Command::new(&path)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .envs(
                environment
                    .iter()
                    .map(|(name, value)| (*name, value.as_str())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", path.display()));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let (found, port) = std::sync::mpsc::channel();
        // Werkzeug prints `Running on http://127.0.0.1:PORT`; the rest is drained so moto never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(rest) = line.split("Running on http://127.0.0.1:").nth(1) {
                        let digits: String =
                            rest.chars().take_while(char::is_ascii_digit).collect();
                        sent = found.send(digits).is_ok();
                    }
                }
            }
        });
        let port = port
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("moto_server did not say which port it bound"));
        Some(Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// One unsigned JSON-protocol call.
    pub async fn call(&self, action: &str, body: Value) -> Value {
        let response = self
            .http
            .post(&self.endpoint)
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=TEST/20260101/eu-west-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("sqs {action}: {error}"));
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "sqs {action}: {status} {answer}");
        answer
    }

    /// Creates a standard queue whose messages are hidden `visibility_secs` after a receive;
    /// returns its URL.
    pub async fn create_queue(&self, name: &str, visibility_secs: u32) -> String {
        let answer = self
            .call(
                "CreateQueue",
                json!({"QueueName": name, "Attributes": {"VisibilityTimeout": visibility_secs.to_string()}}),
            )
            .await;
        answer["QueueUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("no queue url in {answer}"))
            .to_string()
    }

    /// Sends one message; returns its id.
    pub async fn send(&self, queue_url: &str, body: &str) -> String {
        let answer = self
            .call(
                "SendMessage",
                json!({"QueueUrl": queue_url, "MessageBody": body}),
            )
            .await;
        answer["MessageId"].as_str().unwrap_or_default().to_string()
    }

    /// Messages in the queue, visible or not (deleted ones are gone).
    pub async fn messages_left(&self, queue_url: &str) -> u64 {
        let answer = self
            .call(
                "GetQueueAttributes",
                json!({"QueueUrl": queue_url, "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}),
            )
            .await;
        [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        ]
        .iter()
        .map(|name| {
            answer["Attributes"][name]
                .as_str()
                .and_then(|count| count.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
    }

    /// A channel's `notifications` settings reading `queue_url` here.
    pub fn queue_settings(&self, queue_url: &str, visibility_secs: u32) -> Value {
        json!({
            "queue_url": queue_url,
            "region": "eu-west-1",
            "access_key_id": "AKIDLOCALTEST",
            "secret_access_key": "local-test-secret",
            "endpoint": self.endpoint,
            "wait_time_secs": 1,
            "visibility_timeout_secs": visibility_secs,
        })
    }
}

impl Drop for LocalSqs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `OrderLevel` `ORDER_CHANGE` notification of a merchant-fulfilled order with one item, in
/// the envelope Amazon documents (the body of one SQS message).
pub fn order_change(
    notification_id: &str,
    order_id: &str,
    status: &str,
    sku: &str,
    quantity: i64,
    changed_at: &str,
) -> String {
    json!({
        "NotificationVersion": "1.0",
        "NotificationType": "ORDER_CHANGE",
        "PayloadVersion": "1.0",
        "EventTime": changed_at,
        "Payload": {"OrderChangeNotification": {
            "NotificationLevel": "OrderLevel",
            "SellerId": "A2FAKESELLER",
            "AmazonOrderId": order_id,
            "OrderChangeType": "OrderStatusChange",
            "OrderChangeTrigger": {"TimeOfOrderChange": changed_at, "ChangeReason": "Order status changed"},
            "Summary": {
                "MarketplaceId": crate::fake::MARKETPLACE_ID,
                "OrderStatus": status,
                "PurchaseDate": "2026-12-06T20:59:00.000Z",
                "DestinationPostalCode": "10115",
                "FulfillmentType": "MFN",
                "OrderType": "StandardOrder",
                "OrderItems": [{"OrderItemId": format!("{order_id}-1"), "SellerSKU": sku,
                    "SupplySourceId": "d7679e14-031b-4ab3-a81b-ec4fc7a460b3",
                    "Quantity": quantity, "QuantityShipped": 0}]
            }
        }},
        "NotificationMetadata": {
            "ApplicationId": "amzn1.sellerapps.app.fake",
            "SubscriptionId": "fake-subscription",
            "PublishTime": changed_at,
            "NotificationId": notification_id
        }
    })
    .to_string()
}
