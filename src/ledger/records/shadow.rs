//! The store of shadow mode, reached as [`Ledger::shadow`]: per listing of a shadow channel
//! what omnistock would set and what the channel showed when it was last read
//! (`shadow_listings`), and the operator's switch of a shadow channel to live
//! (`channel_go_live`), which every replica reads.
//!
//! Only storage lives here; when a channel is read and what the switch means is decided by
//! `crate::sync::push::shadow` and `crate::ops::shadow`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::db::row_set::{
    rows_json, rows_table, ChannelKeyRow, ColumnType, Columns, CHANNEL_KEY_COLUMNS,
};
use crate::ledger::db::write::WriteTx;
use crate::ledger::error::DatabaseContext;
use crate::ledger::{Ledger, LedgerError};

/// What one read of a listing of a shadow channel found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowObservation {
    pub listing_id: String,
    pub sku: String,
    /// The quantity omnistock would have set (the policy's, as the pusher computes it).
    pub would_set: i64,
    /// What the channel showed; `None` when its answer did not report the listing.
    pub shown: Option<i64>,
}

impl ShadowObservation {
    /// Whether the channel shows something else than omnistock would set.
    pub fn differs(&self) -> bool {
        self.shown != Some(self.would_set)
    }
}

/// A listing of a shadow channel as last read. Times are unix milliseconds UTC.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ShadowListingRecord {
    pub listing_id: String,
    pub sku: String,
    pub would_set: i64,
    pub shown: Option<i64>,
    pub read_at: i64,
    /// Since when the channel has shown something else than omnistock would set, over every
    /// read since; `None` while they agree.
    pub differs_since: Option<i64>,
}

impl ShadowListingRecord {
    /// How far what the channel shows is from what omnistock would set (a listing the channel
    /// did not report counts as showing 0).
    pub fn difference(&self) -> i64 {
        self.would_set - self.shown.unwrap_or(0)
    }
}

/// The counts of one shadow channel's listings as last read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShadowCounts {
    /// Listings read at least once.
    pub read: u64,
    /// Of those, the ones whose channel shows something else than omnistock would set.
    pub differing: u64,
    /// The last read of any listing.
    pub last_read_at: Option<i64>,
    /// The oldest `differs_since` of the differing listings.
    pub differing_since: Option<i64>,
}

/// A channel's counts as read: channel, listings read, differing, last read, oldest difference.
type CountsRow = (String, i64, i64, Option<i64>, Option<i64>);

/// The shadow mode records of a ledger's database.
#[derive(Debug, Clone, Copy)]
pub struct ShadowStore<'a> {
    ledger: &'a Ledger,
}

impl Ledger {
    /// The shadow mode records.
    pub fn shadow(&self) -> ShadowStore<'_> {
        ShadowStore { ledger: self }
    }
}

/// One observation as a row of the row set `record` writes.
#[derive(Serialize)]
struct ObservationRow<'a> {
    channel_id: &'a str,
    listing_id: &'a str,
    sku: &'a str,
    would_set: i64,
    shown: Option<i64>,
    read_at: i64,
    differs_since: Option<i64>,
}

const OBSERVATION_COLUMNS: Columns = &[
    ("channel_id", ColumnType::Text),
    ("listing_id", ColumnType::Text),
    ("sku", ColumnType::Text),
    ("would_set", ColumnType::BigInt),
    ("shown", ColumnType::BigInt),
    ("read_at", ColumnType::BigInt),
    ("differs_since", ColumnType::BigInt),
];

const LISTING_COLUMNS: &str = "listing_id, sku, would_set, shown, read_at, differs_since";

impl ShadowStore<'_> {
    /// Records what reads of a shadow channel's listings found at `read_at`, in one statement:
    /// a listing that differs keeps the `differs_since` of an earlier read that differed too,
    /// one that agrees loses it.
    pub async fn record(
        &self,
        channel_id: &str,
        observations: &[ShadowObservation],
        read_at: i64,
    ) -> Result<(), LedgerError> {
        if observations.is_empty() {
            return Ok(());
        }
        let rows: Vec<ObservationRow<'_>> = observations
            .iter()
            .map(|observation| ObservationRow {
                channel_id,
                listing_id: &observation.listing_id,
                sku: &observation.sku,
                would_set: observation.would_set,
                shown: observation.shown,
                read_at,
                differs_since: observation.differs().then_some(read_at),
            })
            .collect();
        let sql = format!(
            "INSERT INTO shadow_listings (channel_id, listing_id, sku, would_set, shown, read_at, \
             differs_since) SELECT o.channel_id, o.listing_id, o.sku, o.would_set, o.shown, \
             o.read_at, o.differs_since FROM {} WHERE NOT EXISTS \
             (SELECT 1 FROM channel_go_live g WHERE g.channel_id = o.channel_id) \
             ON CONFLICT (channel_id, listing_id) DO UPDATE SET sku = excluded.sku, \
             would_set = excluded.would_set, shown = excluded.shown, read_at = excluded.read_at, \
             differs_since = CASE WHEN excluded.differs_since IS NULL THEN NULL \
             ELSE COALESCE(shadow_listings.differs_since, excluded.differs_since) END",
            rows_table(self.ledger.backend, "o", OBSERVATION_COLUMNS)
        );
        // A read still in flight when the channel went live records nothing.
        let mut transaction = WriteTx::begin(self.ledger).await?;
        sqlx::query(&sql)
            .bind(rows_json(&rows)?)
            .execute(transaction.connection())
            .await
            .context("recording shadow reads")?;
        transaction.commit().await?;
        Ok(())
    }

    /// A keyset page of the channel's listings as last read (only the differing ones when
    /// asked), by listing id: at most `limit`, those after `after` (from the first when `None`).
    pub async fn listings_page(
        &self,
        channel_id: &str,
        differing_only: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ShadowListingRecord>, LedgerError> {
        let only = if differing_only {
            " AND differs_since IS NOT NULL"
        } else {
            ""
        };
        let after_condition = if after.is_some() {
            " AND listing_id > $2"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {LISTING_COLUMNS} FROM shadow_listings WHERE channel_id = $1{only}\
             {after_condition} ORDER BY listing_id LIMIT {}",
            limit.max(1)
        );
        let mut query = sqlx::query_as(&sql).bind(channel_id);
        if let Some(after) = after {
            query = query.bind(after);
        }
        query
            .fetch_all(&self.ledger.pool)
            .await
            .context("reading a page of a channel's shadow listings")
    }

    /// Those of `listing_ids` the channel's shadow listings hold, as last read, by listing id.
    pub async fn listings_by_id(
        &self,
        channel_id: &str,
        listing_ids: &[&str],
    ) -> Result<BTreeMap<String, ShadowListingRecord>, LedgerError> {
        if listing_ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let rows: Vec<ChannelKeyRow<'_>> = listing_ids
            .iter()
            .map(|&key| ChannelKeyRow { channel_id, key })
            .collect();
        let columns: Vec<String> = LISTING_COLUMNS
            .split(", ")
            .map(|column| format!("s.{column}"))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} JOIN shadow_listings s \
             ON s.channel_id = k.channel_id AND s.listing_id = k.key",
            columns.join(", "),
            rows_table(self.ledger.backend, "k", CHANNEL_KEY_COLUMNS)
        );
        let records: Vec<ShadowListingRecord> = sqlx::query_as(&sql)
            .bind(rows_json(&rows)?)
            .fetch_all(&self.ledger.pool)
            .await
            .context("reading shadow listings by id")?;
        Ok(records
            .into_iter()
            .map(|record| (record.listing_id.clone(), record))
            .collect())
    }

    /// The `limit` differing listings of the channel farthest from what omnistock would set.
    pub async fn largest_differences(
        &self,
        channel_id: &str,
        limit: usize,
    ) -> Result<Vec<ShadowListingRecord>, LedgerError> {
        sqlx::query_as(&format!(
            "SELECT {LISTING_COLUMNS} FROM shadow_listings \
             WHERE channel_id = $1 AND differs_since IS NOT NULL \
             ORDER BY ABS(would_set - COALESCE(shown, 0)) DESC, listing_id LIMIT {}",
            limit.max(1)
        ))
        .bind(channel_id)
        .fetch_all(&self.ledger.pool)
        .await
        .context("reading a channel's largest shadow differences")
    }

    /// The counts of every channel with shadow listings.
    pub async fn counts(&self) -> Result<BTreeMap<String, ShadowCounts>, LedgerError> {
        let rows: Vec<CountsRow> = sqlx::query_as(
            "SELECT channel_id, CAST(COUNT(*) AS BIGINT), \
             CAST(COUNT(differs_since) AS BIGINT), MAX(read_at), MIN(differs_since) \
             FROM shadow_listings GROUP BY channel_id",
        )
        .fetch_all(&self.ledger.pool)
        .await
        .context("counting shadow listings")?;
        Ok(rows
            .into_iter()
            .map(
                |(channel, read, differing, last_read_at, differing_since)| {
                    let counts = ShadowCounts {
                        read: u64::try_from(read).unwrap_or(0),
                        differing: u64::try_from(differing).unwrap_or(0),
                        last_read_at,
                        differing_since,
                    };
                    (channel, counts)
                },
            )
            .collect())
    }

    /// When the channel was switched to live by an operator; `None` if it never was (or the
    /// switch was cleared).
    pub async fn went_live_at(&self, channel_id: &str) -> Result<Option<i64>, LedgerError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT went_live_at FROM channel_go_live WHERE channel_id = $1")
                .bind(channel_id)
                .fetch_optional(&self.ledger.pool)
                .await
                .context("reading a channel's switch to live")?;
        Ok(row.map(|(at,)| at))
    }

    /// Every channel switched to live, with when.
    pub async fn switched_live(&self) -> Result<BTreeMap<String, i64>, LedgerError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT channel_id, went_live_at FROM channel_go_live")
                .fetch_all(&self.ledger.pool)
                .await
                .context("reading the channels switched to live")?;
        Ok(rows.into_iter().collect())
    }

    /// Records the switch of a shadow channel to live at `at` and drops its shadow listings,
    /// in one transaction. Returns when it went live: `at`, or the earlier switch's time if it
    /// already was.
    pub async fn switch_live(&self, channel_id: &str, at: i64) -> Result<i64, LedgerError> {
        let mut transaction = WriteTx::begin(self.ledger).await?;
        sqlx::query(
            "INSERT INTO channel_go_live (channel_id, went_live_at) VALUES ($1, $2) \
             ON CONFLICT (channel_id) DO NOTHING",
        )
        .bind(channel_id)
        .bind(at)
        .execute(transaction.connection())
        .await
        .context("recording a channel's switch to live")?;
        let (went_live_at,): (i64,) =
            sqlx::query_as("SELECT went_live_at FROM channel_go_live WHERE channel_id = $1")
                .bind(channel_id)
                .fetch_one(transaction.connection())
                .await
                .context("reading a channel's switch to live")?;
        sqlx::query("DELETE FROM shadow_listings WHERE channel_id = $1")
            .bind(channel_id)
            .execute(transaction.connection())
            .await
            .context("dropping a live channel's shadow listings")?;
        transaction.commit().await?;
        Ok(went_live_at)
    }

    /// Forgets the switch to live of a channel the configuration now says is `live`, so that
    /// `mode = "shadow"` set again later means shadow again.
    pub async fn clear_switch(&self, channel_id: &str) -> Result<(), LedgerError> {
        sqlx::query("DELETE FROM channel_go_live WHERE channel_id = $1")
            .bind(channel_id)
            .execute(&self.ledger.pool)
            .await
            .context("clearing a channel's switch to live")?;
        Ok(())
    }
}
