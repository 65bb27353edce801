//! Many rows as one statement parameter: a JSON array, read back as a table by the database
//! (`json_to_recordset` on PostgreSQL, `json_each` on SQLite).
//!
//! A statement over a row set has the same text however many rows it carries, so each
//! connection prepares it once, and it needs neither bind limits nor chunking: a group of
//! bookings writes each table in one round trip. The row set is always parameter `$1` and a
//! statement over one has no other parameter (SQLite numbers `$N` by first appearance), so
//! values shared by all rows (a timestamp, say) travel in every row.

use serde::Serialize;

use crate::ledger::{Backend, LedgerError};

/// The SQL type of a row set's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    Text,
    BigInt,
}

/// A row set's columns: the field names of the serialized rows, with their types.
pub(crate) type Columns = &'static [(&'static str, ColumnType)];

/// A `FROM` item that reads the JSON array bound as `$1` as a table named `alias`.
pub(crate) fn rows_table(backend: Backend, alias: &str, columns: Columns) -> String {
    match backend {
        Backend::Postgres => {
            let definitions: Vec<String> = columns
                .iter()
                .map(|(name, column_type)| {
                    let sql_type = match column_type {
                        ColumnType::Text => "text",
                        ColumnType::BigInt => "bigint",
                    };
                    format!("{name} {sql_type}")
                })
                .collect();
            format!(
                "json_to_recordset(CAST($1 AS json)) AS {alias}({})",
                definitions.join(", ")
            )
        }
        Backend::Sqlite => {
            // json_extract gives back an integer for a JSON integer and text for a string.
            let fields: Vec<String> = columns
                .iter()
                .map(|(name, _)| format!("json_extract(value, '$.{name}') AS {name}"))
                .collect();
            format!(
                "(SELECT {} FROM json_each($1)) AS {alias}",
                fields.join(", ")
            )
        }
    }
}

/// The rows as the JSON array to bind as `$1`.
pub(crate) fn rows_json<T: Serialize>(rows: &[T]) -> Result<String, LedgerError> {
    serde_json::to_string(rows)
        .map_err(|error| LedgerError::Corrupt(format!("a row set cannot be written: {error}")))
}

/// A row of one key: a channel, a location, a SKU.
#[derive(Serialize)]
pub(crate) struct KeyRow<'a> {
    pub key: &'a str,
}

pub(crate) const KEY_COLUMNS: Columns = &[("key", ColumnType::Text)];

/// A row of a channel and one of its keys: a delivery, an order, a listing.
#[derive(Serialize)]
pub(crate) struct ChannelKeyRow<'a> {
    pub channel_id: &'a str,
    pub key: &'a str,
}

pub(crate) const CHANNEL_KEY_COLUMNS: Columns =
    &[("channel_id", ColumnType::Text), ("key", ColumnType::Text)];

/// `keys` of one channel as a row set of [`CHANNEL_KEY_COLUMNS`].
pub(crate) fn channel_rows_json(channel_id: &str, keys: &[String]) -> Result<String, LedgerError> {
    let rows: Vec<ChannelKeyRow<'_>> = keys
        .iter()
        .map(|key| ChannelKeyRow { channel_id, key })
        .collect();
    rows_json(&rows)
}

/// A row of one database id.
#[derive(Serialize)]
pub(crate) struct IdRow {
    pub id: i64,
}

pub(crate) const ID_COLUMNS: Columns = &[("id", ColumnType::BigInt)];

/// `ORDER BY` text columns in the bytes' order, the order Rust sorts strings in, so that rows
/// locked by one statement and by Rust-sorted loops are locked in one order.
pub(crate) fn byte_order(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "COLLATE \"C\"",
        Backend::Sqlite => "COLLATE BINARY",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: Columns = &[("sku", ColumnType::Text), ("quantity", ColumnType::BigInt)];

    #[test]
    fn postgres_reads_the_parameter_as_typed_records() {
        assert_eq!(
            rows_table(Backend::Postgres, "r", COLUMNS),
            "json_to_recordset(CAST($1 AS json)) AS r(sku text, quantity bigint)"
        );
    }

    #[test]
    fn sqlite_extracts_each_field_by_name() {
        assert_eq!(
            rows_table(Backend::Sqlite, "r", COLUMNS),
            "(SELECT json_extract(value, '$.sku') AS sku, \
             json_extract(value, '$.quantity') AS quantity FROM json_each($1)) AS r"
        );
    }
}
