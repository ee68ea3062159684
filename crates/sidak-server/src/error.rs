//! One error type for every HTTP answer that is not a success: a status and a stable code.
//!
//! Handlers return `Result<_, ApiError>`; `IntoResponse` turns it into the status and
//! an [`ErrorBody`] in one place. Internal details (database messages, panics) go to
//! the log with `tracing` and never to the client, which only sees `internal`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sidak_core::protocol::ErrorBody;

use sidak_server_storage::blobs::BlobRefused;
use sidak_server_storage::{EnrollError, StorageError};

/// An error answer: HTTP status, stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code (`bad_json`, `unauthorized`, …).
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// With `chain_gap` and `chain_fork`: where the server's copy of the device's chain ends.
    pub chain: Option<sidak_core::protocol::ChainHead>,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            chain: None,
        }
    }

    /// 400 `bad_json`: the body is not JSON.
    pub fn bad_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_json", message)
    }

    /// 400 `invalid_message`: JSON, but not the message expected (wrong type, unknown or missing field).
    pub fn invalid_message(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_message", message)
    }

    /// 400 `unsupported_protocol`.
    pub fn unsupported_protocol(got: &serde_json::Value) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_protocol",
            format!(
                "protocol {got} is not supported; this server speaks protocol {}",
                sidak_core::protocol::PROTOCOL_VERSION
            ),
        )
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is larger than {limit} bytes (after decompression); send smaller batches"
            ),
        )
    }

    /// 400 `bad_request`: the request could not be read (not HTTP, or a body cut short).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 414 `uri_too_long`: the path and query are longer than the server reads.
    pub fn uri_too_long(limit: usize) -> Self {
        Self::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request URI is longer than {limit} bytes"),
        )
    }

    /// 431 `header_too_large`: the request's headers are larger, or more, than the server reads.
    pub fn header_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header_too_large",
            format!(
                "the request headers are larger than {limit} bytes or more than 100 lines; send fewer or shorter headers"
            ),
        )
    }

    /// 401 `unauthorized`: no credentials, or unknown ones.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 401 `device_revoked`: the device must stop syncing and be enrolled again.
    pub fn device_revoked() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "device_revoked",
            "this device has been revoked by the central office; stop syncing and ask for a new enrollment code",
        )
    }

    /// 410 `device_lost`: the office reported the device lost; the app deletes its data.
    pub fn device_lost() -> Self {
        Self::new(
            StatusCode::GONE,
            "device_lost",
            "the central office reported this device lost: the app deletes its data now; if it was found, ask for a new enrollment code",
        )
    }

    /// 410 `device_retired`: the device is retired; once its edits are on the server it wipes.
    pub fn device_retired() -> Self {
        Self::new(
            StatusCode::GONE,
            "device_retired",
            "the central office retired this device: it sends its edits, then the app deletes its data; enroll the new device with a new code",
        )
    }

    /// 409 `no_wipe_ordered`: a device reported a wipe the office never ordered.
    pub fn no_wipe_ordered() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "no_wipe_ordered",
            "the central office ordered no wipe of this device; nothing was recorded",
        )
    }

    /// 403 `forbidden`: logged in, but the role may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500 `internal`: logs `detail` and tells the client nothing more.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error; the request may be retried",
        )
    }

    /// The body sent to the client.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.to_owned(),
            message: self.message.clone(),
            chain: self.chain.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StorageError::AlreadyExists(what) => ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("{what} already exists"),
            ),
            StorageError::BatchMismatch { batch_seq } => ApiError::new(
                StatusCode::CONFLICT,
                "batch_mismatch",
                format!(
                    "batch {batch_seq} was already received with different ops; resend exactly the same ops \
                     under a batch number, and use a new number for new ops"
                ),
            ),
            StorageError::DeviceRevoked(_) => ApiError::device_revoked(),
            StorageError::Chain(r) => {
                // A break asks the device to continue from the head; a proof that fails is refused.
                let status = match r.code {
                    "chain_gap" | "chain_fork" => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError {
                    chain: r.head,
                    ..ApiError::new(status, r.code, r.message)
                }
            }
            StorageError::Enroll(e) => {
                let code = match e {
                    EnrollError::UnknownCode => "invalid_code",
                    EnrollError::Expired => "code_expired",
                    EnrollError::AlreadyUsed => "code_used",
                    EnrollError::UnsentEdits => "unsent_edits",
                    EnrollError::DeviceTaken => "device_taken",
                };
                let status = match e {
                    EnrollError::UnsentEdits | EnrollError::DeviceTaken => StatusCode::CONFLICT,
                    _ => StatusCode::UNAUTHORIZED,
                };
                ApiError::new(status, code, e.to_string())
            }
            StorageError::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; retry later",
                )
            }
            StorageError::Internal(detail) => ApiError::internal(detail),
        }
    }
}

impl From<BlobRefused> for ApiError {
    fn from(e: BlobRefused) -> Self {
        let status = match e {
            BlobRefused::EmptyBlob | BlobRefused::EmptyChunk | BlobRefused::ChunkPastEnd { .. } => {
                StatusCode::BAD_REQUEST
            }
            BlobRefused::UploadNotStarted => StatusCode::NOT_FOUND,
            BlobRefused::Mismatch { .. } | BlobRefused::OffsetMismatch { .. } => {
                StatusCode::CONFLICT
            }
            BlobRefused::TooLarge { .. } | BlobRefused::ChunkTooLarge => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            BlobRefused::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BlobRefused::HashMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}
