//! A real server on a loopback socket with a real SQLite file, an office session, and
//! field devices on their own SQLite files.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value as Json, json};
use sidak_client::{HttpTransport, SyncConfig, SyncEngine, SyncFailure, SyncReport, Transport};
use sidak_core::{Kind, RecordV1};
use sidak_store::{Changes, ListQuery, Store};

pub const PASSWORD: &str = "e2e-admin-password";

/// A running server; stops when dropped.
pub struct Server {
    pub url: String,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    http: reqwest::Client,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Server {
    /// Starts a server on 127.0.0.1:0 over a fresh SQLite file.
    pub async fn start() -> Server {
        Server::start_in(tempfile::tempdir().unwrap()).await
    }

    /// Stops the server and hands back its folder (`server.sqlite` and the device files).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // Let the listener and the storage close before the file is touched.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// Starts a server on 127.0.0.1:0 over `dir/server.sqlite` (made if missing).
    pub async fn start_in(dir: tempfile::TempDir) -> Server {
        let config = sidak_server::Config {
            database: format!("sqlite:{}", dir.path().join("server.sqlite").display()),
            bootstrap_admin_password: Some(PASSWORD.to_owned()),
            ..sidak_server::Config::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = sidak_server::prepare(config).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(sidak_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::new();
        let login: Json = http
            .post(format!("{url}/v1/login"))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().unwrap().to_owned();
        Server {
            url,
            dir,
            stop: Some(stop),
            http,
            token,
        }
    }

    /// An admin call; panics unless it succeeds.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Json) -> Json {
        let res = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Json = res.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    pub async fn officer(&self, id: &str, scope: &[&str]) {
        self.admin(
            reqwest::Method::POST,
            "/v1/admin/officers",
            json!({"id": id, "name": id, "scope": scope}),
        )
        .await;
    }

    pub async fn set_scope(&self, id: &str, scope: &[&str]) {
        self.admin(
            reqwest::Method::PUT,
            &format!("/v1/admin/officers/{id}/scope"),
            json!({"scope": scope}),
        )
        .await;
    }

    /// A new device of `officer`, enrolled, on its own SQLite file.
    pub async fn device(&self, officer: &str, name: &str) -> Store {
        let code = self.code(officer).await;
        let mut store = Store::open(self.dir.path().join(format!("{name}.sqlite"))).unwrap();
        sidak_client::enroll(&mut store, &self.url, &code, Some(name.to_owned()))
            .await
            .unwrap();
        store
    }

    /// A new enrollment code for `officer`.
    pub async fn code(&self, officer: &str) -> String {
        let code = self
            .admin(
                reqwest::Method::POST,
                &format!("/v1/admin/officers/{officer}/enrollment-codes"),
                json!({}),
            )
            .await;
        code["code"].as_str().unwrap().to_owned()
    }
}

impl Server {
    /// Enrolls `store` again with a new code for `officer` (it keeps its id if it has edits).
    pub async fn enroll_again(&self, store: &mut Store, officer: &str) -> sidak_store::Identity {
        let code = self.code(officer).await;
        sidak_client::enroll(store, &self.url, &code, None)
            .await
            .unwrap()
    }
}

pub fn config() -> SyncConfig {
    SyncConfig {
        deadline: Duration::from_secs(60),
        ..SyncConfig::default()
    }
}

pub async fn sync(store: &mut Store, url: &str) -> SyncReport {
    try_sync(store, url)
        .await
        .unwrap_or_else(|f| panic!("sync failed: {}", f.error))
}

pub async fn try_sync(store: &mut Store, url: &str) -> Result<SyncReport, SyncFailure> {
    SyncEngine::new(HttpTransport::new(url).unwrap(), config())
        .sync(store, &mut |_| {})
        .await
}

pub async fn sync_with<T: Transport>(
    store: &mut Store,
    transport: T,
    cfg: SyncConfig,
) -> Result<SyncReport, SyncFailure> {
    SyncEngine::new(transport, cfg)
        .sync(store, &mut |_| {})
        .await
}

/// Every record a device holds, as state JSON by id.
pub fn states(store: &Store) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for kind in Kind::ALL {
        let mut q = ListQuery::new(kind);
        q.limit = sidak_store::MAX_PAGE;
        loop {
            let page = store.list(&q).unwrap();
            for e in &page.items {
                out.insert(
                    e.record.id.to_string(),
                    serde_json::to_value(RecordV1::from(&e.record)).unwrap(),
                );
            }
            if !page.more {
                break;
            }
            q.offset += q.limit;
        }
    }
    out
}

pub const MAKASSAR: &str = "7371011001";
pub const MAKASSAR_2: &str = "7371011002";
pub const GOWA: &str = "7306012004";

/// A complete worker registration.
pub fn worker(nik: &str, name: &str) -> Changes {
    Changes::new()
        .set("nik", nik)
        .set("full_name", name)
        .set("birth_date", "1990-06-15")
        .set(
            "sex",
            if nik.as_bytes()[6] >= b'4' {
                "female"
            } else {
                "male"
            },
        )
        .set("occupation", "fisher")
        .set("monthly_income", 1_500_000i64)
        .add("programmes", "JKK")
        .add("programmes", "JKM")
        .set("payer", "self")
        .set("consent", true)
        .set("status", "submitted")
}
