//! The transport the sync engine talks through: one POST of a JSON body, one reply; and the
//! blob calls of attachments (raw bytes, not JSON).
//!
//! It is a trait so tests can drop replies, answer 503 or cut the connection at
//! will; [`crate::HttpTransport`] is the real one. The blob calls have a default that says
//! the transport does not carry blobs, so a transport written before attachments (the
//! simulation's) keeps compiling and syncing ops; the engine then leaves blobs queued.

use std::future::Future;
use std::time::Duration;

use sidak_core::attachment::BlobHash;

/// One request: a path under the server's base URL and an uncompressed JSON body.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The endpoint, such as `/v1/push`.
    pub path: &'static str,
    /// The device's bearer token (none for enrollment).
    pub token: Option<&'a str>,
    /// The JSON body, uncompressed (the transport may compress it).
    pub body: &'a [u8],
    /// How long this request may take before it counts as failed.
    pub timeout: Duration,
}

/// The server's reply, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, decompressed.
    pub body: Vec<u8>,
    /// The `Retry-After` delay, when the server gave one in seconds.
    pub retry_after: Option<Duration>,
    /// Request body bytes as sent on the wire (after compression).
    pub wire_up: u64,
    /// Response body bytes as received on the wire (before decompression).
    pub wire_down: u64,
}

/// The request got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Connection refused or dropped, timeout, unreadable body. The engine retries these:
    /// the request may or may not have reached the server, and every sync request is safe
    /// to repeat.
    #[error("network: {0}")]
    Network(String),
    /// The server's certificate is not the pinned one: not retried, since it will not
    /// change by itself (a renewed certificate with a new key, or a network in between).
    #[error(transparent)]
    PinMismatch(#[from] crate::tls::PinMismatch),
    /// This transport does not carry blob calls (attachments wait for one that does).
    #[error("this transport does not carry {0}")]
    Unsupported(&'static str),
}

/// One blob request of docs/protocol.md, *Attachments*.
#[derive(Debug, Clone, Copy)]
pub enum BlobRequest<'a> {
    /// `POST /v1/blobs/{hash}` with a JSON [`sidak_core::protocol::BlobStartRequest`]: start or
    /// resume an upload, or ask how far it has come.
    Start {
        /// The blob.
        hash: BlobHash,
        /// The JSON body.
        body: &'a [u8],
    },
    /// `PUT /v1/blobs/{hash}/chunks?offset=K` with the raw bytes `[K, K + len)`.
    Chunk {
        /// The blob.
        hash: BlobHash,
        /// Where the bytes start.
        offset: u64,
        /// The bytes (at most [`sidak_core::protocol::MAX_CHUNK_BYTES`]).
        bytes: &'a [u8],
    },
    /// `GET /v1/blobs/{hash}` with `Range: bytes=from-to` (`to` inclusive, open if `None`).
    Get {
        /// The blob.
        hash: BlobHash,
        /// The first byte wanted.
        from: u64,
        /// The last byte wanted, if not the end.
        to: Option<u64>,
    },
}

impl BlobRequest<'_> {
    /// The path and query under the server's base URL.
    pub fn path(&self) -> String {
        match self {
            BlobRequest::Start { hash, .. } | BlobRequest::Get { hash, .. } => {
                format!("/v1/blobs/{hash}")
            }
            BlobRequest::Chunk { hash, offset, .. } => {
                format!("/v1/blobs/{hash}/chunks?offset={offset}")
            }
        }
    }

    /// The `Range` header of a download.
    pub fn range(&self) -> Option<String> {
        match self {
            BlobRequest::Get { from, to, .. } => Some(match to {
                Some(to) => format!("bytes={from}-{to}"),
                None => format!("bytes={from}-"),
            }),
            _ => None,
        }
    }
}

/// One blob call: the request, the device's token, the time it may take.
#[derive(Debug, Clone, Copy)]
pub struct BlobCall<'a> {
    /// What to do.
    pub request: BlobRequest<'a>,
    /// The device's bearer token.
    pub token: Option<&'a str>,
    /// How long this request may take before it counts as failed.
    pub timeout: Duration,
}

/// Sends one request and returns the reply.
pub trait Transport: Send + Sync {
    /// POSTs `call.body` to `call.path`.
    fn post(&self, call: Call<'_>) -> impl Future<Output = Result<Reply, TransportError>> + Send;

    /// Sends one blob call; the reply's body is the raw bytes (a download) or JSON (an upload
    /// status, an error). By default: [`TransportError::Unsupported`].
    fn blob(
        &self,
        call: BlobCall<'_>,
    ) -> impl Future<Output = Result<Reply, TransportError>> + Send {
        let _ = call;
        async { Err(TransportError::Unsupported("blobs")) }
    }
}

impl<T: Transport> Transport for &T {
    fn post(&self, call: Call<'_>) -> impl Future<Output = Result<Reply, TransportError>> + Send {
        (**self).post(call)
    }

    fn blob(
        &self,
        call: BlobCall<'_>,
    ) -> impl Future<Output = Result<Reply, TransportError>> + Send {
        (**self).blob(call)
    }
}
