//! The real transport: HTTPS (rustls) via reqwest, bodies compressed both ways.
//!
//! Compression is done here rather than by reqwest so that the bytes that really
//! crossed the wire can be counted for the sync report.

use std::io::Read;
use std::time::Duration;

use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, RANGE, RETRY_AFTER};

use crate::tls::{self, TlsOptions};
use crate::transport::{BlobCall, BlobRequest, Call, Reply, Transport, TransportError};

/// Bodies smaller than this go uncompressed: the frame costs more than it saves.
const COMPRESS_ABOVE: usize = 512;

/// Largest decompressed reply accepted (a pull page is at most about 2 MiB of JSON).
const MAX_REPLY_BYTES: u64 = 64 * 1024 * 1024;

/// zstd level for request bodies: level 3 is zstd's default, fast on a phone and about 10x on op JSON.
const ZSTD_LEVEL: i32 = 3;

/// How request bodies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
    /// `Content-Encoding: zstd` (the default: smaller and faster than gzip).
    Zstd,
}

/// A transport to one sidak server over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    base: String,
    compression: Compression,
}

impl HttpTransport {
    /// A transport to the server at `base_url` (`https://host` or `http://127.0.0.1:8080`, without `/v1`).
    pub fn new(base_url: &str) -> Result<Self, TransportError> {
        Self::with_tls(base_url, &TlsOptions::default())
    }

    /// A transport that accepts the server's certificate as `tls` says (an extra CA, a pin);
    /// `http://` addresses do not use it.
    pub fn with_tls(base_url: &str, tls: &TlsOptions) -> Result<Self, TransportError> {
        let builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(15));
        let client = tls
            .configure(builder)
            .map_err(|e| TransportError::Network(e.to_string()))?
            .build()
            .map_err(|e| TransportError::Network(format!("cannot set up HTTP: {e}")))?;
        Ok(HttpTransport {
            client,
            base: base_url.trim_end_matches('/').to_owned(),
            compression: Compression::Zstd,
        })
    }

    /// Chooses how request bodies are compressed.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }
}

fn compress(
    body: &[u8],
    how: Compression,
) -> Result<(Vec<u8>, Option<&'static str>), TransportError> {
    if body.len() < COMPRESS_ABOVE {
        return Ok((body.to_vec(), None));
    }
    match how {
        Compression::None => Ok((body.to_vec(), None)),
        Compression::Zstd => zstd::bulk::compress(body, ZSTD_LEVEL)
            .map(|b| (b, Some("zstd")))
            .map_err(|e| TransportError::Network(format!("zstd: {e}"))),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut enc, body)
                .map_err(|e| TransportError::Network(format!("gzip: {e}")))?;
            enc.finish()
                .map(|b| (b, Some("gzip")))
                .map_err(|e| TransportError::Network(format!("gzip: {e}")))
        }
    }
}

fn decompress(body: &[u8], encoding: Option<&str>) -> Result<Vec<u8>, TransportError> {
    let mut out = Vec::new();
    let read = match encoding.map(str::trim) {
        None | Some("") | Some("identity") => return Ok(body.to_vec()),
        Some("zstd") => zstd::stream::read::Decoder::new(body)
            .and_then(|d| d.take(MAX_REPLY_BYTES).read_to_end(&mut out)),
        Some("gzip") | Some("x-gzip") => flate2::read::GzDecoder::new(body)
            .take(MAX_REPLY_BYTES)
            .read_to_end(&mut out),
        Some(other) => {
            return Err(TransportError::Network(format!(
                "reply in unknown encoding {other:?}"
            )));
        }
    };
    read.map_err(|e| TransportError::Network(format!("reply does not decompress: {e}")))?;
    Ok(out)
}

impl Transport for HttpTransport {
    async fn post(&self, call: Call<'_>) -> Result<Reply, TransportError> {
        let (body, encoding) = compress(call.body, self.compression)?;
        let wire_up = body.len() as u64;
        let mut req = self
            .client
            .post(format!("{}{}", self.base, call.path))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT_ENCODING, "zstd, gzip")
            .timeout(call.timeout)
            .body(body);
        if let Some(enc) = encoding {
            req = req.header(CONTENT_ENCODING, enc);
        }
        if let Some(token) = call.token {
            req = req.bearer_auth(token);
        }
        read_reply(req, wire_up).await
    }

    /// Blob calls go through the same client, so the TLS options and pins apply to them too.
    /// Their bytes are sent and received as they are: photos and PDFs are compressed already,
    /// and a `Range` must count the stored bytes, not an encoding of them.
    async fn blob(&self, call: BlobCall<'_>) -> Result<Reply, TransportError> {
        let url = format!("{}{}", self.base, call.request.path());
        let (req, wire_up) = match call.request {
            BlobRequest::Start { body, .. } => (
                self.client
                    .post(url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_vec()),
                body.len() as u64,
            ),
            BlobRequest::Chunk { bytes, .. } => (
                self.client
                    .put(url)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.to_vec()),
                bytes.len() as u64,
            ),
            BlobRequest::Get { .. } => {
                let range = call.request.range().unwrap_or_default();
                (self.client.get(url).header(RANGE, range), 0)
            }
        };
        let mut req = req
            .header(ACCEPT_ENCODING, "identity")
            .timeout(call.timeout);
        if let Some(token) = call.token {
            req = req.bearer_auth(token);
        }
        read_reply(req, wire_up).await
    }
}

/// Sends `req` and reads its reply: status, `Retry-After`, the body decompressed.
async fn read_reply(req: reqwest::RequestBuilder, wire_up: u64) -> Result<Reply, TransportError> {
    let resp = req.send().await.map_err(failed)?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        // A proxy or portal may send anything: never wait longer than an hour on its word.
        .map(|secs| Duration::from_secs(secs.min(3600)));
    let encoding = resp
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let raw = resp.bytes().await.map_err(failed)?;
    Ok(Reply {
        status,
        body: decompress(&raw, encoding.as_deref())?,
        retry_after,
        wire_up,
        wire_down: raw.len() as u64,
    })
}

/// A failed request: a pin mismatch as such, anything else as a network error.
fn failed(e: reqwest::Error) -> TransportError {
    match tls::pin_mismatch(&e) {
        Some(m) => TransportError::PinMismatch(m),
        None => TransportError::Network(describe(&e)),
    }
}

/// The error with its causes, which reqwest keeps in the source chain.
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_through_each_encoding() {
        let body = br#"{"ops":[{"id":"x","kind":"worker"}]}"#.repeat(100);
        for how in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let (wire, enc) = compress(&body, how).expect("compress");
            if how != Compression::None {
                assert!(wire.len() < body.len() / 5, "{how:?}");
            }
            assert_eq!(decompress(&wire, enc).expect("decompress"), body);
        }
        assert_eq!(compress(b"{}", Compression::Zstd).expect("small").1, None);
        assert!(decompress(b"not zstd", Some("zstd")).is_err());
        assert!(decompress(b"x", Some("br")).is_err());
    }
}
