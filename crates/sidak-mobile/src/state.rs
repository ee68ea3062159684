//! What the SDK remembers beside the store: the last sync and when to try again, the
//! server's pin, other officers' names, and which refused edits were fixed.
//!
//! It lives in `<store>.sdk.json`, next to the store, rather than in the store's own schema:
//! the store is another crate's file with its own migrations, and nothing here is evidence
//! (losing the file loses a badge's "last sync" and a few names, never an edit). It holds no
//! personal data beyond officers' names, so it is not encrypted. It is written whole to a
//! temporary sibling and renamed, so a crash leaves the old or the new one; a wipe removes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The first wait after a failed sync: a minute rides out a tunnel or a lift without
/// a background job spinning on a dead network.
pub(crate) const FIRST_RETRY_MS: u64 = 60_000;
/// The longest wait between automatic tries: an hour, so a phone that regains signal in
/// the afternoon syncs before the officer goes home.
pub(crate) const MAX_RETRY_MS: u64 = 60 * 60_000;
/// A clock this far off the server's is worth a warning (the office's device health warns at
/// the same five minutes; the server sets edits aside past ten).
pub(crate) const CLOCK_WARNING_MS: i64 = 5 * 60_000;

/// The remembered state (version 1 of the file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Saved {
    /// The file's format.
    pub version: u32,
    /// When a sync last finished (ms since the Unix epoch).
    pub last_sync_ms: Option<u64>,
    /// When a sync was last tried.
    pub last_attempt_ms: Option<u64>,
    /// Syncs failed in a row since the last that finished.
    pub failures: u32,
    /// The last failure's code and message, until a sync finishes.
    pub last_error: Option<(String, String)>,
    /// When to try again after a failure; `None` when a person must act first.
    pub next_retry_ms: Option<u64>,
    /// The device clock minus the server's at the last answer.
    pub clock_offset_ms: Option<i64>,
    /// Whether the last sync had edits set aside for a clock running ahead.
    pub clock_ahead: bool,
    /// The server's key pin (`sha256/…`), given at enrollment.
    pub tls_pin: Option<String>,
    /// An extra CA or the server's self-signed certificate, PEM.
    pub trust_pem: Option<String>,
    /// Officers' names by device id (from the server's `/v1/writers` and `remember_officers`).
    pub roster: BTreeMap<String, String>,
    /// When the server's names were last fetched.
    pub roster_fetched_ms: Option<u64>,
    /// Refused edits fixed by `resubmit`: refused seq to the seq of the fix.
    pub resubmitted: BTreeMap<u64, u64>,
}

/// Codes after which trying again changes nothing until a person acts.
const NEEDS_A_PERSON: &[&str] = &[
    "device_revoked",
    "unauthorized",
    "unsupported_protocol",
    "tls_pin_mismatch",
    "invalid_pin",
    "not_enrolled",
    "store_too_new",
    "key_required",
    "wrong_key",
    "corrupt",
];

impl Saved {
    /// Records a sync that finished.
    pub fn finished(&mut self, now_ms: u64, clock_offset_ms: Option<i64>, clock_ahead: bool) {
        self.last_sync_ms = Some(now_ms);
        self.last_attempt_ms = Some(now_ms);
        self.failures = 0;
        self.last_error = None;
        self.next_retry_ms = None;
        if clock_offset_ms.is_some() {
            self.clock_offset_ms = clock_offset_ms;
        }
        self.clock_ahead = clock_ahead;
    }

    /// Records a sync that failed with `code`, and when to try again: backoff doubling from
    /// [`FIRST_RETRY_MS`] up to [`MAX_RETRY_MS`], or never on its own for a code that
    /// needs a person.
    pub fn failed(&mut self, now_ms: u64, code: &str, message: &str) {
        self.last_attempt_ms = Some(now_ms);
        self.failures = self.failures.saturating_add(1);
        self.last_error = Some((code.to_owned(), message.to_owned()));
        self.next_retry_ms = if NEEDS_A_PERSON.contains(&code) {
            None
        } else {
            let wait = FIRST_RETRY_MS
                .saturating_mul(1u64 << (self.failures - 1).min(16))
                .min(MAX_RETRY_MS);
            Some(now_ms.saturating_add(wait))
        };
    }
}

/// Where the state of the store at `store` lives.
pub(crate) fn path_for(store: &Path) -> PathBuf {
    let mut p = store.as_os_str().to_owned();
    p.push(".sdk.json");
    PathBuf::from(p)
}

/// Reads the state; a missing or unreadable file is a fresh state (nothing in it is evidence).
pub(crate) fn load(path: &Path) -> Saved {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes the state whole, through a temporary sibling and a rename.
pub(crate) fn save(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let body = serde_json::to_vec_pretty(&Saved {
        version: 1,
        ..saved.clone()
    })
    .map_err(std::io::Error::other)?;
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_for_what_needs_a_person() {
        let mut s = Saved::default();
        s.failed(1_000, "network", "no answer");
        assert_eq!(s.next_retry_ms, Some(1_000 + FIRST_RETRY_MS));
        s.failed(2_000, "deadline", "slow");
        assert_eq!(s.next_retry_ms, Some(2_000 + 2 * FIRST_RETRY_MS));
        for _ in 0..20 {
            s.failed(3_000, "network", "no answer");
        }
        assert_eq!(s.next_retry_ms, Some(3_000 + MAX_RETRY_MS));
        s.failed(4_000, "device_revoked", "revoked");
        assert_eq!(s.next_retry_ms, None);
        s.finished(5_000, Some(-2_000), false);
        assert_eq!((s.failures, s.next_retry_ms, s.last_error), (0, None, None));
        assert_eq!(s.clock_offset_ms, Some(-2_000));
    }

    #[test]
    fn state_round_trips_and_a_damaged_file_is_a_fresh_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("device.sqlite"));
        assert_eq!(load(&path), Saved::default());
        let mut s = Saved::default();
        s.roster.insert("d".into(), "Budi".into());
        s.resubmitted.insert(3, 9);
        save(&path, &s).unwrap();
        assert_eq!(load(&path).roster, s.roster);
        assert_eq!(load(&path).resubmitted, s.resubmitted);
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(load(&path), Saved::default());
    }
}
