//! The queries the app needs: lists by kind with filters, worker search, home-screen counts.

use rusqlite::types::Value as SqlValue;
use sidak_core::{Kind, RecordId};

use crate::error::{Result, StoreError};
use crate::records::{self, Entry};
use crate::store::Store;

/// Most records one list page may hold (a screenful is 20-50).
pub const MAX_PAGE: u32 = 500;

/// A list of records of one kind, newest change first, filtered and paged.
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
    /// Records to skip.
    pub offset: u32,
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
            offset: 0,
            limit: 50,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The records, newest change first.
    pub items: Vec<Entry>,
    /// Whether more records follow this page.
    pub more: bool,
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

fn check_paging(offset: u32, limit: u32) -> Result<()> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(StoreError::BadQuery(format!(
            "page size {limit} must be 1 to {MAX_PAGE}"
        )));
    }
    // SQLite takes signed 64-bit offsets, so any u32 is in range; very large ones just return nothing.
    let _ = offset;
    Ok(())
}

impl Store {
    /// Lists records of one kind, newest change first.
    pub fn list(&self, q: &ListQuery) -> Result<Page> {
        check_paging(q.offset, q.limit)?;
        let mut sql =
            String::from("SELECT id, state, unsynced, rejected FROM records WHERE kind = ?");
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
        sql.push_str(" ORDER BY updated_ms DESC, updated_counter DESC, id DESC LIMIT ? OFFSET ?");
        args.push(SqlValue::Integer(i64::from(q.limit) + 1));
        args.push(SqlValue::Integer(i64::from(q.offset)));
        self.page(&sql, args, q.limit)
    }

    /// Finds workers by NIK (all digits: a NIK prefix) or by name (a case-insensitive prefix).
    pub fn find_workers(&self, text: &str, limit: u32) -> Result<Vec<Entry>> {
        check_paging(0, limit)?;
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
            "SELECT id, state, unsynced, rejected FROM records WHERE kind = 'worker' AND {column} >= ? AND {column} < ?
             ORDER BY {column}, id LIMIT ?"
        );
        let args = vec![
            SqlValue::Text(key.clone()),
            SqlValue::Text(format!("{key}\u{10FFFF}")),
            SqlValue::Integer(i64::from(limit)),
        ];
        Ok(self.page(&sql, args, limit)?.items)
    }

    fn page(&self, sql: &str, args: Vec<SqlValue>, limit: u32) -> Result<Page> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut items = Vec::new();
        for row in rows {
            let (id, state, unsynced, rejected) = row?;
            items.push(records::entry(&id, &state, unsynced, rejected)?);
        }
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        Ok(Page { items, more })
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
