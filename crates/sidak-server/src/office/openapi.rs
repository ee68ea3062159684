//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of every endpoint: the sync
//! protocol (enroll, push, pull, sync, info, health), login, the admin API and the office
//! API. Public: it describes the endpoints and holds no data. The office part is built
//! from [`super::ROUTES`] plus the parameters and bodies below, so an office route cannot
//! be served without being described (a unit test checks); the rest is [`server_paths`].
//! The sync messages are the JSON Schemas of `proto/schema/`, embedded at build time with
//! their references rewritten to `#/components/schemas/...` ([`proto_schemas`]), so the
//! description, the schemas and the vectors cannot drift apart. Every error answer is
//! documented with the one error body, `proto/schema/error.v1.json`.

use serde_json::{Map, Value as Json, json};

use super::ROUTES;

/// A date as the office reads it (`YYYY-MM-DD`, a real day from 1970); empty is refused.
const DATE: &str = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";

fn param(name: &str, location: &str, schema: Json, description: &str) -> Json {
    json!({"name": name, "in": location, "required": location == "path", "schema": schema, "description": description})
}

/// Text the office accepts in a query parameter: no control characters (they are refused).
/// Only the free-text filters (`status`, `officer`, `q`) and the page cursor may be empty
/// (`office::params`).
const TEXT: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

/// A text parameter that is not a free-text filter: given empty, it is refused.
const NONEMPTY_TEXT: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]+$";

/// A timestamp as `Hlc` reads it: milliseconds at most 2^53 - 1 and a 32-bit counter (the
/// pattern keeps to 15 and 9 digits, which always fit), then the device id.
const HLC: &str = "^[0-9]{1,15}\\.[0-9]{1,9}@[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// A region code prefix in a scope or a pull cursor: province, regency, district or village.
const SCOPE_CODE: &str = "(?:[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{10})";

/// The pull cursor's forms (`crate::cursor`): `""` for a first pull, the signed form the
/// server hands out (`<mac>.<fingerprint>.v1:...`), and the unsigned `v1:...` of older
/// builds, still read. A signature is not something a schema can check: a cursor of the
/// right form that this server did not sign is `400 invalid_cursor`.
fn cursor_pattern() -> String {
    let list = format!("(?:{SCOPE_CODE}(?:,{SCOPE_CODE})*)?");
    let body = format!("v1:[0-9]{{1,18}}:{list}(?::{list}:[0-9]{{1,18}})?");
    format!("^(?:|{body}|[0-9a-f]{{24}}\\.(?:0|[0-9a-f]{{16}})\\.{body})$")
}

fn q(name: &str, ty: &str, description: &str) -> Json {
    let schema = if ty == "string" {
        json!({"type": ty, "pattern": TEXT})
    } else {
        json!({"type": ty})
    };
    param(name, "query", schema, description)
}

fn list_filters() -> Vec<Json> {
    vec![
        param(
            "kind",
            "query",
            json!({"type": "string", "enum": ["worker", "company", "visit", "finding"]}),
            "Only this kind",
        ),
        q("status", "string", "Only this status value"),
        param(
            "region",
            "query",
            json!({"type": "string", "pattern": "^[0-9]{1,10}$"}),
            "Kemendagri code prefix (73, 7371, 737101, 7371011001)",
        ),
        q("officer", "string", "Officer id of the creating device"),
        q(
            "awaiting_review",
            "boolean",
            "Only visits and registrations waiting for the office's review",
        ),
        param(
            "visit",
            "query",
            json!({"type": "string", "format": "uuid"}),
            "Only the findings of this visit (its record id)",
        ),
        param(
            "from",
            "query",
            json!({"type": "string", "format": "date", "pattern": DATE}),
            "Created on or after (office time, WITA)",
        ),
        param(
            "to",
            "query",
            json!({"type": "string", "format": "date", "pattern": DATE}),
            "Created on or before",
        ),
        q(
            "has_conflicts",
            "boolean",
            "With (true) or without (false) competing values",
        ),
        q(
            "has_set_aside",
            "boolean",
            "With ops set aside (clock ahead) and not yet handled",
        ),
        q("has_rejections", "boolean", "Alias of has_set_aside"),
        q(
            "needs_review",
            "boolean",
            "Approved, then edited by a device: needs review again",
        ),
        q(
            "cancelled_with_findings",
            "boolean",
            "Visits cancelled (status, or one of its competing values) that still have findings not archived (docs/domain.md, case 6)",
        ),
        q(
            "q",
            "string",
            "16-digit NIK, 13-digit NIB, record id, or part of the name",
        ),
        q(
            "unmasked",
            "boolean",
            "Admins only: NIKs in full (audit-logged)",
        ),
    ]
}

fn paging() -> Vec<Json> {
    vec![
        param(
            "limit",
            "query",
            json!({"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
            "Page size",
        ),
        param(
            "cursor",
            "query",
            json!({"type": "string", "pattern": "^(|[0-9]{1,19}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"}),
            "next_cursor of the previous page; empty or absent for the first page",
        ),
    ]
}

fn unmasked() -> Vec<Json> {
    vec![q(
        "unmasked",
        "boolean",
        "Admins only: NIKs in full (audit-logged)",
    )]
}

fn id_param(description: &str) -> Json {
    param("id", "path", json!({"type": "string"}), description)
}

fn body(schema: Json) -> Json {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn note() -> Json {
    json!({"type": ["string", "null"], "maxLength": 4000, "description": "Kept in the record's history"})
}

/// The `{hash}` of an office attachment path.
fn office_blob_hash() -> Json {
    param(
        "hash",
        "path",
        json!({"type": "string", "pattern": BLOB_HASH}),
        "BLAKE3 of the attachment's bytes, as the record's reference holds it (400 invalid_hash otherwise)",
    )
}

/// The 200 content, and the extra answers, of the office routes that answer bytes.
fn office_bytes(path: &str, op: &mut Json) {
    use sidak_core::attachment::MEDIA_TYPES;
    let cached = json!({
        "ETag": {"description": "the same for the same bytes: send it back as If-None-Match", "schema": {"type": "string"}},
        "Cache-Control": {"description": "private, max-age=86400, immutable", "schema": {"type": "string"}}});
    let binary = json!({"schema": {"type": "string", "format": "binary"}});
    let mut content = Map::new();
    if path.ends_with("/thumbnail") {
        content.insert("image/jpeg".into(), binary);
        op["responses"]["415"] = error("no_preview: the attachment is a PDF; download it instead");
    } else {
        for ty in MEDIA_TYPES {
            content.insert((*ty).to_owned(), binary.clone());
        }
        op["responses"]["403"] =
            error("forbidden: an officer session, or original=true from a non-admin");
    }
    op["responses"]["200"] =
        json!({"description": "the bytes", "content": content, "headers": cached});
    op["responses"]["304"] =
        json!({"description": "the browser's copy (If-None-Match) is current"});
    op["responses"]["400"] = error("invalid_hash, invalid_message: bad parameters");
    op["responses"]["404"] = error(
        "not_found: no such record; blob_not_found: the record never referenced this hash; blob_pending: the device has not finished uploading it",
    );
    op["responses"]["422"] =
        error("unreadable_image, image_too_large: the bytes are not an image this server decodes");
}

/// Parameters, request body and 200 schema of each route.
fn details(method: &str, path: &str) -> (Vec<Json>, Option<Json>, Json) {
    let obj = json!({"type": "object"});
    let write = json!({"$ref": "#/components/schemas/WriteOutcome"});
    match (method, path) {
        ("GET", "/v1/office/overview") => (
            vec![],
            None,
            json!({"$ref": "#/components/schemas/Overview"}),
        ),
        ("GET", "/v1/office/records") => (
            [list_filters(), paging()].concat(),
            None,
            json!({"type": "object", "properties": {
                "records": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"}},
                "total": {"type": "integer"},
                "next_cursor": {"type": ["string", "null"]}}}),
        ),
        ("GET", "/v1/office/records/{id}") => (
            [vec![id_param("Record id")], unmasked()].concat(),
            None,
            json!({"type": "object", "properties": {
                "record": {"anyOf": [{"$ref": "#/components/schemas/RecordSummary"}, {"type": "null"}],
                    "description": "null while the office index does not hold the record yet"},
                "created": {"type": ["string", "null"], "description": "stamp of the creating op"},
                "updated": {"type": ["string", "null"], "description": "stamp of the latest op"},
                "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}},
                "attachments": {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}}}}),
        ),
        ("GET", "/v1/office/records/{id}/evidence") => (
            vec![id_param("Record id")],
            None,
            json!({"$ref": "#/components/schemas/EvidenceBundle"}),
        ),
        ("GET", "/v1/office/log/root") => (
            vec![],
            None,
            json!({"type": "object", "required": ["seq", "link", "at_ms", "server_key"], "properties": {
                "seq": {"type": "integer", "minimum": 0}, "link": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "at_ms": {"type": "integer"}, "server_key": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}),
        ),
        ("GET", "/v1/office/records/{id}/report.pdf") => (
            vec![id_param("Visit id")],
            None,
            json!({"type": "string", "format": "binary"}),
        ),
        ("GET", "/v1/office/records/{id}/attachments/{hash}") => (
            vec![
                id_param("Record id"),
                office_blob_hash(),
                param(
                    "original",
                    "query",
                    json!({"type": "boolean"}),
                    "Admins only: the bytes as taken, with the photo's embedded GPS (logged); others get 403",
                ),
            ],
            None,
            json!({"type": "string", "format": "binary"}),
        ),
        ("GET", "/v1/office/records/{id}/attachments/{hash}/thumbnail") => (
            vec![
                id_param("Record id"),
                office_blob_hash(),
                param(
                    "side",
                    "query",
                    json!({"type": "integer", "minimum": 16, "maximum": super::attachments::MAX_SIDE}),
                    "Longest side of the preview in pixels (320 when left out)",
                ),
            ],
            None,
            json!({"type": "string", "format": "binary"}),
        ),
        ("GET", "/v1/office/records/{id}/history") => (
            [vec![id_param("Record id")], unmasked()].concat(),
            None,
            json!({"$ref": "#/components/schemas/History"}),
        ),
        ("POST", "/v1/office/records/{id}/resolve") => (
            vec![id_param("Record id")],
            Some(body(
                json!({"type": "object", "required": ["field"], "additionalProperties": false,
                "properties": {
                    "field": {"type": "string"},
                    "pick": {"type": "string", "pattern": HLC, "description": "hlc of the competing value chosen"},
                    "value": {"description": "a new value instead (text, integer or boolean)"},
                    "note": note()}}),
            )),
            write,
        ),
        ("POST", "/v1/office/records/{id}/review") => (
            vec![id_param("Visit or worker id")],
            Some(body(
                json!({"type": "object", "required": ["decision"], "additionalProperties": false,
                "properties": {
                    "decision": {"type": "string", "enum": ["approve", "return"]},
                    "note": {"type": ["string", "null"], "description": "Comment for the officer (review_note); required to return"}}}),
            )),
            write,
        ),
        ("GET", "/v1/office/conflicts") => (
            [list_filters(), paging()].concat(),
            None,
            json!({"type": "object", "properties": {
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "record": {"$ref": "#/components/schemas/RecordSummary"},
                    "conflicts": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}}}}},
                "total": {"type": "integer"},
                "next_cursor": {"type": ["string", "null"]}}}),
        ),
        ("GET", "/v1/office/duplicates") => (
            [
                vec![param(
                    "kind",
                    "query",
                    json!({"type": "string", "enum": ["worker", "company"]}),
                    "Only workers (NIK) or companies (NIB)",
                )],
                unmasked(),
            ]
            .concat(),
            None,
            json!({"type": "object", "properties": {
                "workers": {"type": "array", "items": {"$ref": "#/components/schemas/DuplicateGroup"}},
                "companies": {"type": "array", "items": {"$ref": "#/components/schemas/DuplicateGroup"}}}}),
        ),
        ("POST", "/v1/office/duplicates/link") => (
            vec![],
            Some(body(
                json!({"type": "object", "required": ["duplicate", "original"], "additionalProperties": false,
                "properties": {
                    "duplicate": {"type": "string", "format": "uuid", "description": "Gets status duplicate and duplicate_of; the same id as original is 400 invalid_action"},
                    "original": {"type": "string", "format": "uuid", "description": "Stays; gets a review_note naming the duplicate"},
                    "note": note()}}),
            )),
            write,
        ),
        ("GET", "/v1/office/review") => (
            [
                vec![param(
                    "region",
                    "query",
                    json!({"type": "string", "pattern": NONEMPTY_TEXT}),
                    "Region code prefix",
                )],
                vec![param(
                    "list",
                    "query",
                    json!({"type": "string", "enum": ["awaiting", "flagged", "cancelled_with_findings"]}),
                    "Page only this list (awaiting when only a cursor is given); the others come back empty, their totals counted",
                )],
                paging(),
                unmasked(),
            ]
            .concat(),
            None,
            json!({"type": "object", "properties": {
                "awaiting": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"}},
                "awaiting_total": {"type": "integer"},
                "awaiting_next_cursor": {"type": ["string", "null"]},
                "flagged": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"}},
                "flagged_total": {"type": "integer"},
                "flagged_next_cursor": {"type": ["string", "null"]},
                "cancelled_with_findings": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"},
                    "description": "visits cancelled while a team member's findings on them survive (not archived)"},
                "cancelled_with_findings_total": {"type": "integer"},
                "cancelled_with_findings_next_cursor": {"type": ["string", "null"]}}}),
        ),
        ("POST", "/v1/office/review") => (
            vec![],
            Some(body(
                json!({"type": "object", "required": ["decision", "records"], "additionalProperties": false,
                "properties": {
                    "decision": {"type": "string", "enum": ["approve", "return"]},
                    "records": {"type": "array", "minItems": 1, "maxItems": super::review::MAX_BULK, "uniqueItems": true,
                        "items": {"type": "string"}, "description": "record ids of visits or registrations"},
                    "note": {"type": ["string", "null"], "description": "Comment for the officers (review_note); required to return"}}}),
            )),
            json!({"type": "object", "properties": {
                "decided": {"type": "integer"},
                "results": {"type": "array", "items": {"type": "object", "properties": {
                    "record": {"type": "string"}, "done": {"type": "boolean"},
                    "code": {"type": ["string", "null"]}, "message": {"type": ["string", "null"]}}}}}}),
        ),
        ("GET", "/v1/office/enforcement") => (
            vec![
                param("region", "query", json!({"type": "string", "pattern": "^[0-9]{1,10}$"}), "Region code prefix"),
                q("overdue", "boolean", "Only cases whose deadline passed"),
                param(
                    "waiting_on",
                    "query",
                    json!({"type": "string", "enum": ["nobody", "company", "team_deadline", "team_nota_2", "office_enforcement", "enforcement"]}),
                    "Only cases waiting on this",
                ),
                param("offset", "query", json!({"type": "integer", "minimum": 0}), "Cases to skip"),
                param("limit", "query", json!({"type": "integer", "minimum": 1, "maximum": 500, "default": 50}), "Cases per answer"),
            ],
            None,
            json!({"type": "object", "properties": {
                "today": {"type": "string"}, "total": {"type": "integer"}, "overdue_total": {"type": "integer"},
                "cases": {"type": "array", "items": {"type": "object", "properties": {
                    "company": {"anyOf": [{"$ref": "#/components/schemas/RecordSummary"}, {"type": "null"}]},
                    "stage": {"type": "string", "enum": ["none", "nota_1", "nota_2", "enforcement", "legal"]},
                    "stage_label": {"type": "string"}, "open_findings": {"type": "integer"},
                    "deadline": {"type": ["string", "null"]}, "overdue_days": {"type": ["integer", "null"]},
                    "waiting_on": {"type": "string"}, "waiting_on_text": {"type": "string"},
                    "visits": {"type": "array", "items": {"type": "object"}}}}}}}),
        ),
        ("GET", "/v1/office/set-aside") => (
            [
                vec![q("all", "boolean", "Include accepted and discarded ops")],
                unmasked(),
            ]
            .concat(),
            None,
            json!({"type": "object", "properties": {"items": {"type": "array", "items": obj}}}),
        ),
        ("POST", "/v1/office/set-aside/{id}/accept") => (
            vec![param(
                "id",
                "path",
                json!({"type": "integer"}),
                "Set-aside op number",
            )],
            Some(body(
                json!({"type": "object", "additionalProperties": false, "properties": {"note": note()}}),
            )),
            write,
        ),
        ("POST", "/v1/office/set-aside/{id}/discard") => (
            vec![param(
                "id",
                "path",
                json!({"type": "integer"}),
                "Set-aside op number",
            )],
            Some(body(
                json!({"type": "object", "required": ["reason"], "additionalProperties": false,
                    "properties": {"reason": note()}}),
            )),
            write,
        ),
        ("GET", "/v1/office/coverage") => (
            vec![
                param(
                    "region",
                    "query",
                    json!({"type": "string", "pattern": "^[0-9]{1,5}$"}),
                    "Code prefix shorter than the level's codes (regency: up to 3 digits, e.g. 73; district: up to 5, e.g. 7371); longer is 400 invalid_message. Leave it out for everything",
                ),
                param(
                    "level",
                    "query",
                    json!({"type": "string", "enum": ["regency", "district"], "default": "regency"}),
                    "Group by",
                ),
                param(
                    "from",
                    "query",
                    json!({"type": "string", "format": "date", "pattern": DATE}),
                    "Created on or after",
                ),
                param(
                    "to",
                    "query",
                    json!({"type": "string", "format": "date", "pattern": DATE}),
                    "Created on or before",
                ),
            ],
            None,
            json!({"type": "object", "properties": {
                "region": {"type": "string"}, "level": {"type": "string", "enum": ["regency", "district"]},
                "from": {"type": ["string", "null"]}, "to": {"type": ["string", "null"]},
                "areas": {"type": "array", "items": {"$ref": "#/components/schemas/Area"}},
                "today": {"type": "string", "format": "date"}}}),
        ),
        ("GET", "/v1/office/devices") => (
            vec![],
            None,
            json!({"type": "object", "properties": {"server_time_ms": {"type": "integer"},
                "devices": {"type": "array", "items": {"type": "object", "properties": {
                "device_id": {"type": "string"}, "name": {"type": ["string", "null"]}, "enrolled_ms": {"type": "integer"},
                "app_version": {"type": ["string", "null"]},
                "signed": {"type": "boolean"}, "chain_n": {"type": "integer", "minimum": 0},
                "chain_breaks": {"type": "integer", "minimum": 0}, "chain_problem": {"type": ["object", "null"]},
                "officer_id": {"type": "string"}, "officer_name": {"type": ["string", "null"]},
                "last_sync_ms": {"type": ["integer", "null"]}, "pending_ops": {"type": ["integer", "null"]},
                "rejected_ops": {"type": ["integer", "null"]}, "clock_offset_ms": {"type": ["integer", "null"]},
                "set_aside": {"type": "integer"}, "silent": {"type": "boolean"}, "clock_warning": {"type": "boolean"},
                "revoked_ms": {"type": ["integer", "null"]},
                "wipe": {"type": ["object", "null"]}}}}}}),
        ),
        ("GET", "/v1/office/export.csv") => (
            list_filters()
                .into_iter()
                .map(|mut p| {
                    if p["name"] == "kind" {
                        p["required"] = json!(true);
                        p["description"] =
                            json!("The kind to export (required: each kind has its own columns)");
                    }
                    p
                })
                .collect(),
            None,
            json!({"type": "string", "description": "text/csv: fixed columns then the kind's fields; competing values joined by \" | \", set members by \";\""}),
        ),
        _ => (vec![], None, obj),
    }
}

fn error(description: &str) -> Json {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The errors any endpoint may answer, whatever it does: limits at the edge, timeouts, bugs.
fn common_errors(responses: &mut Json) {
    let common = [
        (
            "413",
            "payload_too_large: the body (announced or after decompression) is over max_body_bytes",
        ),
        ("414", "uri_too_long: the path and query are over 8 KiB"),
        ("415", "unsupported_media_type, unsupported_encoding"),
        ("431", "header_too_large: headers over 32 KiB or 100 lines"),
        (
            "500",
            "internal: a bug; details only in the server log; retrying is safe",
        ),
        (
            "503",
            "unavailable, timeout, office_unavailable: retry with backoff",
        ),
        (
            "default",
            "any other error, with its stable code (docs/protocol.md)",
        ),
    ];
    for (status, description) in common {
        if responses.get(status).is_none() {
            responses[status] = error(description);
        }
    }
}

/// The JSON Schemas of `proto/schema/`, by component name.
const PROTO: &[(&str, &str, &str)] = &[
    (
        "BlobStartRequest",
        "blob-start-request.v1.json",
        include_str!("../../../../proto/schema/blob-start-request.v1.json"),
    ),
    (
        "BlobUploadStatus",
        "blob-upload-status.v1.json",
        include_str!("../../../../proto/schema/blob-upload-status.v1.json"),
    ),
    (
        "EnrollRequest",
        "enroll-request.v1.json",
        include_str!("../../../../proto/schema/enroll-request.v1.json"),
    ),
    (
        "EnrollResponse",
        "enroll-response.v1.json",
        include_str!("../../../../proto/schema/enroll-response.v1.json"),
    ),
    (
        "Error",
        "error.v1.json",
        include_str!("../../../../proto/schema/error.v1.json"),
    ),
    (
        "EvidenceBundle",
        "evidence-bundle.v1.json",
        include_str!("../../../../proto/schema/evidence-bundle.v1.json"),
    ),
    (
        "InfoResponse",
        "info-response.v1.json",
        include_str!("../../../../proto/schema/info-response.v1.json"),
    ),
    (
        "Op",
        "op.v1.json",
        include_str!("../../../../proto/schema/op.v1.json"),
    ),
    (
        "PullRequest",
        "pull-request.v1.json",
        include_str!("../../../../proto/schema/pull-request.v1.json"),
    ),
    (
        "PullResponse",
        "pull-response.v1.json",
        include_str!("../../../../proto/schema/pull-response.v1.json"),
    ),
    (
        "PushRequest",
        "push-request.v1.json",
        include_str!("../../../../proto/schema/push-request.v1.json"),
    ),
    (
        "PushResponse",
        "push-response.v1.json",
        include_str!("../../../../proto/schema/push-response.v1.json"),
    ),
    (
        "Record",
        "record.v1.json",
        include_str!("../../../../proto/schema/record.v1.json"),
    ),
    (
        "SyncRequest",
        "sync-request.v1.json",
        include_str!("../../../../proto/schema/sync-request.v1.json"),
    ),
    (
        "SyncResponse",
        "sync-response.v1.json",
        include_str!("../../../../proto/schema/sync-response.v1.json"),
    ),
];

/// Rewrites the references of the schema `name` (`op.v1.json`, `op.v1.json#/$defs/x`,
/// `#/$defs/x`) to point into `#/components/schemas`, and drops `$schema`/`$id`.
fn rewrite_refs(v: &mut Json, name: &str) {
    match v {
        Json::Object(m) => {
            m.remove("$schema");
            m.remove("$id");
            if let Some(Json::String(r)) = m.get_mut("$ref") {
                let (file, pointer) = r.split_once('#').unwrap_or((r.as_str(), ""));
                let target = if file.is_empty() {
                    name
                } else {
                    PROTO
                        .iter()
                        .find(|(_, f, _)| *f == file)
                        .map_or("Error", |(n, _, _)| n)
                };
                *r = format!("#/components/schemas/{target}{pointer}");
            }
            for x in m.values_mut() {
                rewrite_refs(x, name);
            }
        }
        Json::Array(a) => a.iter_mut().for_each(|x| rewrite_refs(x, name)),
        _ => {}
    }
}

/// The sync messages' schemas as OpenAPI components.
pub fn proto_schemas() -> Map<String, Json> {
    PROTO
        .iter()
        .map(|(name, _, text)| {
            let mut schema: Json =
                serde_json::from_str(text).expect("proto/schema holds valid JSON");
            rewrite_refs(&mut schema, name);
            served_as_enforced(name, &mut schema);
            ((*name).to_owned(), schema)
        })
        .collect()
}

/// Where the server reads more than a protocol schema says a device sends, the
/// description says what the server enforces (so a contract check does not call a
/// right answer wrong):
///
/// - a batch's `ops` may hold anything: each element is judged alone and one that is not
///   an op is answered `rejected invalid_op` in its place (docs/protocol.md, *Push*), so a
///   batch with a malformed op is a 200, not a 400;
/// - a pull `cursor` has the forms of [`cursor_pattern`] (the schema only says "opaque").
fn served_as_enforced(name: &str, schema: &mut Json) {
    match name {
        "PushRequest" => {
            let items = &mut schema["properties"]["ops"]["items"];
            *items = json!({"anyOf": [items.take(), {}],
                "description": "an op (Op); any other value is answered rejected invalid_op in its place"});
        }
        "PullRequest" => {
            schema["properties"]["cursor"]["pattern"] = json!(cursor_pattern());
        }
        _ => {}
    }
}

fn schema_ref(name: &str) -> Json {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_body(schema: Json) -> Json {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn ok(status: &str, schema: Json) -> Json {
    json!({status: {"description": "OK", "content": {"application/json": {"schema": schema}}}})
}

/// One operation outside the office API.
fn operation(
    summary: &str,
    security: Option<&str>,
    request: Option<Json>,
    mut responses: Json,
) -> Json {
    if security.is_some() {
        responses["401"] =
            error("unauthorized (no, unknown or the wrong kind of token), device_revoked");
    }
    if request.is_some() {
        responses["400"] = error(
            "bad_json, invalid_message, unsupported_protocol, bad_encoding and the endpoint's own codes",
        );
    }
    common_errors(&mut responses);
    let mut op = json!({"summary": summary, "responses": responses});
    op["security"] = match security {
        Some(s) => json!([{s: []}]),
        None => json!([]),
    };
    if let Some(r) = request {
        op["requestBody"] = r;
    }
    op
}

fn name_schema(max: usize) -> Json {
    json!({"type": "string", "pattern": format!("^[A-Za-z0-9._-]{{1,{max}}}$")})
}

/// Every endpoint outside `/v1/office`: health, the sync protocol, login and the admin API.
fn server_paths() -> Map<String, Json> {
    let officer = json!({"type": "object", "required": ["id", "name", "scope"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "scope": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{2,10}$"}}}});
    let scope_list = json!({"type": "array", "maxItems": 1000, "items": {"type": "string", "pattern": "^[0-9]{2,10}$"},
        "description": "Kemendagri region code prefixes that exist (province 73, regency 7371, district 737101, village 7371011001); unknown codes are 400 invalid_scope"});
    let user = json!({"type": "object", "required": ["username", "role"], "properties": {
        "username": {"type": "string"}, "role": {"type": "string", "enum": ["admin", "supervisor", "officer"]}}});
    let device = json!({"type": "object", "required": ["device_id", "officer_id", "enrolled_ms", "set_aside"], "properties": {
        "device_id": {"type": "string", "format": "uuid"}, "officer_id": {"type": "string"},
        "name": {"type": ["string", "null"]}, "enrolled_ms": {"type": "integer"},
        "last_sync_ms": {"type": ["integer", "null"]}, "revoked_ms": {"type": ["integer", "null"]},
        "status": {"type": ["object", "null"]}, "clock_offset_ms": {"type": ["integer", "null"]},
        "set_aside": {"type": "integer"}, "wipe": {"type": ["object", "null"], "required": ["order", "ordered_ms"], "properties": {
            "order": {"type": "string", "enum": ["lost", "retired"]}, "ordered_ms": {"type": "integer"},
            "told_ms": {"type": ["integer", "null"]}, "wiped_ms": {"type": ["integer", "null"]},
            "report": {"type": ["object", "null"]}}}}});
    let id = |description: &str| json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": description});
    let mut p = Map::new();
    let mut put = |path: &str, method: &str, op: Json| {
        let entry = p.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = op;
    };
    put(
        "/healthz",
        "get",
        operation(
            "Is the process up (for load balancers)",
            None,
            None,
            ok(
                "200",
                json!({"type": "object", "required": ["status", "storage"], "properties": {
            "status": {"const": "ok"}, "storage": {"type": "string"}}}),
            ),
        ),
    );
    put(
        "/v1/info",
        "get",
        operation(
            "Protocol versions, server clock and limits (no authentication)",
            None,
            None,
            ok("200", schema_ref("InfoResponse")),
        ),
    );
    put(
        "/v1/openapi.json",
        "get",
        operation(
            "This description",
            None,
            None,
            ok("200", json!({"type": "object"})),
        ),
    );
    let mut enroll = operation(
        "Exchange a one-time enrollment code for a device id and token",
        None,
        Some(json_body(schema_ref("EnrollRequest"))),
        ok("200", schema_ref("EnrollResponse")),
    );
    enroll["responses"]["401"] = error("invalid_code, code_expired, code_used");
    enroll["responses"]["409"] = error("unsent_edits, device_taken (the code was not used)");
    put("/v1/enroll", "post", enroll);
    let mut push = operation(
        "Push one numbered batch of ops",
        Some("device"),
        Some(json_body(schema_ref("PushRequest"))),
        ok("200", schema_ref("PushResponse")),
    );
    push["responses"]["400"] =
        error("bad_json, invalid_message, unsupported_protocol, bad_encoding, batch_too_large");
    push["responses"]["409"] = error("batch_mismatch: the batch_seq was used for different ops");
    push["responses"]["410"] =
        error("device_lost: the office reported the device lost; the app wipes its data");
    put("/v1/push", "post", push);
    let mut pull = operation(
        "Pull one page of other devices' ops in the scope",
        Some("device"),
        Some(json_body(schema_ref("PullRequest"))),
        ok("200", schema_ref("PullResponse")),
    );
    pull["responses"]["400"] = error(
        "bad_json, invalid_message (limit 0), unsupported_protocol, bad_encoding, invalid_cursor: a cursor this server did not sign",
    );
    pull["responses"]["409"] = error(
        "cursor_reset: the log no longer holds what the cursor says the device was sent (a restore): pull again from \"\" and offer every acknowledged op again",
    );
    pull["responses"]["410"] =
        error("device_lost (wipe now), device_retired (wipe once nothing is left to push)");
    put("/v1/pull", "post", pull);
    let mut sync = operation(
        "Push (optional) then pull, in one call",
        Some("device"),
        Some(json_body(schema_ref("SyncRequest"))),
        ok("200", schema_ref("SyncResponse")),
    );
    sync["responses"]["400"] = error(
        "bad_json, invalid_message, unsupported_protocol, bad_encoding, batch_too_large, invalid_cursor",
    );
    sync["responses"]["409"] = error("batch_mismatch, cursor_reset (as for push and pull)");
    sync["responses"]["410"] = error("device_lost; device_retired (a sync without a push part)");
    put("/v1/sync", "post", sync);
    let mut wiped = operation(
        "A device the office ordered wiped says it did; its token is then revoked",
        Some("device"),
        Some(json_body(
            json!({"type": "object", "additionalProperties": false,
            "required": ["protocol", "order", "pending_ops", "curable_ops", "refused_for_good_ops"],
            "properties": {"protocol": {"type": "integer", "const": 1},
            "order": {"type": "string", "enum": ["lost", "retired"]},
            "pending_ops": {"type": "integer", "minimum": 0}, "curable_ops": {"type": "integer", "minimum": 0},
            "refused_for_good_ops": {"type": "integer", "minimum": 0}}}),
        )),
        ok(
            "200",
            json!({"type": "object", "required": ["wiped_ms"], "properties": {"wiped_ms": {"type": "integer"}}}),
        ),
    );
    blob_paths(&mut put);
    wiped["responses"]["400"] = error("bad_json, invalid_message (not the order given)");
    wiped["responses"]["409"] = error("no_wipe_ordered: the office ordered no wipe of this device");
    put("/v1/device/wiped", "post", wiped);
    let mut writers = operation(
        "The officers whose devices write in this device's area, so the phone names who wrote a value",
        Some("device"),
        Some(json_body(
            json!({"type": "object", "additionalProperties": false, "required": ["protocol"],
            "properties": {"protocol": {"type": "integer", "const": 1}}}),
        )),
        ok(
            "200",
            json!({"type": "object", "additionalProperties": false, "required": ["writers"], "properties": {
                "writers": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                    "required": ["device_id", "officer_id", "officer_name"], "properties": {
                    "device_id": {"type": "string", "format": "uuid"}, "officer_id": {"type": "string"},
                    "officer_name": {"type": "string"}}}}}}),
        ),
    );
    writers["responses"]["400"] = error("bad_json, invalid_message, unsupported_protocol");
    writers["responses"]["409"] =
        error("unknown_officer: the device's officer no longer exists; enroll the device again");
    writers["responses"]["410"] = error(
        "device_lost: the office reported the device lost; device_retired: retired, so it gets no more data",
    );
    put("/v1/writers", "post", writers);
    let login_body = json!({"type": "object", "additionalProperties": false, "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}}});
    let mut login = operation(
        "Log in: password to office session token",
        None,
        Some(json_body(login_body)),
        ok(
            "200",
            json!({"type": "object", "required": ["token", "username", "role", "expires_ms"], "properties": {
            "token": {"type": "string"}, "username": {"type": "string"},
            "role": {"type": "string", "enum": ["admin", "supervisor", "officer"]}, "expires_ms": {"type": "integer"}}}),
        ),
    );
    login["responses"]["401"] = error("invalid_credentials: wrong user name or password");
    login["responses"]["429"] = error("too_many_attempts: login throttled (Retry-After)");
    put("/v1/login", "post", login);
    put(
        "/v1/logout",
        "post",
        operation(
            "End the caller's session",
            Some("session"),
            None,
            json!({"204": {"description": "Logged out"}}),
        ),
    );
    put(
        "/v1/me",
        "get",
        operation(
            "Who the session belongs to",
            Some("session"),
            None,
            ok("200", user.clone()),
        ),
    );
    let admin = |summary: &str, request: Option<Json>, responses: Json| {
        let mut op = operation(summary, Some("session"), request, responses);
        op["responses"]["403"] = error("forbidden: the role may not do this");
        op["responses"]["404"] = error("not_found: no such officer or device");
        op
    };
    let mut create_officer = admin(
        "Create an officer with a scope (admin)",
        Some(json_body(
            json!({"type": "object", "additionalProperties": false, "required": ["name", "scope"], "properties": {
            "id": {"anyOf": [name_schema(64), {"type": "null"}], "description": "Employee number; generated when absent"},
            "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
            "scope": scope_list.clone()}}),
        )),
        ok("201", officer.clone()),
    );
    create_officer["responses"]["400"] = error(
        "bad_json, invalid_message, invalid_scope: a scope code of the right form that is not a known region",
    );
    create_officer["responses"]["409"] = error("already_exists: the officer id is taken");
    put("/v1/admin/officers", "post", create_officer);
    put(
        "/v1/admin/officers",
        "get",
        admin(
            "List officers (admin, supervisor)",
            None,
            ok("200", json!({"type": "array", "items": officer.clone()})),
        ),
    );
    let mut get_officer = admin(
        "One officer (admin, supervisor)",
        None,
        ok("200", officer.clone()),
    );
    get_officer["parameters"] = json!([id("Officer id")]);
    put("/v1/admin/officers/{id}", "get", get_officer);
    let mut scope = admin(
        "Replace an officer's scope (admin)",
        Some(json_body(
            json!({"type": "object", "additionalProperties": false, "required": ["scope"],
            "properties": {"scope": scope_list}}),
        )),
        ok("200", officer),
    );
    scope["parameters"] = json!([id("Officer id")]);
    scope["responses"]["400"] = error(
        "bad_json, invalid_message, invalid_scope: a scope code of the right form that is not a known region",
    );
    put("/v1/admin/officers/{id}/scope", "put", scope);
    let mut code = admin(
        "Issue a one-time enrollment code (admin)",
        Some(
            json!({"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false,
            "properties": {"ttl_minutes": {"type": ["integer", "null"], "minimum": 1, "maximum": 43200}}}}}}),
        ),
        ok(
            "201",
            json!({"type": "object", "required": ["code", "officer_id", "expires_ms"], "properties": {
            "code": {"type": "string"}, "officer_id": {"type": "string"}, "expires_ms": {"type": "integer"}}}),
        ),
    );
    code["parameters"] = json!([id("Officer id")]);
    put("/v1/admin/officers/{id}/enrollment-codes", "post", code);
    put(
        "/v1/admin/devices",
        "get",
        admin(
            "List devices (admin, supervisor)",
            None,
            ok("200", json!({"type": "array", "items": device.clone()})),
        ),
    );
    put(
        "/v1/admin/audit",
        "get",
        admin(
            "Walk the whole log (admin): each log link, each signed op in its writer's sealed run, each seal; names the first bad entry",
            None,
            ok(
                "200",
                json!({"type": "object", "required": ["ops", "sealed", "unsigned", "unlinked"], "properties": {
                "ops": {"type": "integer"}, "sealed": {"type": "integer"}, "unsigned": {"type": "integer"},
                "unlinked": {"type": "integer"},
                "root": {"type": ["array", "null"]}, "first_bad": {"type": ["array", "null"]}}}),
            ),
        ),
    );
    let mut revoke = admin(
        "Revoke a device (admin): its token stops working at once",
        None,
        ok("200", device.clone()),
    );
    revoke["parameters"] = json!([id("Device id")]);
    put("/v1/admin/devices/{id}/revoke", "post", revoke);
    let mut lost = admin(
        "Report a device lost (admin): revoked at once, told to wipe its data at its next contact (410 device_lost)",
        None,
        ok("200", device.clone()),
    );
    lost["parameters"] = json!([id("Device id")]);
    put("/v1/admin/devices/{id}/lost", "post", lost);
    let mut retire = admin(
        "Retire a device (admin): it pushes what it has not synced, then is told to wipe (410 device_retired on pulls)",
        None,
        ok("200", device),
    );
    retire["parameters"] = json!([id("Device id")]);
    put("/v1/admin/devices/{id}/retire", "post", retire);
    let mut new_user = admin(
        "Create an office user (admin)",
        Some(json_body(
            json!({"type": "object", "additionalProperties": false, "required": ["username", "password", "role"], "properties": {
            "username": name_schema(64), "password": {"type": "string", "minLength": 10},
            "role": {"type": "string", "enum": ["admin", "supervisor", "officer"]}}}),
        )),
        ok("201", user),
    );
    new_user["responses"]["409"] = error("already_exists: the user name is taken");
    put("/v1/admin/users", "post", new_user);
    p
}

/// A blob hash as the path holds it (BLAKE3, 64 lowercase hex digits).
const BLOB_HASH: &str = "^[0-9a-f]{64}$";

/// The attachments' endpoints (docs/protocol.md, *Attachments*): start or resume an upload,
/// send a chunk, read a blob.
fn blob_paths(put: &mut impl FnMut(&str, &str, Json)) {
    use sidak_core::attachment::{MAX_BLOB_BYTES, MEDIA_TYPES};
    use sidak_core::protocol::MAX_CHUNK_BYTES;
    let hash = json!({"name": "hash", "in": "path", "required": true,
        "schema": {"type": "string", "pattern": BLOB_HASH},
        "description": "BLAKE3 of the blob's bytes, 64 lowercase hex digits (400 invalid_hash otherwise)"});
    let status = schema_ref("BlobUploadStatus");
    let gone = error("device_lost: the office reported the device lost; the app wipes its data");
    let mut start = operation(
        "Start (or resume) the upload of a blob: answers how many bytes the server holds",
        Some("device"),
        Some(json_body(schema_ref("BlobStartRequest"))),
        ok("200", status.clone()),
    );
    start["parameters"] = json!([hash.clone()]);
    start["responses"]["400"] = error("invalid_hash, bad_json, invalid_message");
    start["responses"]["409"] =
        error("blob_mismatch: the server has this hash with another size or media type");
    start["responses"]["410"] = gone.clone();
    start["responses"]["413"] = error(
        "blob_too_large: a size over the server's limit; payload_too_large: a body over max_body_bytes",
    );
    start["responses"]["415"] = error(
        "media_type_not_allowed: a media type not in the list; unsupported_media_type, unsupported_encoding",
    );
    start["responses"]["422"] = error(
        "blob_hash_mismatch: the bytes of an upload finished here do not hash to {hash}; discarded",
    );
    put("/v1/blobs/{hash}", "post", start);

    let mut chunk = operation(
        "Send the chunk of a blob's bytes that starts at the acknowledged offset",
        Some("device"),
        None,
        ok("200", status),
    );
    chunk["parameters"] = json!([hash.clone(), {"name": "offset", "in": "query", "required": true,
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_BLOB_BYTES},
        "description": "where the chunk starts: the offset the last answer gave (400 invalid_offset when missing or not a whole number)"}]);
    chunk["requestBody"] = json!({"required": true, "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary", "maxLength": MAX_CHUNK_BYTES}}}});
    chunk["responses"]["400"] = error(
        "invalid_hash, invalid_offset, empty_chunk, chunk_past_end (runs past the declared size), bad_request (the body broke off)",
    );
    chunk["responses"]["404"] =
        error("upload_not_started: no POST started an upload of this blob (or it was dropped)");
    chunk["responses"]["409"] = error(
        "upload_offset_mismatch: the offset is not the acknowledged one (overlap, gap, resend); ask with POST",
    );
    chunk["responses"]["410"] = gone.clone();
    chunk["responses"]["413"] = error("payload_too_large: a chunk over 1 MiB (MAX_CHUNK_BYTES)");
    chunk["responses"]["415"] =
        error("unsupported_media_type: not application/octet-stream; unsupported_encoding");
    chunk["responses"]["422"] = error(
        "blob_hash_mismatch: the completed bytes do not hash to {hash}; the upload is discarded",
    );
    put("/v1/blobs/{hash}/chunks", "put", chunk);

    let bytes = |description: &str| {
        let mut content = Map::new();
        for ty in MEDIA_TYPES {
            content.insert(
                (*ty).to_owned(),
                json!({"schema": {"type": "string", "format": "binary"}}),
            );
        }
        let header =
            |description: &str, schema: Json| json!({"description": description, "schema": schema});
        json!({"description": description, "content": content, "headers": {
            "ETag": header("\"<hash>\"", json!({"type": "string"})),
            "Content-Length": header("bytes in this answer", json!({"type": "integer"})),
            "Accept-Ranges": header("bytes", json!({"type": "string"}))}})
    };
    let mut read = operation(
        "Read a blob that a record in the device's area references; a Range resumes a download",
        Some("device"),
        None,
        json!({"200": bytes("the blob"), "206": bytes("the range asked for, with Content-Range")}),
    );
    read["responses"]["206"]["headers"]["Content-Range"] =
        json!({"description": "bytes N-M/size", "schema": {"type": "string"}});
    read["parameters"] = json!([hash, {"name": "Range", "in": "header", "required": false,
        "schema": {"type": "string", "pattern": "^bytes=([0-9]{1,12}-[0-9]{0,12}|-[0-9]{1,12})$"},
        "description": "bytes=N-, bytes=N-M or bytes=-S; another form is ignored (the whole blob)"}]);
    read["responses"]["400"] = error("invalid_hash");
    read["responses"]["404"] = error(
        "blob_not_found: no record in the device's scope references this hash; blob_pending: one does, but it is not uploaded yet",
    );
    read["responses"]["410"] =
        error("device_lost (wipe now), device_retired (wipe once nothing is left to push)");
    read["responses"]["416"] = error("range_not_satisfiable: a range outside the blob");
    put("/v1/blobs/{hash}", "get", read);
}

/// The description.
pub fn spec() -> Json {
    let mut paths = Map::new();
    for route in ROUTES {
        let (parameters, request, ok) = details(route.method, route.path);
        let ok_content = if route.path.ends_with(".csv") {
            json!({"text/csv": {"schema": ok}})
        } else if route.path.ends_with(".pdf") {
            json!({"application/pdf": {"schema": ok}})
        } else {
            json!({"application/json": {"schema": ok}})
        };
        let mut op = json!({
            "summary": route.summary,
            "security": [{"session": []}],
            "parameters": parameters,
            "responses": {
                "200": {"description": "OK", "content": ok_content},
                "400": error("invalid_message, invalid_action: bad parameters or an action that does not fit the record"),
                "401": error("unauthorized: no office session (anonymous or a device token)"),
                "403": error("forbidden: an officer session, or unmasked=true from a non-admin"),
                "404": error("not_found"),
                "409": error("stale: the data changed since it was read (already resolved, linked or handled)"),
            }
        });
        common_errors(&mut op["responses"]);
        if route.path.contains("/attachments/") {
            office_bytes(route.path, &mut op);
        }
        if route.path.ends_with("/report.pdf") {
            op["responses"]["400"] =
                error("not_a_visit: a report is made for a visit; invalid_message");
            op["responses"]["422"] =
                error("report_failed: a photo of the visit could not be printed");
        }
        if let Some(b) = request {
            op["requestBody"] = b;
        }
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = op;
    }
    paths.extend(server_paths());
    let mut schemas = proto_schemas();
    let summary = json!({"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"},
        "kind": {"type": "string"}, "region": {"type": "string"},
        "village": {"type": ["string", "null"]}, "district": {"type": ["string", "null"]}, "regency": {"type": ["string", "null"]},
        "status": {"type": ["string", "null"]}, "label": {"type": ["string", "null"]},
        "nik": {"type": ["string", "null"], "description": "masked (7371********0003) unless an admin asks unmasked=true"},
        "nib": {"type": ["string", "null"]}, "conflicts": {"type": "integer"},
        "created_ms": {"type": ["integer", "null"]}, "updated_ms": {"type": "integer"},
        "officer_id": {"type": ["string", "null"]}, "needs_review": {"type": "boolean"},
        "cancelled_with_findings": {"type": "boolean", "description": "a visit whose status is (or competes with) cancelled while findings not archived point at it"},
        "needs_attention": {"type": "boolean", "description": "needs_review or cancelled_with_findings"},
        "set_aside": {"type": "integer"}}});
    let counts = json!({"type": "object", "properties": {
        "total": {"type": "integer"},
        "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
        "by_category": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "occupation (workers) or compliance (companies)"}}});
    let history = json!({"type": "object", "properties": {
                    "id": {"type": "string"},
                    "entries": {"type": "array", "items": {"type": "object", "properties": {
                        "seq": {"type": "integer"}, "hlc": {"type": "string"}, "device_id": {"type": "string"},
                        "officer_id": {"type": "string"}, "office": {"type": "boolean"},
                        "device_time_ms": {"type": "integer"}, "received_ms": {"type": "integer"}, "create": {"type": "boolean"},
                        "changes": {"type": "array", "items": {"type": "object", "properties": {
                            "field": {"type": "string"}, "label": {"type": "string"}, "action": {"type": "string"},
                            "old": {}, "new": {}, "member": {"type": ["string", "null"], "description": "the member added or removed (set fields, such as an attachment's reference)"}, "effective": {"type": "boolean"}}}},
                        "actions": {"type": "array", "items": {"type": "object"}}}}},
                    "other_actions": {"type": "array", "items": {"type": "object"}},
                    "set_aside": {"type": "array", "items": {"type": "object"}}}});
    let attachment = json!({"type": "object", "required": ["hash", "size", "media_type", "caption", "taken_at", "geo", "state", "received", "url", "thumbnail_url"], "properties": {
                    "hash": {"type": "string", "pattern": BLOB_HASH}, "size": {"type": "integer"},
                    "media_type": {"type": "string", "enum": sidak_core::attachment::MEDIA_TYPES},
                    "caption": {"type": ["string", "null"]}, "taken_at": {"type": ["string", "null"]},
                    "geo": {"type": ["string", "null"], "description": "lat,lon as the officer recorded it"},
                    "state": {"type": "string", "enum": ["stored", "uploading", "not_uploaded"]},
                    "received": {"type": "integer", "description": "bytes the server holds so far"},
                    "url": {"type": "string"}, "thumbnail_url": {"type": ["string", "null"], "description": "null for a PDF"}}});
    let mut out = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sidak sync server and central-office API",
            "version": "1",
            "description": "Protocol v1 for field devices (enroll, push, pull, sync: docs/protocol.md; messages as in proto/schema), login and the admin API, and the central office for supervisors and admins: review what the field collected, resolve conflicts, link duplicates, report coverage, export (docs/office.md). Device endpoints need a device token (POST /v1/enroll), office and admin endpoints an office session token (POST /v1/login), both as Authorization: Bearer. Every error is a status plus {code, message}."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer", "description": "sds_... token from POST /v1/login (role supervisor or admin)"},
                "device": {"type": "http", "scheme": "bearer", "description": "sdd_... token from POST /v1/enroll"}},
            "schemas": {
                "RecordSummary": summary,
                "Field": {"type": "object", "properties": {
                    "name": {"type": "string"}, "label": {"type": "string"}, "register": {"type": "string", "enum": ["lww", "mv", "set"]},
                    "value": {}, "conflict": {"type": "boolean"},
                    "values": {"type": "array", "items": {"type": "object", "properties": {
                        "value": {}, "hlc": {"type": "string"}, "device_id": {"type": "string"},
                        "officer_id": {"type": ["string", "null"]}, "device_time_ms": {"type": "integer"}}}}}},
                "History": history,
                "Attachment": attachment,
                "DuplicateGroup": {"type": "object", "properties": {
                    "key": {"type": "string", "description": "NIK (masked) or NIB"},
                    "records": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"}}}},
                "Area": {"type": "object", "properties": {
                    "code": {"type": "string"}, "name": {"type": ["string", "null"]},
                    "workers": counts, "companies": counts, "visits": counts, "findings": counts,
                    "findings_overdue": {"type": "integer"}}},
                "Overview": {"type": "object", "properties": {
                    "workers": {"type": "integer"}, "companies": {"type": "integer"}, "visits": {"type": "integer"},
                    "findings": {"type": "integer"}, "conflicts": {"type": "integer"}, "duplicate_groups": {"type": "integer"},
                    "awaiting_review": {"type": "integer"}, "set_aside": {"type": "integer"}, "findings_overdue": {"type": "integer"},
                    "cancelled_with_findings": {"type": "integer"},
                    "devices": {"type": "integer"}, "devices_silent": {"type": "integer"},
                    "server_time_ms": {"type": "integer"}}},
                "WriteOutcome": {"type": "object", "properties": {
                    "ops": {"type": "array", "items": {"type": "object", "properties": {
                        "seq": {"type": "integer"}, "hlc": {"type": "string"}, "record": {"type": "string"}}}},
                    "actions": {"type": "array", "items": {"type": "integer"}}}}
            }
        }
    });
    if let Some(m) = out["components"]["schemas"].as_object_mut() {
        m.append(&mut schemas);
    }
    out
}

/// Serves [`spec`].
pub async fn serve() -> axum::Json<Json> {
    axum::Json(spec())
}
