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
//!
//! Use it only as a dev-dependency of integration tests and benches: a crate's unit tests
//! (`src/`) would see a second copy of that crate's types.

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
