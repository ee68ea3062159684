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
use sidak_core::{Kind, Record, RecordId, RecordV1};

use super::auth::Supervisor;
use super::params::{Params, rfc3339};
use super::records::ListParams;
use crate::error::ApiError;
use crate::state::AppState;
use sidak_server_storage::office::model::RecordSummary;

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
    // A field named like a fixed column (`status`: the fixed column shows the displayed
    // value, the field every competing one) is `field_<name>`, so every name is unique.
    let fixed = cols.clone();
    let fields: Vec<String> = kind
        .schema()
        .fields
        .iter()
        .map(|f| {
            if fixed.contains(&f.name) {
                format!("field_{}", f.name)
            } else {
                f.name.to_owned()
            }
        })
        .collect();
    cols.extend(fields.iter().map(String::as_str));
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

/// A chunk of records read for the export, with their states.
type Rows = Vec<(RecordSummary, RecordV1)>;

/// Where the export stands: the next chunk starts after `after`.
struct Export<F> {
    fetch: F,
    kind: Kind,
    unmasked: bool,
    chunk: usize,
    after: Option<RecordId>,
    header: bool,
    done: bool,
}

/// The CSV of `kind` as a stream of chunks, each read by `fetch(after)` (at most `chunk`
/// records with ids after `after`; fewer means the end).
///
/// The stream is fused: the compression layer (`tower_http::compression`, whenever the
/// client sends `Accept-Encoding`, as every browser does) polls its body once more after
/// the end, and an unfused `unfold` panics when polled again, which cut every compressed
/// export without its final chunk.
///
/// A failure after the first chunk went out (the database, or a stored record that no
/// longer decodes) ends the stream with an error, which makes hyper abort the response
/// without its final chunk: the client sees a broken download, never a shorter file that
/// looks complete. A failure before the first chunk is the same (the status line is sent
/// with the first bytes of the body, so it is already 200).
fn csv_stream<F, Fut>(
    kind: Kind,
    unmasked: bool,
    chunk: usize,
    fetch: F,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>>
where
    F: FnMut(Option<RecordId>) -> Fut,
    Fut: std::future::Future<Output = Result<Rows, ApiError>>,
{
    let start = Export {
        fetch,
        kind,
        unmasked,
        chunk,
        after: None,
        header: false,
        done: false,
    };
    let stream = futures::stream::unfold(start, |mut c| async move {
        if c.done {
            return None;
        }
        let mut out = String::new();
        if !c.header {
            c.header = true;
            out.push_str(&header_line(c.kind));
        }
        let failed = |c: &mut Export<F>, what: String| {
            tracing::error!(error = %what, "export failed mid-stream; the response is cut");
            c.done = true;
            Err(std::io::Error::other("export failed"))
        };
        match (c.fetch)(c.after).await {
            Ok(rows) => {
                c.done = rows.len() < c.chunk;
                c.after = rows.last().map(|(s, _)| s.id);
                for (s, w) in &rows {
                    match w.decode() {
                        Ok(r) => row(&mut out, s, &r, c.unmasked),
                        Err(e) => {
                            let e =
                                failed(&mut c, format!("stored record {} unreadable: {e}", s.id));
                            return Some((e, c));
                        }
                    }
                }
                Some((Ok(Bytes::from(out)), c))
            }
            Err(e) => {
                let e = failed(&mut c, e.to_string());
                Some((e, c))
            }
        }
    });
    futures::StreamExt::fuse(stream)
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
    // Refuse a backend without office queries before the 200 goes out.
    let fetch = move |after: Option<RecordId>| {
        let state = state.clone();
        let filter = filter.clone();
        async move {
            let rows = state.storage.export_chunk(&filter, after, CHUNK).await?;
            Ok(rows)
        }
    };
    let stream = csv_stream(kind, unmasked, CHUNK, fetch);
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
    fn column_names_are_unique_for_every_kind() {
        for kind in [Kind::Worker, Kind::Company, Kind::Visit, Kind::Finding] {
            let line = header_line(kind);
            let cols: Vec<&str> = line.trim_end().split(',').collect();
            let unique: std::collections::HashSet<&str> = cols.iter().copied().collect();
            assert_eq!(unique.len(), cols.len(), "{line}");
        }
    }

    /// A stream that fails after its first chunk went out reaches the client as a broken
    /// download, not as a complete-looking file.
    #[tokio::test]
    async fn a_failure_mid_stream_is_an_error_for_the_client() {
        let mut calls = 0;
        let fetch = move |_after: Option<RecordId>| {
            calls += 1;
            let n = calls;
            async move {
                if n == 1 {
                    // A full chunk of zero records: more may follow.
                    Ok(Vec::new())
                } else {
                    Err(ApiError::internal("database went away"))
                }
            }
        };
        let body = std::sync::Mutex::new(Some(csv_stream(Kind::Worker, false, 0, fetch)));
        let body = std::sync::Arc::new(body);
        let app = axum::Router::new().route(
            "/x.csv",
            axum::routing::get(move || {
                let body = body.clone();
                async move {
                    let stream = body.lock().expect("lock").take().expect("one request");
                    Body::from_stream(stream)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        // Either the head never arrives complete or the body breaks: both are errors.
        let text = match reqwest::get(format!("http://{addr}/x.csv")).await {
            Ok(res) => res.text().await,
            Err(e) => Err(e),
        };
        assert!(
            text.is_err(),
            "a cut export must not read as a complete file: {text:?}"
        );
    }

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
