//! `GET /v1/office/records` (list and filter), `GET .../records/{id}` (current values)
//! and `GET .../records/{id}/history` (every change).

use std::collections::HashMap;

use axum::extract::State;
use serde::Deserialize;
use sidak_core::attachment::ContentRef;
use sidak_core::{Kind, Record, RecordId};
use sidak_server_storage::office::history;
use sidak_server_storage::office::model::{PageAfter, RecordFilter, RecordSummary};

use super::auth::Supervisor;
use super::params::{Params, clip, date_range, record_id};
use crate::answers::office::{
    self as answer, Attachment, Field, History, RecordDetail, RecordList,
};
use crate::error::ApiError;
use crate::state::AppState;

/// Records per page when the caller does not say.
pub const DEFAULT_PAGE: usize = 50;
/// Most records per page: a page is one screen of the dashboard, not an export.
pub const MAX_PAGE: usize = 200;

/// Query parameters shared by the record list, the conflicts inbox and the export.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `worker`, `company`, `visit` or `finding`.
    pub kind: Option<String>,
    /// A `status` value.
    pub status: Option<String>,
    /// Region code prefix.
    pub region: Option<String>,
    /// Officer id (who created the records).
    pub officer: Option<String>,
    /// Created on or after this date (`YYYY-MM-DD`, office time).
    pub from: Option<String>,
    /// Created on or before this date.
    pub to: Option<String>,
    /// Only records with (or without) competing values.
    pub has_conflicts: Option<bool>,
    /// Only records with ops set aside and not yet handled.
    pub has_set_aside: Option<bool>,
    /// Same as `has_set_aside` (the name the issue uses: refused ops kept on the server).
    pub has_rejections: Option<bool>,
    /// Only records approved and edited by a device since.
    pub needs_review: Option<bool>,
    /// Only visits cancelled while they have findings not archived (docs/domain.md, case 6).
    pub cancelled_with_findings: Option<bool>,
    /// NIK, NIB, record id or part of a name.
    pub q: Option<String>,
    /// Only the findings of this visit (a record id).
    pub visit: Option<String>,
    /// Only visits and registrations waiting for the office's review.
    pub awaiting_review: Option<bool>,
    /// Page size.
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Admins only: show NIKs whole (logged).
    pub unmasked: Option<bool>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Reads a kind name.
pub fn parse_kind(s: &str) -> Result<Kind, ApiError> {
    s.parse().map_err(|_| {
        ApiError::invalid_message(format!(
            "kind must be worker, company, visit or finding, got {:?}",
            clip(s)
        ))
    })
}

impl ListParams {
    /// The storage filter these parameters ask for.
    pub fn filter(&self) -> Result<RecordFilter, ApiError> {
        let kind = nonempty(&self.kind).map(parse_kind).transpose()?;
        let region = nonempty(&self.region).map(str::to_owned);
        if let Some(r) = &region
            && (r.len() > 10 || !r.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ApiError::invalid_message(format!(
                "region must be a Kemendagri code prefix (digits, e.g. 7371), got {:?}",
                clip(r)
            )));
        }
        let (from_ms, to_ms) = date_range(self.from.as_deref(), self.to.as_deref())?;
        Ok(RecordFilter {
            kind,
            status: nonempty(&self.status).map(str::to_owned),
            region,
            officer: nonempty(&self.officer).map(str::to_owned),
            from_ms,
            to_ms,
            has_conflicts: self.has_conflicts,
            has_set_aside: self.has_set_aside.unwrap_or(false)
                || self.has_rejections.unwrap_or(false),
            needs_review: self.needs_review.unwrap_or(false),
            cancelled_with_findings: self.cancelled_with_findings.unwrap_or(false),
            q: nonempty(&self.q).map(|q| q.chars().take(100).collect()),
            visit: nonempty(&self.visit)
                .map(|v| {
                    v.parse().map_err(|_| {
                        ApiError::invalid_message(format!(
                            "visit must be a visit's record id, got {:?}",
                            clip(v)
                        ))
                    })
                })
                .transpose()?,
            awaiting_review: self.awaiting_review.unwrap_or(false),
        })
    }

    /// The page size asked for, within bounds.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_PAGE),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid_message(format!(
                "limit must be 1 to {MAX_PAGE}"
            ))),
        }
    }

    /// Where the page starts.
    pub fn after(&self) -> Result<Option<PageAfter>, ApiError> {
        let Some(c) = nonempty(&self.cursor) else {
            return Ok(None);
        };
        let bad =
            || ApiError::invalid_message("cursor must be a next_cursor returned by this endpoint");
        let (ms, id) = c.split_once('_').ok_or_else(bad)?;
        Ok(Some(PageAfter {
            updated_ms: ms.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        }))
    }
}

/// The cursor that continues after `s`.
pub fn cursor_of(s: &RecordSummary) -> String {
    format!("{}_{}", s.updated_ms, s.id)
}

/// Lists records matching the filters, newest change first, one page at a time.
pub async fn list(
    State(state): State<AppState>,
    who: Supervisor,
    Params(p): Params<ListParams>,
) -> Result<axum::Json<RecordList>, ApiError> {
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "record list")?;
    let filter = p.filter()?;
    let page = state
        .storage
        .list_records(&filter, p.after()?, p.limit()?)
        .await?;
    let next = page
        .more
        .then(|| page.records.last().map(cursor_of))
        .flatten();
    Ok(axum::Json(RecordList {
        records: answer::RecordSummary::all(&page.records, unmasked),
        total: page.total,
        next_cursor: next,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MaskParams {
    unmasked: Option<bool>,
}

/// Device id → officer id, with office actors shown as `office`.
pub async fn officers_by_device(state: &AppState) -> Result<HashMap<String, String>, ApiError> {
    Ok(state
        .storage
        .devices()
        .await?
        .into_iter()
        .map(|d| (d.device_id.to_string(), d.officer_id))
        .collect())
}

/// Loads a record's merged state, 404 when it does not exist.
pub async fn load(state: &AppState, id: RecordId) -> Result<Record, ApiError> {
    let w = state
        .storage
        .record(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("record {id} not found")))?;
    w.decode().map_err(ApiError::internal)
}

/// A record's current values, with competing values and who wrote them.
pub async fn detail(
    State(state): State<AppState>,
    who: Supervisor,
    crate::extract::PathId(id): crate::extract::PathId,
    Params(p): Params<MaskParams>,
) -> Result<axum::Json<RecordDetail>, ApiError> {
    let id = record_id(&id)?;
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "record detail")?;
    let record = load(&state, id).await?;
    let summary = state.storage.record_summary(id).await?;
    let officers = officers_by_device(&state).await?;
    let held = state.storage.record_blobs(id).await?;
    let attachments = record
        .members("attachments")
        .into_iter()
        .filter_map(|m| match ContentRef::parse(m) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(record = %id, error = %e, "a stored attachment reference does not parse");
                None
            }
        })
        .map(|r| {
            let blob = held.iter().find(|b| b.hash == r.hash);
            Attachment::new(id, &r, blob)
        })
        .collect();
    Ok(axum::Json(RecordDetail {
        record: summary
            .as_ref()
            .map(|s| answer::RecordSummary::new(s, unmasked)),
        created: record.created,
        updated: record.updated,
        fields: Field::all(&record, &officers, unmasked),
        attachments,
    }))
}

/// Every change of a record in log order, replayed from its ops.
pub async fn history(
    State(state): State<AppState>,
    who: Supervisor,
    crate::extract::PathId(id): crate::extract::PathId,
    Params(p): Params<MaskParams>,
) -> Result<axum::Json<History>, ApiError> {
    let id = record_id(&id)?;
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "record history")?;
    let source = state.storage.history_source(id).await?;
    if source.ops.is_empty() && source.set_aside.is_empty() {
        return Err(ApiError::not_found(format!("record {id} not found")));
    }
    Ok(axum::Json(history::replay(id, source, unmasked).into()))
}
