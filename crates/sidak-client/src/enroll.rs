//! Enrollment: a one-time code from the central office becomes the device's identity.

use std::time::Duration;

use sidak_core::protocol::{EnrollRequest, EnrollResponse, ErrorBody, PROTOCOL_VERSION};
use sidak_store::{Identity, Store};

use crate::error::SyncError;
use crate::http::HttpTransport;
use crate::transport::{Call, Transport, TransportError};

/// How long an enrollment request may take.
const ENROLL_TIMEOUT: Duration = Duration::from_secs(30);

/// Enrolls the device at `server_url` with `code` and stores the identity it gets.
///
/// Not retried: a code is good once, so a retry after a lost answer would only
/// be refused; the officer asks for a new code instead.
pub async fn enroll(
    store: &mut Store,
    server_url: &str,
    code: &str,
    device_name: Option<String>,
) -> Result<Identity, SyncError> {
    let transport = HttpTransport::new(server_url).map_err(|e| SyncError::GaveUp {
        path: "/v1/enroll",
        attempts: 0,
        last: e.to_string(),
    })?;
    enroll_with(&transport, store, server_url, code, device_name).await
}

/// [`enroll`] over any transport.
pub async fn enroll_with<T: Transport>(
    transport: &T,
    store: &mut Store,
    server_url: &str,
    code: &str,
    device_name: Option<String>,
) -> Result<Identity, SyncError> {
    const PATH: &str = "/v1/enroll";
    let req = EnrollRequest {
        protocol: PROTOCOL_VERSION,
        code: code.trim().to_owned(),
        device_name,
        // A store with edits of its own keeps its id, so those edits stay its own.
        keep: store.keep_identity()?,
        // A new key each enrollment; the store adopts it once this succeeds.
        public_key: Some(store.enrollment_key()?),
    };
    let body = serde_json::to_vec(&req).map_err(|e| SyncError::BadResponse {
        path: PATH,
        reason: e.to_string(),
    })?;
    let reply = transport
        .post(Call {
            path: PATH,
            token: None,
            body: &body,
            timeout: ENROLL_TIMEOUT,
        })
        .await
        .map_err(|e| match e {
            TransportError::PinMismatch(m) => SyncError::TlsPinMismatch(m),
            e => SyncError::GaveUp {
                path: PATH,
                attempts: 1,
                last: e.to_string(),
            },
        })?;
    if !(200..300).contains(&reply.status) {
        let e: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or(ErrorBody {
            code: String::new(),
            message: String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned(),
            chain: None,
        });
        return Err(if e.code == "unsupported_protocol" {
            SyncError::ProtocolRefused(e.message)
        } else {
            SyncError::Refused {
                path: PATH,
                status: reply.status,
                code: e.code,
                message: e.message,
            }
        });
    }
    let answer: EnrollResponse =
        serde_json::from_slice(&reply.body).map_err(|e| SyncError::BadResponse {
            path: PATH,
            reason: e.to_string(),
        })?;
    let identity = Identity::from_enrollment(server_url.trim_end_matches('/'), &answer);
    store.set_identity(identity.clone())?;
    Ok(identity)
}
