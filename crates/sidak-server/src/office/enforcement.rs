//! `GET /v1/office/enforcement`: every visited company's case, most overdue first: the stage
//! its visits reached, the findings still open and their deadline, whether it passed and who
//! the case waits on, with the company's visits as its compliance history. The rules are
//! `sidak_server_storage::office::enforcement`'s; this file loads the records and words the
//! answer.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use sidak_core::{Kind, Record, RecordId};
use sidak_server_storage::office::enforcement::{Case, WaitingOn, cases};
use sidak_server_storage::office::model::{RecordFilter, RecordSummary as StoredSummary};

use super::auth::Supervisor;
use super::params::{Params, clip, office_date};
use crate::answers::office::RecordSummary;
use crate::error::ApiError;
use crate::state::AppState;

/// Records read per storage call while loading.
const CHUNK: usize = 1000;
/// Cases per answer when the caller does not say.
const DEFAULT_PAGE: usize = 50;
/// Most cases per answer.
const MAX_PAGE: usize = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CaseParams {
    /// Region code prefix.
    region: Option<String>,
    /// Only cases whose deadline passed.
    overdue: Option<bool>,
    /// Only cases waiting on this (`company`, `team_deadline`, `team_nota_2`,
    /// `office_enforcement`, `enforcement`, `nobody`).
    waiting_on: Option<String>,
    /// Cases to skip.
    offset: Option<usize>,
    /// Cases per answer, 1 to 500.
    limit: Option<usize>,
}

/// One visit of a company's history, as the office reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The visit.
    pub visit: RecordId,
    /// Its day.
    pub date: Option<String>,
    /// Its status.
    pub status: Option<String>,
    /// The stage it recorded.
    pub stage: &'static str,
    /// The same for people.
    pub stage_label: &'static str,
    /// The visit it follows up.
    pub follows: Option<RecordId>,
    /// Workers seen.
    pub workers_observed: Option<i64>,
    /// Workers registered with BPJS.
    pub workers_registered: Option<i64>,
    /// Its findings still open.
    pub findings_open: u32,
    /// Its findings settled or carried on.
    pub findings_settled: u32,
}

/// One company's case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseAnswer {
    /// The company.
    pub company: Option<RecordSummary>,
    /// `none`, `nota_1`, `nota_2`, `enforcement` or `legal`.
    pub stage: &'static str,
    /// The stage for people.
    pub stage_label: &'static str,
    /// Findings still open.
    pub open_findings: u32,
    /// Their earliest deadline.
    pub deadline: Option<String>,
    /// Days past it.
    pub overdue_days: Option<i64>,
    /// Who the case waits on (a stable code).
    pub waiting_on: &'static str,
    /// The same for people.
    pub waiting_on_text: String,
    /// Its visits, oldest first.
    pub visits: Vec<Step>,
}

/// `GET /v1/office/enforcement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cases {
    /// The office day the deadlines were judged on.
    pub today: String,
    /// The page of cases.
    pub cases: Vec<CaseAnswer>,
    /// How many cases match.
    pub total: usize,
    /// How many of all visited companies' cases are overdue.
    pub overdue_total: usize,
}

/// The stage's words.
pub fn stage_label(s: &str) -> &'static str {
    match s {
        "nota_1" => "Nota pemeriksaan I / first inspection note",
        "nota_2" => "Nota pemeriksaan II / second inspection note",
        "enforcement" => "Penegakan hukum / enforcement",
        "legal" => "Proses hukum / legal action",
        _ => "Pembinaan / educational visit",
    }
}

fn waiting_text(c: &Case) -> String {
    let deadline = c.deadline.as_deref().unwrap_or("—");
    let late = c.overdue_days.unwrap_or(0);
    match c.waiting_on {
        WaitingOn::Nobody => "Tidak ada yang terbuka / nothing open".into(),
        WaitingOn::Company => format!(
            "Perusahaan: selesaikan {n} temuan sebelum {deadline} / the company: settle {n} finding(s) by {deadline}",
            n = c.open_findings
        ),
        WaitingOn::TeamDeadline => {
            "Tim: tetapkan batas waktu temuan / the team: set the findings' deadline".into()
        }
        WaitingOn::TeamNota2 => format!(
            "Tim: terbitkan nota II, batas waktu lewat {late} hari / the team: issue nota II, {late} days past the deadline"
        ),
        WaitingOn::OfficeEnforcement => format!(
            "Kantor: rujuk ke penegakan hukum, nota II lewat {late} hari / the office: refer for enforcement, {late} days past nota II's deadline"
        ),
        WaitingOn::Enforcement => "Dalam penegakan hukum / in enforcement".into(),
    }
}

/// Every record of `kind` under `region`, with its summary, read in chunks.
async fn all(
    state: &AppState,
    kind: Kind,
    region: Option<&str>,
) -> Result<Vec<(StoredSummary, Record)>, ApiError> {
    let filter = RecordFilter {
        kind: Some(kind),
        region: region.map(str::to_owned),
        ..RecordFilter::default()
    };
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let chunk = state.storage.export_chunk(&filter, after, CHUNK).await?;
        let n = chunk.len();
        after = chunk.last().map(|(s, _)| s.id);
        for (s, v) in chunk {
            match v.decode() {
                Ok(r) => out.push((s, r)),
                Err(e) => {
                    tracing::error!(record = %s.id, error = %e, "a stored record does not decode")
                }
            }
        }
        if n < CHUNK {
            return Ok(out);
        }
    }
}

/// The cases, filtered and paged.
pub async fn list(
    State(state): State<AppState>,
    _who: Supervisor,
    Params(p): Params<CaseParams>,
) -> Result<axum::Json<Cases>, ApiError> {
    let region = p.region.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = region
        && (r.len() > 10 || !r.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::invalid_message(format!(
            "region must be a Kemendagri code prefix (digits, e.g. 7371), got {:?}",
            clip(r)
        )));
    }
    const CODES: [&str; 6] = [
        "nobody",
        "company",
        "team_deadline",
        "team_nota_2",
        "office_enforcement",
        "enforcement",
    ];
    if let Some(w) = &p.waiting_on
        && !CODES.contains(&w.as_str())
    {
        return Err(ApiError::invalid_message(format!(
            "waiting_on must be one of {}, got {:?}",
            CODES.join(", "),
            clip(w)
        )));
    }
    let limit = match p.limit {
        None => DEFAULT_PAGE,
        Some(n) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid_message(format!(
                "limit must be 1 to {MAX_PAGE}"
            )));
        }
    };
    let today = office_date(state.now_ms());
    let companies = all(&state, Kind::Company, region).await?;
    // A visit and its findings carry the company's village, so one region reads all three.
    let visits = all(&state, Kind::Visit, region).await?;
    let findings = all(&state, Kind::Finding, region).await?;
    // Moved apart, not copied: a region's records are held once.
    let (company_summaries, companies): (Vec<StoredSummary>, Vec<Record>) =
        companies.into_iter().unzip();
    let records =
        |v: Vec<(StoredSummary, Record)>| v.into_iter().map(|(_, r)| r).collect::<Vec<_>>();
    let found = cases(&companies, &records(visits), &records(findings), &today);
    let overdue_total = found.iter().filter(|c| c.overdue_days.is_some()).count();
    let matching: Vec<&Case> = found
        .iter()
        .filter(|c| !p.overdue.unwrap_or(false) || c.overdue_days.is_some())
        .filter(|c| {
            p.waiting_on
                .as_deref()
                .is_none_or(|w| c.waiting_on.code() == w)
        })
        .collect();
    let total = matching.len();
    let summaries: std::collections::HashMap<RecordId, &StoredSummary> =
        company_summaries.iter().map(|s| (s.id, s)).collect();
    let answers = matching
        .into_iter()
        .skip(p.offset.unwrap_or(0))
        .take(limit)
        .map(|c| CaseAnswer {
            company: summaries
                .get(&c.company)
                .map(|s| RecordSummary::new(s, false)),
            stage: c.stage,
            stage_label: stage_label(c.stage),
            open_findings: c.open_findings,
            deadline: c.deadline.clone(),
            overdue_days: c.overdue_days,
            waiting_on: c.waiting_on.code(),
            waiting_on_text: waiting_text(c),
            visits: c
                .visits
                .iter()
                .map(|v| Step {
                    visit: v.visit,
                    date: v.date.clone(),
                    status: v.status.clone(),
                    stage: v.stage,
                    stage_label: stage_label(v.stage),
                    follows: v.follows,
                    workers_observed: v.workers_observed,
                    workers_registered: v.workers_registered,
                    findings_open: v.findings_open,
                    findings_settled: v.findings_settled,
                })
                .collect(),
        })
        .collect();
    Ok(axum::Json(Cases {
        today,
        cases: answers,
        total,
        overdue_total,
    }))
}
