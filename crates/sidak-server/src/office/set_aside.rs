//! `GET /v1/office/set-aside`, `POST .../set-aside/{id}/accept` and `.../discard`.
//!
//! An op stamped too far ahead of the server's clock is kept aside by the push path,
//! never merged on its own. Accepting merges its changes as a new op stamped by the
//! office user's actor at the server's time (the corrected stamp), so it cannot win
//! every later edit; discarding closes it with a reason. Both are recorded: the
//! resolution on the set-aside row, and an action in the record's history.

use axum::extract::State;
use serde::Deserialize;
use sidak_server_storage::office::model::OfficeAction;

use super::auth::Supervisor;
use super::params::{Params, clip};
use crate::answers::office::{SetAsideItem, SetAsideList, WriteOutcome};
use crate::error::ApiError;
use crate::extract::{Body, Message};
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
) -> Result<axum::Json<SetAsideList>, ApiError> {
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "set-aside ops")?;
    let now = state.now_ms();
    let ops = state.storage.set_aside_ops(!p.all.unwrap_or(false)).await?;
    let items = ops
        .into_iter()
        .map(|s| SetAsideItem::new(s, now, unmasked))
        .collect();
    Ok(axum::Json(SetAsideList { items }))
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
) -> Result<axum::Json<WriteOutcome>, ApiError> {
    let id = set_aside_id(&id)?;
    super::perform(&state, &who, OfficeAction::AcceptSetAside { id }, req.note).await
}

/// Closes a set-aside op without merging it; the reason is kept.
pub async fn discard(
    State(state): State<AppState>,
    who: Supervisor,
    crate::extract::PathId(id): crate::extract::PathId,
    Body(req): Body<SetAsideDecision>,
) -> Result<axum::Json<WriteOutcome>, ApiError> {
    let id = set_aside_id(&id)?;
    super::perform(&state, &who, OfficeAction::DiscardSetAside { id }, req.note).await
}
