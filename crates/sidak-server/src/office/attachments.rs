//! `GET /v1/office/records/{id}/attachments/{hash}` (a record's photo or document, its
//! embedded location removed unless an admin asks for the original) and `.../thumbnail`
//! (a small JPEG preview made here for the dashboard).
//!
//! The office sees every area, but only through a record: a hash is served for a record whose
//! ops added it (a photo removed since is still evidence, so it stays readable). Decoding an
//! image costs memory and CPU, so previews are made a few at a time ([`DECODING`]).

use std::sync::{Arc, OnceLock};

use axum::body::Body as RawBody;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use sidak_core::RecordId;
use sidak_core::attachment::BlobHash;
use sidak_media::MediaError;
use sidak_server_storage::blobs::{BlobMeta, read_all};
use tokio::sync::Semaphore;

use super::auth::Supervisor;
use super::params::{Params, record_id};
use crate::error::ApiError;
use crate::state::AppState;

/// Previews made at once (each decodes a photo of up to 20 MiB into pixels).
pub const DECODING: usize = 2;
/// Longest side of a preview when the caller does not say (pixels).
pub const DEFAULT_SIDE: u32 = sidak_media::THUMBNAIL_SIDE;
/// Largest preview side asked for (pixels).
pub const MAX_SIDE: u32 = 1280;

fn decoding() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| Arc::new(Semaphore::new(DECODING)))
}

/// The `{id}` and `{hash}` of the path.
#[derive(Debug)]
pub struct RecordHash(pub RecordId, pub BlobHash);

impl<S: Send + Sync> FromRequestParts<S> for RecordHash {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path((id, hash)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| {
                    ApiError::invalid_message(format!("the path cannot be read: {}", e.body_text()))
                })?;
        let id = record_id(&id)?;
        let hash = BlobHash::parse(&hash).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_hash",
                "the blob hash in the path must be 64 lowercase hex digits (BLAKE3 of the bytes)",
            )
        })?;
        Ok(RecordHash(id, hash))
    }
}

/// `404 blob_not_found`: the record never referenced the hash.
fn not_found(id: RecordId, hash: &BlobHash) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "blob_not_found",
        format!("record {id} has no attachment {hash}"),
    )
}

/// `404 blob_pending`: referenced, not (completely) uploaded yet.
fn pending(meta: Option<&BlobMeta>) -> ApiError {
    let progress = meta
        .map(|m| format!(" ({} of {} bytes so far)", m.received, m.size))
        .unwrap_or_default();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "blob_pending",
        format!(
            "the device has not finished uploading this attachment{progress}; it appears after the device's next sync with signal"
        ),
    )
}

/// The complete blob `hash` that record `id`'s ops added, without reading its bytes.
pub(super) async fn held(
    state: &AppState,
    id: RecordId,
    hash: BlobHash,
) -> Result<BlobMeta, ApiError> {
    let blobs = state.storage.record_blobs(id).await?;
    let blob = blobs
        .into_iter()
        .find(|b| b.hash == hash)
        .ok_or_else(|| not_found(id, &hash))?;
    match blob.meta {
        Some(m) if m.complete => Ok(m),
        other => Err(pending(other.as_ref())),
    }
}

/// The bytes of a blob [`held`] answered, read whole and checked against the hash.
pub(super) async fn read(state: &AppState, meta: &BlobMeta) -> Result<Bytes, ApiError> {
    let stream = state
        .blobs
        .read(meta, None)
        .await?
        .ok_or_else(|| pending(None))?;
    let bytes = read_all(stream).await.map_err(ApiError::internal)?;
    if BlobHash::of(&bytes) != meta.hash {
        tracing::error!(hash = %meta.hash, "a stored blob's bytes do not match its hash");
        return Err(ApiError::internal(
            "the stored bytes do not match the attachment's hash",
        ));
    }
    Ok(Bytes::from(bytes))
}

/// A worker's attachments are their ID card (KTP) and signed consent: they show the whole NIK,
/// so only an admin sees them (as only an admin sees an unmasked NIK), and it is logged.
async fn may_see(state: &AppState, who: &Supervisor, id: RecordId) -> Result<(), ApiError> {
    let worker = state
        .storage
        .record_summary(id)
        .await?
        .is_some_and(|s| s.kind == sidak_core::Kind::Worker);
    if !worker {
        return Ok(());
    }
    if !who.is_admin() {
        return Err(ApiError::forbidden(
            "a worker's photos (ID card, consent) show the whole NIK: only an admin may open them (personal data, UU 27/2022)",
        ));
    }
    tracing::warn!(target: "audit", username = %who.0.username, record = %id, "worker attachment opened");
    Ok(())
}

/// Runs `f` (a decode or re-encode of a photo) on the blocking pool holding one of the
/// [`DECODING`] slots until `f` returns, even when the request is dropped first.
pub(super) async fn decode<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let slot = decoding()
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || {
        let out = f();
        drop(slot);
        out
    })
    .await
    .map_err(ApiError::internal)
}

fn media_error(e: MediaError) -> ApiError {
    let status = match e {
        MediaError::NoPreview(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        MediaError::Unreadable { .. } | MediaError::TooLarge => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, e.code(), e.to_string())
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// The answer for `bytes` of `media_type`, cached by the browser as the hash never changes.
fn answer(bytes: Bytes, media_type: &str, etag: &str, filename: Option<&str>) -> Response {
    let mut res = Response::new(RawBody::from(bytes));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, value(media_type));
    h.insert(header::ETAG, value(etag));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(name) = filename {
        h.insert(
            header::CONTENT_DISPOSITION,
            value(&format!("inline; filename=\"{name}\"")),
        );
    }
    res
}

/// Whether the browser already holds `etag`.
fn fresh(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

fn not_modified(etag: &str) -> Response {
    let mut res = StatusCode::NOT_MODIFIED.into_response();
    res.headers_mut().insert(header::ETAG, value(etag));
    res
}

/// A file name for downloads: the hash's start and the type's extension.
fn filename(hash: &BlobHash, media_type: &str) -> String {
    let ext = match media_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    format!("{}.{ext}", &hash.to_hex()[..16])
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BytesParams {
    /// Admins only: the bytes as the device took them, embedded location included (logged).
    original: Option<bool>,
}

/// An attachment's bytes; EXIF, XMP and the like (which hold the phone's GPS position) removed
/// unless an admin asks `original=true`, which is logged.
pub async fn bytes(
    State(state): State<AppState>,
    who: Supervisor,
    RecordHash(id, hash): RecordHash,
    Params(p): Params<BytesParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let original = p.original.unwrap_or(false);
    if original {
        if !who.is_admin() {
            return Err(ApiError::forbidden(
                "only an admin may download an attachment with its embedded location (personal data, UU 27/2022)",
            ));
        }
        tracing::warn!(target: "audit", username = %who.0.username, record = %id, hash = %hash, "original attachment with embedded location");
    }
    may_see(&state, &who, id).await?;
    let etag = format!("\"{hash}{}\"", if original { "-original" } else { "" });
    let meta = held(&state, id, hash).await?;
    if fresh(&headers, &etag) {
        return Ok(not_modified(&etag));
    }
    let bytes = read(&state, &meta).await?;
    let bytes = if original {
        bytes
    } else {
        let media_type = meta.media_type.clone();
        decode(move || sidak_media::without_location(bytes, &media_type))
            .await?
            .map_err(media_error)?
    };
    let name = filename(&hash, &meta.media_type);
    Ok(answer(bytes, &meta.media_type, &etag, Some(&name)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ThumbnailParams {
    /// Longest side in pixels, 16 to [`MAX_SIDE`]; 320 when left out.
    side: Option<u32>,
}

/// A JPEG preview of a photo (its location is not carried into it); a PDF has none (415).
pub async fn thumbnail(
    State(state): State<AppState>,
    who: Supervisor,
    RecordHash(id, hash): RecordHash,
    Params(p): Params<ThumbnailParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let side = p.side.unwrap_or(DEFAULT_SIDE);
    if !(16..=MAX_SIDE).contains(&side) {
        return Err(ApiError::invalid_message(format!(
            "side must be 16 to {MAX_SIDE} pixels"
        )));
    }
    may_see(&state, &who, id).await?;
    let etag = format!("\"{hash}-{side}\"");
    let meta = held(&state, id, hash).await?;
    if fresh(&headers, &etag) {
        return Ok(not_modified(&etag));
    }
    if meta.media_type == "application/pdf" {
        return Err(media_error(MediaError::NoPreview(meta.media_type)));
    }
    let bytes = read(&state, &meta).await?;
    let media_type = meta.media_type.clone();
    let jpeg = decode(move || sidak_media::thumbnail(&bytes, &media_type, side))
        .await?
        .map_err(media_error)?;
    Ok(answer(Bytes::from(jpeg), "image/jpeg", &etag, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let h = BlobHash::of(b"ktp");
        assert_eq!(
            filename(&h, "image/jpeg"),
            format!("{}.jpg", &h.to_hex()[..16])
        );
    }

    #[test]
    fn etags_match_as_browsers_send_them() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", \"b-320\""),
        );
        assert!(fresh(&h, "\"b-320\""));
        assert!(!fresh(&h, "\"b-640\""));
        assert!(!fresh(&HeaderMap::new(), "\"a\""));
    }
}
