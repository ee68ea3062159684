//! `GET /v1/office/records/{id}/evidence`: a record's evidence bundle, and
//! `GET /v1/office/log/root`: the server log's end (docs/evidence.md).
//!
//! The bundle holds the record (for a visit: its company and its findings too), every logged
//! op of them with its log links, the sealed runs of the writers' chains that cover those
//! ops, the keys with their enrollment records, the office's decisions, the attachments'
//! hashes and the log's root, sealed by the server's key. `sidak verify` checks it offline.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sidak_core::attachment::ContentRef;
use sidak_core::{Kind, RecordId, RecordV1};
use sidak_evidence::{
    AttachmentEntry, Bundle, DecisionEntry, FORMAT, KeyEntry, OpEntry, RecordEntry, Root,
    SealEntry, seal_bundle,
};
use sidak_server_storage::office::model::RecordFilter;

use super::auth::Supervisor;
use super::params::record_id;
use crate::error::ApiError;
use crate::state::AppState;

/// Most findings of a visit a bundle holds.
const MAX_FINDINGS: usize = 200;

/// The server log's end: its last sequence number and link, sealed nowhere (compare it with a
/// bundle's root, or keep it outside the server to pin history).
#[derive(Debug, serde::Serialize)]
pub struct RootOut {
    /// The last sequence number linked.
    pub seq: u64,
    /// Its link (64 hex).
    pub link: String,
    /// When it was read.
    pub at_ms: u64,
    /// The server's public key (64 hex), which seals evidence bundles.
    pub server_key: String,
}

/// `GET /v1/office/log/root`.
pub async fn root(
    State(state): State<AppState>,
    _who: Supervisor,
) -> Result<axum::Json<RootOut>, ApiError> {
    let root = state.storage.log_root().await?;
    let key = state.storage.server_key().await?;
    Ok(axum::Json(RootOut {
        seq: root.seq,
        link: hex::encode(root.link),
        at_ms: state.now_ms(),
        server_key: key.public().to_hex(),
    }))
}

/// `GET /v1/office/records/{id}/evidence`: the bundle, as a JSON file to keep.
pub async fn bundle(
    State(state): State<AppState>,
    who: Supervisor,
    crate::extract::PathId(id): crate::extract::PathId,
) -> Result<Response, ApiError> {
    let id = record_id(&id)?;
    let bundle = consistent(&state, id).await?;
    tracing::info!(record = %id, user = %who.0.username, ops = bundle.ops.len(), "evidence bundle");
    let body = serde_json::to_vec_pretty(&bundle).map_err(ApiError::internal)?;
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"evidence-{id}.json\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

async fn state_of(state: &AppState, id: RecordId) -> Result<Option<RecordV1>, ApiError> {
    Ok(state.storage.record(id).await?)
}

/// How many times a bundle is made again when a push landed while it was read.
const ATTEMPTS: usize = 3;

/// The bundle of `id`, read again when it does not check: the states, the ops and the root
/// are separate reads, so an op pushed between them (or, on PostgreSQL, linked after them)
/// leaves a bundle that disagrees with itself. A bundle that still fails is returned as it is:
/// then the database itself disagrees, and that is what the bundle must show.
async fn consistent(state: &AppState, id: RecordId) -> Result<Bundle, ApiError> {
    let mut bundle = build(state, id).await?;
    for _ in 1..ATTEMPTS {
        if sidak_evidence::verify(&bundle, None).passed() {
            break;
        }
        bundle = build(state, id).await?;
    }
    Ok(bundle)
}

/// Assembles and seals the bundle of record `id`.
pub async fn build(state: &AppState, id: RecordId) -> Result<Bundle, ApiError> {
    let subject = state_of(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("record {id} not found")))?;
    let mut records = vec![RecordEntry {
        role: "subject".into(),
        state: subject.clone(),
    }];
    let decoded = subject.decode().map_err(ApiError::internal)?;
    // A visit holds together with its company and its findings; a finding with its visit.
    for (field, role) in [("company", "company"), ("visit", "visit")] {
        if let Some(other) = decoded
            .get_str(field)
            .and_then(|c| c.parse::<RecordId>().ok())
            && other != id
            && let Some(s) = state_of(state, other).await?
        {
            records.push(RecordEntry {
                role: role.into(),
                state: s,
            });
        }
    }
    if decoded.kind == Kind::Visit {
        let filter = RecordFilter {
            kind: Some(Kind::Finding),
            visit: Some(id),
            ..RecordFilter::default()
        };
        for (_, state) in state
            .storage
            .export_chunk(&filter, None, MAX_FINDINGS)
            .await?
        {
            records.push(RecordEntry {
                role: "finding".into(),
                state,
            });
        }
    }

    let mut ops = Vec::new();
    let mut wanted: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for r in &records {
        for row in state.storage.record_log(r.state.id).await? {
            if let Some(n) = row.n {
                wanted.entry(row.writer.clone()).or_default().insert(n);
            }
            let writer = row.writer.parse().map_err(ApiError::internal)?;
            ops.push(OpEntry {
                seq: row.seq,
                writer,
                n: row.n,
                log_prev: hex::encode(row.prev),
                log_link: row.link.map(hex::encode).unwrap_or_default(),
                text: row.text,
            });
        }
    }
    ops.sort_by_key(|o| o.seq);
    ops.dedup_by_key(|o| o.seq);
    // After the ops: the root is at or after every one of them.
    let root = state.storage.log_root().await?;

    let mut seals: Vec<SealEntry> = Vec::new();
    let mut keys: Vec<KeyEntry> = Vec::new();
    for (writer, positions) in &wanted {
        let w = writer.parse().map_err(ApiError::internal)?;
        let mut covered_to = 0u64;
        for &n in positions {
            if n <= covered_to {
                continue;
            }
            let Some(run) = state.storage.seal_covering(writer, n).await? else {
                continue;
            };
            covered_to = run.last;
            seals.push(SealEntry {
                writer: w,
                n: run.first,
                prev: run.prev,
                hashes: run.hashes.iter().map(hex::encode).collect(),
                seal: run.seal,
                key: run.key,
            });
        }
        for k in state.storage.writer_keys(writer).await? {
            keys.push(KeyEntry {
                writer: w,
                key: k.key,
                kind: if k.registered_by == "office" {
                    "office"
                } else {
                    "device"
                }
                .into(),
                holder: k.holder,
                holder_name: k.holder_name,
                device_name: k.device_name,
                registered_ms: k.registered_ms,
                registered_by: k.registered_by,
                retired_ms: k.retired_ms,
                revoked_ms: k.revoked_ms,
            });
        }
    }

    let mut decisions = Vec::new();
    for r in &records {
        for a in state.storage.history_source(r.state.id).await?.actions {
            decisions.push(DecisionEntry {
                at_ms: a.at_ms,
                action: a.action,
                actor: a.username,
                record: a.record_id,
                note: a.note,
                op_seq: a.seq,
            });
        }
    }
    decisions.sort_by_key(|d| (d.at_ms, d.op_seq));

    let mut attachments = Vec::new();
    let mut seen = BTreeSet::new();
    for r in &records {
        let rec = r.state.decode().map_err(ApiError::internal)?;
        let blobs = state.storage.record_blobs(r.state.id).await?;
        for m in rec.members("attachments") {
            let Ok(c) = ContentRef::parse(m) else {
                continue;
            };
            if !seen.insert(c.hash) {
                continue;
            }
            let meta = blobs
                .iter()
                .find(|b| b.hash == c.hash)
                .and_then(|b| b.meta.as_ref());
            attachments.push(AttachmentEntry {
                hash: c.hash.to_hex(),
                size: c.size,
                media_type: c.media_type.clone(),
                stored: meta.is_some_and(|m| m.complete),
            });
        }
    }

    let mut bundle = Bundle {
        format: FORMAT.into(),
        subject: id,
        generated_ms: state.now_ms(),
        server_version: env!("CARGO_PKG_VERSION").into(),
        records,
        ops,
        seals,
        keys,
        decisions,
        attachments,
        root: Root {
            seq: root.seq,
            link: hex::encode(root.link),
            at_ms: state.now_ms(),
        },
        server_key: String::new(),
        server_seal: String::new(),
    };
    let key = state.storage.server_key().await?;
    seal_bundle(&mut bundle, &key);
    Ok(bundle)
}
