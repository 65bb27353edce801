//! The operator console in a real browser (headless Chromium driven over WebDriver) against a
//! running daemon with three sims: an operator's day — sign in (a wrong token refused first),
//! see every channel's card, watch orders change the numbers, pause and resume a channel, run
//! a reconciliation to its end, find an item and check its explain view against the ledger,
//! fix stock with the forms, clear a dead letter, sign out. It takes a screenshot of each page:
//! into `target/console-screenshots/`, or the README's (`docs/console/*.png`) with
//! `OMNISTOCK_UPDATE_SCREENSHOTS=1`, so a test run leaves the checkout unchanged. Without `chromium` and `chromedriver` (`.ci/browser-tools` installs
//! them) it says so and skips.

use super::webdriver::{Browser, Installed};
use crate::sync::skus;
use crate::sync_world::{listing_of, wait_until, Setup, World, WorldPlan, ADMIN_TOKEN};
use omnistock::ledger::MovementMeta;
use serde_json::{json, Value};
use std::path::PathBuf;

fn screenshot_path(name: &str) -> PathBuf {
    let folder = if std::env::var_os("OMNISTOCK_UPDATE_SCREENSHOTS").is_some() {
        "docs/console"
    } else {
        "target/console-screenshots"
    };
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder);
    std::fs::create_dir_all(&folder).unwrap();
    folder.join(format!("{name}.png"))
}

fn card(channel: &str, stat: &str) -> String {
    format!("article.card[data-channel=\"{channel}\"] [data-stat=\"{stat}\"]")
}

fn explained(channel: &str, what: &str) -> String {
    format!(".explain-channel[data-channel=\"{channel}\"] [data-explain=\"{what}\"]")
}

fn number(text: &str) -> i64 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_runs_a_day_from_the_console() {
    let installed = match Installed::find() {
        Ok(installed) => installed,
        Err(missing) => {
            eprintln!("skipped: the console's browser test needs Chromium: {missing}");
            return;
        }
    };
    let mut world = World::start(Setup::Embedded, WorldPlan::default()).await;
    world.add_catalog(&skus(3), 10).await;
    world
        .app
        .ledger
        .upsert_location("east", "East warehouse")
        .await
        .unwrap();
    world.wait_converged().await;
    let ledger = world.app.ledger.clone();
    let browser = Browser::start(&installed).await;
    browser.goto(&world.app.url("/console")).await;

    // A wrong token is refused, with the reason, and not kept.
    browser.type_into("#token", "not-the-admin-token").await;
    browser.click("#sign-in").await;
    let refusal = browser
        .wait_text(
            "#login-error",
            |text| !text.is_empty(),
            "explains the refusal",
        )
        .await;
    assert!(refusal.contains("refused"), "{refusal}");
    let kept = browser
        .script(
            "return sessionStorage.length + localStorage.length;",
            json!([]),
        )
        .await;
    assert_eq!(kept, 0, "a refused token is not kept");
    browser.screenshot(&screenshot_path("login-refused")).await;

    // The right one shows every channel's card; the token is kept for this tab only.
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click("#sign-in").await;
    for channel in ["sim-a", "sim-b", "sim-c"] {
        browser.wait_for(&card(channel, "backlog")).await;
    }
    assert_eq!(browser.count("article.card[data-channel]").await, 3);
    let leader = browser.text(&card("sim-a", "leader")).await.unwrap();
    assert!(leader.ends_with("(this replica)"), "{leader}");
    let stored = browser
        .script(
            "return [sessionStorage.getItem('omnistock.admin-token'), localStorage.length];",
            json!([]),
        )
        .await;
    assert_eq!(stored, json!([ADMIN_TOKEN, 0]));

    // Orders placed on a sim show up on its card (webhooks) and in the ledger.
    assert_eq!(
        browser.text(&card("sim-a", "webhooks")).await.unwrap(),
        "none"
    );
    world.order("sim-a", "SKU-01", 1);
    world.order("sim-a", "SKU-01", 1);
    browser
        .wait_text(
            &card("sim-a", "webhooks"),
            // A delivery answered 503 under load and sent again shows as a 503 beside them.
            |t| t.contains("200: 2"),
            "counts two webhooks",
        )
        .await;
    world.wait_available("SKU-01", 8).await;

    // Pause sim-b from its card: its listings wait while the others follow an order.
    browser
        .click("article.card[data-channel=\"sim-b\"] button[data-action=\"pause\"]")
        .await;
    browser
        .wait_text(&card("sim-b", "paused"), |t| t == "yes", "shows the pause")
        .await;
    assert_eq!(
        ledger
            .channel_status()
            .channel_paused("sim-b")
            .await
            .unwrap(),
        Some(true)
    );
    world.order("sim-a", "SKU-02", 3);
    world.wait_available("SKU-02", 7).await;
    wait_until("sim-c shows SKU-02 at 7", || async {
        world.sim("sim-c").shown_quantity(&listing_of("SKU-02")) == Some(7)
    })
    .await;
    assert_eq!(
        world.sim("sim-b").shown_quantity(&listing_of("SKU-02")),
        Some(10),
        "a paused channel is not pushed to"
    );

    // Find the item; its explain view matches the ledger and says why sim-b waits.
    browser
        .goto(&world.app.url("/console#/items?q=sku-0"))
        .await;
    browser.wait_for("tr[data-sku=\"SKU-03\"]").await;
    assert_eq!(browser.count("#item-results tr[data-sku]").await, 3);
    browser.screenshot(&screenshot_path("items")).await;
    browser.click("tr[data-sku=\"SKU-02\"] a").await;
    let available = ledger.available("SKU-02").await.unwrap();
    browser
        .wait_text(
            "#item-available",
            |t| t == available.to_string(),
            "shows the ledger's availability",
        )
        .await;
    browser.wait_for(&explained("sim-b", "reasons")).await;
    let reasons = browser.text(&explained("sim-b", "reasons")).await.unwrap();
    assert!(reasons.contains("paused"), "{reasons}");
    let balance = ledger.balance("SKU-02", "default").await.unwrap();
    for channel in ["sim-a", "sim-b", "sim-c"] {
        let (_, api) = world
            .app
            .admin_get(
                ADMIN_TOKEN,
                &format!("/admin/items/SKU-02/explain?channel={channel}"),
            )
            .await;
        let listing = &api["channels"][0]["listings"][0];
        let shown = number(&browser.text(&explained(channel, "quantity")).await.unwrap());
        assert_eq!(shown, listing["quantity"].as_i64().unwrap(), "{channel}");
        // No rule of the default policy changes the number: it is the ledger's availability.
        assert_eq!(shown, available, "{channel}");
        let component = number(
            &browser
                .text(&explained(channel, "available"))
                .await
                .unwrap(),
        );
        assert_eq!(component, available, "{channel}");
        let row =
            format!(".explain-channel[data-channel=\"{channel}\"] tr[data-location=\"default\"]");
        let on_hand = browser
            .text(&format!("{row} [data-column=\"on_hand\"]"))
            .await;
        let reserved = browser
            .text(&format!("{row} [data-column=\"reserved\"]"))
            .await;
        assert_eq!(on_hand, Some(balance.on_hand.to_string()), "{channel}");
        assert_eq!(reserved, Some(balance.reserved.to_string()), "{channel}");
    }
    let confirmed_b = browser
        .text(&explained("sim-b", "confirmed"))
        .await
        .unwrap();
    assert_eq!(
        confirmed_b, "10",
        "sim-b last confirmed the quantity before the order"
    );
    browser.screenshot(&screenshot_path("item")).await;
    browser
        .element_screenshot(
            ".explain-channel[data-channel=\"sim-b\"]",
            &screenshot_path("explain"),
        )
        .await;

    // Resume sim-b: it catches up.
    browser.goto(&world.app.url("/console#/channels")).await;
    browser
        .click("article.card[data-channel=\"sim-b\"] button[data-action=\"resume\"]")
        .await;
    browser
        .wait_text(&card("sim-b", "paused"), |t| t == "no", "shows the resume")
        .await;
    wait_until("sim-b catches up with SKU-02", || async {
        world.sim("sim-b").shown_quantity(&listing_of("SKU-02")) == Some(7)
    })
    .await;

    // Someone changes sim-c's stock behind omnistock's back; a reconciliation from the card
    // finds and fixes it, and the card follows the job to its end.
    world
        .sim("sim-c")
        .create_listing(Some(&listing_of("SKU-03")), "SKU-03", 4)
        .unwrap();
    browser
        .click("article.card[data-channel=\"sim-c\"] button[data-action=\"reconcile\"]")
        .await;
    browser
        .wait_for("article.card[data-channel=\"sim-c\"] [data-job-state=\"succeeded\"]")
        .await;
    let job_text = browser
        .text("article.card[data-channel=\"sim-c\"] [data-job]")
        .await
        .unwrap();
    assert!(!job_text.contains(" 0 drifts"), "{job_text}");
    wait_until("sim-c shows SKU-03 at 10 again", || async {
        world.sim("sim-c").shown_quantity(&listing_of("SKU-03")) == Some(10)
    })
    .await;
    browser
        .wait_text(
            &card("sim-c", "reconciliation"),
            |t| t.contains(" drifts") && !t.contains(" 0 drifts"),
            "shows the drift",
        )
        .await;
    browser.screenshot(&screenshot_path("channels")).await;

    // Fix stock from the item's page: an adjustment and a transfer, each under its own key.
    browser.goto(&world.app.url("/console#/items/SKU-01")).await;
    browser.type_into("#adjust-location", "default").await;
    browser.type_into("#adjust-delta", "-1").await;
    browser
        .type_into("#adjust-reason", "damaged in the test")
        .await;
    let adjust_key = browser
        .text("#adjust [data-idempotency-key]")
        .await
        .unwrap();
    browser.click("#adjust button[type=submit]").await;
    browser
        .wait_text(
            "#adjust [data-outcome]",
            |t| t == "Applied.",
            "applies the adjustment",
        )
        .await;
    world.wait_available("SKU-01", 7).await;
    let next_key = browser
        .text("#adjust [data-idempotency-key]")
        .await
        .unwrap();
    assert_ne!(adjust_key, next_key, "the next change gets a new key");
    browser.type_into("#transfer-from", "default").await;
    browser.type_into("#transfer-to", "east").await;
    browser.type_into("#transfer-quantity", "2").await;
    browser.type_into("#transfer-reason", "rebalancing").await;
    browser.click("#transfer button[type=submit]").await;
    browser
        .wait_text(
            "#transfer [data-outcome]",
            |t| t == "Applied.",
            "applies the transfer",
        )
        .await;
    assert_eq!(ledger.balance("SKU-01", "east").await.unwrap().on_hand, 2);
    browser
        .wait_text(
            "#item-summary tr[data-location=\"east\"] [data-column=\"on_hand\"]",
            |t| t == "2",
            "shows the transfer",
        )
        .await;
    let journal = browser.text("#journal").await.unwrap();
    assert!(journal.contains("damaged in the test"), "{journal}");

    // The journal pages: twenty movements a page, the next page starting after the last one.
    for step in 0..24 {
        let delta = if step % 2 == 0 { 1 } else { -1 };
        ledger
            .adjust(
                "SKU-03",
                "default",
                delta,
                &MovementMeta::new(format!("journal-page-{step}")),
            )
            .await
            .unwrap();
    }
    let journaled = ledger
        .movements("SKU-03", 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|movement| movement.id.to_string())
        .collect::<Vec<_>>();
    assert!(journaled.len() > 20, "{} movements", journaled.len());
    browser.goto(&world.app.url("/console#/items/SKU-03")).await;
    browser.wait_for("#journal [data-page=\"1\"]").await;
    let first_page = browser
        .texts("#journal tr[data-movement] td:first-child")
        .await;
    assert_eq!(first_page, journaled[..20]);
    browser
        .click("#journal button[data-action=\"journal-next\"]")
        .await;
    browser.wait_for("#journal [data-page=\"2\"]").await;
    let second_page = browser
        .texts("#journal tr[data-movement] td:first-child")
        .await;
    assert_eq!(second_page, journaled[20..]);
    browser
        .click("#journal button[data-action=\"journal-first\"]")
        .await;
    browser.wait_for("#journal [data-page=\"1\"]").await;
    browser
        .element_screenshot("#stock-forms", &screenshot_path("stock-forms"))
        .await;

    // A listing sim-b no longer has is parked as a dead letter; once it exists again, a retry
    // from the console clears it.
    ledger
        .bind_listing("sim-b", "L-GONE", "SKU-01", 1)
        .await
        .unwrap();
    browser.goto(&world.app.url("/console#/dead-letters")).await;
    browser.wait_for("tr[data-dead-letter]").await;
    browser.screenshot(&screenshot_path("dead-letters")).await;
    world
        .sim("sim-b")
        .create_listing(Some("L-GONE"), "SKU-01", 0)
        .unwrap();
    browser
        .click("tr[data-dead-letter] button[data-action=\"retry\"]")
        .await;
    browser
        .wait_text(
            "#dead-letters",
            |t| t == "No dead letters.",
            "clears the dead letter",
        )
        .await;
    wait_until("sim-b shows L-GONE", || async {
        world.sim("sim-b").shown_quantity("L-GONE") == Some(7)
    })
    .await;

    // The jobs page lists the reconciliation.
    browser.goto(&world.app.url("/console#/jobs")).await;
    browser
        .wait_for("#jobs tr[data-job-state=\"succeeded\"]")
        .await;
    browser.screenshot(&screenshot_path("jobs")).await;

    // An order the ledger can never book (its listing id is far too long) is quarantined;
    // the operator discards it from the console, confirming first.
    let poison = "P".repeat(2_000);
    world
        .sim("sim-a")
        .create_listing(Some(&poison), "SKU-03", 5)
        .unwrap();
    world
        .sim("sim-a")
        .place_order(&[omnistock_sim::NewOrderLine {
            listing_id: poison,
            quantity: 1,
            unit_price_minor: None,
        }])
        .unwrap();
    browser.goto(&world.app.url("/console#/quarantine")).await;
    browser.wait_for("tr[data-quarantined]").await;
    browser.screenshot(&screenshot_path("quarantine")).await;
    browser
        .click("tr[data-quarantined] button[data-action=\"discard\"]")
        .await;
    let question = browser.accept_dialog().await;
    assert!(question.contains("Discard"), "{question}");
    browser
        .wait_text(
            "#quarantine",
            |t| t == "No quarantined orders.",
            "discards it",
        )
        .await;
    let (_, left) = world.app.admin_get(ADMIN_TOKEN, "/admin/quarantine").await;
    assert_eq!(left, json!([]));

    // The report of the last 30 days: each channel's totals are the sums of the API's periods,
    // drawn as one bar per period that sold.
    browser.goto(&world.app.url("/console#/reports")).await;
    let sold = ".report-channel[data-channel=\"sim-a\"] [data-total=\"units_sold\"]";
    browser.wait_for(sold).await;
    let to = chrono::Utc::now();
    let from = to - chrono::Duration::days(30);
    let (_, report) = world
        .app
        .admin_get(
            ADMIN_TOKEN,
            &format!(
                "/admin/reports/channels?from={}&to={}",
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )
        .await;
    let sim_a = report["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|channel| channel["channel_id"] == "sim-a")
        .unwrap_or_else(|| panic!("{report}"));
    let periods = sim_a["periods"].as_array().unwrap();
    let units_sold: i64 = periods
        .iter()
        .map(|period| period["units_sold"].as_i64().unwrap())
        .sum();
    assert!(units_sold > 0, "{sim_a}");
    assert_eq!(number(&browser.text(sold).await.unwrap()), units_sold);
    let orders: i64 = periods
        .iter()
        .map(|period| period["orders"].as_i64().unwrap())
        .sum();
    let shown_orders = browser
        .text(".report-channel[data-channel=\"sim-a\"] [data-total=\"orders\"]")
        .await
        .unwrap();
    assert_eq!(number(&shown_orders), orders);
    let selling_periods = periods
        .iter()
        .filter(|period| period["units_sold"].as_i64().unwrap() > 0)
        .count();
    assert_eq!(
        browser
            .count(".report-channel[data-channel=\"sim-a\"] rect[data-series=\"units_sold\"]")
            .await,
        selling_periods
    );
    browser.screenshot(&screenshot_path("reports")).await;

    // Signing out forgets the token.
    browser.click("#sign-out").await;
    browser.wait_for("#login-form").await;
    let kept: Value = browser
        .script("return sessionStorage.length;", json!([]))
        .await;
    assert_eq!(kept, 0);
    browser.quit().await;
    world.stop().await;
}
