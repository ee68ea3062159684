//! Stories of signed chains and the log's links ([`EvidenceStore`], `sync::chain`): a device
//! that seals its pushes, every refusal of a chain header with its code and flag, a device
//! enrolled before keys registering its key, and the audit finding rows altered, removed or
//! inserted directly in the database (with raw SQL on each engine).

use sidak_core::chain::{self, GENESIS, Hash32, SigningKey};
use sidak_core::protocol::{ChainV1, OpStatus};
use sidak_server_storage::evidence::{AuditReport, audit};
use sidak_server_storage::sync::ingest::Batch;
use sidak_server_storage::{Storage, StorageError};

use crate::harness::*;

/// A phone's key and where its chain ends, as the phone keeps them.
struct Signer {
    key: SigningKey,
    n: u64,
    link: Hash32,
}

impl Signer {
    fn new(seed: u8) -> Signer {
        Signer {
            key: SigningKey::from_seed(&[seed; 32]),
            n: 0,
            link: GENESIS,
        }
    }

    /// The header placing `batch` after the chain's end (without moving it).
    fn header(&self, phone: &Phone, batch: &Batch, first: u64, prev: Hash32) -> ChainV1 {
        let (last, end) = chain::segment_end(phone.id, first, &prev, &batch.hashes).unwrap();
        ChainV1 {
            n: first,
            prev: hex::encode(prev),
            seal: hex::encode(self.key.seal(phone.id, last, &end)),
            key: Some(self.key.public().to_hex()),
        }
    }

    /// Seals `batch` as the chain's next run and moves the end past it.
    fn seal(&mut self, phone: &Phone, batch: Batch) -> Batch {
        let h = self.header(phone, &batch, self.n + 1, self.link);
        let (last, end) =
            chain::segment_end(phone.id, self.n + 1, &self.link, &batch.hashes).unwrap();
        self.n = last;
        self.link = end;
        batch.sealed(h)
    }
}

async fn enroll_with_key(s: &dyn Storage, n: u128, officer: &str, key: &SigningKey) -> Phone {
    let code = issue_code(s, n, officer, T0).await;
    let mut device = new_device(n, T0, None);
    device.public_key = Some(key.public().to_hex());
    s.enroll(&code, device).await.expect("enroll");
    Phone::new(n)
}

async fn push_sealed(
    s: &dyn Storage,
    phone: &mut Phone,
    signer: &mut Signer,
    now: u64,
) -> Vec<OpStatus> {
    let auth = phone.auth(s).await;
    let batch = phone.batch(now);
    let batch = signer.seal(phone, batch);
    let reply = s
        .push_batch(&auth, batch, now, SKEW)
        .await
        .expect("sealed push");
    reply.results.iter().map(|r| r.status).collect()
}

/// Runs SQL directly on the backend's database, as an administrator would.
async fn raw_sql(b: &Backend, sql: &str) {
    match b.engine {
        Engine::Sqlite => {
            let path = b
                .url
                .trim_start_matches("sqlite:")
                .split('?')
                .next()
                .unwrap()
                .to_owned();
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                let c = rusqlite::Connection::open(path).unwrap();
                c.execute_batch(&sql).unwrap();
            })
            .await
            .unwrap();
        }
        Engine::Postgres => {
            let (client, conn) = tokio_postgres::connect(&b.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            client.batch_execute(sql).await.unwrap();
            drop(client);
            let _ = task.await;
        }
    }
}

/// What an audit said, shortened for comparing engines.
fn verdict(r: &AuditReport) -> (u64, u64, Option<u64>) {
    (r.ops, r.sealed, r.first_bad.as_ref().map(|b| b.0))
}

/// A phone sealing its pushes: each op logged with its place in the chain and a log link, the
/// audit passing; then each direct change to the database named by the audit at the right row.
pub async fn sealed_pushes_and_the_audit(b: &Backend) -> Vec<(u64, u64, Option<u64>)> {
    let s: &dyn Storage = b.store.as_ref();
    create_officer(s, "off-1", &[MAKASSAR], T0).await;
    let mut signer = Signer::new(7);
    let mut phone = enroll_with_key(s, 1, "off-1", &signer.key).await;
    let v = village(MAKASSAR, 0);
    let w1 = phone.worker(&v, "Siti Aminah", 1, "submitted", T0);
    phone.worker(&v, "Nur Hayati", 2, "submitted", T0 + 1);
    phone.worker(&v, "Rahmawati", 3, "submitted", T0 + 2);
    assert_eq!(
        push_sealed(s, &mut phone, &mut signer, T0 + 10).await,
        vec![OpStatus::Accepted; 3]
    );
    phone.set(w1, "occupation", "farmer", T0 + 20);
    phone.set(w1, "monthly_income", 2_000_000i64, T0 + 21);
    assert_eq!(
        push_sealed(s, &mut phone, &mut signer, T0 + 30).await,
        vec![OpStatus::Accepted; 2]
    );

    let chains = s.device_chains().await.unwrap();
    let c = chains
        .iter()
        .find(|c| c.device_id == phone.id.to_string())
        .unwrap();
    assert_eq!((c.chain_n, c.chain_breaks), (5, 0));
    assert_eq!(
        c.public_key.as_deref(),
        Some(signer.key.public().to_hex().as_str())
    );
    let rows = s.record_log(w1).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.n).collect::<Vec<_>>(),
        vec![Some(1), Some(4), Some(5)]
    );
    assert!(rows.iter().all(|r| r.link.is_some()));
    let run = s
        .seal_covering(&phone.id.to_string(), 4)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((run.first, run.last, run.hashes.len()), (4, 5, 2));
    let root = s.log_root().await.unwrap();
    assert_eq!(root.seq, 5);

    let mut seen = Vec::new();
    let clean = audit(s).await.unwrap();
    assert_eq!(clean.first_bad, None, "{clean:?}");
    assert_eq!((clean.ops, clean.sealed, clean.unsigned), (5, 5, 0));
    seen.push(verdict(&clean));

    // A value changed in place: that row is named.
    raw_sql(
        b,
        "UPDATE ops SET op = replace(op, 'Nur Hayati', 'Nur Hayat') WHERE seq = 2",
    )
    .await;
    let r = audit(s).await.unwrap();
    assert_eq!(r.first_bad.as_ref().map(|b| b.0), Some(2), "{r:?}");
    seen.push(verdict(&r));
    raw_sql(
        b,
        "UPDATE ops SET op = replace(op, 'Nur Hayat', 'Nur Hayati') WHERE seq = 2",
    )
    .await;
    assert_eq!(audit(s).await.unwrap().first_bad, None);

    // Its log link recomputed too (an administrator who knows the formula): the device's seal
    // still names it.
    let text_of = |rows: &[sidak_server_storage::evidence::LogRow], seq: u64| {
        rows.iter()
            .find(|r| r.seq == seq)
            .map(|r| r.text.clone())
            .unwrap()
    };
    let all = s.log_rows(0, 100).await.unwrap();
    let forged = text_of(&all, 3).replace("Rahmawati", "Rahmawaty");
    let prev = all[1].link.unwrap();
    let link = chain::log_link(&prev, 3, &chain::hash_text(&forged));
    let sql = match b.engine {
        Engine::Sqlite => format!(
            "UPDATE ops SET op = '{}', link = X'{}' WHERE seq = 3",
            forged.replace('\'', "''"),
            hex::encode(link)
        ),
        Engine::Postgres => format!(
            "UPDATE ops SET op = '{}', link = '\\x{}' WHERE seq = 3",
            forged.replace('\'', "''"),
            hex::encode(link)
        ),
    };
    raw_sql(b, &sql).await;
    let r = audit(s).await.unwrap();
    let bad = r.first_bad.clone().unwrap();
    assert_eq!(bad.0, 3, "{r:?}");
    assert!(bad.1.contains("sealed"), "{bad:?}");
    seen.push(verdict(&r));

    // A row deleted: the one after it is named.
    raw_sql(b, "DELETE FROM ops WHERE seq = 3").await;
    let r = audit(s).await.unwrap();
    assert_eq!(r.first_bad.as_ref().map(|b| b.0), Some(4), "{r:?}");
    seen.push(verdict(&r));
    seen
}

/// Every refusal of a chain header, with its code; nothing of a refused batch is applied, the
/// break is counted on the device, and an honest phone continues from the head it is given.
pub async fn chain_refusals(s: &dyn Storage) -> Vec<(&'static str, u64)> {
    create_officer(s, "off-1", &[MAKASSAR], T0).await;
    let mut signer = Signer::new(9);
    let mut phone = enroll_with_key(s, 1, "off-1", &signer.key).await;
    let v = village(MAKASSAR, 0);
    phone.worker(&v, "Siti Aminah", 1, "submitted", T0);
    assert_eq!(
        push_sealed(s, &mut phone, &mut signer, T0 + 10).await,
        vec![OpStatus::Accepted]
    );
    let mut codes = Vec::new();
    let refuse = |r: Result<_, StorageError>| match r {
        Err(StorageError::Chain(c)) => c,
        other => panic!("expected a chain refusal, got {other:?}"),
    };

    // Unsealed from a device with a key.
    phone.worker(&v, "Nur Hayati", 2, "submitted", T0 + 20);
    let auth = phone.auth(s).await;
    let pending = phone.pending.clone();
    let c = refuse(
        s.push_batch(&auth, phone.batch(T0 + 21), T0 + 21, SKEW)
            .await,
    );
    codes.push((c.code, 0));
    // Sealed by another key.
    phone.pending = pending.clone();
    let b = phone.batch(T0 + 22);
    let other = Signer::new(10);
    let h = other.header(&phone, &b, 2, signer.link);
    let c = refuse(s.push_batch(&auth, b.sealed(h), T0 + 22, SKEW).await);
    codes.push((c.code, 0));
    // A forged seal (the right key named, a wrong signature).
    phone.pending = pending.clone();
    let b = phone.batch(T0 + 23);
    let mut h = signer.header(&phone, &b, 2, signer.link);
    h.seal = hex::encode(other.key.seal(phone.id, 2, &[1; 32]));
    let c = refuse(s.push_batch(&auth, b.sealed(h), T0 + 23, SKEW).await);
    codes.push((c.code, 0));
    // Positions after a gap: the head is given.
    phone.pending = pending.clone();
    let b = phone.batch(T0 + 24);
    let h = signer.header(&phone, &b, 9, [3; 32]);
    let c = refuse(s.push_batch(&auth, b.sealed(h), T0 + 24, SKEW).await);
    codes.push((c.code, c.head.as_ref().unwrap().n));
    // The same positions again with another history: a fork.
    phone.pending = pending.clone();
    let b = phone.batch(T0 + 25);
    let h = signer.header(&phone, &b, 1, GENESIS);
    let c = refuse(s.push_batch(&auth, b.sealed(h), T0 + 25, SKEW).await);
    codes.push((c.code, c.head.as_ref().unwrap().n));
    assert_eq!(
        log(s).await.len(),
        1,
        "nothing of a refused batch is logged"
    );
    let chains = s.device_chains().await.unwrap();
    let c = chains
        .iter()
        .find(|c| c.device_id == phone.id.to_string())
        .unwrap();
    assert_eq!(c.chain_breaks, 5);
    assert_eq!(c.chain_problem.as_ref().unwrap()["code"], "chain_fork");
    // Continued from the head: accepted.
    phone.pending = pending;
    assert_eq!(
        push_sealed(s, &mut phone, &mut signer, T0 + 30).await,
        vec![OpStatus::Accepted]
    );

    // A phone enrolled before keys: unsealed is accepted, then its key registers once.
    let mut old = Phone::enroll(s, 2, "off-1", T0).await;
    old.worker(&v, "Rahmawati", 3, "submitted", T0 + 40);
    assert_eq!(
        old.push(s, T0 + 41).await.results[0].status,
        OpStatus::Accepted
    );
    let mut later = Signer::new(11);
    old.worker(&v, "Wahyuni", 4, "submitted", T0 + 50);
    assert_eq!(
        push_sealed(s, &mut old, &mut later, T0 + 51).await,
        vec![OpStatus::Accepted]
    );
    let keys = s.writer_keys(&old.id.to_string()).await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| k.registered_by.as_str())
            .collect::<Vec<_>>(),
        vec!["first_push"]
    );
    let r = audit(s).await.unwrap();
    assert_eq!((r.first_bad, r.unsigned, r.sealed), (None, 1, 3));
    codes
}

/// Two ops of one batch with one stamp, the first refused: the log keeps the text of the op
/// accepted, not of the first op with that stamp (found by the simulation, seed 206).
pub async fn one_stamp_twice_in_a_batch_logs_the_accepted_text(s: &dyn Storage) -> Vec<String> {
    create_officer(s, "off-1", &[MAKASSAR], T0).await;
    let mut phone = Phone::enroll(s, 1, "off-1", T0).await;
    let v = village(MAKASSAR, 0);
    let w = phone.worker(&v, "Siti Aminah", 1, "submitted", T0);
    phone.push_accepted(s, T0 + 1).await;
    phone.set(w, "phone", "081234567890", T0 + 2);
    let good = phone.pending[0].clone();
    let mut bad = good.clone();
    bad.changes[0].value = serde_json::json!("not a phone");
    phone.pending = vec![bad, good.clone()];
    let reply = phone.push(s, T0 + 3).await;
    let statuses: Vec<_> = reply.results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![OpStatus::Rejected, OpStatus::Accepted]);
    let rows = s.record_log(w).await.unwrap();
    let logged: sidak_core::OpV1 = serde_json::from_str(&rows[1].text).unwrap();
    assert_eq!(logged, good, "the accepted op's own text is logged");
    rows.into_iter().map(|r| r.text).collect()
}

/// Enrolling again rotates the key: the old one is retired, a batch sealed with it is refused
/// `key_mismatch`, the chain goes on under the new one; and replays are refused: another
/// device's op in a sealed batch (`wrong_device`), an own op sent again with another value
/// (`hlc_reused`), an old sealed batch sent again at its old positions (`chain_fork`).
pub async fn rotation_and_replays(s: &dyn Storage) -> Vec<String> {
    create_officer(s, "off-1", &[MAKASSAR], T0).await;
    let mut first = Signer::new(21);
    let mut phone = enroll_with_key(s, 1, "off-1", &first.key).await;
    let mut other_signer = Signer::new(22);
    let mut other = enroll_with_key(s, 2, "off-1", &other_signer.key).await;
    let v = village(MAKASSAR, 0);
    let w = phone.worker(&v, "Siti Aminah", 1, "submitted", T0);
    let sent = phone.pending.clone();
    assert_eq!(
        push_sealed(s, &mut phone, &mut first, T0 + 1).await,
        vec![OpStatus::Accepted]
    );

    // Enrolled again, keeping its id (it holds edits): a new key.
    let mut second = Signer::new(23);
    second.n = first.n;
    second.link = first.link;
    let code = issue_code(s, 3, "off-1", T0).await;
    let mut again = new_device(
        3,
        T0 + 2,
        Some(sidak_core::protocol::KeepIdentity {
            device_id: phone.id,
            officer_id: "off-1".into(),
            unsent: false,
        }),
    );
    again.public_key = Some(second.key.public().to_hex());
    s.enroll(&code, again).await.unwrap();
    phone.token = "token-3".into();
    let keys = s.writer_keys(&phone.id.to_string()).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys[0].retired_ms.is_some() && keys[1].retired_ms.is_none(),
        "{keys:?}"
    );
    phone.set(w, "occupation", "farmer", T0 + 3);
    let auth = phone.auth(s).await;
    let pending = phone.pending.clone();
    let b = phone.batch(T0 + 4);
    let h = first.header(&phone, &b, first.n + 1, first.link);
    let mut codes = Vec::new();
    match s.push_batch(&auth, b.sealed(h), T0 + 4, SKEW).await {
        Err(StorageError::Chain(c)) => codes.push(c.code.to_owned()),
        other => panic!("old key: {other:?}"),
    }
    phone.pending = pending;
    assert_eq!(
        push_sealed(s, &mut phone, &mut second, T0 + 5).await,
        vec![OpStatus::Accepted]
    );

    // Another device's op, sealed into this phone's batch.
    other.worker(&v, "Nur Hayati", 2, "submitted", T0 + 6);
    phone.pending = other.pending.clone();
    let r = push_sealed(s, &mut phone, &mut second, T0 + 7).await;
    assert_eq!(r, vec![OpStatus::Rejected]);
    // Its own first op again, with another value, sealed anew.
    let mut changed = sent[0].clone();
    changed.changes[1].value = serde_json::json!("Siti Aminah Binti");
    phone.pending = vec![changed];
    let auth = phone.auth(s).await;
    let b = phone.batch(T0 + 8);
    let reply = s
        .push_batch(&auth, second.seal(&phone, b), T0 + 8, SKEW)
        .await
        .unwrap();
    codes.extend(reply.results.iter().filter_map(|r| r.code.clone()));
    // The first batch again, at its old positions, under a fresh batch number.
    phone.pending = sent;
    let b = phone.batch(T0 + 9);
    let h = second.header(&phone, &b, 1, GENESIS);
    match s.push_batch(&auth, b.sealed(h), T0 + 9, SKEW).await {
        Err(StorageError::Chain(c)) => codes.push(c.code.to_owned()),
        other => panic!("replayed positions: {other:?}"),
    }
    let _ = &mut other_signer;
    assert_eq!(codes, vec!["key_mismatch", "hlc_reused", "chain_fork"]);
    let r = audit(s).await.unwrap();
    assert_eq!(r.first_bad, None, "{r:?}");
    codes
}

/// A database from before links (its ops unlinked, their text in another key order) is linked
/// in log order when opened (SQLite) or by the sealer (PostgreSQL), and then audits clean.
pub async fn ops_logged_before_links_are_linked(b: &Backend) -> (u64, u64) {
    let s: &dyn Storage = b.store.as_ref();
    create_officer(s, "off-1", &[MAKASSAR], T0).await;
    let mut phone = Phone::enroll(s, 1, "off-1", T0).await;
    let v = village(MAKASSAR, 0);
    for i in 1..5 {
        phone.worker(&v, "Siti Aminah", i, "submitted", T0 + u64::from(i));
    }
    phone.push_accepted(s, T0 + 10).await;
    // As an older build left it: no links, the op's keys in the struct's order.
    let older = log(s).await;
    for (seq, op) in &older {
        let text = serde_json::to_string(op).unwrap().replace('\'', "''");
        raw_sql(
            b,
            &format!("UPDATE ops SET link = NULL, op = '{text}' WHERE seq = {seq}"),
        )
        .await;
    }
    let again = b.open_again().await;
    let r = audit(again.as_ref()).await.unwrap();
    assert_eq!(r.first_bad, None, "{r:?}");
    assert_eq!((r.ops, r.unsigned, r.unlinked), (4, 4, 0), "{r:?}");
    let rows = again.log_rows(0, 10).await.unwrap();
    assert!(rows.iter().all(|r| r.link.is_some()));
    assert_eq!(log(again.as_ref()).await, older, "the same ops");
    (r.ops, r.unsigned)
}
