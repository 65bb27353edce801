//! Stock: Update Inventory per product (every warehouse of each SKU listed, as TikTok
//! requires) and Inventory Search for reconciliation and to learn a SKU's warehouses.

use crate::client::{ApiClient, Method};
use crate::errors::{classify, CHECK_FAILED, INVENTORY_NOT_UPDATED, MISSING_WAREHOUSES};
use crate::listing::ListingId;
use omnistock_connector::{ConnectorError, PushResult, StockLevel};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use tracing::{debug, warn};

pub const UPDATE_INVENTORY_PATH: &str = "/product/202309/products/{product_id}/inventory/update";
pub const INVENTORY_SEARCH_PATH: &str = "/product/202309/inventory/search";
/// The APIs of this module, for pacing.
pub const APIS: &[&str] = &[UPDATE_INVENTORY_PATH, INVENTORY_SEARCH_PATH];
/// Inventory Search: "Max IDs: 600" SKU ids per call.
pub const MAX_SKU_IDS_PER_SEARCH: usize = 600;
/// Update Inventory: "A single product cannot have more than 100 different SKUs".
pub const MAX_SKUS_PER_PRODUCT: usize = 100;
/// Update Inventory's documented range of `quantity` is [1, 99,999]; omnistock sends 0 for a
/// sold-out SKU (see the README).
pub const MAX_QUANTITY: i64 = 99_999;

#[derive(Debug, Deserialize)]
struct SearchData {
    #[serde(default)]
    inventory: Vec<ProductInventory>,
}

#[derive(Debug, Deserialize)]
struct ProductInventory {
    product_id: String,
    #[serde(default)]
    skus: Vec<SkuInventory>,
}

#[derive(Debug, Deserialize)]
struct SkuInventory {
    id: String,
    #[serde(default)]
    seller_sku: Option<String>,
    #[serde(default)]
    total_available_quantity: Option<i64>,
    #[serde(default)]
    warehouse_inventory: Vec<WarehouseInventory>,
}

#[derive(Debug, Deserialize)]
struct WarehouseInventory {
    warehouse_id: String,
    #[serde(default)]
    available_quantity: i64,
}

#[derive(Debug, Default, Deserialize)]
struct UpdateData {
    #[serde(default)]
    errors: Vec<UpdateError>,
}

#[derive(Debug, Deserialize)]
struct UpdateError {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: Option<UpdateErrorDetail>,
}

#[derive(Debug, Deserialize)]
struct UpdateErrorDetail {
    #[serde(default)]
    sku_id: Option<String>,
    #[serde(default)]
    extra_errors: Vec<ExtraError>,
}

#[derive(Debug, Deserialize)]
struct ExtraError {
    #[serde(default)]
    warehouse_id: Option<String>,
    code: i64,
    #[serde(default)]
    message: String,
}

/// A SKU's warehouses and their available quantities, as last read or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SkuWarehouses(pub BTreeMap<String, i64>);

/// What the connector knows of each SKU's warehouses.
#[derive(Debug, Default)]
pub struct WarehouseCache(Mutex<HashMap<String, SkuWarehouses>>);

impl WarehouseCache {
    fn get(&self, sku_id: &str) -> Option<SkuWarehouses> {
        self.0.lock().ok()?.get(sku_id).cloned()
    }

    fn put(&self, sku_id: &str, warehouses: SkuWarehouses) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(sku_id.to_string(), warehouses);
        }
    }

    fn forget(&self, sku_id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(sku_id);
        }
    }
}

/// Stock calls of one shop.
pub struct Inventory<'a> {
    pub client: &'a ApiClient,
    pub cache: &'a WarehouseCache,
    /// The warehouse omnistock's quantity goes to (`warehouse_id`).
    pub target_warehouse: Option<&'a str>,
}

/// A level whose listing id is usable, or its refusal.
enum Parsed<'a> {
    Level(ListingId, &'a StockLevel),
    Refused(PushResult),
}

impl Inventory<'_> {
    /// Inventory Search by SKU ids, in pages of the documented 600.
    async fn search(
        &self,
        sku_ids: &[String],
    ) -> Result<Vec<(ListingId, SkuInventory)>, ConnectorError> {
        let mut found = Vec::new();
        for chunk in sku_ids.chunks(MAX_SKU_IDS_PER_SEARCH) {
            let body = json!({ "sku_ids": chunk });
            let data: SearchData = self
                .client
                .call(
                    INVENTORY_SEARCH_PATH,
                    Method::Post,
                    INVENTORY_SEARCH_PATH,
                    Vec::new(),
                    Some(&body),
                )
                .await?;
            for product in data.inventory {
                for sku in product.skus {
                    let warehouses = SkuWarehouses(
                        sku.warehouse_inventory
                            .iter()
                            .map(|warehouse| {
                                (warehouse.warehouse_id.clone(), warehouse.available_quantity)
                            })
                            .collect(),
                    );
                    self.cache.put(&sku.id, warehouses);
                    found.push((
                        ListingId::new(product.product_id.clone(), sku.id.clone()),
                        sku,
                    ));
                }
            }
        }
        Ok(found)
    }

    /// The quantities the shop shows, for reconciliation: in the configured warehouse, or in
    /// all warehouses when none is configured.
    pub async fn read(&self, listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError> {
        let wanted: Vec<ListingId> = listing_ids
            .iter()
            .filter_map(|id| ListingId::parse(id))
            .collect();
        let sku_ids: Vec<String> = wanted.iter().map(|id| id.sku_id.clone()).collect();
        if sku_ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.search(&sku_ids).await?;
        let mut levels = Vec::new();
        for (listing, sku) in found {
            if !wanted.contains(&listing) {
                continue;
            }
            let quantity = shown_quantity(
                self.target_warehouse,
                sku.warehouse_inventory.iter().map(|warehouse| {
                    (
                        warehouse.warehouse_id.as_str(),
                        warehouse.available_quantity,
                    )
                }),
                sku.total_available_quantity,
            );
            levels.push(StockLevel {
                listing_id: listing.encode(),
                sku: sku.seller_sku.unwrap_or_default(),
                quantity,
            });
        }
        Ok(levels)
    }

    /// Sets absolute quantities: one Update Inventory call per product.
    pub async fn push(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
        let mut results = Vec::with_capacity(levels.len());
        let mut by_product: BTreeMap<String, Vec<(ListingId, &StockLevel)>> = BTreeMap::new();
        for parsed in levels.iter().map(parse_level) {
            match parsed {
                Parsed::Level(listing, level) => by_product
                    .entry(listing.product_id.clone())
                    .or_default()
                    .push((listing, level)),
                Parsed::Refused(result) => results.push(result),
            }
        }
        // Learn the warehouses of SKUs not seen yet, in as few searches as possible.
        let unknown: Vec<String> = by_product
            .values()
            .flatten()
            .filter(|(listing, _)| self.cache.get(&listing.sku_id).is_none())
            .map(|(listing, _)| listing.sku_id.clone())
            .collect();
        if !unknown.is_empty() {
            self.search(&unknown).await?;
        }
        let mut requests = 0;
        for (product_id, skus) in by_product {
            for chunk in skus.chunks(MAX_SKUS_PER_PRODUCT) {
                requests += 1;
                results.extend(self.push_product(&product_id, chunk).await?);
            }
        }
        if let Some(window) = self.client.window(UPDATE_INVENTORY_PATH) {
            window.call_sent(requests);
        }
        Ok(results)
    }

    async fn push_product(
        &self,
        product_id: &str,
        skus: &[(ListingId, &StockLevel)],
    ) -> Result<Vec<PushResult>, ConnectorError> {
        let mut results = Vec::with_capacity(skus.len());
        let mut entries = Vec::with_capacity(skus.len());
        let mut sent: Vec<(&ListingId, i64, SkuWarehouses)> = Vec::with_capacity(skus.len());
        for (listing, level) in skus {
            let quantity = level.quantity.clamp(0, MAX_QUANTITY);
            let Some(known) = self.cache.get(&listing.sku_id) else {
                results.push(PushResult::Rejected {
                    listing_id: listing.encode(),
                    error: ConnectorError::Permanent(format!(
                        "SKU {} is not in the shop's inventory",
                        listing.sku_id
                    )),
                });
                continue;
            };
            let warehouses = match self.plan(&known, quantity) {
                Ok(warehouses) => warehouses,
                Err(error) => {
                    results.push(PushResult::Rejected {
                        listing_id: listing.encode(),
                        error,
                    });
                    continue;
                }
            };
            let inventory: Vec<serde_json::Value> = warehouses
                .0
                .iter()
                .map(|(warehouse_id, quantity)| json!({ "warehouse_id": warehouse_id, "quantity": quantity }))
                .collect();
            entries.push(json!({ "id": listing.sku_id, "inventory": inventory }));
            sent.push((listing, quantity, warehouses));
        }
        if entries.is_empty() {
            return Ok(results);
        }
        let path = UPDATE_INVENTORY_PATH.replace("{product_id}", product_id);
        let body = json!({ "skus": entries });
        let envelope = self
            .client
            .call_envelope::<UpdateData>(
                UPDATE_INVENTORY_PATH,
                Method::Post,
                &path,
                Vec::new(),
                Some(&body),
            )
            .await?;
        if envelope.code != 0 && envelope.code != CHECK_FAILED {
            // The whole product was refused (not listed, no such product, …).
            let error = classify(200, Some(envelope.code), &envelope.message, None);
            if error.is_retryable() || matches!(error, ConnectorError::Configuration(_)) {
                return Err(error);
            }
            warn!(product = %product_id, code = envelope.code, "TikTok refused the product's inventory update");
            for (listing, _, _) in &sent {
                self.cache.forget(&listing.sku_id);
                results.push(PushResult::Rejected {
                    listing_id: listing.encode(),
                    error: error.clone(),
                });
            }
            return Ok(results);
        }
        let errors = envelope.data.unwrap_or_default().errors;
        let mut failed: HashMap<String, ConnectorError> = HashMap::new();
        let mut whole_call: Option<ConnectorError> = None;
        for problem in errors {
            let (code, message) = problem
                .detail
                .as_ref()
                .and_then(|detail| detail.extra_errors.first())
                .map(|extra| {
                    let place = extra.warehouse_id.as_deref().unwrap_or("?");
                    (extra.code, format!("warehouse {place}: {}", extra.message))
                })
                .unwrap_or((problem.code, problem.message.clone()));
            let error = classify(200, Some(code), &message, None);
            match problem.detail.and_then(|detail| detail.sku_id) {
                Some(sku_id) => {
                    failed.insert(sku_id, error);
                }
                None => whole_call = Some(error),
            }
        }
        for (listing, quantity, warehouses) in sent {
            let error = failed
                .remove(&listing.sku_id)
                .or_else(|| whole_call.clone());
            match error {
                Some(error) => {
                    if matches!(
                        code_of(&error),
                        Some(MISSING_WAREHOUSES | INVENTORY_NOT_UPDATED)
                    ) {
                        // The SKU's warehouses changed: learn them again before the retry.
                        self.cache.forget(&listing.sku_id);
                    }
                    debug!(listing = %listing.encode(), error = %error, "inventory update refused for a SKU");
                    results.push(PushResult::Rejected {
                        listing_id: listing.encode(),
                        error,
                    });
                }
                None => {
                    self.cache.put(&listing.sku_id, warehouses);
                    results.push(PushResult::Confirmed {
                        listing_id: listing.encode(),
                        quantity,
                    });
                }
            }
        }
        Ok(results)
    }

    /// The quantities to send for a SKU: `quantity` in the target warehouse (its only one when
    /// none is configured), every other warehouse at what it holds.
    fn plan(&self, known: &SkuWarehouses, quantity: i64) -> Result<SkuWarehouses, ConnectorError> {
        let target = match self.target_warehouse {
            Some(target) => target.to_string(),
            None => match known.0.keys().collect::<Vec<_>>().as_slice() {
                [only] => (*only).clone(),
                [] => {
                    return Err(ConnectorError::Permanent(
                        "the SKU has no warehouse on TikTok Shop".into(),
                    ))
                }
                _ => {
                    return Err(ConnectorError::Configuration(
                        "the SKU is stocked in several warehouses: set warehouse_id".into(),
                    ))
                }
            },
        };
        if !known.0.contains_key(&target) {
            return Err(ConnectorError::Permanent(format!(
                "the SKU is not stocked in warehouse {target}"
            )));
        }
        let mut planned = known.clone();
        planned.0.insert(target, quantity);
        Ok(planned)
    }
}

/// The quantity of a SKU omnistock compares with its own: the configured warehouse's (other
/// warehouses are not omnistock's to compare), else `total` or the sum of every warehouse.
pub fn shown_quantity<'w>(
    target_warehouse: Option<&str>,
    warehouses: impl Iterator<Item = (&'w str, i64)> + Clone,
    total: Option<i64>,
) -> i64 {
    let target = target_warehouse.and_then(|target| {
        warehouses
            .clone()
            .find(|(warehouse_id, _)| *warehouse_id == target)
    });
    match target {
        Some((_, quantity)) => quantity,
        None => total.unwrap_or_else(|| warehouses.map(|(_, quantity)| quantity).sum()),
    }
}

fn parse_level(level: &StockLevel) -> Parsed<'_> {
    match ListingId::parse(&level.listing_id) {
        Some(listing) => Parsed::Level(listing, level),
        None => Parsed::Refused(PushResult::Rejected {
            listing_id: level.listing_id.clone(),
            error: ConnectorError::Permanent(format!(
                "listing id {:?} is not {{product_id}}:{{sku_id}}",
                level.listing_id
            )),
        }),
    }
}

/// The TikTok code a classified error carries in its message.
fn code_of(error: &ConnectorError) -> Option<i64> {
    let text = error.to_string();
    let rest = text.split("TikTok code ").nth(1)?;
    rest.split(':').next()?.trim().parse().ok()
}
