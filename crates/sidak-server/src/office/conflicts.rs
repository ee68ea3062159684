//! `GET /v1/office/conflicts` (the inbox) and `POST /v1/office/records/{id}/resolve`.

use axum::extract::State;
use serde::Deserialize;
use sidak_core::{Hlc, Value};

use super::auth::Supervisor;
use super::params::{Params, record_id};
use super::records::{ListParams, cursor_of, load, officers_by_device};
use crate::answers::office::{ConflictInbox, ConflictItem, Field, RecordSummary, WriteOutcome};
use crate::error::ApiError;
use crate::extract::{Body, Message};
use crate::state::AppState;

/// Records holding competing values (filters as the record list), each with every
/// competing value, who wrote it, from which device and when.
pub async fn inbox(
    State(state): State<AppState>,
    who: Supervisor,
    Params(p): Params<ListParams>,
) -> Result<axum::Json<ConflictInbox>, ApiError> {
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "conflicts inbox")?;
    let mut filter = p.filter()?;
    filter.has_conflicts = Some(true);
    let page = state
        .storage
        .list_records(&filter, p.after()?, p.limit()?)
        .await?;
    let officers = officers_by_device(&state).await?;
    let mut items = Vec::with_capacity(page.records.len());
    for s in &page.records {
        // A record resolved between the two reads simply has no conflicting field here.
        let Ok(record) = load(&state, s.id).await else {
            continue;
        };
        let conflicts: Vec<Field> = Field::all(&record, &officers, unmasked)
            .into_iter()
            .filter(|f| f.conflict)
            .collect();
        items.push(ConflictItem {
            record: RecordSummary::new(s, unmasked),
            conflicts,
        });
    }
    let next = page
        .more
        .then(|| page.records.last().map(cursor_of))
        .flatten();
    Ok(axum::Json(ConflictInbox {
        items,
        total: page.total,
        next_cursor: next,
    }))
}

/// `POST /v1/office/records/{id}/resolve` body: the field and the value that settles it,
/// either one of the competing values (`pick`: its `hlc`) or a new one (`value`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// The field in conflict.
    pub field: String,
    /// The `hlc` of the competing value chosen.
    #[serde(default)]
    pub pick: Option<Hlc>,
    /// A new value (when none of the competing ones is right).
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// Why, kept in the history.
    #[serde(default)]
    pub note: Option<String>,
}

impl Message for ResolveRequest {
    const VERSIONED: bool = false;
}

/// Writes the chosen value as an office op that supersedes every competing value.
pub async fn resolve(
    State(state): State<AppState>,
    who: Supervisor,
    crate::extract::PathId(id): crate::extract::PathId,
    Body(req): Body<ResolveRequest>,
) -> Result<axum::Json<WriteOutcome>, ApiError> {
    let id = record_id(&id)?;
    let value = match (&req.pick, &req.value) {
        (Some(hlc), None) => {
            let record = load(&state, id).await?;
            record
                .values(&req.field)
                .iter()
                .find(|s| s.hlc == *hlc)
                .map(|s| s.value.clone())
                .ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::CONFLICT,
                        "stale",
                        format!(
                            "field {} holds no value stamped {hlc} now (already resolved?)",
                            req.field
                        ),
                    )
                })?
        }
        (None, Some(v)) => Value::from_json(v)
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                ApiError::invalid_message("value must be text, a whole number or true/false")
            })?,
        _ => {
            return Err(ApiError::invalid_message(
                "give exactly one of pick (the hlc of a competing value) or value",
            ));
        }
    };
    super::perform(
        &state,
        &who,
        sidak_server_storage::office::model::OfficeAction::Resolve {
            record: id,
            field: req.field,
            value,
        },
        req.note,
    )
    .await
}
