//! `GET /v1/office/duplicates` (suspected duplicate registrations) and
//! `POST /v1/office/duplicates/link` (mark one as the duplicate of the other).

use axum::extract::State;
use serde::Deserialize;
use sidak_core::{Kind, RecordId};
use sidak_server_storage::office::model::OfficeAction;

use super::auth::Supervisor;
use super::params::Params;
use super::records::parse_kind;
use crate::answers::office::{DuplicateGroup, Duplicates, WriteOutcome};
use crate::error::ApiError;
use crate::extract::{Body, Message};
use crate::state::AppState;

/// Groups returned per kind: a morning's work, not an export.
const MAX_GROUPS: usize = 200;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DuplicateParams {
    kind: Option<String>,
    unmasked: Option<bool>,
}

/// Workers sharing a NIK and companies sharing a NIB, not yet linked.
pub async fn list(
    State(state): State<AppState>,
    who: Supervisor,
    Params(p): Params<DuplicateParams>,
) -> Result<axum::Json<Duplicates>, ApiError> {
    let unmasked = who.unmask(p.unmasked.unwrap_or(false), "duplicates")?;
    let kinds = match p.kind.as_deref().filter(|k| !k.is_empty()) {
        None => vec![Kind::Worker, Kind::Company],
        Some(k) => match parse_kind(k)? {
            k @ (Kind::Worker | Kind::Company) => vec![k],
            other => {
                return Err(ApiError::invalid_message(format!(
                    "duplicates are found among workers (NIK) and companies (NIB), not {other}"
                )));
            }
        },
    };
    let mut out = Duplicates::default();
    for kind in kinds {
        let groups = state.storage.duplicate_groups(kind, MAX_GROUPS).await?;
        let groups = groups
            .iter()
            .map(|g| DuplicateGroup::new(g, kind, unmasked))
            .collect();
        if kind == Kind::Worker {
            out.workers = groups;
        } else {
            out.companies = groups;
        }
    }
    Ok(axum::Json(out))
}

/// `POST /v1/office/duplicates/link` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The registration marked as the duplicate (status `duplicate`).
    pub duplicate: RecordId,
    /// The registration that stays (`duplicate_of` points at it).
    pub original: RecordId,
    /// Why, kept in the history.
    #[serde(default)]
    pub note: Option<String>,
}

impl Message for LinkRequest {
    const VERSIONED: bool = false;
}

/// Marks `duplicate` as a duplicate of `original`; neither is deleted.
pub async fn link(
    State(state): State<AppState>,
    who: Supervisor,
    Body(req): Body<LinkRequest>,
) -> Result<axum::Json<WriteOutcome>, ApiError> {
    super::perform(
        &state,
        &who,
        OfficeAction::LinkDuplicate {
            duplicate: req.duplicate,
            original: req.original,
        },
        req.note,
    )
    .await
}
