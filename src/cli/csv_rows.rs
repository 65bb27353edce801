//! Reading CSV files for bulk imports: a header naming the columns, then one record per row.
//! Every problem is reported as a [`RowError`] naming the line and column, so an operator can
//! fix the whole file in one pass.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

/// One refused cell or row of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    /// The column's name from the header (empty when the whole row is wrong).
    pub column: String,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(formatter, "line {}: {}", self.line, self.reason)
        } else {
            write!(
                formatter,
                "line {}, column {}: {}",
                self.line, self.column, self.reason
            )
        }
    }
}

/// A data row: its line and its cells by column name (missing columns are absent).
pub(super) struct Row {
    pub line: u64,
    cells: BTreeMap<String, String>,
}

impl Row {
    /// The trimmed cell, `None` when the column is absent or the cell empty.
    pub(super) fn get(&self, column: &str) -> Option<&str> {
        self.cells
            .get(column)
            .map(|cell| cell.trim())
            .filter(|cell| !cell.is_empty())
    }

    /// Whether the file has this column.
    pub(super) fn has_column(&self, column: &str) -> bool {
        self.cells.contains_key(column)
    }

    pub(super) fn error(&self, column: &str, reason: impl Into<String>) -> RowError {
        RowError {
            line: self.line,
            column: column.to_string(),
            reason: reason.into(),
        }
    }

    /// A required non-empty cell.
    pub(super) fn required(&self, column: &str, errors: &mut Vec<RowError>) -> Option<String> {
        match self.get(column) {
            Some(cell) => Some(cell.to_string()),
            None => {
                errors.push(self.error(column, "must not be empty"));
                None
            }
        }
    }

    /// An optional whole number of at least `minimum`.
    pub(super) fn number(
        &self,
        column: &str,
        minimum: i64,
        errors: &mut Vec<RowError>,
    ) -> Option<Option<i64>> {
        let Some(cell) = self.get(column) else {
            return Some(None);
        };
        match cell.parse::<i64>() {
            Ok(value) if value >= minimum => Some(Some(value)),
            Ok(_) => {
                errors.push(self.error(column, format!("must be at least {minimum}, got {cell}")));
                None
            }
            Err(_) => {
                errors.push(self.error(column, format!("expected a whole number, got {cell:?}")));
                None
            }
        }
    }
}

/// Reads every row of `reader`. The header must have every `required` column and no column
/// outside `required` and `optional`. Returns the rows, or every problem found.
pub(super) fn read_rows(
    reader: impl Read,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<Row>, Vec<RowError>> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::Headers)
        .from_reader(reader);
    let header_error = |reason: String| RowError {
        line: 1,
        column: String::new(),
        reason,
    };
    let headers: Vec<String> = match csv.headers() {
        Ok(headers) => headers.iter().map(|name| name.to_lowercase()).collect(),
        Err(error) => {
            return Err(vec![header_error(format!(
                "cannot read the header: {error}"
            ))])
        }
    };
    let mut errors = Vec::new();
    for name in &headers {
        if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
            errors.push(RowError {
                line: 1,
                column: name.clone(),
                reason: format!(
                    "unknown column, expected {}",
                    required
                        .iter()
                        .chain(optional)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    for name in required {
        if !headers.iter().any(|header| header == name) {
            errors.push(header_error(format!("the header lacks the column {name}")));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    for record in csv.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |position| position.line());
                let cells = headers
                    .iter()
                    .cloned()
                    .zip(record.iter().map(str::to_string))
                    .collect();
                rows.push(Row { line, cells });
            }
            Err(error) => {
                let line = error.position().map_or(0, |position| position.line());
                let reason = match error.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("expected {expected_len} fields, found {len}"),
                    _ => error.to_string(),
                };
                errors.push(RowError {
                    line,
                    column: String::new(),
                    reason,
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}
