//! The HTTP endpoints, one file per family, put together in [`router`].

use axum::Router;
use axum::routing::{get, post, put};

use crate::state::AppState;

pub mod admin;
pub mod blobs;
pub mod enroll;
pub mod health;
pub mod login;
pub mod pull;
pub mod push;
pub mod sync;
pub mod wipe;
pub mod writers;

/// Every route of protocol v1, the login and the admin API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/v1/info", get(health::info))
        .route("/v1/enroll", post(enroll::enroll))
        .route("/v1/push", post(push::handle))
        .route("/v1/pull", post(pull::handle))
        .route("/v1/sync", post(sync::handle))
        .route("/v1/device/wiped", post(wipe::wiped))
        .route("/v1/writers", post(writers::writers))
        .route("/v1/blobs/{hash}", post(blobs::start).get(blobs::download))
        .route("/v1/blobs/{hash}/chunks", put(blobs::chunk))
        .route("/v1/login", post(login::login))
        .route("/v1/logout", post(login::logout))
        .route("/v1/me", get(login::me))
        .route(
            "/v1/admin/officers",
            post(admin::create_officer).get(admin::list_officers),
        )
        .route("/v1/admin/officers/{id}", get(admin::get_officer))
        .route("/v1/admin/officers/{id}/scope", put(admin::set_scope))
        .route(
            "/v1/admin/officers/{id}/enrollment-codes",
            post(admin::issue_code),
        )
        .route("/v1/admin/devices", get(admin::list_devices))
        .route("/v1/admin/audit", get(admin::audit))
        .route("/v1/admin/devices/{id}/revoke", post(admin::revoke_device))
        .route("/v1/admin/devices/{id}/lost", post(wipe::lost))
        .route("/v1/admin/devices/{id}/retire", post(wipe::retire))
        .route("/v1/admin/users", post(admin::create_user))
        .merge(crate::office::router())
}
