//! Large stock pushes as one `JSON_LISTINGS_FEED` (Feeds 2021-06-30): create a feed document,
//! upload the JSON to the pre-signed URL Amazon returns, create the feed, follow its
//! `processingStatus`, then read the processing report and turn its issues into per-listing
//! results. A feed carries up to 25,000 messages; message `n` is the `n`-th level submitted.

use crate::client::{ApiRequest, SpApiClient};
use crate::listings::MERCHANT_CHANNEL_CODE;
use crate::usage::Operation;
use omnistock_connector::{ConnectorError, PushResult, StockLevel, SubmissionStatus};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

/// The feed type of listings updates.
pub const FEED_TYPE: &str = "JSON_LISTINGS_FEED";
/// The content type declared for the document and sent with its upload.
pub const CONTENT_TYPE: &str = "application/json; charset=UTF-8";
/// Messages one JSON_LISTINGS_FEED may hold.
pub const MAX_FEED_MESSAGES: usize = 25_000;
const FEEDS_VERSION: &str = "2021-06-30";

/// The feed document that sets each level's merchant-fulfilled quantity.
pub fn feed_document(seller_id: &str, product_type: &str, levels: &[StockLevel]) -> Value {
    let messages: Vec<Value> = levels
        .iter()
        .enumerate()
        .map(|(index, level)| {
            json!({
                "messageId": index + 1,
                "sku": level.listing_id,
                "operationType": "PATCH",
                "productType": product_type,
                "patches": [{
                    "op": "merge",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{
                        "fulfillment_channel_code": MERCHANT_CHANNEL_CODE,
                        "quantity": level.quantity.max(0),
                    }],
                }],
            })
        })
        .collect();
    json!({
        "header": {"sellerId": seller_id, "version": "2.0"},
        "messages": messages,
    })
}

fn shape_error(operation: Operation, error: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::transient(format!(
        "{}: unexpected answer shape: {error}",
        operation.name()
    ))
}

#[derive(Deserialize)]
struct CreatedDocument {
    #[serde(rename = "feedDocumentId")]
    feed_document_id: String,
    url: String,
}

#[derive(Deserialize)]
struct CreatedFeed {
    #[serde(rename = "feedId")]
    feed_id: String,
}

#[derive(Deserialize)]
struct Feed {
    #[serde(rename = "processingStatus")]
    processing_status: String,
    #[serde(rename = "resultFeedDocumentId", default)]
    result_feed_document_id: Option<String>,
}

#[derive(Deserialize)]
struct FeedDocument {
    url: String,
    #[serde(rename = "compressionAlgorithm", default)]
    compression_algorithm: Option<String>,
}

#[derive(Deserialize)]
struct ReportIssue {
    #[serde(rename = "messageId", default)]
    message_id: Option<usize>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Report {
    #[serde(default)]
    issues: Vec<ReportIssue>,
}

/// Uploads the document and creates the feed; returns the feed id.
pub async fn submit(
    client: &SpApiClient,
    marketplace_ids: &[String],
    document: &Value,
) -> Result<String, ConnectorError> {
    let request = ApiRequest::get(
        Operation::CreateFeedDocument,
        &["feeds", FEEDS_VERSION, "documents"],
    )
    .with_method(reqwest::Method::POST)
    .body(json!({"contentType": CONTENT_TYPE}));
    let created: CreatedDocument = serde_json::from_value(client.call(&request).await?)
        .map_err(|error| shape_error(Operation::CreateFeedDocument, error))?;
    let upload = client
        .http()
        .put(&created.url)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(document.to_string())
        .send()
        .await
        .map_err(|error| {
            ConnectorError::transient(format!(
                "feed document upload failed: {}",
                error.without_url()
            ))
        })?;
    if !upload.status().is_success() {
        return Err(ConnectorError::transient(format!(
            "feed document upload: http {}",
            upload.status()
        )));
    }
    let request = ApiRequest::get(Operation::CreateFeed, &["feeds", FEEDS_VERSION, "feeds"])
        .with_method(reqwest::Method::POST)
        .body(json!({
            "feedType": FEED_TYPE,
            "marketplaceIds": marketplace_ids,
            "inputFeedDocumentId": created.feed_document_id,
        }));
    let feed: CreatedFeed = serde_json::from_value(client.call(&request).await?)
        .map_err(|error| shape_error(Operation::CreateFeed, error))?;
    Ok(feed.feed_id)
}

/// Where the feed stands; once done, its report read into one result per level.
/// `poll_after` is how soon to ask again about a feed still processing: `getFeed` allows 2 a
/// second, but a feed takes minutes.
pub async fn status(
    client: &SpApiClient,
    feed_id: &str,
    levels: &[StockLevel],
    poll_after: Duration,
) -> Result<SubmissionStatus, ConnectorError> {
    let request = ApiRequest::get(
        Operation::GetFeed,
        &["feeds", FEEDS_VERSION, "feeds", feed_id],
    );
    let feed: Feed = serde_json::from_value(client.call(&request).await?)
        .map_err(|error| shape_error(Operation::GetFeed, error))?;
    match feed.processing_status.as_str() {
        "IN_QUEUE" | "IN_PROGRESS" => return Ok(SubmissionStatus::InFlight { poll_after }),
        "CANCELLED" => {
            return Ok(SubmissionStatus::Done(all_rejected(
                levels,
                &ConnectorError::transient(format!("feed {feed_id} was cancelled")),
            )))
        }
        _ => {}
    }
    let fatal = feed.processing_status == "FATAL";
    let report = match &feed.result_feed_document_id {
        Some(document_id) => Some(read_report(client, document_id).await?),
        None => None,
    };
    if fatal {
        // The feed as a whole was refused (its document did not validate): nothing applied.
        let reason = report
            .as_ref()
            .map(|report| {
                issues_text(
                    report
                        .issues
                        .iter()
                        .filter(|issue| issue.message_id.is_none()),
                )
            })
            .unwrap_or_default();
        return Ok(SubmissionStatus::Done(all_rejected(
            levels,
            &ConnectorError::Permanent(format!("feed {feed_id} failed: {reason}")),
        )));
    }
    let report = report.ok_or_else(|| {
        ConnectorError::transient(format!("feed {feed_id} is done but names no report"))
    })?;
    Ok(SubmissionStatus::Done(results(feed_id, levels, &report)))
}

fn issues_text<'a>(issues: impl Iterator<Item = &'a ReportIssue>) -> String {
    issues
        .map(|issue| match &issue.code {
            Some(code) => format!("{code}: {}", issue.message),
            None => issue.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn all_rejected(levels: &[StockLevel], error: &ConnectorError) -> Vec<PushResult> {
    levels
        .iter()
        .map(|level| PushResult::Rejected {
            listing_id: level.listing_id.clone(),
            error: error.clone(),
        })
        .collect()
}

/// A message with an `ERROR` issue was refused (its codes and messages kept); every other
/// message was accepted.
fn results(feed_id: &str, levels: &[StockLevel], report: &Report) -> Vec<PushResult> {
    let mut errors: BTreeMap<usize, Vec<&ReportIssue>> = BTreeMap::new();
    for issue in &report.issues {
        if let (Some(message_id), "ERROR") = (issue.message_id, issue.severity.as_str()) {
            errors.entry(message_id).or_default().push(issue);
        }
    }
    levels
        .iter()
        .enumerate()
        .map(|(index, level)| match errors.get(&(index + 1)) {
            Some(issues) => PushResult::Rejected {
                listing_id: level.listing_id.clone(),
                error: ConnectorError::Permanent(format!(
                    "feed {feed_id}: {}",
                    issues_text(issues.iter().copied())
                )),
            },
            None => PushResult::Confirmed {
                listing_id: level.listing_id.clone(),
                quantity: level.quantity.max(0),
            },
        })
        .collect()
}

async fn read_report(client: &SpApiClient, document_id: &str) -> Result<Report, ConnectorError> {
    let request = ApiRequest::get(
        Operation::GetFeedDocument,
        &["feeds", FEEDS_VERSION, "documents", document_id],
    );
    let document: FeedDocument = serde_json::from_value(client.call(&request).await?)
        .map_err(|error| shape_error(Operation::GetFeedDocument, error))?;
    let response = client
        .http()
        .get(&document.url)
        .send()
        .await
        .map_err(|error| {
            ConnectorError::transient(format!(
                "feed report download failed: {}",
                error.without_url()
            ))
        })?;
    if !response.status().is_success() {
        return Err(ConnectorError::transient(format!(
            "feed report download: http {}",
            response.status()
        )));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|error| ConnectorError::transient(format!("feed report download: {error}")))?;
    let content = if document.compression_algorithm.as_deref() == Some("GZIP") {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_ref())
            .read_to_end(&mut text)
            .map_err(|error| {
                ConnectorError::transient(format!("feed report is not gzip: {error}"))
            })?;
        text
    } else {
        bytes.to_vec()
    };
    serde_json::from_slice(&content)
        .map_err(|error| ConnectorError::transient(format!("feed report is not JSON: {error}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_numbered_from_one_and_issues_map_back() {
        let levels = vec![
            StockLevel {
                listing_id: "A".into(),
                sku: "A".into(),
                quantity: 3,
            },
            StockLevel {
                listing_id: "B".into(),
                sku: "B".into(),
                quantity: -1,
            },
        ];
        let document = feed_document("SELLER", "PRODUCT", &levels);
        assert_eq!(document["messages"][1]["messageId"], 2);
        assert_eq!(
            document["messages"][1]["patches"][0]["value"][0]["quantity"],
            0
        );
        let report: Report = serde_json::from_value(json!({"issues": [
            {"messageId": 2, "code": "8541", "severity": "ERROR", "message": "no such SKU"},
            {"messageId": 1, "code": "99", "severity": "WARNING", "message": "fyi"}
        ]}))
        .unwrap();
        let results = results("F1", &levels, &report);
        assert_eq!(
            results[0],
            PushResult::Confirmed {
                listing_id: "A".into(),
                quantity: 3
            }
        );
        assert_eq!(
            results[1],
            PushResult::Rejected {
                listing_id: "B".into(),
                error: ConnectorError::Permanent("feed F1: 8541: no such SKU".into())
            }
        );
    }
}
