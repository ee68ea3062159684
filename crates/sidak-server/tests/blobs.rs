//! Attachments over a real socket (docs/protocol.md, *Attachments*), on every database
//! backend and both blob stores (files; S3 when `SIDAK_TEST_S3` names a server, always in
//! CI): a 3 MB photo uploaded in chunks with the connection lost midway and resumed from the
//! acknowledged offset, read back whole and in ranges; every bad input of the protocol's
//! tables answered with its status and code, leaving nothing stored or partly visible; a
//! device of another district told `blob_not_found`; one blob stored once for two devices.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value as Json, json};
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_core::protocol::DEFAULT_CHUNK_BYTES;
use sidak_server_storage::blobs::BlobMeta;
use sidak_test_support::{
    Backend, BlobBackend, TestDevice, TestServer, assert_code, backends, blob_backends, villages,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OCTETS: (&str, &str) = ("content-type", "application/octet-stream");

/// Deterministic bytes that do not compress.
fn noise(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

fn start_body(size: usize, ty: &str) -> Json {
    json!({"size": size, "media_type": ty})
}

async fn post_start(s: &TestServer, d: &TestDevice, hash: &str, body: Json) -> (u16, Json) {
    s.call(
        "POST",
        &format!("/v1/blobs/{hash}"),
        Some(&d.token),
        Some(body),
    )
    .await
}

async fn put_chunk(
    s: &TestServer,
    d: &TestDevice,
    hash: &str,
    offset: u64,
    bytes: &[u8],
) -> (u16, Json) {
    s.send_bytes(
        "PUT",
        &format!("/v1/blobs/{hash}/chunks?offset={offset}"),
        Some(&d.token),
        &[OCTETS],
        bytes.to_vec(),
    )
    .await
}

/// What storage holds of a blob: its row and whether the blob store has bytes.
async fn held(s: &TestServer, h: BlobHash) -> (Option<BlobMeta>, bool) {
    let state = s.storage.clone();
    (
        state.blob_meta(h).await.unwrap(),
        blob_store(s).exists(&h).await.unwrap(),
    )
}

fn blob_store(s: &TestServer) -> std::sync::Arc<dyn sidak_server_storage::blobs::BlobStore> {
    s.blobs.store().clone()
}

/// A Makassar officer's device with a company record that references `r`, pushed.
async fn area_with_reference(
    s: &TestServer,
    officer: &str,
    region: &str,
    r: &ContentRef,
) -> (TestDevice, sidak_core::RecordId) {
    s.officer(officer, &[region]).await;
    let mut d = s.device(officer).await;
    let id = d.new_id();
    let hlc = d.stamp();
    let op = sidak_core::Edit::create(id, sidak_core::Kind::Company, &villages(region)[0], hlc)
        .set("name", "CV Sinar")
        .and_then(|e| e.set("nib", "1234567890123"))
        .and_then(|e| e.set("compliance", "registered"))
        .and_then(|e| e.set("status", "active"))
        .unwrap()
        .finish();
    d.local(op);
    d.attach(id, r);
    d.push_all().await;
    assert!(
        d.pending.is_empty() && d.rejected.is_empty(),
        "{:?}",
        d.rejected
    );
    (d, id)
}

/// 3 MB in 256 KiB chunks; the link drops after five chunks (the fifth chunk's reply is
/// lost): resending it is `upload_offset_mismatch`, `POST` gives the acknowledged offset, the
/// upload goes on from there and completes; the blob reads back whole and in ranges with its
/// headers; a second device with the same photo is told it is complete and sends nothing.
async fn upload_resume_and_read(backend: Backend, blobs: BlobBackend) {
    let s = TestServer::start_blobs(backend, blobs, |_| {}).await;
    let photo = noise("daftar pekerja", 3_000_000);
    let r = ContentRef::new(BlobHash::of(&photo), photo.len() as u64, "image/jpeg").unwrap();
    let hash = r.hash.to_hex();
    let (d, _) = area_with_reference(&s, "andi", "7371", &r).await;
    let (status, _, _) = s
        .get_bytes(&format!("/v1/blobs/{hash}"), Some(&d.token), &[])
        .await;
    assert_eq!(status, 404);

    let got = post_start(&s, &d, &hash, start_body(photo.len(), "image/jpeg")).await;
    assert_eq!(
        got,
        (
            200,
            json!({"hash": hash, "size": photo.len(), "offset": 0, "complete": false})
        )
    );
    let chunks: Vec<&[u8]> = photo.chunks(DEFAULT_CHUNK_BYTES).collect();
    let mut offset = 0u64;
    for c in &chunks[..5] {
        let got = put_chunk(&s, &d, &hash, offset, c).await;
        offset += c.len() as u64;
        assert_eq!(got.0, 200, "{}", got.1);
        assert_eq!(got.1["offset"], offset);
    }
    // Lost: the fifth reply never arrived; the device sends the fifth chunk again.
    let again = put_chunk(&s, &d, &hash, offset - chunks[4].len() as u64, chunks[4]).await;
    assert_code(&again, 409, "upload_offset_mismatch");
    assert!(
        again.1["message"]
            .as_str()
            .unwrap()
            .contains(&offset.to_string()),
        "{}",
        again.1
    );
    let (status, _, _) = s
        .get_bytes(&format!("/v1/blobs/{hash}"), Some(&d.token), &[])
        .await;
    assert_eq!(status, 404, "a partial blob is readable");
    // A new connection (a new client), as after the phone regains signal.
    let resumed = post_start(&s, &d, &hash, start_body(photo.len(), "image/jpeg")).await;
    assert_eq!(resumed.1["offset"], offset);
    assert_eq!(resumed.1["complete"], false);
    let mut last = resumed;
    for c in &chunks[5..] {
        last = put_chunk(&s, &d, &hash, offset, c).await;
        offset += c.len() as u64;
        assert_eq!(last.0, 200, "{}", last.1);
    }
    assert_eq!(
        last.1,
        json!({"hash": hash, "size": photo.len(), "offset": photo.len(), "complete": true})
    );

    let (status, headers, body) = s
        .get_bytes(&format!("/v1/blobs/{hash}"), Some(&d.token), &[])
        .await;
    assert_eq!(status, 200);
    assert!(body == photo, "the blob read back differs");
    assert_eq!(BlobHash::of(&body), r.hash);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["content-length"], photo.len().to_string());
    assert_eq!(headers["etag"], format!("\"{hash}\""));
    assert_eq!(headers["accept-ranges"], "bytes");
    assert!(headers.get("content-encoding").is_none());
    // A download cut off resumes with a range.
    let (status, headers, body) = s
        .get_bytes(
            &format!("/v1/blobs/{hash}"),
            Some(&d.token),
            &[("range", "bytes=2000000-"), ("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(status, 206);
    assert!(body == photo[2_000_000..]);
    assert_eq!(
        headers["content-range"],
        format!("bytes 2000000-2999999/{}", photo.len())
    );
    assert!(headers.get("content-encoding").is_none());
    let (status, headers, body) = s
        .get_bytes(
            &format!("/v1/blobs/{hash}"),
            Some(&d.token),
            &[("range", "bytes=10-19")],
        )
        .await;
    assert_eq!((status, body.as_slice()), (206, &photo[10..20]));
    assert_eq!(headers["content-length"], "10");
    let (status, headers, body) = s
        .get_bytes(
            &format!("/v1/blobs/{hash}"),
            Some(&d.token),
            &[("range", "bytes=3000000-")],
        )
        .await;
    assert_eq!(status, 416);
    assert_eq!(headers["content-range"], "bytes */3000000");
    assert_eq!(
        serde_json::from_slice::<Json>(&body).unwrap()["code"],
        "range_not_satisfiable"
    );

    // Another device of the same area holds the same photo: nothing is sent twice.
    let other = s.device("andi").await;
    let got = post_start(&s, &other, &hash, start_body(photo.len(), "image/jpeg")).await;
    assert_eq!(got.1["complete"], true);
    assert_eq!(got.1["offset"], photo.len());
    let meta = s.storage.blob_meta(r.hash).await.unwrap().unwrap();
    assert_eq!(meta.uploaded_by, d.id.to_string());
    if blobs == BlobBackend::Files {
        let files: Vec<_> = walk(s.dir())
            .into_iter()
            .filter(|p| p.ends_with(&hash))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
    }
    s.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_3mb_photo_uploads_resumably_on_every_backend_and_blob_store() {
    for backend in backends() {
        for blobs in blob_backends() {
            upload_resume_and_read(backend, blobs).await;
        }
    }
}

/// A chunk announced at 1000 bytes whose connection closes after 500: nothing stored.
async fn truncated_chunk(s: &TestServer, d: &TestDevice, hash: &str) {
    let addr = s.base.strip_prefix("http://").unwrap();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /v1/blobs/{hash}/chunks?offset=0 HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000\r\n\r\n",
        d.token
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&[7u8; 500]).await.unwrap();
    tcp.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    // Whatever was answered (400 bad_request, or the connection closed), nothing is stored.
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
}

/// Every refusal of the protocol's tables, each with its status and code, over SQLite and
/// PostgreSQL: none stores anything (the upload's row is as it was, no bytes are visible).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_has_its_code_and_stores_nothing() {
    for backend in backends() {
        let s = TestServer::start_blobs(backend, BlobBackend::Files, |c| {
            c.max_blob_bytes = 2_000_000
        })
        .await;
        let photo = noise("ktp", 100_000);
        let r = ContentRef::new(BlobHash::of(&photo), photo.len() as u64, "image/png").unwrap();
        let hash = r.hash.to_hex();
        let (d, _) = area_with_reference(&s, "andi", "7371", &r).await;

        // Before any upload.
        assert_code(
            &post_start(&s, &d, "ABC", start_body(10, "image/png")).await,
            400,
            "invalid_hash",
        );
        assert_code(
            &post_start(&s, &d, &hash.to_uppercase(), start_body(10, "image/png")).await,
            400,
            "invalid_hash",
        );
        assert_code(
            &post_start(&s, &d, &hash, start_body(3_000_000, "image/png")).await,
            413,
            "blob_too_large",
        );
        assert_code(
            &post_start(&s, &d, &hash, start_body(100_000, "text/html")).await,
            415,
            "media_type_not_allowed",
        );
        assert_code(
            &post_start(&s, &d, &hash, start_body(0, "image/png")).await,
            400,
            "invalid_message",
        );
        assert_code(
            &post_start(&s, &d, &hash, json!({"size": 1})).await,
            400,
            "invalid_message",
        );
        assert_code(
            &put_chunk(&s, &d, &hash, 0, &photo[..10]).await,
            404,
            "upload_not_started",
        );
        let get = |token: String, range: Option<&'static str>| {
            let s = &s;
            let hash = hash.clone();
            async move {
                let headers: Vec<(&str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
                let (status, _, body) = s
                    .get_bytes(&format!("/v1/blobs/{hash}"), Some(&token), &headers)
                    .await;
                (
                    status,
                    serde_json::from_slice::<Json>(&body).unwrap_or(Json::Null),
                )
            }
        };
        // A reference to a blob never uploaded: pending.
        assert_code(&get(d.token.clone(), None).await, 404, "blob_pending");
        assert_eq!(held(&s, r.hash).await, (None, false));

        assert_eq!(
            post_start(&s, &d, &hash, start_body(100_000, "image/png"))
                .await
                .0,
            200
        );
        let before = held(&s, r.hash).await;
        let unchanged = async |what: &str| {
            assert_eq!(held(&s, r.hash).await, before, "{what} stored something")
        };
        assert_code(
            &post_start(&s, &d, &hash, start_body(99_999, "image/png")).await,
            409,
            "blob_mismatch",
        );
        assert_code(
            &post_start(&s, &d, &hash, start_body(100_000, "image/jpeg")).await,
            409,
            "blob_mismatch",
        );
        unchanged("blob_mismatch").await;
        for bad in ["", "?offset=", "?offset=-1", "?offset=1e3", "?offset=ten"] {
            let got = s
                .send_bytes(
                    "PUT",
                    &format!("/v1/blobs/{hash}/chunks{bad}"),
                    Some(&d.token),
                    &[OCTETS],
                    photo[..10].to_vec(),
                )
                .await;
            assert_code(&got, 400, "invalid_offset");
        }
        assert_code(&put_chunk(&s, &d, &hash, 0, &[]).await, 400, "empty_chunk");
        assert_code(
            &put_chunk(&s, &d, &hash, 5, &photo[5..10]).await,
            409,
            "upload_offset_mismatch",
        );
        assert_code(
            &put_chunk(&s, &d, &hash, 99_990, &noise("x", 20)).await,
            400,
            "chunk_past_end",
        );
        let wrong_type = s
            .send_bytes(
                "PUT",
                &format!("/v1/blobs/{hash}/chunks?offset=0"),
                Some(&d.token),
                &[("content-type", "image/png")],
                photo[..10].to_vec(),
            )
            .await;
        assert_code(&wrong_type, 415, "unsupported_media_type");
        let no_token = s
            .send_bytes(
                "PUT",
                &format!("/v1/blobs/{hash}/chunks?offset=0"),
                None,
                &[OCTETS],
                photo[..10].to_vec(),
            )
            .await;
        assert_code(&no_token, 401, "unauthorized");
        truncated_chunk(&s, &d, &hash).await;
        unchanged("a refused chunk").await;

        // A Content-Length over 1 MiB is refused before the body is read. (Over raw TCP: a
        // client that goes on sending a refused body may see the connection reset before it
        // reads the 413, as with any server that does not linger; the device never sends one.)
        let addr = s.base.strip_prefix("http://").unwrap().to_owned();
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "PUT /v1/blobs/{hash}/chunks?offset=0 HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: 2000000\r\n\r\n",
            d.token
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("answered at once")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        assert!(text.contains("payload_too_large"), "{text}");
        drop(tcp);
        unchanged("an oversized chunk").await;

        // Half, then bytes that do not hash to the name: discarded, never visible.
        assert_eq!(put_chunk(&s, &d, &hash, 0, &photo[..50_000]).await.0, 200);
        assert_code(
            &put_chunk(&s, &d, &hash, 50_000, &noise("not the ktp", 50_000)).await,
            422,
            "blob_hash_mismatch",
        );
        assert_eq!(held(&s, r.hash).await, (None, false));
        assert_code(&get(d.token.clone(), None).await, 404, "blob_pending");
        assert_code(
            &put_chunk(&s, &d, &hash, 50_000, &photo[50_000..]).await,
            404,
            "upload_not_started",
        );

        // Uploaded right: readable; a range outside it is 416.
        assert_eq!(
            post_start(&s, &d, &hash, start_body(100_000, "image/png"))
                .await
                .1["offset"],
            0
        );
        assert_eq!(
            put_chunk(&s, &d, &hash, 0, &photo).await.1["complete"],
            true
        );
        assert_eq!(get(d.token.clone(), None).await.0, 200);
        assert_code(
            &get(d.token.clone(), Some("bytes=100000-100001")).await,
            416,
            "range_not_satisfiable",
        );

        // A device of another district: not found, the same answer as for a hash nobody has.
        s.officer("citra", &["7372"]).await;
        let c = s.device("citra").await;
        assert_code(&get(c.token.clone(), None).await, 404, "blob_not_found");
        let nobody = BlobHash::of(b"nobody").to_hex();
        let (status, _, body) = s
            .get_bytes(&format!("/v1/blobs/{nobody}"), Some(&c.token), &[])
            .await;
        assert_eq!(status, 404);
        assert_eq!(
            serde_json::from_slice::<Json>(&body).unwrap()["code"],
            "blob_not_found"
        );
        let (status, _, _) = s.get_bytes("/v1/blobs/zz", Some(&c.token), &[]).await;
        assert_eq!(status, 400);

        // A lost device is told to wipe, here as everywhere.
        s.admin_ok(
            "POST",
            &format!("/v1/admin/devices/{}/lost", d.id),
            json!({}),
        )
        .await;
        assert_code(&get(d.token.clone(), None).await, 410, "device_lost");
        assert_code(
            &post_start(&s, &d, &hash, start_body(100_000, "image/png")).await,
            410,
            "device_lost",
        );
        s.stop().await;
    }
}

/// A device of another district cannot read a blob that only a record outside its scope
/// references, until its officer's scope covers that record; the one in scope can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_district_cannot_read_a_blob_outside_its_scope() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let sig = noise("tanda tangan", 4_000);
        let r = ContentRef::new(BlobHash::of(&sig), 4_000, "image/png").unwrap();
        let hash = r.hash.to_hex();
        let (d, _) = area_with_reference(&s, "andi", "737101", &r).await;
        s.officer("budi", &["737102"]).await;
        let b = s.device("budi").await;
        // budi uploads it (anyone may upload), but may not read it back.
        assert_eq!(
            post_start(&s, &b, &hash, start_body(4_000, "image/png"))
                .await
                .0,
            200
        );
        assert_eq!(put_chunk(&s, &b, &hash, 0, &sig).await.1["complete"], true);
        let read = async |t: &TestDevice| {
            s.get_bytes(&format!("/v1/blobs/{hash}"), Some(&t.token), &[])
                .await
        };
        let (status, _, body) = read(&b).await;
        assert_eq!(status, 404);
        assert_eq!(
            serde_json::from_slice::<Json>(&body).unwrap()["code"],
            "blob_not_found"
        );
        let (status, _, body) = read(&d).await;
        assert_eq!((status, body == sig), (200, true));
        s.set_scope("budi", &["737101", "737102"]).await;
        assert_eq!(read(&b).await.0, 200);
        s.stop().await;
    }
}
