//! `/v1/admin/...`: officers and their scopes, enrollment codes, devices, users.
//!
//! Admins may do everything here; supervisors may read the lists; officers nothing.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use sidak_core::DeviceId;

use crate::answers::admin::{self as answer, Device, IssuedCode, User};
use crate::error::ApiError;
use crate::extract::{Body, Message, Office};
use crate::secrets;
use crate::state::AppState;
use sidak_server_storage::sync::scope;
use sidak_server_storage::{Officer, Role, UserRecord};

/// Shortest password accepted for an office user.
const MIN_PASSWORD_LEN: usize = 10;

/// Longest enrollment code lifetime an admin may ask for: a code is a credential, so it
/// should not lie around for long.
const MAX_ENROLLMENT_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

const READERS: &[Role] = &[Role::Admin, Role::Supervisor];
pub(crate) const ADMINS: &[Role] = &[Role::Admin];

fn check_name(what: &str, s: &str, max: usize) -> Result<(), ApiError> {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_message(format!(
            "{what} must be 1 to {max} characters of letters, digits, '.', '_' or '-'"
        )))
    }
}

fn check_scope(prefixes: &[String]) -> Result<Vec<String>, ApiError> {
    scope::normalize(prefixes)
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "invalid_scope", m))
}

/// `POST /v1/admin/officers` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOfficer {
    /// Id (employee number); generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Region code prefixes.
    pub scope: Vec<String>,
}

impl Message for NewOfficer {
    const VERSIONED: bool = false;
}

/// Creates an officer with a scope.
pub async fn create_officer(
    State(state): State<AppState>,
    office: Office,
    Body(req): Body<NewOfficer>,
) -> Result<(StatusCode, axum::Json<answer::Officer>), ApiError> {
    office.require(ADMINS)?;
    let id = req.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    check_name("officer id", &id, 64)?;
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_message(
            "name must be 1 to 200 characters",
        ));
    }
    let officer = Officer {
        id,
        name,
        scope: check_scope(&req.scope)?,
    };
    state
        .storage
        .create_officer(officer.clone(), state.now_ms())
        .await?;
    tracing::info!(officer = %officer.id, scope = ?officer.scope, by = %office.0.username, "officer created");
    Ok((StatusCode::CREATED, axum::Json(officer.into())))
}

/// Lists officers.
pub async fn list_officers(
    State(state): State<AppState>,
    office: Office,
) -> Result<axum::Json<Vec<answer::Officer>>, ApiError> {
    office.require(READERS)?;
    let officers = state.storage.officers().await?;
    Ok(axum::Json(officers.into_iter().map(Into::into).collect()))
}

/// One officer.
pub async fn get_officer(
    State(state): State<AppState>,
    office: Office,
    crate::extract::PathId(id): crate::extract::PathId,
) -> Result<axum::Json<answer::Officer>, ApiError> {
    office.require(READERS)?;
    let o = state.storage.officer(&id).await?;
    o.map(|o| axum::Json(o.into()))
        .ok_or_else(|| ApiError::not_found(format!("officer {id} not found")))
}

/// `PUT /v1/admin/officers/{id}/scope` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeChange {
    /// The new scope (replaces the old one).
    pub scope: Vec<String>,
}

impl Message for ScopeChange {
    const VERSIONED: bool = false;
}

/// Replaces an officer's scope; the officer's devices backfill or purge at their next pull.
pub async fn set_scope(
    State(state): State<AppState>,
    office: Office,
    crate::extract::PathId(id): crate::extract::PathId,
    Body(req): Body<ScopeChange>,
) -> Result<axum::Json<answer::Officer>, ApiError> {
    office.require(ADMINS)?;
    let scope = check_scope(&req.scope)?;
    let o = state.storage.set_scope(&id, scope, state.now_ms()).await?;
    tracing::info!(officer = %o.id, scope = ?o.scope, by = %office.0.username, "scope changed");
    Ok(axum::Json(o.into()))
}

/// `POST /v1/admin/officers/{id}/enrollment-codes` body (may be empty JSON `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Lifetime in minutes (default from the configuration).
    #[serde(default)]
    pub ttl_minutes: Option<u64>,
}

impl Message for CodeRequest {
    const VERSIONED: bool = false;
}

/// Issues a one-time enrollment code for an officer.
pub async fn issue_code(
    State(state): State<AppState>,
    office: Office,
    crate::extract::PathId(id): crate::extract::PathId,
    Body(req): Body<CodeRequest>,
) -> Result<(StatusCode, axum::Json<IssuedCode>), ApiError> {
    office.require(ADMINS)?;
    let ttl = match req.ttl_minutes {
        None => state.config.enrollment_ttl,
        Some(m)
            if m >= 1
                && m.checked_mul(60)
                    .is_some_and(|s| Duration::from_secs(s) <= MAX_ENROLLMENT_TTL) =>
        {
            Duration::from_secs(m.saturating_mul(60))
        }
        Some(_) => {
            return Err(ApiError::invalid_message(format!(
                "ttl_minutes must be 1 to {}",
                MAX_ENROLLMENT_TTL.as_secs() / 60
            )));
        }
    };
    let code = secrets::new_enrollment_code();
    let now = state.now_ms();
    let expires_ms = now + ttl.as_millis() as u64;
    state
        .storage
        .create_enrollment_code(&secrets::hash_code(&code), &id, now, expires_ms)
        .await?;
    tracing::info!(officer = %id, by = %office.0.username, "enrollment code issued");
    Ok((
        StatusCode::CREATED,
        axum::Json(IssuedCode {
            code,
            officer_id: id,
            expires_ms,
        }),
    ))
}

/// Lists devices with their last sync, reported pending counts and revocation.
pub async fn list_devices(
    State(state): State<AppState>,
    office: Office,
) -> Result<axum::Json<Vec<Device>>, ApiError> {
    office.require(READERS)?;
    let devices = state.storage.devices().await?;
    Ok(axum::Json(devices.into_iter().map(Device::from).collect()))
}

/// Walks the whole log (docs/evidence.md, *Audit*): each op's log link, each signed op's hash
/// in its writer's sealed run, each seal's signature; names the first bad entry.
pub async fn audit(
    State(state): State<AppState>,
    office: Office,
) -> Result<axum::Json<sidak_server_storage::evidence::AuditReport>, ApiError> {
    office.require(ADMINS)?;
    let report = sidak_server_storage::evidence::audit(state.storage.as_ref()).await?;
    match &report.first_bad {
        Some((seq, why)) => tracing::warn!(seq, why = %why, "audit found a bad log entry"),
        None => tracing::info!(ops = report.ops, "audit passed"),
    }
    Ok(axum::Json(report))
}

/// Revokes a device: its token stops working at once (401 `device_revoked`).
pub async fn revoke_device(
    State(state): State<AppState>,
    office: Office,
    crate::extract::PathId(id): crate::extract::PathId,
) -> Result<axum::Json<Device>, ApiError> {
    office.require(ADMINS)?;
    let device: DeviceId = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("device {id:?} not found")))?;
    let info = state.storage.revoke_device(device, state.now_ms()).await?;
    tracing::warn!(device = %device, by = %office.0.username, "device revoked");
    Ok(axum::Json(info.into()))
}

/// `POST /v1/admin/users` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Password (at least 10 characters).
    pub password: String,
    /// Role.
    pub role: answer::Role,
}

impl Message for NewUser {
    const VERSIONED: bool = false;
}

/// Creates an office user.
pub async fn create_user(
    State(state): State<AppState>,
    office: Office,
    Body(req): Body<NewUser>,
) -> Result<(StatusCode, axum::Json<User>), ApiError> {
    office.require(ADMINS)?;
    check_name("username", &req.username, 64)?;
    if req.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::invalid_message(format!(
            "password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let role = Role::from(req.role);
    let record = UserRecord {
        username: req.username.clone(),
        password_hash: hash,
        role,
    };
    state.storage.create_user(record, state.now_ms()).await?;
    tracing::info!(username = %req.username, role = role.as_str(), by = %office.0.username, "user created");
    Ok((
        StatusCode::CREATED,
        axum::Json(User {
            username: req.username,
            role: req.role,
        }),
    ))
}
