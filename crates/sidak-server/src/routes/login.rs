//! Office users: `POST /v1/login` (password → session token), `POST /v1/logout`, `GET /v1/me`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;

use crate::answers::admin::{LoginResponse, User};
use crate::error::ApiError;
use crate::extract::{Body, Message, Office};
use crate::secrets;
use crate::state::AppState;

/// `POST /v1/login` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl Message for LoginRequest {
    const VERSIONED: bool = false;
}

/// Checks the password (Argon2, on a blocking thread) and opens a session. Unknown users
/// and wrong passwords get the same answer, so a caller cannot probe for user names.
pub async fn login(
    State(state): State<AppState>,
    Body(req): Body<LoginRequest>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    let user = state.storage.find_user(&req.username).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => secrets::verify_password(&password, &h),
        None => {
            // Spend the same time as a real check so timing does not reveal unknown names.
            let _ = secrets::hash_password(&password);
            false
        }
    })
    .await
    .map_err(ApiError::internal)?;
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            tracing::warn!(username = %req.username.chars().take(64).collect::<String>(), "failed login");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong user name or password",
            ));
        }
    };
    let token = secrets::new_token(secrets::SESSION_TOKEN_PREFIX);
    let now = state.now_ms();
    let expires_ms = now + state.config.session_ttl.as_millis() as u64;
    state
        .storage
        .create_session(
            &secrets::hash_token(&token),
            &user.username,
            now,
            expires_ms,
        )
        .await?;
    tracing::info!(username = %user.username, role = user.role.as_str(), "login");
    Ok(axum::Json(LoginResponse {
        token,
        username: user.username,
        role: user.role.into(),
        expires_ms,
    }))
}

/// `POST /v1/logout`: ends the caller's session.
pub async fn logout(
    State(state): State<AppState>,
    _user: Office,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or("")
        .trim();
    state
        .storage
        .delete_session(&secrets::hash_token(token))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me`: who the session belongs to.
pub async fn me(Office(user): Office) -> axum::Json<User> {
    axum::Json(user.into())
}
