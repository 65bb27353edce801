//! Reading a polled order whole: a snapshot missing lines, fulfillment lines or refund lines
//! would release the reservations of what was not read, so none is booked partial.
//!
//! The page query reads small nested pages; an order they cut short is read again alone with
//! larger ones, and whatever connection is still cut short is paged to its end (line items
//! through `order`, fulfillment and refund lines through `fulfillment` and `refund`). The
//! `fulfillments` and `refunds` lists of an order cannot be paged: an order with more of them
//! than one query lists is not read whole, and is left to its webhooks (whose payload is the
//! whole order).

use crate::connector::ShopifyConnector;
use crate::orders::{GqlNestedLines, GqlOrder, PAGE_SIZES, SINGLE_ORDER_SIZES};
use crate::queries;
use omnistock_connector::ConnectorError;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// Nested items per follow-up page: about 200 to 300 points.
pub const NESTED_PAGE: usize = 100;

impl ShopifyConnector {
    /// `order` with every nested connection read to its end, or `None` when that cannot be
    /// done (too many fulfillments or refunds to list, or the order is gone).
    pub(crate) async fn read_whole(
        &self,
        order: GqlOrder,
    ) -> Result<Option<GqlOrder>, ConnectorError> {
        if !order.is_truncated(PAGE_SIZES) {
            return Ok(Some(order));
        }
        self.read_whole_by_id(&order.id).await
    }

    /// The order `id` read alone with larger nested pages, then completed.
    pub(crate) async fn read_whole_by_id(
        &self,
        id: &str,
    ) -> Result<Option<GqlOrder>, ConnectorError> {
        let Some(mut order) = self.fetch_order(id).await? else {
            return Ok(None);
        };
        if order.fulfillments.len() >= SINGLE_ORDER_SIZES.fulfillments
            || order.refunds.len() >= SINGLE_ORDER_SIZES.refunds
        {
            return Ok(None);
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
            let Some(id) = fulfillment.id.clone() else {
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
        Ok((!order.is_truncated(SINGLE_ORDER_SIZES)).then_some(order))
    }

    /// Appends the following pages of one nested connection until it has no next page.
    async fn page_to_end<T: DeserializeOwned>(
        &self,
        operation: &str,
        document: &str,
        id: &str,
        path: &str,
        connection: &mut GqlNestedLines<T>,
    ) -> Result<(), ConnectorError> {
        while connection.page_info.has_next_page {
            let Some(after) = connection.page_info.end_cursor.clone() else {
                return Ok(());
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
