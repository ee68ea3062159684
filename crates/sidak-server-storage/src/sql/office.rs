//! The office queries' SQL, once for both engines: the office index's layout version, the
//! fragments every summary reads (needs review, cancelled with findings, pending set-aside
//! ops) and the one filter builder of the record list, the conflicts inbox and the export.
//!
//! **The office index** (`office_facts`, one row per record) has the same columns on both
//! engines: `id, kind, region, regency, district, status, label, nik, nib, occupation,
//! compliance, deadline, conflicts, created_ms, officer_id, updated_ms, approved_seq,
//! device_seq, visit, cancelled` (`cancelled` an integer 0/1). What a row holds is decided
//! in pure code ([`crate::office::facts::IndexRow`]); each backend only writes it.

use sidak_core::{Kind, RecordId};

use super::{Args, Dialect, prefix_range, where_sql};
use crate::office::facts::SETTLED;
use crate::office::model::{
    DuplicateGroup, PageAfter, RecordFilter, RecordPage, RecordSummary, Search,
};

/// Version of the office index's layout, the same on both engines. The index is derived
/// data: when this changes, a backend rebuilds it from the op log.
/// 5: both engines hold `regency`, `district`, `approved_seq`, `device_seq` and an integer
/// `cancelled`, and a visit's label follows one rule ([`crate::office::facts::labels`]).
pub const INDEX_VERSION: i64 = 5;

/// The `office_state` key that holds the layout version of the stored index.
pub const INDEX_VERSION_KEY: &str = "index_version";

/// Whether record `f` was approved by the office and a device wrote to it since
/// (`approved_seq IS NOT NULL` first, so a partial index on it serves the filter).
pub const NEEDS_REVIEW: &str = "(f.approved_seq IS NOT NULL AND f.status IN ('approved', 'verified') \
     AND COALESCE(f.device_seq, 0) > f.approved_seq)";

/// Whether record `f` is a cancelled visit with findings not archived (docs/domain.md,
/// case 6); `cancelled = 1` first, so a partial index on it serves the filter.
pub const CANCELLED_WITH_FINDINGS: &str = "(f.cancelled = 1 AND EXISTS (SELECT 1 FROM office_facts g \
     WHERE g.visit = f.id AND g.kind = 'finding' AND COALESCE(g.status, '') <> 'archived'))";

/// How many of record `f`'s ops wait in the set-aside list.
pub const PENDING_SET_ASIDE: &str =
    "(SELECT COUNT(*) FROM set_aside s WHERE s.record_id = f.id AND s.resolution IS NULL)";

/// The columns of a set-aside op, in the order both backends decode them.
pub const SET_ASIDE_COLS: &str =
    "id, device_id, officer_id, record_id, region, op, received_ms, resolution, resolved_ms";

/// The columns of a record summary over `office_facts f`, in the order both backends decode them.
pub fn summary_cols() -> String {
    format!(
        "f.id, f.kind, f.region, f.status, f.label, f.nik, f.nib, f.conflicts, f.created_ms, \
         f.updated_ms, f.officer_id, {NEEDS_REVIEW}, {PENDING_SET_ASIDE}, {CANCELLED_WITH_FINDINGS}"
    )
}

/// The `WHERE` conditions of `filter` over `office_facts f`, pushing their arguments.
pub fn conditions(filter: &RecordFilter, args: &mut Args) -> Vec<String> {
    let mut conds = Vec::new();
    if let Some(k) = filter.kind {
        conds.push(format!("f.kind = {}", args.text(k.as_str())));
    }
    if let Some(s) = &filter.status {
        conds.push(format!("f.status = {}", args.text(s.clone())));
    }
    if let Some(p) = &filter.region {
        conds.push(prefix_range("f.region", p, args));
    }
    if let Some(o) = &filter.officer {
        conds.push(format!("f.officer_id = {}", args.text(o.clone())));
    }
    if let Some(t) = filter.from_ms {
        conds.push(format!("f.created_ms >= {}", args.int(clamp(t))));
    }
    if let Some(t) = filter.to_ms {
        conds.push(format!("f.created_ms < {}", args.int(clamp(t))));
    }
    match filter.has_conflicts {
        Some(true) => conds.push("f.conflicts > 0".into()),
        Some(false) => conds.push("f.conflicts = 0".into()),
        None => {}
    }
    if filter.has_set_aside {
        conds.push(format!("{PENDING_SET_ASIDE} > 0"));
    }
    if filter.needs_review {
        conds.push(NEEDS_REVIEW.into());
    }
    if filter.cancelled_with_findings {
        conds.push(CANCELLED_WITH_FINDINGS.into());
    }
    if filter.awaiting_review {
        let mut any = Vec::new();
        for kind in Kind::ALL {
            let statuses = crate::office::facts::awaiting_review(kind);
            if statuses.is_empty() {
                continue;
            }
            let k = args.text(kind.as_str());
            let list: Vec<String> = statuses.iter().map(|s| args.text(*s)).collect();
            any.push(format!(
                "(f.kind = {k} AND f.status IN ({}))",
                list.join(", ")
            ));
        }
        conds.push(format!("({})", any.join(" OR ")));
    }
    if let Some(v) = filter.visit {
        conds.push(format!("f.visit = {}", args.text(v.to_string())));
    }
    match filter.search() {
        Some(Search::Nik(n)) => conds.push(format!("f.nik = {}", args.text(n))),
        Some(Search::Nib(n)) => conds.push(format!("f.nib = {}", args.text(n))),
        Some(Search::Id(id)) => conds.push(format!("f.id = {}", args.text(id.to_string()))),
        // Names are typed any which way: the search ignores case on both engines.
        Some(Search::Name(pattern)) => {
            let p = args.text(pattern);
            conds.push(args.dialect().like_ignoring_case("f.label", &p));
        }
        None => {}
    }
    conds
}

/// The statements of one page of the record list: the count of every match, and the page
/// itself (newest update first, one row more than asked, to tell whether more follow).
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Counts every record matching the filter.
    pub count: String,
    /// The count's arguments.
    pub count_args: Args,
    /// The page.
    pub page: String,
    /// The page's arguments.
    pub page_args: Args,
}

/// The record list's statements for `filter`, after `after`, at most `limit` records.
pub fn list_records(
    dialect: Dialect,
    filter: &RecordFilter,
    after: Option<PageAfter>,
    limit: usize,
) -> ListQuery {
    let mut args = Args::new(dialect);
    let mut conds = conditions(filter, &mut args);
    let count = format!("SELECT COUNT(*) FROM office_facts f{}", where_sql(&conds));
    let count_args = args.clone();
    if let Some(a) = after {
        let u = args.int(clamp(a.updated_ms));
        let i = args.text(a.id.to_string());
        conds.push(format!(
            "(f.updated_ms < {u} OR (f.updated_ms = {u} AND f.id < {i}))"
        ));
    }
    let n = args.int(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1));
    let page = format!(
        "SELECT {} FROM office_facts f{} ORDER BY f.updated_ms DESC, f.id DESC LIMIT {n}",
        summary_cols(),
        where_sql(&conds),
    );
    ListQuery {
        count,
        count_args,
        page,
        page_args: args,
    }
}

/// A page of `limit` records from the rows [`list_records`] read (`limit + 1` at most).
pub fn record_page(mut records: Vec<RecordSummary>, total: i64, limit: usize) -> RecordPage {
    let more = records.len() > limit;
    records.truncate(limit);
    RecordPage {
        records,
        total: u64::try_from(total).unwrap_or(0),
        more,
    }
}

/// The export's statement: records matching `filter` by id after `after`, with their states
/// (column 14), at most `limit`. On SQLite a kind filter walks `(kind, id)` in order, so a
/// chunk is a range read, never a sort of the kind.
pub fn export_chunk(
    dialect: Dialect,
    filter: &RecordFilter,
    after: Option<RecordId>,
    limit: usize,
) -> (String, Args) {
    let mut args = Args::new(dialect);
    let mut conds = conditions(filter, &mut args);
    if let Some(a) = after {
        conds.push(format!("f.id > {}", args.text(a.to_string())));
    }
    let n = args.int(i64::try_from(limit).unwrap_or(i64::MAX));
    let hint = match dialect {
        Dialect::Sqlite if filter.kind.is_some() => "INDEXED BY office_facts_kind_id ",
        _ => "",
    };
    let sql = format!(
        "SELECT {}, r.state FROM office_facts f {hint}JOIN records r ON r.id = f.id{} ORDER BY f.id LIMIT {n}",
        summary_cols(),
        where_sql(&conds),
    );
    (sql, args)
}

/// One record's summary: `$1` its id.
pub fn record_summary() -> String {
    format!(
        "SELECT {} FROM office_facts f WHERE f.id = $1",
        summary_cols()
    )
}

/// Most duplicate groups, set-aside ops or actions one call returns.
pub const LIST_CAP: usize = 1_000;

/// How many records of the office index meet `cond` (over `office_facts f`).
pub fn count_where(cond: &str) -> String {
    format!("SELECT COUNT(*) FROM office_facts f WHERE {cond}")
}

/// A record's set-aside ops, pending or resolved: `$1` the record.
pub fn set_aside_of_record() -> String {
    format!("SELECT {SET_ASIDE_COLS} FROM set_aside WHERE record_id = $1 ORDER BY id")
}

/// Set-aside ops, oldest first, at most [`LIST_CAP`]; only those waiting with `pending_only`.
pub fn set_aside_list(pending_only: bool) -> String {
    let filter = if pending_only {
        " WHERE resolution IS NULL"
    } else {
        ""
    };
    format!("SELECT {SET_ASIDE_COLS} FROM set_aside{filter} ORDER BY id LIMIT {LIST_CAP}")
}

/// The `'a', 'b'` SQL list of fixed statuses.
fn quoted(xs: &[&str]) -> String {
    xs.iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Groups of records of kind `$1` sharing `col` (`nik` or `nib`), records settled as
/// duplicate or archived left out, at most `$2` groups: each row a summary then the key.
pub fn duplicate_groups(col: DuplicateKey) -> String {
    let (col, settled) = (col.column(), quoted(SETTLED));
    format!(
        "WITH keys AS (SELECT {col} AS k FROM office_facts WHERE kind = $1 AND {col} IS NOT NULL \
         AND COALESCE(status, '') NOT IN ({settled}) GROUP BY {col} HAVING COUNT(*) > 1 \
         ORDER BY {col} LIMIT $2) \
         SELECT {}, f.{col} FROM office_facts f JOIN keys ON f.{col} = keys.k \
         WHERE f.kind = $1 AND COALESCE(f.status, '') NOT IN ({settled}) \
         ORDER BY f.{col}, f.created_ms, f.id",
        summary_cols()
    )
}

/// How many groups [`duplicate_groups`] would find with no limit: `$1` the kind.
pub fn duplicate_group_count(col: DuplicateKey) -> String {
    let (col, settled) = (col.column(), quoted(SETTLED));
    format!(
        "SELECT COUNT(*) FROM (SELECT {col} FROM office_facts WHERE kind = $1 AND {col} IS NOT NULL \
         AND COALESCE(status, '') NOT IN ({settled}) GROUP BY {col} HAVING COUNT(*) > 1) g"
    )
}

/// The groups of the rows [`duplicate_groups`] read, as `(key, summary)` in its order.
pub fn group_duplicates(rows: Vec<(String, RecordSummary)>) -> Vec<DuplicateGroup> {
    let mut groups: Vec<DuplicateGroup> = Vec::new();
    for (key, summary) in rows {
        match groups.last_mut() {
            Some(g) if g.key == key => g.records.push(summary),
            _ => groups.push(DuplicateGroup {
                key,
                records: vec![summary],
            }),
        }
    }
    groups
}

/// What duplicate records share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateKey {
    /// Workers: the NIK.
    Nik,
    /// Companies: the NIB.
    Nib,
}

impl DuplicateKey {
    /// The key of a kind's duplicates, if the kind has one.
    pub fn of(kind: sidak_core::Kind) -> Option<DuplicateKey> {
        match kind {
            sidak_core::Kind::Worker => Some(DuplicateKey::Nik),
            sidak_core::Kind::Company => Some(DuplicateKey::Nib),
            _ => None,
        }
    }

    /// The key of `kind`'s duplicates, or the error for a kind that has none.
    pub fn for_kind(kind: sidak_core::Kind) -> crate::StorageResult<DuplicateKey> {
        DuplicateKey::of(kind).ok_or_else(|| {
            crate::StorageError::Internal(format!(
                "duplicates are searched among workers and companies, not {kind}"
            ))
        })
    }

    /// Its column in the office index.
    pub fn column(self) -> &'static str {
        match self {
            DuplicateKey::Nik => "nik",
            DuplicateKey::Nib => "nib",
        }
    }
}

/// A time in ms as the signed 64-bit integer both engines store (saturating).
fn clamp(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{Arg, Dialect};

    #[test]
    fn one_filter_reads_the_same_on_both_engines_but_for_placeholders_and_like() {
        let filter = RecordFilter {
            region: Some("7371".into()),
            needs_review: true,
            q: Some("laut".into()),
            ..RecordFilter::default()
        };
        let mut s = Args::new(Dialect::Sqlite);
        let mut p = Args::new(Dialect::Postgres);
        let (cs, cp) = (conditions(&filter, &mut s), conditions(&filter, &mut p));
        assert_eq!(cs.len(), 3);
        assert_eq!(
            cs[..2],
            cp[..2]
                .iter()
                .map(|c| crate::sql::to_sqlite(c))
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(cs[2], "f.label LIKE ?3 ESCAPE '\\'");
        assert_eq!(cp[2], "f.label ILIKE $3");
        assert_eq!(s.values(), p.values());
        assert_eq!(s.values()[2], Arg::Text("%laut%".into()));
    }
}
