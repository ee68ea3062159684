//! HTTPS without a proxy, over real sockets and real TLS: a device enrolls and syncs pinned
//! to a self-signed certificate; a server with another key is refused with its own error;
//! plain HTTP on the HTTPS port is answered `tls_required` or redirected; a bad key file is
//! named at start; a client that connects and says nothing holds up no one, not even the
//! shutdown.

use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sidak_client::{SyncConfig, SyncEngine, SyncError, TlsOptions};
use sidak_core::Kind;
use sidak_store::{Changes, Store};
use sidak_test_support::{Backend, TestServer, TestTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far below the handshake timeout (10 s): a request that waits for a silent client fails.
const PROMPT: Duration = Duration::from_secs(5);

fn worker(nik: &str, name: &str) -> Changes {
    Changes::new()
        .set("nik", nik)
        .set("full_name", name)
        .set("birth_date", "1990-06-15")
        .set("sex", "female")
        .set("occupation", "fisher")
        .set("monthly_income", 1_500_000i64)
        .add("programmes", "JKK")
        .add("programmes", "JKM")
        .set("payer", "self")
        .set("consent", true)
        .set("status", "submitted")
}

fn engine(server: &TestServer, tls: &TlsOptions) -> SyncEngine<sidak_client::HttpTransport> {
    let transport = sidak_client::HttpTransport::with_tls(&server.base, tls).expect("transport");
    SyncEngine::new(
        transport,
        SyncConfig {
            deadline: Duration::from_secs(60),
            ..SyncConfig::default()
        },
    )
}

/// Sends `request` over plain TCP and reads the whole answer (the server closes).
async fn plain(server: &TestServer, request: &str) -> (u16, String, String) {
    let addr = server.base.trim_start_matches("https://");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(PROMPT, s.read_to_end(&mut out))
        .await
        .expect("answered and closed at once")
        .expect("read");
    let text = String::from_utf8(out).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head[9..12].parse().expect("status");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn a_device_enrolls_and_syncs_over_https_pinned_to_a_self_signed_certificate() {
    let server = TestServer::start_tls(Backend::Sqlite).await;
    assert!(server.base.starts_with("https://"), "{}", server.base);
    server.officer("ani", &["7371"]).await;
    let tls = server.tls_options();
    assert!(tls.pinned().is_some());

    let mut a = server.store("ani", "a").await;
    let w = a
        .create(
            Kind::Worker,
            "7371011001",
            &worker("7371015506900003", "Hasnah"),
        )
        .expect("create")
        .id;
    let r = engine(&server, &tls)
        .sync(&mut a, &mut |_| {})
        .await
        .expect("sync over https");
    assert_eq!((r.accepted, r.pending_after), (1, 0), "{r:?}");

    // A second device trusts the certificate as a CA instead of pinning it.
    let ca = server.tls.as_ref().expect("tls").cert_pem.clone();
    let by_ca = TlsOptions::new().trust_pem(ca.as_bytes()).expect("ca");
    let mut b = Store::open(server.dir().join("b.sqlite")).expect("open");
    let code = server.code("ani").await;
    let transport = sidak_client::HttpTransport::with_tls(&server.base, &by_ca).expect("t");
    sidak_client::enroll_with(&transport, &mut b, &server.base, &code, None)
        .await
        .expect("enroll trusting the certificate as a CA");
    let r = engine(&server, &by_ca)
        .sync(&mut b, &mut |_| {})
        .await
        .expect("sync");
    assert_eq!(r.pulled, 1, "{r:?}");
    assert_eq!(
        b.get(w)
            .expect("get")
            .expect("pulled")
            .record
            .get_str("full_name"),
        Some("Hasnah")
    );

    // Without the pin or the CA, the public roots do not know a self-signed certificate.
    let once = SyncEngine::new(
        sidak_client::HttpTransport::with_tls(&server.base, &TlsOptions::new()).expect("t"),
        SyncConfig {
            retry: sidak_client::RetryPolicy {
                max_attempts: 1,
                ..Default::default()
            },
            ..SyncConfig::default()
        },
    );
    let f = once
        .sync(&mut b, &mut |_| {})
        .await
        .expect_err("an untrusted certificate");
    assert_eq!(f.error.code(), "network", "{}", f.error);
    assert!(f.error.to_string().contains("UnknownIssuer"), "{}", f.error);
}

#[tokio::test]
async fn a_server_whose_key_is_not_the_pinned_one_is_refused_with_a_pin_mismatch() {
    let server = TestServer::start_tls(Backend::Sqlite).await;
    server.officer("ani", &["7371"]).await;
    let served = server.tls.as_ref().expect("tls").pin;
    let other = TestTls::generate().pin;
    let wrong = TlsOptions::new().pin(other);

    // Enrolling: the code is never sent to a server with another key.
    let mut fresh = Store::open(server.dir().join("fresh.sqlite")).expect("open");
    let code = server.code("ani").await;
    let transport = sidak_client::HttpTransport::with_tls(&server.base, &wrong).expect("t");
    let e = sidak_client::enroll_with(&transport, &mut fresh, &server.base, &code, None)
        .await
        .expect_err("wrong key");
    assert_eq!(e.code(), "tls_pin_mismatch", "{e}");
    let SyncError::TlsPinMismatch(m) = &e else {
        panic!("{e:?}")
    };
    assert_eq!((m.expected, m.presented), (other, served));
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "does not match the pinned key {other}; the server presented {served}"
        )),
        "{text}"
    );

    // Syncing: stopped at the first request, not retried for minutes.
    let mut a = server.store("ani", "a").await;
    a.create(
        Kind::Worker,
        "7371011001",
        &worker("7371015506900003", "Hasnah"),
    )
    .expect("create");
    let started = Instant::now();
    let f = engine(&server, &wrong)
        .sync(&mut a, &mut |_| {})
        .await
        .expect_err("wrong key");
    assert!(
        matches!(f.error, SyncError::TlsPinMismatch(_)),
        "{:?}",
        f.error
    );
    assert!(!f.error.is_transient());
    assert_eq!(
        (f.report.requests, f.report.retries),
        (1, 0),
        "{:?}",
        f.report
    );
    assert!(started.elapsed() < PROMPT);
    assert_eq!(
        a.counts().expect("counts").pending_ops,
        1,
        "the edit is kept"
    );

    // The server is unharmed, and the right pin still works.
    let r = engine(&server, &server.tls_options())
        .sync(&mut a, &mut |_| {})
        .await
        .expect("sync");
    assert_eq!(r.accepted, 1);
}

#[tokio::test]
async fn plain_http_on_the_https_port_gets_tls_required_or_a_redirect() {
    let server = TestServer::start_tls(Backend::Sqlite).await;
    let host = server.base.trim_start_matches("https://").to_owned();
    let token = "device-token-that-must-not-come-back";

    let (status, head, body) = plain(
        &server,
        &format!(
            "POST /v1/push?debug=1 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        ),
    )
    .await;
    assert_eq!(status, 400, "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let json: Json = serde_json::from_str(&body).expect("our error body");
    assert_eq!(json["code"], "tls_required", "{json}");
    assert_eq!(
        json["message"],
        format!("this server speaks HTTPS only: use https://{host}/v1/push")
    );
    assert_eq!(json.as_object().map(|o| o.len()), Some(2), "{json}");
    assert!(!head.contains(token) && !body.contains(token));

    let (status, head, _) = plain(
        &server,
        &format!("GET /office/records?q=7371015506900003 HTTP/1.1\r\nHost: {host}\r\nCookie: s={token}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 308, "{head}");
    assert!(
        head.contains(&format!("\r\nlocation: https://{host}/office/records\r\n")),
        "{head}"
    );
    assert!(!head.contains(token) && !head.contains("7371015506900003"));

    let (status, head, _) =
        plain(&server, &format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")).await;
    assert_eq!(status, 308);
    assert!(
        head.contains(&format!("location: https://{host}/\r\n")),
        "{head}"
    );

    // HTTPS on the same port goes on as usual.
    let (status, body) = server.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_bad_certificate_or_key_file_is_named_in_the_start_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = TestTls::generate();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let bad_key = dir.path().join("bad-key.pem");
    let other_key = dir.path().join("other-key.pem");
    std::fs::write(&cert, &good.cert_pem).expect("write");
    std::fs::write(&key, &good.key_pem).expect("write");
    std::fs::write(
        &bad_key,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    std::fs::write(&other_key, TestTls::generate().key_pem).expect("write");
    sidak_server::TlsConfig::from_pem_files(&cert, &key).expect("the good pair serves");

    let missing = dir.path().join("missing.pem");
    for (c, k, named, says) in [
        (&cert, &bad_key, &bad_key, "not a usable private key"),
        (&cert, &cert, &cert, "no private key found"),
        (&key, &key, &key, "no certificate found"),
        (&cert, &missing, &missing, "cannot read"),
        (
            &cert,
            &other_key,
            &other_key,
            "does not go with the certificate",
        ),
    ] {
        let e = sidak_server::TlsConfig::from_pem_files(c, k).expect_err("refused");
        let text = e.to_string();
        assert!(text.contains(&named.display().to_string()), "{text}");
        assert!(text.contains(says), "{text}");
    }
}

#[tokio::test]
async fn a_client_that_connects_and_says_nothing_holds_up_no_one() {
    let server = TestServer::start_tls(Backend::Sqlite).await;
    let addr = server.base.trim_start_matches("https://").to_owned();
    // One says nothing; one starts a TLS record and stops.
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    let mut stalled = TcpStream::connect(&addr).await.expect("connect");
    stalled.write_all(&[0x16, 0x03, 0x01]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    for _ in 0..3 {
        let (status, _) = tokio::time::timeout(PROMPT, server.call("GET", "/healthz", None, None))
            .await
            .expect("served while others are silent");
        assert_eq!(status, 200);
    }
    assert!(started.elapsed() < PROMPT);

    // The silent ones are closed once the handshake timeout passes.
    let limit = sidak_server::HANDSHAKE_TIMEOUT + Duration::from_secs(5);
    for s in [&mut silent, &mut stalled] {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(limit, s.read(&mut buf))
            .await
            .expect("closed by the server")
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without an answer");
    }
}

#[tokio::test]
async fn shutdown_is_not_held_up_by_idle_or_silent_connections() {
    let tls = TestTls::generate();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = sidak_server::Config {
        database: format!("sqlite:{}", dir.path().join("s.sqlite").display()),
        ..sidak_server::Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(sidak_server::run_tls(
        listener,
        config,
        tls.server_config(),
        async {
            let _ = stopped.await;
        },
    ));
    let http = TlsOptions::new()
        .pin(tls.pin)
        .configure(reqwest::Client::builder())
        .expect("tls")
        .build()
        .expect("client");
    // Wait until it serves, leaving a kept-alive connection in the pool.
    let deadline = Instant::now() + PROMPT;
    loop {
        match http.get(format!("https://{addr}/healthz")).send().await {
            Ok(r) if r.status().is_success() => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("server did not start: {other:?}"),
        }
    }
    let _silent = TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;

    stop.send(()).expect("stop");
    tokio::time::timeout(PROMPT, served)
        .await
        .expect("stopped without waiting for the silent client")
        .expect("task")
        .expect("clean stop");
    assert!(
        http.get(format!("https://{addr}/healthz"))
            .send()
            .await
            .is_err(),
        "no longer serving"
    );
}
