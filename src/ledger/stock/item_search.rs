//! Finding items by a piece of their SKU or title (the operator console's search box).

use crate::ledger::error::DatabaseContext;
use crate::ledger::{Ledger, LedgerError};

/// One item found, with its availability summed over every location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundItem {
    pub sku: String,
    pub title: String,
    pub available: i64,
}

impl Ledger {
    /// Items whose SKU or title contains `text` (ignoring case), an exact SKU first, then by
    /// SKU; at most `limit`.
    pub async fn search_items(
        &self,
        text: &str,
        limit: i64,
    ) -> Result<Vec<FoundItem>, LedgerError> {
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT i.sku, i.title, CAST(COALESCE(SUM(b.on_hand - b.reserved), 0) AS BIGINT) \
             FROM items i LEFT JOIN balances b ON b.sku = i.sku \
             WHERE LOWER(i.sku) LIKE $1 ESCAPE '\\' OR LOWER(i.title) LIKE $1 ESCAPE '\\' \
             GROUP BY i.sku, i.title \
             ORDER BY CASE WHEN i.sku = $2 THEN 0 ELSE 1 END, i.sku \
             LIMIT $3",
        )
        .bind(pattern)
        .bind(text)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("searching items")?;
        Ok(rows
            .into_iter()
            .map(|(sku, title, available)| FoundItem {
                sku,
                title,
                available,
            })
            .collect())
    }
}

/// `text` with LIKE's wildcards taken literally.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn wildcards_are_taken_literally() {
        assert_eq!(escape_like("a%b_c\\d"), "a\\%b\\_c\\\\d");
        assert_eq!(escape_like("plain"), "plain");
    }
}
