//! The sync protocol's request/response vectors in `proto/vectors/sync/`, replayed against a
//! real server: every request and response body must match its JSON Schema in
//! `proto/schema/`, read into the Rust protocol types, and the server's answer (with
//! ids, tokens and times normalised) must equal the stored one.
//!
//! `SIDAK_UPDATE_VECTORS=1 cargo test -p sidak-server --test vectors` rewrites the files
//! from the requests built below; review the diff like code.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value as Json, json};
use sidak_core::attachment::{BlobHash, ContentRef, MAX_BLOB_BYTES, MEDIA_TYPES};
use sidak_core::protocol::{
    BlobStartRequest, BlobUploadStatus, EnrollRequest, EnrollResponse, ErrorBody, InfoResponse,
    PullRequest, PullResponse, PushRequest, PushResponse, SyncRequest, SyncResponse,
};
use sidak_core::{DeviceId, Edit, Hlc, Kind, OpV1, RecordId};
use sidak_test_support::{Backend, TestServer};

/// Device ids in the vector files; replaced by the real ids when replayed.
const DEVICE_A: &str = "0193a000-0000-4000-8000-00000000000a";
const DEVICE_B: &str = "0193a000-0000-4000-8000-00000000000b";
/// Every `*_ms` number in a stored response.
const FIXED_MS: u64 = 1_764_050_400_000;
/// Fields holding the server's clock, fixed to [`FIXED_MS`] in stored responses.
const TIME_KEYS: &[&str] = &[
    "server_time_ms",
    "enrolled_ms",
    "last_sync_ms",
    "revoked_ms",
    "expires_ms",
];
/// Stamps of the ops in the vectors (2025-11-25 06:00 UTC): in the past, so never clock_ahead.
const OP_MS: u64 = 1_764_050_400_000;

fn proto() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

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

fn check_schema(name: &str, instance: &Json, what: &str) {
    let text = std::fs::read_to_string(proto().join("schema").join(name)).expect("schema file");
    let schema: Json = serde_json::from_str(&text).expect("schema JSON");
    let v = jsonschema::options()
        .with_retriever(ProtoFiles)
        .build(&schema)
        .expect("schema compiles");
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} against {name}: {errors:?}\n{instance}"
    );
}

/// Reads a body into the Rust type its schema names, and checks the type writes it back
/// in a form the schema also accepts.
fn check_type(schema: &str, body: &Json, what: &str) {
    fn via<T: serde::de::DeserializeOwned + serde::Serialize>(body: &Json, what: &str) -> Json {
        let v: T = serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
        serde_json::to_value(&v).expect("serialize")
    }
    let again = match schema {
        "enroll-request.v1.json" => via::<EnrollRequest>(body, what),
        "enroll-response.v1.json" => via::<EnrollResponse>(body, what),
        "push-request.v1.json" => via::<PushRequest>(body, what),
        "push-response.v1.json" => via::<PushResponse>(body, what),
        "pull-request.v1.json" => via::<PullRequest>(body, what),
        "pull-response.v1.json" => via::<PullResponse>(body, what),
        "sync-request.v1.json" => via::<SyncRequest>(body, what),
        "sync-response.v1.json" => via::<SyncResponse>(body, what),
        "error.v1.json" => via::<ErrorBody>(body, what),
        "info-response.v1.json" => via::<InfoResponse>(body, what),
        "blob-start-request.v1.json" => via::<BlobStartRequest>(body, what),
        "blob-upload-status.v1.json" => via::<BlobUploadStatus>(body, what),
        other => panic!("{what}: no Rust type for {other}"),
    };
    check_schema(
        schema,
        &again,
        &format!("{what} (written back by the Rust type)"),
    );
}

fn op(
    create: bool,
    id: u128,
    region: &str,
    counter: u32,
    build: impl FnOnce(Edit<'static>) -> Edit<'static>,
) -> Json {
    let device: DeviceId = DEVICE_A.parse().expect("uuid");
    let hlc = Hlc::new(OP_MS, counter, device);
    let e = if create {
        Edit::create(RecordId::from_u128(id), Kind::Worker, region, hlc)
    } else {
        unreachable!("updates are written by hand below")
    };
    serde_json::to_value(OpV1::from(&build(e).finish())).expect("json")
}

fn worker(e: Edit<'static>, nik: &str, sex: &str) -> Edit<'static> {
    e.set("nik", nik)
        .and_then(|e| e.set("full_name", "Hasnah Daeng Ngai"))
        .and_then(|e| e.set("birth_date", "1990-06-15"))
        .and_then(|e| e.set("sex", sex))
        .and_then(|e| e.set("occupation", "seaweed_farmer"))
        .and_then(|e| e.set("monthly_income", 1_500_000i64))
        .and_then(|e| e.add("programmes", "JKK"))
        .and_then(|e| e.add("programmes", "JKM"))
        .and_then(|e| e.set("payer", "self"))
        .and_then(|e| e.set("consent", true))
        .and_then(|e| e.set("status", "submitted"))
        .expect("edit")
}

/// One vector: file name, description, request, request schema, response schema.
type VectorSpec = (
    &'static str,
    &'static str,
    Json,
    Option<&'static str>,
    Option<&'static str>,
);

/// The vectors, in replay order.
fn vectors() -> Vec<VectorSpec> {
    let village = "7371011001";
    let created = op(true, 0xa1, village, 0, |e| {
        worker(e, "7371015506900003", "female")
    });
    let bad_nik = op(true, 0xa2, village, 1, |e| {
        worker(e, "7371013206900003", "female")
    });
    let outside = op(true, 0xa3, "7372011001", 2, |e| {
        worker(e, "7371015506900003", "female")
    });
    let warning = op(true, 0xa4, village, 3, |e| {
        worker(e, "7371015506900003", "male")
    });
    let push = json!({"protocol": 1, "batch_seq": 1, "ops": [created, bad_nik, outside, warning],
                      "status": {"pending_ops": 4, "rejected_ops": 0, "clock_ms": OP_MS, "app_version": "0.1.0"}});
    // Device B renames the worker A registered, having seen A's value (clock {A: 1}: A wrote the name once).
    let rename = json!({"id": RecordId::from_u128(0xa1), "kind": "worker", "region": village,
                        "hlc": format!("{OP_MS}.7@{DEVICE_B}"),
                        "changes": [{"op": "set", "field": "full_name", "value": "Hasnah Dg. Ngai", "seen": {DEVICE_A: 1}}]});
    let req = |method: &str, path: &str, auth: &str, body: Json| json!({"method": method, "path": path, "auth": auth, "body": body});
    // A photo of the worker's consent form: its bytes (text here, so the vector can hold
    // them; the server checks the hash, not the pixels) and its reference, added to the
    // record before the bytes are sent (a record never waits for its photos).
    let photo = PHOTO.as_bytes();
    let hash = BlobHash::of(photo);
    let mut photo_ref = ContentRef::new(hash, photo.len() as u64, "image/jpeg").expect("reference");
    photo_ref.caption = Some("Formulir persetujuan; ditandatangani".to_owned());
    photo_ref.taken_at = Some("2025-11-25T14:05:00+08:00".to_owned());
    let attach = json!({"id": RecordId::from_u128(0xa1), "kind": "worker", "region": village,
                        "hlc": format!("{OP_MS}.10@{DEVICE_A}"),
                        "changes": [{"op": "add", "field": "attachments", "value": photo_ref.to_element()}]});
    let blob = format!("/v1/blobs/{hash}");
    let octets = |path: String, raw: &str| {
        json!({"method": "PUT", "path": path, "auth": "device-a",
        "headers": {"content-type": "application/octet-stream"}, "raw_body": raw})
    };
    vec![
        (
            "01-info.json",
            "GET /v1/info needs no token: a device checks the protocol, the limits and its clock before enrolling.",
            json!({"method": "GET", "path": "/v1/info", "auth": "none"}),
            None,
            Some("info-response.v1.json"),
        ),
        (
            "02-enroll.json",
            "A device enrolls with the code the central office issued for officer andi (scope: Makassar, 7371). The token is shown only here.",
            req(
                "POST",
                "/v1/enroll",
                "none",
                json!({"protocol": 1, "code": "<code>", "device_name": "Samsung Galaxy A14"}),
            ),
            Some("enroll-request.v1.json"),
            Some("enroll-response.v1.json"),
        ),
        (
            "03-push.json",
            "A pushes a batch of four registrations: one valid, one with an impossible NIK (rejected with its problems), one outside its scope (rejected), one whose sex disagrees with the NIK (accepted with a warning). One bad op never rejects its neighbours.",
            req("POST", "/v1/push", "device-a", push.clone()),
            Some("push-request.v1.json"),
            Some("push-response.v1.json"),
        ),
        (
            "04-push-resent.json",
            "The reply to batch 1 was lost, so A sends it again: the same answer, nothing applied twice.",
            req("POST", "/v1/push", "device-a", push),
            Some("push-request.v1.json"),
            Some("push-response.v1.json"),
        ),
        (
            "05-pull-first-page.json",
            "Device B (same officer) pulls from the start, one op per page: more is true.",
            req(
                "POST",
                "/v1/pull",
                "device-b",
                json!({"protocol": 1, "cursor": "", "limit": 1}),
            ),
            Some("pull-request.v1.json"),
            Some("pull-response.v1.json"),
        ),
        (
            "06-pull-next-page.json",
            "B pulls the next page with the cursor it stored: the last op, more is false.",
            req(
                "POST",
                "/v1/pull",
                "device-b",
                json!({"protocol": 1, "cursor": "v1:0:7371::1", "limit": 1}),
            ),
            Some("pull-request.v1.json"),
            Some("pull-response.v1.json"),
        ),
        (
            "07-sync-push-and-pull.json",
            "B renames the worker (a new op that supersedes the value it saw) and pulls, in one round trip. Its own op does not come back.",
            req(
                "POST",
                "/v1/sync",
                "device-b",
                json!({"protocol": 1, "push": {"protocol": 1, "batch_seq": 1, "ops": [rename]}, "pull": {"protocol": 1, "cursor": "v1:2:7371"}}),
            ),
            Some("sync-request.v1.json"),
            Some("sync-response.v1.json"),
        ),
        (
            "08-sync-no-change.json",
            "Nothing to push, nothing new: the smallest round trip, which devices make whenever they find signal.",
            req(
                "POST",
                "/v1/sync",
                "device-b",
                json!({"protocol": 1, "pull": {"protocol": 1, "cursor": "v1:3:7371"}}),
            ),
            Some("sync-request.v1.json"),
            Some("sync-response.v1.json"),
        ),
        (
            "09-error-bad-json.json",
            "A body that is not JSON: 400 bad_json, nothing changes.",
            json!({"method": "POST", "path": "/v1/push", "auth": "device-a", "raw_body": "{\"protocol\": 1, \"batch_seq\": "}),
            None,
            Some("error.v1.json"),
        ),
        (
            "10-error-invalid-message.json",
            "JSON of the wrong shape (batch_seq is text): 400 invalid_message.",
            req(
                "POST",
                "/v1/push",
                "device-a",
                json!({"protocol": 1, "batch_seq": "two", "ops": []}),
            ),
            None,
            Some("error.v1.json"),
        ),
        (
            "11-error-unknown-field.json",
            "An unknown field in a message: 400 invalid_message (messages are strict, so a typo is not silently ignored).",
            req(
                "POST",
                "/v1/pull",
                "device-a",
                json!({"protocol": 1, "cursr": ""}),
            ),
            None,
            Some("error.v1.json"),
        ),
        (
            "12-error-unsupported-protocol.json",
            "A protocol version this server does not speak: 400 unsupported_protocol.",
            req(
                "POST",
                "/v1/pull",
                "device-a",
                json!({"protocol": 2, "cursor": ""}),
            ),
            None,
            Some("error.v1.json"),
        ),
        (
            "13-error-unauthorized.json",
            "No token: 401 unauthorized.",
            req("POST", "/v1/pull", "none", json!({"protocol": 1})),
            Some("pull-request.v1.json"),
            Some("error.v1.json"),
        ),
        (
            "14-error-invalid-cursor.json",
            "A cursor the server never made: 400 invalid_cursor; start again from \"\".",
            req(
                "POST",
                "/v1/pull",
                "device-a",
                json!({"protocol": 1, "cursor": "page-7"}),
            ),
            Some("pull-request.v1.json"),
            Some("error.v1.json"),
        ),
        (
            "15-error-batch-mismatch.json",
            "Batch number 1 reused for other ops: 409 batch_mismatch (nothing applied); new ops need a new number.",
            req(
                "POST",
                "/v1/push",
                "device-a",
                json!({"protocol": 1, "batch_seq": 1, "ops": []}),
            ),
            Some("push-request.v1.json"),
            Some("error.v1.json"),
        ),
        (
            "16-revoke-device.json",
            "The central office revokes device B (lost phone). Admin API, not part of the sync protocol.",
            req(
                "POST",
                &format!("/v1/admin/devices/{DEVICE_B}/revoke"),
                "admin",
                json!({}),
            ),
            None,
            None,
        ),
        (
            "17-error-device-revoked.json",
            "The revoked device tries to sync: 401 device_revoked; the app stops and asks for a new enrollment.",
            req(
                "POST",
                "/v1/sync",
                "device-b",
                json!({"protocol": 1, "pull": {"protocol": 1, "cursor": "v1:3:7371"}}),
            ),
            Some("sync-request.v1.json"),
            Some("error.v1.json"),
        ),
        (
            "18-push-attachment.json",
            "A adds a photo to the worker it registered: an add to the set field attachments of the photo's canonical reference (BLAKE3 hash, size, type, taken-at, caption; percent-encoded, one text per photo). The op is accepted before any byte of the photo is sent.",
            req(
                "POST",
                "/v1/push",
                "device-a",
                json!({"protocol": 1, "batch_seq": 2, "ops": [attach]}),
            ),
            Some("push-request.v1.json"),
            Some("push-response.v1.json"),
        ),
        (
            "19-blob-pending.json",
            "Reading the photo before it is uploaded: 404 blob_pending (a record in the device's area references it; ask again later). A hash no record in the area references is 404 blob_not_found.",
            json!({"method": "GET", "path": blob.clone(), "auth": "device-a"}),
            None,
            Some("error.v1.json"),
        ),
        (
            "20-blob-start.json",
            "A starts the upload: the server holds 0 bytes of it, so the first chunk starts at offset 0.",
            req(
                "POST",
                &blob,
                "device-a",
                json!({"size": photo.len(), "media_type": "image/jpeg"}),
            ),
            Some("blob-start-request.v1.json"),
            Some("blob-upload-status.v1.json"),
        ),
        (
            "21-blob-chunk-wrong-offset.json",
            "A chunk at an offset that is not the acknowledged one (a resend, an overlap, a gap): 409 upload_offset_mismatch, nothing stored; POST again to learn the offset.",
            octets(format!("{blob}/chunks?offset=5"), &PHOTO[5..]),
            None,
            Some("error.v1.json"),
        ),
        (
            "22-blob-chunk.json",
            "The bytes from offset 0 to the end, raw (application/octet-stream, at most 1 MiB a chunk): the last chunk completes the blob once its hash is verified.",
            octets(format!("{blob}/chunks?offset=0"), PHOTO),
            None,
            Some("blob-upload-status.v1.json"),
        ),
        (
            "23-blob-start-again.json",
            "A restarted app asks again: complete, so it sends nothing.",
            req(
                "POST",
                &blob,
                "device-a",
                json!({"size": photo.len(), "media_type": "image/jpeg"}),
            ),
            Some("blob-start-request.v1.json"),
            Some("blob-upload-status.v1.json"),
        ),
        (
            "24-error-media-type.json",
            "A media type outside the allow-list (video/mp4): 415 media_type_not_allowed, nothing stored.",
            req(
                "POST",
                &format!("/v1/blobs/{}", BlobHash::of(b"a video")),
                "device-a",
                json!({"size": 7, "media_type": "video/mp4"}),
            ),
            None,
            Some("error.v1.json"),
        ),
    ]
}

/// The bytes of the photo in vectors 18-23.
const PHOTO: &str = "JPEG bytes of the signed consent form of Hasnah Daeng Ngai";

/// Replaces every string occurrence of `from` by `to` in a JSON value (keys too).
fn replace(v: &Json, pairs: &[(String, String)]) -> Json {
    let mut text = v.to_string();
    for (from, to) in pairs {
        text = text.replace(from.as_str(), to.as_str());
    }
    serde_json::from_str(&text).expect("json")
}

/// Fixes what differs from run to run: times and tokens.
fn normalise(v: &mut Json) {
    match v {
        Json::Object(m) => {
            for (k, x) in m.iter_mut() {
                if TIME_KEYS.contains(&k.as_str()) && x.is_u64() {
                    *x = json!(FIXED_MS);
                } else if k == "token" && x.is_string() {
                    *x = json!(format!("sdd_{}", "0".repeat(64)));
                } else if k == "server_key" && x.is_string() {
                    // Made per database: the form is fixed, the key is not.
                    *x = json!("0".repeat(64));
                } else if k == "next_cursor"
                    && let Some(c) = x.as_str()
                    && let Some((_mac, rest)) = c.split_once('.')
                    && let Some((_fp, cursor)) = rest.split_once('.')
                {
                    // Signed with a key made per database: the form is fixed, the bytes are not.
                    *x = json!(format!("<mac>.<fingerprint>.{cursor}"));
                } else {
                    normalise(x);
                }
            }
        }
        Json::Array(a) => a.iter_mut().for_each(normalise),
        _ => {}
    }
}

/// The blob schemas say what the Rust constants say.
#[test]
fn blob_schemas_hold_the_limits_of_the_code() {
    let read = |name: &str| -> Json {
        serde_json::from_str(&std::fs::read_to_string(proto().join("schema").join(name)).unwrap())
            .unwrap()
    };
    let start = read("blob-start-request.v1.json");
    assert_eq!(start["properties"]["size"]["maximum"], MAX_BLOB_BYTES);
    assert_eq!(
        start["properties"]["media_type"]["enum"],
        json!(MEDIA_TYPES)
    );
    let status = read("blob-upload-status.v1.json");
    for key in ["size", "offset"] {
        assert_eq!(status["properties"][key]["maximum"], MAX_BLOB_BYTES);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vectors_replay_against_a_real_server() {
    let update = std::env::var_os("SIDAK_UPDATE_VECTORS").is_some();
    let dir = proto().join("vectors/sync");
    let s = TestServer::start(Backend::Sqlite).await;
    s.officer("andi", &["7371"]).await;
    let code = s.code("andi").await;
    let b = s.device("andi").await;
    let mut tokens: BTreeMap<&str, String> = BTreeMap::new();
    tokens.insert("admin", s.admin.clone());
    tokens.insert("device-b", b.token.clone());
    let mut ids: Vec<(String, String)> = vec![
        (DEVICE_B.to_owned(), b.id.to_string()),
        ("<code>".to_owned(), code),
    ];

    let built = vectors();
    let names: Vec<&str> = built.iter().map(|v| v.0).collect();
    if !update {
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("proto/vectors/sync exists")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        assert_eq!(
            on_disk, names,
            "vector files and the list in this test differ; run with SIDAK_UPDATE_VECTORS=1"
        );
    }
    for (name, description, request, req_schema, res_schema) in built {
        let path = dir.join(name);
        let (request, expected) = if update {
            (request, None)
        } else {
            let stored: Json =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("vector file"))
                    .expect("vector JSON");
            (stored["request"].clone(), Some(stored["response"].clone()))
        };
        if let (Some(schema), Some(body)) = (req_schema, request.get("body")) {
            check_schema(schema, body, &format!("{name} request"));
            check_type(schema, body, &format!("{name} request"));
        }
        // Replay with the real ids.
        let real = replace(&request, &ids);
        let mut rb = s.http.request(
            real["method"]
                .as_str()
                .expect("method")
                .parse()
                .expect("method"),
            format!("{}{}", s.base, real["path"].as_str().expect("path")),
        );
        if let Some(t) = real["auth"].as_str().and_then(|a| tokens.get(a)) {
            rb = rb.bearer_auth(t);
        }
        if let Some(body) = real.get("body") {
            rb = rb.json(body);
        } else if let Some(raw) = real["raw_body"].as_str() {
            let ct = real["headers"]["content-type"]
                .as_str()
                .unwrap_or("application/json");
            rb = rb.header("content-type", ct).body(raw.to_owned());
        }
        let res = rb.send().await.expect("send");
        let status = res.status().as_u16();
        let body: Json = res.json().await.expect("JSON answer");
        if name == "02-enroll.json" {
            // From here on, device A is the one this vector enrolled.
            tokens.insert(
                "device-a",
                body["token"].as_str().expect("token").to_owned(),
            );
            ids.push((
                DEVICE_A.to_owned(),
                body["device_id"].as_str().expect("id").to_owned(),
            ));
        }
        let back: Vec<(String, String)> = ids
            .iter()
            .filter(|(p, _)| p != "<code>")
            .map(|(p, r)| (r.clone(), p.clone()))
            .collect();
        let mut body = replace(&body, &back);
        normalise(&mut body);
        if let Some(schema) = res_schema {
            check_schema(schema, &body, &format!("{name} response"));
            check_type(schema, &body, &format!("{name} response"));
        }
        let response = json!({"status": status, "body": body});
        match expected {
            Some(e) => assert_eq!(
                response, e,
                "{name}: the server's answer differs from the vector"
            ),
            None => {
                let mut v =
                    json!({"description": description, "request": request, "response": response});
                if let Some(s) = req_schema {
                    v["request_schema"] = json!(s);
                }
                if let Some(s) = res_schema {
                    v["response_schema"] = json!(s);
                }
                std::fs::create_dir_all(&dir).expect("dir");
                std::fs::write(
                    &path,
                    serde_json::to_string_pretty(&v).expect("json") + "\n",
                )
                .expect("write");
            }
        }
    }
    s.stop().await;
}
