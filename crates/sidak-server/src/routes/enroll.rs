//! `POST /v1/enroll`: a device exchanges a one-time code for its id and bearer token.

use axum::extract::State;
use sidak_core::DeviceId;
use sidak_core::protocol::{EnrollRequest, EnrollResponse};

use crate::error::ApiError;
use crate::extract::{Body, Message};
use crate::secrets;
use crate::state::AppState;
use sidak_server_storage::NewDevice;

/// Longest device name kept; longer names are cut (it is only shown in device lists).
const MAX_DEVICE_NAME: usize = 100;

impl Message for EnrollRequest {
    const VERSIONED: bool = true;
    fn protocol(&self) -> u32 {
        self.protocol
    }
}

/// Uses the code (single use, unexpired) and answers the device's identity (a store enrolled
/// before may keep its id: `NewDevice::plan`). The token is shown only here; the server keeps
/// its hash.
pub async fn enroll(
    State(state): State<AppState>,
    Body(req): Body<EnrollRequest>,
) -> Result<axum::Json<EnrollResponse>, ApiError> {
    // The key that will seal the device's pushes: checked before the code is used.
    let public_key = req
        .public_key
        .as_deref()
        .map(|k| {
            sidak_core::chain::PublicKey::parse(k).map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_key",
                    format!("public_key: {e}; the app makes a new key when it enrolls again"),
                )
            })
        })
        .transpose()?
        .map(|k| k.to_hex());
    let token = secrets::new_token(secrets::DEVICE_TOKEN_PREFIX);
    let device_id = DeviceId(uuid::Uuid::new_v4());
    let now = state.now_ms();
    let device = NewDevice {
        id: device_id,
        token_hash: secrets::hash_token(&token),
        name: req
            .device_name
            .map(|n| n.chars().take(MAX_DEVICE_NAME).collect::<String>())
            .filter(|n| !n.trim().is_empty()),
        now_ms: now,
        keep: req.keep,
        public_key,
    };
    let (device_id, officer) = state
        .storage
        .enroll(&secrets::hash_code(&req.code), device)
        .await?;
    tracing::info!(device = %device_id, officer = %officer.id, "device enrolled");
    Ok(axum::Json(EnrollResponse {
        device_id,
        token,
        officer_id: officer.id,
        officer_name: officer.name,
        scope: officer.scope,
        server_time_ms: now,
    }))
}
