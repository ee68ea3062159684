//! Answers of the login and admin endpoints: `/v1/login`, `/v1/me` and `/v1/admin/...`.
//!
//! Each is built by hand from the storage type it shows, so a field added to storage
//! does not reach the API until someone decides it should. The `sidak admin` command
//! and tests read them back, so they deserialize too.

use serde::{Deserialize, Serialize};
use sidak_core::DeviceId;
use sidak_core::protocol::DeviceStatus;
use sidak_server_storage as storage;

/// An office user's role as the API writes and reads it (`admin`, `supervisor`, `officer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages officers, devices and users.
    Admin,
    /// Reads everything and resolves conflicts.
    Supervisor,
    /// A field officer: works through devices, not the office API.
    Officer,
}

impl From<storage::Role> for Role {
    fn from(r: storage::Role) -> Self {
        match r {
            storage::Role::Admin => Role::Admin,
            storage::Role::Supervisor => Role::Supervisor,
            storage::Role::Officer => Role::Officer,
        }
    }
}

impl From<Role> for storage::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => storage::Role::Admin,
            Role::Supervisor => storage::Role::Supervisor,
            Role::Officer => storage::Role::Officer,
        }
    }
}

/// The answer to `POST /v1/login`: a new office session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Session token for `Authorization: Bearer`; shown once.
    pub token: String,
    /// The user.
    pub username: String,
    /// Their role.
    pub role: Role,
    /// When the session ends (ms since the Unix epoch).
    pub expires_ms: u64,
}

/// An office user: the answer to `GET /v1/me` and `POST /v1/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
}

impl From<storage::User> for User {
    fn from(u: storage::User) -> Self {
        User {
            username: u.username,
            role: u.role.into(),
        }
    }
}

/// An officer and their scope: the answer to creating, reading or re-scoping one
/// (and each item of `GET /v1/admin/officers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Officer {
    /// Stable id (employee number, or generated).
    pub id: String,
    /// Name shown in the office.
    pub name: String,
    /// Region code prefixes, sorted, none inside another.
    pub scope: Vec<String>,
}

impl From<storage::Officer> for Officer {
    fn from(o: storage::Officer) -> Self {
        Officer {
            id: o.id,
            name: o.name,
            scope: o.scope,
        }
    }
}

/// A new enrollment code: the answer to `POST /v1/admin/officers/{id}/enrollment-codes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCode {
    /// The code to type on the device; shown once, stored hashed.
    pub code: String,
    /// The officer the device will belong to.
    pub officer_id: String,
    /// When it stops working (ms since the Unix epoch).
    pub expires_ms: u64,
}

/// A device as the admin API lists it (`GET /v1/admin/devices`) and revokes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The device.
    pub device_id: DeviceId,
    /// Its officer.
    pub officer_id: String,
    /// Its name (`null` when it gave none).
    pub name: Option<String>,
    /// When it enrolled (ms since the Unix epoch).
    pub enrolled_ms: u64,
    /// When it last pushed or pulled (`null`: never).
    pub last_sync_ms: Option<u64>,
    /// When it was revoked (`null`: it was not).
    pub revoked_ms: Option<u64>,
    /// What it last reported about itself (`null` before its first push with a status).
    pub status: Option<DeviceStatus>,
    /// Its clock minus the server's at its last push that reported a clock, in ms.
    pub clock_offset_ms: Option<i64>,
    /// Ops it pushed that were set aside and are not yet resolved.
    pub set_aside: u64,
    /// The wipe ordered for it (`null`: none).
    pub wipe: Option<Wipe>,
}

/// A wipe the office ordered for a device, and how far it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wipe {
    /// `lost` (revoked, wiped at its next contact) or `retired` (pushes, then wipes).
    pub order: String,
    /// When it was ordered (ms since the Unix epoch).
    pub ordered_ms: u64,
    /// When the device was first told (`null`: it has not been in contact since).
    pub told_ms: Option<u64>,
    /// When the device said it had wiped (`null`: not yet).
    pub wiped_ms: Option<u64>,
    /// What the device said it destroyed (`null` until it wiped).
    pub report: Option<serde_json::Value>,
}

impl From<storage::WipeState> for Wipe {
    fn from(w: storage::WipeState) -> Self {
        Wipe {
            order: w.order.as_str().to_owned(),
            ordered_ms: w.ordered_ms,
            told_ms: w.told_ms,
            wiped_ms: w.wiped_ms,
            report: w.report,
        }
    }
}

impl From<storage::DeviceInfo> for Device {
    fn from(d: storage::DeviceInfo) -> Self {
        Device {
            device_id: d.device_id,
            officer_id: d.officer_id,
            name: d.name,
            enrolled_ms: d.enrolled_ms,
            last_sync_ms: d.last_sync_ms,
            revoked_ms: d.revoked_ms,
            status: d.status,
            clock_offset_ms: d.clock_offset_ms,
            set_aside: d.set_aside,
            wipe: d.wipe.map(Wipe::from),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The JSON of each answer, pinned: a field renamed, dropped or turned optional fails here.

    use serde_json::json;

    use super::*;

    #[test]
    fn a_device_shows_every_field_with_nulls() {
        let d = Device::from(storage::DeviceInfo {
            device_id: DeviceId::from_u128(1),
            officer_id: "andi".into(),
            name: None,
            enrolled_ms: 5,
            last_sync_ms: None,
            revoked_ms: None,
            status: None,
            clock_offset_ms: Some(-3),
            set_aside: 0,
            wipe: None,
        });
        let v = serde_json::to_value(&d).expect("encode");
        assert_eq!(
            v,
            json!({"device_id": DeviceId::from_u128(1), "officer_id": "andi", "name": null,
                "enrolled_ms": 5, "last_sync_ms": null, "revoked_ms": null, "status": null,
                "clock_offset_ms": -3, "set_aside": 0, "wipe": null})
        );
        let back: Device = serde_json::from_value(v).expect("decode");
        assert_eq!(back, d);
    }

    #[test]
    fn users_officers_codes_and_sessions_keep_their_shape() {
        let u = User::from(storage::User {
            username: "sup".into(),
            role: storage::Role::Supervisor,
        });
        assert_eq!(
            serde_json::to_value(&u).expect("encode"),
            json!({"username": "sup", "role": "supervisor"})
        );
        let o = Officer::from(storage::Officer {
            id: "andi".into(),
            name: "Andi".into(),
            scope: vec!["7371".into()],
        });
        assert_eq!(
            serde_json::to_value(&o).expect("encode"),
            json!({"id": "andi", "name": "Andi", "scope": ["7371"]})
        );
        let c = IssuedCode {
            code: "ABCD-EFGH".into(),
            officer_id: "andi".into(),
            expires_ms: 9,
        };
        assert_eq!(
            serde_json::to_value(&c).expect("encode"),
            json!({"code": "ABCD-EFGH", "officer_id": "andi", "expires_ms": 9})
        );
        let l = LoginResponse {
            token: "sds_x".into(),
            username: "admin".into(),
            role: Role::Admin,
            expires_ms: 7,
        };
        assert_eq!(
            serde_json::to_value(&l).expect("encode"),
            json!({"token": "sds_x", "username": "admin", "role": "admin", "expires_ms": 7})
        );
    }

    #[test]
    fn roles_convert_both_ways_and_unknown_names_are_refused() {
        for r in [
            storage::Role::Admin,
            storage::Role::Supervisor,
            storage::Role::Officer,
        ] {
            let wire = Role::from(r);
            assert_eq!(storage::Role::from(wire), r);
            assert_eq!(
                serde_json::to_value(wire).expect("encode"),
                json!(r.as_str())
            );
        }
        assert!(serde_json::from_value::<Role>(json!("root")).is_err());
    }
}
