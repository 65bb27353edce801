//! `omnistock shadow ID [--format csv]` (a shadow channel's report: per listing what omnistock
//! would set beside what the channel shows) and `omnistock channel go-live ID` (the dry run of
//! the switch to live, or with `--apply` the switch), as text for a person or CSV.
//!
//! The report and the dry run come a page at a time; each page is printed as it comes, so
//! memory stays bounded however many listings the channel has.

use super::admin_client::{table, Connection};
use crate::http::admin::shadow::{
    GoLiveResponse, PlannedWriteView, ShadowListingView, ShadowReport, ShadowSummaryView,
};
use chrono::{DateTime, Utc};

/// `omnistock shadow`
#[derive(Debug, Clone, clap::Args)]
pub struct ShadowArgs {
    /// The channel (in shadow mode).
    pub channel: String,
    /// `table` for a person, `csv` for a spreadsheet (one row per listing read).
    #[arg(long, value_enum, default_value = "table")]
    pub format: ShadowFormat,
    /// Only the listings whose channel shows something else than omnistock would set.
    #[arg(long)]
    pub differing: bool,
    /// Listings asked per request (1 to 10,000); each page is printed as it comes.
    #[arg(long, default_value_t = MAX_PAGE_ROWS, value_parser = page_size)]
    pub page_size: usize,
    #[command(flatten)]
    pub connection: Connection,
}

/// The most rows one page of a report or a dry run holds (the admin API's maximum).
pub const MAX_PAGE_ROWS: usize = crate::http::admin::shadow::MAX_PAGE_ROWS as usize;

fn page_size(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(size) if (1..=MAX_PAGE_ROWS).contains(&size) => Ok(size),
        _ => Err(format!("expected a whole number from 1 to {MAX_PAGE_ROWS}")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShadowFormat {
    Table,
    Csv,
}

/// `omnistock channel go-live`
#[derive(Debug, Clone, clap::Args)]
pub struct GoLiveArgs {
    /// The channel (in shadow mode).
    pub channel: String,
    /// List every write the switch's first sweep will make, and switch nothing (the default).
    #[arg(long, conflicts_with = "apply")]
    pub dry_run: bool,
    /// Switch the channel to live (on every replica); its first sweep makes the writes listed.
    #[arg(long)]
    pub apply: bool,
    /// Writes asked per request of the dry run (1 to 10,000); each page is printed as it comes.
    #[arg(long, default_value_t = MAX_PAGE_ROWS, value_parser = page_size)]
    pub page_size: usize,
    #[command(flatten)]
    pub connection: Connection,
}

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "-".to_string(),
        |at| at.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn quantity(shown: Option<i64>) -> String {
    shown.map_or_else(|| "-".to_string(), |shown| shown.to_string())
}

/// A one-line summary: `12 in agreement, 3 differing (largest: L-1 5 → 7, …), last read …`.
pub fn summary_line(summary: &ShadowSummaryView) -> String {
    let largest: Vec<String> = summary
        .largest_differences
        .iter()
        .map(|listing| {
            format!(
                "{} {}→{}",
                listing.listing_id,
                quantity(listing.shown),
                listing.would_set
            )
        })
        .collect();
    let mut line = format!(
        "{} in agreement, {} differing",
        summary.in_agreement, summary.differing
    );
    if !largest.is_empty() {
        line.push_str(&format!(" (largest: {})", largest.join(", ")));
    }
    line
}

/// The report's first line: the channel, its mode and its summary (of every listing).
pub fn report_head(report: &ShadowReport) -> String {
    let summary = &report.summary;
    format!(
        "channel {} ({}): {}; last read {}; differing since {}\n",
        report.id,
        report.mode,
        summary_line(summary),
        when(summary.last_read_at),
        when(summary.differing_since),
    )
}

const REPORT_HEADER: [&str; 7] = [
    "LISTING",
    "SKU",
    "WOULD SET",
    "SHOWN",
    "DIFFERENCE",
    "DIFFERS SINCE",
    "READ AT",
];

/// A page of the report's listings as text, one row per listing, the header on the first page
/// only (columns line up within a page: pages are printed as they come).
pub fn report_rows_text(listings: &[ShadowListingView], first_page: bool) -> String {
    let rows: Vec<Vec<String>> = listings
        .iter()
        .map(|listing| {
            vec![
                listing.listing_id.clone(),
                listing.sku.clone(),
                listing.would_set.to_string(),
                quantity(listing.shown),
                listing.difference.to_string(),
                when(listing.differs_since),
                when(Some(listing.read_at)),
            ]
        })
        .collect();
    page_table(&REPORT_HEADER, &rows, first_page)
}

/// `table` of a page: with its header line on the first page only.
fn page_table(header: &[&str], rows: &[Vec<String>], first_page: bool) -> String {
    let text = table(header, rows);
    if first_page {
        return text;
    }
    text.split_once('\n')
        .map(|(_, rows)| rows.to_string())
        .unwrap_or_default()
}

/// A page of the report's listings as CSV (the header on the first page only), RFC 3339
/// times, empty cells for none.
pub fn report_csv(listings: &[ShadowListingView], first_page: bool) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if first_page {
        writer.write_record([
            "listing_id",
            "sku",
            "would_set",
            "shown",
            "difference",
            "differs_since",
            "read_at",
        ])?;
    }
    for listing in listings {
        writer.write_record([
            listing.listing_id.clone(),
            listing.sku.clone(),
            listing.would_set.to_string(),
            listing
                .shown
                .map(|shown| shown.to_string())
                .unwrap_or_default(),
            listing.difference.to_string(),
            listing
                .differs_since
                .map(|at| at.to_rfc3339())
                .unwrap_or_default(),
            listing.read_at.to_rfc3339(),
        ])?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The first line of a dry run, printed before its pages.
pub fn dry_run_head(channel: &str) -> String {
    format!(
        "dry run: switching {channel} to live makes these writes in its first sweep (nothing switched; --apply to switch)\n"
    )
}

/// The last line of a dry run, once every page was printed.
pub fn dry_run_tail(writes: u64) -> String {
    format!("dry run: {writes} write(s) in all\n")
}

/// The switch's answer as text: since when the channel is live, how many writes its first
/// sweep makes, then the first of them.
pub fn switched_text(answer: &GoLiveResponse) -> String {
    let count = answer.write_count.unwrap_or(answer.writes.len() as u64);
    let mut head = format!(
        "channel {} is live since {}: its first sweep makes {count} write(s)",
        answer.id,
        when(answer.went_live_at),
    );
    if count > answer.writes.len() as u64 {
        head.push_str(&format!(" (the first {} listed)", answer.writes.len()));
    }
    head + "\n" + &writes_text(&answer.writes, true)
}

/// A page of planned writes as text, the header on the first page only.
pub fn writes_text(writes: &[PlannedWriteView], first_page: bool) -> String {
    let rows: Vec<Vec<String>> = writes
        .iter()
        .map(|write| {
            vec![
                write.listing_id.clone(),
                write.sku.clone(),
                quantity(write.shown),
                write.to_set.to_string(),
                when(write.read_at),
            ]
        })
        .collect();
    page_table(
        &["LISTING", "SKU", "SHOWN", "TO SET", "READ AT"],
        &rows,
        first_page,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listing(id: &str, would_set: i64, shown: Option<i64>) -> ShadowListingView {
        serde_json::from_value(json!({
            "listing_id": id, "sku": "S", "would_set": would_set, "shown": shown,
            "difference": would_set - shown.unwrap_or(0), "read_at": "2026-01-01T00:00:00Z",
            "differs_since": if shown == Some(would_set) { json!(null) } else { json!("2026-01-01T00:00:00Z") }
        }))
        .unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn the_csv_has_one_row_per_listing_with_empty_cells_for_none() {
        let csv = report_csv(&[listing("L-1", 5, Some(5)), listing("L-2", 7, None)], true)
            .unwrap_or_else(|error| panic!("{error}"));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "listing_id,sku,would_set,shown,difference,differs_since,read_at"
        );
        assert_eq!(lines[1], "L-1,S,5,5,0,,2026-01-01T00:00:00+00:00");
        assert_eq!(
            lines[2],
            "L-2,S,7,,7,2026-01-01T00:00:00+00:00,2026-01-01T00:00:00+00:00"
        );
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn later_pages_come_without_the_header() {
        let page = [listing("L-3", 1, Some(1))];
        let csv = report_csv(&page, false).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(csv, "L-3,S,1,1,0,,2026-01-01T00:00:00+00:00\n");
        let first = report_rows_text(&page, true);
        let later = report_rows_text(&page, false);
        assert!(first.starts_with("LISTING"), "{first}");
        assert!(later.starts_with("L-3"), "{later}");
        assert_eq!(later.lines().count(), 1, "{later}");
    }

    #[test]
    fn the_summary_names_the_largest_differences() {
        let summary = ShadowSummaryView {
            in_agreement: 3,
            differing: 1,
            last_read_at: None,
            differing_since: None,
            largest_differences: vec![listing("L-9", 8, Some(2))],
        };
        assert_eq!(
            summary_line(&summary),
            "3 in agreement, 1 differing (largest: L-9 2→8)"
        );
    }
}
