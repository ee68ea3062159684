//! PostgreSQL for tests (of this crate and the crates above it): where it is, and a fresh
//! database per test, dropped after. Not used by the server itself.
//!
//! The URL comes from `SIDAK_TEST_DATABASE_URL`. Without it, CI (`CI=true`) uses the
//! machine's PostgreSQL at [`CI_DEFAULT_URL`], so the tests run there rather than skip;
//! elsewhere the PostgreSQL runs are skipped with a message saying how to enable them.

use std::sync::Once;

/// The database CI uses when `SIDAK_TEST_DATABASE_URL` is not set.
pub const CI_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

static SKIP_NOTICE: Once = Once::new();

/// The URL of a PostgreSQL the tests may create databases on, or `None` to skip them.
pub fn database_url() -> Option<String> {
    if let Ok(url) = std::env::var("SIDAK_TEST_DATABASE_URL")
        && !url.is_empty()
    {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        return Some(CI_DEFAULT_URL.to_owned());
    }
    SKIP_NOTICE.call_once(|| {
        eprintln!(
            "note: PostgreSQL tests skipped (SIDAK_TEST_DATABASE_URL is not set). Run them with\n  \
             SIDAK_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test"
        );
    });
    None
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// A database made for one test (`sidak_test_<random>`), dropped when this is dropped.
pub struct TestDatabase {
    /// Its URL, for `Config::database`.
    pub url: String,
    /// Its name.
    pub name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database on the server of [`database_url`].
    pub async fn create() -> TestDatabase {
        let admin_url = database_url().expect("PostgreSQL tests need SIDAK_TEST_DATABASE_URL");
        let name = format!("sidak_test_{}", uuid::Uuid::new_v4().simple());
        let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        drop(client);
        let _ = task.await;
        TestDatabase {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on from within; a
        // thread with its own small runtime does the DROP and is joined. `WITH (FORCE)`
        // ends the connections a server still holds.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let Ok((client, conn)) =
                    tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await
                else {
                    eprintln!("could not connect to drop test database {name}");
                    return;
                };
                let task = tokio::spawn(conn);
                if let Err(e) = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                {
                    eprintln!("could not drop test database {name}: {e}");
                }
                drop(client);
                let _ = task.await;
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("dropping test database {} panicked", self.name);
        }
    }
}

/// The variable that names the S3-compatible server of the S3 blob-store tests
/// (`http://127.0.0.1:PORT`; `.ci/run` starts moto there).
pub const S3_ENV: &str = "SIDAK_TEST_S3";

/// The S3-compatible server the blob-store tests may create buckets on, or `None` to skip
/// them. In CI (`CI=true`) its absence fails the test instead: the S3 backend must be tested.
pub fn s3_endpoint() -> Option<String> {
    if let Ok(url) = std::env::var(S3_ENV)
        && !url.is_empty()
    {
        return Some(url);
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "CI=true but {S3_ENV} is not set: the S3 blob-store tests need an S3-compatible server (.ci/run starts moto)"
    );
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        eprintln!(
            "note: S3 blob-store tests skipped ({S3_ENV} is not set). Run them with moto:\n  \
             moto_server -p 5055 & {S3_ENV}=http://127.0.0.1:5055 cargo test"
        );
    });
    None
}

/// A fresh bucket on the server of [`s3_endpoint`]: its `s3://bucket/prefix` location and
/// the settings that reach it (test credentials, which moto accepts).
pub async fn s3_bucket(endpoint: &str) -> (String, crate::blobs::S3Settings) {
    let bucket = format!("sidak-test-{}", uuid::Uuid::new_v4().simple());
    create_bucket(endpoint, &bucket).await;
    let settings = crate::blobs::S3Settings {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        session_token: None,
    };
    (format!("s3://{bucket}/blobs"), settings)
}

/// `PUT /<bucket>` on an S3-compatible test server (moto takes it unsigned), over a plain
/// socket: this crate has no HTTP client of its own (`tests/layers.rs`).
async fn create_bucket(endpoint: &str, bucket: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{S3_ENV} must be an http:// address, not {endpoint:?}"))
        .trim_end_matches('/');
    let mut tcp = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the S3 server at {endpoint}: {e}"));
    let request = format!(
        "PUT /{bucket} HTTP/1.1\r\nhost: {host}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "creating bucket {bucket} at {endpoint}: {}",
        answer.lines().next().unwrap_or("")
    );
}
