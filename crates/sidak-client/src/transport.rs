//! The transport the sync engine talks through: one POST of a JSON body, one reply.
//!
//! It is a trait so tests can drop replies, answer 503 or cut the connection at
//! will; [`crate::HttpTransport`] is the real one.

use std::future::Future;
use std::time::Duration;

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
}

/// Sends one request and returns the reply.
pub trait Transport: Send + Sync {
    /// POSTs `call.body` to `call.path`.
    fn post(&self, call: Call<'_>) -> impl Future<Output = Result<Reply, TransportError>> + Send;
}

impl<T: Transport> Transport for &T {
    fn post(&self, call: Call<'_>) -> impl Future<Output = Result<Reply, TransportError>> + Send {
        (**self).post(call)
    }
}
