//! Stock: `inventorySetQuantities` out (absolute `available`, compare-and-set) and the
//! `available` quantity read back for reconciliation.
//!
//! Compare-and-set needs the quantity Shopify shows before the change. The connector keeps
//! the last quantity it read or set per listing ([`LevelCache`]); a listing it has not seen
//! yet is read first (which also resolves a variant to its inventory item). When Shopify
//! answers that a compare quantity is stale — the quantity changed on Shopify's side, by a
//! sale, a merchant's edit or another app — the connector re-reads that listing (a read, not
//! a second write), remembers the fresh quantity for the next push, and reports the listing
//! as `Rejected` with a transient error, or as `Confirmed` if Shopify already shows the
//! target. It never overwrites blindly and never retries the write itself: the runtime
//! decides when to push again, from the ledger's quantity at that time.

use crate::connector::ShopifyConnector;
use crate::gid::numeric_id;
use crate::queries;
use crate::version::CompareForm;
use chrono::Utc;
use omnistock_connector::{ConnectorError, PushResult, StockLevel};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use tracing::{debug, warn};

pub use crate::levels::{KnownLevel, LevelCache};

/// Calls one push may make: the first, and the remainder of a call Shopify refused as a whole
/// for some of its quantities, sent again at once.
const MAX_SET_CALLS: usize = 3;

/// Quantities of listings Shopify sold lately per call: a refusal for a sale omnistock has
/// not learnt yet takes at most this many minus one others with it.
const SOLD_LATELY_PER_CALL: usize = 4;
/// Calls one push is split into at most.
const MAX_GROUPS: usize = 8;
/// What a stock update is assumed to request before Shopify answered one.
const MUTATION_COST_GUESS: f64 = 12.0;

/// Ids per stock read: about 4 points each, so a read requests about 200 points.
pub const READ_CHUNK: usize = 50;

/// Whether `id` is a gid the stock calls understand.
pub fn is_stock_listing_id(id: &str) -> bool {
    numeric_id(id, "ProductVariant").is_some() || numeric_id(id, "InventoryItem").is_some()
}

#[derive(Debug, Deserialize)]
struct NodesData {
    nodes: Vec<Option<StockNode>>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "__typename")]
enum StockNode {
    #[serde(rename_all = "camelCase")]
    ProductVariant {
        id: String,
        sku: Option<String>,
        inventory_item: ItemLevel,
    },
    #[serde(rename_all = "camelCase")]
    InventoryItem {
        id: String,
        sku: Option<String>,
        inventory_level: Option<Quantities>,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemLevel {
    pub(crate) id: String,
    pub(crate) inventory_level: Option<Quantities>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Quantities {
    quantities: Vec<NamedQuantity>,
}

#[derive(Debug, Deserialize)]
struct NamedQuantity {
    name: String,
    quantity: i64,
}

impl Quantities {
    pub(crate) fn available(&self) -> Option<i64> {
        self.quantities
            .iter()
            .find(|quantity| quantity.name == "available")
            .map(|quantity| quantity.quantity)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetData {
    inventory_set_quantities: Option<SetPayload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetPayload {
    inventory_adjustment_group: Option<Value>,
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Debug, Clone, Deserialize)]
struct UserError {
    code: Option<String>,
    #[serde(default)]
    field: Option<Vec<String>>,
    message: String,
}

impl UserError {
    /// The index into `quantities` this error is about, if it is about one.
    fn quantity_index(&self) -> Option<usize> {
        let field = self.field.as_ref()?;
        let position = field.iter().position(|part| part == "quantities")?;
        field.get(position + 1)?.parse().ok()
    }

    fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }
}

/// One listing going into the mutation.
#[derive(Clone)]
struct Planned {
    position: usize,
    inventory_item_id: String,
    expected: i64,
}

impl ShopifyConnector {
    /// Reads the levels of `listing_ids` (valid gids only) and remembers them.
    async fn read_levels(
        &self,
        listing_ids: &[String],
    ) -> Result<HashMap<String, KnownLevel>, ConnectorError> {
        let mut found = HashMap::new();
        for chunk in listing_ids.chunks(READ_CHUNK) {
            let observed_from = Utc::now();
            let data: NodesData = self
                .client
                .execute(
                    queries::STOCK_OPERATION,
                    queries::STOCK_QUERY,
                    json!({ "ids": chunk, "locationId": self.config.location_id }),
                )
                .await?;
            let observed_to = Utc::now();
            for node in data.nodes.into_iter().flatten() {
                let (id, level) = match node {
                    StockNode::ProductVariant {
                        id,
                        sku,
                        inventory_item,
                    } => (
                        id,
                        KnownLevel {
                            inventory_item_id: inventory_item.id,
                            sku,
                            available: inventory_item
                                .inventory_level
                                .as_ref()
                                .and_then(Quantities::available),
                            observed_from,
                            observed_to,
                        },
                    ),
                    StockNode::InventoryItem {
                        id,
                        sku,
                        inventory_level,
                    } => (
                        id.clone(),
                        KnownLevel {
                            inventory_item_id: id,
                            sku,
                            available: inventory_level.as_ref().and_then(Quantities::available),
                            observed_from,
                            observed_to,
                        },
                    ),
                    StockNode::Other => continue,
                };
                self.levels.insert(&id, level.clone());
                found.insert(id, level);
            }
        }
        Ok(found)
    }

    pub(crate) async fn read_available(
        &self,
        listing_ids: &[String],
    ) -> Result<Vec<StockLevel>, ConnectorError> {
        let wanted: Vec<String> = listing_ids
            .iter()
            .filter(|id| is_stock_listing_id(id))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let found = self.read_levels(&wanted).await?;
        Ok(listing_ids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter_map(|id| {
                let level = found.get(id)?;
                Some(StockLevel {
                    listing_id: id.clone(),
                    sku: level.sku.clone().unwrap_or_default(),
                    quantity: level.available?,
                })
            })
            .collect())
    }

    pub(crate) async fn set_available(
        &self,
        levels: &[StockLevel],
    ) -> Result<Vec<PushResult>, ConnectorError> {
        let mut results: Vec<Option<PushResult>> = vec![None; levels.len()];
        let reject = |level: &StockLevel, error: ConnectorError| PushResult::Rejected {
            listing_id: level.listing_id.clone(),
            error,
        };

        // Refuse locally what Shopify would refuse for the whole call.
        let mut seen = BTreeSet::new();
        let mut candidates = Vec::new();
        for (position, level) in levels.iter().enumerate() {
            let problem = if !is_stock_listing_id(&level.listing_id) {
                Some("not a shopify product variant or inventory item gid")
            } else if level.quantity < 0 {
                Some("negative quantity")
            } else if !seen.insert(level.listing_id.as_str()) {
                Some("the listing appears twice in one batch")
            } else {
                None
            };
            match problem {
                Some(problem) => {
                    results[position] = Some(reject(
                        level,
                        ConnectorError::Permanent(format!("{}: {problem}", level.listing_id)),
                    ))
                }
                None => candidates.push(position),
            }
        }

        // The compare values, taken once (a sale learnt meanwhile may make the cache forget a
        // level; what was taken or just read still counts: at worst it is stale and Shopify
        // refuses that item). What this connector has not seen yet is resolved and read.
        let mut known: HashMap<String, KnownLevel> = candidates
            .iter()
            .filter_map(|&position| {
                let id = &levels[position].listing_id;
                self.levels.get(id).map(|level| (id.clone(), level))
            })
            .collect();
        let unknown: Vec<String> = candidates
            .iter()
            .map(|&position| &levels[position].listing_id)
            .filter(|id| !known.contains_key(*id))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            known.extend(self.read_levels(&unknown).await?);
        }
        let mut planned = Vec::new();
        for position in candidates {
            let level = &levels[position];
            let known = known.get(&level.listing_id).cloned();
            match known {
                None => {
                    results[position] = Some(reject(
                        level,
                        ConnectorError::Permanent(format!(
                            "{}: shopify has no such listing",
                            level.listing_id
                        )),
                    ))
                }
                Some(KnownLevel {
                    available: None, ..
                }) => {
                    results[position] = Some(reject(
                        level,
                        ConnectorError::Permanent(format!(
                            "{}: not stocked at location {}",
                            level.listing_id, self.config.location_id
                        )),
                    ))
                }
                Some(KnownLevel {
                    inventory_item_id,
                    available: Some(expected),
                    ..
                }) => planned.push(Planned {
                    position,
                    inventory_item_id,
                    expected,
                }),
            }
        }
        if planned.is_empty() {
            return Ok(results.into_iter().flatten().collect());
        }

        // Shopify applies a call whole or not at all: a quantity of a listing Shopify is
        // selling may meet a sale whose order has not reached omnistock yet, and take the
        // whole call down with it. So those go in small calls of their own (while the bucket
        // has room for them), the rest together.
        let mut stale: Vec<Planned> = Vec::new();
        let groups = self.call_groups(levels, planned);
        let mut failed: Option<ConnectorError> = None;
        for (index, group) in groups.into_iter().enumerate() {
            if let Some(error) = &failed {
                for plan in &group {
                    results[plan.position] = Some(reject(&levels[plan.position], error.clone()));
                }
                continue;
            }
            match self
                .send_with_resends(levels, group, &mut results, &mut stale, index == 0)
                .await
            {
                Ok(None) => {}
                Ok(Some(error)) => failed = Some(error),
                Err(error) => return Err(error),
            }
        }

        if !stale.is_empty() && !self.has_room_for(queries::STOCK_OPERATION) {
            // No room to re-read now: forget the stale levels, so the next push reads first.
            for plan in stale.drain(..) {
                let level = &levels[plan.position];
                self.levels.remove(&level.listing_id);
                results[plan.position] = Some(reject(
                    level,
                    ConnectorError::transient(format!(
                        "{}: changed on shopify meanwhile; not overwritten, push again",
                        level.listing_id
                    )),
                ));
            }
        }
        if !stale.is_empty() {
            let stale_ids: Vec<String> = stale
                .iter()
                .map(|plan| levels[plan.position].listing_id.clone())
                .collect();
            let fresh = match self.read_levels(&stale_ids).await {
                Ok(fresh) => fresh,
                Err(error) => {
                    // Forget what is known to be wrong: the next push reads first.
                    warn!(shop = %self.shop_domain, error = %error, "re-reading stale stock failed");
                    stale_ids.iter().for_each(|id| self.levels.remove(id));
                    HashMap::new()
                }
            };
            for plan in stale {
                let level = &levels[plan.position];
                let shown = fresh
                    .get(&level.listing_id)
                    .and_then(|known| known.available);
                debug!(shop = %self.shop_domain, listing = %level.listing_id, expected = plan.expected, shown, "compare quantity stale");
                results[plan.position] = Some(if shown == Some(level.quantity) {
                    PushResult::Confirmed {
                        listing_id: level.listing_id.clone(),
                        quantity: level.quantity,
                    }
                } else {
                    reject(
                        level,
                        ConnectorError::transient(format!(
                            "{}: changed on shopify meanwhile (expected {}, shopify shows {}); not overwritten, push again",
                            level.listing_id,
                            plan.expected,
                            shown.map_or_else(|| "nothing".to_string(), |q| q.to_string())
                        )),
                    )
                });
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// Sends one group of quantities, and again at once (up to [`MAX_SET_CALLS`] calls) what
    /// Shopify refused only because others in the same call were refused. Stale quantities
    /// are collected in `stale`. An error of the first call of the push's first group is the
    /// push's (nothing was applied); a later call's error rejects its quantities and is
    /// returned, so that the push sends nothing more.
    async fn send_with_resends(
        &self,
        levels: &[StockLevel],
        mut pending: Vec<Planned>,
        results: &mut [Option<PushResult>],
        stale: &mut Vec<Planned>,
        first_group: bool,
    ) -> Result<Option<ConnectorError>, ConnectorError> {
        let reject = |level: &StockLevel, error: ConnectorError| PushResult::Rejected {
            listing_id: level.listing_id.clone(),
            error,
        };
        for call in 0..MAX_SET_CALLS {
            self.refresh_compare_values(levels, &mut pending).await;
            let observed_from = Utc::now();
            let payload = match self.send_set(levels, &pending).await {
                Ok(payload) => payload,
                Err(error) if call == 0 && first_group => return Err(error),
                Err(error) => {
                    for plan in &pending {
                        let level = &levels[plan.position];
                        results[plan.position] = Some(reject(level, error.clone()));
                    }
                    return Ok(Some(error));
                }
            };
            let observed = (observed_from, Utc::now());
            let outcome = classify_set_answer(payload, pending.len());
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(error) if call == 0 && first_group => return Err(error),
                Err(error) => {
                    for plan in &pending {
                        let level = &levels[plan.position];
                        results[plan.position] = Some(reject(level, error.clone()));
                    }
                    return Ok(Some(error));
                }
            };
            let mut collateral = Vec::new();
            for (index, plan) in pending.iter().enumerate() {
                let level = &levels[plan.position];
                let result = match outcome.errors_by_item.get(&index) {
                    None if outcome.applied => {
                        self.levels.set_available(
                            &level.listing_id,
                            Some(level.quantity),
                            observed,
                        );
                        PushResult::Confirmed {
                            listing_id: level.listing_id.clone(),
                            quantity: level.quantity,
                        }
                    }
                    None => {
                        collateral.push(plan.clone());
                        continue;
                    }
                    Some(error) if is_stale(error) => {
                        stale.push(plan.clone());
                        continue;
                    }
                    Some(error) => {
                        match error.code() {
                            "INVALID_INVENTORY_ITEM" => self.levels.remove(&level.listing_id),
                            "ITEM_NOT_STOCKED_AT_LOCATION" => {
                                self.levels.set_available(&level.listing_id, None, observed)
                            }
                            _ => {}
                        }
                        reject(
                            level,
                            ConnectorError::Permanent(format!(
                                "{}: {} ({})",
                                level.listing_id,
                                error.message,
                                error.code()
                            )),
                        )
                    }
                };
                results[plan.position] = Some(result);
            }
            if collateral.is_empty() {
                break;
            }
            // Sent again at once only while the bucket has room for the call: the gateway paced
            // this push for one call, and a throttled resend would spend the bucket again.
            let room = self.has_room_for(queries::SET_OPERATION);
            if room {
                debug!(shop = %self.shop_domain, resent = collateral.len(), "quantities refused with others sent again at once");
            }
            if call + 1 == MAX_SET_CALLS || !room {
                for plan in collateral {
                    let level = &levels[plan.position];
                    results[plan.position] = Some(reject(
                        level,
                        ConnectorError::transient(format!(
                            "{}: not applied, shopify refused the call for other listings in it; push again",
                            level.listing_id
                        )),
                    ));
                }
                break;
            }
            pending = collateral;
        }

        Ok(None)
    }

    /// The push's quantities split into calls: those of listings Shopify sold lately in calls
    /// of at most [`SOLD_LATELY_PER_CALL`], the others in one call first; one call, and as
    /// many more as the bucket as last seen holds beyond half of it (at most [`MAX_GROUPS`]),
    /// the sold-lately ones spread evenly over them.
    fn call_groups(&self, levels: &[StockLevel], planned: Vec<Planned>) -> Vec<Vec<Planned>> {
        let (sold_lately, quiet): (Vec<Planned>, Vec<Planned>) = planned
            .into_iter()
            .partition(|plan| self.levels.sold_lately(&levels[plan.position].listing_id));
        let call_cost = self
            .client
            .expected_cost(&[queries::SET_OPERATION])
            .unwrap_or(MUTATION_COST_GUESS);
        // Only from what the bucket holds beyond half of it: the rest is the gateway's, which
        // paced this push for one call.
        let affordable = self.throttle_status().map_or(1, |status| {
            let spare = status.available_now() - status.bucket.maximum_available / 2.0;
            1 + (spare.max(0.0) / call_cost.max(1.0)).floor() as usize
        });
        let for_sold_lately = affordable
            .min(MAX_GROUPS)
            .saturating_sub(usize::from(!quiet.is_empty()))
            .max(1);
        let wanted = sold_lately.len().div_ceil(SOLD_LATELY_PER_CALL);
        let per_call = sold_lately
            .len()
            .div_ceil(wanted.clamp(1, for_sold_lately))
            .max(1);
        let mut groups = Vec::new();
        if !quiet.is_empty() {
            groups.push(quiet);
        }
        let mut sold_lately = sold_lately.into_iter().peekable();
        while sold_lately.peek().is_some() {
            groups.push(sold_lately.by_ref().take(per_call).collect());
        }
        groups
    }

    /// Takes each compare value from the cache again just before a call: a sale learnt since
    /// it was taken (while unknown levels were read, or while an earlier call of this push was
    /// in flight) is in it, instead of a stale value Shopify would refuse with the whole call.
    /// A level the cache forgot meanwhile (a sale it could not order against it) is read
    /// again when the bucket has room for the read and the call, else the value taken stands (at worst it is refused).
    async fn refresh_compare_values(&self, levels: &[StockLevel], pending: &mut [Planned]) {
        let forgotten: Vec<String> = pending
            .iter()
            .map(|plan| &levels[plan.position].listing_id)
            .filter(|id| self.levels.get(id).is_none())
            .cloned()
            .collect();
        let read_and_set = [queries::STOCK_OPERATION, queries::SET_OPERATION]
            .iter()
            .filter_map(|operation| self.client.expected_cost(&[operation]))
            .sum::<f64>();
        if !forgotten.is_empty() && self.wait_for_cost(read_and_set).is_zero() {
            if let Err(error) = self.read_levels(&forgotten).await {
                warn!(shop = %self.shop_domain, error = %error, "re-reading forgotten stock levels failed; compare values as taken");
            }
        }
        for plan in pending.iter_mut() {
            let listing_id = &levels[plan.position].listing_id;
            if let Some(available) = self
                .levels
                .get(listing_id)
                .and_then(|level| level.available)
            {
                if available != plan.expected {
                    debug!(shop = %self.shop_domain, listing = %listing_id, taken = plan.expected, now = available, "compare value followed a sale learnt meanwhile");
                }
                plan.expected = available;
            }
        }
    }

    /// The bucket holds what `operation` last asked for (or its cost is not known yet).
    fn has_room_for(&self, operation: &str) -> bool {
        let cost = self.client.expected_cost(&[operation]).unwrap_or(0.0);
        self.wait_for_cost(cost).is_zero()
    }

    async fn send_set(
        &self,
        levels: &[StockLevel],
        planned: &[Planned],
    ) -> Result<SetPayload, ConnectorError> {
        let form = self.version.compare_form();
        let quantities: Vec<Value> = planned
            .iter()
            .map(|plan| {
                let compare_key = match form {
                    CompareForm::CompareQuantity => "compareQuantity",
                    CompareForm::ChangeFromQuantity => "changeFromQuantity",
                };
                json!({
                    "inventoryItemId": plan.inventory_item_id,
                    "locationId": self.config.location_id,
                    "quantity": levels[plan.position].quantity,
                    compare_key: plan.expected,
                })
            })
            .collect();
        let push_id = uuid::Uuid::new_v4();
        let input = json!({
            "name": "available",
            "reason": self.config.inventory_reason(),
            "referenceDocumentUri": format!("gid://omnistock/StockPush/{push_id}"),
            "quantities": quantities,
        });
        let variables = match form {
            CompareForm::CompareQuantity => json!({ "input": input }),
            CompareForm::ChangeFromQuantity => {
                json!({ "input": input, "idempotencyKey": push_id.to_string() })
            }
        };
        let data: SetData = self
            .client
            .execute(
                queries::SET_OPERATION,
                queries::set_quantities_mutation(form),
                variables,
            )
            .await?;
        data.inventory_set_quantities.ok_or_else(|| {
            ConnectorError::Permanent("inventorySetQuantities returned no payload".into())
        })
    }
}

/// What one `inventorySetQuantities` answer says about each quantity sent.
struct SetOutcome {
    errors_by_item: HashMap<usize, UserError>,
    applied: bool,
}

fn is_stale(error: &UserError) -> bool {
    matches!(
        error.code(),
        "COMPARE_QUANTITY_STALE" | "CHANGE_FROM_QUANTITY_STALE"
    )
}

/// Sorts the user errors of an answer by the quantity they name; an error about the call as a
/// whole is the call's error, unless it is a stale answer (then every quantity may be stale).
fn classify_set_answer(payload: SetPayload, sent: usize) -> Result<SetOutcome, ConnectorError> {
    let mut errors_by_item: HashMap<usize, UserError> = HashMap::new();
    let mut call_errors = Vec::new();
    for error in payload.user_errors {
        match error.quantity_index().filter(|index| *index < sent) {
            Some(index) => {
                errors_by_item.entry(index).or_insert(error);
            }
            None => call_errors.push(error),
        }
    }
    if let Some(first) = call_errors.first() {
        if !call_errors.iter().all(is_stale) {
            return Err(classify_call_errors(&call_errors));
        }
        for index in 0..sent {
            errors_by_item.entry(index).or_insert_with(|| first.clone());
        }
    }
    let applied = errors_by_item.is_empty() || payload.inventory_adjustment_group.is_some();
    Ok(SetOutcome {
        errors_by_item,
        applied,
    })
}

/// User errors about the call as a whole (not one quantity).
fn classify_call_errors(errors: &[UserError]) -> ConnectorError {
    let message = errors
        .iter()
        .map(|error| format!("{} ({})", error.message, error.code()))
        .collect::<Vec<_>>()
        .join("; ");
    let message = format!("inventorySetQuantities: {message}");
    if errors
        .iter()
        .any(|error| error.code().starts_with("IDEMPOTENCY_CONCURRENT"))
    {
        return ConnectorError::transient(message);
    }
    ConnectorError::Configuration(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_error_fields_point_at_a_quantity() {
        let error = UserError {
            code: Some("COMPARE_QUANTITY_STALE".into()),
            field: Some(vec![
                "input".into(),
                "quantities".into(),
                "3".into(),
                "compareQuantity".into(),
            ]),
            message: "stale".into(),
        };
        assert_eq!(error.quantity_index(), Some(3));
        let call = UserError {
            code: Some("INVALID_REASON".into()),
            field: Some(vec!["input".into(), "reason".into()]),
            message: "bad".into(),
        };
        assert_eq!(call.quantity_index(), None);
        assert!(is_stock_listing_id("gid://shopify/ProductVariant/1"));
        assert!(is_stock_listing_id("gid://shopify/InventoryItem/1"));
        assert!(!is_stock_listing_id("gid://shopify/Order/1"));
    }
}
