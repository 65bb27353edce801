//! Channel performance reports (README "Channel reports"): per channel and period, what it
//! sold, what it was shown, and how long its listings showed 0. Computed by the same code on
//! PostgreSQL and SQLite; the database sums the orders (each with its line sums) and the shown
//! history, in three statements run at once, and this module derives the figures. One job per
//! file: `periods.rs` (the periods of a range), `sales.rs` (orders, units and money), `shown.rs` (the shown history as time-weighted sums and the
//! stretches at 0), `zero_hours.rs` (those stretches split by the ledger's stock, replayed from
//! the journal), `figures.rs` (rates, turnover, cover).

mod figures;
mod periods;
mod sales;
mod shown;
mod zero_hours;

pub use periods::Granularity;
pub use zero_hours::ListingZeroHours;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ledger::error::DatabaseContext;
use crate::ledger::{Backend, Ledger, LedgerError};
use figures::{derive, ratio, round, HOUR_MS};
use periods::Period;
use sales::OrderSums;
use shown::ShownSums;
use zero_hours::ZeroTime;

/// The longest range a report covers: enough for a year and a quarter of days.
pub const MAX_REPORT_DAYS: i64 = 400;
/// Listings named per channel in [`ChannelReport::listings_at_zero`].
const LISTINGS_NAMED: usize = 20;

/// What a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
}

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{field}: {reason}")]
    BadRange { field: &'static str, reason: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl ReportRange {
    /// Checks the range (`from` before `to`, at most [`MAX_REPORT_DAYS`] long) and widens it
    /// to whole UTC hours, the grain of every sum: `from` down, `to` up.
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
    ) -> Result<Self, ReportError> {
        let from = periods::hour_floor(from);
        let to = periods::hour_ceil(to);
        if from >= to {
            return Err(ReportError::BadRange {
                field: "from",
                reason: format!("must be before to ({to})"),
            });
        }
        if (to - from).num_days() > MAX_REPORT_DAYS {
            return Err(ReportError::BadRange {
                field: "to",
                reason: format!("the range must be at most {MAX_REPORT_DAYS} days"),
            });
        }
        Ok(Self {
            from,
            to,
            granularity,
        })
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelsReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    /// The instant the report was computed for: shown quantities after it are not known.
    pub as_of: DateTime<Utc>,
    /// One entry per channel, by channel id.
    pub channels: Vec<ChannelReport>,
}

/// One channel over the range.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelReport {
    pub channel_id: String,
    /// One entry per period, in time order.
    pub periods: Vec<PeriodFigures>,
    /// The listings that showed 0 longest while the ledger had stock for them, over the whole
    /// range (at most 20), then those stocked out longest.
    pub listings_at_zero: Vec<ListingZeroHours>,
}

/// Money of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CurrencyRevenue {
    /// ISO 4217 code; `null` for orders whose platform named none.
    pub currency: Option<String>,
    /// Σ unit price × units sold over the priced lines, in minor units.
    pub lines_minor: i64,
    /// Σ order totals of the orders not cancelled, in minor units.
    pub orders_total_minor: i64,
}

/// One channel over one period; README "Channel reports" defines each figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodFigures {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub orders: i64,
    pub cancelled_orders: i64,
    pub oversold_orders: i64,
    pub units_sold: i64,
    pub units_returned: i64,
    /// Units sold on lines without a price (not in `revenue`).
    pub unpriced_units: i64,
    pub revenue: Vec<CurrencyRevenue>,
    pub cancellation_rate: Option<f64>,
    pub return_rate: Option<f64>,
    pub average_units_shown: Option<f64>,
    pub units_shown_at_end: i64,
    pub sell_through: Option<f64>,
    pub inventory_turnover: Option<f64>,
    pub days_of_cover: Option<f64>,
    /// Listing-hours at 0 while the ledger had stock for one unit (allocation that cost sales).
    pub hours_zero_with_stock: f64,
    /// Listing-hours at 0 while the ledger had none (stock-outs).
    pub hours_stocked_out: f64,
}

/// The report over `range` as of `now`.
pub async fn channels_report(
    ledger: &Ledger,
    range: ReportRange,
    now: DateTime<Utc>,
) -> Result<ChannelsReport, ReportError> {
    let periods = periods::periods(range.from, range.to, range.granularity);
    let now_ms = now.timestamp_millis();
    // What is shown after now is not known: the shown figures stop there.
    let past: Vec<Period> = periods
        .iter()
        .map(|period| Period {
            start: period.start,
            end: period.end.min(now_ms).max(period.start),
        })
        .collect();
    let (from_ms, to_ms) = (range.from.timestamp_millis(), range.to.timestamp_millis());
    let until_ms = to_ms.min(now_ms);
    // The three statements run at once, each in a read transaction of its own.
    let (orders, shown, stretches) = tokio::try_join!(
        async {
            let mut reads = begin_report_reads(ledger).await?;
            sales::order_sums(&mut reads, from_ms, to_ms).await
        },
        async {
            let mut reads = begin_report_reads(ledger).await?;
            shown::shown_sums(&mut reads, &past).await
        },
        async {
            let mut reads = begin_report_reads(ledger).await?;
            shown::zero_stretches(&mut reads, from_ms, until_ms).await
        },
    )?;
    let zero = zero_hours::zero_hours(ledger, &stretches, &past, from_ms, until_ms).await?;

    let mut channel_ids: BTreeSet<String> = channel_ids(ledger).await?.into_iter().collect();
    channel_ids.extend(orders.iter().map(|sums| sums.channel_id.clone()));
    let orders = by_period_and_channel(&periods, orders, |sums| (sums.hour, &sums.channel_id));
    let channels = channel_ids
        .into_iter()
        .map(|channel_id| {
            let shown = shown.get(&channel_id);
            let periods = periods
                .iter()
                .zip(&past)
                .enumerate()
                .map(|(n, (period, past))| {
                    let key = (n, channel_id.clone());
                    period_figures(
                        *period,
                        past.end - past.start,
                        orders.get(&key).map(Vec::as_slice).unwrap_or_default(),
                        shown
                            .and_then(|sums| sums.get(n))
                            .copied()
                            .unwrap_or_default(),
                        zero.by_period.get(&key).copied().unwrap_or_default(),
                    )
                })
                .collect();
            let listings_at_zero = listings_at_zero(&zero.by_listing, &channel_id);
            ChannelReport {
                channel_id,
                periods,
                listings_at_zero,
            }
        })
        .collect();
    Ok(ChannelsReport {
        from: range.from,
        to: range.to,
        granularity: range.granularity,
        as_of: now,
        channels,
    })
}

/// Hourly sums grouped by the period their hour falls in (periods begin on whole hours).
fn by_period_and_channel<T>(
    periods: &[Period],
    rows: Vec<T>,
    key: impl Fn(&T) -> (i64, &String),
) -> HashMap<(usize, String), Vec<T>> {
    let mut grouped: HashMap<(usize, String), Vec<T>> = HashMap::new();
    for row in rows {
        let (hour, channel_id) = key(&row);
        if let Some(n) = periods::period_of(periods, hour * sales::HOUR) {
            grouped
                .entry((n, channel_id.clone()))
                .or_default()
                .push(row);
        }
    }
    grouped
}

fn period_figures(
    period: Period,
    elapsed_ms: i64,
    orders: &[OrderSums],
    shown: ShownSums,
    zero: ZeroTime,
) -> PeriodFigures {
    let order_count: i64 = orders.iter().map(|sums| sums.orders).sum();
    let cancelled: i64 = orders.iter().map(|sums| sums.cancelled_orders).sum();
    let units_sold: i64 = orders.iter().map(|sums| sums.units_sold).sum();
    let units_returned: i64 = orders.iter().map(|sums| sums.units_returned).sum();
    let mut revenue: BTreeMap<Option<String>, CurrencyRevenue> = BTreeMap::new();
    for sums in orders {
        let money = revenue
            .entry(sums.currency.clone())
            .or_insert_with(|| empty_revenue(&sums.currency));
        money.orders_total_minor += sums.orders_total_minor;
        money.lines_minor += sums.revenue_minor;
    }
    let shown_at_end = shown.shown_at_end;
    let derived = derive(
        units_sold,
        shown.shown_unit_ms as f64,
        shown_at_end,
        elapsed_ms,
    );
    PeriodFigures {
        start: figures::instant(period.start),
        end: figures::instant(period.end),
        orders: order_count,
        cancelled_orders: cancelled,
        oversold_orders: orders.iter().map(|sums| sums.oversold_orders).sum(),
        units_sold,
        units_returned,
        unpriced_units: orders.iter().map(|sums| sums.unpriced_units).sum(),
        revenue: revenue.into_values().collect(),
        cancellation_rate: ratio(cancelled as f64, order_count as f64),
        return_rate: ratio(units_returned as f64, units_sold as f64),
        average_units_shown: derived.average_units_shown,
        units_shown_at_end: shown_at_end,
        sell_through: derived.sell_through,
        inventory_turnover: derived.inventory_turnover,
        days_of_cover: derived.days_of_cover,
        hours_zero_with_stock: round(zero.with_stock_ms as f64 / HOUR_MS),
        hours_stocked_out: round(zero.stocked_out_ms as f64 / HOUR_MS),
    }
}

fn empty_revenue(currency: &Option<String>) -> CurrencyRevenue {
    CurrencyRevenue {
        currency: currency.clone(),
        lines_minor: 0,
        orders_total_minor: 0,
    }
}

/// The channel's listings longest at 0 with stock in the ledger, then longest stocked out.
fn listings_at_zero(
    by_listing: &BTreeMap<(String, String), ZeroTime>,
    channel_id: &str,
) -> Vec<ListingZeroHours> {
    let mut listings: Vec<(&String, &ZeroTime)> = by_listing
        .iter()
        .filter(|((channel, _), _)| channel == channel_id)
        .map(|((_, listing), time)| (listing, time))
        .collect();
    listings.sort_by(|a, b| {
        (b.1.with_stock_ms, b.1.stocked_out_ms, a.0).cmp(&(
            a.1.with_stock_ms,
            a.1.stocked_out_ms,
            b.0,
        ))
    });
    listings
        .into_iter()
        .take(LISTINGS_NAMED)
        .map(|(listing_id, time)| ListingZeroHours {
            listing_id: listing_id.clone(),
            hours_zero_with_stock: round(time.with_stock_ms as f64 / HOUR_MS),
            hours_stocked_out: round(time.stocked_out_ms as f64 / HOUR_MS),
        })
        .collect()
}

/// PostgreSQL compiles a large sum's plan to machine code (JIT) by default, which took longer
/// than running it, and sorts or hashes beyond 4 MB on disk: a report's reads do neither.
const POSTGRES_REPORT_BEGIN: &str = "BEGIN READ ONLY; SET LOCAL jit = off; \
     SET LOCAL work_mem = '64MB'";

/// A read transaction for one of the report's statements.
async fn begin_report_reads(
    ledger: &Ledger,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, LedgerError> {
    match ledger.backend() {
        Backend::Postgres => ledger.pool().begin_with(POSTGRES_REPORT_BEGIN).await,
        Backend::Sqlite => ledger.pool().begin().await,
    }
    .context("beginning a report's reads")
}

async fn channel_ids(ledger: &Ledger) -> Result<Vec<String>, LedgerError> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM channels ORDER BY id")
        .fetch_all(ledger.pool())
        .await
        .context("reading the channels")?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
