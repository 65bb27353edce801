//! Listing discovery: a channel's catalog read page by page and each listing classified
//! against the ledger by its SKU — already bound as the catalog says, new (its SKU is an item
//! and it is not bound yet), unmatched (no such item), ambiguous (its SKU is on several unbound
//! listings, or it has no SKU) or bound differently — and, when asked, the new ones bound in
//! one transaction. On a channel that keeps stock per location (TikTok Shop's mapped
//! warehouses), a SKU's listings in different locations are not ambiguous: each binds, with its
//! location ([`omnistock_connector::Connector::listing_location`]).
//!
//! `apply` re-checks every new listing inside the binding transaction
//! ([`Ledger::bind_discovered`]): one bound meanwhile, or whose item is gone, is left alone and
//! reported; and a report compared with an earlier dry run's ([`DiscoveryReport::compare_with`])
//! says which classes changed since.
//!
//! Memory stays bounded by what the classification needs: one page of listings at a time, and
//! per SKU seen its count and the one listing that may become new (a SKU met again on a later
//! page makes it ambiguous); titles, platform ids and quantities are dropped with the page.

use crate::ledger::{Ledger, ListingComponent, NewListing, NotBound};
use crate::ops::catalog_walk::{CatalogError, CatalogWalk, WalkProgress};
use crate::sync::gateway::Interrupt;
use crate::sync::ChannelRuntime;
use omnistock_connector::CatalogListing;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tracing::info;

/// Listings of each class named in a report (the counts cover all of them).
pub const EXAMPLES_PER_CLASS: usize = 20;

/// What discovery found a listing to be.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ListingClass {
    /// Already bound to its SKU alone: nothing to do.
    Bound,
    /// Its SKU is an item and it is not bound: `--apply` binds it.
    New,
    /// No item has its SKU.
    Unmatched,
    /// Its SKU is on several unbound listings, or it has none: left for an operator.
    Ambiguous,
    /// Bound to something else than its SKU alone (another SKU, a multipack, a bundle).
    BoundDifferently,
}

impl ListingClass {
    pub const ALL: [Self; 5] = [
        Self::Bound,
        Self::New,
        Self::Unmatched,
        Self::Ambiguous,
        Self::BoundDifferently,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bound => "bound",
            Self::New => "new",
            Self::Unmatched => "unmatched",
            Self::Ambiguous => "ambiguous",
            Self::BoundDifferently => "bound_differently",
        }
    }
}

/// A listing named in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiscoveredListing {
    /// `None` for a SKU shared by several listings (the example names the SKU).
    pub listing_id: Option<String>,
    pub sku: Option<String>,
    /// Why it is in its class, when that is not plain (what it is bound to, how many share
    /// its SKU).
    pub detail: Option<String>,
}

/// What the binding transaction of `--apply` found changed since the catalog was classified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApplyRecheck {
    /// Listings classified new but left alone: bound meanwhile, or their item is gone.
    pub left_alone: u64,
    /// Up to [`EXAMPLES_PER_CLASS`] of them, each with why.
    pub examples: Vec<DiscoveredListing>,
}

/// A class whose count differs from an earlier dry run's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClassChange {
    pub class: ListingClass,
    pub dry_run: u64,
    pub now: u64,
}

/// What a discovery found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiscoveryReport {
    pub channel: String,
    /// Catalog pages read.
    pub pages: u64,
    /// Listings read.
    pub listings: u64,
    /// Listings per class (every class present, zero or not).
    pub counts: BTreeMap<ListingClass, u64>,
    /// Up to [`EXAMPLES_PER_CLASS`] listings of each class but `bound`.
    pub examples: BTreeMap<ListingClass, Vec<DiscoveredListing>>,
    /// Listings bound now (`--apply`); `None` for a dry run.
    pub applied: Option<u64>,
    /// `--apply`: what the binding transaction found changed; `None` for a dry run.
    #[serde(default)]
    pub recheck: Option<ApplyRecheck>,
    /// The classes whose count differs from the dry run this one was compared with (empty:
    /// none); `None` when it was compared with none.
    #[serde(default)]
    pub since_dry_run: Option<Vec<ClassChange>>,
}

impl DiscoveryReport {
    pub fn count(&self, class: ListingClass) -> u64 {
        self.counts.get(&class).copied().unwrap_or(0)
    }

    /// Records which classes changed since `dry_run` (a report of the same channel).
    pub fn compare_with(&mut self, dry_run: &DiscoveryReport) {
        let changes = ListingClass::ALL
            .into_iter()
            .filter(|class| dry_run.count(*class) != self.count(*class))
            .map(|class| ClassChange {
                class,
                dry_run: dry_run.count(class),
                now: self.count(class),
            })
            .collect();
        self.since_dry_run = Some(changes);
    }
}

/// Why a listing was left alone at apply, for a person.
fn not_bound_text(reason: &NotBound) -> String {
    match reason {
        NotBound::BoundMeanwhile(components) if components.is_empty() => {
            "bound meanwhile by another writer".to_string()
        }
        NotBound::BoundMeanwhile(components) => {
            format!("bound meanwhile to {}", components_text(components))
        }
        NotBound::ItemGone => "its item is gone".to_string(),
    }
}

/// What is kept per SKU until the catalog's end decides whether it is ambiguous.
#[derive(Debug)]
struct SkuSeen {
    /// Listings carrying the SKU, bound or not.
    listings: u32,
    /// Unbound listings carrying it.
    unbound: u32,
    /// The first unbound listing and whether the SKU is an item.
    first_unbound: Option<(String, bool)>,
}

/// Classifies a catalog page after page.
#[derive(Debug, Default)]
struct Classifier {
    /// By SKU and the location the listing sells from.
    skus: HashMap<(String, Option<String>), SkuSeen>,
    counts: BTreeMap<ListingClass, u64>,
    examples: BTreeMap<ListingClass, Vec<DiscoveredListing>>,
}

fn components_text(components: &[ListingComponent]) -> String {
    components
        .iter()
        .map(|component| format!("{}×{}", component.sku, component.quantity))
        .collect::<Vec<_>>()
        .join(" + ")
}

impl Classifier {
    fn note(&mut self, class: ListingClass, example: DiscoveredListing) {
        *self.counts.entry(class).or_default() += 1;
        if class == ListingClass::Bound {
            return;
        }
        let examples = self.examples.entry(class).or_default();
        if examples.len() < EXAMPLES_PER_CLASS {
            examples.push(example);
        }
    }

    async fn page(
        &mut self,
        ledger: &Ledger,
        channel: &str,
        listings: Vec<CatalogListing>,
        locate: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<(), CatalogError> {
        let listing_ids: Vec<String> = listings.iter().map(|l| l.listing_id.clone()).collect();
        let skus: Vec<String> = listings.iter().filter_map(|l| l.sku.clone()).collect();
        let known = ledger
            .match_catalog_page(channel, &listing_ids, &skus)
            .await?;
        for listing in listings {
            let Some(sku) = listing.sku else {
                self.note(
                    ListingClass::Ambiguous,
                    DiscoveredListing {
                        listing_id: Some(listing.listing_id),
                        sku: None,
                        detail: Some("the listing has no SKU".into()),
                    },
                );
                continue;
            };
            let binding = known.bindings.get(&listing.listing_id);
            {
                let place = (sku.clone(), locate(&listing.listing_id));
                let seen = self.skus.entry(place).or_insert(SkuSeen {
                    listings: 0,
                    unbound: 0,
                    first_unbound: None,
                });
                seen.listings = seen.listings.saturating_add(1);
                if binding.is_none() {
                    seen.unbound = seen.unbound.saturating_add(1);
                    if seen.first_unbound.is_none() {
                        seen.first_unbound =
                            Some((listing.listing_id.clone(), known.items.contains(&sku)));
                    }
                }
            }
            let Some(components) = binding else {
                continue;
            };
            let alone =
                components.len() == 1 && components[0].sku == sku && components[0].quantity == 1;
            let (class, detail) = if alone {
                (ListingClass::Bound, None)
            } else {
                (
                    ListingClass::BoundDifferently,
                    Some(format!("bound to {}", components_text(components))),
                )
            };
            self.note(
                class,
                DiscoveredListing {
                    listing_id: Some(listing.listing_id),
                    sku: Some(sku),
                    detail,
                },
            );
        }
        Ok(())
    }

    /// Classifies what waited for the end; returns the new listings to bind, by listing id.
    fn finish(&mut self) -> Vec<(String, String)> {
        let mut new = Vec::new();
        // By SKU, so that the examples of each class are the same from run to run (a map's
        // order is not): the first ones by SKU.
        let mut skus: Vec<((String, Option<String>), SkuSeen)> =
            std::mem::take(&mut self.skus).into_iter().collect();
        skus.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for ((sku, _), seen) in skus {
            let Some((listing_id, is_item)) = seen.first_unbound else {
                continue;
            };
            if seen.listings > 1 {
                *self.counts.entry(ListingClass::Ambiguous).or_default() += u64::from(seen.unbound);
                let examples = self.examples.entry(ListingClass::Ambiguous).or_default();
                if examples.len() < EXAMPLES_PER_CLASS {
                    examples.push(DiscoveredListing {
                        listing_id: None,
                        sku: Some(sku),
                        detail: Some(format!("the SKU is on {} listings", seen.listings)),
                    });
                }
                continue;
            }
            let class = if is_item {
                ListingClass::New
            } else {
                ListingClass::Unmatched
            };
            self.note(
                class,
                DiscoveredListing {
                    listing_id: Some(listing_id.clone()),
                    sku: Some(sku.clone()),
                    detail: None,
                },
            );
            if is_item {
                new.push((listing_id, sku));
            }
        }
        new.sort();
        for examples in self.examples.values_mut() {
            examples.sort_by(|a, b| (&a.sku, &a.listing_id).cmp(&(&b.sku, &b.listing_id)));
        }
        new
    }
}

/// Reads the channel's whole catalog through its gateway and classifies every listing; with
/// `apply`, binds the new ones (each to its SKU, one unit) in one transaction. `on_page` is
/// told how far the read has got after every page.
pub async fn discover(
    ledger: &Ledger,
    channel: &ChannelRuntime,
    apply: bool,
    interrupt: Interrupt,
    mut on_page: impl FnMut(WalkProgress),
) -> Result<DiscoveryReport, CatalogError> {
    let mut walk = CatalogWalk::new(&channel.id, &channel.client, interrupt);
    let mut classifier = Classifier::default();
    while let Some(listings) = walk.next_page().await? {
        let locate = |listing_id: &str| channel.connector.listing_location(listing_id);
        classifier
            .page(ledger, &channel.id, listings, &locate)
            .await?;
        on_page(walk.progress());
    }
    let new = classifier.finish();
    let (applied, recheck) = if apply {
        let new: Vec<NewListing> = new
            .into_iter()
            .map(|(listing_id, sku)| NewListing {
                location: channel.connector.listing_location(&listing_id),
                listing_id,
                sku,
            })
            .collect();
        let outcome = ledger.bind_discovered(&channel.id, &new).await?;
        let examples = outcome
            .not_bound
            .iter()
            .take(EXAMPLES_PER_CLASS)
            .map(|(listing_id, sku, reason)| DiscoveredListing {
                listing_id: Some(listing_id.clone()),
                sku: Some(sku.clone()),
                detail: Some(not_bound_text(reason)),
            })
            .collect();
        let recheck = ApplyRecheck {
            left_alone: outcome.not_bound.len() as u64,
            examples,
        };
        (Some(outcome.bound), Some(recheck))
    } else {
        (None, None)
    };
    let mut counts = classifier.counts;
    for class in ListingClass::ALL {
        counts.entry(class).or_default();
    }
    let progress = walk.progress();
    let report = DiscoveryReport {
        channel: channel.id.clone(),
        pages: progress.pages,
        listings: progress.listings,
        counts,
        examples: classifier.examples,
        applied,
        recheck,
        since_dry_run: None,
    };
    info!(channel = %channel.id, listings = report.listings, pages = report.pages,
        bound = report.count(ListingClass::Bound), new = report.count(ListingClass::New),
        unmatched = report.count(ListingClass::Unmatched), ambiguous = report.count(ListingClass::Ambiguous),
        bound_differently = report.count(ListingClass::BoundDifferently), applied = report.applied,
        left_alone = report.recheck.as_ref().map(|recheck| recheck.left_alone),
        "listing discovery done");
    Ok(report)
}
