//! Every GraphQL document the connector sends. The contract test validates each of them
//! against the Admin schema.

use crate::version::CompareForm;

/// The order fields omnistock maps, shared by the page query and the single-order query.
pub const ORDER_FRAGMENT: &str = r#"
fragment OmnistockOrder on Order {
  id
  createdAt
  updatedAt
  cancelledAt
  displayFinancialStatus
  displayFulfillmentStatus
  currencyCode
  currentTotalPriceSet { shopMoney { amount currencyCode } }
  lineItems(first: $lineItems) {
    pageInfo { hasNextPage endCursor }
    nodes { ...OmnistockLine }
  }
  fulfillments(first: $fulfillments) {
    id
    status
    fulfillmentLineItems(first: $nestedLines) {
      pageInfo { hasNextPage endCursor }
      nodes { quantity lineItem { id } }
    }
  }
  refunds(first: $refunds) {
    id
    refundLineItems(first: $nestedLines) {
      pageInfo { hasNextPage endCursor }
      nodes { quantity restockType lineItem { id } }
    }
  }
}
fragment OmnistockLine on LineItem {
  id quantity currentQuantity sku variant { id }
  originalUnitPriceSet { shopMoney { amount currencyCode } }
}
"#;

pub const ORDERS_OPERATION: &str = "OmnistockOrders";

/// One page of orders, oldest update first.
pub fn orders_query() -> String {
    format!(
        r#"query OmnistockOrders($first: Int!, $after: String, $query: String, $lineItems: Int!, $fulfillments: Int!, $refunds: Int!, $nestedLines: Int!) {{
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ ...OmnistockOrder }}
  }}
}}
{ORDER_FRAGMENT}"#
    )
}

pub const ORDER_STAMPS_OPERATION: &str = "OmnistockOrderStamps";

/// The ids and stamps of the orders in a window, a page at a time: what the polling overlap
/// checks, cheaply.
pub const ORDER_STAMPS_QUERY: &str = r#"query OmnistockOrderStamps($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { id updatedAt }
  }
}"#;

pub const ORDER_OPERATION: &str = "OmnistockOrder";

/// One order with larger nested pages, for an order the page query truncated.
pub fn order_query() -> String {
    format!(
        r#"query OmnistockOrder($id: ID!, $lineItems: Int!, $fulfillments: Int!, $refunds: Int!, $nestedLines: Int!) {{
  order(id: $id) {{ ...OmnistockOrder }}
}}
{ORDER_FRAGMENT}"#
    )
}

pub const ORDER_LINES_OPERATION: &str = "OmnistockOrderLines";

/// The next page of an order's line items, for an order with more than one query reads.
pub const ORDER_LINES_QUERY: &str = r#"query OmnistockOrderLines($id: ID!, $first: Int!, $after: String) {
  order(id: $id) {
    lineItems(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id quantity currentQuantity sku variant { id }
        originalUnitPriceSet { shopMoney { amount currencyCode } }
      }
    }
  }
}"#;

pub const ORDER_PARCELS_OPERATION: &str = "OmnistockOrderParcels";

/// Every fulfillment and refund of an order, ids (and status) only: `Order.fulfillments` and
/// `Order.refunds` are lists cut by `first`, not connections, so an order with more of them
/// than the order query lists is listed again in full (a size of 0 skips a list).
pub const ORDER_PARCELS_QUERY: &str = r#"query OmnistockOrderParcels($id: ID!, $fulfillments: Int!, $refunds: Int!) {
  order(id: $id) {
    fulfillments(first: $fulfillments) { id status }
    refunds(first: $refunds) { id }
  }
}"#;

pub const PARCEL_LINES_OPERATION: &str = "OmnistockParcelLines";

/// The first page of line items of several fulfillments and refunds at once.
pub const PARCEL_LINES_QUERY: &str = r#"query OmnistockParcelLines($ids: [ID!]!, $first: Int!) {
  nodes(ids: $ids) {
    __typename
    ... on Fulfillment {
      id
      status
      fulfillmentLineItems(first: $first) {
        pageInfo { hasNextPage endCursor }
        nodes { quantity lineItem { id } }
      }
    }
    ... on Refund {
      id
      refundLineItems(first: $first) {
        pageInfo { hasNextPage endCursor }
        nodes { quantity restockType lineItem { id } }
      }
    }
  }
}"#;

pub const FULFILLMENT_LINES_OPERATION: &str = "OmnistockFulfillmentLines";

/// The next page of a fulfillment's line items.
pub const FULFILLMENT_LINES_QUERY: &str = r#"query OmnistockFulfillmentLines($id: ID!, $first: Int!, $after: String) {
  fulfillment(id: $id) {
    fulfillmentLineItems(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { quantity lineItem { id } }
    }
  }
}"#;

pub const REFUND_LINES_OPERATION: &str = "OmnistockRefundLines";

/// The next page of a refund's line items.
pub const REFUND_LINES_QUERY: &str = r#"query OmnistockRefundLines($id: ID!, $first: Int!, $after: String) {
  refund(id: $id) {
    refundLineItems(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { quantity restockType lineItem { id } }
    }
  }
}"#;

pub const STOCK_OPERATION: &str = "OmnistockStock";

/// The `available` quantity at one location of variants or inventory items.
pub const STOCK_QUERY: &str = r#"query OmnistockStock($ids: [ID!]!, $locationId: ID!) {
  nodes(ids: $ids) {
    __typename
    ... on ProductVariant {
      id
      sku
      inventoryItem {
        id
        inventoryLevel(locationId: $locationId) {
          quantities(names: ["available"]) { name quantity }
        }
      }
    }
    ... on InventoryItem {
      id
      sku
      inventoryLevel(locationId: $locationId) {
        quantities(names: ["available"]) { name quantity }
      }
    }
  }
}"#;

pub const SET_OPERATION: &str = "OmnistockSetAvailable";

/// Sets absolute `available` quantities, compare-and-set, in the form of the API version.
pub fn set_quantities_mutation(form: CompareForm) -> &'static str {
    match form {
        CompareForm::CompareQuantity => {
            r#"mutation OmnistockSetAvailable($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}"#
        }
        CompareForm::ChangeFromQuantity => {
            r#"mutation OmnistockSetAvailable($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}"#
        }
    }
}

pub const CATALOG_OPERATION: &str = "OmnistockCatalog";

/// One page of the shop's variants by id, each with its SKU, names, product, inventory item
/// and `available` quantity at one location: the catalog read.
pub const CATALOG_QUERY: &str = r#"query OmnistockCatalog($first: Int!, $after: String, $locationId: ID!) {
  productVariants(first: $first, after: $after, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      sku
      displayName
      product { id }
      inventoryItem {
        id
        inventoryLevel(locationId: $locationId) {
          quantities(names: ["available"]) { name quantity }
        }
      }
    }
  }
}"#;

/// Every document the connector sends with the compare-and-set form `form`, with its
/// operation name, for the contract test.
pub fn documents_for(form: CompareForm) -> Vec<(&'static str, String)> {
    vec![
        (ORDERS_OPERATION, orders_query()),
        (ORDER_OPERATION, order_query()),
        (ORDER_STAMPS_OPERATION, ORDER_STAMPS_QUERY.to_string()),
        (ORDER_LINES_OPERATION, ORDER_LINES_QUERY.to_string()),
        (ORDER_PARCELS_OPERATION, ORDER_PARCELS_QUERY.to_string()),
        (PARCEL_LINES_OPERATION, PARCEL_LINES_QUERY.to_string()),
        (
            FULFILLMENT_LINES_OPERATION,
            FULFILLMENT_LINES_QUERY.to_string(),
        ),
        (REFUND_LINES_OPERATION, REFUND_LINES_QUERY.to_string()),
        (STOCK_OPERATION, STOCK_QUERY.to_string()),
        (SET_OPERATION, set_quantities_mutation(form).to_string()),
        (CATALOG_OPERATION, CATALOG_QUERY.to_string()),
    ]
}

/// Every document in either form.
pub fn all_documents() -> Vec<(&'static str, String)> {
    let mut documents = documents_for(CompareForm::CompareQuantity);
    documents.push((
        SET_OPERATION,
        set_quantities_mutation(CompareForm::ChangeFromQuantity).to_string(),
    ));
    documents
}
