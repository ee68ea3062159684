//! sidak's sync server: protocol v1 over HTTP for field devices, and the admin API that runs it.
//!
//! The parts, from the edge inwards:
//!
//! - [`app`] builds the axum `Router`; [`run`] opens the database and serves a listener
//!   until a shutdown signal, finishing requests in flight.
//! - `routes`: one file per endpoint family (health, enroll, push, pull, sync, blobs, login,
//!   admin);
//!   `extract` reads JSON bodies (decompressed, size-limited, strict) and bearer credentials;
//!   `error::ApiError` turns every failure into a status and `{code, message}`;
//!   `limits` refuses oversized requests before routing and gives hyper's own answers to
//!   unreadable requests our error body too.
//! - [`office`]: the `/v1/office` API and the dashboard ([`office::ROUTES`] lists its endpoints).
//! - [`answers`]: the typed answers of the login, admin and office endpoints, built by hand
//!   from the storage types (the sync protocol's messages are `sidak_core::protocol`).
//! - `secrets`: tokens, enrollment codes and passwords, stored only as hashes.
//! - [`config`]: the [`Config`] and its defaults; [`AppState`]: what every handler shares.
//! - `tls`: HTTPS without a proxy: [`TlsConfig`] (certificate and key from PEM) and the
//!   listener behind [`run_tls`]/[`serve_tls`], which finishes handshakes off the accept
//!   loop and answers plain HTTP on the HTTPS port with `tls_required` or a redirect.
//!
//! The public surface is what the `sidak` binary and the tests use: [`app`], [`prepare`],
//! [`serve`], [`run`], [`serve_tls`], [`run_tls`], [`TlsConfig`], [`Config`], [`AppState`], [`ServerError`], the answers, the office
//! route list, and the storage port's [`Storage`] and [`StorageError`] they are built on.
//!
//! Below this crate, and never importing it: `sidak-server-storage`, the storage port
//! (`Storage` = `SyncStore` + `OfficeStore`), the pure sync and office rules (what a pushed op
//! becomes, what a pull page holds, what an office write does) and the SQLite and PostgreSQL
//! backends. This crate is HTTP only: routes, extractors, the one error-to-response place.
//!
//! `docs/protocol.md` is the contract this crate serves; `proto/schema` its JSON Schemas.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::trace::TraceLayer;

pub mod answers;
pub mod config;
mod error;
mod extract;
mod limits;
pub mod office;
mod routes;
mod secrets;
mod state;
pub mod targets;
mod tls;

pub use config::Config;
pub use sidak_server_storage::{Storage, StorageError};
pub use state::AppState;
pub use tls::{HANDSHAKE_TIMEOUT, TlsConfig, TlsError};

use error::ApiError;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The database could not be opened or prepared.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The listener failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Hashing the bootstrap password failed.
    #[error("bootstrap admin: {0}")]
    Bootstrap(String),
}

/// The whole HTTP application over `state`.
///
/// Layers, outermost first: tracing of every request; panics turned into 500 `internal`
/// (the process keeps serving); the head limits (`limits::refuse_oversized`: URI,
/// headers, and a `Content-Length` over the body limit answered 413 at once, before the
/// timeout starts and before any body is read); the request timeout (503 `timeout`);
/// response compression by `Accept-Encoding` (gzip, zstd); the body size limit that the
/// JSON extractor applies before and after undoing `Content-Encoding`.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    office::throttle_logins(routes::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .zstd(true)
                .compress_when(DefaultPredicate::new().and(not_ranged)),
        )
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::refuse_oversized,
        ))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("handler panicked").into_response()
            },
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Answers that say `Accept-Ranges` (blobs) leave as stored: compressing them would make
/// their ranges, `Content-Length` and `ETag` name other bytes (and photos do not shrink).
fn not_ranged(
    _: axum::http::StatusCode,
    _: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _: &axum::http::Extensions,
) -> bool {
    !headers.contains_key(axum::http::header::ACCEPT_RANGES)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see docs/protocol.md")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit: Duration = state.config.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {} s; retry", limit.as_secs()),
        )
        .into_response(),
    }
}

/// Opens the storage named by `config.database` and the blob store of
/// [`Config::blob_location`], and creates the bootstrap admin on first start.
pub async fn prepare(config: Config) -> Result<AppState, ServerError> {
    let storage = sidak_server_storage::open(&config.database).await?;
    let location = config.blob_location();
    if config.blobs.is_none()
        && sidak_server_storage::blobs::default_location(&config.database).is_none()
    {
        tracing::warn!(blobs = %location, "no blob store given: blobs go to a folder of this instance; several instances need a shared one (--blobs s3://bucket/prefix)");
    }
    let s3 = config
        .s3
        .clone()
        .unwrap_or_else(sidak_server_storage::blobs::S3Settings::from_env);
    let blob_store = sidak_server_storage::blobs::open(&location, &s3)?;
    tracing::info!(blobs = %blob_store.location(), kind = blob_store.kind(), "blob store");
    let state = AppState::new(storage, blob_store, config);
    if let Some(password) = state.config.bootstrap_admin_password.clone() {
        let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&password))
            .await
            .map_err(|e| ServerError::Bootstrap(e.to_string()))?
            .map_err(ServerError::Bootstrap)?;
        let user = sidak_server_storage::UserRecord {
            username: state.config.bootstrap_admin_username.clone(),
            password_hash: hash,
            role: sidak_server_storage::Role::Admin,
        };
        if state.storage.bootstrap_user(user, state.now_ms()).await? {
            tracing::info!(username = %state.config.bootstrap_admin_username, "bootstrap admin created");
        }
    }
    Ok(state)
}

/// Serves `listener` with `config` until `shutdown` completes, then finishes the requests in flight.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let state = prepare(config).await?;
    serve(listener, state, shutdown).await
}

/// Serves `listener` over an already prepared state (tests and the `sidak` binary use it to
/// hold on to the storage).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    tracing::info!(addr = ?listener.local_addr().ok(), storage = state.storage.engine(), "serving");
    let _gc = BlobCollector::spawn(&state);
    let _sealer = LogSealer::spawn(&state);
    // The listener gives hyper's own answers to unreadable requests our error body.
    axum::serve(limits::JsonErrorListener(listener), app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// [`run`] over HTTPS: serves `listener` with `tls` until `shutdown` completes, then finishes
/// the requests in flight. Plain HTTP on the port is answered `tls_required` or redirected.
pub async fn run_tls(
    listener: TcpListener,
    config: Config,
    tls: TlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let state = prepare(config).await?;
    serve_tls(listener, state, tls, shutdown).await
}

/// [`serve`] over HTTPS, on an already prepared state.
pub async fn serve_tls(
    listener: TcpListener,
    state: AppState,
    tls: TlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = tls::TlsListener::new(listener, tls)?;
    tracing::info!(addr = ?axum::serve::Listener::local_addr(&listener).ok(), storage = state.storage.engine(), "serving https");
    let _gc = BlobCollector::spawn(&state);
    let _sealer = LogSealer::spawn(&state);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// The periodic blob collection of a serving instance ([`Config::blob_gc_every`]); stopped
/// when dropped, so it ends with the server. Every instance may run it: collection is one
/// transaction that the database serialises, and deleting bytes twice is harmless.
struct BlobCollector(Option<tokio::task::JoinHandle<()>>);

impl BlobCollector {
    fn spawn(state: &AppState) -> BlobCollector {
        let Some(every) = state.config.blob_gc_every else {
            return BlobCollector(None);
        };
        let state = state.clone();
        BlobCollector(Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            // The first tick is at once: wait one period, so a start is not slowed by it.
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = state.blobs.collect(state.now_ms()).await {
                    tracing::warn!(error = %e, "blob collection failed; will retry");
                }
            }
        })))
    }
}

/// Links the log every few seconds ([`sidak_server_storage::EvidenceStore::log_root`]): on
/// PostgreSQL the links are filled after commit, so the log's end stays close to its last op;
/// on SQLite ops are linked when appended and this only reads the end. Stopped when dropped.
struct LogSealer(tokio::task::JoinHandle<()>);

/// How often the log is linked.
const SEAL_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl LogSealer {
    fn spawn(state: &AppState) -> LogSealer {
        let state = state.clone();
        LogSealer(tokio::spawn(async move {
            let mut tick = tokio::time::interval(SEAL_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = state.storage.log_root().await {
                    tracing::warn!(error = %e, "linking the log failed; will retry");
                }
            }
        }))
    }
}

impl Drop for LogSealer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Drop for BlobCollector {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
        }
    }
}
