//! `GET /v1/office/coverage` (per regency or district) and `GET /v1/office/overview`.

use axum::extract::State;
use serde::Deserialize;
use sidak_core::region::Level;
use sidak_server_storage::office::model::CoverageQuery;

use super::auth::Supervisor;
use super::devices::is_silent;
use super::params::{Params, clip, date_range, office_date};
use crate::answers::office::{Area, Coverage, Overview};
use crate::error::ApiError;
use crate::state::AppState;
use crate::targets::{COVERED_STATUSES, Progress};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CoverageParams {
    /// Region prefix (default: everything).
    region: Option<String>,
    /// `regency` (default) or `district`.
    level: Option<String>,
    /// Records created on or after (`YYYY-MM-DD`).
    from: Option<String>,
    /// Records created on or before.
    to: Option<String>,
}

/// Coverage per regency/city (or district): workers by status and occupation, companies
/// by compliance, visits by status, findings open past deadline; for a date range.
pub async fn report(
    State(state): State<AppState>,
    _who: Supervisor,
    Params(p): Params<CoverageParams>,
) -> Result<axum::Json<Coverage>, ApiError> {
    let region = p.region.unwrap_or_default();
    if region.len() > 6 || !region.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid_message(format!(
            "region must be a province, regency or district code prefix, got {:?}",
            clip(&region)
        )));
    }
    let (level, area_len) = match p.level.as_deref().unwrap_or("regency") {
        "regency" => (Level::Regency, 4),
        "district" => (Level::District, 6),
        other => {
            return Err(ApiError::invalid_message(format!(
                "level must be regency or district, got {:?}",
                clip(other)
            )));
        }
    };
    if region.len() >= area_len {
        return Err(ApiError::invalid_message(format!(
            "a {} report needs a region prefix shorter than {area_len} digits",
            p.level.as_deref().unwrap_or("regency")
        )));
    }
    let (from_ms, to_ms) = date_range(p.from.as_deref(), p.to.as_deref())?;
    let today = office_date(state.now_ms());
    let query = CoverageQuery {
        region: region.clone(),
        area_len,
        from_ms,
        to_ms,
        today: today.clone(),
    };
    let dated = query.from_ms.is_some() || query.to_ms.is_some();
    let cells = state.storage.coverage(&query).await?;
    let mut areas = Area::fold(cells, &region, level);
    let targets = &state.config.coverage_targets;
    let covered = |a: &Area| -> u64 {
        COVERED_STATUSES
            .iter()
            .map(|s| a.workers.by_status.get(*s).copied().unwrap_or(0))
            .sum()
    };
    // Against a target, everyone covered counts, whatever dates the counts are for.
    let undated = if dated {
        let all = CoverageQuery {
            from_ms: None,
            to_ms: None,
            ..query.clone()
        };
        Area::fold(state.storage.coverage(&all).await?, &region, level)
    } else {
        areas.clone()
    };
    let mut all_covered = 0;
    for (a, u) in areas.iter_mut().zip(&undated) {
        let since = covered(u);
        all_covered += since;
        a.target = targets.get(&a.code).map(|t| Progress::new(t, since));
    }
    let target = targets.get(&region).map(|t| Progress::new(t, all_covered));
    Ok(axum::Json(Coverage {
        region,
        level,
        from: p.from,
        to: p.to,
        today,
        areas,
        target,
    }))
}

/// Headline numbers: records per kind, conflicts, duplicate groups, review queue,
/// set-aside ops, overdue findings, devices (and how many are silent).
pub async fn overview(
    State(state): State<AppState>,
    _who: Supervisor,
) -> Result<axum::Json<Overview>, ApiError> {
    let now = state.now_ms();
    let o = state.storage.overview(&office_date(now)).await?;
    let devices = state.storage.devices().await?;
    let active = devices.iter().filter(|d| d.revoked_ms.is_none()).count();
    let silent = devices.iter().filter(|d| is_silent(d, now)).count();
    Ok(axum::Json(Overview::new(
        o,
        active as u64,
        silent as u64,
        now,
    )))
}
