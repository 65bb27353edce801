//! Stock: Update Inventory per product (every warehouse of each SKU listed, as TikTok
//! requires; the levels of a SKU's per-warehouse listings merged into its one entry) and
//! Inventory Search for reconciliation, to learn a SKU's warehouses, and to read, just before an
//! update, the quantities of the warehouses the update lists without setting them.

use crate::client::{ApiClient, Method};
use crate::errors::{
    classify, CHECK_FAILED, INVENTORY_NOT_UPDATED, MISSING_WAREHOUSES, WAREHOUSE_NOT_FOUND,
};
use crate::listing::ListingId;
use omnistock_connector::{ConnectorError, PushResult, StockLevel};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
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
/// How long a SKU's warehouse quantities, as last read or set, may stand in for a search before
/// an update lists the warehouses it does not set. TikTok lowers a warehouse when it sells from
/// it, and listing it at an older quantity sets it back up, so older entries are read again.
/// Not 0: the runtime pushes at most `MAX_STOCK_BATCH` levels at a time, so one SKU's
/// per-warehouse listings can fall in consecutive batches, and a batch of 40 products fills most
/// of a second of the 50 requests/s, so the next one may start about a second later; 2 s lets
/// it reuse what the previous batch read or set. A sale on TikTok in those 2 s can be undone.
pub const FRESH_FOR: Duration = Duration::from_secs(2);

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

/// What the connector knows of each SKU's warehouses, and when TikTok said so.
#[derive(Debug, Default)]
pub struct WarehouseCache(Mutex<HashMap<String, (SkuWarehouses, Instant)>>);

impl WarehouseCache {
    fn get(&self, sku_id: &str) -> Option<SkuWarehouses> {
        self.aged(sku_id).map(|(warehouses, _)| warehouses)
    }

    /// A SKU's entry and its age.
    fn aged(&self, sku_id: &str) -> Option<(SkuWarehouses, Duration)> {
        let map = self.0.lock().ok()?;
        let (warehouses, at) = map.get(sku_id)?;
        Some((warehouses.clone(), at.elapsed()))
    }

    /// What TikTok holds now (answered by a search or an update).
    fn put(&self, sku_id: &str, warehouses: SkuWarehouses) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(sku_id.to_string(), (warehouses, Instant::now()));
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
    /// Inventory Search by SKU ids, in pages of the documented 600; what it finds is cached.
    async fn search(
        &self,
        sku_ids: &[String],
    ) -> Result<Vec<(ListingId, SkuInventory)>, ConnectorError> {
        let mut found = Vec::new();
        let mut requests = 0;
        let outcome = self.search_pages(sku_ids, &mut found, &mut requests).await;
        // Counted also when a request failed: it was sent, and spent its room.
        if let Some(window) = self.client.window(INVENTORY_SEARCH_PATH) {
            window.call_sent(requests);
        }
        outcome.map(|()| found)
    }

    async fn search_pages(
        &self,
        sku_ids: &[String],
        found: &mut Vec<(ListingId, SkuInventory)>,
        requests: &mut usize,
    ) -> Result<(), ConnectorError> {
        for chunk in sku_ids.chunks(MAX_SKU_IDS_PER_SEARCH) {
            let body = json!({ "sku_ids": chunk });
            *requests += 1;
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
        Ok(())
    }

    /// The quantities the shop shows, for reconciliation: a per-warehouse listing's in its
    /// warehouse (left out when the SKU is not stocked there); otherwise in the configured
    /// warehouse, or in all warehouses when none is configured.
    pub async fn read(&self, listing_ids: &[String]) -> Result<Vec<StockLevel>, ConnectorError> {
        let wanted: Vec<ListingId> = listing_ids
            .iter()
            .filter_map(|id| ListingId::parse(id))
            .collect();
        let mut sku_ids: Vec<String> = wanted.iter().map(|id| id.sku_id.clone()).collect();
        sku_ids.sort();
        sku_ids.dedup();
        if sku_ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.search(&sku_ids).await?;
        let mut levels = Vec::new();
        for (found_listing, sku) in found {
            let stocked = || {
                sku.warehouse_inventory.iter().map(|warehouse| {
                    (
                        warehouse.warehouse_id.as_str(),
                        warehouse.available_quantity,
                    )
                })
            };
            for listing in wanted.iter().filter(|listing| {
                listing.product_id == found_listing.product_id
                    && listing.sku_id == found_listing.sku_id
            }) {
                let quantity = match &listing.warehouse_id {
                    Some(warehouse_id) => match stocked().find(|(id, _)| id == warehouse_id) {
                        Some((_, quantity)) => quantity,
                        None => continue,
                    },
                    None => shown_quantity(
                        self.target_warehouse,
                        stocked(),
                        sku.total_available_quantity,
                    ),
                };
                levels.push(StockLevel {
                    listing_id: listing.encode(),
                    sku: sku.seller_sku.clone().unwrap_or_default(),
                    quantity,
                });
            }
        }
        Ok(levels)
    }

    /// Sets absolute quantities: one Update Inventory call per product, the levels of one
    /// SKU's warehouses merged into that SKU's one entry.
    pub async fn push(&self, levels: &[StockLevel]) -> Result<Vec<PushResult>, ConnectorError> {
        let mut results = Vec::with_capacity(levels.len());
        let mut by_product: BTreeMap<String, Vec<SkuLevels<'_>>> = BTreeMap::new();
        for parsed in levels.iter().map(parse_level) {
            match parsed {
                Parsed::Level(listing, level) => {
                    let skus = by_product.entry(listing.product_id.clone()).or_default();
                    match skus.iter_mut().find(|sku| sku.sku_id == listing.sku_id) {
                        Some(sku) => sku.levels.push((listing, level)),
                        None => skus.push(SkuLevels {
                            sku_id: listing.sku_id.clone(),
                            levels: vec![(listing, level)],
                        }),
                    }
                }
                Parsed::Refused(result) => results.push(result),
            }
        }
        // Read, in as few searches as possible, the warehouses of SKUs not seen yet and the
        // quantities of the warehouses this push lists without setting them, unless what the
        // cache holds is younger than FRESH_FOR: TikTok lowers a warehouse when it sells from
        // it, and the update would set it back to an older quantity. A sale between this
        // search and the update can still be undone, as TikTok has no compare-and-set: a few
        // milliseconds, up to the push's own length for its last product (one request per
        // product, MAX_STOCK_BATCH at most), or up to FRESH_FOR when the cache answers.
        let to_read: Vec<String> = by_product
            .values()
            .flatten()
            .filter(|sku| self.needs_read(sku))
            .map(|sku| sku.sku_id.clone())
            .collect();
        if !to_read.is_empty() {
            let found = self.search(&to_read).await?;
            let found: BTreeSet<&str> = found.iter().map(|(_, sku)| sku.id.as_str()).collect();
            for sku_id in to_read.iter().filter(|id| !found.contains(id.as_str())) {
                // Gone from the shop: never listed again at what it once held.
                self.cache.forget(sku_id);
            }
        }
        let mut requests = 0;
        let mut outcome = Ok(());
        'products: for (product_id, skus) in by_product {
            for chunk in skus.chunks(MAX_SKUS_PER_PRODUCT) {
                requests += 1;
                match self.push_product(&product_id, chunk).await {
                    Ok(pushed) => results.extend(pushed),
                    Err(error) => {
                        outcome = Err(error);
                        break 'products;
                    }
                }
            }
        }
        // Counted also when a request failed: it was sent, and spent its room.
        if let Some(window) = self.client.window(UPDATE_INVENTORY_PATH) {
            window.call_sent(requests);
        }
        outcome.map(|()| results)
    }

    async fn push_product(
        &self,
        product_id: &str,
        skus: &[SkuLevels<'_>],
    ) -> Result<Vec<PushResult>, ConnectorError> {
        let mut results = Vec::new();
        let mut entries = Vec::with_capacity(skus.len());
        let mut sent: Vec<SentSku<'_>> = Vec::with_capacity(skus.len());
        for sku in skus {
            let Some(known) = self.cache.get(&sku.sku_id) else {
                for (listing, _) in &sku.levels {
                    results.push(PushResult::Rejected {
                        listing_id: listing.encode(),
                        error: ConnectorError::Permanent(format!(
                            "SKU {} is not in the shop's inventory",
                            sku.sku_id
                        )),
                    });
                }
                continue;
            };
            let mut planned = known.clone();
            let mut listings: Vec<(&ListingId, i64, String)> = Vec::new();
            for (listing, level) in &sku.levels {
                let quantity = level.quantity.clamp(0, MAX_QUANTITY);
                let target = self.target_of(listing, &known).and_then(|target| {
                    match listings.iter().any(|(_, _, taken)| *taken == target) {
                        true => Err(ConnectorError::Permanent(format!(
                            "another listing of this push sets warehouse {target} of the SKU"
                        ))),
                        false => Ok(target),
                    }
                });
                match target {
                    Ok(target) => {
                        planned.0.insert(target.clone(), quantity);
                        listings.push((listing, quantity, target));
                    }
                    Err(error) => results.push(PushResult::Rejected {
                        listing_id: listing.encode(),
                        error,
                    }),
                }
            }
            if listings.is_empty() {
                continue;
            }
            let inventory: Vec<serde_json::Value> = planned
                .0
                .iter()
                .map(|(warehouse_id, quantity)| json!({ "warehouse_id": warehouse_id, "quantity": quantity }))
                .collect();
            entries.push(json!({ "id": sku.sku_id, "inventory": inventory }));
            sent.push(SentSku {
                sku_id: &sku.sku_id,
                listings,
                planned,
            });
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
            for sku in &sent {
                self.cache.forget(sku.sku_id);
                for (listing, _, _) in &sku.listings {
                    results.push(PushResult::Rejected {
                        listing_id: listing.encode(),
                        error: error.clone(),
                    });
                }
            }
            return Ok(results);
        }
        let (mut failed, whole_call) = refusals(envelope.data.unwrap_or_default().errors);
        for sku in sent {
            let refused = match failed.remove(sku.sku_id) {
                Some(refused) => refused,
                None => match &whole_call {
                    Some(error) => vec![(None, error.clone())],
                    None => Vec::new(),
                },
            };
            if refused.is_empty() {
                self.cache.put(sku.sku_id, sku.planned);
                for (listing, quantity, _) in sku.listings {
                    results.push(PushResult::Confirmed {
                        listing_id: listing.encode(),
                        quantity,
                    });
                }
                continue;
            }
            if refused.iter().any(|(_, error)| {
                matches!(
                    code_of(error),
                    Some(MISSING_WAREHOUSES | INVENTORY_NOT_UPDATED | WAREHOUSE_NOT_FOUND)
                )
            }) {
                // The SKU's warehouses changed: learn them again before the retry.
                self.cache.forget(sku.sku_id);
            }
            results.extend(reject_sku(&sku, &refused));
        }
        Ok(results)
    }

    /// Whether a SKU's warehouses must be read before its update: not seen yet, or seen longer
    /// than FRESH_FOR ago and stocked in a warehouse this push does not set.
    fn needs_read(&self, sku: &SkuLevels<'_>) -> bool {
        let Some((known, age)) = self.cache.aged(&sku.sku_id) else {
            return true;
        };
        if age < FRESH_FOR {
            return false;
        }
        let set: BTreeSet<String> = sku
            .levels
            .iter()
            .filter_map(|(listing, _)| self.target_of(listing, &known).ok())
            .collect();
        known.0.keys().any(|warehouse| !set.contains(warehouse))
    }

    /// The warehouse a listing's quantity goes to: its own (per-warehouse listings), else the
    /// configured one, else the SKU's only one.
    fn target_of(
        &self,
        listing: &ListingId,
        known: &SkuWarehouses,
    ) -> Result<String, ConnectorError> {
        let target = match (&listing.warehouse_id, self.target_warehouse) {
            (Some(own), _) => own.clone(),
            (None, Some(configured)) => configured.to_string(),
            (None, None) => match known.0.keys().collect::<Vec<_>>().as_slice() {
                [only] => (*only).clone(),
                [] => {
                    return Err(ConnectorError::Permanent(
                        "the SKU has no warehouse on TikTok Shop".into(),
                    ))
                }
                _ => {
                    return Err(ConnectorError::Configuration(
                        "the SKU is stocked in several warehouses: set warehouse_id, or map them in warehouses".into(),
                    ))
                }
            },
        };
        if !known.0.contains_key(&target) {
            return Err(ConnectorError::Permanent(format!(
                "the SKU is not stocked in warehouse {target}"
            )));
        }
        Ok(target)
    }
}

/// The levels of one SKU in a push (one per warehouse in per-warehouse mode).
struct SkuLevels<'a> {
    sku_id: String,
    levels: Vec<(ListingId, &'a StockLevel)>,
}

/// A SKU entry sent in an update: its listings (with the quantity and warehouse each set) and
/// every warehouse's quantity as sent.
struct SentSku<'a> {
    sku_id: &'a str,
    listings: Vec<(&'a ListingId, i64, String)>,
    planned: SkuWarehouses,
}

/// A SKU's refusals: the warehouse each names (when it names one) and its error.
type SkuRefusals = Vec<(Option<String>, ConnectorError)>;

/// The update's errors by SKU id, and the error naming no SKU (the whole call's), if any.
fn refusals(errors: Vec<UpdateError>) -> (HashMap<String, SkuRefusals>, Option<ConnectorError>) {
    let mut by_sku: HashMap<String, SkuRefusals> = HashMap::new();
    let mut whole_call = None;
    for problem in errors {
        let (sku_id, extra_errors) = match problem.detail {
            Some(detail) => (detail.sku_id, detail.extra_errors),
            None => (None, Vec::new()),
        };
        let mut found: SkuRefusals = extra_errors
            .into_iter()
            .map(|extra| {
                let warehouse = extra.warehouse_id.filter(|id| !id.is_empty());
                let place = warehouse.as_deref().unwrap_or("?");
                let message = format!("warehouse {place}: {}", extra.message);
                (warehouse, classify(200, Some(extra.code), &message, None))
            })
            .collect();
        if found.is_empty() {
            found.push((
                None,
                classify(200, Some(problem.code), &problem.message, None),
            ));
        }
        match sku_id {
            Some(sku_id) => by_sku.entry(sku_id).or_default().extend(found),
            None => whole_call = found.into_iter().next().map(|(_, error)| error),
        }
    }
    (by_sku, whole_call)
}

/// The results of a SKU TikTok refused: a listing whose warehouse a refusal names gets that
/// refusal; when some are named, the SKU's other listings were not applied either (TikTok
/// updates a SKU's warehouses together) and are refused as passing, to be sent again; when
/// none is, every listing gets the first refusal.
fn reject_sku(sku: &SentSku<'_>, refused: &[(Option<String>, ConnectorError)]) -> Vec<PushResult> {
    let named = |warehouse: &str| {
        refused
            .iter()
            .find(|(named, _)| named.as_deref() == Some(warehouse))
            .map(|(_, error)| error.clone())
    };
    let any_named = sku
        .listings
        .iter()
        .any(|(_, _, warehouse)| named(warehouse).is_some());
    let first = refused
        .first()
        .map(|(_, error)| error.clone())
        .unwrap_or_else(|| ConnectorError::transient("the SKU's update was refused"));
    let mut results = Vec::with_capacity(sku.listings.len());
    for (listing, _, warehouse) in &sku.listings {
        let error = match named(warehouse) {
            Some(error) => error,
            None if any_named => ConnectorError::transient(format!(
                "not applied: TikTok refused another warehouse of SKU {} ({first})",
                sku.sku_id
            )),
            None => first.clone(),
        };
        debug!(listing = %listing.encode(), warehouse = %warehouse, error = %error, "inventory update refused for a SKU");
        results.push(PushResult::Rejected {
            listing_id: listing.encode(),
            error,
        });
    }
    results
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
                "listing id {:?} is not {{product_id}}:{{sku_id}}[:{{warehouse_id}}]",
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
