//! `omnistock listings import`: bind channel listings to items, multipacks and bundles.

use super::csv_rows::{read_rows, Row, RowError};
use super::CliError;
use crate::ledger::{Ledger, ListingBinding, ListingComponent};
use crate::policy::ListingPolicy;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

/// Parses a bundle spec `SKU:QTY|SKU:QTY` (`:QTY` may be left out for 1).
pub fn parse_bundle(spec: &str) -> Result<Vec<ListingComponent>, String> {
    let mut components: Vec<ListingComponent> = Vec::new();
    for part in spec.split('|') {
        let part = part.trim();
        let (sku, quantity) = match part.rsplit_once(':') {
            Some((sku, quantity)) => {
                let quantity: i64 = quantity
                    .trim()
                    .parse()
                    .map_err(|_| format!("expected SKU:QTY with a whole QTY, got {part:?}"))?;
                (sku.trim(), quantity)
            }
            None => (part, 1),
        };
        if sku.is_empty() {
            return Err(format!("a component has no sku in {spec:?}"));
        }
        if quantity < 1 {
            return Err(format!("the quantity of {sku} must be at least 1"));
        }
        if components.iter().any(|component| component.sku == sku) {
            return Err(format!("{sku} appears twice"));
        }
        components.push(ListingComponent::new(sku, quantity));
    }
    Ok(components)
}

/// The policy-override columns of a listings file.
const POLICY_COLUMNS: [&str; 6] = [
    "locations",
    "safety_buffer",
    "percentage",
    "max_quantity",
    "show_zero_below",
    "fixed_quantity",
];

/// A listing's overrides from the row's policy columns (an empty cell keeps the channel's
/// rule); `None` when the file has none of these columns.
fn parse_policy(
    row: &Row,
    has_policy_columns: bool,
    errors: &mut Vec<RowError>,
) -> Option<ListingPolicy> {
    if !has_policy_columns {
        return None;
    }
    let count = |column: &str, errors: &mut Vec<RowError>| -> Option<u32> {
        let value = row.number(column, 0, errors).flatten()?;
        match u32::try_from(value) {
            Ok(value) => Some(value),
            Err(_) => {
                errors.push(row.error(column, "is too large"));
                None
            }
        }
    };
    let percentage = count("percentage", errors).and_then(|value| match u8::try_from(value) {
        Ok(value) if value <= 100 => Some(value),
        _ => {
            errors.push(row.error("percentage", "must be between 0 and 100"));
            None
        }
    });
    Some(ListingPolicy {
        locations: row.get("locations").map(|codes| {
            codes
                .split('|')
                .map(|code| code.trim().to_string())
                .filter(|code| !code.is_empty())
                .collect()
        }),
        safety_buffer: count("safety_buffer", errors),
        percentage,
        max_quantity: count("max_quantity", errors),
        show_zero_below: count("show_zero_below", errors),
        fixed_quantity: count("fixed_quantity", errors),
    })
}

fn parse_sync(row: &Row, errors: &mut Vec<RowError>) -> Option<bool> {
    match row.get("sync").map(str::to_lowercase).as_deref() {
        None => None,
        Some("true" | "yes" | "1" | "on") => Some(true),
        Some("false" | "no" | "0" | "off") => Some(false),
        Some(other) => {
            errors.push(row.error("sync", format!("expected true or false, got {other:?}")));
            None
        }
    }
}

/// Where a channel's listing sells from (channel id, listing id), as its connector says.
pub type Locate<'a> = &'a dyn Fn(&str, &str) -> Option<String>;

/// Validates every row of `reader` (`origin` names it in errors), then binds every listing in
/// one transaction. Returns the number of listings bound. No listing gets a location (see
/// [`import_located`]).
pub async fn import(ledger: &Ledger, origin: &str, reader: impl Read) -> Result<usize, CliError> {
    import_located(ledger, origin, reader, &|_, _| None).await
}

/// [`import`], each listing bound with the location `locate` gives it.
pub async fn import_located(
    ledger: &Ledger,
    origin: &str,
    reader: impl Read,
    locate: Locate<'_>,
) -> Result<usize, CliError> {
    let refused = |errors: Vec<RowError>| CliError::Rows {
        path: origin.to_string(),
        count: errors.len(),
        errors,
    };
    let mut optional = vec!["sku", "multiplier", "bundle", "sync"];
    optional.extend(POLICY_COLUMNS);
    let rows = read_rows(reader, &["channel", "listing_id"], &optional).map_err(refused)?;
    let has_policy_columns = rows
        .first()
        .is_some_and(|row| POLICY_COLUMNS.iter().any(|column| row.has_column(column)));
    let channels: BTreeSet<String> = ledger
        .channels()
        .await?
        .into_iter()
        .map(|channel| channel.id)
        .collect();
    let mut known_skus: BTreeMap<String, bool> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut bindings = Vec::new();
    let mut first_line: BTreeMap<(String, String), u64> = BTreeMap::new();
    for row in &rows {
        let channel = row.required("channel", &mut errors);
        let listing_id = row.required("listing_id", &mut errors);
        let sync_enabled = parse_sync(row, &mut errors);
        let policy = parse_policy(row, has_policy_columns, &mut errors);
        if let Some(channel) = &channel {
            if !channels.contains(channel) {
                errors.push(row.error("channel", format!("unknown channel {channel:?}")));
            }
        }
        let multiplier = row.number("multiplier", 1, &mut errors);
        let (components, column) = match (row.get("sku"), row.get("bundle")) {
            (Some(sku), None) => match multiplier {
                Some(multiplier) => (
                    Some(vec![ListingComponent::new(sku, multiplier.unwrap_or(1))]),
                    "sku",
                ),
                None => (None, "sku"),
            },
            (None, Some(spec)) => {
                if row.get("multiplier").is_some() {
                    errors.push(row.error(
                        "multiplier",
                        "a bundle gives each component's quantity in the bundle column",
                    ));
                }
                match parse_bundle(spec) {
                    Ok(components) => (Some(components), "bundle"),
                    Err(reason) => {
                        errors.push(row.error("bundle", reason));
                        (None, "bundle")
                    }
                }
            }
            (Some(_), Some(_)) => {
                errors.push(row.error("bundle", "give either sku or bundle, not both"));
                (None, "sku")
            }
            (None, None) => {
                errors.push(row.error("sku", "give a sku (or a bundle)"));
                (None, "sku")
            }
        };
        if let Some(components) = &components {
            for component in components {
                let known = match known_skus.get(&component.sku) {
                    Some(known) => *known,
                    None => {
                        let known = ledger.item_exists(&component.sku).await?;
                        known_skus.insert(component.sku.clone(), known);
                        known
                    }
                };
                if !known {
                    errors.push(row.error(column, format!("unknown sku {:?}", component.sku)));
                }
            }
        }
        let (Some(channel), Some(listing_id), Some(components)) = (channel, listing_id, components)
        else {
            continue;
        };
        if let Some(first) = first_line.insert((channel.clone(), listing_id.clone()), row.line) {
            errors.push(row.error(
                "listing_id",
                format!("listing {listing_id} of {channel} is already on line {first}"),
            ));
        }
        bindings.push(ListingBinding {
            location: locate(&channel, &listing_id),
            channel_id: channel,
            listing_id,
            components,
            sync_enabled,
            policy,
        });
    }
    if !errors.is_empty() {
        return Err(refused(errors));
    }
    ledger.bind_listings(&bindings).await?;
    Ok(bindings.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn bundle_specs_parse_and_refuse() {
        assert_eq!(
            parse_bundle("A:2|B").unwrap(),
            vec![ListingComponent::new("A", 2), ListingComponent::new("B", 1)]
        );
        assert!(parse_bundle("A:0").unwrap_err().contains("at least 1"));
        assert!(parse_bundle("A:x").unwrap_err().contains("whole"));
        assert!(parse_bundle("A|A:2").unwrap_err().contains("twice"));
        assert!(parse_bundle(":2").unwrap_err().contains("no sku"));
    }
}
