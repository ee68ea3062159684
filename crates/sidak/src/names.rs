//! Who is behind the device ids in stamps: officers' names from the server's `/v1/writers`,
//! kept beside the device file (`<file>.names.json`) after each sync, as the mobile SDK keeps
//! its roster. People then read `Andi Rahman`, not a device id. The names are not evidence: a
//! missing or unreadable file only makes the output fall back to the id's first digits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sidak_core::DeviceId;
use sidak_core::protocol::Writer;
use sidak_store::Store;

/// This device and the officers' names held for the others.
#[derive(Debug, Clone, Default)]
pub struct Writers {
    /// This device.
    pub own: Option<DeviceId>,
    /// Officers' names by device.
    pub names: BTreeMap<DeviceId, String>,
}

impl Writers {
    /// This device's and the names kept beside its file (none when there are none).
    pub fn of(store: &Store) -> Writers {
        let names = std::fs::read(file(store.path()))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Writers {
            own: store.identity().map(|i| i.device_id),
            names,
        }
    }

    /// The officer's name for a device, if known.
    pub fn name(&self, device: &DeviceId) -> Option<&str> {
        self.names.get(device).map(String::as_str)
    }
}

/// Keeps the server's answer beside the device file, replacing what was there.
pub fn save(store: &Store, writers: &[Writer]) -> std::io::Result<()> {
    let names: BTreeMap<String, &str> = writers
        .iter()
        .map(|w| (w.device_id.to_string(), w.officer_name.as_str()))
        .collect();
    let path = file(store.path());
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&names)?)?;
    std::fs::rename(tmp, path)
}

/// Removes the names kept beside the device file `db` (a wipe).
pub fn remove(db: &Path) {
    let _ = std::fs::remove_file(file(db));
}

fn file(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".names.json");
    db.with_file_name(name)
}
