//! `POST /v1/sync`: a push (if any) then a pull, in one round trip for a device on a bad link.

use axum::extract::State;
use serde::Deserialize;
use sidak_core::protocol::{PROTOCOL_VERSION, PullRequest, SyncResponse};

use crate::error::ApiError;
use crate::extract::{Body, Device, Message};
use crate::routes::{pull, push};
use crate::state::AppState;

/// A sync as the server reads it: the JSON of [`sidak_core::protocol::SyncRequest`], with
/// the push read as [`push::PushIn`] so one malformed op is rejected alone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncIn {
    /// Protocol version.
    pub protocol: u32,
    /// A batch to push first.
    #[serde(default)]
    pub push: Option<push::PushIn>,
    /// The pull after it.
    pub pull: PullRequest,
}

impl Message for SyncIn {
    const VERSIONED: bool = true;
    fn protocol(&self) -> u32 {
        // The inner messages carry the version too; any disagreement is unsupported.
        let inner = [self.pull.protocol]
            .into_iter()
            .chain(self.push.as_ref().map(|p| p.protocol));
        inner.fold(
            self.protocol,
            |v, p| if p == PROTOCOL_VERSION { v } else { p },
        )
    }
}

/// `POST /v1/sync`: the push is committed before the pull reads, so a failed pull can be
/// retried whole (the push part is then recognised as a resent batch).
pub async fn handle(
    State(state): State<AppState>,
    Device(device): Device,
    Body(req): Body<SyncIn>,
) -> Result<axum::Json<SyncResponse>, ApiError> {
    let pushed = match req.push {
        Some(p) => Some(push::push(&state, &device, p).await?),
        None => {
            // A retired device is given nothing more once it has nothing left to send.
            Device(device.clone()).refuse_if_retired(&state).await?;
            None
        }
    };
    let pulled = pull::pull(&state, &device, &req.pull).await?;
    Ok(axum::Json(SyncResponse {
        push: pushed,
        pull: pulled,
    }))
}
