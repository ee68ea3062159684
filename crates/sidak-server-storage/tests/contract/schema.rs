//! The two schemas in step: the tables and columns each backend really creates, read back
//! from the live database (SQLite: `sqlite_master` and `pragma_table_info` on the file;
//! PostgreSQL: `information_schema.columns`), must be the same names, apart from the short
//! allow-list below. Types may differ per engine and are not compared.

use std::collections::BTreeSet;

use sidak_server_storage::Storage;

use crate::harness::{Backend, T0};

/// `table` or `table.column`.
type Name = String;

/// Names only SQLite has, and why. `// drift:` marks a difference that is not engine-specific
/// and should be removed by making both schemas agree.
const ONLY_SQLITE: &[(&str, &str)] = &[
    // SQLite's own bookkeeping for `AUTOINCREMENT` (ops.seq); PostgreSQL numbers ops with
    // the sequence `ops_seq`, which is not a table.
    ("sqlite_sequence", "engine table"),
    ("sqlite_sequence.name", "engine table"),
    ("sqlite_sequence.seq", "engine table"),
    // Before the office index's layout 5 (issue 11), SQLite's office_facts also had
    // `regency`, `district`, `approved_seq` and `device_seq`, and PostgreSQL added its later
    // columns only at the first office query: both engines now have one layout, at open.
];

/// Names only PostgreSQL has, and why.
const ONLY_POSTGRES: &[(&str, &str)] = &[
    // Which numbered migrations ran; SQLite keeps that count in `PRAGMA user_version`.
    ("sidak_migrations", "migration record"),
    ("sidak_migrations.version", "migration record"),
    ("sidak_migrations.applied_at", "migration record"),
];

fn names(tables: &[(String, Vec<String>)]) -> BTreeSet<Name> {
    let mut out = BTreeSet::new();
    for (t, cols) in tables {
        out.insert(t.clone());
        for c in cols {
            out.insert(format!("{t}.{c}"));
        }
    }
    out
}

/// Runs one office query: the schema must not change with it (both engines shape the
/// office index at open).
async fn settle(s: &dyn Storage) {
    s.overview("2025-06-15").await.expect("overview");
    let _ = T0;
}

/// The SQLite file's tables and their columns.
pub fn sqlite_tables(b: &Backend) -> Vec<(String, Vec<String>)> {
    let path = b.url.strip_prefix("sqlite:").expect("sqlite url");
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the file");
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    tables
        .into_iter()
        .map(|t| {
            let cols: Vec<String> = c
                .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                .and_then(|mut s| s.query_map([&t], |r| r.get(0))?.collect())
                .expect("columns");
            (t, cols)
        })
        .collect()
}

/// The PostgreSQL database's tables (schema `public`) and their columns.
pub async fn postgres_tables(b: &Backend) -> Vec<(String, Vec<String>)> {
    let (client, conn) = tokio_postgres::connect(&b.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let task = tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c \
             JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
             ORDER BY c.table_name, c.ordinal_position",
            &[],
        )
        .await
        .expect("columns");
    drop(client);
    let _ = task.await;
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in rows {
        let (t, c): (String, String) = (r.get(0), r.get(1));
        match out.last_mut() {
            Some((last, cols)) if *last == t => cols.push(c),
            _ => out.push((t, vec![c])),
        }
    }
    out
}

/// `found` (what one engine has and the other has not) must equal `allowed`: nothing
/// unexplained, and no stale explanation left behind.
fn within(what: &str, found: &BTreeSet<Name>, allowed: &[(&str, &str)]) -> Vec<Name> {
    let allowed: BTreeSet<Name> = allowed.iter().map(|(n, _)| (*n).to_owned()).collect();
    let unexplained: Vec<&Name> = found.difference(&allowed).collect();
    assert!(
        unexplained.is_empty(),
        "{what}: {unexplained:?} (add them to both schemas, or explain them in the allow-list)"
    );
    let stale: Vec<&Name> = allowed.difference(found).collect();
    assert!(
        stale.is_empty(),
        "{what}: the allow-list names {stale:?}, which no longer differ; remove them"
    );
    found.iter().cloned().collect()
}

/// The SQLite and PostgreSQL schemas declare the same tables with the same columns, apart
/// from the commented allow-lists, both right after open and once the office has run a
/// query; returns what only SQLite and only PostgreSQL has in the end.
pub async fn schemas_in_step(sqlite: &Backend, postgres: &Backend) -> (Vec<Name>, Vec<Name>) {
    // Right after open.
    let lite = names(&sqlite_tables(sqlite));
    let pg = names(&postgres_tables(postgres).await);
    within(
        "only SQLite has, right after open",
        &lite.difference(&pg).cloned().collect(),
        ONLY_SQLITE,
    );
    within(
        "only PostgreSQL has, right after open",
        &pg.difference(&lite).cloned().collect(),
        ONLY_POSTGRES,
    );

    // Once each backend answered an office query.
    settle(&**sqlite).await;
    settle(&**postgres).await;
    let lite = names(&sqlite_tables(sqlite));
    let pg = names(&postgres_tables(postgres).await);
    let only_lite = within(
        "only SQLite has",
        &lite.difference(&pg).cloned().collect(),
        ONLY_SQLITE,
    );
    let only_pg = within(
        "only PostgreSQL has",
        &pg.difference(&lite).cloned().collect(),
        ONLY_POSTGRES,
    );
    for table in [
        "blobs",
        "blob_chunks",
        "blob_refs",
        "officers",
        "devices",
        "ops",
        "records",
        "office_facts",
        "office_actions",
    ] {
        assert!(
            lite.contains(table) && pg.contains(table),
            "{table} is missing"
        );
    }
    (only_lite, only_pg)
}
