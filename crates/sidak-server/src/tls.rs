//! HTTPS without a reverse proxy: the server's certificate and key, and a listener that
//! hands axum connections whose TLS handshake is done.
//!
//! How a connection goes:
//!
//! 1. [`TlsListener`]'s accept loop takes the TCP connection and spawns a task for it, so a
//!    slow or silent client never holds up the next one.
//! 2. The task peeks at the first byte. A TLS connection starts with a handshake record
//!    (`0x16`); anything else is someone speaking plain HTTP to the HTTPS port, answered in
//!    plain HTTP by [`plain_answer`] (400 `tls_required` under `/v1/`, a 308 to `https://`
//!    for the dashboard) and closed.
//! 3. Otherwise rustls does the handshake. Peeking and handshaking together get
//!    [`HANDSHAKE_TIMEOUT`]; a failure or a timeout is logged at debug level and only that
//!    connection is dropped.
//! 4. The finished connection goes through a bounded channel to axum's `serve`, which runs
//!    it exactly as it runs a plain one (graceful shutdown included), wrapped in the same
//!    [`JsonErrors`] so hyper's own parse errors get our error body here too.
//!
//! When axum stops accepting (the shutdown signal), it drops the listener; that aborts the
//! accept loop and every handshake still in progress, while connections already handed over
//! are finished as on the plain path.
//!
//! Crypto: rustls with the `ring` provider, named explicitly (a test build also links
//! aws-lc-rs through a dev-dependency, and rustls refuses to guess between the two).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::ApiError;
use crate::limits::{JsonErrors, MAX_HEADER_BYTES, MAX_URI_BYTES};

/// Longest a client may take from connecting to finishing the TLS handshake (or to sending
/// its plain-HTTP request head): a phone on slow 3G needs a few round trips of a second or
/// so; a client that says nothing within 10 s is dropped rather than holding a task.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections whose handshake is done, waiting for axum to take them: enough to ride out a
/// burst, small enough that a stalled server stops accepting instead of queueing without end.
const READY_QUEUE: usize = 64;

/// How long, after answering plain HTTP, the server keeps reading what the client still
/// sends before closing: closing with unread bytes makes the kernel send a reset, which can
/// destroy the answer before the client has read it.
const PLAIN_LINGER: Duration = Duration::from_secs(1);

/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Why the certificate or the key cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error(
        "{path}: no certificate found (expected a PEM chain starting with -----BEGIN CERTIFICATE-----)"
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The certificate file is not valid PEM.
    #[error("{path}: not a PEM certificate chain: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file holds no private key rustls reads.
    #[error(
        "{path}: no private key found (expected PEM PKCS#8 `BEGIN PRIVATE KEY`, RSA `BEGIN RSA PRIVATE KEY` or SEC1 `BEGIN EC PRIVATE KEY`)"
    )]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The key file is not valid PEM, or the key is of a kind rustls cannot sign with.
    #[error("{path}: not a usable private key: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key is not the certificate's, or the pair is refused for another reason.
    #[error("the key in {key} does not go with the certificate in {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

/// The server's certificate chain and private key, ready to serve HTTPS.
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds the private key: never print it.
        f.write_str("TlsConfig { .. }")
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain (the server's certificate first) and a PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        Self::build(&read(cert)?, cert, &read(key)?, key)
    }

    /// The same from PEM text in memory (tests, generated certificates).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Self::build(
            cert_pem,
            Path::new("<certificate>"),
            key_pem,
            Path::new("<key>"),
        )
    }

    fn build(
        cert_pem: &[u8],
        cert_path: &Path,
        key_pem: &[u8],
        key_path: &Path,
    ) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::BadCertificate {
                path: cert_path.to_owned(),
                reason: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert_path.to_owned(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
                path: key_path.to_owned(),
            },
            other => TlsError::BadKey {
                path: key_path.to_owned(),
                reason: other.to_string(),
            },
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // A key rustls cannot sign with is the key file's fault, whatever the certificate says.
        provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| TlsError::BadKey {
                path: key_path.to_owned(),
                reason: e.to_string(),
            })?;
        let mismatch = |e: rustls::Error| match e {
            // The certificate itself does not parse (base64 that is not X.509).
            rustls::Error::InvalidCertificate(_) => TlsError::BadCertificate {
                path: cert_path.to_owned(),
                reason: e.to_string(),
            },
            _ => TlsError::Mismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
                reason: e.to_string(),
            },
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(mismatch)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(mismatch)?;
        // axum serves HTTP/1.1 only (no `http2` feature); saying so lets browsers skip h2.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// A TCP listener whose connections reach axum with their TLS handshake done (module docs).
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(JsonErrors<TlsStream<TcpStream>>, SocketAddr)>,
    local: SocketAddr,
    accept_loop: tokio::task::AbortHandle,
}

impl TlsListener {
    /// Starts accepting on `listener`; handshakes run in tasks of the current runtime.
    pub fn new(listener: TcpListener, tls: TlsConfig) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accept_loop = tokio::spawn(accept_loop(listener, tls.acceptor, tx, local));
        Ok(TlsListener {
            ready,
            local,
            accept_loop: accept_loop.abort_handle(),
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // Dropping the loop drops its JoinSet, which aborts the handshakes in progress.
        self.accept_loop.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = JsonErrors<TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The loop only ends when aborted, which happens only when this listener is
            // dropped; nothing will come any more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(JsonErrors<TlsStream<TcpStream>>, SocketAddr)>,
    local: SocketAddr,
) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let acceptor = acceptor.clone();
                    let ready = ready.clone();
                    handshakes.spawn(async move {
                        let opened = tokio::time::timeout(
                            HANDSHAKE_TIMEOUT,
                            open(tcp, peer, local, acceptor),
                        )
                        .await;
                        match opened {
                            Ok(Some(tls)) => {
                                // Fails only when the server is shutting down: the
                                // connection is then dropped, like an unaccepted one.
                                let _ = ready.send((JsonErrors::new(tls), peer)).await;
                            }
                            Ok(None) => {}
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
                Err(e) => accept_failed(e).await,
            },
            // Reap finished handshakes so the set does not grow with every connection.
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
        }
    }
}

/// As axum's own listener does: errors of one connection are ignored; others (out of file
/// descriptors) are logged and the loop pauses a moment rather than spinning.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The TLS connection, or `None` when the client spoke plain HTTP (answered here), went
/// away, or failed the handshake.
async fn open(
    tcp: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    acceptor: TlsAcceptor,
) -> Option<TlsStream<TcpStream>> {
    // TLS records and small answers: do not let Nagle hold back the last segment.
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(0) => return None,
        Ok(_) => {}
        Err(e) => {
            tracing::debug!(%peer, error = %e, "connection failed before the handshake");
            return None;
        }
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        tracing::debug!(%peer, "plain HTTP on the HTTPS port: answered and closed");
        refuse_plain(tcp, local).await;
        return None;
    }
    match acceptor.accept(tcp).await {
        Ok(tls) => Some(tls),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
    }
}

/// Reads the plain-HTTP request head, answers it ([`plain_answer`]) and closes.
async fn refuse_plain(mut tcp: TcpStream, local: SocketAddr) {
    let limit = MAX_URI_BYTES + MAX_HEADER_BYTES;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    while head.len() < limit && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let answer = plain_answer(&head, &local.to_string());
    if tcp.write_all(&answer).await.is_err() {
        return;
    }
    let _ = tcp.shutdown().await;
    let _ = tokio::time::timeout(PLAIN_LINGER, async {
        while let Ok(n) = tcp.read(&mut chunk).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// The plain-HTTP answer to a request `head` sent to the HTTPS port.
///
/// Under `/v1/` (devices, scripts, the office API): 400 `tls_required` in our error body,
/// naming the `https://` address to use. Anywhere else (the dashboard in a browser): a 308
/// to the same path over `https://` on the host the client asked for. Only the path goes
/// into the address, never the query or any header but `Host`, so nothing the request
/// carried (a token, a NIK in a search) is repeated back; a request that cannot be read,
/// or names no usable host, gets the 400.
fn plain_answer(head: &[u8], fallback_host: &str) -> Vec<u8> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut req = httparse::Request::new(&mut headers);
    // A partial or malformed head still fills in whatever it could read.
    let _ = req.parse(head);
    let path = req.path.and_then(path_of).unwrap_or_else(|| "/".to_owned());
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
        .filter(|h| usable_host(h));
    let api = req.path.is_none() || path == "/v1" || path.starts_with("/v1/");
    match host {
        Some(host) if !api => format!(
            "HTTP/1.1 308 Permanent Redirect\r\nlocation: https://{host}{path}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .into_bytes(),
        _ => {
            let host = host.unwrap_or(fallback_host);
            let error = ApiError::new(
                StatusCode::BAD_REQUEST,
                "tls_required",
                format!("this server speaks HTTPS only: use https://{host}{path}"),
            );
            let body = serde_json::to_vec(&error.body()).unwrap_or_default();
            let mut out = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(&body);
            out
        }
    }
}

/// The path of a request target (origin form `/x?q` or absolute form `http://h/x?q`),
/// without its query; `None` if it is not a valid target.
fn path_of(target: &str) -> Option<String> {
    let uri: axum::http::Uri = target.parse().ok()?;
    let path = uri.path();
    path.starts_with('/').then(|| path.to_owned())
}

/// Whether a `Host` header can go into a `Location`: a host and optional port, nothing else
/// (no user info, no path, no spaces or control characters).
fn usable_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        && host.parse::<axum::http::uri::Authority>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(head: &str) -> (u16, String, String) {
        let out =
            String::from_utf8(plain_answer(head.as_bytes(), "127.0.0.1:8443")).expect("utf-8");
        let (h, body) = out.split_once("\r\n\r\n").expect("head");
        let status = h[9..12].parse().expect("status");
        (status, h.to_owned(), body.to_owned())
    }

    #[test]
    fn api_paths_get_tls_required_and_the_dashboard_a_redirect() {
        let (status, head, body) = answer(
            "POST /v1/push?x=1 HTTP/1.1\r\nHost: kantor.example:8443\r\nAuthorization: Bearer s3cret\r\n\r\n",
        );
        assert_eq!(status, 400);
        assert!(head.contains("content-type: application/json"), "{head}");
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["code"], "tls_required");
        assert_eq!(
            body["message"],
            "this server speaks HTTPS only: use https://kantor.example:8443/v1/push"
        );
        assert!(!body.to_string().contains("s3cret"));

        let (status, head, _) = answer(
            "GET /office/records?nik=7371015506900003 HTTP/1.1\r\nHost: kantor.example:8443\r\n\r\n",
        );
        assert_eq!(status, 308);
        assert!(
            head.contains("\r\nlocation: https://kantor.example:8443/office/records\r\n"),
            "the query (a NIK here) is not repeated: {head}"
        );
        let (status, head, _) =
            answer("GET http://kantor.example/ HTTP/1.1\r\nHost: kantor.example\r\n\r\n");
        assert_eq!(status, 308);
        assert!(
            head.contains("location: https://kantor.example/\r\n"),
            "{head}"
        );
    }

    #[test]
    fn unreadable_requests_and_unusable_hosts_get_the_400() {
        for head in [
            "",
            "\x00\x01garbage",
            "GET / HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: evil.example/\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: user@evil.example\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        ] {
            let (status, _, body) = answer(head);
            assert_eq!(status, 400, "{head:?}");
            assert!(body.contains("\"tls_required\""), "{head:?}: {body}");
            assert!(body.contains("https://127.0.0.1:8443/"), "{head:?}: {body}");
        }
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let cert_pem = cert.cert.pem();
        let key_pem = cert.signing_key.serialize_pem();
        TlsConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).expect("a good pair");

        let e = TlsConfig::from_pem(key_pem.as_bytes(), cert_pem.as_bytes()).expect_err("swapped");
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        let e = TlsConfig::from_pem(cert_pem.as_bytes(), b"not a key").expect_err("no key");
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
        let other = rcgen::KeyPair::generate().expect("key").serialize_pem();
        let e = TlsConfig::from_pem(cert_pem.as_bytes(), other.as_bytes()).expect_err("other key");
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
        let e = TlsConfig::from_pem_files(Path::new("/nonexistent/cert.pem"), Path::new("k"))
            .expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    }
}
