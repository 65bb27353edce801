//! `GET /admin/reports/channels` and what `omnistock report channels` prints of it: an order
//! booked on a channel shows in its period with its money; bad parameters name the field.

use crate::helpers::{spawn_app_with, test_settings, TestDatabase};
use chrono::{Duration, DurationRound, Utc};
use omnistock::cli::report::{render, ReportFormat};
use omnistock::reports::ChannelsReport;
use omnistock_connector::{OrderEvent, OrderLine, OrderStatus, Secret};
use reqwest::StatusCode;

const TOKEN: &str = "admin-token-for-tests";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_report_counts_a_booked_order_in_its_period() {
    let (database, url) = TestDatabase::sqlite();
    let mut settings = test_settings(&url);
    settings.admin.token = Some(Secret::new(TOKEN));
    let app = spawn_app_with(settings, database).await;
    app.ledger.upsert_item("A", "Item A").await.unwrap();
    app.ledger.upsert_channel("shop", "sim").await.unwrap();
    app.ledger.bind_listing("shop", "L1", "A", 1).await.unwrap();
    let placed = Utc::now() - Duration::minutes(5);
    let event = OrderEvent {
        external_order_id: "1001".into(),
        delivery_id: None,
        status: OrderStatus::Open,
        updated_at: placed,
        created_at: Some(placed),
        currency: Some("EUR".into()),
        total_minor: Some(2_750),
        location: None,
        lines: vec![OrderLine {
            line_id: "1".into(),
            listing_id: Some("L1".into()),
            sku: None,
            quantity: 2,
            cancelled_quantity: 0,
            fulfilled_quantity: 0,
            returned_quantity: 0,
            unit_price_minor: Some(1_250),
        }],
    };
    app.ledger
        .book_order("shop", "default", &event)
        .await
        .unwrap();

    let today = Utc::now().duration_trunc(Duration::days(1)).unwrap();
    let path = format!(
        "/admin/reports/channels?from={}&to={}&granularity=day",
        (today - Duration::days(1)).to_rfc3339(),
        (today + Duration::days(1)).to_rfc3339()
    )
    .replace('+', "%2B");
    let (status, body) = app.admin_get(TOKEN, &path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: ChannelsReport = serde_json::from_value(body).unwrap();
    let shop = report
        .channels
        .iter()
        .find(|channel| channel.channel_id == "shop")
        .expect("channel shop is reported");
    assert_eq!(shop.periods.len(), 2);
    let day = shop
        .periods
        .iter()
        .find(|period| period.start <= placed && placed < period.end)
        .expect("a period holds the order");
    assert_eq!((day.orders, day.units_sold), (1, 2));
    assert_eq!(day.revenue.len(), 1);
    assert_eq!(
        (
            day.revenue[0].lines_minor,
            day.revenue[0].orders_total_minor
        ),
        (2_500, 2_750)
    );
    let csv = render(&report, ReportFormat::Csv);
    let mut rows = csv.lines();
    assert!(rows
        .next()
        .unwrap()
        .starts_with("channel,start,end,orders,"));
    assert!(csv.contains("2500 EUR"), "{csv}");

    for (query, field) in [
        ("granularity=hour", "granularity"),
        ("from=yesterday", "from"),
        ("from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "from"),
        ("from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
    ] {
        let (status, body) = app
            .admin_get(TOKEN, &format!("/admin/reports/channels?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
}
