//! `GET /v1/office/records/{id}/report.pdf`: a visit's printable inspection report
//! (`sidak-report` lays it out): the company, the team, when (WITA) and where, the headcounts
//! seen and registered, the inspection note stage and its deadline, each finding with its
//! category, legal basis and deadline, the photos (location stripped, scaled) and documents,
//! and boxes for the team's and the company's signatures.

use axum::body::Body as RawBody;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use sidak_core::attachment::ContentRef;
use sidak_core::region::Regions;
use sidak_core::{Kind, Record, RecordId, Value};
use sidak_report::{Attachment, Finding, Report, Section};
use sidak_server_storage::office::model::RecordFilter;

use super::attachments::{decode, held, read};
use super::auth::Supervisor;
use super::params::record_id;
use super::records::load as load_record;
use crate::error::ApiError;
use crate::state::AppState;

/// Most findings a report lists (a visit has a handful; the rest would be a data error).
pub const MAX_FINDINGS: usize = 200;
/// Most photos a report prints; more are listed by caption.
pub const MAX_PHOTOS: usize = 40;

/// WITA, UTC+8.
fn wita() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600)
        .unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()))
}

/// `2026-12-03 09:15 WITA` of an RFC 3339 time; the text as it is when it does not parse.
fn local_time(s: &str) -> String {
    DateTime::parse_from_rfc3339(s)
        .map(|t| format!("{} WITA", t.with_timezone(&wita()).format("%Y-%m-%d %H:%M")))
        .unwrap_or_else(|_| s.to_owned())
}

/// The same of ms since the Unix epoch.
fn local_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .map(|t| format!("{} WITA", t.with_timezone(&wita()).format("%Y-%m-%d %H:%M")))
        .unwrap_or_default()
}

/// A field's value as text: competing values joined with ` | ` (the report shows what is in
/// dispute), members joined with `, `.
fn shown(r: &Record, field: &str) -> String {
    let values = r.values(field);
    if values.len() > 1 {
        return values
            .iter()
            .map(|v| text(&v.value))
            .collect::<Vec<_>>()
            .join(" | ");
    }
    match r.get(field) {
        Some(v) => text(v),
        None => r.members(field).join(", "),
    }
}

fn text(v: &Value) -> String {
    match v.to_json() {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The category of a finding type, with its office code.
pub fn finding_category(t: &str) -> &'static str {
    match t {
        "unregistered_company" => "PWBD: perusahaan wajib belum daftar / company not registered",
        "workers_not_registered" => {
            "PDS-TK: sebagian tenaga kerja belum didaftarkan / only part of the workforce registered"
        }
        "wages_under_reported" => "PDS-Upah: upah dilaporkan lebih rendah / wages under-reported",
        "not_all_programmes" => {
            "PDS-Program: belum semua program wajib / not in every mandatory programme"
        }
        "arrears" => "Tunggakan iuran / contribution arrears",
        "no_workforce_report" => {
            "WLKP: tidak melapor ketenagakerjaan tahunan / no annual workforce report"
        }
        "wage_below_minimum" => "Upah di bawah minimum / wage below the minimum",
        _ => "Lainnya / other",
    }
}

fn stage(s: &str) -> &'static str {
    match s {
        "none" => "Pembinaan / educational visit",
        "nota_1" => "Nota pemeriksaan I / first inspection note",
        "nota_2" => "Nota pemeriksaan II / second inspection note",
        "enforcement" => "Penegakan hukum / referred for enforcement",
        "legal" => "Proses hukum / legal action",
        _ => "—",
    }
}

fn place(region: &str) -> String {
    let regions = Regions::get();
    let name = |len: usize| {
        region
            .get(..len)
            .and_then(|c| regions.lookup(c))
            .map(|r| r.name.clone())
    };
    [name(10), name(6), name(4)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
}

fn size_text(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", n.div_ceil(1024))
    }
}

fn row(label: &str, value: impl Into<String>) -> (String, String) {
    (label.to_owned(), value.into())
}

/// What the report has gathered of the attachments so far.
#[derive(Default)]
struct Gathered {
    list: Vec<Attachment>,
    seen: std::collections::HashSet<sidak_core::attachment::BlobHash>,
    /// Photos read and decoded (printed or not), at most [`MAX_PHOTOS`].
    tried: usize,
}

/// The attachments of `record`: each hash once; photos read and scaled down at once, under the
/// office's decode slots, at most [`MAX_PHOTOS`] of them; documents only checked, never read.
async fn attachments_of(
    state: &AppState,
    record: &Record,
    id: RecordId,
    out: &mut Gathered,
) -> Result<(), ApiError> {
    for m in record.members("attachments") {
        let Ok(r) = ContentRef::parse(m) else {
            continue;
        };
        if !out.seen.insert(r.hash) {
            continue;
        }
        let photo = r.media_type.starts_with("image/");
        let stored = held(state, id, r.hash).await.ok();
        let (bytes, status) = match stored {
            None => (None, "belum diunggah / not uploaded yet"),
            Some(_) if !photo => (None, "dokumen terlampir / document attached"),
            Some(_) if out.tried >= MAX_PHOTOS => (
                None,
                "foto terlampir, tidak dicetak / photo attached, not printed",
            ),
            Some(meta) => {
                out.tried += 1;
                let b = read(state, &meta).await?;
                let media_type = r.media_type.clone();
                match decode(move || sidak_media::thumbnail(&b, &media_type, 1200)).await? {
                    Ok(small) => (Some(small), ""),
                    Err(_) => (None, "tidak dapat dicetak / could not be printed"),
                }
            }
        };
        let mut note = vec![size_text(r.size)];
        if let Some(t) = &r.taken_at {
            note.push(local_time(t));
        }
        if let Some(g) = &r.geo {
            note.push(format!("GPS {g}"));
        }
        note.push(format!("b3:{}", &r.hash.to_hex()[..12]));
        out.list.push(Attachment {
            caption: r.caption.clone().unwrap_or_else(|| {
                if photo {
                    "Foto / photo"
                } else {
                    "Dokumen / document"
                }
                .to_owned()
            }),
            media_type: if bytes.is_some() {
                "image/jpeg".to_owned()
            } else {
                r.media_type.clone()
            },
            bytes,
            status: status.to_owned(),
            note: note.join(" · "),
        });
    }
    Ok(())
}

/// The report of visit `id`.
pub async fn pdf(
    State(state): State<AppState>,
    who: Supervisor,
    crate::extract::PathId(id): crate::extract::PathId,
) -> Result<Response, ApiError> {
    let id = record_id(&id)?;
    let visit = load_record(&state, id).await?;
    if visit.kind != Kind::Visit {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "not_a_visit",
            format!(
                "record {id} is a {}: a report is made for a visit",
                visit.kind
            ),
        ));
    }
    let company_id = visit
        .get_str("company")
        .and_then(|c| c.parse::<RecordId>().ok());
    let company = match company_id {
        Some(c) => load_record(&state, c).await.ok(),
        None => None,
    };
    let filter = RecordFilter {
        kind: Some(Kind::Finding),
        visit: Some(id),
        ..RecordFilter::default()
    };
    let mut findings = state
        .storage
        .export_chunk(&filter, None, MAX_FINDINGS)
        .await?
        .into_iter()
        .filter_map(|(s, v)| v.decode().ok().map(|r| (s, r)))
        .filter(|(_, r)| r.get_str("status") != Some("archived"))
        .collect::<Vec<_>>();
    // In the order the team recorded them: by the creating op's stamp.
    findings.sort_by_key(|(s, r)| (r.created, s.id));

    let mut sections = Vec::new();
    if let Some(c) = &company {
        sections.push(Section {
            title: "Perusahaan / Company".into(),
            rows: vec![
                row("Nama / Name", shown(c, "name")),
                row("NIB", shown(c, "nib")),
                row("NPP BPJS", shown(c, "npp")),
                row("Alamat / Address", shown(c, "address")),
                row("Wilayah / Place", place(&c.region)),
                row("Sektor / Sector", shown(c, "sector")),
                row("Kepatuhan / Compliance", shown(c, "compliance")),
            ],
        });
    }
    let when = match (visit.get_str("started_at"), visit.get_str("ended_at")) {
        (Some(a), Some(b)) => format!("{} – {}", local_time(a), local_time(b)),
        (Some(a), None) => local_time(a),
        _ => visit
            .get_str("scheduled_date")
            .map(|d| format!("{d} (dijadwalkan / scheduled)"))
            .unwrap_or_default(),
    };
    sections.push(Section {
        title: "Kunjungan / Visit".into(),
        rows: vec![
            row("Tim / Team", visit.members("team").join(", ")),
            row("Waktu / When", when),
            row("Tempat / Place", place(&visit.region)),
            row("Lokasi GPS / Position", shown(&visit, "gps")),
            row(
                "Perwakilan / Representative met",
                shown(&visit, "representative"),
            ),
            row("Status", shown(&visit, "status")),
            row(
                "Dokumen diperiksa / Documents checked",
                shown(&visit, "documents_checked"),
            ),
        ],
    });
    sections.push(Section {
        title: "Tenaga kerja / Workforce".into(),
        rows: vec![
            row(
                "TK ditemukan / Workers seen",
                shown(&visit, "workers_observed"),
            ),
            row(
                "TK terdaftar / Workers registered with BPJS",
                shown(&visit, "workers_registered"),
            ),
        ],
    });
    sections.push(Section {
        title: "Tindak lanjut / Follow-up".into(),
        rows: vec![
            row(
                "Tahap / Stage",
                visit.get_str("nota_stage").map(stage).unwrap_or("—"),
            ),
            row(
                "Batas waktu / Deadline",
                shown(&visit, "follow_up_deadline"),
            ),
            row("Ringkasan / Summary", shown(&visit, "summary")),
        ],
    });

    let mut attachments = Gathered::default();
    attachments_of(&state, &visit, id, &mut attachments).await?;
    let mut printed = Vec::new();
    for (i, (s, f)) in findings.iter().enumerate() {
        printed.push(Finding {
            heading: format!(
                "{}. {}",
                i + 1,
                f.get_str("type").map(finding_category).unwrap_or("—")
            ),
            rows: vec![
                row("Dasar hukum / Legal basis", shown(f, "legal_basis")),
                row("Batas waktu / Deadline", shown(f, "deadline")),
                row("Status", shown(f, "status")),
                row(
                    "TK terdampak / Workers affected",
                    shown(f, "affected_workers"),
                ),
                row("Tingkat / Severity", shown(f, "severity")),
                row("Tindakan / Required action", shown(f, "required_action")),
            ],
            description: shown(f, "description"),
        });
        attachments_of(&state, f, s.id, &mut attachments).await?;
    }

    let mut signatures: Vec<String> = visit
        .members("team")
        .iter()
        .map(|m| format!("Tim pemeriksa / Inspector: {m}"))
        .collect();
    let representative = visit.get_str("representative").unwrap_or("");
    signatures.push(format!(
        "Perwakilan perusahaan / Company representative: {representative}"
    ));
    let company_name = company
        .as_ref()
        .map(|c| shown(c, "name"))
        .unwrap_or_default();
    let report = Report {
        title: "LAPORAN HASIL PEMERIKSAAN / INSPECTION REPORT".into(),
        subtitle: format!(
            "{company_name} · BPJS Ketenagakerjaan dan Disnakertrans, pemeriksaan bersama / joint inspection"
        ),
        sections,
        findings: printed,
        attachments: attachments.list,
        signatures,
        footer: format!(
            "kunjungan / visit {id} · dibuat / made {} oleh / by {} · sidak",
            local_ms(state.now_ms()),
            who.0.username
        ),
    };
    let bytes = tokio::task::spawn_blocking(move || sidak_report::render(&report))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "report_failed",
                e.to_string(),
            )
        })?;
    tracing::info!(username = %who.0.username, visit = %id, bytes = bytes.len(), "inspection report made");
    let mut res = Response::new(RawBody::from(bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"laporan-{}.pdf\"",
        &id.to_string()[..8]
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_wita() {
        assert_eq!(local_time("2026-12-03T01:15:00Z"), "2026-12-03 09:15 WITA");
        assert_eq!(
            local_time("2026-12-03T09:15:00+08:00"),
            "2026-12-03 09:15 WITA"
        );
        assert_eq!(local_time("kemarin"), "kemarin");
        assert_eq!(local_ms(1_764_050_400_000), "2025-11-25 14:00 WITA");
        assert!(finding_category("workers_not_registered").starts_with("PDS-TK"));
        assert!(finding_category("unregistered_company").starts_with("PWBD"));
    }
}
