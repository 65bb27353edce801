//! Channel reports: the shown history the pushes record, and the README's worked example
//! computed on each backend.

use super::*;
use omnistock::reports::{channels_report, Granularity, ReportRange};

/// The quantities `channel` was shown of `listing`, oldest first.
async fn shown_history(ledger: &Ledger, channel: &str, listing: &str) -> Vec<i64> {
    sqlx::query_as::<_, (i64,)>(
        "SELECT h.quantity FROM listing_shown_history h JOIN listings l \
         ON l.history_key = h.history_key WHERE l.channel_id = $1 AND l.listing_id = $2 \
         ORDER BY h.shown_at",
    )
    .bind(channel)
    .bind(listing)
    .fetch_all(ledger.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(quantity,)| quantity)
    .collect()
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
    confirm(5).await;
    // A push forgets the confirmed quantity before its call; the history still knows it.
    ledger
        .forget_before_push(CHANNEL, &["single"])
        .await
        .unwrap();
    confirm(5).await;
    confirm(3).await;
    confirm(0).await;
    assert_eq!(shown_history(&ledger, CHANNEL, "single").await, [5, 3, 0]);
    // Each row holds until the next one starts; the last still holds.
    let spans: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT h.shown_at, h.until_at FROM listing_shown_history h JOIN listings l \
         ON l.history_key = h.history_key WHERE l.channel_id = $1 AND l.listing_id = 'single' \
         ORDER BY h.shown_at",
    )
    .bind(CHANNEL)
    .fetch_all(ledger.pool())
    .await
    .unwrap();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0].1, Some(spans[1].0));
    assert_eq!(spans[1].1, Some(spans[2].0));
    assert_eq!(spans[2].1, None);
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

    // Each row with the hour the listing's next row ends it (`until_at`), as confirmations
    // write them.
    for (listing, hour, quantity, until) in [
        ("L1", 0, 6, Some(12)),
        ("L1", 12, 0, Some(18)),
        ("L1", 18, 4, None),
        ("L2", 0, 0, None),
    ] {
        sqlx::query(
            "INSERT INTO listing_shown_history (history_key, shown_at, quantity, until_at) \
             SELECT history_key, $1, $2, $4 FROM listings \
             WHERE channel_id = 'shop' AND listing_id = $3",
        )
        .bind(day_d(hour).timestamp_millis())
        .bind(quantity)
        .bind(listing)
        .bind(until.map(|hour| day_d(hour).timestamp_millis()))
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
