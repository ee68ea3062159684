//! Extractors that answer bad input with our error body: JSON bodies (decompressed,
//! size-limited, version-checked) and the two kinds of bearer credentials.

use std::io::Read;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sidak_core::protocol::PROTOCOL_VERSION;

use crate::error::ApiError;
use crate::secrets;
use crate::state::AppState;
use sidak_server_storage::{DeviceAuth, Role, User, WipeOrder};

/// A request body type, and whether it carries a `protocol` version to check.
pub trait Message: DeserializeOwned {
    /// Whether the message has a `protocol` field.
    const VERSIONED: bool;
    /// The protocol version it names (versioned messages only).
    fn protocol(&self) -> u32 {
        PROTOCOL_VERSION
    }
}

/// A JSON request body: decompressed (`Content-Encoding: gzip | zstd`), at most the
/// configured size after decompression, parsed strictly (unknown fields refused).
#[derive(Debug)]
pub struct Body<T>(pub T);

#[derive(Deserialize)]
struct Peek {
    protocol: Option<serde_json::Value>,
}

fn decompress(body: Bytes, encoding: &str, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let res = match encoding {
        "gzip" | "x-gzip" => flate2::read::GzDecoder::new(&body[..])
            .take(limit as u64 + 1)
            .read_to_end(&mut out),
        "zstd" => match zstd::stream::read::Decoder::new(&body[..]) {
            Ok(d) => d.take(limit as u64 + 1).read_to_end(&mut out),
            Err(e) => Err(e),
        },
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("Content-Encoding {other:?} is not supported; use gzip, zstd or none"),
            ));
        }
    };
    if let Err(e) = res {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_encoding",
            format!("the body could not be decompressed as {encoding}: {e}"),
        ));
    }
    if out.len() > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(out)
}

/// Parses a message from JSON bytes with our error codes.
pub fn parse_message<T: Message>(bytes: &[u8]) -> Result<T, ApiError> {
    match serde_json::from_slice::<T>(bytes) {
        // Serde reads a struct from an array too (fields by position: `[]` was a valid
        // `{}`), but every message is an object.
        Ok(_) if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') => Err(
            ApiError::invalid_message("the body is not the message expected: not a JSON object"),
        ),
        Ok(v) => {
            if T::VERSIONED && v.protocol() != PROTOCOL_VERSION {
                return Err(ApiError::unsupported_protocol(&v.protocol().into()));
            }
            Ok(v)
        }
        Err(e) if e.is_syntax() || e.is_eof() => Err(ApiError::bad_json(format!(
            "the body is not valid JSON: {e}"
        ))),
        Err(e) => {
            if T::VERSIONED
                && let Ok(Peek { protocol: Some(p) }) = serde_json::from_slice::<Peek>(bytes)
                && p.as_u64() != Some(PROTOCOL_VERSION.into())
            {
                return Err(ApiError::unsupported_protocol(&p));
            }
            Err(ApiError::invalid_message(format!(
                "the body is not the message expected: {e}"
            )))
        }
    }
}

impl<T: Message> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.max_body_bytes;
        let headers = req.headers().clone();
        if let Some(ct) = headers.get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            let essence = ct.split(';').next().unwrap_or("").trim();
            if !essence.eq_ignore_ascii_case("application/json") {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!("Content-Type {ct:?} is not supported; send application/json"),
                ));
            }
        }
        let body = match Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::payload_too_large(limit));
            }
            Err(rej) => {
                return Err(ApiError::bad_request(format!(
                    "the body could not be read: {rej}"
                )));
            }
        };
        let encoding = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let bytes: Vec<u8> = if encoding.is_empty() || encoding == "identity" {
            body.into()
        } else {
            // Decompressing a few MB takes milliseconds of CPU; keep it off the async workers.
            tokio::task::spawn_blocking(move || decompress(body, &encoding, limit))
                .await
                .map_err(ApiError::internal)??
        };
        // An office call without a body means "no options" (`{}`); sync messages always need one.
        if !T::VERSIONED && bytes.iter().all(u8::is_ascii_whitespace) {
            return parse_message(b"{}").map(Body);
        }
        parse_message(&bytes).map(Body)
    }
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be \"Bearer <token>\"")
        })
}

/// An enrolled, unrevoked device, from its bearer token.
///
/// A device the office reported lost is answered 410 `device_lost` (and the server notes
/// that it was told), so the app wipes it; a retired device passes (it may still push:
/// the endpoints that only give it data refuse it, see [`Device::refuse_if_retired`]).
#[derive(Debug, Clone)]
pub struct Device(pub DeviceAuth);

impl FromRequestParts<AppState> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = device_from_token(parts, state).await?;
        if auth.wipe == Some(WipeOrder::Lost) && !auth.wiped {
            state.storage.wipe_told(auth.device, state.now_ms()).await?;
            tracing::warn!(device = %auth.device, "lost device made contact: told to wipe");
            return Err(ApiError::device_lost());
        }
        if auth.revoked {
            return Err(ApiError::device_revoked());
        }
        Ok(Device(auth))
    }
}

impl Device {
    /// 410 `device_retired` for a retired device asking only for data (it pushes, then wipes).
    pub async fn refuse_if_retired(&self, state: &AppState) -> Result<(), ApiError> {
        if self.0.wipe == Some(WipeOrder::Retired) {
            state
                .storage
                .wipe_told(self.0.device, state.now_ms())
                .await?;
            return Err(ApiError::device_retired());
        }
        Ok(())
    }
}

/// A device reporting that it wiped: one with a wipe ordered (lost and revoked included).
#[derive(Debug, Clone)]
pub struct WipingDevice(pub DeviceAuth);

impl FromRequestParts<AppState> for WipingDevice {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = device_from_token(parts, state).await?;
        if auth.wipe.is_none() {
            return Err(if auth.revoked {
                ApiError::device_revoked()
            } else {
                ApiError::no_wipe_ordered()
            });
        }
        Ok(WipingDevice(auth))
    }
}

/// The device holding the request's bearer token, whatever its state.
async fn device_from_token(parts: &Parts, state: &AppState) -> Result<DeviceAuth, ApiError> {
    let token = bearer(parts)?;
    if !token.starts_with(secrets::DEVICE_TOKEN_PREFIX) {
        return Err(ApiError::unauthorized(
            "this endpoint needs a device token (from /v1/enroll)",
        ));
    }
    state
        .storage
        .authenticate_device(&secrets::hash_token(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown device token; enroll the device again"))
}

/// A logged-in office user, from their session token.
#[derive(Debug, Clone)]
pub struct Office(pub User);

impl Office {
    /// Refuses (403) unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<&User, ApiError> {
        if roles.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "user {} is {}; this needs {}",
                self.0.username,
                self.0.role.as_str(),
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    }
}

impl FromRequestParts<AppState> for Office {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        if !token.starts_with(secrets::SESSION_TOKEN_PREFIX) {
            return Err(ApiError::unauthorized(
                "this endpoint needs an office session token (from /v1/login)",
            ));
        }
        let user = state
            .storage
            .session_user(&secrets::hash_token(token), state.now_ms())
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or expired session; log in again"))?;
        Ok(Office(user))
    }
}

/// The one path parameter of a route (an id), refused with our JSON error body when the path
/// cannot be read (such as percent-encoded bytes that are not UTF-8), rather than axum's text.
#[derive(Debug)]
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) => Ok(PathId(id)),
            Err(e) => Err(ApiError::invalid_message(format!(
                "the id in the path cannot be read: {}",
                e.body_text()
            ))),
        }
    }
}
