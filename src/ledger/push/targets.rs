//! What each listing of a channel should show: the quantities the stock push sends.
//!
//! The ledger reads the state (listings, their components, balances per location) and
//! [`crate::policy::shown_quantity`] turns it into a quantity; nothing else decides it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tracing::debug;

use crate::ledger::db::row_set::{
    channel_rows_json, rows_json, rows_table, ChannelKeyRow, ColumnType, Columns, KeyRow,
    CHANNEL_KEY_COLUMNS, KEY_COLUMNS,
};
use crate::ledger::db::write::{begin_key_lookups, WriteTx};
use crate::ledger::error::DatabaseContext;
use crate::ledger::stock::catalog::{parse_listing_policy, read_components};
use crate::ledger::types::{now_millis, ListingComponent};
use crate::ledger::{Backend, Ledger, LedgerError};
use crate::policy::{shown_quantity, ComponentStock, StockPolicy};

/// A sync-enabled listing with the quantity it should show now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub listing_id: String,
    /// The listing's first component (the only one unless it is a bundle).
    pub sku: String,
    /// The lowest SKU among the listing's components: the page of a walk through the channel's
    /// SKUs that this listing belongs to (see [`Ledger::page_push_targets`]).
    pub lowest_sku: String,
    pub multiplier: i64,
    /// Whole listing units the channel's policy (with the listing's overrides and its own
    /// location, see [`StockPolicy::with_override`]) lets it show, from the stock at the
    /// policy's locations; never below zero.
    pub quantity: i64,
    /// The quantity the channel last confirmed for this listing.
    pub last_pushed_quantity: Option<i64>,
    /// The listing's push generation when this was read (see [`ConfirmedPush`]).
    pub pushed_generation: i64,
}

/// A quantity a channel confirmed for one of its listings, pushed from a [`PushTarget`].
///
/// A booking of a sale or a cancellation on the channel moves the stock the channel shows by
/// itself, so it forgets the listing's last confirmed quantity and bumps its push generation.
/// A confirmation is recorded only if the generation is still the one its target was read
/// with: a push read before such a booking must not write back a quantity the channel no longer
/// shows, or a net-zero change (a sale there, a cancellation elsewhere) would be skipped as
/// "unchanged" and the channel would stay wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedPush {
    pub listing_id: String,
    pub quantity: i64,
    pub generation: i64,
}

impl ConfirmedPush {
    /// `quantity` confirmed for `target`'s listing.
    pub fn of(target: &PushTarget, quantity: i64) -> Self {
        Self {
            listing_id: target.listing_id.clone(),
            quantity,
            generation: target.pushed_generation,
        }
    }
}

/// A listing read for a push: id, SKU, multiplier, last confirmed quantity, policy overrides,
/// push generation, the location it sells from.
type TargetRow = (
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    Option<String>,
);

/// A walk through every sync-enabled listing of a channel with the quantity each should show,
/// a page of SKUs at a time ([`Ledger::channel_sku_page`], [`Ledger::page_push_targets`]):
/// memory stays bounded whatever the catalog, and each listing is met once.
#[derive(Debug)]
pub struct TargetPages {
    channel_id: String,
    /// The last SKU of the last page read; `None` before the first.
    after: Option<String>,
    /// Where the first page starts (that SKU included) when not at the channel's first SKU.
    start_at: Option<String>,
    done: bool,
}

/// One page of a [`TargetPages`] walk.
#[derive(Debug)]
pub struct TargetPage {
    /// SKUs on the page, in the walk's order (the database's).
    pub skus: Vec<String>,
    /// The listings whose lowest SKU is on the page (none, when they are not synced).
    pub targets: Vec<PushTarget>,
}

/// Where a page of a channel's SKUs starts.
#[derive(Debug, Clone, Copy)]
enum SkuBound<'a> {
    First,
    After(&'a str),
    From(&'a str),
}

/// SKUs per page of a [`TargetPages`] walk.
const WALK_PAGE_SKUS: usize = 500;

impl TargetPages {
    pub fn new(channel_id: &str) -> Self {
        Self {
            channel_id: channel_id.to_string(),
            after: None,
            start_at: None,
            done: false,
        }
    }

    /// A walk from `sku` on (that SKU included): it meets every listing whose lowest SKU is
    /// `sku` or after it, as the whole walk does.
    pub fn starting_at(channel_id: &str, sku: &str) -> Self {
        Self {
            start_at: Some(sku.to_string()),
            ..Self::new(channel_id)
        }
    }

    /// The last SKU of the last page read; `None` before the first.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The next page; `None` when no page is left. A page that fails to be read is read
    /// again by the next call.
    pub async fn next(
        &mut self,
        ledger: &Ledger,
        policy: &StockPolicy,
    ) -> Result<Option<TargetPage>, LedgerError> {
        if self.done {
            return Ok(None);
        }
        let bound = match (&self.after, &self.start_at) {
            (Some(after), _) => SkuBound::After(after),
            (None, Some(start)) => SkuBound::From(start),
            (None, None) => SkuBound::First,
        };
        let page = ledger
            .sku_page(&self.channel_id, bound, WALK_PAGE_SKUS)
            .await?;
        let Some(last_sku) = page.last().cloned() else {
            self.done = true;
            return Ok(None);
        };
        let targets = ledger
            .page_push_targets(&self.channel_id, &page, policy)
            .await?;
        // Only once it is read: a failed page is not skipped.
        self.after = Some(last_sku);
        Ok(Some(TargetPage {
            skus: page,
            targets,
        }))
    }
}

impl Ledger {
    /// The SKUs taken by at least one sync-enabled listing on `channel_id`.
    pub async fn channel_skus(&self, channel_id: &str) -> Result<Vec<String>, LedgerError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT c.sku FROM listing_components c JOIN listings l \
             ON l.channel_id = c.channel_id AND l.listing_id = c.listing_id \
             WHERE c.channel_id = $1 AND l.sync_enabled = 1 ORDER BY c.sku",
        )
        .bind(channel_id)
        .fetch_all(&self.pool)
        .await
        .context("reading a channel's skus")?;
        Ok(rows.into_iter().map(|(sku,)| sku).collect())
    }

    /// A keyset page of the SKUs taken by a listing on `channel_id`: in order, after `after`
    /// (from the first when `None`), at most `limit`; empty when none are left. A sweep of a
    /// large catalog reads it a page at a time instead of all at once. SKUs whose listings
    /// are all sync-disabled may be among them ([`Ledger::push_targets`] leaves those out).
    pub async fn channel_sku_page(
        &self,
        channel_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, LedgerError> {
        let bound = after.map_or(SkuBound::First, SkuBound::After);
        self.sku_page(channel_id, bound, limit).await
    }

    /// [`Ledger::channel_sku_page`] from `bound` on.
    async fn sku_page(
        &self,
        channel_id: &str,
        bound: SkuBound<'_>,
        limit: usize,
    ) -> Result<Vec<String>, LedgerError> {
        let limit = limit.max(1);
        // Rows of the (channel_id, sku, listing_id) index in order, without DISTINCT or a
        // join, so the database can stop after `limit` rows even without statistics on a
        // freshly loaded table.
        let (bound_condition, bound_sku) = match bound {
            SkuBound::First => ("", None),
            SkuBound::After(sku) => (" AND sku > $2", Some(sku)),
            SkuBound::From(sku) => (" AND sku >= $2", Some(sku)),
        };
        let sql = format!(
            "SELECT sku FROM listing_components WHERE channel_id = $1{bound_condition} \
             ORDER BY sku LIMIT {limit}"
        );
        let mut query = sqlx::query_as::<_, (String,)>(&sql).bind(channel_id);
        if let Some(sku) = bound_sku {
            query = query.bind(sku);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .context("reading a page of a channel's skus")?;
        let full = rows.len() == limit;
        let mut skus: Vec<String> = rows.into_iter().map(|(sku,)| sku).collect();
        skus.dedup();
        // A full page may have cut the last SKU's rows short; it opens the next page instead.
        // (Alone on the page it stays: the push reads all its listings, wherever the cut is.)
        if full && skus.len() > 1 {
            skus.pop();
        }
        Ok(skus)
    }

    /// The sync-enabled listings of `channel_id` that take stock of one of `skus` (alone, as a
    /// multipack or in a bundle), with the quantity each should show under `policy`, read now
    /// (so a late or repeated stock message is harmless).
    pub async fn push_targets(
        &self,
        channel_id: &str,
        skus: &[String],
        policy: &StockPolicy,
    ) -> Result<Vec<PushTarget>, LedgerError> {
        // Each phase joins the keys, passed as one row set, to one table, inside a lookup
        // transaction: PostgreSQL then finds every row by its index. An `IN` list of 500 keys
        // instead, without statistics (after a bulk import), read the whole channel's listings
        // once per 500 SKUs, which made a sweep of a large catalog take hours.
        let mut transaction = begin_key_lookups(self).await?;
        let connection: &mut sqlx::AnyConnection = &mut transaction;
        let listing_ids = listings_taking(connection, self.backend, channel_id, skus).await?;
        let rows: BTreeMap<String, TargetRow> =
            sync_enabled_listings(connection, self.backend, channel_id, &listing_ids)
                .await?
                .into_iter()
                .map(|row| (row.0.clone(), row))
                .collect();
        let listings: BTreeSet<(&str, &str)> = rows
            .keys()
            .map(|listing_id| (channel_id, listing_id.as_str()))
            .collect();
        let mut components = read_components(connection, self.backend, &listings).await?;
        let component_skus: BTreeSet<String> = components
            .values()
            .flatten()
            .map(|component| component.sku.clone())
            .collect();
        let stock = read_available_by_location(connection, self.backend, &component_skus).await?;

        let mut targets = Vec::with_capacity(rows.len());
        for (
            listing_id,
            (
                _,
                sku,
                multiplier,
                last_pushed_quantity,
                policy_override,
                pushed_generation,
                location,
            ),
        ) in rows
        {
            let policy = policy.with_override(
                &parse_listing_policy(policy_override.as_deref()),
                location.as_deref(),
            );
            let parts = components
                .remove(&(channel_id.to_string(), listing_id.clone()))
                .unwrap_or_default();
            let quantity = shown_quantity(&component_stock(&parts, &stock, &policy), &policy);
            // The parts come sorted by SKU.
            let lowest_sku = parts
                .first()
                .map_or_else(|| sku.clone(), |part| part.sku.clone());
            targets.push(PushTarget {
                listing_id,
                sku,
                lowest_sku,
                multiplier,
                quantity,
                last_pushed_quantity,
                pushed_generation,
            });
        }
        debug!(channel = %channel_id, skus = skus.len(), targets = targets.len(), "push targets read");
        transaction
            .commit()
            .await
            .context("ending a lookup transaction")?;
        Ok(targets)
    }

    /// [`Ledger::push_targets`] of one page of the channel's SKUs
    /// ([`Ledger::channel_sku_page`]), keeping each listing on the page of its lowest SKU only:
    /// a walk through every page meets each listing once, also a bundle whose parts fall on
    /// several pages.
    pub async fn page_push_targets(
        &self,
        channel_id: &str,
        page: &[String],
        policy: &StockPolicy,
    ) -> Result<Vec<PushTarget>, LedgerError> {
        let mut targets = self.push_targets(channel_id, page, policy).await?;
        let on_page: std::collections::HashSet<&str> = page.iter().map(String::as_str).collect();
        targets.retain(|target| on_page.contains(target.lowest_sku.as_str()));
        Ok(targets)
    }

    /// How many listings of the channel are synced: what a walk through its pages of SKUs
    /// meets.
    pub async fn count_sync_enabled_listings(&self, channel_id: &str) -> Result<u64, LedgerError> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM listings l WHERE l.channel_id = $1 \
             AND l.sync_enabled = 1 AND EXISTS (SELECT 1 FROM listing_components c \
             WHERE c.channel_id = l.channel_id AND c.listing_id = l.listing_id)",
        )
        .bind(channel_id)
        .fetch_one(&self.pool)
        .await
        .context("counting a channel's synced listings")?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Forgets what the channel last confirmed for these listings just before a push of them
    /// is sent, in one statement: a push the platform applies but whose confirmation is never
    /// recorded (a timeout after it applied, a lost leadership) then leaves no stale
    /// confirmation behind that would let a later push be skipped as unchanged. The push
    /// generation stays, so the push's own confirmation is still recorded afterwards.
    pub async fn forget_before_push(
        &self,
        channel_id: &str,
        listing_ids: &[&str],
    ) -> Result<(), LedgerError> {
        if listing_ids.is_empty() {
            return Ok(());
        }
        let rows: Vec<ChannelKeyRow<'_>> = listing_ids
            .iter()
            .map(|&key| ChannelKeyRow { channel_id, key })
            .collect();
        let sql = format!(
            "UPDATE listings SET last_pushed_quantity = NULL FROM {} \
             WHERE listings.channel_id = k.channel_id AND listings.listing_id = k.key",
            rows_table(self.backend, "k", CHANNEL_KEY_COLUMNS)
        );
        let mut transaction = WriteTx::begin(self).await?;
        sqlx::query(&sql)
            .bind(rows_json(&rows)?)
            .execute(transaction.connection())
            .await
            .context("forgetting confirmed quantities before a push")?;
        transaction.commit().await?;
        Ok(())
    }

    /// Remembers the quantities a channel confirmed, unless a booking changed what the channel
    /// shows since the target was read (see [`ConfirmedPush`]): such a listing keeps no
    /// confirmed quantity, so its next push is never skipped. Returns how many were recorded.
    pub async fn record_pushed(
        &self,
        channel_id: &str,
        confirmed: &[ConfirmedPush],
    ) -> Result<u64, LedgerError> {
        if confirmed.is_empty() {
            return Ok(0);
        }
        let now = now_millis();
        let rows: Vec<PushedRow<'_>> = confirmed
            .iter()
            .map(|push| PushedRow {
                channel_id,
                key: &push.listing_id,
                quantity: push.quantity,
                generation: push.generation,
                now,
            })
            .collect();
        // One statement, joined like `forget_pushed`'s, so both lock listing rows in one order.
        let sql = format!(
            "UPDATE listings SET last_pushed_quantity = p.quantity, last_pushed_at = p.now, \
             shown_quantity = p.quantity \
             FROM {} WHERE listings.channel_id = p.channel_id AND listings.listing_id = p.key \
             AND listings.pushed_generation = p.generation",
            rows_table(self.backend, "p", PUSHED_COLUMNS)
        );
        // What the channel shows now goes to the shown history first, only where it differs
        // from the quantity recorded there last (README "Channel reports": the history is
        // one row per change, never one per push).
        let history_sql = format!(
            "INSERT INTO listing_shown_history (history_key, shown_at, quantity) \
             SELECT listings.history_key, p.now, p.quantity FROM {} JOIN listings \
             ON listings.channel_id = p.channel_id AND listings.listing_id = p.key \
             WHERE listings.pushed_generation = p.generation \
             AND (listings.shown_quantity IS NULL OR listings.shown_quantity <> p.quantity) \
             ON CONFLICT (history_key, shown_at) DO UPDATE SET quantity = excluded.quantity",
            rows_table(self.backend, "p", PUSHED_COLUMNS)
        );
        // The row that held until now ends where the new one starts (its `until_at`), so the
        // report sums the history without pairing each row with the next. Each changed
        // listing's last row is found first (materialized) and then updated by its key: joined
        // in one go, PostgreSQL without statistics walked every history row still holding and
        // read the row set again for each (a batch of 2,000 took 2 to 17 s at 16,000 rows).
        let until_sql = format!(
            "WITH changed AS MATERIALIZED (SELECT listings.history_key, p.now, \
             (SELECT MAX(last.shown_at) FROM listing_shown_history last \
             WHERE last.history_key = listings.history_key) AS last_at \
             FROM {} JOIN listings \
             ON listings.channel_id = p.channel_id AND listings.listing_id = p.key \
             WHERE listings.pushed_generation = p.generation \
             AND (listings.shown_quantity IS NULL OR listings.shown_quantity <> p.quantity)) \
             UPDATE listing_shown_history SET until_at = changed.now FROM changed \
             WHERE listing_shown_history.history_key = changed.history_key \
             AND listing_shown_history.shown_at = changed.last_at \
             AND listing_shown_history.until_at IS NULL AND changed.last_at < changed.now",
            rows_table(self.backend, "p", PUSHED_COLUMNS)
        );
        let rows_json = rows_json(&rows)?;
        let mut transaction = WriteTx::begin(self).await?;
        sqlx::query(&until_sql)
            .bind(&rows_json)
            .execute(transaction.connection())
            .await
            .context("ending the shown history's last rows")?;
        sqlx::query(&history_sql)
            .bind(&rows_json)
            .execute(transaction.connection())
            .await
            .context("recording the shown history of listings")?;
        let recorded = sqlx::query(&sql)
            .bind(rows_json)
            .execute(transaction.connection())
            .await
            .context("recording listing pushes")?
            .rows_affected();
        transaction.commit().await?;
        if recorded < confirmed.len() as u64 {
            debug!(channel = %channel_id, confirmed = confirmed.len(), recorded,
                "a booking changed some pushed listings meanwhile; they are pushed again");
        }
        Ok(recorded)
    }
}

/// A quantity a channel confirmed for one of its listings.
#[derive(Serialize)]
struct PushedRow<'a> {
    channel_id: &'a str,
    key: &'a str,
    quantity: i64,
    generation: i64,
    now: i64,
}

const PUSHED_COLUMNS: Columns = &[
    ("channel_id", ColumnType::Text),
    ("key", ColumnType::Text),
    ("quantity", ColumnType::BigInt),
    ("generation", ColumnType::BigInt),
    ("now", ColumnType::BigInt),
];

/// The listings of `channel_id` that take stock of one of `skus`, sync-enabled or not.
pub(crate) async fn listings_taking(
    connection: &mut sqlx::AnyConnection,
    backend: Backend,
    channel_id: &str,
    skus: &[String],
) -> Result<Vec<String>, LedgerError> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT c.listing_id FROM {} JOIN listing_components c \
         ON c.channel_id = k.channel_id AND c.sku = k.key",
        rows_table(backend, "k", CHANNEL_KEY_COLUMNS)
    );
    let rows: Vec<(String,)> = sqlx::query_as(&sql)
        .bind(channel_rows_json(channel_id, skus)?)
        .fetch_all(&mut *connection)
        .await
        .context("reading the listings of skus")?;
    Ok(rows.into_iter().map(|(listing_id,)| listing_id).collect())
}

/// Those of `listing_ids` on `channel_id` that are sync-enabled, as target rows.
async fn sync_enabled_listings(
    connection: &mut sqlx::AnyConnection,
    backend: Backend,
    channel_id: &str,
    listing_ids: &[String],
) -> Result<Vec<TargetRow>, LedgerError> {
    if listing_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT l.listing_id, l.sku, l.multiplier, l.last_pushed_quantity, l.policy_override, \
         l.pushed_generation, l.location FROM {} JOIN listings l ON l.channel_id = k.channel_id AND l.listing_id = k.key \
         WHERE l.sync_enabled = 1",
        rows_table(backend, "k", CHANNEL_KEY_COLUMNS)
    );
    sqlx::query_as(&sql)
        .bind(channel_rows_json(channel_id, listing_ids)?)
        .fetch_all(&mut *connection)
        .await
        .context("reading push targets")
}

/// Available (on hand minus reserved) per SKU and location.
type StockByLocation = BTreeMap<String, Vec<(String, i64)>>;

async fn read_available_by_location(
    connection: &mut sqlx::AnyConnection,
    backend: Backend,
    skus: &BTreeSet<String>,
) -> Result<StockByLocation, LedgerError> {
    let mut stock: StockByLocation = BTreeMap::new();
    if skus.is_empty() {
        return Ok(stock);
    }
    let rows: Vec<KeyRow<'_>> = skus.iter().map(|sku| KeyRow { key: sku }).collect();
    let sql = format!(
        "SELECT b.sku, b.location, b.on_hand - b.reserved FROM {} JOIN balances b ON b.sku = k.key",
        rows_table(backend, "k", KEY_COLUMNS)
    );
    let found: Vec<(String, String, i64)> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(&mut *connection)
        .await
        .context("reading availability by location")?;
    for (sku, location, available) in found {
        stock.entry(sku).or_default().push((location, available));
    }
    Ok(stock)
}

/// Each component's availability summed over the locations that feed the policy's channel.
pub(crate) fn component_stock(
    components: &[ListingComponent],
    stock: &StockByLocation,
    policy: &StockPolicy,
) -> Vec<ComponentStock> {
    components
        .iter()
        .map(|component| ComponentStock {
            available: stock
                .get(&component.sku)
                .map(|places| {
                    places
                        .iter()
                        .filter(|(location, _)| policy.feeds_from(location))
                        .map(|(_, available)| *available)
                        .sum()
                })
                .unwrap_or(0),
            per_unit: component.quantity,
        })
        .collect()
}

/// Forgets what a channel last confirmed for these listings, inside the booking that changed
/// them: a sale or a cancellation on a channel moves the stock that channel shows by itself,
/// so its next push must not be skipped as "unchanged" — even when the ledger ends up where it
/// was (a sale there and a cancellation elsewhere in one coalescing window). The push
/// generation moves on as well, also for a listing already forgotten, so that a push in flight
/// does not record its confirmation afterwards (see [`ConfirmedPush`]).
pub(crate) async fn forget_pushed(
    transaction: &mut WriteTx<'_>,
    listings: &BTreeSet<(&str, &str)>,
) -> Result<(), LedgerError> {
    if listings.is_empty() {
        return Ok(());
    }
    let rows: Vec<ChannelKeyRow<'_>> = listings
        .iter()
        .map(|&(channel_id, key)| ChannelKeyRow { channel_id, key })
        .collect();
    let sql = format!(
        "UPDATE listings SET last_pushed_quantity = NULL, \
         pushed_generation = listings.pushed_generation + 1 FROM {} \
         WHERE listings.channel_id = k.channel_id AND listings.listing_id = k.key",
        rows_table(transaction.backend(), "k", CHANNEL_KEY_COLUMNS)
    );
    sqlx::query(&sql)
        .bind(rows_json(&rows)?)
        .execute(transaction.connection())
        .await
        .context("forgetting pushed quantities")?;
    Ok(())
}
