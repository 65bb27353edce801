//! Channel reports: the shown history the pushes record, and the README's worked example
//! computed on each backend.

use super::*;
use omnistock::reports::{channels_report, Granularity, ReportRange};

/// Each stretch `channel` showed of `listing`, oldest first, as (start, end, quantity): the
/// closed ones from the history, then the open one (no end yet) from the listing.
async fn shown_stretches(
    ledger: &Ledger,
    channel: &str,
    listing: &str,
) -> Vec<(i64, Option<i64>, i64)> {
    sqlx::query_as(
        "SELECT h.shown_at, h.until_at, h.quantity FROM listing_shown_history h JOIN listings l \
         ON l.history_key = h.history_key WHERE l.channel_id = $1 AND l.listing_id = $2 \
         UNION ALL SELECT l.shown_since, CAST(NULL AS BIGINT), l.shown_quantity FROM listings l \
         WHERE l.channel_id = $1 AND l.listing_id = $2 AND l.shown_since IS NOT NULL \
         ORDER BY 1",
    )
    .bind(channel)
    .bind(listing)
    .fetch_all(ledger.pool())
    .await
    .unwrap()
}

/// The quantities `channel` was shown of `listing`, oldest first.
async fn shown_history(ledger: &Ledger, channel: &str, listing: &str) -> Vec<i64> {
    shown_stretches(ledger, channel, listing)
        .await
        .into_iter()
        .map(|(_, _, quantity)| quantity)
        .collect()
}

/// The history's rows of `listing` on `channel`: (start, end, quantity), oldest first.
async fn history_rows(ledger: &Ledger, channel: &str, listing: &str) -> Vec<(i64, i64, i64)> {
    sqlx::query_as(
        "SELECT h.shown_at, h.until_at, h.quantity FROM listing_shown_history h JOIN listings l \
         ON l.history_key = h.history_key WHERE l.channel_id = $1 AND l.listing_id = $2 \
         ORDER BY h.shown_at",
    )
    .bind(channel)
    .bind(listing)
    .fetch_all(ledger.pool())
    .await
    .unwrap()
}

/// The listing's open stretch: (shown quantity, since).
async fn open_stretch(ledger: &Ledger, channel: &str, listing: &str) -> (Option<i64>, Option<i64>) {
    sqlx::query_as(
        "SELECT shown_quantity, shown_since FROM listings WHERE channel_id = $1 AND listing_id = $2",
    )
    .bind(channel)
    .bind(listing)
    .fetch_one(ledger.pool())
    .await
    .unwrap()
}

pub(crate) async fn a_confirmed_quantity_is_recorded_in_the_history_once_per_change(
    database: &TestDatabase,
) {
    let ledger = seeded(database).await;
    ledger
        .bind_listing(CHANNEL, "single", "A", 1)
        .await
        .unwrap();
    receive(&ledger, "A", "default", 5).await;
    let policy = StockPolicy::default();
    let confirm = |quantity: i64| {
        let ledger = &ledger;
        let policy = &policy;
        async move {
            let targets = ledger
                .push_targets(CHANNEL, &["A".to_string()], policy)
                .await
                .unwrap();
            ledger
                .record_pushed(CHANNEL, &[ConfirmedPush::of(&targets[0], quantity)])
                .await
                .unwrap();
            // Rows are keyed by the millisecond: keep the confirmations apart.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    confirm(5).await;
    // The stretch still showing is the listing's own; the history holds closed ones only.
    assert_eq!(history_rows(&ledger, CHANNEL, "single").await, []);
    let (shown, since) = open_stretch(&ledger, CHANNEL, "single").await;
    assert_eq!(shown, Some(5));
    let since = since.expect("the first confirmation starts the open stretch");
    confirm(5).await;
    assert_eq!(
        open_stretch(&ledger, CHANNEL, "single").await,
        (Some(5), Some(since))
    );
    // A push forgets the confirmed quantity before its call; the history still knows it.
    ledger
        .forget_before_push(CHANNEL, &["single"])
        .await
        .unwrap();
    confirm(5).await;
    confirm(3).await;
    confirm(0).await;
    assert_eq!(shown_history(&ledger, CHANNEL, "single").await, [5, 3, 0]);
    // Each stretch holds until the next one starts; the last still holds.
    let spans: Vec<(i64, Option<i64>)> = shown_stretches(&ledger, CHANNEL, "single")
        .await
        .into_iter()
        .map(|(start, end, _)| (start, end))
        .collect();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0].1, Some(spans[1].0));
    assert_eq!(spans[1].1, Some(spans[2].0));
    assert_eq!(spans[2].1, None);
    // Each row was written once, closed, when the stretch after it started.
    let rows = history_rows(&ledger, CHANNEL, "single").await;
    assert_eq!(rows, [(since, spans[1].0, 5), (spans[1].0, spans[2].0, 3)]);
    assert_eq!(
        open_stretch(&ledger, CHANNEL, "single").await,
        (Some(0), Some(spans[2].0))
    );
}

/// D 00:00 + `hours`, D being the day after tomorrow (after every journal row of the test).
fn day_d(hours: i64) -> DateTime<Utc> {
    let day = Utc::now().date_naive() + chrono::Duration::days(2);
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN)) + chrono::Duration::hours(hours)
}

fn shop_order(
    id: &str,
    placed_hour: i64,
    status: OrderStatus,
    currency: &str,
    total_minor: i64,
    line: OrderLine,
) -> OrderEvent {
    OrderEvent {
        external_order_id: id.to_string(),
        delivery_id: None,
        status,
        updated_at: day_d(placed_hour),
        created_at: Some(day_d(placed_hour)),
        currency: Some(currency.to_string()),
        total_minor: Some(total_minor),
        location: None,
        lines: vec![line],
    }
}

fn priced(listing: &str, ordered: i64, price: i64) -> OrderLine {
    OrderLine {
        unit_price_minor: Some(price),
        ..listing_line("1", listing, ordered)
    }
}

/// README "Channel reports", the worked example, figure by figure.
pub(crate) async fn the_readme_worked_example_adds_up(database: &TestDatabase) {
    let ledger = seeded(database).await;
    ledger.upsert_channel("shop", "sim").await.unwrap();
    ledger.bind_listing("shop", "L1", "A", 1).await.unwrap();
    ledger.bind_listing("shop", "L2", "B", 1).await.unwrap();
    receive(&ledger, "A", "default", 10).await;

    let shipped = OrderLine {
        fulfilled_quantity: 2,
        ..priced("L1", 2, 1250)
    };
    let cancelled = OrderLine {
        cancelled_quantity: 1,
        ..priced("L1", 1, 1250)
    };
    let returned = OrderLine {
        fulfilled_quantity: 1,
        returned_quantity: 1,
        ..priced("L1", 1, 1250)
    };
    let events = [
        shop_order("1", 9, OrderStatus::Fulfilled, "EUR", 2700, shipped),
        shop_order("2", 10, OrderStatus::Cancelled, "EUR", 1250, cancelled),
        shop_order("3", 15, OrderStatus::Fulfilled, "EUR", 1250, returned),
        shop_order(
            "4",
            20,
            OrderStatus::Open,
            "USD",
            3000,
            priced("L2", 1, 3000),
        ),
    ];
    for event in &events {
        ledger.book_order("shop", "default", event).await.unwrap();
    }
    let booked = ledger.order("shop", "1").await.unwrap().unwrap();
    assert_eq!(booked.total_minor, Some(2700));
    assert_eq!(ledger.available("A").await.unwrap(), 8);
    assert_eq!(ledger.available("B").await.unwrap(), -1);

    // Each closed stretch a history row with the hour the next one started, and each
    // listing's last, still showing, on the listing, as confirmations write them.
    for (listing, hour, quantity, until) in [("L1", 0, 6, 12), ("L1", 12, 0, 18)] {
        sqlx::query(
            "INSERT INTO listing_shown_history (history_key, shown_at, quantity, until_at) \
             SELECT history_key, $1, $2, $4 FROM listings \
             WHERE channel_id = 'shop' AND listing_id = $3",
        )
        .bind(day_d(hour).timestamp_millis())
        .bind(quantity)
        .bind(listing)
        .bind(day_d(until).timestamp_millis())
        .execute(ledger.pool())
        .await
        .unwrap();
    }
    for (listing, hour, quantity) in [("L1", 18, 4), ("L2", 0, 0)] {
        sqlx::query(
            "UPDATE listings SET shown_quantity = $2, shown_since = $1 \
             WHERE channel_id = 'shop' AND listing_id = $3",
        )
        .bind(day_d(hour).timestamp_millis())
        .bind(quantity)
        .bind(listing)
        .execute(ledger.pool())
        .await
        .unwrap();
    }

    let range = ReportRange::new(day_d(0), day_d(24), Granularity::Day).unwrap();
    let report = channels_report(&ledger, range, day_d(24)).await.unwrap();
    let shop = report
        .channels
        .iter()
        .find(|channel| channel.channel_id == "shop")
        .expect("the report has channel shop");
    assert_eq!(shop.periods.len(), 1);
    let day = &shop.periods[0];
    assert_eq!(
        (day.orders, day.cancelled_orders, day.oversold_orders),
        (4, 1, 1)
    );
    assert_eq!(day.cancellation_rate, Some(0.25));
    assert_eq!((day.units_sold, day.units_returned), (4, 1));
    assert_eq!(day.return_rate, Some(0.25));
    let revenue: Vec<(Option<&str>, i64, i64)> = day
        .revenue
        .iter()
        .map(|money| {
            (
                money.currency.as_deref(),
                money.lines_minor,
                money.orders_total_minor,
            )
        })
        .collect();
    assert_eq!(
        revenue,
        [(Some("EUR"), 3750, 3950), (Some("USD"), 3000, 3000)]
    );
    assert_eq!(day.average_units_shown, Some(4.0));
    assert_eq!(day.units_shown_at_end, 4);
    assert_eq!(day.sell_through, Some(0.5));
    assert_eq!(day.inventory_turnover, Some(1.0));
    assert_eq!(day.days_of_cover, Some(1.0));
    assert_eq!(day.hours_zero_with_stock, 6.0);
    assert_eq!(day.hours_stocked_out, 24.0);
    let listings: Vec<(&str, f64, f64)> = shop
        .listings_at_zero
        .iter()
        .map(|listing| {
            (
                listing.listing_id.as_str(),
                listing.hours_zero_with_stock,
                listing.hours_stocked_out,
            )
        })
        .collect();
    assert_eq!(listings, [("L1", 6.0, 0.0), ("L2", 0.0, 24.0)]);

    // The other channel sold nothing and was shown nothing: its ratios have no base.
    let sim = report
        .channels
        .iter()
        .find(|channel| channel.channel_id == CHANNEL)
        .expect("the report has channel sim");
    assert_eq!(sim.periods[0].orders, 0);
    assert_eq!(sim.periods[0].inventory_turnover, None);
}

/// Migration 0026 on a history written before it: each listing's open row moves to the
/// listing, the closed rows stay, and the report reads the same stretches.
pub(crate) async fn the_open_history_rows_move_to_their_listings(database: &TestDatabase) {
    let ledger = Ledger::connect(&database.url).await.unwrap();
    let mut before_0026 = match ledger.backend() {
        Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    before_0026.migrations = before_0026
        .migrations
        .iter()
        .filter(|migration| migration.version < 26)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before_0026.run(ledger.pool()).await.unwrap();
    ledger.upsert_item("A", "Item A").await.unwrap();
    ledger.upsert_item("B", "Item B").await.unwrap();
    ledger.upsert_channel("shop", "sim").await.unwrap();
    ledger.upsert_channel("other", "sim").await.unwrap();
    for (channel, listing, sku) in [
        ("shop", "L1", "A"),
        ("shop", "L2", "B"),
        ("shop", "L3", "B"),
        ("other", "L4", "A"),
    ] {
        ledger.bind_listing(channel, listing, sku, 1).await.unwrap();
    }
    let ms = |hour: i64| day_d(hour).timestamp_millis();
    // The worked example's history as it was written then, the last row of each listing open
    // (L3 never confirmed); and on `other` a listing showing 2 since long ago.
    for (channel, listing, at_ms, quantity, until) in [
        ("shop", "L1", ms(0), 6, Some(ms(12))),
        ("shop", "L1", ms(12), 0, Some(ms(18))),
        ("shop", "L1", ms(18), 4, None),
        ("shop", "L2", ms(0), 0, None),
        ("other", "L4", at(0).timestamp_millis(), 2, None),
    ] {
        sqlx::query(
            "UPDATE listings SET shown_quantity = $1 WHERE channel_id = $2 AND listing_id = $3",
        )
        .bind(quantity)
        .bind(channel)
        .bind(listing)
        .execute(ledger.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO listing_shown_history (history_key, shown_at, quantity, until_at) \
             SELECT history_key, $1, $2, $5 FROM listings \
             WHERE channel_id = $3 AND listing_id = $4",
        )
        .bind(at_ms)
        .bind(quantity)
        .bind(channel)
        .bind(listing)
        .bind(until)
        .execute(ledger.pool())
        .await
        .unwrap();
    }
    ledger.migrate().await.unwrap();

    assert_eq!(
        history_rows(&ledger, "shop", "L1").await,
        [(ms(0), ms(12), 6), (ms(12), ms(18), 0)]
    );
    assert_eq!(
        open_stretch(&ledger, "shop", "L1").await,
        (Some(4), Some(ms(18)))
    );
    assert_eq!(history_rows(&ledger, "shop", "L2").await, []);
    assert_eq!(
        open_stretch(&ledger, "shop", "L2").await,
        (Some(0), Some(ms(0)))
    );
    assert_eq!(open_stretch(&ledger, "shop", "L3").await, (None, None));
    let long_ago = at(0).timestamp_millis();
    assert_eq!(history_rows(&ledger, "other", "L4").await, []);
    assert_eq!(
        open_stretch(&ledger, "other", "L4").await,
        (Some(2), Some(long_ago))
    );

    // The report reads the same stretches: L1 96 unit-hours and 6 hours at 0, L2 24 at 0
    // (neither item has stock, so all of them stock-outs).
    let range = ReportRange::new(day_d(0), day_d(24), Granularity::Day).unwrap();
    let report = channels_report(&ledger, range, day_d(24)).await.unwrap();
    let shop = report
        .channels
        .iter()
        .find(|channel| channel.channel_id == "shop")
        .expect("the report has channel shop");
    let day = &shop.periods[0];
    assert_eq!(day.average_units_shown, Some(4.0));
    assert_eq!(day.units_shown_at_end, 4);
    assert_eq!(
        (day.hours_zero_with_stock, day.hours_stocked_out),
        (0.0, 30.0)
    );

    // The next change closes the moved stretch into a row of its own.
    let targets = ledger
        .push_targets("other", &["A".to_string()], &StockPolicy::default())
        .await
        .unwrap();
    ledger
        .record_pushed("other", &[ConfirmedPush::of(&targets[0], 7)])
        .await
        .unwrap();
    let rows = history_rows(&ledger, "other", "L4").await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].0, rows[0].2), (long_ago, 2));
    assert_eq!(
        open_stretch(&ledger, "other", "L4").await,
        (Some(7), Some(rows[0].1))
    );
}
