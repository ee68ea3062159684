//! Every check an evidence bundle must pass (docs/evidence.md).
//!
//! [`verify`] runs them in this order, each reported as a [`Check`]: one per thing that fails,
//! naming it (an op by its log sequence number, a seal by its index and writer, a key, a
//! record, an attachment), and one passed check per group when nothing in it fails:
//!
//! 1. `format`, `subject`: the format name, and the subject record comes first;
//! 2. `ops`: each op's text is the canonical JSON of a valid op stamped by its writer, in log order;
//! 3. `op hashes`: each signed op's hash is the one a seal of its writer holds at its position;
//! 4. `seals`: each seal is its writer's signature, with a listed key, over its run of hashes;
//! 5. `keys`: each key is a valid Ed25519 key;
//! 6. `key validity`: no signed op is stamped after its key was revoked;
//! 7. `log links`: each op's server log link follows from the link before it;
//! 8. `records`: each record's state is exactly what its ops give;
//! 9. `attachments`: the bundle lists exactly the attachments the records hold now;
//! 10. `decisions`: each office decision is on a record, and an op, of the bundle;
//! 11. `root`: the server log's end is at or after every op, and its link is the last op's;
//! 12. `server seal`, `server key`: the server's seal over the whole bundle, and whose key it is.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_core::chain::{self, GENESIS, Hash32, PublicKey};
use sidak_core::wire::FieldV1;
use sidak_core::{DeviceId, Kind, Op, OpV1, Record, RecordId, RecordV1};

use crate::bundle::{Bundle, FORMAT, OpEntry, SealEntry, check_server_seal};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Passed.
    Passed,
    /// Passed with a reservation a person should read (an unsigned op, an unpinned server key).
    Warning,
    /// Failed.
    Failed,
}

/// One check and what it found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// What was checked (`seal 2 (device 0190…)`, `op 17`, `record …`).
    pub name: String,
    /// How it came out.
    pub outcome: Outcome,
    /// What was found, for a person.
    pub detail: String,
}

/// Every check of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl Verdict {
    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Failed)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Failed)
    }

    /// The checks that passed with a warning.
    pub fn warnings(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Warning)
    }
}

/// Why bytes could not be read as an evidence bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bytes are not JSON at all.
    #[error("it is not JSON ({0}); an evidence bundle is one JSON document")]
    NotJson(serde_json::Error),
    /// JSON, but with no `format` naming an evidence bundle.
    #[error("it is JSON but not an evidence bundle: it has no `format` field saying {FORMAT}")]
    NotBundle,
    /// A bundle of a format this version does not read.
    #[error(
        "it is a bundle of format {0:?}, and this verifier reads only {FORMAT}; use a newer sidak"
    )]
    Unsupported(String),
    /// Says it is a bundle, but a part is missing, extra or of the wrong type.
    #[error("it says it is a {FORMAT} bundle, but its shape is wrong: {0}")]
    Shape(serde_json::Error),
}

/// Reads an evidence bundle from its JSON bytes.
pub fn read_bundle(bytes: &[u8]) -> Result<Bundle, BundleError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(BundleError::NotJson)?;
    let format = value
        .get("format")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or(BundleError::NotBundle)?;
    if !format.starts_with("sidak-evidence/") {
        return Err(BundleError::NotBundle);
    }
    serde_json::from_value(value).map_err(|e| {
        if format == FORMAT {
            BundleError::Shape(e)
        } else {
            BundleError::Unsupported(format.chars().take(40).collect())
        }
    })
}

/// Checks `bundle`; `server_key` pins the server's public key when given.
pub fn verify(bundle: &Bundle, server_key: Option<&str>) -> Verdict {
    let ops: Vec<Parsed> = bundle.ops.iter().map(Parsed::of).collect();
    let mut c = Checks::default();
    format(bundle, &mut c);
    op_texts(bundle, &ops, &mut c);
    op_hashes(bundle, &ops, &mut c);
    seals(bundle, &mut c);
    keys(bundle, &mut c);
    key_validity(bundle, &ops, &mut c);
    log_links(bundle, &ops, &mut c);
    records(bundle, &ops, &mut c);
    attachments(bundle, &mut c);
    decisions(bundle, &mut c);
    root(bundle, &mut c);
    server(bundle, server_key, &mut c);
    Verdict { checks: c.checks }
}

/// An op of the bundle as read from its text.
struct Parsed {
    /// The hash of its text as given.
    hash: Hash32,
    /// Its text as a wire op, if it is one.
    wire: Result<OpV1, String>,
    /// The op in the model, if its text decodes.
    op: Option<Op>,
}

impl Parsed {
    fn of(e: &OpEntry) -> Parsed {
        let wire = serde_json::from_str::<OpV1>(&e.text).map_err(|err| err.to_string());
        let op = wire.as_ref().ok().and_then(|w| w.decode().ok());
        Parsed {
            hash: chain::hash_text(&e.text),
            wire,
            op,
        }
    }
}

/// The checks made so far, and how many failed in the current group.
#[derive(Default)]
struct Checks {
    checks: Vec<Check>,
    failed: usize,
}

impl Checks {
    fn add(&mut self, name: impl Into<String>, outcome: Outcome, detail: impl Into<String>) {
        if outcome == Outcome::Failed {
            self.failed += 1;
        }
        self.checks.push(Check {
            name: name.into(),
            outcome,
            detail: detail.into(),
        });
    }

    fn fail(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.add(name, Outcome::Failed, detail);
    }

    fn warn(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.add(name, Outcome::Warning, detail);
    }

    /// Ends a group: a passed check named `name` if nothing in it failed.
    fn group(&mut self, name: &str, detail: impl Into<String>) {
        if self.failed == 0 {
            self.add(name, Outcome::Passed, detail);
        }
        self.failed = 0;
    }
}

fn op_name(e: &OpEntry) -> String {
    format!("op seq {}", e.seq)
}

fn seal_name(i: usize, s: &SealEntry) -> String {
    let last = (s.hashes.len() as u64)
        .checked_sub(1)
        .and_then(|k| s.n.checked_add(k));
    match last {
        Some(b) => format!("seal {i} (writer {}, positions {}..={b})", s.writer, s.n),
        None => format!("seal {i} (writer {}, no positions)", s.writer),
    }
}

/// `n` and what it counts: `1 op`, `2 ops`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// At most 130 characters of `s` (a whole seal's hex), for a message.
fn short(s: &str) -> String {
    if s.chars().count() > 130 {
        format!("{}…", s.chars().take(130).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// The seals of `writer` whose run covers position `n`, with their index.
fn covering(
    bundle: &Bundle,
    writer: DeviceId,
    n: u64,
) -> impl Iterator<Item = (usize, &SealEntry)> {
    bundle.seals.iter().enumerate().filter(move |(_, s)| {
        s.writer == writer && s.n <= n && ((n - s.n) as u128) < s.hashes.len() as u128
    })
}

fn format(bundle: &Bundle, c: &mut Checks) {
    if bundle.format == FORMAT {
        c.add("format", Outcome::Passed, FORMAT);
    } else {
        c.fail(
            "format",
            format!(
                "the bundle says format {:?}; this verifier reads only {FORMAT}",
                short(&bundle.format)
            ),
        );
    }
    c.failed = 0;
    match bundle.records.first() {
        Some(r) if r.state.id == bundle.subject && r.role == "subject" => c.add(
            "subject",
            Outcome::Passed,
            format!(
                "record {} ({}), with {}",
                bundle.subject,
                short(&r.state.kind),
                count(
                    bundle.records.len() - 1,
                    "related record",
                    "related records"
                )
            ),
        ),
        Some(r) => c.fail(
            "subject",
            format!(
                "the bundle is for record {}, but its first record is {} with role {:?}",
                bundle.subject,
                r.state.id,
                short(&r.role)
            ),
        ),
        None => c.fail(
            "subject",
            format!(
                "the bundle is for record {}, but holds no record",
                bundle.subject
            ),
        ),
    }
    c.failed = 0;
}

fn op_texts(bundle: &Bundle, ops: &[Parsed], c: &mut Checks) {
    let mut before: Option<u64> = None;
    for (e, p) in bundle.ops.iter().zip(ops) {
        let mut problems = Vec::new();
        match &p.wire {
            Err(err) => problems.push(format!("its text is not an op: {err}")),
            Ok(w) => {
                if let Err(err) = w.decode() {
                    problems.push(format!("its text is not a valid op: {err}"));
                }
                if w.hlc.device != e.writer {
                    problems.push(format!(
                        "it is listed under writer {}, but stamped by {}",
                        e.writer, w.hlc.device
                    ));
                }
                if sidak_core::canon::canonical(&e.text).as_deref() != Some(e.text.as_str()) {
                    problems.push(
                        "its text is not canonical JSON (keys sorted, no spaces), the only form \
                         its hash may be over"
                            .to_owned(),
                    );
                }
            }
        }
        if let Some(b) = before
            && e.seq <= b
        {
            problems.push(format!(
                "it comes after op seq {b}: a bundle's ops are in log order, each seq once"
            ));
        }
        before = Some(e.seq);
        if !problems.is_empty() {
            c.fail(op_name(e), problems.join("; "));
        }
    }
    if bundle.ops.is_empty() {
        c.fail(
            "ops",
            "the bundle holds no op: nothing vouches for its records",
        );
    }
    c.group(
        "ops",
        format!(
            "{}, each the canonical JSON of a valid op stamped by its writer, in log order",
            count(bundle.ops.len(), "op", "ops")
        ),
    );
}

fn op_hashes(bundle: &Bundle, ops: &[Parsed], c: &mut Checks) {
    let (mut signed, mut unsigned) = (0, 0);
    for (e, p) in bundle.ops.iter().zip(ops) {
        let Some(n) = e.n else {
            unsigned += 1;
            c.warn(
                op_name(e),
                "unsigned: written by a device enrolled before keys",
            );
            continue;
        };
        signed += 1;
        let hash = hex::encode(p.hash);
        let mut runs = covering(bundle, e.writer, n).peekable();
        if runs.peek().is_none() {
            c.fail(
                op_name(e),
                format!(
                    "no seal of its writer {} covers its position {n}: nothing vouches that its \
                     writer sent it",
                    e.writer
                ),
            );
            continue;
        }
        let changed = runs.any(|(_, s)| {
            usize::try_from(n - s.n)
                .ok()
                .and_then(|k| s.hashes.get(k))
                .is_none_or(|h| *h != hash)
        });
        if changed {
            c.fail(
                op_name(e),
                format!(
                    "its hash is not the one its writer sealed at position {n} (the op was \
                     changed after it was sent)"
                ),
            );
        }
    }
    let mut detail = format!(
        "{}, each hash the one its writer sealed",
        count(signed, "signed op", "signed ops")
    );
    if unsigned > 0 {
        detail.push_str(&format!("; {unsigned} unsigned"));
    }
    c.group("op hashes", detail);
}

fn seals(bundle: &Bundle, c: &mut Checks) {
    for (i, s) in bundle.seals.iter().enumerate() {
        let mut problems = Vec::new();
        let key = match PublicKey::parse(&s.key) {
            Ok(k) => {
                let listed = bundle
                    .keys
                    .iter()
                    .any(|k| k.writer == s.writer && k.key == s.key);
                if !listed {
                    problems.push(format!(
                        "its key {} is not among the bundle's keys of writer {}",
                        short(&s.key),
                        s.writer
                    ));
                }
                Some(k)
            }
            Err(e) => {
                problems.push(format!("its key {}: {e}", short(&s.key)));
                None
            }
        };
        let prev = chain::parse_hex::<32>(&s.prev, "its prev")
            .map_err(|e| problems.push(e.to_string()))
            .ok();
        let mut hashes = Vec::with_capacity(s.hashes.len());
        for (j, h) in s.hashes.iter().enumerate() {
            match chain::parse_hex::<32>(h, "hash") {
                Ok(h) => hashes.push(h),
                Err(_) => problems.push(format!(
                    "its hash {j} (position {}) is not 32 bytes of lowercase hex",
                    s.n.saturating_add(j as u64)
                )),
            }
        }
        let seal = chain::parse_hex::<64>(&s.seal, "its seal")
            .map_err(|e| problems.push(e.to_string()))
            .ok();
        if let (Some(key), Some(prev), Some(seal)) = (key, prev, seal)
            && hashes.len() == s.hashes.len()
        {
            match chain::segment_end(s.writer, s.n, &prev, &hashes) {
                Err(e) => problems.push(e.to_string()),
                Ok((last, end)) => {
                    if key.check_seal(s.writer, last, &end, &seal).is_err() {
                        problems.push(format!(
                            "the seal is not writer {}'s signature over the link at position \
                             {last}: an op of the run was changed, added, dropped or reordered \
                             after it was sealed, or its prev, seal or key was changed",
                            s.writer
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            c.fail(seal_name(i, s), problems.join("; "));
        }
    }
    c.group(
        "seals",
        format!(
            "{}, each its writer's signature with a listed key over its run of op hashes",
            count(bundle.seals.len(), "seal", "seals")
        ),
    );
}

fn keys(bundle: &Bundle, c: &mut Checks) {
    for (i, k) in bundle.keys.iter().enumerate() {
        if let Err(e) = PublicKey::parse(&k.key) {
            c.fail(
                format!("key {i} (writer {})", k.writer),
                format!("{} ({})", e, short(&k.key)),
            );
        }
    }
    c.group(
        "keys",
        format!(
            "{}, each a valid Ed25519 key",
            count(bundle.keys.len(), "key", "keys")
        ),
    );
}

fn key_validity(bundle: &Bundle, ops: &[Parsed], c: &mut Checks) {
    for (e, p) in bundle.ops.iter().zip(ops) {
        let (Some(n), Ok(w)) = (e.n, &p.wire) else {
            continue;
        };
        let revoked = covering(bundle, e.writer, n).find_map(|(_, s)| {
            bundle
                .keys
                .iter()
                .filter(|k| k.writer == s.writer && k.key == s.key)
                .find_map(|k| k.revoked_ms.filter(|r| w.hlc.ms > *r).map(|r| (k, r)))
        });
        if let Some((k, r)) = revoked {
            c.fail(
                op_name(e),
                format!(
                    "it is stamped at {} ms, after key {} of writer {} was revoked at {r} ms: no op \
                     stamped after a revocation may carry the key's seal",
                    w.hlc.ms,
                    short(&k.key),
                    k.writer
                ),
            );
        }
    }
    c.group(
        "key validity",
        "no signed op is stamped after its key was revoked",
    );
}

fn log_links(bundle: &Bundle, ops: &[Parsed], c: &mut Checks) {
    let mut by_seq: HashMap<u64, &OpEntry> = HashMap::new();
    for e in &bundle.ops {
        by_seq.entry(e.seq).or_insert(e);
    }
    let mut joined = 0;
    for (e, p) in bundle.ops.iter().zip(ops) {
        let mut problems = Vec::new();
        let prev = chain::parse_hex::<32>(&e.log_prev, "its log_prev")
            .map_err(|err| problems.push(err.to_string()))
            .ok();
        let link = chain::parse_hex::<32>(&e.log_link, "its log_link")
            .map_err(|err| problems.push(err.to_string()))
            .ok();
        if let (Some(prev), Some(link)) = (prev, link)
            && chain::log_link(&prev, e.seq, &p.hash) != link
        {
            problems.push(
                "its log link is not the link of its log_prev, seq and hash: the op, its seq or \
                 a link was changed after the server logged it"
                    .to_owned(),
            );
        }
        if let Some(before) = e.seq.checked_sub(1).and_then(|s| by_seq.get(&s)) {
            if before.log_link == e.log_prev {
                joined += 1;
            } else {
                problems.push(format!(
                    "its log_prev is not the log link of op seq {}, the op before it in the log",
                    before.seq
                ));
            }
        }
        if e.seq == 1 && prev.is_some_and(|p| p != GENESIS) {
            problems.push(
                "it is the log's first op, but its log_prev is not the genesis link (64 zeros)"
                    .to_owned(),
            );
        }
        if !problems.is_empty() {
            c.fail(op_name(e), problems.join("; "));
        }
    }
    c.group(
        "log links",
        format!(
            "each op's log link follows from the link before it ({} of consecutive ops join)",
            count(joined, "pair", "pairs")
        ),
    );
}

fn records(bundle: &Bundle, ops: &[Parsed], c: &mut Checks) {
    let held: BTreeSet<RecordId> = bundle.records.iter().map(|r| r.state.id).collect();
    let mut order: Vec<usize> = (0..bundle.ops.len()).collect();
    order.sort_by_key(|&i| bundle.ops[i].seq);
    let mut applied = 0;
    for r in &bundle.records {
        let id = r.state.id;
        let name = format!("record {id}");
        let mut problems = Vec::new();
        if bundle.records.iter().filter(|o| o.state.id == id).count() > 1 {
            problems.push("it is listed more than once".to_owned());
        }
        let Ok(kind) = r.state.kind.parse::<Kind>() else {
            c.fail(
                name,
                format!("its kind {:?} is not one sidak knows", short(&r.state.kind)),
            );
            continue;
        };
        if let Err(e) = r.state.decode() {
            problems.push(format!("its state is not a valid record state: {e}"));
        }
        let mut rebuilt = Record::new(id, kind, r.state.region.clone());
        for &i in &order {
            let (e, p) = (&bundle.ops[i], &ops[i]);
            if p.wire.as_ref().map(|w| w.id) != Ok(id) {
                continue;
            }
            match &p.op {
                None => problems.push(format!(
                    "op seq {} is not a valid op, so its state cannot be rebuilt",
                    e.seq
                )),
                Some(op) => match rebuilt.apply(op) {
                    Ok(()) => applied += 1,
                    Err(err) => problems.push(format!("op seq {} does not apply: {err}", e.seq)),
                },
            }
        }
        if let Some(diff) = difference(&rebuilt, &r.state) {
            problems.push(format!("its state is not what its ops give ({diff})"));
        }
        if !problems.is_empty() {
            c.fail(name, problems.join("; "));
        }
    }
    for (e, p) in bundle.ops.iter().zip(ops) {
        if let Ok(w) = &p.wire
            && !held.contains(&w.id)
        {
            c.fail(
                op_name(e),
                format!(
                    "it is an op of record {}, which the bundle does not hold",
                    w.id
                ),
            );
        }
    }
    c.group(
        "records",
        format!(
            "{}, each state exactly what its ops give ({} applied)",
            count(bundle.records.len(), "record", "records"),
            count(applied, "op", "ops")
        ),
    );
}

/// The parts in which `given` differs from the `rebuilt` state, for a person: the fields
/// first (compared as merged states, so a renumbered actor does not hide which), then the
/// stamps; `None` when they are equal.
fn difference(rebuilt: &Record, given: &RecordV1) -> Option<String> {
    let ours = RecordV1::from(rebuilt);
    if ours == *given {
        return None;
    }
    let mut parts = Vec::new();
    if ours.kind != given.kind {
        parts.push("kind differs".to_owned());
    }
    if ours.region != given.region {
        parts.push("region differs".to_owned());
    }
    let names: BTreeSet<&str> = ours
        .fields
        .keys()
        .chain(given.fields.keys())
        .map(String::as_str)
        .collect();
    let differs: Vec<&str> = match given.decode() {
        Ok(theirs) => {
            let a: BTreeMap<_, _> = rebuilt.fields().collect();
            let b: BTreeMap<_, _> = theirs.fields().collect();
            names.into_iter().filter(|f| a.get(f) != b.get(f)).collect()
        }
        Err(_) => names
            .into_iter()
            .filter(|f| ours.fields.get(*f) != given.fields.get(*f))
            .collect(),
    };
    parts.extend(
        differs
            .iter()
            .map(|f| format!("field {} differs", short(f))),
    );
    if ours.created != given.created {
        parts.push("created differs".to_owned());
    }
    if ours.updated != given.updated {
        parts.push("updated differs".to_owned());
    }
    if parts.is_empty() {
        parts.push(if ours.actors != given.actors {
            "actors differ".to_owned()
        } else {
            "its encoding differs".to_owned()
        });
    }
    Some(parts.join(", "))
}

/// The field whose elements are content references.
const ATTACHMENTS_FIELD: &str = "attachments";

fn attachments(bundle: &Bundle, c: &mut Checks) {
    // The elements the field holds now (the server lists those; a removed photo's ref stays in
    // the ops, which the seals and the records check cover).
    let mut referenced: BTreeMap<BlobHash, (RecordId, ContentRef)> = BTreeMap::new();
    for r in &bundle.records {
        let Some(FieldV1::Set(elements)) = r.state.fields.get(ATTACHMENTS_FIELD) else {
            continue;
        };
        let present = elements
            .iter()
            .filter(|(_, presences)| presences.iter().any(|p| p.on))
            .map(|(e, _)| e);
        for element in present {
            match ContentRef::parse(element) {
                Ok(cr) => {
                    referenced.entry(cr.hash).or_insert((r.state.id, cr));
                }
                Err(e) => c.warn(
                    format!("record {}", r.state.id),
                    format!(
                        "its attachments hold {:?}, which is not a content reference ({e}): no \
                         attachment can be listed for it",
                        short(element)
                    ),
                ),
            }
        }
    }
    let mut listed: BTreeSet<BlobHash> = BTreeSet::new();
    for a in &bundle.attachments {
        let name = format!("attachment {}", short(&a.hash));
        let Ok(hash) = BlobHash::parse(&a.hash) else {
            c.fail(name, "its hash is not 64 lowercase hex digits");
            continue;
        };
        if !listed.insert(hash) {
            c.fail(name, "it is listed more than once");
            continue;
        }
        match referenced.get(&hash) {
            None => c.fail(
                name,
                "it is listed, but no record of the bundle references it",
            ),
            Some((id, cr)) if cr.size != a.size || cr.media_type != a.media_type => c.fail(
                name,
                format!(
                    "it is listed as {} bytes of {}, but record {id} references {} bytes of {}",
                    a.size,
                    short(&a.media_type),
                    cr.size,
                    cr.media_type
                ),
            ),
            Some(_) if !a.stored => c.warn(
                name,
                "the server did not hold all its bytes when it made the bundle: the hash is \
                 evidence, the file itself may be missing",
            ),
            Some(_) => {}
        }
    }
    for (hash, (id, _)) in &referenced {
        if !listed.contains(hash) {
            c.fail(
                format!("attachment {hash}"),
                format!("record {id} references it, but the bundle does not list it"),
            );
        }
    }
    c.group(
        "attachments",
        format!(
            "{}, exactly those the records reference",
            count(bundle.attachments.len(), "attachment", "attachments")
        ),
    );
}

fn decisions(bundle: &Bundle, c: &mut Checks) {
    let held: BTreeSet<RecordId> = bundle.records.iter().map(|r| r.state.id).collect();
    for (i, d) in bundle.decisions.iter().enumerate() {
        let name = format!("decision {i} ({} by {})", short(&d.action), short(&d.actor));
        let mut problems = Vec::new();
        if let Some(id) = d.record
            && !held.contains(&id)
        {
            problems.push(format!(
                "it is on record {id}, which the bundle does not hold"
            ));
        }
        if let Some(seq) = d.op_seq
            && !bundle.ops.iter().any(|e| e.seq == seq)
        {
            problems.push(format!("its op seq {seq} is not among the bundle's ops"));
        }
        if !problems.is_empty() {
            c.fail(name, problems.join("; "));
        }
    }
    c.group(
        "decisions",
        format!(
            "{}, each on a record of the bundle",
            count(
                bundle.decisions.len(),
                "office decision",
                "office decisions"
            )
        ),
    );
}

fn root(bundle: &Bundle, c: &mut Checks) {
    let r = &bundle.root;
    let mut problems = Vec::new();
    let link = chain::parse_hex::<32>(&r.link, "its link")
        .map_err(|e| problems.push(e.to_string()))
        .ok();
    if let Some(e) = bundle
        .ops
        .iter()
        .filter(|e| e.seq > r.seq)
        .max_by_key(|e| e.seq)
    {
        problems.push(format!(
            "op seq {} is after the log's end at seq {}",
            e.seq, r.seq
        ));
    }
    if let Some(link) = link
        && let Some(e) = bundle.ops.iter().find(|e| e.seq == r.seq)
        && chain::parse_hex::<32>(&e.log_link, "log_link").ok() != Some(link)
    {
        problems.push(format!(
            "its link is not the log link of op seq {}, the op at the log's end",
            e.seq
        ));
    }
    if problems.is_empty() {
        c.add(
            "root",
            Outcome::Passed,
            format!(
                "the server log ended at seq {} (link {}) when the bundle was made; every op is at or before it",
                r.seq,
                short(&r.link)
            ),
        );
    } else {
        c.fail("root", problems.join("; "));
    }
    c.failed = 0;
}

fn server(bundle: &Bundle, pinned: Option<&str>, c: &mut Checks) {
    match check_server_seal(bundle) {
        Ok(key) => c.add(
            "server seal",
            Outcome::Passed,
            format!("the server's seal over the whole bundle checks with key {key}"),
        ),
        Err(message) => c.fail("server seal", message),
    }
    match pinned.map(|p| p.trim().to_ascii_lowercase()) {
        None => c.warn(
            "server key",
            format!(
                "not pinned: the bundle is sealed with {} (compare it with the one the office \
                 publishes: GET /v1/info)",
                short(&bundle.server_key)
            ),
        ),
        Some(p) if PublicKey::parse(&p).is_err() => c.fail(
            "server key",
            format!(
                "the pinned key {} is not 64 hex digits of an Ed25519 key",
                short(&p)
            ),
        ),
        Some(p) if p == bundle.server_key => c.add(
            "server key",
            Outcome::Passed,
            "the bundle is sealed with the pinned server key",
        ),
        Some(p) => c.fail(
            "server key",
            format!(
                "the bundle is sealed with key {}, not the pinned key {p}: another server made \
                 it, or it was sealed again after a change",
                short(&bundle.server_key)
            ),
        ),
    }
    c.failed = 0;
}
