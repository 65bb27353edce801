//! The schema the fake validates against: the real Admin schema (2025-01, from the
//! introspection result in `shared/specs/shopify/`) when it is there, else a small hand-written
//! subset that still lets the fake run (and says that real validation was skipped).

use apollo_compiler::validation::Valid;
use apollo_compiler::Schema;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The file the real schema is read from, inside the specs folder.
pub const SCHEMA_FILE: &str = "admin_schema_2025-01.json.gz";
/// The environment variable that overrides the specs folder.
pub const SCHEMA_DIR_ENV: &str = "OMNISTOCK_SHOPIFY_SCHEMA_DIR";

/// Where the schema came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaSource {
    /// The real Admin schema of this version.
    Admin { version: String },
    /// The fake's own subset: validation against the real schema is skipped, for `reason`.
    Subset { reason: String },
}

/// A validated schema and where it came from.
#[derive(Debug)]
pub struct FakeSchema {
    pub schema: Valid<Schema>,
    pub source: SchemaSource,
}

/// The folder holding the Admin schema: `$OMNISTOCK_SHOPIFY_SCHEMA_DIR`, else the
/// `shared/specs/shopify/` beside the repository.
pub fn specs_dir() -> PathBuf {
    match std::env::var_os(SCHEMA_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs/shopify"),
    }
}

/// The real 2025-01 schema, loaded once per process; `Err` says why it is unavailable.
pub fn admin_2025_01() -> Result<Arc<FakeSchema>, String> {
    static LOADED: OnceLock<Result<Arc<FakeSchema>, String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = specs_dir().join(SCHEMA_FILE);
            let file = std::fs::File::open(&path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            let mut text = String::new();
            flate2::read::GzDecoder::new(file)
                .read_to_string(&mut text)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            let introspection: Value = serde_json::from_str(&text)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            let sdl = introspection_to_sdl(&introspection)?;
            let schema = Schema::parse_and_validate(sdl, "admin_2025-01.graphql")
                .map_err(|errors| format!("the admin schema does not validate: {errors}"))?;
            Ok(Arc::new(FakeSchema {
                schema,
                source: SchemaSource::Admin {
                    version: "2025-01".into(),
                },
            }))
        })
        .clone()
}

/// The fake's own subset, for when the real schema is absent (or for versions it lacks).
pub fn subset(reason: String, version_2026: bool) -> Result<FakeSchema, String> {
    let mut sdl = SUBSET_SDL.to_string();
    if version_2026 {
        sdl.push_str(SUBSET_2026_SDL);
    } else {
        sdl.push_str(SUBSET_2025_SDL);
    }
    let schema = Schema::parse_and_validate(sdl, "fake_subset.graphql")
        .map_err(|errors| format!("the fake's subset schema does not validate: {errors}"))?;
    Ok(FakeSchema {
        schema,
        source: SchemaSource::Subset { reason },
    })
}

const BUILT_IN_SCALARS: &[&str] = &["String", "Int", "Float", "Boolean", "ID"];
const BUILT_IN_DIRECTIVES: &[&str] = &["skip", "include", "deprecated", "specifiedBy", "oneOf"];

fn type_ref(value: &Value) -> Result<String, String> {
    let kind = value["kind"].as_str().unwrap_or_default();
    match kind {
        "NON_NULL" => Ok(format!("{}!", type_ref(&value["ofType"])?)),
        "LIST" => Ok(format!("[{}]", type_ref(&value["ofType"])?)),
        _ => value["name"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("a type reference without a name: {value}")),
    }
}

fn arguments(args: &Value) -> Result<String, String> {
    let Some(args) = args.as_array().filter(|args| !args.is_empty()) else {
        return Ok(String::new());
    };
    let mut parts = Vec::new();
    for arg in args {
        let mut part = format!(
            "{}: {}",
            arg["name"].as_str().unwrap_or_default(),
            type_ref(&arg["type"])?
        );
        if let Some(default) = arg["defaultValue"].as_str() {
            let _ = write!(part, " = {default}");
        }
        parts.push(part);
    }
    Ok(format!("({})", parts.join(", ")))
}

fn deprecation(value: &Value) -> String {
    if value["isDeprecated"].as_bool() == Some(true) {
        let reason = value["deprecationReason"]
            .as_str()
            .unwrap_or("No longer supported");
        format!(
            " @deprecated(reason: {})",
            serde_json::to_string(reason).unwrap_or_else(|_| "\"\"".into())
        )
    } else {
        String::new()
    }
}

/// Turns an introspection result into SDL (descriptions left out).
pub fn introspection_to_sdl(introspection: &Value) -> Result<String, String> {
    let schema = introspection
        .pointer("/data/__schema")
        .or_else(|| introspection.get("__schema"))
        .ok_or("not an introspection result: no __schema")?;
    let mut sdl = String::new();
    let root = |key: &str| schema[key]["name"].as_str().map(str::to_string);
    let _ = writeln!(sdl, "schema {{");
    if let Some(query) = root("queryType") {
        let _ = writeln!(sdl, "  query: {query}");
    }
    if let Some(mutation) = root("mutationType") {
        let _ = writeln!(sdl, "  mutation: {mutation}");
    }
    if let Some(subscription) = root("subscriptionType") {
        let _ = writeln!(sdl, "  subscription: {subscription}");
    }
    let _ = writeln!(sdl, "}}");
    for directive in schema["directives"].as_array().into_iter().flatten() {
        let name = directive["name"].as_str().unwrap_or_default();
        if BUILT_IN_DIRECTIVES.contains(&name) {
            continue;
        }
        let locations: Vec<&str> = directive["locations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let repeatable = if directive["isRepeatable"].as_bool() == Some(true) {
            " repeatable"
        } else {
            ""
        };
        let _ = writeln!(
            sdl,
            "directive @{name}{}{repeatable} on {}",
            arguments(&directive["args"])?,
            locations.join(" | ")
        );
    }
    for ty in schema["types"].as_array().into_iter().flatten() {
        let name = ty["name"].as_str().unwrap_or_default();
        if name.starts_with("__") || BUILT_IN_SCALARS.contains(&name) {
            continue;
        }
        let interfaces: Vec<&str> = ty["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|interface| interface["name"].as_str())
            .collect();
        let implements = if interfaces.is_empty() {
            String::new()
        } else {
            format!(" implements {}", interfaces.join(" & "))
        };
        match ty["kind"].as_str().unwrap_or_default() {
            "SCALAR" => {
                let _ = writeln!(sdl, "scalar {name}");
            }
            kind @ ("OBJECT" | "INTERFACE") => {
                let keyword = if kind == "OBJECT" {
                    "type"
                } else {
                    "interface"
                };
                let _ = writeln!(sdl, "{keyword} {name}{implements} {{");
                for field in ty["fields"].as_array().into_iter().flatten() {
                    let _ = writeln!(
                        sdl,
                        "  {}{}: {}{}",
                        field["name"].as_str().unwrap_or_default(),
                        arguments(&field["args"])?,
                        type_ref(&field["type"])?,
                        deprecation(field)
                    );
                }
                let _ = writeln!(sdl, "}}");
            }
            "UNION" => {
                let members: Vec<&str> = ty["possibleTypes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|member| member["name"].as_str())
                    .collect();
                let _ = writeln!(sdl, "union {name} = {}", members.join(" | "));
            }
            "ENUM" => {
                let _ = writeln!(sdl, "enum {name} {{");
                for value in ty["enumValues"].as_array().into_iter().flatten() {
                    let _ = writeln!(
                        sdl,
                        "  {}{}",
                        value["name"].as_str().unwrap_or_default(),
                        deprecation(value)
                    );
                }
                let _ = writeln!(sdl, "}}");
            }
            "INPUT_OBJECT" => {
                let one_of = if ty["isOneOf"].as_bool() == Some(true) {
                    " @oneOf"
                } else {
                    ""
                };
                let _ = writeln!(sdl, "input {name}{one_of} {{");
                for field in ty["inputFields"].as_array().into_iter().flatten() {
                    let mut line = format!(
                        "  {}: {}",
                        field["name"].as_str().unwrap_or_default(),
                        type_ref(&field["type"])?
                    );
                    if let Some(default) = field["defaultValue"].as_str() {
                        let _ = write!(line, " = {default}");
                    }
                    let _ = writeln!(sdl, "{line}{}", deprecation(field));
                }
                let _ = writeln!(sdl, "}}");
            }
            other => return Err(format!("type {name} has unknown kind {other}")),
        }
    }
    Ok(sdl)
}

/// The part of the Admin schema the fake answers, spelled as in the real schema.
const SUBSET_SDL: &str = r#"
schema { query: QueryRoot mutation: Mutation }
scalar DateTime
scalar Decimal
scalar UnsignedInt64
interface Node { id: ID! }
enum OrderSortKeys { CREATED_AT CUSTOMER_NAME DESTINATION FINANCIAL_STATUS FULFILLMENT_STATUS ID ORDER_NUMBER PO_NUMBER PROCESSED_AT RELEVANCE TOTAL_ITEMS_QUANTITY TOTAL_PRICE UPDATED_AT }
enum OrderDisplayFinancialStatus { PENDING AUTHORIZED PARTIALLY_PAID PARTIALLY_REFUNDED VOIDED PAID REFUNDED EXPIRED }
enum OrderDisplayFulfillmentStatus { UNFULFILLED PARTIALLY_FULFILLED FULFILLED RESTOCKED PENDING_FULFILLMENT OPEN IN_PROGRESS ON_HOLD SCHEDULED REQUEST_DECLINED }
enum FulfillmentStatus { PENDING OPEN SUCCESS CANCELLED ERROR FAILURE }
enum RefundLineItemRestockType { RETURN CANCEL LEGACY_RESTOCK NO_RESTOCK }
enum CurrencyCode { EUR USD GBP CAD }
type QueryRoot {
  orders(first: Int, after: String, last: Int, before: String, reverse: Boolean = false, sortKey: OrderSortKeys = PROCESSED_AT, query: String, savedSearchId: ID): OrderConnection!
  order(id: ID!): Order
  fulfillment(id: ID!): Fulfillment
  refund(id: ID!): Refund
  nodes(ids: [ID!]!): [Node]!
  inventoryItem(id: ID!): InventoryItem
  productVariants(first: Int, after: String, last: Int, before: String, reverse: Boolean = false, sortKey: ProductVariantSortKeys = ID, query: String, savedSearchId: ID): ProductVariantConnection!
}
enum ProductVariantSortKeys { FULL_TITLE ID INVENTORY_LEVELS_AVAILABLE INVENTORY_MANAGEMENT INVENTORY_POLICY INVENTORY_QUANTITY NAME POPULAR POSITION RELEVANCE SKU TITLE }
type ProductVariantConnection { edges: [ProductVariantEdge!]! nodes: [ProductVariant!]! pageInfo: PageInfo! }
type ProductVariantEdge { cursor: String! node: ProductVariant! }
type Product implements Node { id: ID! title: String! }
type PageInfo { endCursor: String hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String }
type OrderConnection { edges: [OrderEdge!]! nodes: [Order!]! pageInfo: PageInfo! }
type OrderEdge { cursor: String! node: Order! }
type Order implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  cancelledAt: DateTime
  closed: Boolean!
  displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  currencyCode: CurrencyCode!
  currentTotalPriceSet: MoneyBag!
  totalPriceSet: MoneyBag!
  lineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): LineItemConnection!
  fulfillments(first: Int): [Fulfillment!]!
  refunds(first: Int): [Refund!]!
}
type LineItemConnection { edges: [LineItemEdge!]! nodes: [LineItem!]! pageInfo: PageInfo! }
type LineItemEdge { cursor: String! node: LineItem! }
type LineItem implements Node {
  id: ID!
  quantity: Int!
  currentQuantity: Int!
  unfulfilledQuantity: Int!
  refundableQuantity: Int!
  sku: String
  variant: ProductVariant
  originalUnitPriceSet: MoneyBag!
}
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }
type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type Fulfillment implements Node {
  id: ID!
  status: FulfillmentStatus!
  fulfillmentLineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): FulfillmentLineItemConnection!
}
type FulfillmentLineItemConnection { edges: [FulfillmentLineItemEdge!]! nodes: [FulfillmentLineItem!]! pageInfo: PageInfo! }
type FulfillmentLineItemEdge { cursor: String! node: FulfillmentLineItem! }
type FulfillmentLineItem implements Node { id: ID! quantity: Int lineItem: LineItem! }
type Refund implements Node {
  id: ID!
  createdAt: DateTime
  refundLineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): RefundLineItemConnection!
}
type RefundLineItemConnection { edges: [RefundLineItemEdge!]! nodes: [RefundLineItem!]! pageInfo: PageInfo! }
type RefundLineItemEdge { cursor: String! node: RefundLineItem! }
type RefundLineItem { id: ID quantity: Int! restockType: RefundLineItemRestockType! restocked: Boolean! lineItem: LineItem! }
type ProductVariant implements Node { id: ID! sku: String title: String! displayName: String! product: Product! inventoryItem: InventoryItem! }
type InventoryItem implements Node {
  id: ID!
  sku: String
  tracked: Boolean!
  variant: ProductVariant!
  inventoryLevel(locationId: ID!): InventoryLevel
}
type InventoryLevel implements Node { id: ID! quantities(names: [String!]!): [InventoryQuantity!]! item: InventoryItem! location: Location! }
type InventoryQuantity implements Node { id: ID! name: String! quantity: Int! updatedAt: DateTime }
type Location implements Node { id: ID! name: String! }
type InventoryAdjustmentGroup implements Node { id: ID! reason: String! }
type InventorySetQuantitiesPayload { inventoryAdjustmentGroup: InventoryAdjustmentGroup userErrors: [InventorySetQuantitiesUserError!]! }
type InventorySetQuantitiesUserError { code: InventorySetQuantitiesUserErrorCode field: [String!] message: String! }
type Mutation { inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload }
"#;

const SUBSET_2025_SDL: &str = r#"
enum InventorySetQuantitiesUserErrorCode { INVALID_INVENTORY_ITEM INVALID_LOCATION INVALID_QUANTITY_NEGATIVE INVALID_REASON INVALID_REFERENCE_DOCUMENT ITEM_NOT_STOCKED_AT_LOCATION INVALID_QUANTITY_TOO_HIGH INVALID_QUANTITY_TOO_LOW COMPARE_QUANTITY_REQUIRED COMPARE_QUANTITY_STALE INVALID_NAME NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR NON_MUTABLE_INVENTORY_ITEM }
input InventorySetQuantitiesInput { reason: String! name: String! referenceDocumentUri: String quantities: [InventoryQuantityInput!]! ignoreCompareQuantity: Boolean = false }
input InventoryQuantityInput { inventoryItemId: ID! locationId: ID! quantity: Int! compareQuantity: Int }
"#;

/// 2026-01 added `changeFromQuantity` and the `@idempotent` directive, deprecating
/// `compareQuantity` and `ignoreCompareQuantity` (Shopify's changelog); 2026-04 requires both
/// new ones at run time without a schema change, so 2026-04 shares this shape and the
/// resolver enforces the requirement.
const SUBSET_2026_SDL: &str = r#"
directive @idempotent(key: String!) on FIELD
enum InventorySetQuantitiesUserErrorCode { CHANGE_FROM_QUANTITY_STALE COMPARE_QUANTITY_REQUIRED COMPARE_QUANTITY_STALE IDEMPOTENCY_CONCURRENT_REQUEST IDEMPOTENCY_KEY_PARAMETER_MISMATCH IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED INVALID_INVENTORY_ITEM INVALID_LOCATION INVALID_NAME INVALID_QUANTITY_NEGATIVE INVALID_QUANTITY_TOO_HIGH INVALID_QUANTITY_TOO_LOW INVALID_REASON INVALID_REFERENCE_DOCUMENT ITEM_NOT_STOCKED_AT_LOCATION NON_MUTABLE_INVENTORY_ITEM NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR }
input InventorySetQuantitiesInput { reason: String! name: String! referenceDocumentUri: String quantities: [InventoryQuantityInput!]! ignoreCompareQuantity: Boolean = false }
input InventoryQuantityInput { inventoryItemId: ID! locationId: ID! quantity: Int! compareQuantity: Int changeFromQuantity: Int }
"#;
