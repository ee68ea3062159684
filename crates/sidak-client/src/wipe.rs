//! Remote wipe on the device: the office's order arrives as the answer to a sync; the app
//! then destroys the store and tells the server it did.

use std::time::Duration;

use serde::Serialize;
use sidak_core::protocol::{PROTOCOL_VERSION, WipedRequest, WipedResponse};
use sidak_store::{Store, Unsaved};

use crate::error::SyncError;
use crate::transport::{Call, Transport};

/// Why the office wants this device's data gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WipeOrder {
    /// Reported lost: wipe now, without sending anything more.
    Lost,
    /// Retired: wipe once every edit is on the server.
    Retired,
}

impl WipeOrder {
    /// The order's name in the protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            WipeOrder::Lost => "lost",
            WipeOrder::Retired => "retired",
        }
    }
}

/// What a wipe did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WipeReport {
    /// The order obeyed.
    pub order: WipeOrder,
    /// What the wipe destroyed that the server never got (all zero for a retired device).
    pub destroyed: Unsaved,
    /// When the server recorded the wipe; `None` if it could not be told (the store is
    /// gone all the same, and the server shows the order as delivered).
    pub confirmed_ms: Option<u64>,
}

/// How many times the server is told of the wipe before giving up.
const CONFIRM_ATTEMPTS: u32 = 3;

/// Destroys `store` as `order` says, then tells the server (with the token kept in memory).
///
/// A retired device is wiped only once nothing would be lost: with edits still unsent or
/// refused for a cause that may go away it is left whole and `SyncError::RetireWaiting`
/// says what holds it; sync again (or fix the refused edits) first.
pub async fn wipe<T: Transport>(
    transport: &T,
    store: Store,
    order: WipeOrder,
) -> Result<WipeReport, SyncError> {
    let destroyed = store.unsaved()?;
    if order == WipeOrder::Retired && destroyed.holds_work() {
        return Err(SyncError::RetireWaiting(destroyed));
    }
    let token = store.identity().map(|i| i.token.clone());
    store.destroy()?;
    let confirmed_ms = match token {
        Some(token) => confirm(transport, &token, order, destroyed).await,
        None => None,
    };
    Ok(WipeReport {
        order,
        destroyed,
        confirmed_ms,
    })
}

/// Tells the server the wipe happened; `None` if it could not be reached or refused.
async fn confirm<T: Transport>(
    transport: &T,
    token: &str,
    order: WipeOrder,
    destroyed: Unsaved,
) -> Option<u64> {
    let body = serde_json::to_vec(&WipedRequest {
        protocol: PROTOCOL_VERSION,
        order: order.as_str().to_owned(),
        pending_ops: destroyed.pending_ops,
        curable_ops: destroyed.curable_ops,
        refused_for_good_ops: destroyed.refused_for_good_ops,
    })
    .ok()?;
    for attempt in 1..=CONFIRM_ATTEMPTS {
        let reply = transport
            .post(Call {
                path: "/v1/device/wiped",
                token: Some(token),
                body: &body,
                timeout: Duration::from_secs(20),
            })
            .await;
        match reply {
            Ok(r) if (200..300).contains(&r.status) => {
                return serde_json::from_slice::<WipedResponse>(&r.body)
                    .ok()
                    .map(|a| a.wiped_ms);
            }
            // Refused for good (a token already revoked, say): asking again will not help.
            Ok(r) if (400..500).contains(&r.status) && r.status != 408 && r.status != 429 => {
                return None;
            }
            _ if attempt < CONFIRM_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
            _ => {}
        }
    }
    None
}
