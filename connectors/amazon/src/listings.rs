//! Stock on Amazon: the merchant-fulfilled quantity of a listing (seller SKU) is its
//! `fulfillment_availability` entry with `fulfillment_channel_code` `DEFAULT`. It is set with
//! `patchListingsItem` (a JSON patch `merge` of that attribute, which leaves the entry's other
//! fields such as `lead_time_to_ship_max_days` alone) and read with `getListingsItem`
//! (`includedData=fulfillmentAvailability`).

use crate::client::{ApiRequest, CallFailure, Refusal};
use crate::usage::Operation;
use serde::Deserialize;
use serde_json::{json, Value};

/// The fulfillment channel code of the merchant's own (MFN) stock.
pub const MERCHANT_CHANNEL_CODE: &str = "DEFAULT";
/// The API version of the Listings Items calls.
pub const LISTINGS_VERSION: &str = "2021-08-01";

/// The attribute patch that sets a listing's merchant-fulfilled quantity.
pub fn quantity_patch(product_type: &str, quantity: i64) -> Value {
    json!({
        "productType": product_type,
        "patches": [{
            "op": "merge",
            "path": "/attributes/fulfillment_availability",
            "value": [{
                "fulfillment_channel_code": MERCHANT_CHANNEL_CODE,
                "quantity": quantity.max(0),
            }],
        }],
    })
}

pub fn patch_request(
    seller_id: &str,
    sku: &str,
    marketplace_ids: &str,
    product_type: &str,
    quantity: i64,
) -> ApiRequest {
    ApiRequest::get(
        Operation::PatchListingsItem,
        &["listings", LISTINGS_VERSION, "items", seller_id, sku],
    )
    .with_method(reqwest::Method::PATCH)
    .query("marketplaceIds", marketplace_ids)
    .body(quantity_patch(product_type, quantity))
}

pub fn read_request(seller_id: &str, sku: &str, marketplace_ids: &str) -> ApiRequest {
    ApiRequest::get(
        Operation::GetListingsItem,
        &["listings", LISTINGS_VERSION, "items", seller_id, sku],
    )
    .query("marketplaceIds", marketplace_ids)
    .query("includedData", "fulfillmentAvailability")
}

/// One issue Amazon found with a submission.
#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub severity: String,
}

/// `ListingsItemSubmissionResponse`.
#[derive(Debug, Clone, Deserialize)]
pub struct SubmissionResponse {
    #[serde(default)]
    pub status: String,
    #[serde(default, rename = "submissionId")]
    pub submission_id: Option<String>,
    #[serde(default)]
    pub issues: Vec<Issue>,
}

/// What became of one patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchOutcome {
    Accepted,
    /// Amazon refused it for good: its codes and messages, for the dead-letter list.
    Refused(String),
}

/// Reads a patch's answer.
pub fn patch_outcome(answer: Value) -> PatchOutcome {
    let response: SubmissionResponse = match serde_json::from_value(answer) {
        Ok(response) => response,
        Err(error) => {
            return PatchOutcome::Refused(format!(
                "patchListingsItem: unexpected answer shape: {error}"
            ))
        }
    };
    if response.status == "ACCEPTED" || response.status == "VALID" {
        return PatchOutcome::Accepted;
    }
    let errors: Vec<String> = response
        .issues
        .iter()
        .filter(|issue| issue.severity == "ERROR")
        .map(|issue| format!("{}: {}", issue.code, issue.message))
        .collect();
    PatchOutcome::Refused(format!(
        "patchListingsItem: {}: {}",
        response.status,
        errors.join("; ")
    ))
}

/// A refused request (400, 404 …) as the text kept for the listing.
pub fn refusal_text(refusal: &Refusal) -> String {
    refusal.text()
}

/// One `fulfillmentAvailability` entry of a listings item.
#[derive(Debug, Clone, Deserialize)]
pub struct FulfillmentAvailability {
    #[serde(rename = "fulfillmentChannelCode")]
    pub fulfillment_channel_code: String,
    #[serde(default)]
    pub quantity: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default, rename = "fulfillmentAvailability")]
    fulfillment_availability: Vec<FulfillmentAvailability>,
}

/// The merchant-fulfilled quantity among a listing's availability entries; `None` when it has
/// no `DEFAULT` entry.
pub fn default_quantity(entries: &[FulfillmentAvailability]) -> Option<i64> {
    entries
        .iter()
        .find(|entry| entry.fulfillment_channel_code == MERCHANT_CHANNEL_CODE)
        .map(|entry| entry.quantity.unwrap_or(0))
}

/// The merchant-fulfilled quantity of a `getListingsItem` answer; `None` when the listing has
/// no `DEFAULT` entry (an FBA-only listing, whose stock is Amazon's).
pub fn merchant_quantity(answer: Value) -> Option<i64> {
    let item: Item = serde_json::from_value(answer).ok()?;
    default_quantity(&item.fulfillment_availability)
}

/// Whether a failed read means "no such listing" (the read leaves it out).
pub fn is_not_found(failure: &CallFailure) -> bool {
    matches!(failure, CallFailure::Refused(refusal) if refusal.status == 404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_and_read_shapes() {
        let patch = quantity_patch("PRODUCT", 7);
        assert_eq!(patch["patches"][0]["op"], "merge");
        assert_eq!(
            patch["patches"][0]["value"][0],
            json!({"fulfillment_channel_code": "DEFAULT", "quantity": 7})
        );
        let read = json!({"sku": "A", "fulfillmentAvailability": [
            {"fulfillmentChannelCode": "AMAZON_EU", "quantity": 50},
            {"fulfillmentChannelCode": "DEFAULT", "quantity": 3}
        ]});
        assert_eq!(merchant_quantity(read), Some(3));
        assert_eq!(merchant_quantity(json!({"sku": "A"})), None);
        assert_eq!(
            patch_outcome(
                json!({"sku": "A", "status": "ACCEPTED", "submissionId": "x", "issues": []})
            ),
            PatchOutcome::Accepted
        );
        let refused = patch_outcome(json!({"sku": "A", "status": "INVALID", "submissionId": "x",
            "issues": [{"code": "90220", "message": "quantity is invalid", "severity": "ERROR"}]}));
        assert_eq!(
            refused,
            PatchOutcome::Refused("patchListingsItem: INVALID: 90220: quantity is invalid".into())
        );
    }
}
