//! `GET /v1/office/export.csv`: records of one kind with their current values, streamed.
//!
//! Rows are read in chunks of [`CHUNK`] records by id (keyset paging, each chunk its own
//! short read), turned into CSV and sent before the next chunk is read, so memory stays
//! flat whatever the size of the export. NIKs are masked unless an admin asks with
//! `unmasked=true`, which is logged as an audit line.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sidak_core::region::Regions;
use sidak_core::schema::{FieldType, Register};
use sidak_core::validate::mask_nik;
use sidak_core::{Kind, Record, RecordId};

use super::auth::Supervisor;
use super::params::{Params, rfc3339};
use super::records::ListParams;
use super::storage::{RecordFilter, RecordSummary};
use crate::error::ApiError;
use crate::state::AppState;

/// Records per chunk: about 3 MB of state to decode, a few ms of database time.
pub const CHUNK: usize = 1_000;

/// Quotes a CSV cell when needed, and defuses text that a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@` first) by prefixing `'`.
fn cell(out: &mut String, s: &str, text: bool) {
    let formula = text && s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || s.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

fn header_line(kind: Kind) -> String {
    let mut cols: Vec<&str> = vec![
        "id",
        "kind",
        "region",
        "village",
        "district",
        "regency",
        "status",
        "conflicts",
        "created",
        "updated",
        "officer_id",
        "needs_review",
        "cancelled_with_findings",
    ];
    cols.extend(kind.schema().fields.iter().map(|f| f.name));
    let mut out = String::new();
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(&mut out, c, false);
    }
    out.push_str("\r\n");
    out
}

fn row(out: &mut String, s: &RecordSummary, r: &Record, unmasked: bool) {
    let regions = Regions::get();
    let name = |len: usize| {
        s.region
            .get(..len)
            .and_then(|c| regions.lookup(c))
            .map(|r| r.name.as_str())
            .unwrap_or("")
    };
    let fixed: [(String, bool); 13] = [
        (s.id.to_string(), false),
        (s.kind.as_str().to_owned(), false),
        (s.region.clone(), false),
        (name(10).to_owned(), true),
        (name(6).to_owned(), true),
        (name(4).to_owned(), true),
        (s.status.clone().unwrap_or_default(), true),
        (s.conflicts.to_string(), false),
        (s.created_ms.map(rfc3339).unwrap_or_default(), false),
        (rfc3339(s.updated_ms), false),
        (s.officer_id.clone().unwrap_or_default(), true),
        (s.needs_review.to_string(), false),
        (s.cancelled_with_findings.to_string(), false),
    ];
    for (i, (v, text)) in fixed.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, v, *text);
    }
    for spec in r.kind.schema().fields {
        out.push(',');
        let show = |v: &sidak_core::Value| match (spec.ty, v.as_str()) {
            (FieldType::Nik, Some(n)) if !unmasked => mask_nik(n),
            _ => v.to_string(),
        };
        let text = match spec.register {
            Register::Set => r.members(spec.name).join(";"),
            Register::Lww => r.get(spec.name).map(show).unwrap_or_default(),
            // Competing values are all exported, oldest first, so nothing is hidden.
            Register::Mv => r
                .values(spec.name)
                .iter()
                .map(|s| show(&s.value))
                .collect::<Vec<_>>()
                .join(" | "),
        };
        cell(out, &text, true);
    }
    out.push_str("\r\n");
}

struct Cursor {
    state: AppState,
    filter: RecordFilter,
    kind: Kind,
    unmasked: bool,
    after: Option<RecordId>,
    header: bool,
    done: bool,
}

async fn next_chunk(mut c: Cursor) -> Option<(Result<Bytes, std::io::Error>, Cursor)> {
    if c.done {
        return None;
    }
    let mut out = String::new();
    if !c.header {
        c.header = true;
        out.push_str(&header_line(c.kind));
    }
    let chunk = match super::store(&c.state) {
        Ok(store) => store.export_chunk(&c.filter, c.after, CHUNK).await,
        Err(e) => Err(crate::storage::StorageError::Unavailable(e.message)),
    };
    match chunk {
        Ok(rows) => {
            c.done = rows.len() < CHUNK;
            c.after = rows.last().map(|(s, _)| s.id);
            for (s, w) in &rows {
                match w.decode() {
                    Ok(r) => row(&mut out, s, &r, c.unmasked),
                    Err(e) => {
                        tracing::error!(record = %s.id, error = %e, "export: stored record unreadable")
                    }
                }
            }
            Some((Ok(Bytes::from(out)), c))
        }
        Err(e) => {
            // The status line is gone already; cutting the body tells the client it is incomplete.
            tracing::error!(error = %e, "export failed mid-stream");
            c.done = true;
            Some((Err(std::io::Error::other("export failed")), c))
        }
    }
}

/// Streams the CSV of records of `kind` matching the filters of the record list.
pub async fn csv(
    State(state): State<AppState>,
    who: Supervisor,
    Params(p): Params<ListParams>,
) -> Result<Response, ApiError> {
    let mut filter = p.filter()?;
    let Some(kind) = filter.kind else {
        return Err(ApiError::invalid_message(
            "kind is required: each kind has its own columns",
        ));
    };
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "CSV export")?;
    filter.kind = Some(kind);
    let cursor = Cursor {
        state,
        filter,
        kind,
        unmasked,
        after: None,
        header: false,
        done: false,
    };
    let stream = futures::stream::unfold(cursor, next_chunk);
    let mut res = Body::from_stream(stream).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let name = format!("attachment; filename=\"sidak-{}.csv\"", kind.as_str());
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let mut s = String::new();
        cell(&mut s, "a,b", true);
        s.push('|');
        cell(&mut s, "say \"hi\"", true);
        s.push('|');
        cell(&mut s, "=HYPERLINK(\"x\")", true);
        s.push('|');
        cell(&mut s, "-5", false);
        assert_eq!(
            s,
            "\"a,b\"|\"say \"\"hi\"\"\"|\"'=HYPERLINK(\"\"x\"\")\"|-5"
        );
    }
}
