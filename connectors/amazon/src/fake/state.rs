//! What the fake SP-API holds: the seller's listings and orders, issued access tokens, the
//! usage plans' buckets, page tokens, feeds, and every violation of the models it saw.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// One item of a fake order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeItem {
    pub item_id: String,
    pub sku: String,
    pub quantity: i64,
    pub shipped: i64,
    /// The price of one unit, in euro cents.
    pub unit_price_cents: i64,
}

impl FakeItem {
    /// `ItemPrice`: the price of all the units ordered.
    pub fn price_cents(&self) -> i64 {
        self.unit_price_cents * self.quantity
    }
}

/// The fake's price of one unit of a SKU, in euro cents: 10.00 to 19.00 by the SKU, so that
/// items of different SKUs have different prices.
pub fn unit_price_cents(sku: &str) -> i64 {
    let spread: i64 = sku.bytes().map(i64::from).sum::<i64>() % 10;
    1000 + 100 * spread
}

/// One fake order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeOrder {
    pub id: String,
    pub purchased: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub status: String,
    /// `MFN` or `AFN`.
    pub channel: String,
    pub items: Vec<FakeItem>,
}

impl FakeOrder {
    /// `OrderTotal`: the items' prices; the fake charges no shipping or tax.
    pub fn total_cents(&self) -> i64 {
        self.items.iter().map(FakeItem::price_cents).sum()
    }
}

/// A token bucket of one operation's usage plan.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    pub rate: f64,
    pub burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes a token; `false` when the bucket is empty (the request is throttled).
    pub fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a listing's summary shows besides its quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingSummary {
    pub asin: String,
    pub title: String,
    pub created: DateTime<Utc>,
}

/// The rest of a listings search: the SKUs still to be returned and how many it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingPages {
    pub remaining: Vec<String>,
    pub found: usize,
}

/// A feed document: uploaded content or a processing report.
#[derive(Debug, Clone, Default)]
pub struct FeedDocument {
    pub content: Option<Vec<u8>>,
    pub content_type: String,
}

/// A submitted feed.
#[derive(Debug, Clone)]
pub struct FakeFeed {
    pub id: String,
    pub feed_type: String,
    pub input_document: String,
    pub created: DateTime<Utc>,
    pub submitted: Instant,
    pub result_document: Option<String>,
    pub fatal: bool,
}

#[derive(Debug, Default)]
pub struct State {
    pub clock: Option<DateTime<Utc>>,
    pub counter: u64,
    /// Seller SKU → `DEFAULT` quantity (`None`: an FBA-only listing).
    pub listings: BTreeMap<String, Option<i64>>,
    /// Seller SKU → its ASIN, title and creation instant.
    pub summaries: BTreeMap<String, ListingSummary>,
    /// Page token → the rest of that listings search.
    pub listing_pages: HashMap<String, ListingPages>,
    pub orders: Vec<FakeOrder>,
    /// Page token → the order ids still to be returned by that search.
    pub order_pages: HashMap<String, Vec<String>>,
    /// Issued access token → when it expires.
    pub access_tokens: HashMap<String, Instant>,
    pub token_exchanges: u64,
    /// Operation id → bucket, when usage plans are enforced.
    pub buckets: HashMap<String, Bucket>,
    /// Requests received by operation id (throttled ones included).
    pub requests: HashMap<String, u64>,
    /// Every way a request broke the models, and every answer the fake gave outside them.
    pub violations: Vec<String>,
    pub documents: HashMap<String, FeedDocument>,
    pub feeds: Vec<FakeFeed>,
    /// Seller SKUs the next feeds refuse, with the issue's message.
    pub feed_refusals: BTreeMap<String, String>,
    /// Operations the application has no role for (403 `Unauthorized`).
    pub denied: BTreeSet<String>,
    /// Statuses the next requests of an operation are answered with (500, 503 …).
    pub failures: HashMap<String, VecDeque<u16>>,
}

impl State {
    /// A new instant for a change: the wall clock to the second, never earlier than the last.
    pub fn stamp(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let stamp = match self.clock {
            Some(last) if last >= now => last + chrono::Duration::seconds(1),
            _ => now,
        };
        self.clock = Some(stamp);
        stamp
    }

    pub fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Adds (or replaces) a listing; `quantity` is `None` for an FBA-only one.
    pub fn insert_listing(&mut self, sku: &str, quantity: Option<i64>, created: DateTime<Utc>) {
        let number = self.next_number();
        self.listings.insert(sku.to_string(), quantity);
        self.summaries.insert(
            sku.to_string(),
            ListingSummary {
                asin: format!("B0{number:08}"),
                title: format!("Fake item {sku}"),
                created,
            },
        );
    }

    pub fn order_mut(&mut self, id: &str) -> Option<&mut FakeOrder> {
        self.orders.iter_mut().find(|order| order.id == id)
    }

    /// Whether a token was issued and has not expired; `Err` says which.
    pub fn check_token(&self, token: Option<&str>) -> Result<(), &'static str> {
        match token.and_then(|token| self.access_tokens.get(token)) {
            Some(expires) if Instant::now() < *expires => Ok(()),
            Some(_) => Err("The access token you provided has expired."),
            None => Err("The access token you provided is revoked, malformed or invalid."),
        }
    }

    /// Issues an access token valid for `lifetime`.
    pub fn issue_token(&mut self, lifetime: Duration) -> String {
        let number = self.next_number();
        let token = format!("Atza|fake-access-token-{number}");
        self.access_tokens
            .insert(token.clone(), Instant::now() + lifetime);
        self.token_exchanges += 1;
        token
    }
}
