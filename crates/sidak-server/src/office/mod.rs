//! The central office: the `/v1/office` API for supervisors and admins, and the dashboard.
//!
//! The parts:
//!
//! - The reads and writes are `sidak_server_storage::OfficeStore`, half of every backend's
//!   `Storage`; the pure rules they share (facts, writes, history) live beside it.
//! - One file per endpoint family: `records` (list, detail, history), `attachments` (a
//!   record's photos and documents, location stripped, and their previews), `report` (a
//!   visit's printable inspection report), `conflicts`
//!   (inbox, resolve), `duplicates` (suspects, link), `review` (queue, approve/return),
//!   `set_aside` (list, accept, discard), `enforcement` (companies' cases and deadlines),
//!   `coverage` (report, overview), `devices`
//!   (health), `export` (streamed CSV); `openapi` describes them all.
//! - `dashboard`: the HTML page at `/` with its script and style, no build step.
//! - `login_limit`: the in-memory throttle of `POST /v1/login`.
//! - `auth`: the [`auth::Supervisor`] extractor every office endpoint starts with
//!   (401 without an office session, 403 for officers).
//!
//! Office writes are ops: each office user writes as an actor with a stable id
//! (`sidak_server_storage::office::actor_id`), so resolutions, reviews and links go into the op log with a sequence
//! number and reach the devices of the area at their next pull. `docs/office.md` is the
//! guide for supervisors and backend authors.

use axum::Router;
use axum::routing::{get, post};
use sidak_server_storage::office::model::{OfficeAction, OfficeWrite, WriteRefused};

use crate::state::AppState;

mod attachments;
mod auth;
mod conflicts;
mod coverage;
mod dashboard;
mod devices;
mod duplicates;
mod enforcement;
mod evidence;
mod export;
mod login_limit;
mod openapi;
mod params;
mod records;
mod report;
mod review;
mod set_aside;

pub(crate) use login_limit::throttle_logins;

/// One office endpoint, as the router, the OpenAPI description and the security test see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path with `{param}` placeholders.
    pub path: &'static str,
    /// One line for the OpenAPI description.
    pub summary: &'static str,
}

const fn r(method: &'static str, path: &'static str, summary: &'static str) -> Route {
    Route {
        method,
        path,
        summary,
    }
}

/// Every `/v1/office` endpoint (all need a supervisor or admin session).
pub const ROUTES: &[Route] = &[
    r(
        "GET",
        "/v1/office/overview",
        "Headline numbers of the dashboard",
    ),
    r(
        "GET",
        "/v1/office/records",
        "List and filter records, newest change first",
    ),
    r(
        "GET",
        "/v1/office/records/{id}",
        "A record's current values",
    ),
    r(
        "GET",
        "/v1/office/records/{id}/history",
        "Every change of a record, in log order",
    ),
    r(
        "GET",
        "/v1/office/records/{id}/attachments/{hash}",
        "A record's photo or document, its embedded location removed unless an admin asks",
    ),
    r(
        "GET",
        "/v1/office/records/{id}/attachments/{hash}/thumbnail",
        "A JPEG preview of a record's photo",
    ),
    r(
        "GET",
        "/v1/office/records/{id}/report.pdf",
        "A visit's printable inspection report (PDF)",
    ),
    r(
        "GET",
        "/v1/office/records/{id}/evidence",
        "A record's evidence bundle: ops, seals, keys, decisions, attachment hashes and the log root, sealed by the server (`sidak verify` checks it)",
    ),
    r(
        "GET",
        "/v1/office/log/root",
        "The server log's end (last sequence number and link) and the server's public key",
    ),
    r(
        "POST",
        "/v1/office/records/{id}/resolve",
        "Resolve a field in conflict",
    ),
    r(
        "POST",
        "/v1/office/records/{id}/review",
        "Approve or return a visit or registration",
    ),
    r(
        "GET",
        "/v1/office/conflicts",
        "Records whose fields hold competing values",
    ),
    r(
        "GET",
        "/v1/office/duplicates",
        "Workers sharing a NIK, companies sharing a NIB",
    ),
    r(
        "POST",
        "/v1/office/duplicates/link",
        "Mark one record as a duplicate of another",
    ),
    r(
        "GET",
        "/v1/office/review",
        "Visits and registrations waiting for review",
    ),
    r(
        "POST",
        "/v1/office/review",
        "Approve or return a selection of the review queue at once",
    ),
    r(
        "GET",
        "/v1/office/set-aside",
        "Ops set aside because their device clock ran ahead",
    ),
    r(
        "POST",
        "/v1/office/set-aside/{id}/accept",
        "Merge a set-aside op with a corrected stamp",
    ),
    r(
        "POST",
        "/v1/office/set-aside/{id}/discard",
        "Close a set-aside op without merging it",
    ),
    r(
        "GET",
        "/v1/office/enforcement",
        "Each visited company's case: stage, open findings, deadline, who it waits on, its visits",
    ),
    r(
        "GET",
        "/v1/office/coverage",
        "Coverage per regency or district",
    ),
    r("GET", "/v1/office/devices", "Device health"),
    r(
        "GET",
        "/v1/office/export.csv",
        "CSV export of records of a kind (streamed)",
    ),
];

/// The office API, the OpenAPI description and the dashboard's files.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/dashboard.js", get(dashboard::script))
        .route("/dashboard.css", get(dashboard::style))
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/v1/office/overview", get(coverage::overview))
        .route("/v1/office/records", get(records::list))
        .route("/v1/office/records/{id}", get(records::detail))
        .route("/v1/office/records/{id}/history", get(records::history))
        .route("/v1/office/records/{id}/report.pdf", get(report::pdf))
        .route("/v1/office/records/{id}/evidence", get(evidence::bundle))
        .route("/v1/office/log/root", get(evidence::root))
        .route(
            "/v1/office/records/{id}/attachments/{hash}",
            get(attachments::bytes),
        )
        .route(
            "/v1/office/records/{id}/attachments/{hash}/thumbnail",
            get(attachments::thumbnail),
        )
        .route("/v1/office/records/{id}/resolve", post(conflicts::resolve))
        .route("/v1/office/records/{id}/review", post(review::decide))
        .route("/v1/office/conflicts", get(conflicts::inbox))
        .route("/v1/office/duplicates", get(duplicates::list))
        .route("/v1/office/duplicates/link", post(duplicates::link))
        .route(
            "/v1/office/review",
            get(review::queue).post(review::decide_many),
        )
        .route("/v1/office/set-aside", get(set_aside::list))
        .route("/v1/office/set-aside/{id}/accept", post(set_aside::accept))
        .route(
            "/v1/office/set-aside/{id}/discard",
            post(set_aside::discard),
        )
        .route("/v1/office/coverage", get(coverage::report))
        .route("/v1/office/enforcement", get(enforcement::list))
        .route("/v1/office/devices", get(devices::health))
        .route("/v1/office/export.csv", get(export::csv))
}

/// Performs an office write and answers with what it wrote; refusals become 404, 409 or 400.
async fn perform(
    state: &AppState,
    who: &auth::Supervisor,
    action: OfficeAction,
    note: Option<String>,
) -> Result<axum::Json<crate::answers::office::WriteOutcome>, crate::error::ApiError> {
    use crate::error::ApiError;
    use axum::http::StatusCode;
    let write = OfficeWrite {
        actor: who.actor(),
        action,
        note,
    };
    let summary = write.action.log_line();
    match state.storage.office_write(write, state.now_ms()).await? {
        Ok(outcome) => {
            tracing::info!(username = %who.0.username, action = %summary, ops = outcome.ops.len(), "office write");
            Ok(axum::Json(outcome.into()))
        }
        Err(WriteRefused::NotFound(what)) => Err(ApiError::not_found(format!("{what} not found"))),
        Err(WriteRefused::Stale(m)) => Err(ApiError::new(StatusCode::CONFLICT, "stale", m)),
        Err(WriteRefused::Invalid(m)) => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_action", m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_documents_every_route() {
        let spec = openapi::spec();
        for route in ROUTES {
            let m = route.method.to_ascii_lowercase();
            assert!(
                spec["paths"][route.path][&m].is_object(),
                "{} {} is not in the OpenAPI description",
                route.method,
                route.path
            );
        }
    }
}
