//! How long listings showed 0, split by whether the ledger had the stock to show one unit
//! (allocation that cost sales) or not (a stock-out). The ledger's availability over time is
//! replayed from the journal: what was available before the range, then each movement in it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::ledger::db::row_set::{
    rows_json, rows_table, ChannelKeyRow, KeyRow, CHANNEL_KEY_COLUMNS, KEY_COLUMNS,
};
use crate::ledger::error::DatabaseContext;
use crate::ledger::{Ledger, LedgerError};
use crate::reports::periods::Period;
use crate::reports::shown::ZeroStretch;

/// Milliseconds listings of one channel showed 0 within one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ZeroTime {
    /// While the ledger had the stock for at least one unit of the listing.
    pub with_stock_ms: i64,
    /// While it had not.
    pub stocked_out_ms: i64,
}

/// One listing's zero time over the whole range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListingZeroHours {
    pub listing_id: String,
    /// Hours it showed 0 while the ledger had the stock for one unit of it.
    pub hours_zero_with_stock: f64,
    /// Hours it showed 0 while the ledger had not.
    pub hours_stocked_out: f64,
}

/// Zero time by (period, channel), and by listing over the whole range.
#[derive(Debug, Default)]
pub(crate) struct ZeroHours {
    pub by_period: HashMap<(usize, String), ZeroTime>,
    pub by_listing: BTreeMap<(String, String), ZeroTime>,
}

/// A SKU's available quantity (on hand − reserved over every location) as steps: from each
/// instant, the quantity after the movements at it.
type Availability = Vec<(i64, i64)>;

pub(crate) async fn zero_hours(
    ledger: &Ledger,
    stretches: &[ZeroStretch],
    periods: &[Period],
    from: i64,
    until: i64,
) -> Result<ZeroHours, LedgerError> {
    let mut hours = ZeroHours::default();
    if stretches.is_empty() {
        return Ok(hours);
    }
    let components = listing_components(ledger, stretches).await?;
    let skus: BTreeSet<String> = components
        .values()
        .flatten()
        .map(|(sku, _)| sku.clone())
        .collect();
    let availability = availability(ledger, &skus, from, until).await?;
    for stretch in stretches {
        let key = (stretch.channel_id.clone(), stretch.listing_id.clone());
        let parts = components.get(&key).map(Vec::as_slice).unwrap_or_default();
        for (start, end, with_stock) in split_by_stock(stretch, parts, &availability) {
            let listing = hours.by_listing.entry(key.clone()).or_default();
            add(listing, end - start, with_stock);
            // Only the periods the piece overlaps: from the one holding its start.
            let first = periods.partition_point(|period| period.end <= start);
            for (n, period) in periods.iter().enumerate().skip(first) {
                if period.start >= end {
                    break;
                }
                let overlap = end.min(period.end) - start.max(period.start);
                if overlap > 0 {
                    let time = hours
                        .by_period
                        .entry((n, stretch.channel_id.clone()))
                        .or_default();
                    add(time, overlap, with_stock);
                }
            }
        }
    }
    Ok(hours)
}

fn add(time: &mut ZeroTime, milliseconds: i64, with_stock: bool) {
    if with_stock {
        time.with_stock_ms += milliseconds;
    } else {
        time.stocked_out_ms += milliseconds;
    }
}

/// The stretch cut where the ledger's availability of a component changes: each piece and
/// whether every component had what one unit of the listing takes. A listing without
/// components has no stock.
fn split_by_stock(
    stretch: &ZeroStretch,
    components: &[(String, i64)],
    availability: &HashMap<String, Availability>,
) -> Vec<(i64, i64, bool)> {
    let steps = |sku: &str| availability.get(sku).map(Vec::as_slice).unwrap_or_default();
    let mut cuts: BTreeSet<i64> = BTreeSet::from([stretch.start_at, stretch.end_at]);
    for (sku, _) in components {
        cuts.extend(
            steps(sku)
                .iter()
                .map(|(at, _)| *at)
                .filter(|at| *at > stretch.start_at && *at < stretch.end_at),
        );
    }
    let cuts: Vec<i64> = cuts.into_iter().collect();
    let mut pieces: Vec<(i64, i64, bool)> = Vec::new();
    for window in cuts.windows(2) {
        let (start, end) = (window[0], window[1]);
        let with_stock = !components.is_empty()
            && components
                .iter()
                .all(|(sku, per_unit)| available_at(steps(sku), start) >= (*per_unit).max(1));
        match pieces.last_mut() {
            Some(last) if last.2 == with_stock && last.1 == start => last.1 = end,
            _ => pieces.push((start, end, with_stock)),
        }
    }
    pieces
}

/// The quantity available from `at` on: the last step at or before it (0 before the first).
fn available_at(steps: &[(i64, i64)], at: i64) -> i64 {
    let after = steps.partition_point(|(step_at, _)| *step_at <= at);
    after
        .checked_sub(1)
        .and_then(|index| steps.get(index))
        .map_or(0, |(_, quantity)| *quantity)
}

/// Each listing's components (SKU, units per listing unit).
async fn listing_components(
    ledger: &Ledger,
    stretches: &[ZeroStretch],
) -> Result<HashMap<(String, String), Vec<(String, i64)>>, LedgerError> {
    let listings: BTreeSet<(&str, &str)> = stretches
        .iter()
        .map(|stretch| (stretch.channel_id.as_str(), stretch.listing_id.as_str()))
        .collect();
    let rows: Vec<ChannelKeyRow<'_>> = listings
        .into_iter()
        .map(|(channel_id, key)| ChannelKeyRow { channel_id, key })
        .collect();
    let sql = format!(
        "SELECT c.channel_id, c.listing_id, c.sku, c.quantity FROM {} JOIN listing_components c \
         ON c.channel_id = k.channel_id AND c.listing_id = k.key",
        rows_table(ledger.backend(), "k", CHANNEL_KEY_COLUMNS)
    );
    let found: Vec<(String, String, String, i64)> = sqlx::query_as(&sql)
        .bind(rows_json(&rows)?)
        .fetch_all(ledger.pool())
        .await
        .context("reading the components of listings at 0")?;
    let mut components: HashMap<(String, String), Vec<(String, i64)>> = HashMap::new();
    for (channel_id, listing_id, sku, quantity) in found {
        components
            .entry((channel_id, listing_id))
            .or_default()
            .push((sku, quantity));
    }
    Ok(components)
}

/// Each SKU's availability over `[from, until)`, replayed from the journal.
async fn availability(
    ledger: &Ledger,
    skus: &BTreeSet<String>,
    from: i64,
    until: i64,
) -> Result<HashMap<String, Availability>, LedgerError> {
    let rows: Vec<KeyRow<'_>> = skus.iter().map(|key| KeyRow { key }).collect();
    let keys = rows_json(&rows)?;
    let table = rows_table(ledger.backend(), "k", KEY_COLUMNS);
    let opening: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT m.sku, CAST(SUM(m.on_hand_delta - m.reserved_delta) AS BIGINT) FROM {table} \
         JOIN movements m ON m.sku = k.key WHERE m.created_at < $2 GROUP BY m.sku"
    ))
    .bind(keys.clone())
    .bind(from)
    .fetch_all(ledger.pool())
    .await
    .context("reading what was available before a report's range")?;
    let moves: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT m.sku, m.created_at, m.on_hand_delta - m.reserved_delta FROM {table} \
         JOIN movements m ON m.sku = k.key WHERE m.created_at >= $2 AND m.created_at < $3 \
         ORDER BY m.sku, m.created_at, m.id"
    ))
    .bind(keys.clone())
    .bind(from)
    .bind(until)
    .fetch_all(ledger.pool())
    .await
    .context("reading the journal over a report's range")?;
    let mut availability: HashMap<String, Availability> = opening
        .into_iter()
        .map(|(sku, quantity)| (sku, vec![(from, quantity)]))
        .collect();
    for (sku, at, delta) in moves {
        let steps = availability.entry(sku).or_insert_with(|| vec![(from, 0)]);
        let current = steps.last().map_or(0, |(_, quantity)| *quantity);
        match steps.last_mut() {
            Some(last) if last.0 == at => last.1 = current + delta,
            _ => steps.push((at, current + delta)),
        }
    }
    Ok(availability)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stretch(start_at: i64, end_at: i64) -> ZeroStretch {
        ZeroStretch {
            channel_id: "c".into(),
            listing_id: "l".into(),
            start_at,
            end_at,
        }
    }

    #[test]
    fn a_stretch_is_cut_where_any_component_runs_short() {
        let availability = HashMap::from([
            ("A".to_string(), vec![(0, 2), (30, 0), (60, 5)]),
            ("B".to_string(), vec![(0, 1)]),
        ]);
        let bundle = [("A".to_string(), 2), ("B".to_string(), 1)];
        assert_eq!(
            split_by_stock(&stretch(10, 100), &bundle, &availability),
            vec![(10, 30, true), (30, 60, false), (60, 100, true)]
        );
        // Without components nothing could be shown.
        assert_eq!(
            split_by_stock(&stretch(10, 100), &[], &availability),
            vec![(10, 100, false)]
        );
        assert_eq!(available_at(&[(5, 3)], 4), 0);
        assert_eq!(available_at(&[(5, 3)], 5), 3);
    }
}
