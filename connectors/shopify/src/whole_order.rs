//! Reading a polled order whole: a snapshot missing lines, fulfillments, refunds or their
//! lines would release the reservations of what was not read, so none is booked partial.
//!
//! The page query reads small nested pages; an order they cut short is read again alone with
//! larger ones. `Order.fulfillments` and `Order.refunds` are lists cut by `first` (not
//! connections): when the single-order read fills one, both are listed again in full, ids
//! only, and the line items of those not read yet are fetched a batch at a time through
//! `nodes`. Whatever connection is still cut short is then paged to its end (line items
//! through `order`, fulfillment and refund lines through `fulfillment` and `refund`); only
//! successful fulfillments' lines count, so no other's are paged. An order is left to its
//! webhooks (whose payload is the whole order) only when it has more fulfillments or refunds
//! than one listing returns, or when completing it would ask for more than half the cost
//! bucket, so that one huge order cannot keep a poll throttled for ever.

use crate::connector::ShopifyConnector;
use crate::orders::{
    GqlFulfillment, GqlNestedLines, GqlOrder, GqlRefund, NestedPageInfo, PAGE_SIZES,
    SINGLE_ORDER_SIZES,
};
use crate::queries;
use omnistock_connector::ConnectorError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use tracing::debug;

/// Nested items per follow-up page: about 200 to 300 points.
pub const NESTED_PAGE: usize = 100;
/// Fulfillments or refunds one listing returns at most (Shopify's page limit).
pub const MAX_PARCELS: usize = 250;
/// Fulfillments and refunds whose lines one `nodes` query reads: 20 × 23 points requested.
const PARCELS_PER_BATCH: usize = 20;
/// Lines per fulfillment or refund in that batch (the rest is paged on).
const PARCEL_LINES: usize = 10;
/// The cost bucket assumed before Shopify described it (the standard plan's).
const DEFAULT_BUCKET: f64 = 1000.0;

#[derive(Deserialize)]
struct ParcelsData {
    order: Option<ParcelList>,
}

#[derive(Deserialize)]
struct ParcelList {
    fulfillments: Vec<ParcelStub>,
    refunds: Vec<ParcelStub>,
}

#[derive(Deserialize)]
struct ParcelStub {
    id: String,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct ParcelLinesData {
    nodes: Vec<Option<ParcelNode>>,
}

#[derive(Deserialize)]
#[serde(tag = "__typename")]
enum ParcelNode {
    Fulfillment(GqlFulfillment),
    Refund(GqlRefund),
    #[serde(other)]
    Other,
}

/// Why an order could not be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotWhole {
    /// The order no longer exists.
    Gone,
    /// Shopify did not answer a part listed (gone meanwhile, or a page without a cursor).
    Unanswered,
    /// More fulfillments or refunds than one listing returns.
    TooManyParcels,
    /// Completing it would ask for more than the cost budget of one read.
    OverBudget,
}

impl NotWhole {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Gone => "the order is gone",
            Self::Unanswered => "shopify did not answer a part of it",
            Self::TooManyParcels => "more fulfillments or refunds than one listing returns",
            Self::OverBudget => "completing it would take more than half the cost bucket",
        }
    }
}

fn is_success(status: &str) -> bool {
    status.eq_ignore_ascii_case("SUCCESS")
}

fn empty_lines<T>() -> GqlNestedLines<T> {
    GqlNestedLines {
        page_info: NestedPageInfo {
            has_next_page: false,
            end_cursor: None,
        },
        nodes: Vec::new(),
    }
}

impl ShopifyConnector {
    /// `order` with every nested connection read to its end.
    pub(crate) async fn read_whole(&self, order: GqlOrder) -> Result<GqlOrder, NotWholeOr> {
        if !order.is_truncated(PAGE_SIZES) {
            return Ok(order);
        }
        self.read_whole_by_id(&order.id).await
    }

    /// The order `id` read alone with larger nested pages, then completed.
    pub(crate) async fn read_whole_by_id(&self, id: &str) -> Result<GqlOrder, NotWholeOr> {
        let mut order = self
            .fetch_order(id)
            .await?
            .ok_or(NotWholeOr::NotWhole(NotWhole::Gone))?;
        if order.fulfillments.len() >= SINGLE_ORDER_SIZES.fulfillments
            || order.refunds.len() >= SINGLE_ORDER_SIZES.refunds
        {
            self.list_every_parcel(&mut order).await?;
        }
        let id = order.id.clone();
        self.page_to_end(
            queries::ORDER_LINES_OPERATION,
            queries::ORDER_LINES_QUERY,
            &id,
            "/order/lineItems",
            &mut order.line_items,
        )
        .await?;
        for fulfillment in &mut order.fulfillments {
            let Some(id) = fulfillment
                .id
                .clone()
                .filter(|_| is_success(&fulfillment.status))
            else {
                continue;
            };
            self.page_to_end(
                queries::FULFILLMENT_LINES_OPERATION,
                queries::FULFILLMENT_LINES_QUERY,
                &id,
                "/fulfillment/fulfillmentLineItems",
                &mut fulfillment.fulfillment_line_items,
            )
            .await?;
        }
        for refund in &mut order.refunds {
            let Some(id) = refund.id.clone() else {
                continue;
            };
            self.page_to_end(
                queries::REFUND_LINES_OPERATION,
                queries::REFUND_LINES_QUERY,
                &id,
                "/refund/refundLineItems",
                &mut refund.refund_line_items,
            )
            .await?;
        }
        Ok(order)
    }

    /// Replaces the order's fulfillments and refunds, cut short by `first`, with all of them,
    /// the lines of those not read yet fetched a batch at a time.
    async fn list_every_parcel(&self, order: &mut GqlOrder) -> Result<(), NotWholeOr> {
        let size = |listed: usize, cap: usize| if listed >= cap { MAX_PARCELS } else { 0 };
        let data: ParcelsData = self
            .client
            .execute(
                queries::ORDER_PARCELS_OPERATION,
                queries::ORDER_PARCELS_QUERY,
                json!({
                    "id": order.id,
                    "fulfillments": size(order.fulfillments.len(), SINGLE_ORDER_SIZES.fulfillments),
                    "refunds": size(order.refunds.len(), SINGLE_ORDER_SIZES.refunds),
                }),
            )
            .await?;
        let listed = data.order.ok_or(NotWholeOr::NotWhole(NotWhole::Gone))?;
        if listed.fulfillments.len() >= MAX_PARCELS || listed.refunds.len() >= MAX_PARCELS {
            return Err(NotWholeOr::NotWhole(NotWhole::TooManyParcels));
        }
        let read: BTreeSet<String> = order
            .fulfillments
            .iter()
            .filter_map(|fulfillment| fulfillment.id.clone())
            .chain(order.refunds.iter().filter_map(|refund| refund.id.clone()))
            .collect();
        // Only successful fulfillments' lines count.
        let unread: Vec<String> = listed
            .fulfillments
            .iter()
            .filter(|stub| stub.status.as_deref().is_some_and(is_success))
            .chain(&listed.refunds)
            .map(|stub| stub.id.clone())
            .filter(|id| !read.contains(id))
            .collect();
        let batches = unread.len().div_ceil(PARCELS_PER_BATCH);
        let per_batch = (PARCELS_PER_BATCH * (3 + 2 * PARCEL_LINES)) as f64;
        let budget = self
            .throttle_status()
            .map_or(DEFAULT_BUCKET, |status| status.bucket.maximum_available)
            / 2.0;
        if batches as f64 * per_batch > budget {
            return Err(NotWholeOr::NotWhole(NotWhole::OverBudget));
        }
        let mut fulfillments: HashMap<String, GqlFulfillment> = order
            .fulfillments
            .drain(..)
            .filter_map(|fulfillment| Some((fulfillment.id.clone()?, fulfillment)))
            .collect();
        let mut refunds: HashMap<String, GqlRefund> = order
            .refunds
            .drain(..)
            .filter_map(|refund| Some((refund.id.clone()?, refund)))
            .collect();
        for batch in unread.chunks(PARCELS_PER_BATCH) {
            let data: ParcelLinesData = self
                .client
                .execute(
                    queries::PARCEL_LINES_OPERATION,
                    queries::PARCEL_LINES_QUERY,
                    json!({ "ids": batch, "first": PARCEL_LINES }),
                )
                .await?;
            for node in data.nodes.into_iter().flatten() {
                match node {
                    ParcelNode::Fulfillment(fulfillment) => {
                        if let Some(id) = fulfillment.id.clone() {
                            fulfillments.insert(id, fulfillment);
                        }
                    }
                    ParcelNode::Refund(refund) => {
                        if let Some(id) = refund.id.clone() {
                            refunds.insert(id, refund);
                        }
                    }
                    ParcelNode::Other => {}
                }
            }
        }
        debug!(shop = %self.shop_domain, order = %order.id, fulfillments = listed.fulfillments.len(), refunds = listed.refunds.len(), fetched = unread.len(), "order's fulfillments and refunds listed in full");
        // In the listed order; a fulfillment not read (not successful) keeps only its status.
        order.fulfillments = Vec::with_capacity(listed.fulfillments.len());
        for stub in listed.fulfillments {
            let fulfillment = match fulfillments.remove(&stub.id) {
                Some(fulfillment) => fulfillment,
                None if stub.status.as_deref().is_some_and(is_success) => {
                    return Err(NotWholeOr::NotWhole(NotWhole::Unanswered))
                }
                None => GqlFulfillment {
                    id: Some(stub.id),
                    status: stub.status.unwrap_or_default(),
                    fulfillment_line_items: empty_lines(),
                },
            };
            order.fulfillments.push(fulfillment);
        }
        order.refunds = Vec::with_capacity(listed.refunds.len());
        for stub in listed.refunds {
            let refund = refunds
                .remove(&stub.id)
                .ok_or(NotWholeOr::NotWhole(NotWhole::Unanswered))?;
            order.refunds.push(refund);
        }
        Ok(())
    }

    /// Appends the following pages of one nested connection until it has no next page.
    async fn page_to_end<T: DeserializeOwned>(
        &self,
        operation: &str,
        document: &str,
        id: &str,
        path: &str,
        connection: &mut GqlNestedLines<T>,
    ) -> Result<(), NotWholeOr> {
        while connection.page_info.has_next_page {
            let Some(after) = connection.page_info.end_cursor.clone() else {
                return Err(NotWholeOr::NotWhole(NotWhole::Unanswered));
            };
            let data: Value = self
                .client
                .execute(
                    operation,
                    document,
                    json!({ "id": id, "first": NESTED_PAGE, "after": after }),
                )
                .await?;
            let page = data.pointer(path).cloned().unwrap_or(Value::Null);
            let page: GqlNestedLines<T> = serde_json::from_value(page).map_err(|error| {
                ConnectorError::Permanent(format!("{operation} of {id}: {error}"))
            })?;
            connection.nodes.extend(page.nodes);
            connection.page_info = page.page_info;
        }
        Ok(())
    }
}

/// An order not read whole, or a call that failed on the way.
#[derive(Debug)]
pub(crate) enum NotWholeOr {
    NotWhole(NotWhole),
    Failed(ConnectorError),
}

impl From<ConnectorError> for NotWholeOr {
    fn from(error: ConnectorError) -> Self {
        Self::Failed(error)
    }
}
