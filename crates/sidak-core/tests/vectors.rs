//! The protocol vectors in `proto/vectors/core/`: every file must match what this crate
//! produces (so an accidental format change fails here) and must validate against the
//! JSON Schemas in `proto/schema/` (so an app in another language can check itself).
//!
//! Regenerate after an intended change with `SIDAK_UPDATE_VECTORS=1 cargo test -p sidak-core --test vectors`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::{Value as Json, json};
use sidak_core::attachment::{BlobHash, ContentRef};
use sidak_core::validate::{NoReferences, validate_op};
use sidak_core::{DeviceId, Edit, Hlc, Kind, Op, OpV1, Record, RecordId, RecordV1};

fn proto() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

const A: DeviceId = DeviceId::from_u128(0x0193_6a1e_0000_7000_8000_0000_0000_000a);
const B: DeviceId = DeviceId::from_u128(0x0193_6a1e_0000_7000_8000_0000_0000_000b);
const OFFICE: DeviceId = DeviceId::from_u128(0x0193_6a1e_0000_7000_8000_0000_0000_00ff);
const WORKER: RecordId = RecordId::from_u128(0x0193_6a1e_5a00_7c3d_9f21_0a1b_2c3d_4e5f);
const VILLAGE: &str = "7371011001";
const T0: u64 = 1_764_050_400_000; // 2025-11-25T06:00:00Z

fn create_worker() -> Op {
    Edit::create(WORKER, Kind::Worker, VILLAGE, Hlc::new(T0, 0, A))
        .set("nik", "7371015506900003")
        .unwrap()
        .set("full_name", "Hasnah Daeng Ngai")
        .unwrap()
        .set("birth_date", "1990-06-15")
        .unwrap()
        .set("sex", "female")
        .unwrap()
        .set("occupation", "seaweed_farmer")
        .unwrap()
        .set("phone", "081355501234")
        .unwrap()
        .set("monthly_income", 1_500_000i64)
        .unwrap()
        .add("programmes", "JKK")
        .unwrap()
        .add("programmes", "JKM")
        .unwrap()
        .add("programmes", "JHT")
        .unwrap()
        .set("payer", "local_government")
        .unwrap()
        .set("consent", true)
        .unwrap()
        .set("status", "submitted")
        .unwrap()
        .finish()
}

fn state(ops: &[&Op]) -> Record {
    let mut r = Record::for_op(ops[0]);
    for op in ops {
        r.apply(op).unwrap();
    }
    r
}

fn generate() -> Vec<(&'static str, Json)> {
    let create = create_worker();
    let base = state(&[&create]);
    // Two officers, offline, edit the same registration.
    let a = Edit::update(&base, Hlc::new(T0 + 60_000, 0, A))
        .set("full_name", "Hasnah Dg. Ngai")
        .unwrap()
        .set("phone", "081355509999")
        .unwrap()
        .remove("programmes", "JHT")
        .unwrap()
        .finish();
    let b = Edit::update(&base, Hlc::new(T0 + 90_000, 0, B))
        .set("full_name", "Hasna Daeng Ngai")
        .unwrap()
        .add("programmes", "JHT")
        .unwrap()
        .add("heirs", "Muh. Ridwan (son)")
        .unwrap()
        .finish();
    let merged = state(&[&create, &a, &b]);
    let conflicts: Vec<Json> = merged
        .conflicts()
        .iter()
        .map(|c| {
            json!({"field": c.field, "values": c.values.iter().map(|s| json!({"value": s.value, "hlc": s.hlc})).collect::<Vec<_>>()})
        })
        .collect();
    // The office resolves the name conflict having seen both values.
    let resolve = Edit::update(&merged, Hlc::new(T0 + 3_600_000, 0, OFFICE))
        .set("full_name", "Hasnah Daeng Ngai")
        .unwrap()
        .finish();
    let resolved = state(&[&create, &a, &b, &resolve]);
    let invalid = json!([
        {"why": "unknown field", "code": "unknown_field", "op": {"id": WORKER, "kind": "worker", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "set", "field": "shoe_size", "value": 42}]}},
        {"why": "unknown kind", "code": "unknown_kind", "op": {"id": WORKER, "kind": "person", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "set", "field": "name", "value": "x"}]}},
        {"why": "add on a register field", "code": "invalid_change", "op": {"id": WORKER, "kind": "worker", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "add", "field": "phone", "value": "0812"}]}},
        {"why": "float value", "code": "invalid_value", "op": {"id": WORKER, "kind": "worker", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "set", "field": "monthly_income", "value": 1.5}]}},
        {"why": "NIK with an impossible birth date", "code": "invalid_nik", "op": {"id": WORKER, "kind": "worker", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "set", "field": "nik", "value": "7371013206900003"}]}},
        {"why": "JP is for wage earners", "code": "programme_not_allowed", "op": {"id": WORKER, "kind": "worker", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "add", "field": "programmes", "value": "JP"}]}},
        {"why": "income under the Rp 1,000,000 floor", "code": "out_of_range", "op": {"id": WORKER, "kind": "worker", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "set", "field": "monthly_income", "value": 900000}]}},
        {"why": "unknown village", "code": "invalid_region", "op": {"id": WORKER, "kind": "worker", "region": "7371019999", "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "set", "field": "phone", "value": "081355501234"}]}},
        {"why": "an attachment reference that is not in canonical form (parts out of order)", "code": "invalid_attachment", "op": {"id": WORKER, "kind": "worker", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "add", "field": "attachments", "value": format!("b3:{}?type=image/jpeg&size=1000", BlobHash::of(b"ktp"))}]}},
        {"why": "an attachment of a media type outside the allow-list", "code": "media_type_not_allowed", "op": {"id": WORKER, "kind": "worker", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "add", "field": "attachments", "value": format!("b3:{}?size=1000&type=video/mp4", BlobHash::of(b"video"))}]}},
        {"why": "an attachment over 20 MiB", "code": "blob_too_large", "op": {"id": WORKER, "kind": "worker", "region": VILLAGE, "hlc": Hlc::new(T0, 1, A), "changes": [{"op": "add", "field": "attachments", "value": format!("b3:{}?size=20971521&type=image/jpeg", BlobHash::of(b"huge"))}]}}
    ]);
    vec![
        (
            "op-create-worker.json",
            json!({
                "description": "An outreach officer registers a seaweed farmer: one op creates the record with all its fields.",
                "op": OpV1::from(&create),
                "state_after": RecordV1::from(&base),
            }),
        ),
        (
            "merge-concurrent.json",
            json!({
                "description": "Two officers edit the same registration offline. Applying base then a and b in either order gives `expected`: the name (multi-value) is in conflict, the phone (last writer wins, only a wrote it) is a's, JHT stays because b added it concurrently with a's remove (add wins), and b's heir is added.",
                "base": [OpV1::from(&create)],
                "a": OpV1::from(&a),
                "b": OpV1::from(&b),
                "expected": RecordV1::from(&merged),
                "conflicts": conflicts,
                "resolve": OpV1::from(&resolve),
                "expected_after_resolve": RecordV1::from(&resolved),
            }),
        ),
        (
            "attachment-refs.json",
            json!({
                "description": "How an attachment is written into a record's `attachments` set: one canonical text per photo or document (BLAKE3 hash of the bytes, size, media type, then taken-at, GPS and caption when known, percent-encoded, in this order). `canonical` pairs each reference with its text; every text in `refused` names the same photo in another form, which a server refuses with `code`, so two devices attaching the same photo always add the same element.",
                "canonical": canonical_refs(),
                "refused": refused_refs(),
            }),
        ),
        (
            "invalid-ops.json",
            json!({
                "description": "Ops a server must refuse, with the stable code of the problem (decode or validation).",
                "cases": invalid,
            }),
        ),
    ]
}

/// References with their canonical text, from the smallest to every part given.
fn canonical_refs() -> Json {
    let photo = BlobHash::of(b"foto KTP Hasnah");
    let bare = ContentRef::new(photo, 284_113, "image/jpeg").unwrap();
    let mut full = bare.clone();
    full.taken_at = Some("2025-11-25T14:05:00+08:00".into());
    full.geo = Some("-5.1477,119.4327".into());
    full.caption = Some("KTP & tanda tangan; 100% terbaca".into());
    let mut note = ContentRef::new(BlobHash::of(b"nota I"), 91_002, "application/pdf").unwrap();
    note.caption = Some("Nota pemeriksaan I".into());
    Json::Array(
        [bare, full, note]
            .iter()
            .map(|r| json!({"ref": r, "element": r.to_element()}))
            .collect(),
    )
}

/// Texts that are not canonical, with the code a server answers.
fn refused_refs() -> Json {
    let h = BlobHash::of(b"foto KTP Hasnah");
    let upper = h.to_hex().to_uppercase();
    json!([
        {"element": format!("b3:{h}?type=image/jpeg&size=284113"), "code": "invalid_attachment", "why": "parts out of order"},
        {"element": format!("b3:{upper}?size=284113&type=image/jpeg"), "code": "invalid_hash", "why": "hash in upper case"},
        {"element": format!("b3:{h}?size=0284113&type=image/jpeg"), "code": "invalid_attachment", "why": "a leading zero"},
        {"element": format!("b3:{h}?size=284113&type=image/jpeg&caption=KTP%20Hasnah%2c"), "code": "invalid_attachment", "why": "an escape in lower case"},
        {"element": format!("b3:{h}?size=284113&type=image/jpeg&caption="), "code": "invalid_attachment", "why": "an empty caption"},
        {"element": format!("sha256:{h}?size=284113&type=image/jpeg"), "code": "invalid_attachment", "why": "another hash"},
        {"element": format!("b3:{h}?size=284113&type=image/gif"), "code": "media_type_not_allowed", "why": "a type outside the allow-list"},
        {"element": format!("b3:{h}?size=20971521&type=image/jpeg"), "code": "blob_too_large", "why": "over 20 MiB"}
    ])
}

/// Resolves `https://sidak.example/proto/schema/<file>` to the files in `proto/schema/`.
struct ProtoFiles;

impl jsonschema::Retrieve for ProtoFiles {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Json, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().rsplit('/').next().unwrap_or_default();
        Ok(serde_json::from_str(&std::fs::read_to_string(
            proto().join("schema").join(name),
        )?)?)
    }
}

fn schema_validator(name: &str) -> jsonschema::Validator {
    let schema: Json =
        serde_json::from_str(&std::fs::read_to_string(proto().join("schema").join(name)).unwrap())
            .unwrap();
    jsonschema::options()
        .with_retriever(ProtoFiles)
        .build(&schema)
        .unwrap()
}

fn assert_valid(v: &jsonschema::Validator, instance: &Json, what: &str) {
    let errors: Vec<String> = v.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what}: {errors:?}");
}

#[test]
fn vectors_match_the_code_and_the_schemas() {
    let dir = proto().join("vectors/core");
    let update = std::env::var_os("SIDAK_UPDATE_VECTORS").is_some();
    for (name, generated) in generate() {
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&generated).unwrap() + "\n",
            )
            .unwrap();
        }
        let stored: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            stored, generated,
            "{name} differs from what the code produces; regenerate if the change is intended"
        );
    }
}

#[test]
fn vectors_validate_and_replay() {
    let dir = proto().join("vectors/core");
    let ops = schema_validator("op.v1.json");
    let records = schema_validator("record.v1.json");
    let read = |n: &str| -> Json {
        serde_json::from_str(&std::fs::read_to_string(dir.join(n)).unwrap()).unwrap()
    };
    let decode = |j: &Json| -> Op {
        serde_json::from_value::<OpV1>(j.clone())
            .unwrap()
            .decode()
            .unwrap()
    };

    let v = read("op-create-worker.json");
    assert_valid(&ops, &v["op"], "op");
    assert_valid(&records, &v["state_after"], "state_after");
    let create = decode(&v["op"]);
    assert_eq!(
        serde_json::to_value(RecordV1::from(&state(&[&create]))).unwrap(),
        v["state_after"]
    );

    let v = read("merge-concurrent.json");
    let (a, b) = (decode(&v["a"]), decode(&v["b"]));
    let base = decode(&v["base"][0]);
    for x in [&v["a"], &v["b"], &v["resolve"]] {
        assert_valid(&ops, x, "op");
    }
    assert_valid(&records, &v["expected"], "expected");
    for order in [
        [&base, &a, &b],
        [&base, &b, &a],
        [&b, &a, &base],
        [&a, &base, &b],
    ] {
        assert_eq!(
            serde_json::to_value(RecordV1::from(&state(&order))).unwrap(),
            v["expected"]
        );
    }
    let resolve = decode(&v["resolve"]);
    assert_eq!(
        serde_json::to_value(RecordV1::from(&state(&[&base, &b, &a, &resolve]))).unwrap(),
        v["expected_after_resolve"]
    );

    let v = read("attachment-refs.json");
    for case in v["canonical"].as_array().unwrap() {
        let element = case["element"].as_str().unwrap();
        let r: ContentRef = serde_json::from_value(case["ref"].clone()).unwrap();
        assert_eq!(r.to_element(), element);
        assert_eq!(ContentRef::parse(element).unwrap(), r);
    }
    for case in v["refused"].as_array().unwrap() {
        let element = case["element"].as_str().unwrap();
        let got = ContentRef::parse(element).map(|_| ()).map_err(|e| e.code());
        assert_eq!(got, Err(case["code"].as_str().unwrap()), "{}", case["why"]);
    }

    let v = read("invalid-ops.json");
    for case in v["cases"].as_array().unwrap() {
        let want = case["code"].as_str().unwrap();
        let got = match serde_json::from_value::<OpV1>(case["op"].clone())
            .unwrap()
            .decode()
        {
            Err(e) => e.code().to_owned(),
            Ok(op) => validate_op(&op, None, &NoReferences)
                .errors()
                .next()
                .map(|p| p.code.to_owned())
                .unwrap_or_default(),
        };
        assert_eq!(got, want, "{}", case["why"]);
    }
}
