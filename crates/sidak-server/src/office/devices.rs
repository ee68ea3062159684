//! `GET /v1/office/devices`: each device with its officer, last sync, what it last
//! reported (ops pending and rejected on the device), clock offset and set-aside ops.

use std::collections::HashMap;

use axum::extract::State;
use serde_json::{Value as Json, json};

use super::auth::Supervisor;
use crate::error::ApiError;
use crate::state::AppState;

/// A device that has not synced for this long is shown as silent: three working days
/// offline is normal in the field, longer deserves a phone call.
pub const SILENT_AFTER_MS: u64 = 3 * 24 * 60 * 60 * 1000;

/// A clock this far off the server's is flagged (ops beyond the skew limit get set aside).
pub const CLOCK_WARN_MS: i64 = 5 * 60 * 1000;

/// Device health, most worrying first: revoked last, then silent, rejected, set aside.
pub async fn health(
    State(state): State<AppState>,
    _who: Supervisor,
) -> Result<axum::Json<Json>, ApiError> {
    let now = state.now_ms();
    let officers: HashMap<String, String> = state
        .storage
        .officers()
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let devices = state.storage.devices().await?;
    let items: Vec<Json> = devices
        .into_iter()
        .map(|d| {
            let silent = d.revoked_ms.is_none()
                && d.last_sync_ms
                    .is_none_or(|t| now.saturating_sub(t) > SILENT_AFTER_MS);
            let clock_off = d
                .clock_offset_ms
                .is_some_and(|o| o.unsigned_abs() > CLOCK_WARN_MS.unsigned_abs());
            json!({
                "device_id": d.device_id,
                "name": d.name,
                "officer_id": d.officer_id,
                "officer_name": officers.get(&d.officer_id),
                "enrolled_ms": d.enrolled_ms,
                "last_sync_ms": d.last_sync_ms,
                "revoked_ms": d.revoked_ms,
                "pending_ops": d.status.as_ref().map(|s| s.pending_ops),
                "rejected_ops": d.status.as_ref().map(|s| s.rejected_ops),
                "app_version": d.status.as_ref().and_then(|s| s.app_version.clone()),
                "clock_offset_ms": d.clock_offset_ms,
                "set_aside": d.set_aside,
                "silent": silent,
                "clock_warning": clock_off,
            })
        })
        .collect();
    Ok(axum::Json(json!({"server_time_ms": now, "devices": items})))
}
