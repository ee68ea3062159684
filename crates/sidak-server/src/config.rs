//! The server's configuration: a plain struct the `sidak` binary fills from flags and environment.

use std::net::SocketAddr;
use std::time::Duration;

use sidak_core::protocol;
use sidak_server_storage::attachments::DEFAULT_GRACE_MS;
use sidak_server_storage::blobs::S3Settings;

/// Largest request body, after decompression: a full push batch ([`protocol::MAX_BATCH_BYTES`])
/// plus room for JSON overhead and the device status, so a well-formed batch always fits.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How long an office session lasts: one working day, so a supervisor logs in each morning.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// How long an enrollment code stays valid: long enough to hand it to an officer in the field.
pub const DEFAULT_ENROLLMENT_TTL: Duration = Duration::from_secs(72 * 60 * 60);

/// Longest a request may run: a push batch or a pull page takes milliseconds, so this only
/// cuts off a stuck client or a wedged database without holding a worker forever.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an unreferenced blob or an abandoned upload is kept (docs/protocol.md,
/// *What the server keeps*).
pub const DEFAULT_BLOB_GRACE: Duration = Duration::from_millis(DEFAULT_GRACE_MS);

/// How often the server collects blobs: hourly is cheap (one indexed query) and keeps the
/// grace period accurate to the hour.
pub const DEFAULT_BLOB_GC_EVERY: Duration = Duration::from_secs(60 * 60);

/// The server's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the binary binds (tests bind their own listener and ignore it).
    pub listen: SocketAddr,
    /// Where the data lives: `sqlite:FILE` (the default, `sqlite:sidak.sqlite` in the working directory).
    pub database: String,
    /// Largest request body accepted, in bytes, after `Content-Encoding` is undone.
    pub max_body_bytes: usize,
    /// Ops per pull page when the device does not ask for a number.
    pub default_page_ops: u32,
    /// Most ops per pull page, whatever the device asks.
    pub max_page_ops: u32,
    /// Most bytes of ops (uncompressed JSON) per pull page.
    pub max_page_bytes: usize,
    /// How far ahead of the server's clock an op may be stamped before it is set aside.
    pub max_clock_skew_ms: u64,
    /// How long an office session token is valid.
    pub session_ttl: Duration,
    /// How long an enrollment code is valid when the admin does not say.
    pub enrollment_ttl: Duration,
    /// Longest a request may run before it is answered 503 `timeout`.
    pub request_timeout: Duration,
    /// The office user created at first start when no user exists yet.
    pub bootstrap_admin_username: String,
    /// Its password; with `None` no user is created and the admin must be made another way.
    pub bootstrap_admin_password: Option<String>,
    /// Where complete blobs live: a folder, or `s3://bucket/prefix`. `None`: a folder beside
    /// a SQLite database (`<file>.blobs`); with PostgreSQL, `sidak.blobs` in the working
    /// directory (several instances need a shared location: give one).
    pub blobs: Option<String>,
    /// How an `s3://` blob store is reached; `None` reads the `AWS_*` environment variables.
    pub s3: Option<S3Settings>,
    /// Largest blob accepted, in bytes (at most `sidak_core::attachment::MAX_BLOB_BYTES`).
    pub max_blob_bytes: u64,
    /// How long an unreferenced complete blob, or an upload nobody continues, is kept.
    pub blob_grace: Duration,
    /// How often blobs are collected while serving (`None`: never; tests call it themselves).
    pub blob_gc_every: Option<Duration>,
    /// Potential informal workers per area, for the coverage report's share
    /// (`data/coverage-targets.csv` unless the branch gives its own).
    pub coverage_targets: crate::targets::Targets,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: "sqlite:sidak.sqlite".to_owned(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            default_page_ops: protocol::DEFAULT_PAGE_OPS,
            max_page_ops: protocol::MAX_PAGE_OPS,
            max_page_bytes: protocol::MAX_PAGE_BYTES,
            max_clock_skew_ms: protocol::DEFAULT_MAX_CLOCK_SKEW_MS,
            session_ttl: DEFAULT_SESSION_TTL,
            enrollment_ttl: DEFAULT_ENROLLMENT_TTL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            bootstrap_admin_username: "admin".to_owned(),
            bootstrap_admin_password: None,
            blobs: None,
            s3: None,
            max_blob_bytes: sidak_core::attachment::MAX_BLOB_BYTES,
            blob_grace: DEFAULT_BLOB_GRACE,
            blob_gc_every: Some(DEFAULT_BLOB_GC_EVERY),
            coverage_targets: crate::targets::Targets::shipped(),
        }
    }
}

impl Config {
    /// Where blobs live under this configuration (see [`Config::blobs`]).
    pub fn blob_location(&self) -> String {
        self.blobs
            .clone()
            .or_else(|| sidak_server_storage::blobs::default_location(&self.database))
            .unwrap_or_else(|| "sidak.blobs".to_owned())
    }
}
