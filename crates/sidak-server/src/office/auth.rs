//! The extractor every office endpoint starts with: an office session of a supervisor or admin.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::extract::Office;
use crate::state::AppState;
use sidak_server_storage::office::model::Actor;
use sidak_server_storage::{Role, User};

/// Roles that may use the office API.
const OFFICE_ROLES: &[Role] = &[Role::Admin, Role::Supervisor];

/// A logged-in supervisor or admin. Anonymous calls and device tokens get 401, officers 403,
/// before any other part of the request (path, query, body) is read.
#[derive(Debug, Clone)]
pub struct Supervisor(pub User);

impl Supervisor {
    /// The actor their writes are stamped by.
    pub fn actor(&self) -> Actor {
        Actor {
            username: self.0.username.clone(),
            device: sidak_server_storage::office::actor_id(&self.0.username),
        }
    }

    /// Whether they are an admin (who alone may see unmasked NIKs).
    pub fn is_admin(&self) -> bool {
        self.0.role == Role::Admin
    }

    /// Whether NIKs are shown whole: only when an admin asks, and then it is logged.
    pub fn unmask(&self, asked: bool, what: &str) -> Result<bool, ApiError> {
        if !asked {
            return Ok(false);
        }
        if !self.is_admin() {
            return Err(ApiError::forbidden(
                "only an admin may see unmasked NIKs (personal data, UU 27/2022)",
            ));
        }
        tracing::warn!(target: "audit", username = %self.0.username, what, "unmasked NIK access");
        Ok(true)
    }
}

impl FromRequestParts<AppState> for Supervisor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let office = Office::from_request_parts(parts, state).await?;
        office.require(OFFICE_ROLES)?;
        Ok(Supervisor(office.0))
    }
}
