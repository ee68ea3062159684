//! What the server holds that vouches for its log: the log's links, writers' sealed runs and
//! keys, the server's own key ([`EvidenceStore`], part of [`crate::Storage`]), and the audit
//! that walks the log ([`audit`]). The bundle for one record is assembled from these by the
//! office API (docs/evidence.md).

use async_trait::async_trait;
use sidak_core::chain::{self, GENESIS, Hash32, PublicKey};
use sidak_core::{DeviceId, RecordId};

use crate::sync::chain::unpacked;
use crate::{StorageError, StorageResult};

/// One logged op with what vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// Its sequence number.
    pub seq: u64,
    /// The writer whose chain it is in (the stamping device or office actor).
    pub writer: String,
    /// Its position in that chain (`None`: unsigned).
    pub n: Option<u64>,
    /// Its canonical text as logged.
    pub text: String,
    /// Its log link (`None` while the PostgreSQL sealer has not reached it).
    pub link: Option<Hash32>,
    /// The log link of the op logged before it ([`GENESIS`] for the first).
    pub prev: Hash32,
}

/// A sealed run of a writer's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealRow {
    /// Its first position.
    pub first: u64,
    /// Its last position.
    pub last: u64,
    /// The link before it (hex).
    pub prev: String,
    /// The op hash at each position.
    pub hashes: Vec<Hash32>,
    /// The seal (hex).
    pub seal: String,
    /// The key that made it (hex).
    pub key: String,
}

/// A key a writer held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// The key (hex).
    pub key: String,
    /// When it was registered.
    pub registered_ms: u64,
    /// `enrollment`, `first_push` or `office`.
    pub registered_by: String,
    /// When a newer key replaced it.
    pub retired_ms: Option<u64>,
    /// The officer (device) or office user holding it.
    pub holder: String,
    /// Their name.
    pub holder_name: String,
    /// The device's name.
    pub device_name: Option<String>,
    /// When the device was revoked.
    pub revoked_ms: Option<u64>,
}

/// A device's chain as device health shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceChain {
    /// The device.
    pub device_id: String,
    /// Its key (hex), if it registered one.
    pub public_key: Option<String>,
    /// The last position of its chain the server holds.
    pub chain_n: u64,
    /// How many of its batches had a chain header refused.
    pub chain_breaks: u64,
    /// The last refusal (JSON: code, when, positions).
    pub chain_problem: Option<serde_json::Value>,
}

/// The log's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRoot {
    /// The last sequence number linked (0: empty).
    pub seq: u64,
    /// Its link.
    pub link: Hash32,
}

/// The server's reads of what vouches for its log.
#[async_trait]
pub trait EvidenceStore: Send + Sync + 'static {
    /// Links every op not yet linked that may be (PostgreSQL; SQLite links at append), and
    /// answers the log's end.
    async fn log_root(&self) -> StorageResult<LogRoot>;
    /// Up to `limit` logged ops after `after`, in order, with their links.
    async fn log_rows(&self, after: u64, limit: usize) -> StorageResult<Vec<LogRow>>;
    /// Every logged op of record `id`, in order.
    async fn record_log(&self, id: RecordId) -> StorageResult<Vec<LogRow>>;
    /// The sealed run of `writer` holding position `n`.
    async fn seal_covering(&self, writer: &str, n: u64) -> StorageResult<Option<SealRow>>;
    /// Every key `writer` held, oldest first.
    async fn writer_keys(&self, writer: &str) -> StorageResult<Vec<KeyRow>>;
    /// Each device's chain.
    async fn device_chains(&self) -> StorageResult<Vec<DeviceChain>>;
    /// The server's signing key (it seals evidence bundles).
    async fn server_key(&self) -> StorageResult<chain::SigningKey>;
    /// Whether every op is linked when appended (SQLite), so an op without a link was put
    /// there behind the server's back; else links come later (PostgreSQL's sealer).
    fn links_at_append(&self) -> bool;
}

/// What [`audit`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditReport {
    /// Ops walked.
    pub ops: u64,
    /// Ops found in a writer's sealed run.
    pub sealed: u64,
    /// Ops from devices enrolled before keys.
    pub unsigned: u64,
    /// Ops not linked yet (PostgreSQL: committed after the walk began).
    pub unlinked: u64,
    /// The last sequence number walked and its link (hex).
    pub root: Option<(u64, String)>,
    /// The first bad entry, if any: its sequence number and what is wrong.
    pub first_bad: Option<(u64, String)>,
}

/// Walks the whole log in order: each op's link must follow from the one before it, each
/// signed op's hash must be the one its writer sealed at its position, and each seal must be
/// its key's signature. Stops at the first bad entry and names it.
pub async fn audit(store: &dyn EvidenceStore) -> StorageResult<AuditReport> {
    let root = store.log_root().await?;
    let mut report = AuditReport::default();
    let mut strict: std::collections::HashMap<String, bool> = Default::default();
    let mut link = GENESIS;
    let mut after = 0u64;
    let mut seals: std::collections::HashMap<(String, u64), SealRow> = Default::default();
    let mut checked: std::collections::HashSet<(String, u64)> = Default::default();
    'walk: loop {
        let rows = store.log_rows(after, 2_000).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            after = row.seq;
            report.ops += 1;
            let bad = |why: String| Some((row.seq, why));
            let hash = chain::hash_text(&row.text);
            let Some(stored) = row.link else {
                if store.links_at_append() || row.seq <= root.seq {
                    report.first_bad = bad("it has no log link although the ops around it do: it was inserted directly".into());
                    break 'walk;
                }
                report.unlinked += 1;
                continue;
            };
            if chain::log_link(&link, row.seq, &hash) != stored {
                report.first_bad = bad(
                    "its log link does not follow from the op before it: its text or number was changed \
                     after it was logged, or an op before it was removed or inserted"
                        .into(),
                );
                break 'walk;
            }
            link = stored;
            report.root = Some((row.seq, hex::encode(link)));
            let Some(n) = row.n else {
                // Unsigned is only right for a device enrolled before keys (its first key came
                // with a later push); a writer whose every key came with an enrollment (or an
                // office actor) signed everything it ever sent.
                let must_sign = match strict.get(&row.writer) {
                    Some(m) => *m,
                    None => {
                        let keys = store.writer_keys(&row.writer).await?;
                        let m = !keys.is_empty()
                            && keys.iter().all(|k| k.registered_by != "first_push");
                        strict.insert(row.writer.clone(), m);
                        m
                    }
                };
                if must_sign {
                    report.first_bad = bad(format!(
                        "it carries no place in writer {}'s signed chain, but that writer signs every op: it was inserted or altered directly",
                        row.writer
                    ));
                    break 'walk;
                }
                report.unsigned += 1;
                continue;
            };
            let run = match seals
                .iter()
                .find(|((w, last), s)| *w == row.writer && s.first <= n && n <= *last)
            {
                Some((_, s)) => Some(s.clone()),
                None => {
                    let s = store.seal_covering(&row.writer, n).await?;
                    if let Some(s) = &s {
                        if seals.len() > 256 {
                            seals.clear();
                        }
                        seals.insert((row.writer.clone(), s.last), s.clone());
                    }
                    s
                }
            };
            let Some(run) = run else {
                report.first_bad = bad(format!(
                    "no sealed run of writer {} holds position {n}",
                    row.writer
                ));
                break 'walk;
            };
            let at = usize::try_from(n - run.first).unwrap_or(usize::MAX);
            if run.hashes.get(at) != Some(&hash) {
                report.first_bad = bad(format!(
                    "its text is not what writer {} sealed at position {n} (changed after it was sent)",
                    row.writer
                ));
                break 'walk;
            }
            if checked.insert((row.writer.clone(), run.last))
                && let Err(why) = check_run(&row.writer, &run)
            {
                report.first_bad = bad(why);
                break 'walk;
            }
            report.sealed += 1;
        }
    }
    Ok(report)
}

/// Checks a sealed run's signature.
pub fn check_run(writer: &str, run: &SealRow) -> Result<(), String> {
    let w: DeviceId = writer
        .parse()
        .map_err(|_| format!("writer {writer:?} is not a device id"))?;
    let key =
        PublicKey::parse(&run.key).map_err(|e| format!("the key of a run of {writer}: {e}"))?;
    let prev = chain::parse_hex::<32>(&run.prev, "prev").map_err(|e| e.to_string())?;
    let seal = chain::parse_hex::<64>(&run.seal, "seal").map_err(|e| e.to_string())?;
    let (last, end) =
        chain::segment_end(w, run.first, &prev, &run.hashes).map_err(|e| e.to_string())?;
    if last != run.last {
        return Err(format!(
            "the run of {writer} ending at {} holds another number of hashes",
            run.last
        ));
    }
    key.check_seal(w, last, &end, &seal).map_err(|_| {
        format!(
            "the seal over positions {}..={last} of writer {writer} is not its key's signature (the run was changed)",
            run.first
        )
    })
}

pub(crate) fn hash_of(blob: Option<Vec<u8>>) -> StorageResult<Option<Hash32>> {
    blob.map(|b| {
        b.as_slice()
            .try_into()
            .map_err(|_| StorageError::Internal("a stored log link is not 32 bytes".into()))
    })
    .transpose()
}

pub(crate) fn seal_row(
    last: i64,
    first: i64,
    prev: String,
    hashes: Vec<u8>,
    seal: String,
    key: String,
) -> SealRow {
    SealRow {
        first: first.max(0) as u64,
        last: last.max(0) as u64,
        prev,
        hashes: unpacked(&hashes),
        seal,
        key,
    }
}

pub(crate) fn server_signing_key(hex: &str) -> StorageResult<chain::SigningKey> {
    let seed = crate::parse_key(hex)?;
    Ok(chain::SigningKey::from_seed(&seed))
}
