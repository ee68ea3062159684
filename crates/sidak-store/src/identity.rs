//! Who the device is: its id, officer, server and token, set once it is enrolled.

use rusqlite::{Connection, params};
use sidak_core::DeviceId;
use sidak_core::protocol::EnrollResponse;

use crate::error::{Result, StoreError};

/// The device's identity, given by the server on enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The device's id; it stamps every op.
    pub device_id: DeviceId,
    /// The officer the device belongs to.
    pub officer_id: String,
    /// The officer's name, for display.
    pub officer_name: String,
    /// The server's base URL (`https://host`, without `/v1`).
    pub server_url: String,
    /// The bearer token (kept in the device's file; the server keeps only its hash).
    pub token: String,
    /// Region code prefixes the device may read and write.
    pub scope: Vec<String>,
}

impl Identity {
    /// The identity an enrollment answer gives, for the server at `server_url`.
    pub fn from_enrollment(server_url: impl Into<String>, r: &EnrollResponse) -> Self {
        Identity {
            device_id: r.device_id,
            officer_id: r.officer_id.clone(),
            officer_name: r.officer_name.clone(),
            server_url: server_url.into(),
            token: r.token.clone(),
            scope: r.scope.clone(),
        }
    }

    /// Whether `region` lies within the device's scope.
    pub fn covers(&self, region: &str) -> bool {
        self.scope.iter().any(|p| region.starts_with(p.as_str()))
    }
}

type Row = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// Reads the identity; `None` before enrollment.
pub(crate) fn read(conn: &Connection) -> Result<Option<Identity>> {
    let row: Row = conn.query_row(
        "SELECT device_id, officer_id, officer_name, server_url, token, scope FROM device WHERE one = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
    )?;
    let (Some(device), officer_id, officer_name, server_url, token, scope) = row else {
        return Ok(None);
    };
    let device_id = device
        .parse()
        .map_err(|e| StoreError::corrupt("device id", e))?;
    let scope: Vec<String> =
        serde_json::from_str(&scope).map_err(|e| StoreError::corrupt("device scope", e))?;
    Ok(Some(Identity {
        device_id,
        officer_id: officer_id.unwrap_or_default(),
        officer_name: officer_name.unwrap_or_default(),
        server_url: server_url.unwrap_or_default(),
        token: token.unwrap_or_default(),
        scope,
    }))
}

/// Writes the identity; refuses to change the device id while own edits are not acknowledged.
pub(crate) fn write(conn: &Connection, id: &Identity) -> Result<()> {
    if let Some(current) = read(conn)?
        && current.device_id != id.device_id
    {
        let unsent: i64 = conn.query_row(
            "SELECT count(*) FROM ops WHERE state != ?1",
            [crate::sync::ACKED],
            |r| r.get(0),
        )?;
        if unsent > 0 {
            return Err(StoreError::IdentityConflict {
                current: current.device_id.to_string(),
                new: id.device_id.to_string(),
            });
        }
        // A new enrollment (perhaps for another officer): nothing of the old device's stays
        // visible. Every edit of its own is on the server (checked above), so what it holds
        // is the old officer's area; the new one pulls its own area from the start.
        conn.execute_batch(
            "DELETE FROM ops; DELETE FROM records; DELETE FROM quarantine; DELETE FROM batch;
             UPDATE device SET pull_cursor = '', next_batch_seq = 1, pulled_ms = 0, pulled_counter = 0,
                 server_time_ms = NULL, check_hlc = NULL, curable_cursor = NULL WHERE one = 1;",
        )?;
        crate::chain::reset(conn)?;
    }
    let scope =
        serde_json::to_string(&id.scope).map_err(|e| StoreError::corrupt("device scope", e))?;
    conn.execute(
        "UPDATE device SET device_id = ?1, officer_id = ?2, officer_name = ?3, server_url = ?4, token = ?5, scope = ?6
         WHERE one = 1",
        params![id.device_id.to_string(), id.officer_id, id.officer_name, id.server_url, id.token, scope],
    )?;
    Ok(())
}

/// Writes only the scope (as a pulled page reports it).
pub(crate) fn write_scope(conn: &Connection, scope: &[String]) -> Result<()> {
    let scope = serde_json::to_string(scope).map_err(|e| StoreError::corrupt("device scope", e))?;
    conn.prepare_cached("UPDATE device SET scope = ?1 WHERE one = 1")?
        .execute([scope])?;
    Ok(())
}
