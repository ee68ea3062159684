//! `GET /v1/office/coverage` (per regency or district) and `GET /v1/office/overview`.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sidak_core::Kind;
use sidak_core::region::{Level, Regions};

use super::auth::Supervisor;
use super::params::{Params, clip, date_range, office_date};
use sidak_server_storage::office::model::{CoverageCell, CoverageQuery};
use crate::error::ApiError;
use crate::state::AppState;

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

/// Counts of one kind in one area.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Records.
    pub total: u64,
    /// By status.
    pub by_status: BTreeMap<String, u64>,
    /// By occupation (workers) or compliance (companies).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_category: BTreeMap<String, u64>,
}

/// One area of the report.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Area {
    /// Region code (4 digits regency, 6 district).
    pub code: String,
    /// Its name, when known.
    pub name: Option<String>,
    /// Workers registered, by status and occupation.
    pub workers: Counts,
    /// Companies, by status and compliance.
    pub companies: Counts,
    /// Visits, by status.
    pub visits: Counts,
    /// Findings, by status.
    pub findings: Counts,
    /// Findings open past their deadline.
    pub findings_overdue: u64,
}

/// Folds the storage's cells into areas, with every known area under the prefix present
/// (zeros included), so a chart shows the regencies nobody has reached yet.
pub fn fold(cells: Vec<CoverageCell>, region: &str, level: Level) -> Vec<Area> {
    let regions = Regions::get();
    let mut areas: BTreeMap<String, Area> = BTreeMap::new();
    for r in regions.children(region, level) {
        areas.insert(
            r.code.clone(),
            Area {
                code: r.code.clone(),
                name: Some(r.name.clone()),
                ..Area::default()
            },
        );
    }
    for c in cells {
        let area = areas.entry(c.area.clone()).or_insert_with(|| Area {
            code: c.area.clone(),
            name: regions.lookup(&c.area).map(|r| r.name.clone()),
            ..Area::default()
        });
        let counts = match c.kind {
            Kind::Worker => &mut area.workers,
            Kind::Company => &mut area.companies,
            Kind::Visit => &mut area.visits,
            Kind::Finding => &mut area.findings,
        };
        counts.total += c.count;
        *counts.by_status.entry(c.status).or_default() += c.count;
        if !c.category.is_empty() {
            *counts.by_category.entry(c.category).or_default() += c.count;
        }
        area.findings_overdue += c.overdue;
    }
    areas.into_values().collect()
}

/// Coverage per regency/city (or district): workers by status and occupation, companies
/// by compliance, visits by status, findings open past deadline; for a date range.
pub async fn report(
    State(state): State<AppState>,
    _who: Supervisor,
    Params(p): Params<CoverageParams>,
) -> Result<axum::Json<Json>, ApiError> {
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
    let cells = state.storage.coverage(&query).await?;
    let areas = fold(cells, &region, level);
    Ok(axum::Json(json!({
        "region": region,
        "level": level,
        "from": p.from,
        "to": p.to,
        "today": today,
        "areas": areas,
    })))
}

/// Headline numbers: records per kind, conflicts, duplicate groups, review queue,
/// set-aside ops, overdue findings, devices (and how many are silent).
pub async fn overview(
    State(state): State<AppState>,
    _who: Supervisor,
) -> Result<axum::Json<Json>, ApiError> {
    let now = state.now_ms();
    let o = state.storage.overview(&office_date(now)).await?;
    let devices = state.storage.devices().await?;
    let active = devices.iter().filter(|d| d.revoked_ms.is_none()).count();
    let silent = devices
        .iter()
        .filter(|d| {
            d.revoked_ms.is_none()
                && d.last_sync_ms
                    .is_none_or(|t| now.saturating_sub(t) > super::devices::SILENT_AFTER_MS)
        })
        .count();
    let mut v = serde_json::to_value(&o).map_err(ApiError::internal)?;
    v["devices"] = json!(active);
    v["devices_silent"] = json!(silent);
    v["server_time_ms"] = json!(now);
    Ok(axum::Json(v))
}
