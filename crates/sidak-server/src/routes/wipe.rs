//! Remote wipe: the office orders a device wiped (lost or retired); the device says it did.

use axum::extract::State;
use sidak_core::DeviceId;
use sidak_core::protocol::{WipedRequest, WipedResponse};
use sidak_server_storage::WipeOrder;

use crate::answers::admin::Device;
use crate::error::ApiError;
use crate::extract::{Body, Message, Office, PathId, WipingDevice};
use crate::routes::admin::ADMINS;
use crate::state::AppState;

impl Message for WipedRequest {
    const VERSIONED: bool = true;
    fn protocol(&self) -> u32 {
        self.protocol
    }
}

/// `POST /v1/device/wiped`: records the wipe and what it destroyed; the token is revoked.
/// Saying it again changes nothing (the first report stays).
pub async fn wiped(
    State(state): State<AppState>,
    WipingDevice(device): WipingDevice,
    Body(req): Body<WipedRequest>,
) -> Result<axum::Json<WipedResponse>, ApiError> {
    if WipeOrder::parse(&req.order) != device.wipe {
        return Err(ApiError::invalid_message(format!(
            "order {:?} is not the order given to this device ({})",
            req.order,
            device.wipe.map_or("none", WipeOrder::as_str)
        )));
    }
    let report = serde_json::json!({
        "pending_ops": req.pending_ops,
        "curable_ops": req.curable_ops,
        "refused_for_good_ops": req.refused_for_good_ops,
    });
    let now = state.now_ms();
    state
        .storage
        .wipe_done(device.device, now, &report.to_string())
        .await?;
    let wiped_ms = if device.wiped {
        // Said before: answer the time first recorded.
        state
            .storage
            .devices()
            .await?
            .into_iter()
            .find(|d| d.device_id == device.device)
            .and_then(|d| d.wipe)
            .and_then(|w| w.wiped_ms)
            .unwrap_or(now)
    } else {
        now
    };
    tracing::warn!(
        device = %device.device,
        order = %req.order,
        destroyed_pending = req.pending_ops,
        "device wiped"
    );
    Ok(axum::Json(WipedResponse { wiped_ms }))
}

/// `POST /v1/admin/devices/{id}/lost`: revokes the device at once and wipes it at its next
/// contact, without taking anything more from it.
pub async fn lost(
    state: State<AppState>,
    office: Office,
    id: PathId,
) -> Result<axum::Json<Device>, ApiError> {
    order(state, office, id, WipeOrder::Lost).await
}

/// `POST /v1/admin/devices/{id}/retire`: the device sends what it has not synced, then wipes.
pub async fn retire(
    state: State<AppState>,
    office: Office,
    id: PathId,
) -> Result<axum::Json<Device>, ApiError> {
    order(state, office, id, WipeOrder::Retired).await
}

async fn order(
    State(state): State<AppState>,
    office: Office,
    PathId(id): PathId,
    order: WipeOrder,
) -> Result<axum::Json<Device>, ApiError> {
    office.require(ADMINS)?;
    let device: DeviceId = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("device {id:?} not found")))?;
    let info = state
        .storage
        .order_wipe(device, order, state.now_ms())
        .await?;
    tracing::warn!(device = %device, by = %office.0.username, order = order.as_str(), "device wipe ordered");
    Ok(axum::Json(info.into()))
}
