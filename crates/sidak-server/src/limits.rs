//! The edge of HTTP: what the server refuses before any handler runs, and how a request
//! that hyper itself cannot read still gets our error body.
//!
//! Two layers, because there are two places a request can be too big:
//!
//! - [`refuse_oversized`], a middleware: a request head that hyper parsed but that is over
//!   our own named limits ([`MAX_URI_BYTES`], [`MAX_HEADER_BYTES`]), or a `Content-Length`
//!   already over `Config::max_body_bytes`, is answered at once (414 `uri_too_long`,
//!   431 `header_too_large`, 413 `payload_too_large`). Without the last check a client that
//!   announces 100 MB and sends nothing holds a worker until the request timeout.
//! - [`JsonErrorListener`], the listener `serve` uses: a head that hyper cannot parse at all
//!   (more than 100 header lines, more than its read buffer of about 400 KiB, a URI over
//!   64 KiB, a malformed request line or header) is answered by hyper itself, before any
//!   service sees it, with a status and an empty body. hyper has no hook for that answer,
//!   so each connection's writes pass through [`JsonErrors`], which recognises exactly
//!   that answer (400, 414 or 431 with `content-length: 0` and no `content-type`; every
//!   answer of ours has a JSON content type) and sends our `{code, message}` body instead.
//!   hyper closes the connection after such an answer, so the longer body is safe.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::error::ApiError;
use crate::state::AppState;

/// Longest path and query accepted: the longest office query the dashboard builds is a few
/// hundred bytes, and 8 KiB is what common reverse proxies pass, so anything longer is
/// either a mistake or an attempt to make the server parse a lot.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Most bytes of header names and values in one request: a bearer token and the usual
/// headers take well under 1 KiB; 32 KiB leaves room for proxies that add their own.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses, before routing, a request whose URI, headers or announced body are over the limits.
pub async fn refuse_oversized(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return ApiError::uri_too_long(MAX_URI_BYTES).into_response();
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::header_too_large(MAX_HEADER_BYTES).into_response();
    }
    let limit = state.config.max_body_bytes;
    // A compressed body over the limit would inflate past it too, so the announced length
    // is compared with the limit whatever the Content-Encoding.
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return ApiError::payload_too_large(limit).into_response();
    }
    next.run(req).await
}

/// A TCP listener whose connections answer hyper's own parse errors with our error body.
#[derive(Debug)]
pub struct JsonErrorListener(pub TcpListener);

impl axum::serve::Listener for JsonErrorListener {
    type Io = JsonErrors<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (JsonErrors::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection whose writes are passed on unchanged, except hyper's automatic answer to a
/// request it could not parse, which is replaced by ours (see the module docs).
#[derive(Debug)]
pub struct JsonErrors<T> {
    inner: T,
    /// Our answer being written in place of hyper's: the bytes, how many went out, and how
    /// many bytes of hyper's to report written once they all have.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonErrors<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        JsonErrors {
            inner,
            replacing: None,
        }
    }
}

/// Our answer in place of `buf`, when `buf` is exactly hyper's automatic parse-error answer:
/// one whole head, status 400, 414 or 431, `content-length: 0` and no `content-type`.
pub fn replacement(buf: &[u8]) -> Option<Vec<u8>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if end != buf.len() || !buf.starts_with(b"HTTP/1.1 ") {
        return None;
    }
    let head = std::str::from_utf8(buf).ok()?.to_ascii_lowercase();
    if head.contains("\r\ncontent-type:") || !head.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let error = match head.get(9..12)? {
        "400" => ApiError::bad_request(
            "the request could not be read as HTTP: a malformed request line or header",
        ),
        "414" => ApiError::uri_too_long(MAX_URI_BYTES),
        "431" => ApiError::header_too_large(MAX_HEADER_BYTES),
        _ => return None,
    };
    let body = serde_json::to_vec(&error.body()).ok()?;
    let status = error.status;
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

impl<T: AsyncWrite + Unpin> JsonErrors<T> {
    /// Writes the replacement until it is out, then reports hyper's bytes as written.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, written, _)) = self.replacing.as_mut() {
            if *written == bytes.len() {
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let claimed = self.replacing.take().map_or(0, |(_, _, c)| c);
        Poll::Ready(Ok(claimed))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            match replacement(buf) {
                Some(ours) => self.replacing = Some((ours, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.drive(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            // hyper writes its automatic answer as one slice: the head, with no body.
            let first = bufs.iter().find(|b| !b.is_empty());
            match first.and_then(|b| replacement(b).map(|ours| (ours, b.len()))) {
                Some((ours, len)) => self.replacing = Some((ours, 0, len)),
                None => return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
            }
        }
        self.drive(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The status [`replacement`] answers for hyper's status, for the tests.
#[cfg(test)]
fn status_of(answer: &[u8]) -> axum::http::StatusCode {
    let s = std::str::from_utf8(&answer[9..12]).expect("status");
    axum::http::StatusCode::from_u16(s.parse().expect("digits")).expect("status")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_parse_error_answers_are_replaced() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 21:00:00 GMT\r\n\r\n";
        let ours = replacement(hyper_431).expect("replaced");
        assert_eq!(
            status_of(&ours),
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        let text = String::from_utf8(ours).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(head.contains("content-type: application/json"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(body["code"], "header_too_large");
        assert!(head.contains(&format!("content-length: {}", text.len() - head.len() - 4)));

        for (hyper, code) in [
            (
                &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"[..],
                "bad_request",
            ),
            (
                b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n",
                "uri_too_long",
            ),
        ] {
            let ours = String::from_utf8(replacement(hyper).expect("replaced")).expect("utf-8");
            assert!(ours.contains(&format!("\"code\":\"{code}\"")), "{ours}");
        }

        // Our own answers, other statuses, a head with a body, and body bytes pass unchanged.
        for passes in [
            &b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"code\":\"x\"}",
        ] {
            assert!(replacement(passes).is_none(), "{:?}", String::from_utf8_lossy(passes));
        }
    }
}
