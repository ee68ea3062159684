//! `GET /v1/office/set-aside`, `POST .../set-aside/{id}/accept` and `.../discard`.
//!
//! An op stamped too far ahead of the server's clock is kept aside by the push path,
//! never merged on its own. Accepting merges its changes as a new op stamped by the
//! office user's actor at the server's time (the corrected stamp), so it cannot win
//! every later edit; discarding closes it with a reason. Both are recorded: the
//! resolution on the set-aside row, and an action in the record's history.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use sidak_core::validate::mask_nik;

use super::auth::Supervisor;
use super::params::{Params, clip};
use sidak_server_storage::office::model::OfficeAction;
use crate::error::ApiError;
use crate::extract::{Json as Body, Message};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    /// Include accepted and discarded ops too.
    all: Option<bool>,
    unmasked: Option<bool>,
}

/// Set-aside ops, oldest first: only those waiting unless `all=true`.
pub async fn list(
    State(state): State<AppState>,
    who: Supervisor,
    Params(p): Params<ListParams>,
) -> Result<axum::Json<Json>, ApiError> {
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "set-aside ops")?;
    let now = state.now_ms();
    let ops = state.storage
        .set_aside_ops(!p.all.unwrap_or(false))
        .await?;
    let items: Vec<Json> = ops
        .into_iter()
        .map(|mut s| {
            if !unmasked {
                for c in &mut s.op.changes {
                    if let (true, Some(v)) = (c.field == "nik", c.value.as_str()) {
                        c.value = Json::String(mask_nik(v));
                    }
                }
            }
            let ahead = i64::try_from(i128::from(s.op.hlc.ms) - i128::from(s.received_ms))
                .unwrap_or(i64::MAX);
            json!({
                "id": s.id,
                "device_id": s.device_id,
                "officer_id": s.officer_id,
                "record_id": s.record_id,
                "region": s.region,
                "kind": s.op.kind,
                "op": s.op,
                "stamped_ms": s.op.hlc.ms,
                "received_ms": s.received_ms,
                "ahead_ms": ahead,
                "stamp_in_future_now": s.op.hlc.ms > now,
                "resolution": s.resolution,
                "resolved_ms": s.resolved_ms,
            })
        })
        .collect();
    Ok(axum::Json(json!({"items": items})))
}

/// Body of accept (note optional) and discard (reason required).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAsideDecision {
    /// Note (accept) or reason (discard), kept in the history.
    #[serde(default, alias = "reason")]
    pub note: Option<String>,
}

impl Message for SetAsideDecision {
    const VERSIONED: bool = false;
}

fn set_aside_id(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::not_found(format!("set-aside op {:?} not found", clip(s))))
}

/// Merges a set-aside op with a corrected stamp (server time, office actor).
pub async fn accept(
    State(state): State<AppState>,
    who: Supervisor,
    crate::extract::PathId(id): crate::extract::PathId,
    Body(req): Body<SetAsideDecision>,
) -> Result<axum::Json<Json>, ApiError> {
    let id = set_aside_id(&id)?;
    super::perform(&state, &who, OfficeAction::AcceptSetAside { id }, req.note).await
}

/// Closes a set-aside op without merging it; the reason is kept.
pub async fn discard(
    State(state): State<AppState>,
    who: Supervisor,
    crate::extract::PathId(id): crate::extract::PathId,
    Body(req): Body<SetAsideDecision>,
) -> Result<axum::Json<Json>, ApiError> {
    let id = set_aside_id(&id)?;
    super::perform(&state, &who, OfficeAction::DiscardSetAside { id }, req.note).await
}
