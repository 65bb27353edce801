//! `SimConnector`: the sim seen through the `Connector` trait, over HTTP only. It translates
//! and classifies errors; it never sleeps or retries.

use crate::config::{SimChannelConfig, SimConfigError};
use crate::cursor::OrderCursor;
use crate::signature;
use crate::wire::{
    ErrorBody, ListingsResponse, OrdersResponse, SimOrder, StockReadResponse, StockUpdate,
    StockUpdateRequest, StockUpdateResponse, WebhookPayload, HEADER_DELIVERY_ID, HEADER_SIGNATURE,
    HEADER_TOPIC, TOPIC_ORDER_CANCELLED, TOPIC_ORDER_CREATED, TOPIC_ORDER_FULFILLED,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use omnistock_connector::{
    Capabilities, CatalogListing, CatalogPage, Connector, ConnectorError, OrderEvent, OrderLine,
    OrderPage, OrderStatus, PushResult, StockLevel, WebhookError, WebhookRequest,
};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Listings asked for per catalog page (the sim's largest page).
pub const CATALOG_PAGE_SIZE: usize = crate::server::MAX_CATALOG_PAGE_SIZE;

/// The kind name of the sim connector in the daemon's configuration.
pub const SIM_KIND: &str = "sim";

/// The one field read from a webhook whose topic header is missing.
#[derive(Debug, serde::Deserialize)]
struct TopicOnly {
    topic: Option<String>,
}

/// A connector for one sim channel.
#[derive(Debug, Clone)]
pub struct SimConnector {
    config: SimChannelConfig,
    base_url: String,
    client: reqwest::Client,
}

impl SimConnector {
    pub fn new(config: SimChannelConfig) -> Result<Self, SimConfigError> {
        config.validate()?;
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .build()
            .map_err(|error| SimConfigError::Client(error.to_string()))?;
        Ok(Self {
            base_url: config.base_url.trim_end_matches('/').to_string(),
            config,
            client,
        })
    }

    pub fn config(&self) -> &SimChannelConfig {
        &self.config
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ConnectorError> {
        let response = request
            .bearer_auth(self.config.api_token.expose())
            .send()
            .await
            .map_err(classify_transport)?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let text = response.text().await.unwrap_or_default();
            return Err(classify_status(status, retry_after, &text));
        }
        response.json::<T>().await.map_err(|error| {
            // A cut or garbled answer is usually a passing fault of the network or a proxy.
            ConnectorError::transient(format!("unreadable sim answer: {error}"))
        })
    }
}

/// Maps a refused request to the runtime's error classes.
pub fn classify_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &str,
) -> ConnectorError {
    let detail = match serde_json::from_str::<ErrorBody>(body) {
        Ok(error) => format!("{} {}: {}", status.as_u16(), error.error, error.message),
        Err(_) => format!(
            "{} {}",
            status.as_u16(),
            body.chars().take(200).collect::<String>()
        ),
    };
    match status {
        StatusCode::TOO_MANY_REQUESTS => ConnectorError::RateLimited {
            message: detail,
            retry_after,
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ConnectorError::Configuration(detail),
        StatusCode::REQUEST_TIMEOUT => ConnectorError::Transient {
            message: detail,
            retry_after,
        },
        status if status.is_server_error() => ConnectorError::Transient {
            message: detail,
            retry_after,
        },
        _ => ConnectorError::Permanent(detail),
    }
}

/// Maps a request that got no answer (timeout, refused connection …).
fn classify_transport(error: reqwest::Error) -> ConnectorError {
    if error.is_builder() {
        return ConnectorError::Configuration(format!("invalid sim request: {error}"));
    }
    ConnectorError::transient(format!("sim unreachable: {error}"))
}

/// `Retry-After` in seconds (the sim never sends the HTTP-date form).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Turns a sim order into the normalized snapshot.
pub fn order_event(order: &SimOrder, delivery_id: Option<String>) -> Result<OrderEvent, String> {
    let status = OrderStatus::parse(&order.status)
        .ok_or_else(|| format!("order {}: unknown status {:?}", order.id, order.status))?;
    let updated_at = DateTime::parse_from_rfc3339(&order.updated_at)
        .map(|stamp| stamp.with_timezone(&Utc))
        .map_err(|error| format!("order {}: updated_at: {error}", order.id))?;
    // An order the sim has not stamped yet says nothing of its age.
    let created_at = match order.created_at.as_str() {
        "" => None,
        text => Some(
            DateTime::parse_from_rfc3339(text)
                .map(|stamp| stamp.with_timezone(&Utc))
                .map_err(|error| format!("order {}: created_at: {error}", order.id))?,
        ),
    };
    Ok(OrderEvent {
        external_order_id: order.id.clone(),
        delivery_id,
        status,
        updated_at,
        created_at,
        currency: Some(order.currency.clone()),
        total_minor: Some(order.total_minor),
        location: None,
        lines: order
            .lines
            .iter()
            .map(|line| OrderLine {
                line_id: line.id.clone(),
                listing_id: Some(line.listing_id.clone()),
                sku: Some(line.sku.clone()),
                quantity: line.quantity,
                cancelled_quantity: line.cancelled_quantity,
                fulfilled_quantity: line.fulfilled_quantity,
                returned_quantity: 0,
                unit_price_minor: Some(line.unit_price_minor),
            })
            .collect(),
    })
}

/// The cursor the sim connector hands the runtime. At the end of a poll it is the position
/// of the last order read (`<millis>-<sequence>`), and the next poll starts the overlap window
/// before it; between the pages of one poll it is `more:<millis>-<sequence>`, read on exactly
/// from there, so that a window holding more than a page still makes progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PollCursor {
    /// Where the last poll ended: re-read the overlap before it.
    Resume(OrderCursor),
    /// The next page of the running poll: no overlap.
    NextPage(OrderCursor),
}

const NEXT_PAGE_PREFIX: &str = "more:";

impl PollCursor {
    fn parse(text: &str) -> Result<Self, ConnectorError> {
        let unreadable =
            || ConnectorError::Permanent(format!("unreadable sim order cursor {text:?}"));
        match text.strip_prefix(NEXT_PAGE_PREFIX) {
            Some(rest) => OrderCursor::parse(rest)
                .map(Self::NextPage)
                .ok_or_else(unreadable),
            None => OrderCursor::parse(text)
                .map(Self::Resume)
                .ok_or_else(unreadable),
        }
    }

    fn position(self) -> OrderCursor {
        match self {
            Self::Resume(position) | Self::NextPage(position) => position,
        }
    }

    /// The `updated_since` sent to the sim.
    fn request_cursor(self, overlap: Duration) -> OrderCursor {
        match self {
            Self::NextPage(position) => position,
            Self::Resume(position) if overlap.is_zero() => position,
            Self::Resume(position) => OrderCursor {
                updated_at_millis: position
                    .updated_at_millis
                    .saturating_sub(i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX)),
                sequence: 0,
            },
        }
    }

    /// The cursor after a page. Between pages it follows the sim's answer, even inside the
    /// overlap window; at the end of a poll it is never behind where the poll started (an
    /// overlap that found nothing new must not move the cursor back).
    fn next(
        previous: Option<&Self>,
        answer: &OrdersResponse,
    ) -> Result<Option<Self>, ConnectorError> {
        let answered = answer
            .next_cursor
            .as_deref()
            .map(|text| {
                OrderCursor::parse(text).ok_or_else(|| {
                    ConnectorError::Permanent(format!("sim answered an unreadable cursor {text:?}"))
                })
            })
            .transpose()?;
        let previous = previous.map(|cursor| cursor.position());
        if answer.has_more {
            return Ok(answered.or(previous).map(Self::NextPage));
        }
        let position = match (previous, answered) {
            (Some(previous), Some(answered)) => Some(previous.max(answered)),
            (previous, answered) => previous.or(answered),
        };
        Ok(position.map(Self::Resume))
    }
}

impl std::fmt::Display for PollCursor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Resume(position) => write!(formatter, "{position}"),
            Self::NextPage(position) => write!(formatter, "{NEXT_PAGE_PREFIX}{position}"),
        }
    }
}

#[async_trait]
impl Connector for SimConnector {
    fn kind(&self) -> &'static str {
        SIM_KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhooks: true,
            polling: true,
            max_stock_batch: self.config.max_batch(),
            rate_limit: self.config.rate_limit,
            compare_and_set: false,
        }
    }

    fn start_cursor(&self, floor: DateTime<Utc>) -> Option<String> {
        // Read on exactly from the floor: the overlap window of a resumed poll would reach
        // before it.
        let position = OrderCursor {
            updated_at_millis: floor.timestamp_millis(),
            sequence: 0,
        };
        Some(PollCursor::NextPage(position).to_string())
    }

    async fn pull_orders(&self, cursor: Option<&str>) -> Result<OrderPage, ConnectorError> {
        let position = cursor.map(PollCursor::parse).transpose()?;
        let mut request = self.client.get(self.url("/api/orders"));
        if let Some(position) = &position {
            let since = position.request_cursor(self.config.poll_overlap());
            request = request.query(&[("updated_since", since.to_string())]);
        }
        let answer: OrdersResponse = self.send(request).await?;
        let next_cursor = PollCursor::next(position.as_ref(), &answer)?;
        let orders = answer
            .orders
            .iter()
            .map(|order| order_event(order, None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| ConnectorError::Permanent(format!("unreadable order: {reason}")))?;
        Ok(OrderPage {
            orders,
            next_cursor: next_cursor.map(|cursor| cursor.to_string()),
            has_more: answer.has_more,
        })
    }

    fn parse_webhook(&self, request: &WebhookRequest<'_>) -> Result<Vec<OrderEvent>, WebhookError> {
        let signature = request
            .headers
            .get(HEADER_SIGNATURE)
            .ok_or_else(|| WebhookError::BadSignature(format!("no {HEADER_SIGNATURE} header")))?;
        if !signature::verify(self.config.webhook_secret.expose(), request.body, signature) {
            return Err(WebhookError::BadSignature(
                "signature does not match the body".into(),
            ));
        }
        let topic = match request.headers.get(HEADER_TOPIC) {
            Some(topic) => topic.clone(),
            None => serde_json::from_slice::<TopicOnly>(request.body)
                .map_err(|error| WebhookError::Malformed(format!("body: {error}")))?
                .topic
                .ok_or_else(|| WebhookError::Malformed(format!("no {HEADER_TOPIC} header")))?,
        };
        // Other topics need not carry an order, so they are dropped before the body is read.
        if ![
            TOPIC_ORDER_CREATED,
            TOPIC_ORDER_CANCELLED,
            TOPIC_ORDER_FULFILLED,
        ]
        .contains(&topic.as_str())
        {
            return Err(WebhookError::IgnoredTopic(topic));
        }
        let payload: WebhookPayload = serde_json::from_slice(request.body)
            .map_err(|error| WebhookError::Malformed(format!("body: {error}")))?;
        let delivery_id = request.headers.get(HEADER_DELIVERY_ID).cloned();
        let event = order_event(&payload.order, delivery_id).map_err(WebhookError::Malformed)?;
        Ok(vec![event])
    }

    async fn push_stock(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
        let body = StockUpdateRequest {
            updates: levels
                .iter()
                .map(|level| StockUpdate {
                    listing_id: level.listing_id.clone(),
                    quantity: level.quantity,
                })
                .collect(),
        };
        let request = self.client.post(self.url("/api/stock")).json(&body);
        let answer: StockUpdateResponse = self.send(request).await?;
        Ok(answer
            .results
            .into_iter()
            .map(|result| match (result.status.as_str(), result.quantity) {
                ("ok", Some(quantity)) => PushResult::Confirmed {
                    listing_id: result.listing_id,
                    quantity,
                },
                _ => {
                    let code = result.error.unwrap_or_else(|| "unknown_error".into());
                    let message = result.message.unwrap_or_default();
                    PushResult::Rejected {
                        listing_id: result.listing_id,
                        error: ConnectorError::Permanent(format!("{code}: {message}")),
                    }
                }
            })
            .collect())
    }

    async fn read_stock(&self, listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError> {
        if listing_ids.is_empty() {
            return Ok(Vec::new());
        }
        let request = self
            .client
            .get(self.url("/api/stock"))
            .query(&[("listing_ids", listing_ids.join(","))]);
        let answer: StockReadResponse = self.send(request).await?;
        Ok(answer
            .levels
            .into_iter()
            .map(|level| StockLevel {
                listing_id: level.listing_id,
                sku: level.sku,
                quantity: level.quantity,
            })
            .collect())
    }

    async fn read_catalog(&self, page: Option<&str>) -> Result<CatalogPage, ConnectorError> {
        let mut request = self
            .client
            .get(self.url("/api/listings"))
            .query(&[("limit", CATALOG_PAGE_SIZE)]);
        if let Some(after) = page {
            request = request.query(&[("after", after)]);
        }
        let answer: ListingsResponse = self.send(request).await?;
        Ok(CatalogPage {
            listings: answer.listings.into_iter().map(catalog_listing).collect(),
            next_page: answer.next_after,
        })
    }
}

/// A sim listing as a catalog entry; an empty SKU is a listing without one.
fn catalog_listing(level: crate::wire::ListingLevel) -> CatalogListing {
    let sku = Some(level.sku).filter(|sku| !sku.trim().is_empty());
    CatalogListing {
        listing_id: level.listing_id,
        sku,
        title: None,
        platform_ids: std::collections::BTreeMap::new(),
        quantity: Some(level.quantity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_error_classes() {
        let body = r#"{"error":"rate_limited","message":"slow down"}"#;
        let limited = classify_status(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(2)),
            body,
        );
        assert_eq!(
            limited,
            ConnectorError::RateLimited {
                message: "429 rate_limited: slow down".into(),
                retry_after: Some(Duration::from_secs(2)),
            }
        );
        assert!(matches!(
            classify_status(StatusCode::SERVICE_UNAVAILABLE, None, ""),
            ConnectorError::Transient { .. }
        ));
        assert!(matches!(
            classify_status(StatusCode::UNAUTHORIZED, None, ""),
            ConnectorError::Configuration(_)
        ));
        assert!(matches!(
            classify_status(StatusCode::FORBIDDEN, None, ""),
            ConnectorError::Configuration(_)
        ));
        assert!(matches!(
            classify_status(StatusCode::PAYLOAD_TOO_LARGE, None, ""),
            ConnectorError::Permanent(_)
        ));
    }
}
