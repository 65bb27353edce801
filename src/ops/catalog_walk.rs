//! A channel's catalog read a page at a time through its gateway (so the channel's rate limit,
//! pacing and retries apply), for listing discovery and the first count from a channel. Only
//! one page is held at a time.

use crate::ledger::LedgerError;
use crate::sync::gateway::{CallError, ChannelClient, Interrupt};
use omnistock_connector::CatalogListing;
use tracing::debug;

/// Why a catalog could not be read or matched.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error("unknown location {0:?}")]
    UnknownLocation(String),
    #[error("reading the catalog of {channel}: {source}")]
    Call { channel: String, source: CallError },
    #[error("the catalog of {channel} repeats page {page:?}: its reading would not end")]
    RepeatedPage { channel: String, page: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Where a catalog read stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkProgress {
    pub pages: u64,
    pub listings: u64,
}

/// Reads a channel's catalog page by page.
pub struct CatalogWalk<'a> {
    channel: &'a str,
    client: &'a ChannelClient,
    interrupt: Interrupt,
    next: Option<String>,
    finished: bool,
    progress: WalkProgress,
}

impl<'a> CatalogWalk<'a> {
    pub fn new(channel: &'a str, client: &'a ChannelClient, interrupt: Interrupt) -> Self {
        Self {
            channel,
            client,
            interrupt,
            next: None,
            finished: false,
            progress: WalkProgress::default(),
        }
    }

    pub fn progress(&self) -> WalkProgress {
        self.progress
    }

    /// The next page's listings; `None` once the last page was read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<CatalogListing>>, CatalogError> {
        if self.finished {
            return Ok(None);
        }
        let page = self
            .client
            .read_catalog(self.next.as_deref(), &self.interrupt)
            .await
            .map_err(|source| CatalogError::Call {
                channel: self.channel.to_string(),
                source,
            })?;
        self.progress.pages += 1;
        self.progress.listings += page.listings.len() as u64;
        match page.next_page {
            Some(next) if self.next.as_deref() == Some(next.as_str()) => {
                return Err(CatalogError::RepeatedPage {
                    channel: self.channel.to_string(),
                    page: next,
                })
            }
            Some(next) => self.next = Some(next),
            None => self.finished = true,
        }
        debug!(channel = %self.channel, pages = self.progress.pages, listings = self.progress.listings, "catalog page read");
        Ok(Some(page.listings))
    }
}
