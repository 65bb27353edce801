//! `omnistock report channels [--since 30d | --from --to] [--granularity] [--format]`: the
//! running daemon's channel report (`GET /admin/reports/channels`) as a table, CSV or JSON.

use crate::reports::{ChannelsReport, PeriodFigures};
use crate::settings::parse_duration;
use chrono::{DateTime, Utc};
use std::fmt::Write as _;

/// `omnistock report …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReportCommand {
    /// Per channel and period: orders, units sold, revenue per currency, cancellation and
    /// return rates, sell-through, inventory turnover, days of cover, hours at 0 and oversold
    /// orders (README "Channel reports" defines each).
    Channels(ChannelsReportArgs),
}

/// `omnistock report channels`
#[derive(Debug, Clone, clap::Args)]
pub struct ChannelsReportArgs {
    /// The range ends now and starts this long before ("30d", "12h"); default 30d.
    #[arg(long, value_parser = parse_duration, conflicts_with_all = ["from", "to"])]
    pub since: Option<std::time::Duration>,
    /// Start of the range (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long, requires = "to")]
    pub from: Option<DateTime<Utc>>,
    /// End of the range (RFC 3339, excluded).
    #[arg(long, requires = "from")]
    pub to: Option<DateTime<Utc>>,
    #[arg(long, value_enum, default_value = "day")]
    pub granularity: GranularityArg,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    #[command(flatten)]
    pub connection: super::admin_client::Connection,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GranularityArg {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

impl ChannelsReportArgs {
    /// The admin API path and query asking for this report.
    pub fn path(&self, now: DateTime<Utc>) -> String {
        let (from, to) = match (self.from, self.to) {
            (Some(from), Some(to)) => (from, to),
            _ => {
                let since = self
                    .since
                    .unwrap_or(std::time::Duration::from_secs(30 * 86_400));
                let since = chrono::Duration::from_std(since).unwrap_or(chrono::Duration::days(30));
                (now - since, now)
            }
        };
        let granularity = match self.granularity {
            GranularityArg::Day => "day",
            GranularityArg::Week => "week",
            GranularityArg::Month => "month",
        };
        format!(
            "/admin/reports/channels?from={}&to={}&granularity={granularity}",
            query_instant(from),
            query_instant(to)
        )
    }
}

fn query_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The columns of the table and of the CSV, one row per channel and period.
const COLUMNS: [&str; 19] = [
    "channel",
    "start",
    "end",
    "orders",
    "cancelled",
    "oversold",
    "units_sold",
    "units_returned",
    "revenue",
    "order_totals",
    "cancellation_rate",
    "return_rate",
    "avg_shown",
    "shown_at_end",
    "sell_through",
    "turnover",
    "days_of_cover",
    "hours_zero_with_stock",
    "hours_stocked_out",
];

/// Each channel's periods as rows of text cells.
fn rows(report: &ChannelsReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for channel in &report.channels {
        for period in &channel.periods {
            rows.push(cells(&channel.channel_id, period));
        }
    }
    rows
}

fn cells(channel_id: &str, period: &PeriodFigures) -> Vec<String> {
    let money = |pick: fn(&crate::reports::CurrencyRevenue) -> i64| {
        period
            .revenue
            .iter()
            .map(|revenue| {
                format!(
                    "{} {}",
                    pick(revenue),
                    revenue.currency.as_deref().unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let figure =
        |value: Option<f64>| value.map_or_else(|| "-".to_string(), |value| value.to_string());
    vec![
        channel_id.to_string(),
        period.start.to_rfc3339(),
        period.end.to_rfc3339(),
        period.orders.to_string(),
        period.cancelled_orders.to_string(),
        period.oversold_orders.to_string(),
        period.units_sold.to_string(),
        period.units_returned.to_string(),
        money(|revenue| revenue.lines_minor),
        money(|revenue| revenue.orders_total_minor),
        figure(period.cancellation_rate),
        figure(period.return_rate),
        figure(period.average_units_shown),
        period.units_shown_at_end.to_string(),
        figure(period.sell_through),
        figure(period.inventory_turnover),
        figure(period.days_of_cover),
        period.hours_zero_with_stock.to_string(),
        period.hours_stocked_out.to_string(),
    ]
}

/// The report in `format`; money is in minor units.
pub fn render(report: &ChannelsReport, format: ReportFormat) -> String {
    match format {
        ReportFormat::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        ReportFormat::Csv => {
            let mut out = String::new();
            let _ = writeln!(out, "{}", COLUMNS.join(","));
            for row in rows(report) {
                let escaped: Vec<String> = row.iter().map(|cell| csv_cell(cell)).collect();
                let _ = writeln!(out, "{}", escaped.join(","));
            }
            out
        }
        ReportFormat::Table => table(report),
    }
}

fn csv_cell(cell: &str) -> String {
    if cell.contains([',', '"', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

fn table(report: &ChannelsReport) -> String {
    let rows = rows(report);
    let mut widths: Vec<usize> = COLUMNS.iter().map(|name| name.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let _ = writeln!(out, "{}", line(COLUMNS.to_vec()));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
    for channel in &report.channels {
        for listing in &channel.listings_at_zero {
            let _ = writeln!(
                out,
                "{}: listing {} at 0 for {} h with stock in the ledger, {} h stocked out",
                channel.channel_id,
                listing.listing_id,
                listing.hours_zero_with_stock,
                listing.hours_stocked_out
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(subcommand)]
        report: ReportCommand,
    }

    fn parse(arguments: &[&str]) -> Result<ChannelsReportArgs, clap::Error> {
        let command =
            Command::try_parse_from(["report", "channels"].iter().chain(arguments).copied())?;
        let ReportCommand::Channels(args) = command.report;
        Ok(args)
    }

    #[test]
    fn a_range_is_since_or_from_and_to_never_both() {
        let now: DateTime<Utc> = "2026-12-07T00:00:00Z".parse().unwrap_or_default();
        let since = parse(&["--since", "7d", "--granularity", "week"]).map(|args| args.path(now));
        assert_eq!(
            since.ok().as_deref(),
            Some(
                "/admin/reports/channels?from=2026-11-30T00:00:00.000Z&to=2026-12-07T00:00:00.000Z&granularity=week"
            )
        );
        assert!(parse(&["--since", "7d", "--from", "2026-11-01T00:00:00Z"]).is_err());
        assert!(parse(&["--from", "2026-11-01T00:00:00Z"]).is_err());
        let explicit = parse(&[
            "--from",
            "2026-11-01T00:00:00Z",
            "--to",
            "2026-11-02T00:00:00Z",
        ])
        .map(|args| args.path(now));
        assert!(explicit
            .ok()
            .is_some_and(|path| path.contains("from=2026-11-01T00:00:00.000Z")));
    }
}
