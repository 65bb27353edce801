//! `omnistock listings discover` and `omnistock stock import --from-channel`: the channel's
//! catalog read by this process through a gateway of its own (the channel's rate limit,
//! pacing and retries), matched against the ledger, reported, and applied with `--apply`.

use super::admin_client::{
    path_segment, AdminClient, AdminClientError, Connection, PROGRESS_INTERVAL,
};
use super::CliError;
use crate::http::admin::jobs::{JobResult, JobState, JobView};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::ops::channel_count::{self, ChannelCountReport};
use crate::ops::discovery::{self, DiscoveredListing, DiscoveryReport, ListingClass};
use crate::settings::Settings;
use crate::sync::gateway::Interrupt;
use crate::sync::ChannelRuntime;
use serde_json::json;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// How a report is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// For a person.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// The configured channel `channel_id`, built as the daemon builds it.
fn channel(
    settings: &Settings,
    ledger: &Ledger,
    channel_id: &str,
) -> Result<ChannelRuntime, CliError> {
    let mut channels = crate::app::build_channels(settings, &Metrics::new(), ledger)?;
    channels
        .remove(channel_id)
        .ok_or_else(|| CliError::UnknownChannel(channel_id.to_string()))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(value).map_err(|error| CliError::Export(error.to_string()))
}

/// Runs `listings discover --via-admin`: a discovery job of the daemon, followed to its end
/// (progress on standard error); returns the report to print and the summary line.
pub async fn discover_via_admin(
    settings: &Settings,
    connection: &Connection,
    channel_id: &str,
    apply: bool,
    since: Option<&Path>,
    format: ReportFormat,
) -> Result<(String, String), CliError> {
    let earlier = since.map(read_report).transpose()?;
    let client = AdminClient::new(settings, connection)?;
    let path = format!("/admin/channels/{}/discover", path_segment(channel_id));
    let mut job: JobView = client.post(&path, json!({ "apply": apply })).await?;
    let mut stderr = std::io::stderr();
    while matches!(job.state, JobState::Queued | JobState::Running) {
        let _ = write!(
            stderr,
            "\rjob {}: {} listing(s) read in {} page(s)",
            job.id, job.done, job.pages
        );
        let _ = stderr.flush();
        tokio::time::sleep(PROGRESS_INTERVAL).await;
        job = client.get(&format!("/admin/jobs/{}", job.id)).await?;
    }
    let _ = writeln!(stderr);
    let mut report = match job.result {
        Some(JobResult::Discover(report)) if job.state == JobState::Succeeded => report,
        _ => {
            return Err(CliError::Admin(AdminClientError::JobFailed {
                id: job.id,
                state: job.state.as_str().to_string(),
                error: job.last_error.unwrap_or_else(|| "no report".to_string()),
            }))
        }
    };
    if let Some(earlier) = &earlier {
        report.compare_with(earlier);
    }
    summarize(report, format)
}

/// Runs `listings discover`; returns the report to print and the summary line.
pub async fn discover(
    settings: &Settings,
    ledger: &Ledger,
    channel_id: &str,
    apply: bool,
    since: Option<&Path>,
    format: ReportFormat,
) -> Result<(String, String), CliError> {
    let earlier = since.map(read_report).transpose()?;
    let channel = channel(settings, ledger, channel_id)?;
    let mut report = discovery::discover(ledger, &channel, apply, Interrupt::never(), |_| {})
        .await
        .map_err(CliError::Catalog)?;
    if let Some(earlier) = &earlier {
        report.compare_with(earlier);
    }
    summarize(report, format)
}

/// A discovery report printed in `format`, and its summary line.
fn summarize(report: DiscoveryReport, format: ReportFormat) -> Result<(String, String), CliError> {
    let printed = match format {
        ReportFormat::Text => discovery_text(&report),
        ReportFormat::Json => json(&report)?,
    };
    let new = report.count(ListingClass::New);
    let left_alone = report
        .recheck
        .as_ref()
        .map_or(0, |recheck| recheck.left_alone);
    let summary = match report.applied {
        Some(bound) if left_alone > 0 => format!(
            "{bound} listing(s) bound; {left_alone} changed since they were classified and were left alone"
        ),
        Some(bound) => format!("{bound} listing(s) bound"),
        None => format!(
            "dry run: nothing bound; --apply binds the {new} new listing(s) in one transaction"
        ),
    };
    Ok((printed, summary))
}

/// A discovery report saved as JSON by an earlier run.
fn read_report(path: &Path) -> Result<DiscoveryReport, CliError> {
    let text = super::read_file(path)?;
    serde_json::from_str(&text).map_err(|error| CliError::File {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
    })
}

/// One listing named in a report: its id, its SKU and why it is where it is.
fn example_line(text: &mut String, example: &DiscoveredListing) {
    let _ = writeln!(
        text,
        "  {:<24} {:<24} {}",
        example.listing_id.as_deref().unwrap_or("-"),
        example.sku.as_deref().unwrap_or("-"),
        example.detail.as_deref().unwrap_or("")
    );
}

/// A discovery report for a person: the count of each class, then examples of each.
pub fn discovery_text(report: &DiscoveryReport) -> String {
    let mut text = format!(
        "catalog of {}: {} listing(s) in {} page(s)\n",
        report.channel, report.listings, report.pages
    );
    for class in ListingClass::ALL {
        let _ = writeln!(text, "  {:<18} {:>8}", class.as_str(), report.count(class));
    }
    for class in ListingClass::ALL {
        let Some(examples) = report.examples.get(&class).filter(|e| !e.is_empty()) else {
            continue;
        };
        let _ = writeln!(text, "{}:", class.as_str());
        for example in examples {
            example_line(&mut text, example);
        }
        let more = report.count(class).saturating_sub(examples.len() as u64);
        if more > 0 && class != ListingClass::Ambiguous {
            let _ = writeln!(text, "  … and {more} more");
        }
    }
    if let Some(recheck) = report.recheck.as_ref().filter(|r| r.left_alone > 0) {
        let _ = writeln!(
            text,
            "left alone at apply (changed since classified): {}",
            recheck.left_alone
        );
        for example in &recheck.examples {
            example_line(&mut text, example);
        }
    }
    match &report.since_dry_run {
        Some(changes) if changes.is_empty() => {
            let _ = writeln!(text, "since the dry run: no class changed");
        }
        Some(changes) => {
            let _ = writeln!(text, "since the dry run:");
            for change in changes {
                let _ = writeln!(
                    text,
                    "  {:<18} {:>8} -> {}",
                    change.class.as_str(),
                    change.dry_run,
                    change.now
                );
            }
        }
        None => {}
    }
    text
}

/// Runs `stock import --from-channel`; returns the report to print and the summary line.
pub async fn import_from_channel(
    settings: &Settings,
    ledger: &Ledger,
    channel_id: &str,
    location: Option<&str>,
    apply: bool,
    format: ReportFormat,
) -> Result<(String, String), CliError> {
    let channel = channel(settings, ledger, channel_id)?;
    let report = channel_count::count_from_channel(
        ledger,
        &channel,
        location,
        apply,
        Interrupt::never(),
        |_| {},
    )
    .await
    .map_err(CliError::Catalog)?;
    let printed = match format {
        ReportFormat::Text => count_text(&report),
        ReportFormat::Json => json(&report)?,
    };
    let summary = match report.applied {
        Some(applied) => format!(
            "{applied} count(s) applied at {} from channel {}",
            report.location, report.channel
        ),
        None => format!(
            "dry run: nothing counted; --apply sets the {} on hand(s) above in one transaction",
            report.changes.len()
        ),
    };
    Ok((printed, summary))
}

/// A count report for a person: every item that changes, then what was left out.
pub fn count_text(report: &ChannelCountReport) -> String {
    let mut text = format!(
        "count of {} at {}: {} listing(s) in {} page(s), {} item(s) change, {} already match\n",
        report.channel,
        report.location,
        report.listings,
        report.pages,
        report.changes.len(),
        report.unchanged
    );
    if !report.changes.is_empty() {
        let _ = writeln!(
            text,
            "  {:<24} {:<12} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "sku", "location", "on_hand", "reserved", "channel", "counted", "change"
        );
    }
    for change in &report.changes {
        let _ = writeln!(
            text,
            "  {:<24} {:<12} {:>9} {:>9} {:>9} {:>9} {:>+9}",
            change.sku,
            change.location,
            change.on_hand,
            change.reserved,
            change.channel_quantity,
            change.counted,
            change.change
        );
    }
    for (reason, listings) in &report.skipped {
        let _ = writeln!(
            text,
            "left out ({}): {listings} listing(s)",
            reason.as_str()
        );
    }
    text
}
