//! A real server on `127.0.0.1:0` over a real database, and its admin session.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value as Json, json};
use sidak_client::{HttpTransport, SpkiPin, TlsOptions};
use sidak_core::{OpV1, Record, RecordId, RecordV1};
use sidak_server::{AppState, Config, TlsConfig};
use sidak_server_storage::Storage;
use sidak_server_storage::testing::{TestDatabase, database_url};
use sidak_store::{Identity, Store};
use tokio::sync::oneshot;

use crate::device::TestDevice;

/// Password of the bootstrap admin in tests.
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A storage engine a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file (`server.sqlite`) in the server's temporary directory.
    Sqlite,
    /// A fresh PostgreSQL database per server ([`TestDatabase`]), dropped with the server.
    Postgres,
}

/// The backends to run: SQLite always, PostgreSQL when [`database_url`] names one.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if database_url().is_some() {
        all.push(Backend::Postgres);
    }
    all
}

/// Where a test server keeps attachments' blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobBackend {
    /// Files in the server's temporary folder (the default).
    Files,
    /// A fresh bucket on the S3-compatible server of [`pg::s3_endpoint`](crate::pg::s3_endpoint).
    S3,
}

/// The blob stores to run: files always, S3 when `SIDAK_TEST_S3` names a server (in CI it
/// must: the S3 tests fail there without one).
pub fn blob_backends() -> Vec<BlobBackend> {
    let mut all = vec![BlobBackend::Files];
    if sidak_server_storage::testing::s3_endpoint().is_some() {
        all.push(BlobBackend::S3);
    }
    all
}

/// How a test talks to its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Plain HTTP, `http://127.0.0.1:<port>` (loopback, or behind a proxy).
    Http,
    /// HTTPS with a self-signed certificate made for the server ([`TestTls`]).
    Tls,
}

/// A self-signed certificate for `127.0.0.1` and `localhost`, its key and its pin.
#[derive(Debug, Clone)]
pub struct TestTls {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The pin devices carry: `sha256/` of the certificate's public key.
    pub pin: SpkiPin,
}

impl TestTls {
    /// A new certificate and key (rcgen, ECDSA P-256).
    pub fn generate() -> TestTls {
        let made = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("self-signed certificate");
        let cert_pem = made.cert.pem();
        TestTls {
            pin: SpkiPin::of_pem_certificate(cert_pem.as_bytes()).expect("pin"),
            key_pem: made.signing_key.serialize_pem(),
            cert_pem,
        }
    }

    /// The server's side of it.
    pub fn server_config(&self) -> TlsConfig {
        TlsConfig::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).expect("tls config")
    }
}

/// A running server; told to stop when dropped ([`TestServer::stop`] also waits for it).
pub struct TestServer {
    /// Its base URL, `http://127.0.0.1:<port>` (or `https://` over [`Wire::Tls`]).
    pub base: String,
    /// An HTTP client for calls to it (trusting its certificate over [`Wire::Tls`]).
    pub http: reqwest::Client,
    /// The certificate it serves, over [`Wire::Tls`].
    pub tls: Option<TestTls>,
    /// The storage it serves, for backend-level checks.
    pub storage: Arc<dyn Storage>,
    /// Its blobs (the blob store with the database), for blob-level checks.
    pub blobs: sidak_server_storage::attachments::Blobs,
    /// The bootstrap admin's session token.
    pub admin: String,
    dir: Option<tempfile::TempDir>,
    pg: Option<TestDatabase>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on `backend` with the default test configuration.
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server on `backend` over HTTPS with a new self-signed certificate.
    pub async fn start_tls(backend: Backend) -> TestServer {
        Self::start_over(backend, Wire::Tls).await
    }

    /// Starts a server on `backend` reached over `wire`.
    pub async fn start_over(backend: Backend, wire: Wire) -> TestServer {
        Self::start_on(backend, wire, |_| {}).await
    }

    /// Starts a server on `backend` keeping blobs in `blobs`, after `tweak` adjusts the
    /// configuration.
    pub async fn start_blobs(
        backend: Backend,
        blobs: BlobBackend,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let s3 = match blobs {
            BlobBackend::Files => None,
            BlobBackend::S3 => {
                let endpoint = sidak_server_storage::testing::s3_endpoint()
                    .expect("S3 blob tests need SIDAK_TEST_S3");
                Some(sidak_server_storage::testing::s3_bucket(&endpoint).await)
            }
        };
        Self::start_with(backend, move |c| {
            if let Some((location, settings)) = s3 {
                c.blobs = Some(location);
                c.s3 = Some(settings);
            }
            tweak(c);
        })
        .await
    }

    /// Starts a server on `backend` after `tweak` adjusts the configuration (it may also
    /// replace `database`, e.g. to reopen an existing one).
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_on(backend, Wire::Http, tweak).await
    }

    async fn start_on(backend: Backend, wire: Wire, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            Backend::Sqlite => Self::launch(dir, None, wire, tweak).await,
            Backend::Postgres => {
                let db = TestDatabase::create().await;
                Self::launch(dir, Some(db), wire, tweak).await
            }
        }
    }

    /// Starts a SQLite server over `dir/server.sqlite` (made if missing), e.g. a folder an
    /// earlier server handed back from [`TestServer::stop`].
    pub async fn start_in(dir: tempfile::TempDir) -> TestServer {
        Self::start_in_over(dir, Wire::Http).await
    }

    /// [`TestServer::start_in`] over `wire` (over TLS with a new certificate).
    pub async fn start_in_over(dir: tempfile::TempDir, wire: Wire) -> TestServer {
        Self::launch(dir, None, wire, |_| {}).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        pg: Option<TestDatabase>,
        wire: Wire,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let database = match &pg {
            Some(db) => db.url.clone(),
            None => format!("sqlite:{}", dir.path().join("server.sqlite").display()),
        };
        // SQLite keeps blobs beside its file; a PostgreSQL server here gets a folder of its own.
        let blobs = pg
            .as_ref()
            .map(|_| dir.path().join("blobs").display().to_string());
        let mut config = Config {
            database,
            bootstrap_admin_password: Some(ADMIN_PASSWORD.to_owned()),
            blobs,
            ..Config::default()
        };
        tweak(&mut config);
        let state: AppState = sidak_server::prepare(config).await.expect("prepare");
        let storage = state.storage.clone();
        let blobs = state.blobs.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let tls = (wire == Wire::Tls).then(TestTls::generate);
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        let (base, http, task) = match &tls {
            None => (
                format!("http://{addr}"),
                reqwest::Client::new(),
                tokio::spawn(async move {
                    sidak_server::serve(listener, state, stopped)
                        .await
                        .expect("serve");
                }),
            ),
            Some(t) => {
                let config = t.server_config();
                let http = TlsOptions::new()
                    .trust_pem(t.cert_pem.as_bytes())
                    .expect("trust the test certificate")
                    .configure(reqwest::Client::builder())
                    .expect("tls client")
                    .build()
                    .expect("http client");
                let task = tokio::spawn(async move {
                    sidak_server::serve_tls(listener, state, config, stopped)
                        .await
                        .expect("serve tls");
                });
                (format!("https://{addr}"), http, task)
            }
        };
        let mut s = TestServer {
            base,
            http,
            tls,
            storage,
            blobs,
            admin: String::new(),
            dir: Some(dir),
            pg,
            stop: Some(stop),
            task: Some(task),
        };
        s.admin = s.login("admin", ADMIN_PASSWORD).await;
        s
    }

    /// How a device reaches this server: pinned to its certificate over TLS.
    pub fn tls_options(&self) -> TlsOptions {
        match &self.tls {
            Some(t) => TlsOptions::new().pin(t.pin),
            None => TlsOptions::new(),
        }
    }

    /// The real device transport to this server ([`TestServer::tls_options`]).
    pub fn transport(&self) -> HttpTransport {
        HttpTransport::with_tls(&self.base, &self.tls_options()).expect("transport")
    }

    /// The server's temporary folder (its SQLite file, and the files of [`TestServer::store`]).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir held until stop").path()
    }

    /// Stops the server, waits for it to finish and hands back its folder.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let dir = self.dir.take().expect("dir held until stop");
        let storage = Arc::downgrade(&self.storage);
        let pg = self.pg.take();
        drop(self);
        match pg {
            // A test may still read the storage after the server stopped: the database goes
            // when the last handle does (or when the test's runtime ends).
            Some(db) => {
                tokio::spawn(async move {
                    while storage.strong_count() > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    drop(db);
                });
            }
            // Let the storage close before the caller touches the file (bounded: the test
            // may hold a handle of its own).
            None => {
                for _ in 0..40 {
                    if storage.strong_count() == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        }
        dir
    }

    /// Logs in, returning the session token; panics unless it succeeds.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/v1/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "login: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Creates a user with `role` (`admin`, `supervisor`, `officer`) as admin and returns
    /// its session token.
    pub async fn user(&self, username: &str, password: &str, role: &str) -> String {
        let (status, body) = self
            .admin_call(
                "POST",
                "/v1/admin/users",
                json!({"username": username, "password": password, "role": role}),
            )
            .await;
        assert_eq!(status, 201, "create {role}: {body}");
        self.login(username, password).await
    }

    /// Sends a JSON request and returns status and JSON body (Null when empty or not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Json>,
    ) -> (u16, Json) {
        let mut req = self.http.request(
            method.parse().expect("method"),
            format!("{}{path}", self.base),
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("send");
        let status = res.status().as_u16();
        let bytes = res.bytes().await.expect("body");
        let json = if bytes.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Json::Null)
        };
        (status, json)
    }

    /// Sends a JSON request as the admin and returns status and JSON body.
    pub async fn admin_call(&self, method: &str, path: &str, body: Json) -> (u16, Json) {
        self.call(method, path, Some(&self.admin), Some(body)).await
    }

    /// Sends a JSON request as the admin; panics unless it succeeds, returns the body.
    pub async fn admin_ok(&self, method: &str, path: &str, body: Json) -> Json {
        let (status, body) = self.admin_call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        body
    }

    /// Sends raw bytes (POST) with extra headers.
    pub async fn raw(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Json) {
        self.send_bytes("POST", path, token, headers, body).await
    }

    /// Sends `body` as raw bytes with `method` and extra headers; returns status and JSON
    /// body (Null when empty or not JSON).
    pub async fn send_bytes(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Json) {
        let build = || {
            let mut req = self
                .http
                .request(
                    method.parse().expect("method"),
                    format!("{}{path}", self.base),
                )
                .body(body.clone());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req
        };
        // A request refused before its body was read (`413` on a `Content-Length` over the
        // limit) ends its connection while the client still writes; the pool may hand that
        // connection to the next request, which then fails to write. Sent again once on a
        // fresh connection: what is tested is the server's answer, not the pool's timing.
        let res = match build().send().await {
            Ok(r) => r,
            Err(e) if e.is_request() || e.is_connect() => build().send().await.expect("send"),
            Err(e) => panic!("send: {e:?}"),
        };
        let status = res.status().as_u16();
        let json = res.json().await.unwrap_or(Json::Null);
        (status, json)
    }

    /// A `GET` with extra headers: status, headers and the body's bytes.
    pub async fn get_bytes(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("send");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body").to_vec();
        (status, headers, bytes)
    }

    /// Uploads `bytes`, the blob `r` references, as the device with `token` would, in one
    /// chunk; panics unless the server answers it complete.
    pub async fn upload_blob(
        &self,
        token: &str,
        r: &sidak_core::attachment::ContentRef,
        bytes: &[u8],
    ) {
        let (status, body) = self
            .call(
                "POST",
                &format!("/v1/blobs/{}", r.hash),
                Some(token),
                Some(json!({"size": r.size, "media_type": r.media_type})),
            )
            .await;
        assert_eq!(status, 200, "start: {body}");
        let (status, body) = self
            .send_bytes(
                "PUT",
                &format!("/v1/blobs/{}/chunks?offset=0", r.hash),
                Some(token),
                &[("content-type", "application/octet-stream")],
                bytes.to_vec(),
            )
            .await;
        assert_eq!(status, 200, "chunk: {body}");
        assert_eq!(body["complete"], true, "chunk: {body}");
    }

    /// Creates an officer (named `Officer <id>`) with `scope` as admin and returns its id.
    pub async fn officer(&self, id: &str, scope: &[&str]) -> String {
        self.officer_named(id, &format!("Officer {id}"), scope)
            .await
    }

    /// Creates an officer called `name` with `scope` as admin and returns its id.
    pub async fn officer_named(&self, id: &str, name: &str, scope: &[&str]) -> String {
        let (status, body) = self
            .admin_call(
                "POST",
                "/v1/admin/officers",
                json!({"id": id, "name": name, "scope": scope}),
            )
            .await;
        assert_eq!(status, 201, "create officer: {body}");
        id.to_owned()
    }

    /// Replaces an officer's scope.
    pub async fn set_scope(&self, officer: &str, scope: &[&str]) {
        let (status, body) = self
            .admin_call(
                "PUT",
                &format!("/v1/admin/officers/{officer}/scope"),
                json!({"scope": scope}),
            )
            .await;
        assert_eq!(status, 200, "set scope: {body}");
    }

    /// Issues an enrollment code for an officer.
    pub async fn code(&self, officer: &str) -> String {
        let (status, body) = self
            .admin_call(
                "POST",
                &format!("/v1/admin/officers/{officer}/enrollment-codes"),
                json!({}),
            )
            .await;
        assert_eq!(status, 201, "issue code: {body}");
        body["code"].as_str().expect("code").to_owned()
    }

    /// Enrolls a new raw protocol device for an officer.
    pub async fn device(&self, officer: &str) -> TestDevice {
        let code = self.code(officer).await;
        TestDevice::enroll(self, &code).await
    }

    /// Enrolls a new raw protocol device called `name` (as device health shows it) for an
    /// officer.
    pub async fn device_named(&self, officer: &str, name: &str) -> TestDevice {
        let code = self.code(officer).await;
        TestDevice::enroll_named(self, &code, name).await
    }

    /// A new `sidak_store` device of `officer` on `<dir>/<name>.sqlite`, enrolled through
    /// `sidak_client::enroll` with a fresh code.
    pub async fn store(&self, officer: &str, name: &str) -> Store {
        let mut store =
            Store::open(self.dir().join(format!("{name}.sqlite"))).expect("open device store");
        self.enroll(&mut store, officer, Some(name)).await;
        store
    }

    /// Enrolls `store` (again) with a fresh code for `officer`; it keeps its id if it holds
    /// edits of its own.
    pub async fn enroll(&self, store: &mut Store, officer: &str, name: Option<&str>) -> Identity {
        let code = self.code(officer).await;
        sidak_client::enroll_with(
            &self.transport(),
            store,
            &self.base,
            &code,
            name.map(str::to_owned),
        )
        .await
        .expect("enroll")
    }

    /// Every op in the log (all regions, all devices), in order: a backend-level view.
    pub async fn all_ops(&self) -> Vec<(u64, OpV1)> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let res = self
                .storage
                .scan_ops(&sidak_server_storage::Scan {
                    after,
                    upto: None,
                    include: (1..=9).map(|d| d.to_string()).collect(),
                    exclude: vec![],
                    skip_device: None,
                    limit: 10_000,
                    max_bytes: usize::MAX,
                    fingerprint_at: None,
                })
                .await
                .expect("scan");
            after = res.ops.last().map(|(s, _)| *s).unwrap_or(after);
            out.extend(res.ops);
            if !res.more {
                return out;
            }
        }
    }

    /// The server's state of a record.
    pub async fn record(&self, id: RecordId) -> Option<Record> {
        let w: RecordV1 = self.storage.record(id).await.expect("record")?;
        Some(w.decode().expect("decode"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
