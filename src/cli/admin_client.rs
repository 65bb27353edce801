//! `omnistock resync|channels|channel pause|resume|go-live|shadow|dead-letters|quarantine`: the operators'
//! controls from the command line. They talk to the running daemon's admin API (address and token from the
//! configuration — `http.listen`, `admin.token` — or from `--url` / `--token`) and print
//! readable tables; `resync` follows its job with a progress bar until it ends.

use super::shadow::ShadowFormat;
use crate::http::admin::channels::{ChannelStatus, PushStatus};
use crate::http::admin::dead_letters::{DeadLetterAction, DeadLetterView};
use crate::http::admin::jobs::{JobState, JobView};
use crate::http::admin::quarantine::{QuarantineAction, QuarantinedOrderView};
use crate::http::admin::shadow::{GoLiveResponse, ShadowReport};
use crate::ledger::ResyncMode;
use crate::settings::Settings;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How often a followed resync job is read.
pub(super) const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
const PROGRESS_BAR_WIDTH: usize = 30;

/// Where the daemon's admin API is and how to authenticate.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Connection {
    /// The daemon's base URL; default: http:// and `http.listen` of the configuration.
    #[arg(long, env = "OMNISTOCK_ADMIN_URL", value_name = "URL")]
    pub url: Option<String>,
    /// The admin token; default: `admin.token` of the configuration.
    #[arg(
        long,
        env = "OMNISTOCK_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// `omnistock resync`
#[derive(Debug, Clone, clap::Args)]
pub struct ResyncArgs {
    /// Only this channel (default: every enabled channel).
    #[arg(long)]
    pub channel: Option<String>,
    /// Only these SKUs' listings (repeat the flag); default: every listing.
    #[arg(long = "sku", value_name = "SKU")]
    pub skus: Vec<String>,
    /// `push` sends every listing's quantity; `reconcile` reads the channel and pushes only
    /// what differs, recording each drift.
    #[arg(long, value_enum, default_value = "push")]
    pub mode: ModeArg,
    /// Print the job and return at once instead of following it.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    Push,
    Reconcile,
}

impl From<ModeArg> for ResyncMode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Push => Self::Push,
            ModeArg::Reconcile => Self::Reconcile,
        }
    }
}

/// `omnistock channels`
#[derive(Debug, Clone, clap::Args)]
pub struct ChannelsArgs {
    #[command(flatten)]
    pub connection: Connection,
}

/// `omnistock channel …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ChannelCommand {
    /// Stop stock pushes to the channel (orders are still booked).
    Pause {
        channel: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Resume stock pushes; what accumulated is pushed, coalesced.
    Resume {
        channel: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Switch a channel in shadow mode to live: by default a dry run listing every write the
    /// first sweep will make (listing, shown quantity, quantity to set); `--apply` switches
    /// (stored in the ledger, so every replica follows and a restart keeps it).
    GoLive(super::shadow::GoLiveArgs),
}

/// `omnistock dead-letters`
#[derive(Debug, Clone, clap::Args)]
pub struct DeadLettersArgs {
    /// Only this channel's.
    #[arg(long)]
    pub channel: Option<String>,
    /// Send this dead letter's update again.
    #[arg(long, value_name = "ID", conflicts_with = "discard")]
    pub retry: Option<i64>,
    /// Drop this dead letter.
    #[arg(long, value_name = "ID")]
    pub discard: Option<i64>,
    #[command(flatten)]
    pub connection: Connection,
}

/// `omnistock quarantine list|retry|discard`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum QuarantineCommand {
    /// List the order events refused for good, with their errors.
    List {
        /// Only this channel's.
        #[arg(long)]
        channel: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Book a quarantined order again (after fixing what refused it).
    Retry {
        id: i64,
        #[command(flatten)]
        connection: Connection,
    },
    /// Drop a quarantined order: nothing of it is booked.
    Discard {
        id: i64,
        #[command(flatten)]
        connection: Connection,
    },
}

/// One of the admin commands.
#[derive(Debug, Clone)]
pub enum AdminCommand {
    Resync(ResyncArgs),
    Channels(ChannelsArgs),
    Channel(ChannelCommand),
    DeadLetters(DeadLettersArgs),
    Quarantine(QuarantineCommand),
    Explain(super::explain::ExplainArgs),
    Shadow(super::shadow::ShadowArgs),
    Report(super::report::ReportCommand),
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    #[error("no admin token: set admin.token in the configuration or pass --token")]
    NoToken,
    #[error("cannot reach the daemon at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the daemon answered {status}: {message}")]
    Refused { status: StatusCode, message: String },
    #[error("unexpected answer from the daemon: {0}")]
    BadAnswer(String),
    #[error("job {id} ended {state}: {error}")]
    JobFailed {
        id: String,
        state: String,
        error: String,
    },
}

/// Runs an admin command; what it prints goes to standard output (progress to standard error).
pub async fn run(settings: &Settings, command: AdminCommand) -> Result<(), AdminClientError> {
    match command {
        AdminCommand::Resync(args) => {
            let client = AdminClient::new(settings, &args.connection)?;
            resync(&client, &args).await
        }
        AdminCommand::Channels(args) => {
            let client = AdminClient::new(settings, &args.connection)?;
            let channels: Vec<ChannelStatus> = client.get("/admin/channels").await?;
            print!("{}", channels_table(&channels));
            Ok(())
        }
        AdminCommand::Channel(ChannelCommand::Pause {
            channel,
            connection,
        }) => set_paused(&AdminClient::new(settings, &connection)?, &channel, true).await,
        AdminCommand::Channel(ChannelCommand::Resume {
            channel,
            connection,
        }) => set_paused(&AdminClient::new(settings, &connection)?, &channel, false).await,
        AdminCommand::Channel(ChannelCommand::GoLive(args)) => {
            let client = AdminClient::new(settings, &args.connection)?;
            if args.apply {
                go_live(&client, &args.channel).await
            } else {
                dry_run(&client, &args.channel, args.page_size).await
            }
        }
        AdminCommand::Shadow(args) => {
            let client = AdminClient::new(settings, &args.connection)?;
            shadow_report(&client, &args).await
        }
        AdminCommand::DeadLetters(args) => {
            let client = AdminClient::new(settings, &args.connection)?;
            dead_letters(&client, &args).await
        }
        AdminCommand::Quarantine(command) => quarantine(settings, command).await,
        AdminCommand::Explain(args) => {
            let client = AdminClient::new(settings, &args.connection)?;
            let mut path = format!("/admin/items/{}/explain", path_segment(&args.sku));
            if let Some(channel) = &args.channel {
                path.push_str(&format!("?channel={}", path_segment(channel)));
            }
            let explanation: Value = client.get(&path).await?;
            print!("{}", super::explain::explain_text(&explanation));
            Ok(())
        }
        AdminCommand::Report(super::report::ReportCommand::Channels(args)) => {
            let client = AdminClient::new(settings, &args.connection)?;
            let report: crate::reports::ChannelsReport =
                client.get(&args.path(chrono::Utc::now())).await?;
            print!("{}", super::report::render(&report, args.format));
            Ok(())
        }
    }
}

pub(super) struct AdminClient {
    base_url: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub(super) fn new(
        settings: &Settings,
        connection: &Connection,
    ) -> Result<Self, AdminClientError> {
        let base_url = connection
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{}", connectable(settings.http.listen)));
        let token = connection
            .token
            .clone()
            .or_else(|| {
                settings
                    .admin
                    .token
                    .as_ref()
                    .map(|token| token.expose().to_string())
            })
            .filter(|token| !token.is_empty())
            .ok_or(AdminClientError::NoToken)?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::new(),
        })
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AdminClientError> {
        let request = self.http.get(format!("{}{path}", self.base_url));
        self.send(request).await
    }

    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
    ) -> Result<T, AdminClientError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(&body);
        self.send(request).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, AdminClientError> {
        let unreachable = |source| AdminClientError::Unreachable {
            url: self.base_url.clone(),
            source,
        };
        let response = request
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|body| body["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(AdminClientError::Refused { status, message });
        }
        serde_json::from_slice(&body)
            .map_err(|error| AdminClientError::BadAnswer(error.to_string()))
    }
}

/// `text` percent-encoded for a URL path segment or query value (a SKU may hold `/` or `?`).
pub(super) fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A listen address one can connect to: "all interfaces" means this machine.
fn connectable(listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
    } else {
        listen
    }
}

/// Prints `text` at once: a page of a long listing is out before the next is asked for.
fn print_now(text: &str) -> Result<(), AdminClientError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|error| AdminClientError::BadAnswer(format!("writing the output: {error}")))
}

/// `omnistock shadow`: every page of the report, each printed as it comes.
async fn shadow_report(
    client: &AdminClient,
    args: &super::shadow::ShadowArgs,
) -> Result<(), AdminClientError> {
    let base = format!(
        "/admin/channels/{}/shadow?limit={}&differing={}",
        path_segment(&args.channel),
        args.page_size,
        args.differing
    );
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(after) => format!("{base}&after={}", path_segment(after)),
            None => base.clone(),
        };
        let report: ShadowReport = client.get(&path).await?;
        let first_page = after.is_none();
        let text = match args.format {
            ShadowFormat::Table => {
                let head = if first_page {
                    super::shadow::report_head(&report)
                } else {
                    String::new()
                };
                head + &super::shadow::report_rows_text(&report.listings, first_page)
            }
            ShadowFormat::Csv => super::shadow::report_csv(&report.listings, first_page)
                .map_err(|error| AdminClientError::BadAnswer(error.to_string()))?,
        };
        print_now(&text)?;
        match report.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

/// `omnistock channel go-live` without `--apply`: every page of the dry run, each printed as
/// it comes, then how many writes in all.
async fn dry_run(
    client: &AdminClient,
    channel: &str,
    page_size: usize,
) -> Result<(), AdminClientError> {
    let base = format!(
        "/admin/channels/{}/go-live?limit={page_size}",
        path_segment(channel)
    );
    print_now(&super::shadow::dry_run_head(channel))?;
    let mut after: Option<String> = None;
    let mut writes = 0_u64;
    loop {
        let path = match &after {
            Some(after) => format!("{base}&after={}", path_segment(after)),
            None => base.clone(),
        };
        let page: GoLiveResponse = client.post(&path, json!({ "dry_run": true })).await?;
        writes += page.writes.len() as u64;
        print_now(&super::shadow::writes_text(&page.writes, after.is_none()))?;
        match page.next {
            Some(next) => after = Some(next),
            None => return print_now(&super::shadow::dry_run_tail(writes)),
        }
    }
}

/// `omnistock channel go-live --apply`: the switch, with how many writes its first sweep makes
/// and the first of them.
async fn go_live(client: &AdminClient, channel: &str) -> Result<(), AdminClientError> {
    let path = format!("/admin/channels/{}/go-live", path_segment(channel));
    let answer: GoLiveResponse = client.post(&path, json!({ "dry_run": false })).await?;
    print_now(&super::shadow::switched_text(&answer))
}

async fn resync(client: &AdminClient, args: &ResyncArgs) -> Result<(), AdminClientError> {
    let mut body = json!({ "mode": ResyncMode::from(args.mode) });
    if let Some(channel) = &args.channel {
        body["channel"] = json!(channel);
    }
    if !args.skus.is_empty() {
        body["skus"] = json!(args.skus);
    }
    let mut job: JobView = client.post("/admin/resync", body).await?;
    if args.no_wait {
        print!("{}", jobs_table(std::slice::from_ref(&job)));
        return Ok(());
    }
    let mut stderr = std::io::stderr();
    loop {
        let _ = write!(stderr, "\r{}", progress_line(&job));
        let _ = stderr.flush();
        if !matches!(job.state, JobState::Queued | JobState::Running) {
            break;
        }
        tokio::time::sleep(PROGRESS_INTERVAL).await;
        job = client.get(&format!("/admin/jobs/{}", job.id)).await?;
    }
    let _ = writeln!(stderr);
    print!("{}", jobs_table(std::slice::from_ref(&job)));
    if job.state == JobState::Succeeded {
        Ok(())
    } else {
        Err(AdminClientError::JobFailed {
            id: job.id,
            state: format!("{:?}", job.state).to_lowercase(),
            error: job
                .last_error
                .unwrap_or_else(|| format!("{} errors", job.errors)),
        })
    }
}

/// `[#######-------]  140/300 listings  pushed 12  drifts 3  errors 0  running`
pub fn progress_line(job: &JobView) -> String {
    let filled = if job.total > 0 {
        (job.done.clamp(0, job.total) as usize * PROGRESS_BAR_WIDTH) / job.total as usize
    } else if job.state == JobState::Running || job.state == JobState::Queued {
        0
    } else {
        PROGRESS_BAR_WIDTH
    };
    format!(
        "[{}{}] {:>5}/{:<5} listings  pushed {}  drifts {}  errors {}  {}",
        "#".repeat(filled),
        "-".repeat(PROGRESS_BAR_WIDTH - filled),
        job.done,
        job.total,
        job.pushed,
        job.drifts,
        job.errors,
        format!("{:?}", job.state).to_lowercase(),
    )
}

async fn set_paused(
    client: &AdminClient,
    channel: &str,
    paused: bool,
) -> Result<(), AdminClientError> {
    let action = if paused { "pause" } else { "resume" };
    let _: Value = client
        .post(&format!("/admin/channels/{channel}/{action}"), json!({}))
        .await?;
    println!(
        "channel {channel} {}",
        if paused { "paused" } else { "resumed" }
    );
    Ok(())
}

async fn dead_letters(
    client: &AdminClient,
    args: &DeadLettersArgs,
) -> Result<(), AdminClientError> {
    if let Some(id) = args.retry {
        let action: DeadLetterAction = client
            .post(&format!("/admin/dead-letters/{id}/retry"), json!({}))
            .await?;
        println!(
            "dead letter {id} ({} on {}) retrying",
            action.dead_letter.listing_id, action.dead_letter.channel
        );
        return Ok(());
    }
    if let Some(id) = args.discard {
        let action: DeadLetterAction = client
            .post(&format!("/admin/dead-letters/{id}/discard"), json!({}))
            .await?;
        println!(
            "dead letter {id} ({} on {}) discarded",
            action.dead_letter.listing_id, action.dead_letter.channel
        );
        return Ok(());
    }
    let path = match &args.channel {
        Some(channel) => format!("/admin/dead-letters?channel={channel}"),
        None => "/admin/dead-letters".to_string(),
    };
    let letters: Vec<DeadLetterView> = client.get(&path).await?;
    print!("{}", dead_letters_table(&letters));
    Ok(())
}

async fn quarantine(
    settings: &Settings,
    command: QuarantineCommand,
) -> Result<(), AdminClientError> {
    match command {
        QuarantineCommand::List {
            channel,
            connection,
        } => {
            let client = AdminClient::new(settings, &connection)?;
            let path = match channel {
                Some(channel) => format!("/admin/quarantine?channel={channel}"),
                None => "/admin/quarantine".to_string(),
            };
            let orders: Vec<QuarantinedOrderView> = client.get(&path).await?;
            print!("{}", quarantine_table(&orders));
        }
        QuarantineCommand::Retry { id, connection } => {
            // A refusal is answered 422 with the new error, reported as the command's error.
            let client = AdminClient::new(settings, &connection)?;
            let action: QuarantineAction = client
                .post(&format!("/admin/quarantine/{id}/retry"), json!({}))
                .await?;
            println!(
                "quarantined order {id} booked ({})",
                action.result.unwrap_or_default()
            );
        }
        QuarantineCommand::Discard { id, connection } => {
            let client = AdminClient::new(settings, &connection)?;
            let action: QuarantineAction = client
                .post(&format!("/admin/quarantine/{id}/discard"), json!({}))
                .await?;
            let (order, channel) = action
                .quarantined
                .map(|order| (order.order, order.channel))
                .unwrap_or_default();
            println!("quarantined order {id} ({order} on {channel}) discarded");
        }
    }
    Ok(())
}

pub fn quarantine_table(orders: &[QuarantinedOrderView]) -> String {
    let rows: Vec<Vec<String>> = orders
        .iter()
        .map(|order| {
            vec![
                order.id.to_string(),
                order.channel.clone(),
                order.order.clone(),
                order.attempts.to_string(),
                order.last_failed_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                order.error.clone(),
            ]
        })
        .collect();
    table(
        &["ID", "CHANNEL", "ORDER", "ATTEMPTS", "LAST FAILED", "ERROR"],
        &rows,
    )
}

/// Left-aligned columns separated by two spaces, a header line first.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut line = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if index + 1 == cells.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    text
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |value| value.to_string())
}

/// The sweep under way and how far it got, else when the last one finished.
fn sweep_cell(push: &PushStatus) -> String {
    match (&push.sweep, push.last_sweep_done_at) {
        (Some(sweep), _) => format!("{} ({} SKUs read)", sweep.cause, sweep.skus_read),
        (None, Some(done)) => format!("done {}", done.format("%H:%M:%S")),
        (None, None) => "-".to_string(),
    }
}

pub fn channels_table(channels: &[ChannelStatus]) -> String {
    let rows: Vec<Vec<String>> = channels
        .iter()
        .map(|channel| {
            let state = match (channel.enabled, channel.paused) {
                (false, _) => "disabled",
                (true, true) => "paused",
                (true, false) if channel.push.degraded == Some(true) => "degraded",
                (true, false) if channel.mode == "shadow" => "shadow",
                (true, false) => "active",
            };
            let webhooks = if channel.webhooks_last_hour.is_empty() {
                "-".to_string()
            } else {
                channel
                    .webhooks_last_hour
                    .iter()
                    .map(|(status, count)| format!("{status}:{count}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let budget = match (
                &channel.rate_limit.limit,
                channel.rate_limit.remaining_per_minute,
            ) {
                (Some(limit), Some(remaining)) => format!("{limit} ({remaining}/min left)"),
                _ => "none".to_string(),
            };
            vec![
                channel.id.clone(),
                channel.kind.clone(),
                state.to_string(),
                or_dash(channel.orders.last_pull_at.map(|at| at.format("%H:%M:%S"))),
                or_dash(
                    channel
                        .orders
                        .cursor_age_seconds
                        .map(|age| format!("{age}s")),
                ),
                webhooks,
                format!(
                    "{}/{}",
                    channel.push.backlog_skus,
                    or_dash(channel.push.listings_out_of_date)
                ),
                sweep_cell(&channel.push),
                budget,
                or_dash(channel.reconciliation.as_ref().map(|r| {
                    format!(
                        "{} ({} drift)",
                        r.finished_at.format("%m-%d %H:%M"),
                        r.drifts
                    )
                })),
                channel.dead_letters.to_string(),
                channel.quarantined_orders.to_string(),
                or_dash(channel.cut_over.map(|at| at.format("%Y-%m-%d %H:%M"))),
                or_dash(channel.push.last_error.as_ref().map(|e| e.error.clone())),
                or_dash(channel.shadow.as_ref().map(super::shadow::summary_line)),
            ]
        })
        .collect();
    table(
        &[
            "CHANNEL",
            "KIND",
            "STATE",
            "LAST PULL",
            "CURSOR AGE",
            "WEBHOOKS 1H",
            "BACKLOG/STALE",
            "SWEEP",
            "RATE LIMIT",
            "LAST RECONCILE",
            "DEAD",
            "QUARANTINED",
            "CUT-OVER",
            "LAST PUSH ERROR",
            "SHADOW",
        ],
        &rows,
    )
}

pub fn jobs_table(jobs: &[JobView]) -> String {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            vec![
                job.id.clone(),
                job.channel.clone().unwrap_or_else(|| "all".to_string()),
                job.kind.as_str().to_string(),
                job.mode.as_str().to_string(),
                format!("{:?}", job.state).to_lowercase(),
                format!("{}/{}", job.done, job.total),
                job.pushed.to_string(),
                job.drifts.to_string(),
                job.errors.to_string(),
                or_dash(job.last_error.clone()),
            ]
        })
        .collect();
    table(
        &[
            "JOB",
            "CHANNEL",
            "KIND",
            "MODE",
            "STATE",
            "DONE",
            "PUSHED",
            "DRIFTS",
            "ERRORS",
            "LAST ERROR",
        ],
        &rows,
    )
}

pub fn dead_letters_table(letters: &[DeadLetterView]) -> String {
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|letter| {
            vec![
                letter.id.to_string(),
                letter.channel.clone(),
                letter.listing_id.clone(),
                letter.sku.clone(),
                letter.quantity.to_string(),
                letter.attempts.to_string(),
                letter
                    .last_failed_at
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                letter.error.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "CHANNEL",
            "LISTING",
            "SKU",
            "QUANTITY",
            "ATTEMPTS",
            "LAST FAILED",
            "ERROR",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let text = table(
            &["ID", "NAME"],
            &[
                vec!["1".into(), "short".into()],
                vec!["100".into(), "x".into()],
            ],
        );
        assert_eq!(text, "ID   NAME\n1    short\n100  x\n");
    }

    #[test]
    fn the_sweep_cell_shows_a_running_sweep_or_the_last_ones_end() {
        let push = |sweep: Value, done: Value| -> PushStatus {
            serde_json::from_value(json!({
                "backlog_skus": 0, "listings_out_of_date": 0,
                "listings_out_of_date_counted_at": null, "last_confirmed_at": null,
                "last_error": null, "sweep": sweep, "last_sweep_done_at": done
            }))
            .unwrap_or_else(|error| panic!("{error}"))
        };
        let running = json!({
            "cause": "start-up", "started_at": "2026-01-01T00:00:00Z", "skus_read": 1500
        });
        assert_eq!(
            sweep_cell(&push(running, Value::Null)),
            "start-up (1500 SKUs read)"
        );
        assert_eq!(
            sweep_cell(&push(Value::Null, json!("2026-01-01T10:11:12Z"))),
            "done 10:11:12"
        );
        assert_eq!(sweep_cell(&push(Value::Null, Value::Null)), "-");
    }

    #[test]
    fn the_progress_bar_fills_with_the_work_done() {
        let job: JobView = serde_json::from_value(json!({
            "id": "j", "channel": null, "skus": null, "mode": "push", "trigger": "api",
            "state": "running", "total": 10, "done": 5, "pushed": 4, "drifts": 0, "errors": 0,
            "last_error": null, "restarted_from": null, "created_at": "2026-01-01T00:00:00Z",
            "started_at": null, "finished_at": null
        }))
        .unwrap_or_else(|error| panic!("{error}"));
        let line = progress_line(&job);
        assert!(
            line.starts_with(&format!("[{}{}]", "#".repeat(15), "-".repeat(15))),
            "{line}"
        );
        assert!(line.contains("5/10"), "{line}");
        assert!(line.ends_with("running"), "{line}");
    }
}
