//! The evidence bundle document (`sidak-evidence/1`).

use serde::{Deserialize, Serialize};
use sidak_core::chain::{PublicKey, SigningKey};
use sidak_core::{DeviceId, RecordId, RecordV1};

/// The format name every bundle carries.
pub const FORMAT: &str = "sidak-evidence/1";

const DIGEST_CONTEXT: &str = "sidak 2026-12 bundle v1";
const SERVER_SEAL_PREFIX: &[u8] = b"sidak bundle v1\0";

/// A record's evidence: its ops, the chains that vouch for them, who held the keys, what the
/// office decided, the attachments' hashes and the server log's root, sealed by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// The record the bundle was asked for.
    pub subject: RecordId,
    /// When the server made it (ms since the Unix epoch).
    pub generated_ms: u64,
    /// The server's software version.
    pub server_version: String,
    /// The subject first, then the records it holds together with (a visit's company and findings).
    pub records: Vec<RecordEntry>,
    /// Every logged op of those records, in log order.
    pub ops: Vec<OpEntry>,
    /// The sealed runs of the writers' chains that cover the ops.
    pub seals: Vec<SealEntry>,
    /// The keys the seals were made with, with their enrollment records.
    pub keys: Vec<KeyEntry>,
    /// The office's decisions on those records, oldest first.
    pub decisions: Vec<DecisionEntry>,
    /// Every attachment the records reference, by hash.
    pub attachments: Vec<AttachmentEntry>,
    /// The server log's end when the bundle was made.
    pub root: Root,
    /// The server's Ed25519 public key (64 hex).
    pub server_key: String,
    /// The server's signature over [`bundle_digest`] (128 hex).
    pub server_seal: String,
}

/// A record as the server holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordEntry {
    /// `subject`, or how it relates to the subject (`company`, `visit`, `finding`).
    pub role: String,
    /// Its merged state; rebuilding it from the bundle's ops must give exactly this.
    pub state: RecordV1,
}

/// One logged op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpEntry {
    /// Its sequence number in the server log.
    pub seq: u64,
    /// The op's canonical JSON, exactly the text its hash is over.
    pub text: String,
    /// The chain it belongs to: the device (or office actor) that stamped it.
    pub writer: DeviceId,
    /// Its position in that chain; `None` for an op from a device enrolled before keys.
    pub n: Option<u64>,
    /// The server log's link before it (64 hex).
    pub log_prev: String,
    /// The server log's link at it (64 hex).
    pub log_link: String,
}

/// A sealed run of a writer's chain: positions `n` to `n + hashes.len() - 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealEntry {
    /// The writer.
    pub writer: DeviceId,
    /// The first position of the run.
    pub n: u64,
    /// The link before it (64 hex).
    pub prev: String,
    /// The hashes of the ops at each position of the run (64 hex each).
    pub hashes: Vec<String>,
    /// The writer's signature over the link at the run's last position (128 hex).
    pub seal: String,
    /// The public key it was made with (64 hex).
    pub key: String,
}

/// A writer's key and the enrollment it came with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The writer.
    pub writer: DeviceId,
    /// The public key (64 hex).
    pub key: String,
    /// `device`, or `office` for an office user's key held by the server.
    pub kind: String,
    /// The officer (device) or user name (office).
    pub holder: String,
    /// The holder's name, for people.
    pub holder_name: String,
    /// The device's name, as given at enrollment.
    pub device_name: Option<String>,
    /// When the key was registered.
    pub registered_ms: u64,
    /// How it was registered: `enrollment`, `first_push` (a device enrolled before keys), `office`.
    pub registered_by: String,
    /// When a newer enrollment replaced it.
    pub retired_ms: Option<u64>,
    /// When the device was revoked; no op stamped after it may carry this key's seal.
    pub revoked_ms: Option<u64>,
}

/// One office action on a record of the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionEntry {
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// The action (`approve`, `return`, `resolve`, …).
    pub action: String,
    /// The office user.
    pub actor: String,
    /// The record concerned.
    pub record: Option<RecordId>,
    /// The user's note.
    pub note: Option<String>,
    /// The log sequence number of the op it wrote, if any.
    pub op_seq: Option<u64>,
}

/// An attachment a record references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentEntry {
    /// BLAKE3 of its bytes (64 hex).
    pub hash: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// Whether the server holds all its bytes.
    pub stored: bool,
}

/// The end of the server log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    /// The last sequence number.
    pub seq: u64,
    /// The log link at it (64 hex).
    pub link: String,
    /// When it was read.
    pub at_ms: u64,
}

/// The digest the server seals: BLAKE3 (derive-key context `sidak 2026-12 bundle v1`) of the
/// canonical JSON of the bundle with `server_seal` left out.
pub fn bundle_digest(bundle: &Bundle) -> [u8; 32] {
    let mut value = serde_json::to_value(bundle).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("server_seal");
    }
    // Canonical whatever serde_json's map type: keys sorted by `canon`, not by luck.
    let plain = serde_json::to_string(&value).unwrap_or_default();
    let text = sidak_core::canon::canonical(&plain).unwrap_or(plain);
    let mut h = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
    h.update(text.as_bytes());
    *h.finalize().as_bytes()
}

/// The message the server signs: `sidak bundle v1`, a zero byte and the digest.
pub(crate) fn server_message(digest: &[u8; 32]) -> Vec<u8> {
    let mut m = SERVER_SEAL_PREFIX.to_vec();
    m.extend_from_slice(digest);
    m
}

/// Sets `server_key` and `server_seal` with the server's key.
pub fn seal_bundle(bundle: &mut Bundle, key: &SigningKey) {
    bundle.server_key = key.public().to_hex();
    let digest = bundle_digest(bundle);
    bundle.server_seal = hex::encode(key.sign_message(&server_message(&digest)));
}

/// Checks `server_seal` against `server_key`.
pub(crate) fn check_server_seal(bundle: &Bundle) -> Result<PublicKey, String> {
    let key = PublicKey::parse(&bundle.server_key).map_err(|e| format!("server_key: {e}"))?;
    let seal = sidak_core::chain::parse_hex::<64>(&bundle.server_seal, "server_seal")
        .map_err(|e| e.to_string())?;
    key.check_message(&server_message(&bundle_digest(bundle)), &seal)
        .map_err(|_| "the server's seal does not match the bundle: something in it was changed after the server made it".to_owned())?;
    Ok(key)
}
