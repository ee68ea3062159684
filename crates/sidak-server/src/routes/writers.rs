//! `POST /v1/writers`: the officers' names a phone needs to say who wrote a value.
//!
//! A phone sees other devices only as the ids in the stamps of the ops it pulls. This answers,
//! for the caller's area, which officer each of those devices belongs to: every device whose
//! officer's scope overlaps the caller's (one prefix inside the other), revoked devices
//! included (their edits stay in the records). Nothing outside the area is named.

use axum::extract::State;
use sidak_core::protocol::{Writer, WritersRequest, WritersResponse};

use crate::error::ApiError;
use crate::extract::{Body, Device, Message};
use crate::state::AppState;

impl Message for WritersRequest {
    const VERSIONED: bool = true;
    fn protocol(&self) -> u32 {
        self.protocol
    }
}

/// Whether two scopes share a region: a prefix of one holds a prefix of the other.
pub fn overlaps(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| {
        b.iter()
            .any(|y| x.starts_with(y.as_str()) || y.starts_with(x.as_str()))
    })
}

/// Answers the writers of the caller's area.
pub async fn writers(
    State(state): State<AppState>,
    Device(device): Device,
    Body(_req): Body<WritersRequest>,
) -> Result<axum::Json<WritersResponse>, ApiError> {
    let officers = state.storage.officers().await?;
    let Some(me) = officers.iter().find(|o| o.id == device.officer_id) else {
        return Err(ApiError::not_found(
            "this device's officer no longer exists",
        ));
    };
    let near: std::collections::HashMap<&str, &str> = officers
        .iter()
        .filter(|o| o.id == me.id || overlaps(&o.scope, &me.scope))
        .map(|o| (o.id.as_str(), o.name.as_str()))
        .collect();
    let writers = state
        .storage
        .devices()
        .await?
        .into_iter()
        .filter_map(|d| {
            near.get(d.officer_id.as_str()).map(|name| Writer {
                device_id: d.device_id,
                officer_id: d.officer_id.clone(),
                officer_name: (*name).to_owned(),
            })
        })
        .collect();
    Ok(axum::Json(WritersResponse { writers }))
}

#[cfg(test)]
mod tests {
    use super::overlaps;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn scopes_overlap_when_one_holds_the_other() {
        assert!(overlaps(&v(&["7371"]), &v(&["737101"])));
        assert!(overlaps(&v(&["737101"]), &v(&["73"])));
        assert!(overlaps(&v(&["7302", "7371"]), &v(&["7371011001"])));
        assert!(!overlaps(&v(&["7371"]), &v(&["7372"])));
        assert!(!overlaps(&v(&["737101"]), &v(&["737102"])));
        assert!(!overlaps(&v(&[]), &v(&["73"])));
    }
}
