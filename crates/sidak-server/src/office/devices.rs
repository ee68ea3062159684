//! `GET /v1/office/devices`: each device with its officer, last sync, what it last
//! reported (ops pending and rejected on the device), clock offset and set-aside ops.

use std::collections::HashMap;

use axum::extract::State;
use sidak_server_storage::DeviceInfo;

use super::auth::Supervisor;
use crate::answers::office::{DeviceHealth, DeviceHealthList};
use crate::error::ApiError;
use crate::state::AppState;

/// A device that has not synced for this long is shown as silent: three working days
/// offline is normal in the field, longer deserves a phone call.
pub const SILENT_AFTER_MS: u64 = 3 * 24 * 60 * 60 * 1000;

/// A clock this far off the server's is flagged (ops beyond the skew limit get set aside).
pub const CLOCK_WARN_MS: i64 = 5 * 60 * 1000;

/// Whether `d` counts as silent at server time `now_ms`: not revoked, and not synced for
/// longer than [`SILENT_AFTER_MS`] (or never). The device list and the overview both ask.
pub fn is_silent(d: &DeviceInfo, now_ms: u64) -> bool {
    d.revoked_ms.is_none()
        && d.last_sync_ms
            .is_none_or(|t| now_ms.saturating_sub(t) > SILENT_AFTER_MS)
}

/// Whether `d`'s clock was off the server's by more than [`CLOCK_WARN_MS`] at its last push.
fn clock_warning(d: &DeviceInfo) -> bool {
    d.clock_offset_ms
        .is_some_and(|o| o.unsigned_abs() > CLOCK_WARN_MS.unsigned_abs())
}

/// Device health, most worrying first: revoked last, then silent, rejected, set aside.
pub async fn health(
    State(state): State<AppState>,
    _who: Supervisor,
) -> Result<axum::Json<DeviceHealthList>, ApiError> {
    let now = state.now_ms();
    let officers: HashMap<String, String> = state
        .storage
        .officers()
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let devices = state.storage.devices().await?;
    let chains: HashMap<String, _> = state
        .storage
        .device_chains()
        .await?
        .into_iter()
        .map(|c| (c.device_id.clone(), c))
        .collect();
    let devices = devices
        .into_iter()
        .map(|d| {
            let (silent, warning) = (is_silent(&d, now), clock_warning(&d));
            let officer_name = officers.get(&d.officer_id).cloned();
            let chain = chains.get(&d.device_id.to_string());
            DeviceHealth::new(d, officer_name, silent, warning).with_chain(chain)
        })
        .collect();
    Ok(axum::Json(DeviceHealthList {
        server_time_ms: now,
        devices,
    }))
}
