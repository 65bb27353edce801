//! Reading a connector's whole catalog as the runtime does, for the kit's catalog check and
//! for connectors' own catalog tests: page after page to the end, waiting before each what
//! [`Connector::wait_before`] advises, refusing a page position answered as its own next one
//! and a listing given twice.

use crate::connector::{CallKind, CatalogListing, Connector};
use crate::error::ConnectorError;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

/// Guards against a catalog whose `next_page` never ends.
const MAX_CATALOG_PAGES: usize = 10_000;

/// A whole catalog as read.
#[derive(Debug, Clone, PartialEq)]
pub struct WholeCatalog {
    /// Every listing, in the order the pages gave them.
    pub listings: Vec<CatalogListing>,
    /// `read_catalog` calls made.
    pub pages: usize,
}

impl WholeCatalog {
    /// The listings by listing id (each came once).
    pub fn by_listing_id(self) -> BTreeMap<String, CatalogListing> {
        self.listings
            .into_iter()
            .map(|listing| (listing.listing_id.clone(), listing))
            .collect()
    }
}

/// Why reading a whole catalog failed.
#[derive(Debug, thiserror::Error)]
pub enum WholeCatalogError {
    #[error("read_catalog failed on page {page}: {source}")]
    Connector {
        page: usize,
        #[source]
        source: ConnectorError,
    },
    #[error("read_catalog answered its own page position {0:?} as the next one")]
    RepeatedPage(String),
    #[error("listing {0} came twice in the catalog")]
    ListingTwice(String),
    #[error("read_catalog still had a next page after {MAX_CATALOG_PAGES} pages")]
    NoEnd,
}

/// Reads every page of the connector's catalog, calling `pause` with what
/// `wait_before(CallKind::ReadCatalog)` advises before each page (the kit has no timer of its
/// own: a test passes `tokio::time::sleep`, the kit its harness's pause).
pub async fn read_whole_catalog<Pause, Paused>(
    connector: &dyn Connector,
    pause: Pause,
) -> Result<WholeCatalog, WholeCatalogError>
where
    Pause: Fn(Duration) -> Paused,
    Paused: Future<Output = ()>,
{
    let mut listings = Vec::new();
    let mut seen = BTreeSet::new();
    let mut page: Option<String> = None;
    for pages in 1..=MAX_CATALOG_PAGES {
        if let Some(wait) = connector.wait_before(CallKind::ReadCatalog) {
            pause(wait).await;
        }
        let answer = connector
            .read_catalog(page.as_deref())
            .await
            .map_err(|source| WholeCatalogError::Connector {
                page: pages,
                source,
            })?;
        for listing in answer.listings {
            if !seen.insert(listing.listing_id.clone()) {
                return Err(WholeCatalogError::ListingTwice(listing.listing_id));
            }
            listings.push(listing);
        }
        match answer.next_page {
            Some(next) if page.as_deref() == Some(next.as_str()) => {
                return Err(WholeCatalogError::RepeatedPage(next));
            }
            Some(next) => page = Some(next),
            None => return Ok(WholeCatalog { listings, pages }),
        }
    }
    Err(WholeCatalogError::NoEnd)
}
