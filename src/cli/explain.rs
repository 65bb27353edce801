//! `omnistock explain SKU [--channel ID]`: the daemon's explanation of what each channel shows
//! of an item (`GET /admin/items/{sku}/explain`), printed for a person.

use serde_json::Value;
use std::fmt::Write as _;

/// `omnistock explain`
#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// The item's SKU.
    pub sku: String,
    /// Only this channel (default: every enabled channel).
    #[arg(long)]
    pub channel: Option<String>,
    #[command(flatten)]
    pub connection: super::admin_client::Connection,
}

/// The explanation as lines of text: per channel and listing, the stock per location, the
/// rules and where each came from, the steps, the result and why it is not pushed yet.
pub fn explain_text(explanation: &Value) -> String {
    let mut out = String::new();
    let sku = text(&explanation["sku"]);
    for channel in array(&explanation["channels"]) {
        let _ = writeln!(
            out,
            "{sku} on {}{}{}",
            text(&channel["channel"]),
            if channel["paused"] == true {
                " (paused)"
            } else {
                ""
            },
            if channel["degraded"] == true {
                " (degraded)"
            } else {
                ""
            },
        );
        let listings = array(&channel["listings"]);
        if listings.is_empty() {
            let _ = writeln!(out, "  no listing of this channel takes {sku}");
        }
        for listing in listings {
            write_listing(&mut out, listing);
        }
    }
    out
}

fn write_listing(out: &mut String, listing: &Value) {
    let confirmed = match listing["last_confirmed_quantity"].as_i64() {
        Some(quantity) => format!("{quantity} (at {})", text(&listing["last_confirmed_at"])),
        None => "nothing yet".to_string(),
    };
    let _ = writeln!(
        out,
        "  listing {}: should show {}, the channel confirmed {confirmed}{}",
        text(&listing["listing_id"]),
        listing["quantity"],
        if listing["in_step"] == true {
            ""
        } else {
            " — differs"
        },
    );
    for component in array(&listing["components"]) {
        let places: Vec<String> = array(&component["locations"])
            .iter()
            .map(|place| {
                format!(
                    "{} {} on hand - {} reserved = {}{}",
                    text(&place["location"]),
                    place["on_hand"],
                    place["reserved"],
                    place["available"],
                    if place["feeds_channel"] == true {
                        ""
                    } else {
                        " (not sold here)"
                    },
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "    {} x{}: {} -> {} available",
            text(&component["sku"]),
            component["per_unit"],
            if places.is_empty() {
                "no stock anywhere".to_string()
            } else {
                places.join(", ")
            },
            component["available"],
        );
    }
    let rules: Vec<String> = listing["rules"]
        .as_object()
        .map(|rules| {
            rules
                .iter()
                .map(|(name, rule)| format!("{name} {} ({})", rule["value"], origin(&rule["from"])))
                .collect()
        })
        .unwrap_or_default();
    let _ = writeln!(out, "    rules: {}", rules.join(", "));
    let steps: Vec<String> = array(&listing["steps"]).iter().map(step_text).collect();
    let _ = writeln!(out, "    steps: {}", steps.join(" -> "));
    for reason in array(&listing["not_pushed_because"]) {
        let _ = writeln!(out, "    not pushed yet: {}", text(reason));
    }
}

/// Where a rule came from, for a person.
fn origin(from: &Value) -> String {
    match from.as_str() {
        Some("listing_warehouse") => "the listing's warehouse".to_string(),
        _ => text(from),
    }
}

fn step_text(step: &Value) -> String {
    match step["rule"].as_str().unwrap_or_default() {
        "fixed" => format!("fixed quantity {}", step["quantity"]),
        "component" => format!(
            "{} available, {} after the buffer, {} after the percentage, / {} = {}",
            step["available"],
            step["after_safety_buffer"],
            step["after_percentage"],
            step["per_unit"],
            step["units"]
        ),
        "scarcest" => format!("least of the components {}", step["units"]),
        "show_zero_below" => format!(
            "show zero below {}: {} -> {}",
            step["threshold"], step["before"], step["after"]
        ),
        "maximum" => format!(
            "maximum {}: {} -> {}",
            step["maximum"], step["before"], step["after"]
        ),
        other => other.to_string(),
    }
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}
