//! The store against real databases and the broker: one ledger test suite run against SQLite
//! and PostgreSQL (the way quickwit's `metastore_test_suite!` runs one suite against each
//! metastore), the go-live and quarantine properties, schema parity, and the bus (`bus.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/tcp_proxy.rs"]
mod tcp_proxy;

mod backends;
mod bus;
mod go_live_and_quarantine;
mod orders;
mod policy_and_bundles;
mod properties;
mod push;
mod reports;
mod schema_parity;
mod stock_operations;

// The suite's functions, by area; `backend_suite!` runs each once per backend.
use orders::*;
use policy_and_bundles::*;
use properties::*;
use push::*;
use reports::*;
use stock_operations::*;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::{TestBackend, TestDatabase};
use omnistock::ledger::{
    Application, Backend, BookingRequest, BookingResult, ConfirmedPush, Ledger, LedgerError,
    LineRef, ListingBinding, ListingComponent, MovementMeta, TargetPages,
};
use omnistock::policy::{ListingPolicy, StockPolicy};
use omnistock_connector::{OrderEvent, OrderLine, OrderStatus};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const CHANNEL: &str = "sim";

// ---------------------------------------------------------------------------------------------
// Helpers every area uses.

async fn assert_invariants(ledger: &Ledger) {
    let checked = ledger.check_invariants().await.expect("invariant query");
    assert_eq!(checked, Ok(()), "ledger invariants violated");
}

/// A migrated ledger with items A and B, locations default and east, channel `sim`.
async fn seeded(database: &TestDatabase) -> Ledger {
    let ledger = database.ledger().await;
    ledger.upsert_item("A", "Item A").await.unwrap();
    ledger.upsert_item("B", "Item B").await.unwrap();
    ledger
        .upsert_location("east", "East warehouse")
        .await
        .unwrap();
    ledger.upsert_channel(CHANNEL, "sim").await.unwrap();
    ledger
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
}

fn line(line_id: &str, sku: &str, ordered: i64) -> OrderLine {
    OrderLine {
        line_id: line_id.to_string(),
        listing_id: None,
        sku: Some(sku.to_string()),
        quantity: ordered,
        cancelled_quantity: 0,
        fulfilled_quantity: 0,
        returned_quantity: 0,
        unit_price_minor: Some(1250),
    }
}

fn order(id: &str, seconds: i64, status: OrderStatus, lines: Vec<OrderLine>) -> OrderEvent {
    OrderEvent {
        external_order_id: id.to_string(),
        delivery_id: None,
        status,
        updated_at: at(seconds),
        created_at: None,
        currency: Some("EUR".to_string()),
        total_minor: None,
        location: None,
        lines,
    }
}

async fn receive(ledger: &Ledger, sku: &str, location: &str, quantity: i64) {
    let key = format!("receive-{}", uuid::Uuid::new_v4());
    ledger
        .receive(sku, location, quantity, &MovementMeta::new(key))
        .await
        .unwrap();
}

async fn on_hand_and_reserved(ledger: &Ledger, sku: &str, location: &str) -> (i64, i64) {
    let balance = ledger.balance(sku, location).await.unwrap();
    (balance.on_hand, balance.reserved)
}

/// The events as bookings of the channel `sim` at the default location.
fn requests_of(events: &[OrderEvent]) -> Vec<BookingRequest<'_>> {
    events
        .iter()
        .map(|event| BookingRequest {
            channel_id: CHANNEL,
            location: "default",
            event,
        })
        .collect()
}

fn listing_line(line_id: &str, listing_id: &str, ordered: i64) -> OrderLine {
    OrderLine {
        listing_id: Some(listing_id.to_string()),
        sku: None,
        ..line(line_id, "unused", ordered)
    }
}

/// The booked (open, committed, returned) of an order's lines by sku index.
type ModelLines = BTreeMap<usize, (i64, i64, i64)>;

/// Runs a property against one migrated ledger on `backend`: `prepare` readies it once, then
/// `check` runs for each case `strategy` draws; a failure panics with proptest's report (the
/// minimal failing input). The ledger is closed and the database dropped either way.
fn run_property<S, Prepare, Prepared, Check, Checked>(
    backend: TestBackend,
    config: Config,
    strategy: S,
    prepare: Prepare,
    check: Check,
) where
    S: Strategy,
    Prepare: FnOnce(Arc<Ledger>) -> Prepared,
    Prepared: std::future::Future<Output = ()>,
    Check: Fn(Arc<Ledger>, S::Value) -> Checked,
    Checked: std::future::Future<Output = Result<(), TestCaseError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let database = runtime.block_on(TestDatabase::create(backend));
    let ledger = Arc::new(runtime.block_on(database.ledger()));
    runtime.block_on(prepare(ledger.clone()));
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..config
    });
    let result = runner.run(&strategy, |value| {
        runtime.block_on(check(ledger.clone(), value))
    });
    runtime.block_on(ledger.close());
    drop(ledger);
    drop(runtime);
    drop(database);
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// Proptest's settings with `cases` cases.
fn cases(cases: u32) -> Config {
    Config {
        cases,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Expansion per backend.

macro_rules! backend_suite {
    ($module:ident, $backend:expr, $cases:expr, [$($test:ident),* $(,)?]) => {
        mod $module {
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let database = TestDatabase::create($backend).await;
                    super::$test(&database).await;
                }
            )*

            #[test]
            fn random_operations_match_the_model() {
                super::random_operations_match_the_model($backend, $cases);
            }

            #[test]
            fn random_interleavings_respect_the_policy() {
                super::random_interleavings_respect_the_policy($backend, $cases / 2);
            }
        }
    };
}

macro_rules! ledger_suite {
    ($($test:ident),* $(,)?) => {
        backend_suite!(sqlite, TestBackend::Sqlite, 24, [$($test),*]);
        backend_suite!(postgres, TestBackend::Postgres, 12, [$($test),*]);
    };
}

ledger_suite!(
    operator_operations_apply_once_per_key,
    a_journal_row_with_an_unknown_reason_is_an_error,
    channel_sku_pages_cover_every_sku_once,
    operator_operations_refuse_negative_on_hand,
    unknown_sku_and_location_are_named,
    order_booked_twice_books_once,
    a_snapshot_without_prices_keeps_the_booked_ones,
    duplicate_delivery_changes_nothing,
    stale_snapshot_is_ignored,
    cancelling_releases_the_reservation,
    partial_shipment_commits_what_shipped,
    returned_units_are_restocked,
    unknown_listing_line_is_kept_and_reported,
    oversold_order_is_booked_and_flagged,
    lines_missing_from_a_snapshot_are_released,
    line_operations_apply_once_per_key,
    outbox_records_changed_skus_and_signals,
    cursors_round_trip,
    push_targets_show_whole_listing_units,
    a_push_read_before_a_sale_there_records_nothing,
    a_push_forgets_the_confirmed_quantity_until_it_is_confirmed,
    a_sale_by_sku_forgets_the_channels_listings_of_it,
    same_order_booked_concurrently_books_once,
    distinct_orders_booked_concurrently_all_count,
    a_group_books_like_one_event_at_a_time,
    a_bad_event_in_a_group_fails_alone,
    concurrent_groups_over_shared_items_all_count,
    policy_rules_shape_what_each_listing_shows,
    bundle_shows_its_scarcest_component_and_follows_each,
    selling_a_bundle_books_its_components,
    listings_selling_one_location_each_show_and_reserve_there,
    unknown_line_later_bound_to_a_bundle_books_its_components,
    returns_restock_only_when_the_channel_says_so,
    events_out_of_order_end_as_in_order,
    stock_import_applies_everything_or_nothing,
    listings_import_binds_everything_or_nothing,
    awkward_text_and_large_numbers_round_trip,
    a_confirmed_quantity_is_recorded_in_the_history_once_per_change,
    the_readme_worked_example_adds_up,
);
