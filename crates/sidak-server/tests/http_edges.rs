//! The edges of HTTP, over a real socket: what the server answers to requests it cannot or
//! will not read (a body announced too large, a huge header, a very long URI, a request
//! that is not HTTP), and to query parameters at the edge of what the office accepts.
//! Every answer is a status plus our JSON `{code, message}` body, never hyper's empty one,
//! and nothing is stored.
//!
//! Raw requests go over a plain `TcpStream` with a short deadline, so a server that holds
//! a request (instead of answering it at once) fails the test rather than hanging it.

mod office_seed;

use std::time::Duration;

use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use sidak_test_support::{Backend, TestServer};

/// How long a raw request may take before the test calls it held: far below the server's
/// 60 s request timeout, far above what an immediate answer takes on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(10);

/// An answer read off the socket: status, lower-cased headers, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Checks the status, that the body is our error body with `code`, and its content type.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
    }
}

/// Writes `request` (ignoring a reset once the server has answered and closed) and reads
/// one response: its head, then exactly `content-length` bytes (or to the end).
async fn raw(server: &TestServer, request: &[u8]) -> Answer {
    let addr = server.base.trim_start_matches("http://").to_owned();
    let request = request.to_vec();
    tokio::time::timeout(DEADLINE, async move {
        let mut sock = TcpStream::connect(addr).await.expect("connect");
        let (mut rd, mut wr) = sock.split();
        // Write and read at once: the server may answer before it has read everything.
        let write = async {
            let _ = wr.write_all(&request).await;
        };
        let read = async {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let n = rd.read(&mut chunk).await.unwrap_or(0);
                assert!(n > 0, "connection closed before a response head: {buf:?}");
                buf.extend_from_slice(&chunk[..n]);
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|s| s.parse().ok())
                .expect("status line");
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let len: Option<usize> = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok());
            let mut body = buf[head_end..].to_vec();
            loop {
                if len.is_some_and(|l| body.len() >= l) {
                    break;
                }
                let n = rd.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            Answer {
                status,
                headers,
                body,
            }
        };
        let ((), answer) = tokio::join!(write, read);
        answer
    })
    .await
    .expect("the server did not answer in time: it holds the request")
}

#[tokio::test]
async fn a_body_announced_larger_than_the_limit_is_refused_at_once() {
    let server = TestServer::start(Backend::Sqlite).await;
    let limit = sidak_server::config::DEFAULT_MAX_BODY_BYTES;
    // The head announces more than the limit and no body follows: the server must answer
    // from the header alone, not wait for bytes that will never come.
    let req = format!(
        "POST /v1/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{{",
        limit + 1
    );
    raw(&server, req.as_bytes())
        .await
        .assert_error(413, "payload_too_large");
    // The same on a device endpoint, before the token is even looked at.
    let req = format!(
        "POST /v1/push HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sdd_nothing\r\ncontent-length: {}\r\n\r\n",
        limit * 10
    );
    raw(&server, req.as_bytes())
        .await
        .assert_error(413, "payload_too_large");
    // Within the limit, the same request is read as usual.
    let req = "POST /v1/login HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
    raw(&server, req.as_bytes())
        .await
        .assert_error(400, "invalid_message");
    server.stop().await;
}

#[tokio::test]
async fn a_huge_header_is_answered_with_our_error_body() {
    let server = TestServer::start(Backend::Sqlite).await;
    // Over the server's own header limit, within what hyper buffers.
    let big = "a".repeat(100 * 1024);
    let req = format!("GET /v1/info HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n");
    raw(&server, req.as_bytes())
        .await
        .assert_error(431, "header_too_large");
    // Past what hyper buffers at all: hyper refuses it itself, still with our body.
    let huge = "a".repeat(1024 * 1024);
    let req = format!("GET /v1/info HTTP/1.1\r\nhost: x\r\nx-big: {huge}\r\n\r\n");
    raw(&server, req.as_bytes())
        .await
        .assert_error(431, "header_too_large");
    // Too many header lines.
    let mut req = String::from("GET /v1/info HTTP/1.1\r\nhost: x\r\n");
    for i in 0..200 {
        req.push_str(&format!("x-h{i}: v\r\n"));
    }
    req.push_str("\r\n");
    raw(&server, req.as_bytes())
        .await
        .assert_error(431, "header_too_large");
    // A normal request on a fresh connection still works.
    let ok = raw(&server, b"GET /v1/info HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(ok.status, 200, "{ok:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_very_long_uri_is_answered_with_our_error_body() {
    let server = TestServer::start(Backend::Sqlite).await;
    for len in [16 * 1024, 70 * 1024] {
        let q = "a".repeat(len);
        let req = format!("GET /v1/office/records?q={q} HTTP/1.1\r\nhost: x\r\n\r\n");
        raw(&server, req.as_bytes())
            .await
            .assert_error(414, "uri_too_long");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_request_that_is_not_http_is_answered_with_our_error_body() {
    let server = TestServer::start(Backend::Sqlite).await;
    raw(
        &server,
        b"GET /v1/info HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n",
    )
    .await
    .assert_error(400, "bad_request");
    raw(&server, b"G@T /v1/info HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .assert_error(400, "bad_request");
    server.stop().await;
}

/// GET `path` as the admin (who may use every office endpoint).
async fn office_get(server: &TestServer, path: &str) -> (u16, Json) {
    server.call("GET", path, Some(&server.admin), None).await
}

#[tokio::test]
async fn control_characters_in_office_parameters_are_refused_naming_the_parameter() {
    let server = TestServer::start(Backend::Sqlite).await;
    // A worker, so a search that matched everything would show it.
    let officer = server.officer("c1", &["7371"]).await;
    let mut dev = server.device(&officer).await;
    let village = sidak_test_support::villages("737101")[0].clone();
    office_seed::register(&mut dev, &village, "7371015506900003", "Rina Wati");
    dev.sync().await;
    let (status, all) = office_get(&server, "/v1/office/records?q=Rina").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 1, "{all}");

    for (query, name) in [
        ("q=%00", "q"),
        ("q=Rina%00", "q"),
        ("q=%1F", "q"),
        ("q=%7F", "q"),
        ("status=%00", "status"),
        ("officer=c1%0A", "officer"),
        ("cursor=%00", "cursor"),
    ] {
        for endpoint in ["records", "conflicts", "export.csv"] {
            let path = format!("/v1/office/{endpoint}?kind=worker&{query}");
            let (status, body) = office_get(&server, &path).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["code"], "invalid_message", "{path}: {body}");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.contains(name), "{path}: {body}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn empty_dates_are_refused_not_read_as_no_date() {
    let server = TestServer::start(Backend::Sqlite).await;
    for path in [
        "/v1/office/records?to=",
        "/v1/office/records?from=",
        "/v1/office/conflicts?to=",
        "/v1/office/export.csv?kind=worker&to=",
        "/v1/office/coverage?from=",
        "/v1/office/coverage?region=73&to=",
    ] {
        let (status, body) = office_get(&server, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid_message", "{path}: {body}");
    }
    let (status, body) =
        office_get(&server, "/v1/office/records?from=2026-01-01&to=2026-12-31").await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn csv_export_columns_are_unique_for_every_kind() {
    let server = TestServer::start(Backend::Sqlite).await;
    for kind in ["worker", "company", "visit", "finding"] {
        let res = server
            .http
            .get(format!("{}/v1/office/export.csv?kind={kind}", server.base))
            .bearer_auth(&server.admin)
            .send()
            .await
            .expect("send");
        assert_eq!(res.status().as_u16(), 200);
        let text = res.text().await.expect("text");
        let header = text.lines().next().expect("header line");
        let cols: Vec<&str> = header.split(',').collect();
        let mut seen = std::collections::HashSet::new();
        for c in &cols {
            assert!(seen.insert(*c), "{kind}: column {c} twice in {header}");
        }
        assert!(cols.starts_with(&["id", "kind", "region"]), "{header}");
        if kind == "worker" {
            assert!(
                cols.contains(&"status") && cols.contains(&"field_status"),
                "{header}"
            );
        }
    }
    server.stop().await;
}

/// An enum, code, date or boolean given empty (`kind=`) is refused, not read as absent
/// ("every kind"); a free-text filter left blank (`q=`, `status=`) still means no filter,
/// and an empty page cursor the first page.
#[tokio::test]
async fn empty_enum_and_code_parameters_are_refused_naming_the_parameter() {
    let server = TestServer::start(Backend::Sqlite).await;
    for (path, name) in [
        ("/v1/office/duplicates?kind=", "kind"),
        ("/v1/office/records?kind=", "kind"),
        ("/v1/office/records?region=", "region"),
        ("/v1/office/conflicts?region=", "region"),
        ("/v1/office/export.csv?kind=", "kind"),
        ("/v1/office/export.csv?kind=worker&region=", "region"),
        ("/v1/office/coverage?level=", "level"),
        ("/v1/office/coverage?region=", "region"),
        ("/v1/office/review?region=", "region"),
        ("/v1/office/set-aside?all=", "all"),
    ] {
        let (status, body) = office_get(&server, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "invalid_message", "{path}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(name), "{path}: {body}");
    }
    for path in [
        "/v1/office/records?q=&status=&officer=",
        "/v1/office/conflicts?cursor=",
        "/v1/office/duplicates?kind=worker",
    ] {
        let (status, body) = office_get(&server, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    server.stop().await;
}

/// A compressed export (every browser sends `Accept-Encoding`) is complete: the chunked
/// body ends with its last chunk. The compression layer polls the body once more after its
/// end, and the unfused stream panicked there, cutting the download.
#[tokio::test]
async fn a_compressed_csv_export_is_complete() {
    let server = TestServer::start(Backend::Sqlite).await;
    let officer = server.officer("c1", &["7371"]).await;
    let mut dev = server.device(&officer).await;
    let village = sidak_test_support::villages("737101")[0].clone();
    office_seed::register(&mut dev, &village, "7371015506900003", "Rina Wati");
    dev.sync().await;
    for encoding in ["gzip", "zstd", "identity"] {
        for kind in ["worker", "visit"] {
            let request = format!(
                "GET /v1/office/export.csv?kind={kind} HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Bearer {}\r\nAccept-Encoding: {encoding}\r\n\
                 Connection: close\r\n\r\n",
                server.admin
            );
            let answer = raw(&server, request.as_bytes()).await;
            assert_eq!(answer.status, 200, "{encoding} {kind}: {answer:?}");
            assert_eq!(
                answer.header("transfer-encoding"),
                Some("chunked"),
                "{answer:?}"
            );
            assert!(
                answer.body.ends_with(b"0\r\n\r\n"),
                "{encoding} {kind}: the chunked body was cut before its last chunk: {:?}",
                String::from_utf8_lossy(&answer.body)
            );
        }
    }
    server.stop().await;
}

/// Serde reads a struct from a JSON array (fields by position), so `[]` was accepted as
/// `{}`; every request body is a JSON object.
#[tokio::test]
async fn a_json_array_is_not_a_request_body() {
    let server = TestServer::start(Backend::Sqlite).await;
    let officer = server.officer("c1", &["7371"]).await;
    let path = format!("/v1/admin/officers/{officer}/enrollment-codes");
    for body in [serde_json::json!([]), serde_json::json!([60])] {
        let (status, answer) = server
            .call("POST", &path, Some(&server.admin), Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["code"], "invalid_message", "{body}: {answer}");
    }
    let (status, answer) = server
        .call(
            "POST",
            "/v1/login",
            None,
            Some(serde_json::json!(["admin", "wrong-password"])),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = server
        .call(
            "POST",
            &path,
            Some(&server.admin),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    server.stop().await;
}

/// The description's pull cursor pattern admits every cursor the server hands out (signed,
/// with a backfill after a scope grew) and the unsigned form it still reads, and not text
/// of another form: `.ci/contract` would call a right pull wrong otherwise.
#[tokio::test]
async fn the_described_cursor_pattern_matches_the_cursors_the_server_makes() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (status, spec) = server.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let schema = &spec["components"]["schemas"]["PullRequest"]["properties"]["cursor"];
    let cursor = jsonschema::validator_for(schema).expect("the cursor schema compiles");
    let officer = server.officer("c1", &["7371"]).await;
    let mut dev = server.device(&officer).await;
    let village = sidak_test_support::villages("737101")[0].clone();
    office_seed::register(&mut dev, &village, "7371015506900003", "Rina Wati");
    dev.sync().await;
    let mut made = vec![dev.cursor.clone()];
    // A grown scope: the next cursors carry a backfill.
    server.set_scope(&officer, &["7371", "7372"]).await;
    made.push(dev.pull_page(1).await.next_cursor);
    for c in &made {
        assert!(c.contains(".v1:"), "signed: {c}");
        assert!(
            cursor.is_valid(&Json::from(c.as_str())),
            "{c} against {schema}"
        );
    }
    for c in ["", "v1:0:7371", "v1:9:7371,7372:7371:3"] {
        assert!(cursor.is_valid(&Json::from(c)), "{c:?}");
    }
    for c in ["abc", "v1:x:7371", "v1:1:7a", "zz.0.v1:1:73"] {
        assert!(!cursor.is_valid(&Json::from(c)), "{c:?}");
    }
    server.stop().await;
}
