//! `GET /healthz` (is the process up) and `GET /v1/info` (clock, protocol and limits).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use sidak_core::protocol::{InfoResponse, MAX_BATCH_OPS, PROTOCOL_VERSION};

use crate::state::AppState;

/// The answer to `/healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: &'static str,
    /// The storage engine.
    pub storage: &'static str,
}

/// `GET /healthz`: answers while the process serves requests (for load balancers).
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        storage: state.storage.engine(),
    })
}

/// `GET /v1/info`: no authentication, so a device can check its clock before enrolling.
pub async fn info(State(state): State<AppState>) -> Json<InfoResponse> {
    let c = &state.config;
    Json(InfoResponse {
        protocol: vec![PROTOCOL_VERSION],
        server_time_ms: state.now_ms(),
        max_batch_ops: MAX_BATCH_OPS,
        max_body_bytes: c.max_body_bytes,
        max_page_ops: c.max_page_ops,
        max_clock_skew_ms: c.max_clock_skew_ms,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        // Public: anyone checking an evidence bundle may compare its server key with this.
        server_key: state
            .storage
            .server_key()
            .await
            .ok()
            .map(|k| k.public().to_hex()),
    })
}
