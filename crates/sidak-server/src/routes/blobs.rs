//! `/v1/blobs/{hash}`: attachments' bytes, uploaded in resumable chunks and read back by the
//! devices whose scope holds a record referencing them (docs/protocol.md, *Attachments*).
//! The rules are `sidak_server_storage::blobs::Blobs`'; this file reads requests and writes
//! answers.

use axum::body::Body as RawBody;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures::StreamExt;
use sidak_core::attachment::BlobHash;
use sidak_core::protocol::{BlobStartRequest, BlobUploadStatus, MAX_CHUNK_BYTES};
use sidak_server_storage::blobs::{BlobAccess, BlobRefused, BlobStart};

use crate::error::ApiError;
use crate::extract::{Body, Device, Message};
use crate::state::AppState;

impl Message for BlobStartRequest {
    const VERSIONED: bool = false;
}

/// The `{hash}` of the path: 64 lowercase hex digits, or 400 `invalid_hash`.
#[derive(Debug)]
pub struct HashPath(pub BlobHash);

impl<S: Send + Sync> FromRequestParts<S> for HashPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_hash",
                "the blob hash in the path must be 64 lowercase hex digits (BLAKE3 of the bytes)",
            )
        };
        let axum::extract::Path(text) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| invalid())?;
        BlobHash::parse(&text).map(HashPath).map_err(|_| invalid())
    }
}

/// `POST /v1/blobs/{hash}`: starts or resumes an upload; answers how far it has come.
pub async fn start(
    State(state): State<AppState>,
    Device(device): Device,
    HashPath(hash): HashPath,
    Body(req): Body<BlobStartRequest>,
) -> Result<axum::Json<BlobUploadStatus>, ApiError> {
    let start = BlobStart {
        hash,
        size: req.size,
        media_type: req.media_type,
        device: device.device.to_string(),
    };
    let meta = state.blobs.start(&start, state.now_ms()).await??;
    Ok(axum::Json(meta.status()))
}

/// The `offset` of a chunk's query string, or 400 `invalid_offset`.
fn offset(query: Option<&str>) -> Result<u64, ApiError> {
    let invalid = |why: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_offset",
            format!("{why}: send ?offset=K, K the offset POST answered (a whole number of bytes)"),
        )
    };
    let mut found = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "offset" {
            if found.is_some() {
                return Err(invalid("offset is given twice"));
            }
            found = Some(v);
        }
    }
    let v = found.ok_or_else(|| invalid("offset is missing"))?;
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("offset is not a whole number"));
    }
    v.parse().map_err(|_| invalid("offset is too large"))
}

/// `PUT /v1/blobs/{hash}/chunks?offset=K`: one chunk of raw bytes, at most
/// [`MAX_CHUNK_BYTES`]; refused at once when `Content-Length` announces more, and read whole
/// before anything is stored (a chunk cut off stores nothing).
pub async fn chunk(
    State(state): State<AppState>,
    Device(_device): Device,
    HashPath(hash): HashPath,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: RawBody,
) -> Result<axum::Json<BlobUploadStatus>, ApiError> {
    let offset = offset(query.as_deref())?;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_CHUNK_BYTES as u64) {
        return Err(BlobRefused::ChunkTooLarge.into());
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/octet-stream") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Type {ct:?} is not supported; send a chunk as application/octet-stream"
                ),
            ));
        }
    }
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("").trim();
        if !enc.eq_ignore_ascii_case("identity") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!(
                    "Content-Encoding {enc:?} is not taken for chunks: send the bytes as they are"
                ),
            ));
        }
    }
    let mut bytes = BytesMut::new();
    let mut frames = body.into_data_stream();
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(format!(
                "the chunk broke off before its end ({e}); nothing was stored, send it again"
            ))
        })?;
        if bytes.len() + frame.len() > MAX_CHUNK_BYTES {
            return Err(BlobRefused::ChunkTooLarge.into());
        }
        bytes.extend_from_slice(&frame);
    }
    let meta = state
        .blobs
        .chunk(hash, offset, bytes.freeze(), state.now_ms())
        .await??;
    Ok(axum::Json(meta.status()))
}

/// What a `Range` header asks of a blob of `size` bytes (RFC 9110, one range only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranged {
    /// No range, or one this server does not read (several ranges, another unit): the whole.
    Whole,
    /// Bytes `start..end`.
    Part(u64, u64),
    /// A range outside the blob: 416.
    Unsatisfiable,
}

/// Reads `bytes=N-`, `bytes=N-M` and `bytes=-S` against a blob of `size` bytes.
pub fn ranged(header: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match num(suffix) {
            Some(0) => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(size.saturating_sub(n), size),
            None => Ranged::Whole,
        },
        (first, "") => match num(first) {
            Some(n) if n < size => Ranged::Part(n, size),
            Some(_) => Ranged::Unsatisfiable,
            None => Ranged::Whole,
        },
        (first, last) => match (num(first), num(last)) {
            (Some(n), Some(m)) if n <= m && n < size => {
                Ranged::Part(n, m.saturating_add(1).min(size))
            }
            (Some(n), Some(m)) if n <= m => Ranged::Unsatisfiable,
            _ => Ranged::Whole,
        },
    }
}

/// `GET /v1/blobs/{hash}`: the bytes, whole or a range, to a device whose scope holds a
/// record referencing them.
pub async fn download(
    State(state): State<AppState>,
    device: Device,
    HashPath(hash): HashPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    device.refuse_if_retired(&state).await?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "blob_not_found",
            "no record in this device's area references this blob",
        )
    };
    let pending = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "blob_pending",
            "a record in this device's area references this blob, but it has not been uploaded yet; ask again later",
        )
    };
    let meta = match state.blobs.access(&device.0, hash).await? {
        BlobAccess::NotFound => return Err(not_found()),
        BlobAccess::Pending => return Err(pending()),
        BlobAccess::Ready(meta) => meta,
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match ranged(range, meta.size) {
        Ranged::Whole => (StatusCode::OK, 0, meta.size),
        Ranged::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b),
        Ranged::Unsatisfiable => {
            let mut res = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the blob is {} bytes; ask for a range inside it", meta.size),
            )
            .into_response();
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{}", meta.size)),
            );
            return Ok(res);
        }
    };
    let part = (status == StatusCode::PARTIAL_CONTENT).then_some(start..end);
    let Some(stream) = state.blobs.read(&meta, part).await? else {
        return Err(pending());
    };
    let mut res = Response::new(RawBody::from_stream(stream));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, header_value(&meta.media_type));
    h.insert(
        header::CONTENT_LENGTH,
        header_value(&(end - start).to_string()),
    );
    h.insert(header::ETAG, header_value(&format!("\"{}\"", meta.hash)));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Named by its bytes, so never stale; private, since who may read it is checked.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {start}-{}/{}", end - 1, meta.size)),
        );
    }
    Ok(res)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        let r = |h: &str| ranged(Some(h), 100);
        assert_eq!(ranged(None, 100), Ranged::Whole);
        assert_eq!(r("bytes=0-"), Ranged::Part(0, 100));
        assert_eq!(r("bytes=10-19"), Ranged::Part(10, 20));
        assert_eq!(r("bytes=90-200"), Ranged::Part(90, 100));
        assert_eq!(r("bytes=-10"), Ranged::Part(90, 100));
        assert_eq!(r("bytes=-200"), Ranged::Part(0, 100));
        assert_eq!(r("bytes=100-"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=100-150"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=20-10"), Ranged::Whole);
        assert_eq!(r("bytes=0-1,5-6"), Ranged::Whole);
        assert_eq!(r("items=0-1"), Ranged::Whole);
        assert_eq!(r("bytes=x-"), Ranged::Whole);
    }

    #[test]
    fn offsets_are_whole_numbers() {
        assert_eq!(offset(Some("offset=0")).ok(), Some(0));
        assert_eq!(offset(Some("a=1&offset=262144")).ok(), Some(262_144));
        for bad in [
            None,
            Some(""),
            Some("offset="),
            Some("offset=-1"),
            Some("offset=1.0"),
            Some("offset=1&offset=2"),
            Some("offset=99999999999999999999999"),
        ] {
            assert_eq!(
                offset(bad).map_err(|e| e.code),
                Err("invalid_offset"),
                "{bad:?}"
            );
        }
    }
}
