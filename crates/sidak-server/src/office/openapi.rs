//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of the office API. Public: it
//! describes the endpoints and holds no data. Built from [`super::ROUTES`] plus the
//! parameters and bodies below, so a route cannot be served without being described
//! (a unit test checks every route is here).

use serde_json::{Map, Value as Json, json};

use super::ROUTES;

fn param(name: &str, location: &str, schema: Json, description: &str) -> Json {
    json!({"name": name, "in": location, "required": location == "path", "schema": schema, "description": description})
}

fn q(name: &str, ty: &str, description: &str) -> Json {
    param(name, "query", json!({"type": ty}), description)
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
        q(
            "region",
            "string",
            "Kemendagri code prefix (73, 7371, 737101, 7371011001)",
        ),
        q("officer", "string", "Officer id of the creating device"),
        param(
            "from",
            "query",
            json!({"type": "string", "format": "date"}),
            "Created on or after (office time, WITA)",
        ),
        param(
            "to",
            "query",
            json!({"type": "string", "format": "date"}),
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
            "Visits cancelled (status, or one of its competing values) that still have findings not archived (DOMAIN.md case 6)",
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
        q("cursor", "string", "next_cursor of the previous page"),
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
    json!({"type": "string", "maxLength": 4000, "description": "Kept in the record's history"})
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
                "record": {"$ref": "#/components/schemas/RecordSummary"},
                "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}}}}),
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
                    "pick": {"type": "string", "description": "hlc of the competing value chosen"},
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
                    "note": {"type": "string", "description": "Comment for the officer (review_note); required to return"}}}),
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
                    "duplicate": {"type": "string", "format": "uuid", "description": "Gets status duplicate and duplicate_of"},
                    "original": {"type": "string", "format": "uuid", "description": "Stays; gets a review_note naming the duplicate"},
                    "note": note()}}),
            )),
            write,
        ),
        ("GET", "/v1/office/review") => (
            [
                vec![q("region", "string", "Region code prefix")],
                unmasked(),
            ]
            .concat(),
            None,
            json!({"type": "object", "properties": {
                "awaiting": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"}},
                "awaiting_total": {"type": "integer"},
                "flagged": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"}},
                "flagged_total": {"type": "integer"},
                "cancelled_with_findings": {"type": "array", "items": {"$ref": "#/components/schemas/RecordSummary"},
                    "description": "visits cancelled while a team member's findings on them survive (not archived)"},
                "cancelled_with_findings_total": {"type": "integer"}}}),
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
                q(
                    "region",
                    "string",
                    "Province or regency prefix (default: everything)",
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
                    json!({"type": "string", "format": "date"}),
                    "Created on or after",
                ),
                param(
                    "to",
                    "query",
                    json!({"type": "string", "format": "date"}),
                    "Created on or before",
                ),
            ],
            None,
            json!({"type": "object", "properties": {
                "areas": {"type": "array", "items": {"$ref": "#/components/schemas/Area"}},
                "today": {"type": "string", "format": "date"}}}),
        ),
        ("GET", "/v1/office/devices") => (
            vec![],
            None,
            json!({"type": "object", "properties": {"devices": {"type": "array", "items": {"type": "object", "properties": {
                "device_id": {"type": "string"}, "officer_id": {"type": "string"}, "officer_name": {"type": ["string", "null"]},
                "last_sync_ms": {"type": ["integer", "null"]}, "pending_ops": {"type": ["integer", "null"]},
                "rejected_ops": {"type": ["integer", "null"]}, "clock_offset_ms": {"type": ["integer", "null"]},
                "set_aside": {"type": "integer"}, "silent": {"type": "boolean"}, "clock_warning": {"type": "boolean"},
                "revoked_ms": {"type": ["integer", "null"]}}}}}}),
        ),
        ("GET", "/v1/office/export.csv") => (
            list_filters(),
            None,
            json!({"type": "string", "description": "text/csv: fixed columns then the kind's fields; competing values joined by \" | \", set members by \";\""}),
        ),
        _ => (vec![], None, obj),
    }
}

fn error(description: &str) -> Json {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The description.
pub fn spec() -> Json {
    let mut paths = Map::new();
    for route in ROUTES {
        let (parameters, request, ok) = details(route.method, route.path);
        let ok_content = if route.path.ends_with(".csv") {
            json!({"text/csv": {"schema": ok}})
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
        if let Some(b) = request {
            op["requestBody"] = b;
        }
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = op;
    }
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
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sidak central-office API",
            "version": "1",
            "description": "For supervisors and admins of the branch office: review what the field collected, resolve conflicts, link duplicates, report coverage, export. Every endpoint needs an office session token (POST /v1/login) as Authorization: Bearer. Office writes are ops in the sync log: devices receive them at their next pull. See docs/office.md."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"session": {"type": "http", "scheme": "bearer", "description": "sds_... token from POST /v1/login (role supervisor or admin)"}},
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
                "RecordSummary": summary,
                "Field": {"type": "object", "properties": {
                    "name": {"type": "string"}, "label": {"type": "string"}, "register": {"type": "string", "enum": ["lww", "mv", "set"]},
                    "value": {}, "conflict": {"type": "boolean"},
                    "values": {"type": "array", "items": {"type": "object", "properties": {
                        "value": {}, "hlc": {"type": "string"}, "device_id": {"type": "string"},
                        "officer_id": {"type": ["string", "null"]}, "device_time_ms": {"type": "integer"}}}}}},
                "History": {"type": "object", "properties": {
                    "entries": {"type": "array", "items": {"type": "object", "properties": {
                        "seq": {"type": "integer"}, "hlc": {"type": "string"}, "device_id": {"type": "string"},
                        "officer_id": {"type": "string"}, "office": {"type": "boolean"},
                        "device_time_ms": {"type": "integer"}, "received_ms": {"type": "integer"}, "create": {"type": "boolean"},
                        "changes": {"type": "array", "items": {"type": "object", "properties": {
                            "field": {"type": "string"}, "label": {"type": "string"}, "action": {"type": "string"},
                            "old": {}, "new": {}, "effective": {"type": "boolean"}}}},
                        "actions": {"type": "array", "items": {"type": "object"}}}}},
                    "other_actions": {"type": "array", "items": {"type": "object"}},
                    "set_aside": {"type": "array", "items": {"type": "object"}}}},
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
                    "devices": {"type": "integer"}, "devices_silent": {"type": "integer"}}},
                "WriteOutcome": {"type": "object", "properties": {
                    "ops": {"type": "array", "items": {"type": "object", "properties": {
                        "seq": {"type": "integer"}, "hlc": {"type": "string"}, "record": {"type": "string"}}}},
                    "actions": {"type": "array", "items": {"type": "integer"}}}}
            }
        }
    })
}

/// Serves [`spec`].
pub async fn serve() -> axum::Json<Json> {
    axum::Json(spec())
}
