//! What sidak's integration tests and benches share: "start a server, create an officer,
//! enroll a device", once.
//!
//! - [`TestServer`]: an in-process server on a real `127.0.0.1:0` socket over a fresh SQLite
//!   file or a fresh PostgreSQL database ([`Backend`], [`backends`]), with an admin session,
//!   officers, scopes, enrollment codes, users, JSON calls, and a backend-level view of the log;
//!   over plain HTTP or over HTTPS with a self-signed certificate ([`Wire`], [`TestTls`],
//!   [`TestServer::start_tls`]), with [`TestServer::transport`] the device transport pinned to it.
//! - [`BlobBackend`], [`blob_backends`], [`TestServer::start_blobs`]: a server whose blobs are
//!   files or in a fresh bucket of an S3-compatible server, and raw byte calls for them.
//! - [`TestDevice`]: a raw protocol device (records, clock, cursor, push queue) that speaks
//!   `/v1/push`, `/v1/pull` and `/v1/sync` itself.
//! - [`TestServer::store`] / [`TestServer::enroll`]: a real `sidak_store::Store` device,
//!   enrolled through `sidak_client`.
//! - [`pg`]: fresh PostgreSQL databases (`sidak_server_storage::testing`).
//! - [`artifacts`]: the folder where tests keep what a person looks at afterwards
//!   (screenshots, rendered pages); [`tools_available`]: the rule for tests that need a
//!   program installed (skipped with a message without it, failed under `CI=true`).
//! - `browser` (feature `browser`): headless Chromium through chromedriver for the
//!   dashboard's tests, with waits for what the page shows and screenshots.
//!
//! Use it only as a dev-dependency of integration tests and benches: a crate's unit tests
//! (`src/`) would see a second copy of that crate's types.

#[cfg(feature = "browser")]
pub mod browser;
mod device;
mod server;

pub use device::{TestDevice, villages};
pub use server::{
    ADMIN_PASSWORD, Backend, BlobBackend, TestServer, TestTls, Wire, backends, blob_backends,
};
/// Fresh PostgreSQL databases for tests: [`pg::database_url`], [`pg::TestDatabase`].
pub use sidak_server_storage::testing as pg;
pub use sidak_server_storage::testing::{TestDatabase, database_url};

/// Asserts an error answer: `status`, the stable `code`, and a message a person can act on.
pub fn assert_code(got: &(u16, serde_json::Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| m.len() > 10),
        "{}",
        got.1
    );
}

/// The folder for test artifacts, `<target>/artifacts` (`CARGO_TARGET_DIR` when set, else the
/// workspace's `target`), made if missing.
pub fn artifacts() -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Whether every program in `tools` is installed (found at that path, or on the `PATH` and
/// runnable with `-v`). Without one, a test asks this to skip with a message naming
/// `install` (what to install) and `what` (the test); under `CI=true` it panics instead, so
/// nothing is skipped silently in CI.
pub fn tools_available(tools: &[&str], install: &str, what: &str) -> bool {
    let found = tools.iter().all(|t| {
        (std::path::Path::new(t).is_absolute() && std::path::Path::new(t).exists())
            || std::process::Command::new(t)
                .arg("-v")
                .output()
                .is_ok_and(|o| o.status.success() || !o.stderr.is_empty())
    });
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} are needed in CI ({install})",
            tools.join(", ")
        );
        println!(
            "SKIPPED: {} missing; {install} to run {what}",
            tools.join(" or ")
        );
    }
    found
}
