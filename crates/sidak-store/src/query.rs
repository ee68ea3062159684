//! The queries the app needs: lists by kind with filters, worker search, home-screen counts.
//!
//! Lists page by a **keyset cursor**, never by an offset: a page asks for the rows after the
//! previous page's last row in the list's order, `(updated_ms, updated_counter, id)` newest
//! first, which the `records_kind_updated` index holds (read backwards). So a page reads the page
//! (plus the rows its filters reject on the way), however deep it is, and a sync committing
//! between two pages moves the records it changes to the front without shifting the others:
//! see [`ListQuery::after`] for what a walk guarantees.

use rusqlite::types::Value as SqlValue;
use sidak_core::{Kind, RecordId};

use crate::cursor::{self, Key};
use crate::error::{Result, StoreError};
use crate::records::{self, Entry};
use crate::store::Store;

/// Most records one list page may hold (a screenful is 20-50).
pub const MAX_PAGE: u32 = 500;

/// A list of records of one kind, newest change first, filtered, one page at a time.
///
/// The first page has `after: None`; each next page is the same query with `after` set to
/// the previous page's [`Page::next`]. Only the page size may change between pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The kind listed.
    pub kind: Kind,
    /// Only records with this status.
    pub status: Option<String>,
    /// Only records whose region code starts with this (province, regency, district or village).
    pub region_prefix: Option<String>,
    /// Only visits of this company (kind must be `visit`).
    pub company: Option<RecordId>,
    /// Only findings of this visit (kind must be `finding`).
    pub visit: Option<RecordId>,
    /// Only records with local edits not yet acknowledged (or refused).
    pub unsynced_only: bool,
    /// Only records with competing values.
    pub conflicts_only: bool,
    /// Where the page starts: `None` for the first page, else the [`Page::next`] cursor of the
    /// previous page of this same list (same kind and filters).
    ///
    /// The cursor is an **opaque** string: it names the position after the previous page's
    /// last row (its latest-change stamp and id) and which list it belongs to; do not build,
    /// parse or keep it beyond the walk. One that this store did not hand out for this list
    /// (malformed, altered, from another kind or other filters) is refused with
    /// [`StoreError::BadCursor`] (`invalid_cursor`); start again from the first page then.
    ///
    /// What a walk (first page, then `next` until it is `None`) guarantees, whatever syncs and
    /// edits commit between its pages:
    /// - a record that exists throughout the walk and is not changed during it is listed
    ///   **exactly once**, in its place;
    /// - a change to one record never makes another record be skipped or listed twice (there
    ///   is no offset to shift);
    /// - a record changed during the walk moves to the front (a change only raises its
    ///   latest-change stamp), so this walk lists it at most once: before the change if its
    ///   page came first, otherwise not at all; a fresh walk shows it at the top. (Two rare
    ///   changes can move a record back instead: an own edit stamped again after the phone's
    ///   clock had run ahead, or a rebuild after a restored server; such a record may then be
    ///   listed twice.)
    /// - a record created during the walk (or pulled with an older stamp) is listed if its
    ///   place is after the cursor, else on the next walk; a record removed is not listed.
    pub after: Option<String>,
    /// Records per page, 1 to [`MAX_PAGE`].
    pub limit: u32,
}

impl ListQuery {
    /// Every record of `kind`, first page of 50.
    pub fn new(kind: Kind) -> Self {
        ListQuery {
            kind,
            status: None,
            region_prefix: None,
            company: None,
            visit: None,
            unsynced_only: false,
            conflicts_only: false,
            after: None,
            limit: 50,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The records, newest change first.
    pub items: Vec<Entry>,
    /// Whether more records follow this page (`next.is_some()`).
    pub more: bool,
    /// The cursor of the next page (set it as [`ListQuery::after`]), `None` after the last page.
    pub next: Option<String>,
}

/// The home screen's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records held, all kinds.
    pub records: u64,
    /// Records held per kind, in [`Kind::ALL`] order.
    pub by_kind: [u64; 4],
    /// Local edits not yet acknowledged by the server (including the batch in flight).
    pub pending_ops: u64,
    /// Local edits the server refused (rejected or set aside).
    pub refused_ops: u64,
    /// Records holding competing values.
    pub conflicted_records: u64,
}

fn check_prefix(p: &str) -> Result<()> {
    if p.is_empty() || p.len() > 10 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::BadQuery(format!(
            "region prefix {:?} must be 1 to 10 digits without dots",
            p.chars().take(20).collect::<String>()
        )));
    }
    Ok(())
}

fn check_limit(limit: u32) -> Result<()> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(StoreError::BadQuery(format!(
            "page size {limit} must be 1 to {MAX_PAGE}"
        )));
    }
    Ok(())
}

/// The columns a page reads: the entry, then the row's place in the list.
const COLUMNS: &str = "id, state, unsynced, rejected, updated_ms, updated_counter";

/// The list's order: `records_kind_updated` (after `kind`) read backwards.
const ORDER: &str = "ORDER BY updated_ms DESC, updated_counter DESC, id DESC";

/// The SQL and arguments of the page of `q` after `after` (its first page without),
/// asking for `limit + 1` rows so that the extra one tells whether more follow.
fn list_sql(q: &ListQuery, after: Option<&Key>) -> Result<(String, Vec<SqlValue>)> {
    check_limit(q.limit)?;
    let mut sql = format!("SELECT {COLUMNS} FROM records WHERE kind = ?");
    let mut args: Vec<SqlValue> = vec![SqlValue::Text(q.kind.as_str().to_owned())];
    if let Some(s) = &q.status {
        sql.push_str(" AND status = ?");
        args.push(SqlValue::Text(s.clone()));
    }
    if let Some(p) = &q.region_prefix {
        check_prefix(p)?;
        // A range rather than LIKE, so the region index serves it (':' sorts right after '9').
        sql.push_str(" AND region >= ? AND region < ?");
        args.push(SqlValue::Text(p.clone()));
        args.push(SqlValue::Text(format!("{p}:")));
    }
    for (filter, wanted) in [(q.company, Kind::Visit), (q.visit, Kind::Finding)] {
        if let Some(id) = filter {
            if q.kind != wanted {
                return Err(StoreError::BadQuery(format!(
                    "the {} filter applies to {wanted} lists, not {}",
                    if wanted == Kind::Visit {
                        "company"
                    } else {
                        "visit"
                    },
                    q.kind
                )));
            }
            sql.push_str(" AND ref_id = ?");
            args.push(SqlValue::Text(id.to_string()));
        }
    }
    if q.unsynced_only {
        sql.push_str(" AND (unsynced > 0 OR rejected > 0)");
    }
    if q.conflicts_only {
        sql.push_str(" AND conflicts > 0");
    }
    if let Some(k) = after {
        // A row value: SQLite seeks the index to the cursor and reads on from there.
        sql.push_str(" AND (updated_ms, updated_counter, id) < (?, ?, ?)");
        args.push(SqlValue::Integer(
            i64::try_from(k.ms).map_err(|_| StoreError::BadCursor("time out of range".into()))?,
        ));
        args.push(SqlValue::Integer(i64::from(k.counter)));
        args.push(SqlValue::Text(k.id.to_string()));
    }
    sql.push(' ');
    sql.push_str(ORDER);
    sql.push_str(" LIMIT ?");
    args.push(SqlValue::Integer(i64::from(q.limit) + 1));
    Ok((sql, args))
}

/// Rows read by [`Store::rows`]: each entry with its place in the list.
struct Rows {
    items: Vec<(Entry, Key)>,
    /// Whether the query had a row after `limit` (left undecoded).
    more: bool,
}

impl Store {
    /// One page of a list of one kind, newest change first: the first page, or the page
    /// after [`ListQuery::after`] (see there for what walking every page guarantees).
    ///
    /// A page costs the rows it returns plus the rows of the kind its filters reject on the
    /// way, however deep it is: it is one range read of the `records_kind_updated` index
    /// from the cursor, with no sort and no offset.
    pub fn list(&self, q: &ListQuery) -> Result<Page> {
        let after = q
            .after
            .as_deref()
            .map(|t| cursor::decode(q, t))
            .transpose()?;
        let (sql, args) = list_sql(q, after.as_ref())?;
        let Rows { items, more } = self.rows(&sql, args, q.limit)?;
        let next = if more {
            items.last().map(|(_, k)| cursor::encode(q, k))
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().map(|(e, _)| e).collect(),
            more: next.is_some(),
            next,
        })
    }

    /// Finds workers by NIK (all digits: a NIK prefix) or by name (a case-insensitive prefix).
    pub fn find_workers(&self, text: &str, limit: u32) -> Result<Vec<Entry>> {
        check_limit(limit)?;
        let text = text.trim();
        if text.is_empty() {
            return Err(StoreError::BadQuery("search text is empty".into()));
        }
        let (column, key) = if text.bytes().all(|b| b.is_ascii_digit()) {
            ("nik", text.to_owned())
        } else {
            ("name_lc", text.to_lowercase())
        };
        // U+10FFFF sorts after every character, so [key, key + U+10FFFF) is the prefix range.
        let sql = format!(
            "SELECT {COLUMNS} FROM records WHERE kind = 'worker' AND {column} >= ? AND {column} < ?
             ORDER BY {column}, id LIMIT ?"
        );
        let args = vec![
            SqlValue::Text(key.clone()),
            SqlValue::Text(format!("{key}\u{10FFFF}")),
            SqlValue::Integer(i64::from(limit)),
        ];
        let rows = self.rows(&sql, args, limit)?;
        Ok(rows.items.into_iter().map(|(e, _)| e).collect())
    }

    /// Runs a query selecting [`COLUMNS`]; decodes its first `limit` rows.
    fn rows(&self, sql: &str, args: Vec<SqlValue>, limit: u32) -> Result<Rows> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let mut items = Vec::new();
        while let Some(r) = rows.next()? {
            if items.len() == limit as usize {
                return Ok(Rows { items, more: true });
            }
            let id: String = r.get(0)?;
            let state: String = r.get(1)?;
            let entry = records::entry(&id, &state, r.get(2)?, r.get(3)?)?;
            let key = Key {
                ms: u64::try_from(r.get::<_, i64>(4)?)
                    .map_err(|e| StoreError::corrupt(format!("record {id} updated_ms"), e))?,
                counter: u32::try_from(r.get::<_, i64>(5)?)
                    .map_err(|e| StoreError::corrupt(format!("record {id} updated_counter"), e))?,
                id: id
                    .parse()
                    .map_err(|e| StoreError::corrupt(format!("record id {id:?}"), e))?,
            };
            items.push((entry, key));
        }
        Ok(Rows { items, more: false })
    }

    /// The home screen's figures.
    pub fn counts(&self) -> Result<Counts> {
        let mut c = Counts::default();
        {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT kind, count(*) FROM records GROUP BY kind")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (kind, n) = row?;
                let kind: Kind = kind
                    .parse()
                    .map_err(|e| StoreError::corrupt("record kind", e))?;
                let n = n.max(0) as u64;
                if let Some(i) = Kind::ALL.iter().position(|k| *k == kind) {
                    c.by_kind[i] = n;
                }
                c.records += n;
            }
        }
        let count = |sql: &str| -> Result<u64> {
            let n: i64 = self.conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        };
        c.pending_ops = count("SELECT count(*) FROM ops WHERE state IN (0, 1)")?;
        c.refused_ops = count("SELECT count(*) FROM ops WHERE state = 3")?;
        c.conflicted_records = count("SELECT count(*) FROM records WHERE conflicts > 0")?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rusqlite::StatementStatus;

    use super::*;

    /// A store holding `n` raw worker rows (state never decoded here): times in groups of 7
    /// rows sharing a millisecond and counters 0-2, so that many rows tie on both and only
    /// the id orders them; ids in no particular order.
    fn store_with_rows(n: u64) -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path().join("rows.db")).unwrap();
        let tx = s.conn.transaction().unwrap();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO records (id, kind, region, status, updated_ms, updated_counter, state)
                     VALUES (?1, 'worker', ?2, ?3, ?4, ?5, 'x')",
                )
                .unwrap();
            for i in 0..n {
                let id = RecordId::from_u128(u128::from(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
                let region = if i % 2 == 0 {
                    "7371011001"
                } else {
                    "7306011001"
                };
                let status = if i % 3 == 0 { "draft" } else { "submitted" };
                ins.execute(rusqlite::params![
                    id.to_string(),
                    region,
                    status,
                    1_764_000_000_000 + (i / 7) as i64,
                    (i % 3) as i64
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
        (d, s)
    }

    /// Runs the page of `q` after `after` without decoding states: the keys it returns (at
    /// most `limit`), and the SQLite VM steps, full-scan steps and sorts it took.
    fn raw_page(s: &Store, q: &ListQuery, after: Option<&Key>) -> (Vec<Key>, [i32; 3]) {
        let (sql, args) = list_sql(q, after).unwrap();
        let mut stmt = s.conn.prepare(&sql).unwrap();
        let keys: Vec<Key> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok(Key {
                    ms: r.get::<_, i64>(4)? as u64,
                    counter: r.get::<_, i64>(5)? as u32,
                    id: r.get::<_, String>(0)?.parse().unwrap(),
                })
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let cost = [
            stmt.get_status(StatementStatus::VmStep),
            stmt.get_status(StatementStatus::FullscanStep),
            stmt.get_status(StatementStatus::Sort),
        ];
        (keys.into_iter().take(q.limit as usize).collect(), cost)
    }

    fn sort_key(k: &Key) -> (u64, u32, String) {
        (k.ms, k.counter, k.id.to_string())
    }

    /// Every shape of list the app asks for, each with and without a cursor.
    fn shapes() -> Vec<ListQuery> {
        let mut out = vec![ListQuery::new(Kind::Worker)];
        let mut q = ListQuery::new(Kind::Worker);
        q.status = Some("submitted".into());
        out.push(q.clone());
        q.region_prefix = Some("737101".into());
        out.push(q);
        let mut q = ListQuery::new(Kind::Company);
        q.region_prefix = Some("73".into());
        out.push(q);
        let mut q = ListQuery::new(Kind::Visit);
        q.company = Some(RecordId::from_u128(1));
        out.push(q);
        let mut q = ListQuery::new(Kind::Finding);
        q.visit = Some(RecordId::from_u128(2));
        out.push(q);
        let mut q = ListQuery::new(Kind::Worker);
        q.unsynced_only = true;
        out.push(q.clone());
        q.unsynced_only = false;
        q.conflicts_only = true;
        out.push(q);
        out
    }

    #[test]
    fn every_list_page_is_a_range_read_of_the_list_index() {
        let (_d, s) = store_with_rows(1_000);
        let at = Key {
            ms: 1_764_000_000_050,
            counter: 1,
            id: RecordId::from_u128(5),
        };
        for q in shapes() {
            for after in [None, Some(&at)] {
                let (sql, args) = list_sql(&q, after).unwrap();
                let mut stmt = s
                    .conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .unwrap();
                let plan: Vec<String> = stmt
                    .query_map(rusqlite::params_from_iter(args), |r| r.get(3))
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap();
                let plan = plan.join(" | ");
                assert!(
                    plan.starts_with("SEARCH records USING INDEX records_kind_updated (kind=?"),
                    "{q:?} {after:?}: {plan}"
                );
                if after.is_some() {
                    assert!(
                        plan.contains("(updated_ms,updated_counter,id)<(?,?,?)"),
                        "the cursor must bound the index range: {plan}"
                    );
                }
                assert!(!plan.contains("SCAN"), "{q:?}: {plan}");
                assert!(!plan.contains("TEMP B-TREE"), "{q:?}: {plan}");
            }
        }
    }

    #[test]
    fn walking_20000_rows_costs_the_same_per_page_however_deep() {
        let n = 20_000;
        let (_d, s) = store_with_rows(n);
        let mut q = ListQuery::new(Kind::Worker);
        q.limit = 50;
        let mut after: Option<Key> = None;
        let mut seen = std::collections::HashSet::new();
        let mut last: Option<(u64, u32, String)> = None;
        let mut steps = Vec::new();
        loop {
            let (keys, [vm, fullscan, sorts]) = raw_page(&s, &q, after.as_ref());
            assert_eq!((fullscan, sorts), (0, 0), "page {}", steps.len());
            steps.push(vm);
            for k in &keys {
                assert!(seen.insert(k.id), "{} listed twice", k.id);
                // Strictly newest first across pages: the cursor resumes right after the row.
                let key = sort_key(k);
                assert!(
                    last.as_ref().is_none_or(|l| *l > key),
                    "{key:?} after {last:?}"
                );
                last = Some(key);
            }
            if keys.len() < q.limit as usize {
                break;
            }
            after = keys.last().copied();
        }
        assert_eq!(seen.len() as u64, n);
        assert_eq!(steps.len(), 401);
        // Page 400 reads as few rows as page 2 (the first one after a cursor) does.
        let second = steps[1];
        let deepest = *steps[1..400].iter().max().unwrap();
        assert!(
            deepest <= second + second / 4,
            "page 2 {second}, deepest {deepest}"
        );

        // What an offset cost at the same depth (the way lists paged before): every row
        // before the page read again, so about 400 times the first page.
        let (sql, args) = list_sql(&q, None).unwrap();
        let sql = sql.replace(" LIMIT ?", " LIMIT ? OFFSET 19950");
        let mut stmt = s.conn.prepare(&sql).unwrap();
        let count = stmt
            .query_map(rusqlite::params_from_iter(args), |_| Ok(()))
            .unwrap()
            .count();
        assert_eq!(count, 50);
        let offset_vm = stmt.get_status(StatementStatus::VmStep);
        assert!(
            offset_vm > 50 * deepest,
            "offset {offset_vm}, cursor {deepest}"
        );
    }

    #[test]
    fn filtered_walks_list_each_matching_row_once() {
        let (_d, s) = store_with_rows(3_000);
        let mut q = ListQuery::new(Kind::Worker);
        q.status = Some("submitted".into());
        q.region_prefix = Some("7371".into());
        q.limit = 37;
        let mut after = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let (keys, _) = raw_page(&s, &q, after.as_ref());
            for k in &keys {
                assert!(seen.insert(k.id));
            }
            if keys.len() < q.limit as usize {
                break;
            }
            after = keys.last().copied();
        }
        // Even i (7371…) and i % 3 != 0 (submitted).
        let expected = (0..3_000u64).filter(|i| i % 2 == 0 && i % 3 != 0).count();
        assert_eq!(seen.len(), expected);
    }
}
