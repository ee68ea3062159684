//! `GET /v1/office/duplicates` (suspected duplicate registrations) and
//! `POST /v1/office/duplicates/link` (mark one as the duplicate of the other).

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use sidak_core::{Kind, RecordId};

use super::auth::Supervisor;
use super::params::Params;
use super::records::{parse_kind, view};
use sidak_server_storage::office::model::{DuplicateGroup, OfficeAction};
use crate::error::ApiError;
use crate::extract::{Json as Body, Message};
use crate::state::AppState;

/// Groups returned per kind: a morning's work, not an export.
const MAX_GROUPS: usize = 200;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DuplicateParams {
    kind: Option<String>,
    unmasked: Option<bool>,
}

fn groups_view(groups: &[DuplicateGroup], unmasked: bool, kind: Kind) -> Vec<Json> {
    groups
        .iter()
        .map(|g| {
            let key = if kind == Kind::Worker && !unmasked {
                sidak_core::validate::mask_nik(&g.key)
            } else {
                g.key.clone()
            };
            json!({
                "key": key,
                "records": g.records.iter().map(|s| view(s, unmasked)).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Workers sharing a NIK and companies sharing a NIB, not yet linked.
pub async fn list(
    State(state): State<AppState>,
    who: Supervisor,
    Params(p): Params<DuplicateParams>,
) -> Result<axum::Json<Json>, ApiError> {
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
    let mut out = json!({"workers": [], "companies": []});
    for kind in kinds {
        let groups = state.storage
            .duplicate_groups(kind, MAX_GROUPS)
            .await?;
        let key = if kind == Kind::Worker {
            "workers"
        } else {
            "companies"
        };
        out[key] = Json::Array(groups_view(&groups, unmasked, kind));
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
) -> Result<axum::Json<Json>, ApiError> {
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
