//! The conformance kit: checks every connector passes against its platform's local fake.
//!
//! A connector's tests implement [`ConformanceHarness`] for its fake server and call
//! [`run_all`] (or single checks). The checks only use the [`Connector`] trait and the harness,
//! so they hold every connector to the same contract: idempotent import, cursor resumption,
//! pagination, signature refusal, batch limits, rate-limit handling without sleeping, stock
//! round trips, per-listing rejection and order money (currency, unit prices, total). Each check creates its own listings and orders and
//! tolerates what earlier checks left on the fake.

use crate::connector::{Connector, PushResult, WebhookRequest};
use crate::error::{ConnectorError, WebhookError};
use crate::order::{OrderEvent, OrderStatus};
use crate::rate::RateLimit;
use crate::stock::StockLevel;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod whole_catalog;
pub use whole_catalog::{read_whole_catalog, WholeCatalog, WholeCatalogError};

/// The longest a refused call may take: a connector that honours `Retry-After` by sleeping
/// would take the whole wait (a minute in [`rate_limit_handling`]).
const NO_SLEEP_BOUND: Duration = Duration::from_secs(5);
/// Guards against a connector whose `has_more` never turns false.
const MAX_PAGES: usize = 10_000;

/// A webhook request as the platform would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWebhook {
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl SignedWebhook {
    pub fn request(&self) -> WebhookRequest<'_> {
        WebhookRequest {
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// Which key a harness signs a webhook with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookSigning {
    /// The secret the connector is configured with.
    ChannelSecret,
    /// Any other secret: the connector must refuse the webhook.
    WrongSecret,
}

/// A fake platform's failure to do what a check asked of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HarnessError(pub String);

/// What a connector's fake platform offers the kit. Actions happen on the platform's side
/// (a buyer ordering, an operator setting a limit), never through the connector under test.
#[async_trait]
pub trait ConformanceHarness: Send + Sync {
    /// The connector under test, configured for the fake.
    fn connector(&self) -> Arc<dyn Connector>;

    /// The most orders one `pull_orders` page holds.
    fn orders_page_size(&self) -> usize;

    /// The platform's own limit on stock updates per call, when it has one.
    fn platform_max_stock_batch(&self) -> Option<usize>;

    /// Lower-case names of the headers that carry a webhook's signature.
    fn signature_headers(&self) -> Vec<String>;

    /// Creates a listing showing `quantity`; returns its listing id.
    async fn create_listing(&self, sku: &str, quantity: i64) -> Result<String, HarnessError>;

    /// A buyer orders `(listing_id, quantity)` lines; returns the platform's order id.
    async fn place_order(&self, lines: &[(String, i64)]) -> Result<String, HarnessError>;

    /// Places several orders that the platform stamps with the same update time.
    async fn place_orders_at_one_instant(
        &self,
        orders: &[Vec<(String, i64)>],
    ) -> Result<Vec<String>, HarnessError>;

    /// The buyer or seller cancels the whole order.
    async fn cancel_order(&self, order_id: &str) -> Result<(), HarnessError>;

    /// The quantity the platform shows for a listing (`None`: no such listing).
    async fn shown_quantity(&self, listing_id: &str) -> Result<Option<i64>, HarnessError>;

    /// The webhook the platform would send for the order's current state.
    async fn webhook_for_order(
        &self,
        order_id: &str,
        signing: WebhookSigning,
    ) -> Result<SignedWebhook, HarnessError>;

    /// An order webhook carrying `body` as is, correctly signed.
    async fn sign_raw_webhook(&self, body: &[u8]) -> Result<SignedWebhook, HarnessError>;

    /// Makes the platform limit stock updates (`None`: lift the limit).
    async fn set_rate_limit(&self, limit: Option<RateLimit>) -> Result<(), HarnessError>;

    /// Stock-update requests the platform has received so far, refused ones included.
    async fn stock_requests_seen(&self) -> Result<u64, HarnessError>;

    /// The most listings the connector's first `read_catalog` page holds (a connector may size
    /// later pages to a budget it learnt), so that [`catalog_read`] creates more than two
    /// pages' worth; `None` (the default) when the connector cannot read its catalog, and the
    /// check is skipped.
    fn catalog_page_size(&self) -> Option<usize> {
        None
    }

    /// Waits `duration`: the kit has no timer of its own, and waits what
    /// [`Connector::wait_before`] advises before each catalog page, as the runtime does. The
    /// default returns at once, for a connector that does not pace its catalog read.
    async fn pause(&self, duration: Duration) {
        let _ = duration;
    }
    /// The money the platform holds for an order, in minor units, read from the fake's own
    /// state; `None` (the default) when the platform reports no prices, and [`order_money`]
    /// then checks nothing.
    async fn expected_money(&self, _order_id: &str) -> Result<Option<OrderMoney>, HarnessError> {
        Ok(None)
    }
}

/// An order's money as the platform holds it, for [`order_money`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMoney {
    /// ISO 4217 code.
    pub currency: String,
    /// The price of one unit, by listing id.
    pub unit_prices: BTreeMap<String, i64>,
    /// What the buyer pays for the whole order, when the platform reports it.
    pub total_minor: Option<i64>,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {message}")]
pub struct CheckFailure {
    pub check: &'static str,
    pub message: String,
}

/// Every failed check of a [`run_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConformanceFailures(pub Vec<CheckFailure>);

impl fmt::Display for ConformanceFailures {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} conformance check(s) failed", self.0.len())?;
        for failure in &self.0 {
            write!(formatter, "\n  {failure}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConformanceFailures {}

/// Runs every check, in order, and reports all failures.
pub async fn run_all(harness: &dyn ConformanceHarness) -> Result<(), ConformanceFailures> {
    let results = [
        idempotent_import(harness).await,
        cursor_resumption(harness).await,
        pagination(harness).await,
        signature_refusal(harness).await,
        batch_limit(harness).await,
        rate_limit_handling(harness).await,
        push_read_round_trip(harness).await,
        unknown_listing_rejected(harness).await,
        start_cursor_floor(harness).await,
        order_money(harness).await,
        catalog_read(harness).await,
    ];
    let failures: Vec<CheckFailure> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ConformanceFailures(failures))
    }
}

/// Why a check failed, before it is named.
struct Problem(String);

impl From<String> for Problem {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<HarnessError> for Problem {
    fn from(error: HarnessError) -> Self {
        Self(format!("fake platform: {error}"))
    }
}

impl From<ConnectorError> for Problem {
    fn from(error: ConnectorError) -> Self {
        Self(format!("connector: {error}"))
    }
}

impl From<WebhookError> for Problem {
    fn from(error: WebhookError) -> Self {
        Self(format!("connector refused a valid webhook: {error}"))
    }
}

fn named(check: &'static str, result: Result<(), Problem>) -> Result<(), CheckFailure> {
    result.map_err(|Problem(message)| CheckFailure { check, message })
}

macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(Problem(format!($($message)+)));
        }
    };
}

/// Pulls every page after `cursor`; returns the last cursor, the events and the page sizes.
async fn pull_all(
    connector: &dyn Connector,
    cursor: Option<String>,
) -> Result<(Option<String>, Vec<OrderEvent>, Vec<usize>), Problem> {
    let mut cursor = cursor;
    let mut events = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = connector.pull_orders(cursor.as_deref()).await?;
        pages.push(page.orders.len());
        events.extend(page.orders);
        if page.next_cursor.is_some() {
            cursor = page.next_cursor;
        } else {
            ensure!(!page.has_more, "a page with has_more has no next_cursor");
        }
        if !page.has_more {
            return Ok((cursor, events, pages));
        }
    }
    Err(Problem(format!(
        "has_more still true after {MAX_PAGES} pages"
    )))
}

/// What the runtime books for a webhook: the events it carries and the orders it names,
/// fetched (see [`Connector::webhook_order_ids`]).
async fn webhook_events(
    connector: &dyn Connector,
    webhook: &SignedWebhook,
) -> Result<Vec<OrderEvent>, Problem> {
    let mut events = connector.parse_webhook(&webhook.request())?;
    let refs = connector.webhook_order_ids(&webhook.request())?;
    if !refs.is_empty() {
        let ids: Vec<String> = refs.iter().map(|named| named.order_id.clone()).collect();
        let mut fetched = connector.fetch_orders(&ids).await?;
        crate::connector::attach_delivery_ids(&mut fetched, &refs);
        events.extend(fetched);
    }
    Ok(events)
}

/// The event without its delivery id: what must be equal however the order arrived.
fn identity(event: &OrderEvent) -> OrderEvent {
    OrderEvent {
        delivery_id: None,
        ..event.clone()
    }
}

fn events_of<'a>(events: &'a [OrderEvent], order_id: &str) -> Vec<&'a OrderEvent> {
    events
        .iter()
        .filter(|event| event.external_order_id == order_id)
        .collect()
}

fn ids(events: &[OrderEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| event.external_order_id.clone())
        .collect()
}

/// The same order pulled twice and delivered by webhook gives the same event; order and line
/// ids stay stable when the order changes.
pub async fn idempotent_import(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    named("idempotent_import", check_idempotent_import(harness).await)
}

async fn check_idempotent_import(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    let first_listing = harness.create_listing("CONF-IDEM-1", 10).await?;
    let second_listing = harness.create_listing("CONF-IDEM-2", 10).await?;
    let order_id = harness
        .place_order(&[(first_listing.clone(), 2), (second_listing.clone(), 1)])
        .await?;

    let (_, first_pull, _) = pull_all(connector.as_ref(), None).await?;
    let (_, second_pull, _) = pull_all(connector.as_ref(), None).await?;
    let first = events_of(&first_pull, &order_id);
    let second = events_of(&second_pull, &order_id);
    ensure!(
        first.len() == 1 && second.len() == 1,
        "order {order_id} pulled {} and {} times, expected once each",
        first.len(),
        second.len()
    );
    let pulled = identity(first[0]);
    ensure!(
        pulled == identity(second[0]),
        "two pulls of order {order_id} differ: {pulled:?} vs {:?}",
        second[0]
    );
    ensure!(
        pulled.status == OrderStatus::Open && pulled.lines.len() == 2,
        "new order {order_id} should be open with 2 lines: {pulled:?}"
    );
    let line_ids: BTreeSet<&str> = pulled.lines.iter().map(|l| l.line_id.as_str()).collect();
    ensure!(
        line_ids.len() == 2 && !line_ids.contains(""),
        "line ids must be distinct and non-empty: {line_ids:?}"
    );
    let quantities: BTreeMap<Option<&str>, i64> = pulled
        .lines
        .iter()
        .map(|l| (l.listing_id.as_deref(), l.quantity))
        .collect();
    ensure!(
        quantities.get(&Some(first_listing.as_str())) == Some(&2)
            && quantities.get(&Some(second_listing.as_str())) == Some(&1),
        "lines do not carry the ordered listings and quantities: {quantities:?}"
    );

    if connector.capabilities().webhooks {
        let webhook = harness
            .webhook_for_order(&order_id, WebhookSigning::ChannelSecret)
            .await?;
        let delivered = webhook_events(connector.as_ref(), &webhook).await?;
        let again = webhook_events(connector.as_ref(), &webhook).await?;
        ensure!(
            delivered == again,
            "parsing the same delivery twice gave different events"
        );
        let delivered = events_of(&delivered, &order_id);
        ensure!(
            delivered.len() == 1,
            "webhook for order {order_id} gave {} events for it",
            delivered.len()
        );
        ensure!(
            identity(delivered[0]) == pulled,
            "webhook and pull of order {order_id} differ: {:?} vs {pulled:?}",
            delivered[0]
        );
    }

    harness.cancel_order(&order_id).await?;
    let (_, after_cancel, _) = pull_all(connector.as_ref(), None).await?;
    let cancelled = events_of(&after_cancel, &order_id);
    ensure!(
        cancelled.len() == 1,
        "cancelled order {order_id} pulled {} times",
        cancelled.len()
    );
    let cancelled = cancelled[0];
    ensure!(
        cancelled.status == OrderStatus::Cancelled,
        "order {order_id} should be cancelled: {cancelled:?}"
    );
    let cancelled_line_ids: BTreeSet<&str> =
        cancelled.lines.iter().map(|l| l.line_id.as_str()).collect();
    ensure!(
        cancelled_line_ids == line_ids,
        "line ids changed with the update: {line_ids:?} became {cancelled_line_ids:?}"
    );
    ensure!(
        cancelled.updated_at >= pulled.updated_at,
        "updated_at went backwards on cancel"
    );
    ensure!(
        cancelled
            .lines
            .iter()
            .all(|l| l.target_state(cancelled.status).open == 0),
        "a cancelled order still holds stock: {cancelled:?}"
    );
    Ok(())
}

/// Resuming from a returned cursor yields only orders placed or changed since, and nothing is
/// skipped when orders share a timestamp across a page boundary.
/// A first pull from [`Connector::start_cursor`] reads nothing updated before the floor (a
/// channel's cut-over) and what was updated at it; a connector that cannot start from an
/// instant (`None`) passes.
pub async fn start_cursor_floor(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    named(
        "start_cursor_floor",
        check_start_cursor_floor(harness).await,
    )
}

async fn check_start_cursor_floor(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    let listing = harness.create_listing("CONF-FLOOR", 5).await?;
    let order = harness.place_order(&[(listing, 1)]).await?;
    let (_, everything, _) = pull_all(connector.as_ref(), None).await?;
    let Some(updated_at) = events_of(&everything, &order)
        .iter()
        .map(|event| event.updated_at)
        .max()
    else {
        return Err(Problem(format!("order {order} was never pulled")));
    };
    let Some(at_order) = connector.start_cursor(updated_at) else {
        return Ok(());
    };
    let (_, from_order, _) = pull_all(connector.as_ref(), Some(at_order)).await?;
    ensure!(
        !events_of(&from_order, &order).is_empty(),
        "a pull from a floor at order {order}'s update missed it"
    );
    // Platforms stamp to the second: a whole second later is after the order.
    let floor = updated_at + chrono::Duration::seconds(1);
    let after = connector
        .start_cursor(floor)
        .ok_or_else(|| Problem("start_cursor answered once, then not".to_string()))?;
    let (_, from_floor, _) = pull_all(connector.as_ref(), Some(after)).await?;
    ensure!(
        events_of(&from_floor, &order).is_empty(),
        "a pull from a floor after order {order}'s update returned it"
    );
    Ok(())
}

pub async fn cursor_resumption(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    named("cursor_resumption", check_cursor_resumption(harness).await)
}

async fn check_cursor_resumption(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    let (start, _, _) = pull_all(connector.as_ref(), None).await?;
    let (unchanged_cursor, unchanged, _) = pull_all(connector.as_ref(), start.clone()).await?;
    ensure!(
        unchanged.is_empty(),
        "resuming with nothing changed returned orders {:?}",
        ids(&unchanged)
    );

    let count = harness.orders_page_size() + 1;
    let listing = harness
        .create_listing("CONF-CURSOR", i64::try_from(count).unwrap_or(i64::MAX) + 5)
        .await?;
    let orders: Vec<Vec<(String, i64)>> = (0..count).map(|_| vec![(listing.clone(), 1)]).collect();
    let placed = harness.place_orders_at_one_instant(&orders).await?;
    let (after_placing, found, pages) =
        pull_all(connector.as_ref(), unchanged_cursor.or(start)).await?;
    let found_ids = ids(&found);
    let found_set: BTreeSet<&String> = found_ids.iter().collect();
    ensure!(
        found_set.len() == found_ids.len(),
        "an order came twice when resuming: {found_ids:?} (pages {pages:?})"
    );
    ensure!(
        found_set == placed.iter().collect::<BTreeSet<_>>(),
        "resuming over {count} orders sharing a timestamp gave {found_ids:?}, expected {placed:?}"
    );
    let stamps: BTreeSet<_> = found.iter().map(|event| event.updated_at).collect();
    ensure!(
        stamps.len() == 1,
        "the fake did not stamp the orders alike ({} stamps): the check proves nothing",
        stamps.len()
    );

    let changed = placed
        .first()
        .ok_or_else(|| Problem("the fake placed no orders".into()))?;
    harness.cancel_order(changed).await?;
    let (after_cancel, found, _) = pull_all(connector.as_ref(), after_placing).await?;
    ensure!(
        ids(&found) == vec![changed.clone()],
        "after cancelling {changed} resuming gave {:?}",
        ids(&found)
    );
    ensure!(
        found[0].status == OrderStatus::Cancelled,
        "resumed event of {changed} is not cancelled: {:?}",
        found[0]
    );
    let (_, found, _) = pull_all(connector.as_ref(), after_cancel).await?;
    ensure!(
        found.is_empty(),
        "resuming after the cancel gave {:?} again",
        ids(&found)
    );
    Ok(())
}

/// More orders than one page come over several pages, oldest first, none lost or repeated.
pub async fn pagination(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    named("pagination", check_pagination(harness).await)
}

async fn check_pagination(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    let page_size = harness.orders_page_size();
    let (start, _, _) = pull_all(connector.as_ref(), None).await?;
    let count = page_size * 2 + 1;
    let listing = harness
        .create_listing("CONF-PAGES", i64::try_from(count).unwrap_or(i64::MAX) + 5)
        .await?;
    let mut placed = Vec::with_capacity(count);
    for _ in 0..count {
        placed.push(harness.place_order(&[(listing.clone(), 1)]).await?);
    }
    let (_, found, pages) = pull_all(connector.as_ref(), start).await?;
    ensure!(
        pages.len() >= 3,
        "{count} orders came in {} page(s) of at most {page_size}: {pages:?}",
        pages.len()
    );
    ensure!(
        pages.iter().all(|size| *size <= page_size),
        "a page holds more than {page_size} orders: {pages:?}"
    );
    ensure!(
        ids(&found) == placed,
        "pages gave {:?}, expected {placed:?} oldest first",
        ids(&found)
    );
    Ok(())
}

/// A tampered body, a wrong secret or a missing signature header is refused as
/// `BadSignature`; a correctly signed body that is not an order is `Malformed`. Skipped for a
/// connector without webhooks ([`Capabilities::webhooks`](crate::Capabilities) false), as is
/// the webhook half of [`idempotent_import`].
pub async fn signature_refusal(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    named("signature_refusal", check_signature_refusal(harness).await)
}

fn expect_bad_signature(
    connector: &dyn Connector,
    webhook: &SignedWebhook,
    case: &str,
) -> Result<(), Problem> {
    match connector.parse_webhook(&webhook.request()) {
        Err(WebhookError::BadSignature(_)) => Ok(()),
        other => Err(Problem(format!(
            "{case}: expected BadSignature, got {other:?}"
        ))),
    }
}

async fn check_signature_refusal(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    // A platform without HTTP webhooks (Amazon's notifications come through a queue) has no
    // signature to check.
    if !connector.capabilities().webhooks {
        return Ok(());
    }
    let listing = harness.create_listing("CONF-SIGNATURE", 10).await?;
    let order_id = harness.place_order(&[(listing.clone(), 1)]).await?;
    let other_order = harness.place_order(&[(listing, 2)]).await?;
    let valid = harness
        .webhook_for_order(&order_id, WebhookSigning::ChannelSecret)
        .await?;
    connector.parse_webhook(&valid.request())?;

    let mut padded = valid.clone();
    padded.body.push(b' ');
    expect_bad_signature(connector.as_ref(), &padded, "body with a byte appended")?;

    let other = harness
        .webhook_for_order(&other_order, WebhookSigning::ChannelSecret)
        .await?;
    let swapped = SignedWebhook {
        headers: valid.headers.clone(),
        body: other.body,
    };
    expect_bad_signature(connector.as_ref(), &swapped, "another order's body")?;

    let wrong = harness
        .webhook_for_order(&order_id, WebhookSigning::WrongSecret)
        .await?;
    expect_bad_signature(connector.as_ref(), &wrong, "signed with another secret")?;

    let headers = harness.signature_headers();
    ensure!(!headers.is_empty(), "the fake names no signature header");
    for header in headers {
        let mut unsigned = valid.clone();
        ensure!(
            unsigned.headers.remove(&header).is_some(),
            "the fake's webhook has no {header} header"
        );
        expect_bad_signature(connector.as_ref(), &unsigned, &format!("without {header}"))?;
    }

    let garbage = harness.sign_raw_webhook(b"{\"not\": \"an order\"").await?;
    match connector.parse_webhook(&garbage.request()) {
        Err(WebhookError::Malformed(_)) => Ok(()),
        other => Err(Problem(format!(
            "signed malformed body: expected Malformed, got {other:?}"
        ))),
    }
}

/// A push of exactly `max_stock_batch` levels succeeds, and the capability does not exceed the
/// platform's own limit.
pub async fn batch_limit(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    named("batch_limit", check_batch_limit(harness).await)
}

async fn check_batch_limit(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    let max = connector.capabilities().max_stock_batch;
    ensure!(max >= 1, "max_stock_batch is 0");
    if let Some(platform_max) = harness.platform_max_stock_batch() {
        ensure!(
            max <= platform_max,
            "max_stock_batch {max} exceeds the platform's limit {platform_max}"
        );
    }
    let mut levels = Vec::with_capacity(max);
    for index in 0..max {
        let sku = format!("CONF-BATCH-{index}");
        let listing_id = harness.create_listing(&sku, 1).await?;
        let quantity = i64::try_from(index).unwrap_or(0) + 2;
        levels.push(StockLevel {
            listing_id,
            sku,
            quantity,
        });
    }
    let results = connector.push_stock(&levels).await?;
    ensure!(
        results.len() == max,
        "a push of {max} levels gave {} results",
        results.len()
    );
    for level in &levels {
        let confirmed = PushResult::Confirmed {
            listing_id: level.listing_id.clone(),
            quantity: level.quantity,
        };
        ensure!(
            results.contains(&confirmed),
            "{} not confirmed at {}: {results:?}",
            level.listing_id,
            level.quantity
        );
        let shown = harness.shown_quantity(&level.listing_id).await?;
        ensure!(
            shown == Some(level.quantity),
            "{} shows {shown:?} after a push of {}",
            level.listing_id,
            level.quantity
        );
    }
    Ok(())
}

/// When the platform limits, the connector returns `RateLimited` with the platform's
/// `retry_after` at once, without sleeping or retrying on its own.
pub async fn rate_limit_handling(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    let result = check_rate_limit_handling(harness).await;
    // Lift the limit whatever happened, so that later checks run unthrottled.
    let lifted = harness.set_rate_limit(None).await.map_err(Problem::from);
    named("rate_limit_handling", result.and(lifted))
}

async fn check_rate_limit_handling(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    let listing_id = harness.create_listing("CONF-RATE", 1).await?;
    let level = StockLevel {
        listing_id,
        sku: "CONF-RATE".into(),
        quantity: 3,
    };
    harness
        .set_rate_limit(Some(RateLimit::per_minute(2)))
        .await?;
    let seen_before = harness.stock_requests_seen().await?;
    let mut calls: u64 = 0;
    let mut refusal = None;
    while calls < 10 && refusal.is_none() {
        let started = Instant::now();
        let result = connector.push_stock(std::slice::from_ref(&level)).await;
        let took = started.elapsed();
        calls += 1;
        match result {
            Ok(_) => {}
            Err(error @ ConnectorError::RateLimited { .. }) => refusal = Some((error, took)),
            Err(other) => {
                return Err(Problem(format!(
                    "expected RateLimited or success, got {other}"
                )))
            }
        }
    }
    let (error, took) = refusal.ok_or_else(|| {
        Problem(format!(
            "{calls} pushes under a 2/min limit were never refused"
        ))
    })?;
    let retry_after = error
        .retry_after()
        .ok_or_else(|| Problem(format!("RateLimited without retry_after: {error:?}")))?;
    ensure!(!retry_after.is_zero(), "retry_after is zero");
    ensure!(error.is_retryable(), "RateLimited must be retryable");
    ensure!(
        took < NO_SLEEP_BOUND && took < retry_after,
        "the refused call took {took:?} (retry_after {retry_after:?}): the connector waited"
    );
    let seen = harness
        .stock_requests_seen()
        .await?
        .saturating_sub(seen_before);
    ensure!(
        seen == calls,
        "{calls} push calls made {seen} requests: the connector retried on its own"
    );
    Ok(())
}

/// What is pushed is what the platform then shows and what `read_stock` reads back.
pub async fn push_read_round_trip(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    named(
        "push_read_round_trip",
        check_push_read_round_trip(harness).await,
    )
}

async fn check_push_read_round_trip(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    let listing_id = harness.create_listing("CONF-ROUND", 5).await?;
    for quantity in [7, 0] {
        let level = StockLevel {
            listing_id: listing_id.clone(),
            sku: "CONF-ROUND".into(),
            quantity,
        };
        let results = connector.push_stock(std::slice::from_ref(&level)).await?;
        ensure!(
            results
                == vec![PushResult::Confirmed {
                    listing_id: listing_id.clone(),
                    quantity,
                }],
            "push of {quantity} gave {results:?}"
        );
        let read = connector
            .read_stock(std::slice::from_ref(&listing_id))
            .await?;
        ensure!(
            read.len() == 1 && read[0].listing_id == listing_id && read[0].quantity == quantity,
            "read_stock after a push of {quantity} gave {read:?}"
        );
        let shown = harness.shown_quantity(&listing_id).await?;
        ensure!(
            shown == Some(quantity),
            "the platform shows {shown:?} after a push of {quantity}"
        );
    }
    Ok(())
}

/// An unknown listing is rejected on its own, permanently; the rest of the batch applies, and
/// `read_stock` leaves the unknown listing out.
pub async fn unknown_listing_rejected(
    harness: &dyn ConformanceHarness,
) -> Result<(), CheckFailure> {
    named(
        "unknown_listing_rejected",
        check_unknown_listing_rejected(harness).await,
    )
}

async fn check_unknown_listing_rejected(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    let known = harness.create_listing("CONF-KNOWN", 3).await?;
    let unknown = format!("conformance-no-such-listing-{known}");
    let levels = [
        StockLevel {
            listing_id: known.clone(),
            sku: "CONF-KNOWN".into(),
            quantity: 4,
        },
        StockLevel {
            listing_id: unknown.clone(),
            sku: "CONF-UNKNOWN".into(),
            quantity: 1,
        },
    ];
    let results = connector.push_stock(&levels).await?;
    ensure!(
        results.contains(&PushResult::Confirmed {
            listing_id: known.clone(),
            quantity: 4,
        }),
        "the known listing was not confirmed: {results:?}"
    );
    let rejection = results.iter().find_map(|result| match result {
        PushResult::Rejected { listing_id, error } if *listing_id == unknown => Some(error),
        _ => None,
    });
    match rejection {
        Some(ConnectorError::Permanent(_)) => {}
        other => {
            return Err(Problem(format!(
                "the unknown listing should be rejected as permanent, got {other:?} in {results:?}"
            )))
        }
    }
    let shown = harness.shown_quantity(&known).await?;
    ensure!(
        shown == Some(4),
        "the known listing shows {shown:?}, expected 4"
    );
    let read = connector.read_stock(&[known.clone(), unknown]).await?;
    ensure!(
        read.len() == 1 && read[0].listing_id == known,
        "read_stock of a known and an unknown listing gave {read:?}"
    );
    Ok(())
}

/// An order's currency, its lines' unit prices and its total reach the event as the platform
/// holds them (in minor units), from a pull and from a webhook alike; a platform whose harness
/// reports no money passes.
pub async fn order_money(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    named("order_money", check_order_money(harness).await)
}

async fn check_order_money(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let connector = harness.connector();
    let first_listing = harness.create_listing("CONF-MONEY-1", 10).await?;
    let second_listing = harness.create_listing("CONF-MONEY-2", 10).await?;
    let order_id = harness
        .place_order(&[(first_listing.clone(), 3), (second_listing.clone(), 1)])
        .await?;
    let Some(expected) = harness.expected_money(&order_id).await? else {
        return Ok(());
    };
    let (_, pulled, _) = pull_all(connector.as_ref(), None).await?;
    let mut events: Vec<(&str, OrderEvent)> = events_of(&pulled, &order_id)
        .into_iter()
        .map(|event| ("pull", event.clone()))
        .collect();
    ensure!(
        events.len() == 1,
        "order {order_id} pulled {} times",
        events.len()
    );
    if connector.capabilities().webhooks {
        let webhook = harness
            .webhook_for_order(&order_id, WebhookSigning::ChannelSecret)
            .await?;
        let delivered = webhook_events(connector.as_ref(), &webhook).await?;
        events.extend(
            events_of(&delivered, &order_id)
                .into_iter()
                .map(|event| ("webhook", event.clone())),
        );
    }
    for (path, event) in &events {
        ensure!(
            event.currency.as_deref() == Some(expected.currency.as_str()),
            "{path}: order {order_id} has currency {:?}, the platform {}",
            event.currency,
            expected.currency
        );
        let prices: BTreeMap<String, i64> = event
            .lines
            .iter()
            .filter_map(|line| Some((line.listing_id.clone()?, line.unit_price_minor?)))
            .collect();
        ensure!(
            prices == expected.unit_prices,
            "{path}: order {order_id} has unit prices {prices:?}, the platform {:?}",
            expected.unit_prices
        );
        if expected.total_minor.is_some() {
            ensure!(
                event.total_minor == expected.total_minor,
                "{path}: order {order_id} has total {:?}, the platform {:?}",
                event.total_minor,
                expected.total_minor
            );
        }
    }
    Ok(())
}

/// The catalog read goes through every page to the end and gives every listing exactly once,
/// with the SKU and the quantity it was created with. Skipped for a connector whose harness
/// gives no catalog page size (it cannot read its catalog).
pub async fn catalog_read(harness: &dyn ConformanceHarness) -> Result<(), CheckFailure> {
    named("catalog_read", check_catalog_read(harness).await)
}

async fn check_catalog_read(harness: &dyn ConformanceHarness) -> Result<(), Problem> {
    let Some(page_size) = harness.catalog_page_size() else {
        return Ok(());
    };
    let connector = harness.connector();
    let count = page_size * 2 + 1;
    let mut created = BTreeMap::new();
    for index in 0..count {
        let sku = format!("CONF-CAT-{index:05}");
        let quantity = i64::try_from(index % 7).unwrap_or(0);
        let listing_id = harness.create_listing(&sku, quantity).await?;
        created.insert(listing_id, (sku, quantity));
    }
    let by_id = read_whole_catalog(connector.as_ref(), |wait| harness.pause(wait))
        .await
        .map_err(|error| Problem(error.to_string()))?
        .by_listing_id();
    for (listing_id, (sku, quantity)) in &created {
        let Some(listing) = by_id.get(listing_id.as_str()) else {
            return Err(Problem(format!(
                "listing {listing_id} ({sku}) is missing from the {} listings read",
                by_id.len()
            )));
        };
        ensure!(
            listing.sku.as_deref() == Some(sku.as_str()),
            "listing {listing_id} has SKU {:?} in the catalog, created with {sku:?}",
            listing.sku
        );
        ensure!(
            listing.quantity == Some(*quantity),
            "listing {listing_id} ({sku}) shows {:?} in the catalog, created with {quantity}",
            listing.quantity
        );
    }
    Ok(())
}
