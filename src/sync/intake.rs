//! Order intake: books normalized order events from webhooks and polling in the ledger.
//!
//! Both paths end here, so a webhook copy and a polled copy of one order meet in the same
//! idempotent booking (the ledger applies an order snapshot only once, and ignores older ones).
//!
//! Bookings are group-committed: every `book` call is queued, and a few writer tasks each take
//! whatever is waiting (up to [`MAX_GROUP_EVENTS`]) and book it in one ledger transaction
//! ([`Ledger::book_orders`]). Under load many webhooks share one commit; when idle a booking
//! waits for nobody. A writer finishes a booking even if the webhook that asked for it hung up,
//! so its metrics and logs are never lost and the platform's redelivery finds it done.
//!
//! A webhook waits for its booking at most a bound ([`Intake::book_within`]): when the database
//! does not answer, the platform gets 503 in time instead of timing out itself. A booking whose
//! bound has passed before a writer takes it is not booked at all (its caller answered 503). One
//! already being booked when the bound passes may still commit after the 503; the platform's
//! redelivery then books nothing twice (its delivery id is known, and its order snapshot equals
//! the booked one).

use crate::ledger::{Backend, BookingOutcome, BookingRequest, BookingResult, Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::sync::channel::ChannelRuntime;
use omnistock_connector::OrderEvent;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::{debug, info, warn};

/// The most order events one writer books in one transaction: large enough to share a commit
/// among many webhooks, small enough to keep each transaction's locks short.
pub const MAX_GROUP_EVENTS: usize = 256;

/// The longest pause an SQLite writer takes between groups (see `run_writer`).
const MAX_SQLITE_BREATH: Duration = Duration::from_millis(10);

/// How many bookings may wait for a writer before `book` itself waits (back-pressure).
const QUEUE_CAPACITY: usize = 4_096;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the booking writers have stopped")]
    WritersStopped,
    /// The caller's bound passed (see [`Intake::book_within`]).
    #[error("the booking was not done in time")]
    TimedOut,
}

/// The booking writers for the backend when the settings leave it open: SQLite has one write
/// lock, so one writer; PostgreSQL books groups side by side on two connections (measured on
/// two cores: two writers book more than one, and more than two mostly wait for each other's
/// balance rows while their groups shrink).
pub fn default_writers(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 2,
    }
}

/// Each event's booking result, in the order of the events.
pub type EventResults = Vec<Result<BookingOutcome, LedgerError>>;

/// One `book` call waiting for a writer.
struct BookingJob {
    channel: ChannelRuntime,
    events: Vec<OrderEvent>,
    /// After this the caller no longer waits, and a writer that has not started the booking
    /// skips it.
    deadline: Option<Instant>,
    reply: oneshot::Sender<Result<EventResults, IntakeError>>,
}

#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<BookingJob>,
    /// Where refused events are quarantined.
    pub(crate) ledger: Ledger,
}

impl Intake {
    /// Starts `writers` booking tasks (at least one); they stop when the last clone of the
    /// intake is dropped, after booking what was queued.
    pub fn new(ledger: Ledger, metrics: Metrics, writers: usize) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..writers.max(1) {
            tokio::spawn(run_writer(ledger.clone(), metrics.clone(), jobs.clone()));
        }
        Self { queue, ledger }
    }

    /// Books every event in order; each booking is durable when this returns `Ok`. On an error
    /// the caller answers so that the platform redelivers (webhooks) or keeps its cursor
    /// (polling); the replay is harmless, including for the events that were booked.
    pub async fn book(
        &self,
        channel: &ChannelRuntime,
        events: &[OrderEvent],
    ) -> Result<Vec<BookingOutcome>, IntakeError> {
        let mut outcomes = Vec::with_capacity(events.len());
        for result in self.book_each(channel, events, None).await? {
            outcomes.push(result?);
        }
        Ok(outcomes)
    }

    /// Books every event in order and gives each its own result (see `sync/quarantine.rs` for
    /// what is done with a refused one). With `within`, waits at most that long (queueing
    /// included): then [`IntakeError::TimedOut`], and the booking is skipped unless a writer
    /// has started it (see the module's documentation for one that commits afterwards).
    pub async fn book_each(
        &self,
        channel: &ChannelRuntime,
        events: &[OrderEvent],
        within: Option<Duration>,
    ) -> Result<EventResults, IntakeError> {
        let Some(timeout) = within else {
            return self.enqueue(channel, events, None).await;
        };
        let deadline = Instant::now() + timeout;
        let booked = self.enqueue(channel, events, Some(deadline));
        match tokio::time::timeout_at(deadline.into(), booked).await {
            Ok(result) => result,
            Err(_) => Err(IntakeError::TimedOut),
        }
    }

    async fn enqueue(
        &self,
        channel: &ChannelRuntime,
        events: &[OrderEvent],
        deadline: Option<Instant>,
    ) -> Result<EventResults, IntakeError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        let job = BookingJob {
            channel: channel.clone(),
            events: events.to_vec(),
            deadline,
            reply,
        };
        self.queue
            .send(job)
            .await
            .map_err(|_| IntakeError::WritersStopped)?;
        answer.await.map_err(|_| IntakeError::WritersStopped)?
    }
}

/// Takes what waits in the queue, books it as one group, answers each job; until the queue
/// closes.
async fn run_writer(
    ledger: Ledger,
    metrics: Metrics,
    jobs: Arc<Mutex<mpsc::Receiver<BookingJob>>>,
) {
    // The orders' own locations this writer made sure exist.
    let mut known_locations: HashSet<String> = HashSet::new();
    loop {
        let group = {
            let mut jobs = jobs.lock().await;
            let Some(first) = jobs.recv().await else {
                return;
            };
            let mut events = first.events.len();
            let mut group = vec![first];
            while events < MAX_GROUP_EVENTS {
                match jobs.try_recv() {
                    Ok(job) => {
                        events += job.events.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        let started = Instant::now();
        let group = skip_expired(group, started);
        if group.is_empty() {
            continue;
        }
        create_event_locations(&ledger, &group, &mut known_locations).await;
        book_group(&ledger, &metrics, group).await;
        if ledger.backend() == Backend::Sqlite {
            // SQLite's busy wait is not fair: a writer committing group after group would
            // starve the bus and the pushers, which share the one write lock and poll for it
            // every few tens of milliseconds. A breath of a quarter of the group's time
            // (capped) leaves them a fifth of the lock; waiting orders only make the next
            // group larger.
            tokio::time::sleep((started.elapsed() / 4).min(MAX_SQLITE_BREATH)).await;
        }
    }
}

/// Answers the jobs whose caller stopped waiting before their booking started, without booking
/// them: the caller answered 503 and the platform delivers again. The others are returned.
fn skip_expired(group: Vec<BookingJob>, now: Instant) -> Vec<BookingJob> {
    let (expired, live): (Vec<BookingJob>, Vec<BookingJob>) = group
        .into_iter()
        .partition(|job| job.deadline.is_some_and(|deadline| deadline <= now));
    for job in expired {
        debug!(channel = %job.channel.id, events = job.events.len(),
            "booking skipped: its webhook stopped waiting before a writer was free");
        let _ = job.reply.send(Err(IntakeError::TimedOut));
    }
    live
}

/// Creates the locations the group's events name (`OrderEvent::location`, a mapped warehouse's)
/// that this writer has not seen yet, as the channel's own location is created at start: the
/// ledger refuses to book at an unknown location, and a poll would stop at such an order. A
/// failure is logged; the booking then fails and is tried again.
async fn create_event_locations(
    ledger: &Ledger,
    group: &[BookingJob],
    known: &mut HashSet<String>,
) {
    let named: HashSet<&str> = group
        .iter()
        .flat_map(|job| job.events.iter())
        .filter_map(|event| event.location.as_deref())
        .filter(|location| !known.contains(*location))
        .collect();
    for location in named {
        match ledger.create_location_if_missing(location).await {
            Ok(()) => {
                known.insert(location.to_string());
            }
            Err(error) => {
                warn!(location = %location, error = %error, "the location an order names could not be created");
            }
        }
    }
}

async fn book_group(ledger: &Ledger, metrics: &Metrics, group: Vec<BookingJob>) {
    let requests: Vec<BookingRequest<'_>> = group
        .iter()
        .flat_map(|job| {
            job.events.iter().map(|event| BookingRequest {
                channel_id: &job.channel.id,
                // Where the order ships from when the connector knows (a mapped warehouse).
                location: event.location.as_deref().unwrap_or(&job.channel.location),
                event,
            })
        })
        .collect();
    debug!(
        jobs = group.len(),
        events = requests.len(),
        "booking a group"
    );
    metrics.booking_group(requests.len());
    let mut results = ledger.book_orders(&requests).await.into_iter();
    drop(requests);
    for job in group {
        let mut answer = Vec::with_capacity(job.events.len());
        for event in &job.events {
            let result = results.next().unwrap_or_else(|| {
                Err(LedgerError::Corrupt(
                    "a grouped booking gave too few results".to_string(),
                ))
            });
            match &result {
                Ok(outcome) => report(metrics, &job.channel, event, outcome),
                Err(error) => {
                    warn!(channel = %job.channel.id,
                        order = %crate::ledger::quarantine::order_label(&event.external_order_id),
                        error = %error, "order event could not be booked");
                }
            }
            answer.push(result);
        }
        // The caller may have gone (a platform that hung up): the booking stands regardless.
        let _ = job.reply.send(Ok(answer));
    }
}

fn report(
    metrics: &Metrics,
    channel: &ChannelRuntime,
    event: &OrderEvent,
    outcome: &BookingOutcome,
) {
    let order = event.external_order_id.as_str();
    match outcome.result {
        BookingResult::Applied => {
            metrics.order_booked(&channel.id);
            info!(
                channel = %channel.id,
                order = %order,
                order_id = outcome.order_id,
                status = event.status.as_str(),
                skus = %outcome.changed_skus.join(","),
                "order booked"
            );
        }
        BookingResult::Duplicate | BookingResult::Stale | BookingResult::Unchanged => {
            debug!(channel = %channel.id, order = %order, result = outcome.result.as_str(), "order event had nothing new");
        }
    }
    if !outcome.oversold_skus.is_empty() {
        metrics.order_oversold(&channel.id);
        warn!(channel = %channel.id, order = %order, skus = %outcome.oversold_skus.join(","), "order booked beyond available stock (oversold)");
    }
    if !outcome.unknown_lines.is_empty() {
        metrics.unknown_listing_lines(&channel.id, outcome.unknown_lines.len() as u64);
        warn!(channel = %channel.id, order = %order, lines = %unknown_lines_text(&outcome.unknown_lines), "order lines for listings bound to no item were kept without reserving stock");
    }
}

/// Unknown lines for a log field: `line:listing/sku`, comma-separated.
fn unknown_lines_text(lines: &[crate::ledger::UnknownLine]) -> String {
    lines
        .iter()
        .map(|line| {
            format!(
                "{}:{}/{}",
                line.line_id,
                line.listing_id.as_deref().unwrap_or("-"),
                line.sku.as_deref().unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}
