//! `POST /v1/pull`: the next page of the ops in the device's scope (see [`crate::cursor`]).

use axum::extract::State;
use axum::http::StatusCode;
use sidak_core::protocol::{PullRequest, PullResponse};

use crate::error::ApiError;
use crate::extract::{Body, Device, Message};
use crate::state::AppState;
use sidak_server_storage::sync::cursor::{self, Signed};
use sidak_server_storage::{DeviceAuth, PageRequest};

/// How stale a device's recorded last-sync time may get before a pull rewrites it: people read
/// it in minutes, and skipping the write keeps a no-change pull free of any write.
const LAST_SYNC_RESOLUTION_MS: u64 = 30_000;

impl Message for PullRequest {
    const VERSIONED: bool = true;
    fn protocol(&self) -> u32 {
        self.protocol
    }
}

/// Refuses (`409 cursor_reset`) a push or pull whose `check` names an op of this device that
/// the server no longer holds: it was restored from an older copy, and whatever this device's
/// cursor says, the device must offer its acknowledged ops again.
pub async fn verify_check(
    state: &AppState,
    device: &DeviceAuth,
    check: Option<&sidak_core::Hlc>,
) -> Result<(), ApiError> {
    let Some(hlc) = check else {
        return Ok(());
    };
    if hlc.device != device.device {
        return Err(ApiError::invalid_message(
            "`check` must name an op of this device (the latest one the server acknowledged)",
        ));
    }
    if state.storage.holds_op(hlc).await? {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "cursor_reset",
        format!(
            "this server no longer holds op {hlc}, which it acknowledged to this device (it was \
             restored from an older copy): pull again from \"\" and offer every acknowledged op again"
        ),
    ))
}

/// Reads one page for `device` (shared by `/v1/pull` and `/v1/sync`).
pub async fn pull(
    state: &AppState,
    device: &DeviceAuth,
    req: &PullRequest,
) -> Result<PullResponse, ApiError> {
    let c = &state.config;
    let limit = match req.limit {
        None => c.default_page_ops,
        Some(0) => return Err(ApiError::invalid_message("limit must be at least 1")),
        Some(n) => n.min(c.max_page_ops),
    };
    let key = state.storage.cursor_key();
    let from = Signed::decode(&req.cursor, &key)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", e.to_string()))?;
    let (from, fingerprint) = match from {
        Some(s) => (Some(s.cursor), s.fingerprint),
        None => (None, None),
    };
    verify_check(state, device, req.check.as_ref()).await?;
    let request = PageRequest {
        from: from.clone(),
        limit: limit as usize,
        max_bytes: c.max_page_bytes,
    };
    let page = state.storage.pull_page(device, &request).await?;
    let res = &page.found;
    // The sequence number whose op the scan fingerprinted: the cursor's (plan keeps it).
    let at = Some(page.plan.cursor.seq);
    if let Some(from) = &from {
        // The log must still hold what this device was sent up to its cursor: a server
        // restored from an older copy (or a cursor made up) does not. The device then
        // starts over and offers its acknowledged ops again (docs/operations.md, Backups).
        let rewound = from.seq > res.log_max
            || fingerprint
                .as_ref()
                .is_some_and(|fp| *fp != cursor::fingerprint(res.hlc_at(from.seq, at).flatten()));
        if rewound {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "cursor_reset",
                format!(
                    "this server's log no longer holds op {} that this device was sent (the server \
                     was restored from an older copy): pull again from \"\" and offer every \
                     acknowledged op again",
                    from.seq
                ),
            ));
        }
    }
    let (next, more) = page.plan.cursor.advance(res);
    let next_fp = cursor::fingerprint(res.hlc_at(next.seq, at).flatten());
    let now = state.now_ms();
    if device
        .last_sync_ms
        .is_none_or(|t| now.saturating_sub(t) > LAST_SYNC_RESOLUTION_MS)
    {
        state.storage.touch_device(device.device, now).await?;
    }
    Ok(PullResponse {
        ops: page.found.ops.into_iter().map(|(_, op)| op).collect(),
        next_cursor: Signed {
            cursor: next,
            fingerprint: Some(next_fp),
        }
        .encode(&key),
        more,
        purge: page.plan.purge,
        scope: page.scope,
        server_time_ms: now,
    })
}

/// `POST /v1/pull`.
pub async fn handle(
    State(state): State<AppState>,
    Device(device): Device,
    Body(req): Body<PullRequest>,
) -> Result<axum::Json<PullResponse>, ApiError> {
    // A retired device is given nothing more: it pushes, then wipes.
    Device(device.clone()).refuse_if_retired(&state).await?;
    pull(&state, &device, &req).await.map(axum::Json)
}
