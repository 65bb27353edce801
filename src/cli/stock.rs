//! `omnistock stock import` and `omnistock stock export`.

use super::csv_rows::{read_rows, RowError};
use super::CliError;
use crate::ledger::{Ledger, StockCount};
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// Who imports, why, and the key that makes a retry harmless.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub actor: String,
    pub reason: String,
    pub idempotency_key: String,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: usize,
    /// Rows applied now (the others were applied by an earlier run with the same key).
    pub applied: usize,
}

/// Validates every row of `reader` (`origin` names it in errors), then sets all the counts in
/// one transaction.
pub async fn import(
    ledger: &Ledger,
    origin: &str,
    reader: impl Read,
    options: &ImportOptions,
) -> Result<ImportReport, CliError> {
    let refused = |errors: Vec<RowError>| CliError::Rows {
        path: origin.to_string(),
        count: errors.len(),
        errors,
    };
    let rows = read_rows(
        reader,
        &["sku", "location", "on_hand"],
        &["reserved", "available"],
    )
    .map_err(refused)?;
    let locations = ledger.locations().await?;
    let mut errors = Vec::new();
    let mut counts = Vec::new();
    let mut first_line: BTreeMap<(String, String), u64> = BTreeMap::new();
    for row in &rows {
        let sku = row.required("sku", &mut errors);
        let location = row.required("location", &mut errors);
        let on_hand = match row.number("on_hand", 0, &mut errors) {
            Some(Some(value)) => Some(value),
            Some(None) => {
                errors.push(row.error("on_hand", "must not be empty"));
                None
            }
            None => None,
        };
        if let Some(location) = &location {
            if !locations.contains(location) {
                errors.push(row.error("location", format!("unknown location {location:?}")));
            }
        }
        let (Some(sku), Some(location), Some(on_hand)) = (sku, location, on_hand) else {
            continue;
        };
        if let Some(first) = first_line.insert((sku.clone(), location.clone()), row.line) {
            errors.push(row.error(
                "sku",
                format!("{sku} at {location} is already counted on line {first}"),
            ));
        }
        counts.push(StockCount {
            sku,
            location,
            on_hand,
        });
    }
    if !errors.is_empty() {
        return Err(refused(errors));
    }
    let applied = ledger
        .import_counts(
            &counts,
            &options.idempotency_key,
            Some(&options.actor),
            Some(&options.reason),
        )
        .await?;
    Ok(ImportReport {
        rows: counts.len(),
        applied,
    })
}

/// Writes every balance as CSV; returns the number of rows written.
pub async fn export(ledger: &Ledger, output: impl Write) -> Result<usize, CliError> {
    let balances = ledger.all_balances().await?;
    let failed = |error: csv::Error| CliError::Export(error.to_string());
    let mut writer = csv::Writer::from_writer(output);
    writer
        .write_record(["sku", "location", "on_hand", "reserved", "available"])
        .map_err(failed)?;
    for balance in &balances {
        writer
            .write_record([
                balance.sku.clone(),
                balance.location.clone(),
                balance.on_hand.to_string(),
                balance.reserved.to_string(),
                balance.available().to_string(),
            ])
            .map_err(failed)?;
    }
    writer
        .flush()
        .map_err(|error| CliError::Export(error.to_string()))?;
    Ok(balances.len())
}
