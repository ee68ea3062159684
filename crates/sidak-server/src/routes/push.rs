//! `POST /v1/push`: one batch of a device's ops, judged op by op (see [`crate::ingest`]).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;
use sidak_core::protocol::{DeviceStatus, MAX_BATCH_OPS, OpStatus, PushResponse};

use crate::error::ApiError;
use crate::extract::{Body, Device, Message};
use crate::state::AppState;
use sidak_server_storage::DeviceAuth;
use sidak_server_storage::sync::ingest::Batch;

/// A push as the server reads it: the same JSON as [`sidak_core::protocol::PushRequest`],
/// but each op is kept raw and read on its own, so one malformed op is rejected alone
/// (`invalid_op`) instead of failing the whole batch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushIn {
    /// Protocol version.
    pub protocol: u32,
    /// The device's batch number.
    pub batch_seq: u64,
    /// The ops, each unparsed.
    pub ops: Vec<Box<RawValue>>,
    /// The device's own state.
    #[serde(default)]
    pub status: Option<DeviceStatus>,
    /// The latest op of this device the server acknowledged (see `pull::verify_check`).
    #[serde(default)]
    pub check: Option<sidak_core::Hlc>,
    /// The batch's place in the device's chain and its seal.
    #[serde(default)]
    pub chain: Option<sidak_core::protocol::ChainV1>,
}

impl Message for PushIn {
    const VERSIONED: bool = true;
    fn protocol(&self) -> u32 {
        self.protocol
    }
}

/// Applies a push for `device` (shared by `/v1/push` and `/v1/sync`).
pub async fn push(
    state: &AppState,
    device: &DeviceAuth,
    req: PushIn,
) -> Result<PushResponse, ApiError> {
    if req.ops.len() > MAX_BATCH_OPS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "batch_too_large",
            format!(
                "a batch holds at most {MAX_BATCH_OPS} ops, this one {}; split it",
                req.ops.len()
            ),
        ));
    }
    super::pull::verify_check(state, device, req.check.as_ref()).await?;
    let raw: Vec<&str> = req.ops.iter().map(|r| r.get()).collect();
    let mut batch = Batch::from_wire(req.batch_seq, &raw, req.status);
    if let Some(chain) = req.chain {
        batch = batch.sealed(chain);
    }
    let reply = state
        .storage
        .push_batch(
            device,
            batch,
            state.now_ms(),
            state.config.max_clock_skew_ms,
        )
        .await?;
    let count = |s: OpStatus| reply.results.iter().filter(|r| r.status == s).count();
    tracing::info!(
        device = %device.device,
        batch_seq = reply.batch_seq,
        accepted = count(OpStatus::Accepted),
        duplicate = count(OpStatus::Duplicate),
        rejected = count(OpStatus::Rejected),
        set_aside = count(OpStatus::SetAside),
        "push"
    );
    Ok(reply)
}

/// `POST /v1/push`.
pub async fn handle(
    State(state): State<AppState>,
    Device(device): Device,
    Body(req): Body<PushIn>,
) -> Result<axum::Json<PushResponse>, ApiError> {
    push(&state, &device, req).await.map(axum::Json)
}
