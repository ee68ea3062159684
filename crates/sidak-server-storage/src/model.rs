//! The people and devices the server knows: officers, devices, office users, and the
//! enrollment rule every backend applies.

use sidak_core::DeviceId;
use sidak_core::protocol::DeviceStatus;

use crate::error::{EnrollError, StorageError, StorageResult, Thing};

/// An officer: the person a device belongs to, and the regions they may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Officer {
    /// Stable id chosen by the office (employee number) or generated.
    pub id: String,
    /// Name shown in the office.
    pub name: String,
    /// Region code prefixes (normalised: sorted, none inside another).
    pub scope: Vec<String>,
}

/// A device as an authenticated request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    /// The device.
    pub device: DeviceId,
    /// Its officer.
    pub officer_id: String,
    /// The officer's scope when the request was authenticated. Pushes and pulls do not
    /// trust it: they re-read it inside their own transaction ([`DeviceAuth::reread`]).
    pub scope: Vec<String>,
    /// Whether the office revoked it.
    pub revoked: bool,
    /// When it last pushed or pulled (ms since the Unix epoch).
    pub last_sync_ms: Option<u64>,
    /// The wipe the office ordered, if any.
    pub wipe: Option<WipeOrder>,
    /// Whether the device already said it wiped.
    pub wiped: bool,
}

/// A device's row and its officer's scope as a push or pull transaction reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDevice {
    /// Its officer.
    pub officer_id: String,
    /// The officer's scope as stored.
    pub scope: Vec<String>,
    /// Whether the office revoked it.
    pub revoked: bool,
}

impl DeviceAuth {
    /// This device as the transaction acting for it read it (`stored`), so a scope change
    /// or a revocation committed since authentication counts: a push is judged, and a pull
    /// page planned and filtered, by the scope stored in the same transaction (or snapshot)
    /// as its writes or reads. `DeviceRevoked` if it was revoked meanwhile, `NotFound` if
    /// its row is gone; the caller then writes and reads nothing.
    pub fn reread(&self, stored: Option<StoredDevice>) -> StorageResult<DeviceAuth> {
        let Some(s) = stored else {
            return Err(StorageError::NotFound(Thing::Device(self.device)));
        };
        if s.revoked {
            return Err(StorageError::DeviceRevoked(self.device));
        }
        Ok(DeviceAuth {
            device: self.device,
            officer_id: s.officer_id,
            scope: s.scope,
            revoked: false,
            last_sync_ms: self.last_sync_ms,
            wipe: self.wipe,
            wiped: self.wiped,
        })
    }
}

/// A device being enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Its new id.
    pub id: DeviceId,
    /// Hash of its bearer token.
    pub token_hash: String,
    /// A name for it (phone model).
    pub name: Option<String>,
    /// When (ms since the Unix epoch).
    pub now_ms: u64,
    /// The identity the device asks to keep (it holds edits made under it).
    pub keep: Option<sidak_core::protocol::KeepIdentity>,
    /// The device's new public key (64 hex, already checked), which seals its pushes.
    pub public_key: Option<String>,
}

/// How an enrollment settles the device's id (the same rule for every backend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollPlan {
    /// A new device row with this id.
    Insert(DeviceId),
    /// The device row with this id gets the new token (and is no longer revoked).
    Rotate(DeviceId),
}

impl NewDevice {
    /// Decides the id for a code of `code_officer`; `holder` is the officer whose device
    /// row has the id asked to be kept, if such a row exists.
    ///
    /// A store keeps its id when the code is for its own officer and no other officer's
    /// device holds it (after a restore the server may not know it at all), so its edits
    /// stay its own. For another officer it gets a new id, unless it holds edits the
    /// server has not acknowledged: those would be stranded, so the code is refused unused.
    pub fn plan(
        &self,
        code_officer: &str,
        holder: Option<&str>,
    ) -> Result<EnrollPlan, EnrollError> {
        let Some(keep) = &self.keep else {
            return Ok(EnrollPlan::Insert(self.id));
        };
        if keep.officer_id != code_officer {
            return if keep.unsent {
                Err(EnrollError::UnsentEdits)
            } else {
                Ok(EnrollPlan::Insert(self.id))
            };
        }
        match holder {
            None => Ok(EnrollPlan::Insert(keep.device_id)),
            Some(o) if o == code_officer => Ok(EnrollPlan::Rotate(keep.device_id)),
            Some(_) => Err(EnrollError::DeviceTaken),
        }
    }
}

/// A device as the office lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: DeviceId,
    /// Its officer.
    pub officer_id: String,
    /// Its name.
    pub name: Option<String>,
    /// When it enrolled.
    pub enrolled_ms: u64,
    /// When it last pushed or pulled.
    pub last_sync_ms: Option<u64>,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<u64>,
    /// What it last reported about itself (pending and rejected ops, app version).
    pub status: Option<DeviceStatus>,
    /// Its clock minus the server's at its last push that reported a clock, in ms.
    pub clock_offset_ms: Option<i64>,
    /// Ops it pushed that were set aside (stamped too far ahead) and not yet resolved.
    pub set_aside: u64,
    /// The wipe ordered for it and how far it went, if one was ordered.
    pub wipe: Option<WipeState>,
}

/// Why the office wants a device's data gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WipeOrder {
    /// Lost or stolen: revoked at once, and wiped at its next contact without pushing.
    Lost,
    /// Handed back: it pushes what it has not synced, then wipes.
    Retired,
}

impl WipeOrder {
    /// The name used in the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            WipeOrder::Lost => "lost",
            WipeOrder::Retired => "retired",
        }
    }

    /// The order named `s`, if it is one.
    pub fn parse(s: &str) -> Option<WipeOrder> {
        match s {
            "lost" => Some(WipeOrder::Lost),
            "retired" => Some(WipeOrder::Retired),
            _ => None,
        }
    }
}

/// A wipe ordered for a device, and how far it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WipeState {
    /// What was ordered.
    pub order: WipeOrder,
    /// When it was ordered (ms since the Unix epoch).
    pub ordered_ms: u64,
    /// When the device was first told (it asked and got the order as an answer).
    pub told_ms: Option<u64>,
    /// When the device said it had wiped.
    pub wiped_ms: Option<u64>,
    /// What the device said it destroyed (JSON, as it sent it).
    pub report: Option<serde_json::Value>,
}

/// Roles of office users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Manages officers, devices and users.
    Admin,
    /// Reads everything and resolves conflicts (central-office API, later).
    Supervisor,
    /// A field officer: works through devices, not the office API.
    Officer,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Officer => "officer",
        }
    }

    /// Reads a role's name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            "officer" => Some(Role::Officer),
            _ => None,
        }
    }
}

/// An office user with the hash of their password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Login name.
    pub username: String,
    /// Argon2 hash in PHC string form.
    pub password_hash: String,
    /// Role.
    pub role: Role,
}

/// An office user as a session sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
}
