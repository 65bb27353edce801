//! The two dialects' migrations make one schema: every table and column of the PostgreSQL
//! ledger exists in the SQLite ledger and the other way round, with the same nullability. A
//! migration written for one backend and forgotten (or mistyped) for the other fails here.

use crate::common::{TestBackend, TestDatabase};
use sqlx::Row;
use std::collections::BTreeMap;

/// Tables one backend has by design, with the reason.
const POSTGRES_ONLY: &[(&str, &str)] = &[(
    "leader_lease",
    "the sync leader's lease among replicas; an SQLite file has one process, held by a file lock",
)];

/// `(table, column)` → nullable, for every table but sqlx's own bookkeeping.
type Columns = BTreeMap<(String, String), bool>;

async fn postgres_columns(database: &TestDatabase) -> Columns {
    let ledger = database.ledger().await;
    let rows = sqlx::query(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT), \
         CAST(CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS BIGINT) \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(ledger.pool())
    .await
    .unwrap();
    ledger.close().await;
    rows.iter()
        .map(|row| {
            let nullable: i64 = row.get(2);
            ((row.get(0), row.get(1)), nullable == 1)
        })
        .filter(|((table, _), _): &((String, String), bool)| {
            !POSTGRES_ONLY.iter().any(|(only, _)| only == table)
        })
        .collect()
}

async fn sqlite_columns(database: &TestDatabase) -> Columns {
    let ledger = database.ledger().await;
    let rows = sqlx::query(
        "SELECT m.name, p.name, CAST(CASE WHEN p.\"notnull\" = 0 AND p.pk = 0 THEN 1 ELSE 0 END AS BIGINT) \
         FROM sqlite_master AS m, pragma_table_info(m.name) AS p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(ledger.pool())
    .await
    .unwrap();
    ledger.close().await;
    rows.iter()
        .map(|row| {
            let nullable: i64 = row.get(2);
            ((row.get(0), row.get(1)), nullable == 1)
        })
        .collect()
}

/// What one side has that the other lacks or has otherwise, one line each.
fn differences(postgres: &Columns, sqlite: &Columns) -> Vec<String> {
    let mut found = Vec::new();
    for ((table, column), nullable) in postgres {
        match sqlite.get(&(table.clone(), column.clone())) {
            None => found.push(format!("{table}.{column}: only on PostgreSQL")),
            Some(other) if other != nullable => found.push(format!(
                "{table}.{column}: nullable on PostgreSQL {nullable}, on SQLite {other}"
            )),
            Some(_) => {}
        }
    }
    for (table, column) in sqlite.keys() {
        if !postgres.contains_key(&(table.clone(), column.clone())) {
            found.push(format!("{table}.{column}: only on SQLite"));
        }
    }
    found
}

#[tokio::test]
async fn both_dialects_migrate_to_the_same_tables_and_columns() {
    let postgres = postgres_columns(&TestDatabase::create(TestBackend::Postgres).await).await;
    let sqlite = sqlite_columns(&TestDatabase::create(TestBackend::Sqlite).await).await;
    assert!(
        postgres.len() > 50,
        "too few columns read: {}",
        postgres.len()
    );
    assert_eq!(differences(&postgres, &sqlite), Vec::<String>::new());
}

#[test]
fn a_column_on_one_side_only_is_reported() {
    let mut postgres = Columns::new();
    postgres.insert(("items".into(), "sku".into()), false);
    postgres.insert(("items".into(), "title".into()), true);
    let mut sqlite = Columns::new();
    sqlite.insert(("items".into(), "sku".into()), true);
    sqlite.insert(("items".into(), "extra".into()), true);
    assert_eq!(
        differences(&postgres, &sqlite),
        [
            "items.sku: nullable on PostgreSQL false, on SQLite true",
            "items.title: only on PostgreSQL",
            "items.extra: only on SQLite",
        ]
    );
}
