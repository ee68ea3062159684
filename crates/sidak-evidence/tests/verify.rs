//! Issue 15, evidence bundles: a real bundle (signed chains, log links, a record rebuilt from its
//! ops, a photo, the server's seal, see `sidak_evidence::testing`) passes every check, and
//! changing one byte of any part of it, dropping an op, reordering a seal's run or stamping an
//! op after its key's revocation fails the check that names that part, whether or not the
//! server's seal is made again over the changed bundle.
#![allow(clippy::unwrap_used)]

use std::sync::LazyLock;

use proptest::prelude::*;
use sidak_core::wire::FieldV1;
use sidak_evidence::testing::{
    ADDRESS, B_OP_MS, COMPANY, DEVICE_A, DEVICE_B, DEVICE_C, T0, photo, sample_bundle, server_key,
};
use sidak_evidence::{
    Bundle, BundleError, Check, Outcome, Verdict, read_bundle, seal_bundle, verify,
};

static SAMPLE: LazyLock<Bundle> = LazyLock::new(sample_bundle);

fn sample() -> Bundle {
    SAMPLE.clone()
}

/// `s` with the hex digit at `at` replaced by another hex digit (still valid lowercase hex).
fn flip_hex(s: &str, at: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    let digit = (b[at] as char).to_digit(16).unwrap();
    b[at] = char::from_digit(digit ^ 1, 16).unwrap() as u8;
    String::from_utf8(b).unwrap()
}

fn resealed(mut b: Bundle) -> Bundle {
    seal_bundle(&mut b, &server_key());
    b
}

fn failures(v: &Verdict) -> Vec<&Check> {
    v.checks
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
        .collect()
}

fn check<'a>(v: &'a Verdict, name: &str) -> &'a Check {
    v.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {:#?}", v.checks))
}

/// Asserts a failed check named `name` whose detail says `says`.
fn assert_failed(v: &Verdict, name: &str, says: &str) {
    assert!(!v.passed(), "passed: {v:#?}");
    assert!(
        v.checks
            .iter()
            .any(|c| c.outcome == Outcome::Failed && c.name == name && c.detail.contains(says)),
        "no failed check {name:?} saying {says:?} in {:#?}",
        failures(v)
    );
}

fn seal_name(i: usize) -> String {
    let (writer, span) = match i {
        0 => (DEVICE_A, "1..=2"),
        1 => (DEVICE_A, "3..=4"),
        _ => (DEVICE_B, "1..=1"),
    };
    format!("seal {i} (writer {writer}, positions {span})")
}

fn record_name() -> String {
    format!("record {COMPANY}")
}

const CHANGED: &str = "its hash is not the one its writer sealed at position 3 (the op was changed after it was sent)";

/// Changes the sample with `change`, then checks that each `(name, says)` fails both as
/// changed (the server's seal failing too) and sealed again by the server after the change.
fn tampered(change: impl Fn(&mut Bundle), expect: &[(&str, &str)]) {
    let mut b = sample();
    change(&mut b);
    assert_ne!(b, sample(), "the change changed nothing");
    let v = verify(&b, None);
    assert_failed(&v, "server seal", "changed after the server made it");
    for (name, says) in expect {
        assert_failed(&v, name, says);
    }
    let v = verify(&resealed(b), None);
    assert_eq!(check(&v, "server seal").outcome, Outcome::Passed);
    for (name, says) in expect {
        assert_failed(&v, name, says);
    }
}

#[test]
fn the_real_bundle_passes_every_check() {
    let b = sample();
    let v = verify(&b, None);
    assert!(v.passed(), "{:#?}", failures(&v));
    for group in [
        "format",
        "subject",
        "ops",
        "op hashes",
        "seals",
        "keys",
        "key validity",
        "log links",
        "records",
        "attachments",
        "decisions",
        "root",
        "server seal",
    ] {
        assert_eq!(check(&v, group).outcome, Outcome::Passed, "{group}");
    }
    // C's op is unsigned, and no server key was pinned: warnings, not failures.
    let unsigned = check(&v, "op seq 6");
    assert_eq!(unsigned.outcome, Outcome::Warning);
    assert_eq!(
        unsigned.detail,
        "unsigned: written by a device enrolled before keys"
    );
    let key = check(&v, "server key");
    assert_eq!(key.outcome, Outcome::Warning);
    assert!(key.detail.contains("GET /v1/info"), "{}", key.detail);
    assert_eq!(v.warnings().count(), 2);

    // Pinned to the server's key, the key check passes; pinned to another, it fails.
    let v = verify(&b, Some(&server_key().public().to_hex()));
    assert_eq!(check(&v, "server key").outcome, Outcome::Passed);
    let other = sidak_core::chain::SigningKey::from_seed(&[3; 32])
        .public()
        .to_hex();
    assert_failed(
        &verify(&b, Some(&other)),
        "server key",
        "not the pinned key",
    );
    assert_failed(&verify(&b, Some("abc")), "server key", "not 64 hex digits");
}

#[test]
fn the_published_vector_passes_pinned_and_fails_changed() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../proto/vectors/chain/evidence-bundle.json"
    );
    let vector: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let bundle = read_bundle(&serde_json::to_vec(&vector["bundle"]).unwrap()).unwrap();
    assert_eq!(
        hex::encode(sidak_evidence::bundle_digest(&bundle)),
        vector["digest"].as_str().unwrap()
    );
    let seed = sidak_core::chain::parse_hex::<32>(vector["server_seed"].as_str().unwrap(), "seed")
        .unwrap();
    let key = sidak_core::chain::SigningKey::from_seed(&seed)
        .public()
        .to_hex();
    let v = verify(&bundle, Some(&key));
    assert!(v.passed(), "{:#?}", failures(&v));
    assert_eq!(v.warnings().count(), 0, "{:#?}", v.checks);
    let mut changed = bundle.clone();
    changed.seals[0].seal = flip_hex(&changed.seals[0].seal, 3);
    assert!(!verify(&changed, Some(&key)).passed());
}

#[test]
fn a_bundle_reads_back_from_its_json() {
    let b = sample();
    let json = serde_json::to_vec_pretty(&b).unwrap();
    let read = read_bundle(&json).unwrap();
    assert_eq!(read, b);
    assert!(verify(&read, None).passed());

    assert!(matches!(
        read_bundle(b"PK\x03\x04"),
        Err(BundleError::NotJson(_))
    ));
    assert!(matches!(
        read_bundle(b"{\"a\": 1}"),
        Err(BundleError::NotBundle)
    ));
    assert!(matches!(
        read_bundle(b"[1, 2]"),
        Err(BundleError::NotBundle)
    ));
    assert!(matches!(
        read_bundle(br#"{"format": "sidak-evidence/9"}"#),
        Err(BundleError::Unsupported(f)) if f == "sidak-evidence/9"
    ));
    let shape = read_bundle(br#"{"format": "sidak-evidence/1"}"#).unwrap_err();
    assert!(matches!(shape, BundleError::Shape(_)));
    assert!(shape.to_string().contains("missing field"), "{shape}");
}

#[test]
fn a_changed_value_inside_an_op_names_the_op_and_the_record() {
    let changed_address = ADDRESS.replace("12", "13");
    tampered(
        |b| b.ops[1].text = b.ops[1].text.replace(ADDRESS, &changed_address),
        &[
            ("op seq 3", CHANGED),
            ("op seq 3", "its log link is not"),
            (&record_name(), "field address differs"),
        ],
    );
}

#[test]
fn a_changed_seal_signature_names_the_seal() {
    for i in 0..3 {
        for at in [0, 63, 64, 127] {
            tampered(
                |b| b.seals[i].seal = flip_hex(&b.seals[i].seal, at),
                &[(&seal_name(i), "is not writer")],
            );
        }
    }
}

#[test]
fn a_changed_seal_prev_names_the_seal() {
    for i in 0..3 {
        tampered(
            |b| b.seals[i].prev = flip_hex(&b.seals[i].prev, 40),
            &[(&seal_name(i), "is not writer")],
        );
    }
}

#[test]
fn a_changed_hash_in_a_seal_names_the_seal_and_the_op() {
    tampered(
        |b| b.seals[1].hashes[0] = flip_hex(&b.seals[1].hashes[0], 5),
        &[(&seal_name(1), "is not writer"), ("op seq 3", CHANGED)],
    );
    // Position 2 is an op of a record not in the bundle: only its seal vouches for it.
    tampered(
        |b| b.seals[0].hashes[1] = flip_hex(&b.seals[0].hashes[1], 0),
        &[(&seal_name(0), "is not writer")],
    );
}

#[test]
fn two_ops_swapped_in_a_seal_name_the_seal_and_both_ops() {
    tampered(
        |b| b.seals[1].hashes.swap(0, 1),
        &[
            (&seal_name(1), "is not writer"),
            ("op seq 3", CHANGED),
            ("op seq 4", "sealed at position 4"),
        ],
    );
}

#[test]
fn a_changed_key_names_the_seals_made_with_it() {
    // In the key list: the seals' key is no longer listed (and the key may not be a point).
    for at in [0, 20, 63] {
        tampered(
            |b| b.keys[0].key = flip_hex(&b.keys[0].key, at),
            &[
                (&seal_name(0), "is not among the bundle's keys of writer"),
                (&seal_name(1), "is not among the bundle's keys of writer"),
            ],
        );
    }
    // In the seal itself: not listed, and the signature does not check with it.
    tampered(
        |b| b.seals[2].key = flip_hex(&b.seals[2].key, 10),
        &[(&seal_name(2), "its key")],
    );
    // A key that is not an Ed25519 point names the key.
    let not_a_point = (0..=255u8)
        .map(|k| hex::encode([k; 32]))
        .find(|k| sidak_core::chain::PublicKey::parse(k).is_err())
        .unwrap();
    let mut b = sample();
    b.keys[1].key = not_a_point;
    let v = verify(&b, None);
    assert_failed(
        &v,
        &format!("key 1 (writer {DEVICE_B})"),
        "not a valid Ed25519 key",
    );
}

#[test]
fn a_changed_log_link_names_the_op_and_the_next() {
    tampered(
        |b| b.ops[2].log_link = flip_hex(&b.ops[2].log_link, 7),
        &[
            ("op seq 4", "its log link is not"),
            ("op seq 5", "its log_prev is not the log link of op seq 4"),
        ],
    );
    // The last op's link is the root's.
    tampered(
        |b| b.ops[4].log_link = flip_hex(&b.ops[4].log_link, 7),
        &[
            ("op seq 6", "its log link is not"),
            ("root", "not the log link of op seq 6"),
        ],
    );
}

#[test]
fn a_changed_log_prev_names_the_op() {
    tampered(
        |b| b.ops[2].log_prev = flip_hex(&b.ops[2].log_prev, 33),
        &[
            ("op seq 4", "its log link is not"),
            ("op seq 4", "its log_prev is not the log link of op seq 3"),
        ],
    );
    // Seq 3 follows seq 2, an op not in the bundle: its own link still catches it.
    tampered(
        |b| b.ops[1].log_prev = flip_hex(&b.ops[1].log_prev, 0),
        &[("op seq 3", "its log link is not")],
    );
    // The log's first op follows the genesis link, whatever else was recomputed.
    tampered(
        |b| {
            let prev = [1u8; 32];
            b.ops[0].log_prev = hex::encode(prev);
        },
        &[("op seq 1", "not the genesis link")],
    );
}

#[test]
fn a_changed_root_names_the_root() {
    tampered(
        |b| b.root.link = flip_hex(&b.root.link, 12),
        &[("root", "not the log link of op seq 6")],
    );
    tampered(
        |b| b.root.seq = 5,
        &[("root", "op seq 6 is after the log's end at seq 5")],
    );
}

#[test]
fn a_changed_record_state_names_the_record_and_field() {
    tampered(
        |b| {
            let Some(FieldV1::Lww(v)) = b.records[0].state.fields.get_mut("address") else {
                panic!("no address")
            };
            v.v = serde_json::json!(ADDRESS.replace("12", "13"));
        },
        &[(
            &record_name(),
            "its state is not what its ops give (field address differs)",
        )],
    );
    tampered(
        |b| {
            b.records[0].state.fields.remove("scale");
        },
        &[(&record_name(), "field scale differs")],
    );
}

#[test]
fn a_changed_server_seal_names_the_seal() {
    for at in [0, 100] {
        let mut b = sample();
        b.server_seal = flip_hex(&b.server_seal, at);
        let v = verify(&b, None);
        assert_failed(&v, "server seal", "changed after the server made it");
        assert_eq!(failures(&v).len(), 1, "{:#?}", failures(&v));
    }
    // Sealed by another server: the seal checks with the key in the bundle, not the pinned one.
    let mut b = sample();
    seal_bundle(&mut b, &sidak_core::chain::SigningKey::from_seed(&[4; 32]));
    let v = verify(&b, Some(&server_key().public().to_hex()));
    assert_eq!(check(&v, "server seal").outcome, Outcome::Passed);
    assert_failed(&v, "server key", "not the pinned key");
}

#[test]
fn a_changed_attachment_hash_names_both_hashes() {
    let listed = sample().attachments[0].hash.clone();
    let flipped = flip_hex(&listed, 9);
    tampered(
        |b| b.attachments[0].hash = flipped.clone(),
        &[
            (
                &format!("attachment {flipped}"),
                "no record of the bundle references it",
            ),
            (
                &format!("attachment {listed}"),
                "the bundle does not list it",
            ),
        ],
    );
    tampered(
        |b| b.attachments[0].size += 1,
        &[(&format!("attachment {listed}"), "but record")],
    );
    tampered(
        |b| {
            b.attachments.clear();
        },
        &[(
            &format!("attachment {listed}"),
            "the bundle does not list it",
        )],
    );
}

#[test]
fn a_removed_photo_is_not_listed() {
    // Device C (unsigned) removes the photo at seq 7: the server lists what the record holds now.
    let mut b = sample();
    let mut record = b.records[0].state.decode().unwrap();
    let hlc = sidak_core::Hlc::new(T0 + 6_000, 0, DEVICE_C);
    let op = sidak_core::Edit::update(&record, hlc)
        .remove("attachments", photo().to_element())
        .unwrap()
        .finish();
    record.apply(&op).unwrap();
    let text = sidak_core::chain::op_text(&sidak_core::OpV1::from(&op));
    let prev = b.root.link.clone();
    let link = sidak_core::chain::log_link(
        &sidak_core::chain::parse_hex::<32>(&prev, "root").unwrap(),
        7,
        &sidak_core::chain::hash_text(&text),
    );
    b.ops.push(sidak_evidence::OpEntry {
        seq: 7,
        text,
        writer: DEVICE_C,
        n: None,
        log_prev: prev,
        log_link: hex::encode(link),
    });
    b.root.seq = 7;
    b.root.link = hex::encode(link);
    b.records[0].state = sidak_core::RecordV1::from(&record);
    let listed = b.attachments.clone();
    b.attachments.clear();
    let v = verify(&resealed(b.clone()), None);
    assert!(v.passed(), "{:#?}", failures(&v));
    // Listing it all the same is listing one the records do not hold.
    b.attachments = listed;
    let v = verify(&resealed(b), None);
    assert_failed(
        &v,
        &format!("attachment {}", photo().hash),
        "no record of the bundle references it",
    );
}

#[test]
fn a_dropped_op_names_the_record() {
    tampered(
        |b| b.ops.retain(|e| e.seq != 3),
        &[(&record_name(), "field address differs")],
    );
    tampered(
        |b| b.ops.retain(|e| e.seq != 1),
        &[(&record_name(), "its state is not what its ops give")],
    );
    // The last op: the root is still at seq 6, after every op left.
    tampered(
        |b| b.ops.retain(|e| e.seq != 6),
        &[(&record_name(), "field scale differs")],
    );
}

#[test]
fn an_op_stamped_after_its_key_was_revoked_names_the_op() {
    tampered(
        |b| b.keys[1].revoked_ms = Some(T0 + B_OP_MS - 1),
        &[("op seq 5", "after key")],
    );
    // Revoked after the stamp: fine.
    let mut b = sample();
    b.keys[1].revoked_ms = Some(T0 + B_OP_MS);
    assert!(verify(&resealed(b), None).passed());
}

#[test]
fn invalid_hex_names_the_part() {
    let upper = |s: &str| s.to_ascii_uppercase();
    tampered(
        |b| b.seals[0].prev = upper(&b.seals[0].prev.replace('0', "a")),
        &[(&seal_name(0), "its prev is not 32 bytes of lowercase hex")],
    );
    tampered(
        |b| b.seals[1].hashes[1] = "zz".repeat(32),
        &[(
            &seal_name(1),
            "its hash 1 (position 4) is not 32 bytes of lowercase hex",
        )],
    );
    tampered(
        |b| b.seals[2].seal.truncate(120),
        &[(&seal_name(2), "its seal is not 64 bytes of lowercase hex")],
    );
    tampered(
        |b| b.ops[0].log_link.push('0'),
        &[("op seq 1", "its log_link is not 32 bytes of lowercase hex")],
    );
    tampered(
        |b| b.root.link = "g".repeat(64),
        &[("root", "its link is not 32 bytes of lowercase hex")],
    );
    let hash = upper(&sample().attachments[0].hash.replace('0', "a"));
    tampered(
        |b| b.attachments[0].hash = hash.clone(),
        &[(
            &format!("attachment {hash}"),
            "its hash is not 64 lowercase hex digits",
        )],
    );
    let mut b = sample();
    b.server_seal = "x".repeat(128);
    assert_failed(
        &verify(&b, None),
        "server seal",
        "server_seal is not 64 bytes",
    );
}

#[test]
fn a_malformed_op_names_the_op() {
    // Not canonical: a space after a colon hashes differently from what was sealed.
    tampered(
        |b| b.ops[0].text = b.ops[0].text.replacen(':', ": ", 1),
        &[("op seq 1", "not canonical JSON")],
    );
    tampered(
        |b| b.ops[0].text = "{\"id\":1}".to_owned(),
        &[("op seq 1", "its text is not an op")],
    );
    tampered(
        |b| b.ops[0].writer = DEVICE_B,
        &[("op seq 1", "listed under writer")],
    );
    tampered(
        |b| b.ops.swap(1, 2),
        &[("op seq 3", "it comes after op seq 4")],
    );
    tampered(
        |b| b.ops[0].n = Some(7),
        &[("op seq 1", "no seal of its writer")],
    );
    tampered(
        |b| b.format = "sidak-evidence/2".to_owned(),
        &[("format", "sidak-evidence/2")],
    );
}

/// What [`proptest_flip`] changes.
#[derive(Debug, Clone)]
enum Part {
    Hash(usize),
    Seal,
}

fn part() -> impl Strategy<Value = (usize, Part)> {
    (
        0usize..3,
        prop_oneof![
            any::<prop::sample::Index>().prop_map(|i| Part::Hash(i.index(2))),
            Just(Part::Seal)
        ],
    )
        .prop_map(|(seal, part)| match (seal, part) {
            // Seal 2 has one hash.
            (2, Part::Hash(_)) => (2, Part::Hash(0)),
            other => other,
        })
}

proptest! {
    // Each case checks five signatures twice, unoptimised: 64 cases keep it to seconds.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Replacing any byte of any seal's hash or signature (by a hex digit or not) fails the seal,
    /// even when the server seals the changed bundle again.
    #[test]
    fn proptest_flip((seal, part) in part(), at in any::<prop::sample::Index>(), by in prop::sample::select(b"0123456789abcdefAFgz .\"".to_vec())) {
        let mut b = sample();
        let s = &mut b.seals[seal];
        let field = match part {
            Part::Hash(j) => &mut s.hashes[j],
            Part::Seal => &mut s.seal,
        };
        let i = at.index(field.len());
        prop_assume!(field.as_bytes()[i] != by);
        let mut bytes = field.clone().into_bytes();
        bytes[i] = by;
        *field = String::from_utf8(bytes).unwrap();
        prop_assert!(!verify(&b, None).passed());
        let v = verify(&resealed(b), None);
        prop_assert!(!v.passed());
        let name = seal_name(seal);
        prop_assert!(failures(&v).iter().any(|c| c.name == name), "{:#?}", failures(&v));
    }
}
