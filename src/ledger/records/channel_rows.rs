//! The listing both operator tables of refusals share: dead letters and quarantined orders are
//! listed the same way, every row or one channel's, oldest first.

use sqlx::any::AnyRow;

use crate::ledger::error::DatabaseContext;
use crate::ledger::{Ledger, LedgerError};

/// The rows of `table` (its `columns`), oldest first (by `id`); only `channel_id`'s when given.
pub(super) async fn rows_of_channel<Row>(
    ledger: &Ledger,
    table: &'static str,
    columns: &str,
    channel_id: Option<&str>,
    context: &'static str,
) -> Result<Vec<Row>, LedgerError>
where
    Row: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
{
    let select = format!("SELECT {columns} FROM {table}");
    match channel_id {
        Some(channel_id) => {
            sqlx::query_as(&format!("{select} WHERE channel_id = $1 ORDER BY id"))
                .bind(channel_id)
                .fetch_all(&ledger.pool)
                .await
        }
        None => {
            sqlx::query_as(&format!("{select} ORDER BY id"))
                .fetch_all(&ledger.pool)
                .await
        }
    }
    .context(context)
}
