//! The API's own OpenAPI 3 document, served at `/openapi.json`. A test
//! checks that its operations are exactly the route table's.

use serde_json::{json, Value};

fn error_responses(statuses: &[&str]) -> Value {
    let mut responses = serde_json::Map::new();
    for status in statuses {
        responses.insert(
            (*status).to_owned(),
            json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    Value::Object(responses)
}

fn operation(summary: &str, success: &str, body: Option<&str>, errors: &[&str]) -> Value {
    let mut responses = error_responses(errors);
    responses[success] = json!({"description": "success", "content": {"application/json": {"schema": {"type": "object"}}}});
    let mut operation = json!({"summary": summary, "responses": responses});
    if let Some(schema) = body {
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
        });
    }
    operation
}

const READ_ERRORS: &[&str] = &["400", "401", "404", "503"];
const WRITE_ERRORS: &[&str] = &[
    "400", "401", "404", "408", "409", "413", "415", "429", "503",
];

fn parameter(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

fn name_schema() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"})
}

fn path_parameters(pattern: &str) -> Value {
    let parameters: Vec<Value> = pattern
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| match name {
            "index" => parameter(name, json!({"type": "integer", "minimum": 0})),
            _ => parameter(name, name_schema()),
        })
        .collect();
    Value::Array(parameters)
}

/// The document; its paths and methods mirror [`crate::http::route::ROUTES`].
pub fn document() -> Value {
    let operations: [(&str, &str, Value); 19] = [
        (
            "/",
            "get",
            json!({"summary": "The dashboard (HTML).", "responses": {"200": {"description": "the page", "content": {"text/html": {}}}}}),
        ),
        (
            "/healthz",
            "get",
            operation("Liveness.", "200", None, &["503"]),
        ),
        (
            "/metrics",
            "get",
            json!({"summary": "Prometheus metrics.", "responses": {"200": {"description": "text exposition format", "content": {"text/plain": {}}}, "401": {"description": "unauthorized"}}}),
        ),
        (
            "/openapi.json",
            "get",
            operation("This document.", "200", None, &[]),
        ),
        (
            "/v1/logs",
            "get",
            operation("List logs with their groups.", "200", None, READ_ERRORS),
        ),
        (
            "/v1/logs/{log}",
            "get",
            operation("A log's summary with its groups.", "200", None, READ_ERRORS),
        ),
        (
            "/v1/logs/{log}",
            "put",
            operation(
                "Create or configure a log (201 when created).",
                "200",
                Some("LogSettings"),
                WRITE_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/messages",
            "post",
            operation(
                "Append a batch atomically.",
                "201",
                Some("AppendRequest"),
                WRITE_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/messages/{index}",
            "get",
            operation("Read one message.", "200", None, READ_ERRORS),
        ),
        (
            "/v1/logs/{log}/groups/{group}",
            "put",
            operation(
                "Create or configure a group (201 when created).",
                "200",
                Some("GroupSettings"),
                WRITE_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/groups/{group}",
            "get",
            operation("A group's state.", "200", None, READ_ERRORS),
        ),
        (
            "/v1/logs/{log}/groups/{group}/acquire",
            "post",
            operation(
                "Lease available messages, lowest index first, optionally waiting (long poll). A reply holds at most `max` leases and at most --acquire-bytes-max message bytes (payload, key and headers), but always at least one lease when any message is available.",
                "200",
                Some("AcquireRequest"),
                WRITE_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/groups/{group}/settle",
            "post",
            operation(
                "Settle leases: per item ok, stale_lease or unknown_index.",
                "200",
                Some("SettleRequest"),
                WRITE_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/groups/{group}/extend",
            "post",
            operation(
                "Extend held leases.",
                "200",
                Some("ExtendRequest"),
                WRITE_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/groups/{group}/consumers/{consumer}/release",
            "post",
            operation(
                "Release every lease of a consumer.",
                "200",
                None,
                WRITE_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/groups/{group}/dead",
            "get",
            operation(
                "Dead letters, paged with ?after=&limit=.",
                "200",
                None,
                READ_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/groups/{group}/dead/redrive",
            "post",
            operation(
                "Make dead letters available again (all when no indices).",
                "200",
                None,
                WRITE_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/groups/{group}/leases",
            "get",
            operation(
                "Leases held now, paged with ?after=&limit=.",
                "200",
                None,
                READ_ERRORS,
            ),
        ),
        (
            "/v1/logs/{log}/groups/{group}/messages/{index}/attempts",
            "get",
            operation(
                "A message's attempt history in the group.",
                "200",
                None,
                READ_ERRORS,
            ),
        ),
    ];
    let mut paths = serde_json::Map::new();
    for (path, method, mut operation) in operations {
        operation["parameters"] = path_parameters(path);
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Mamamia", "version": env!("CARGO_PKG_VERSION"), "description": "Durable logs with consumer groups and JIT leasing (SPEC §2)."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
        "security": [{"bearer": []}, {}],
        "paths": paths,
    })
}

fn schemas() -> Value {
    json!({
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
        "NewMessage": {"type": "object", "additionalProperties": false, "properties": {
            "payload": {"description": "any JSON value nested at most 64 levels deep, with every number within a 64-bit float's range and no lone UTF-16 surrogate escape (invalid_payload otherwise), so every consumer can parse it back"},
            "payload_base64": {"type": "string", "format": "byte"},
            "key": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "dedup_id": {"type": "string"}}},
        "AppendRequest": {"type": "object", "additionalProperties": false, "required": ["messages"], "properties": {"messages": {"type": "array", "items": {"$ref": "#/components/schemas/NewMessage"}}}},
        "LogSettings": {"type": "object", "additionalProperties": false, "properties": {
            "retention_ms": {"type": "integer", "nullable": true}, "retention_bytes": {"type": "integer", "nullable": true},
            "max_bytes": {"type": "integer"}, "dedup_window_ms": {"type": "integer"}, "dedup_window_len": {"type": "integer"}}},
        "GroupSettings": {"type": "object", "additionalProperties": false, "properties": {
            "start": {"description": "\"earliest\", \"latest\" or {\"index\": n}"},
            "lease_ms": {"type": "integer"}, "max_attempts": {"type": "integer"},
            "backoff": {"type": "object", "properties": {"initial_ms": {"type": "integer"}, "multiplier": {"type": "number"}, "cap_ms": {"type": "integer"}}},
            "ordering": {"type": "string", "enum": ["none", "key"]}, "unsettled_window": {"type": "integer"}}},
        "AcquireRequest": {"type": "object", "additionalProperties": false, "required": ["consumer"], "properties": {
            "consumer": {"type": "string"}, "max": {"type": "integer", "default": 1, "minimum": 1, "description": "most leases wanted; fewer come back when the server's byte budget per reply (--acquire-bytes-max) would be passed"}, "lease_ms": {"type": "integer"}, "wait_ms": {"type": "integer"}}},
        "SettleRequest": {"type": "object", "additionalProperties": false, "required": ["settlements"], "properties": {"settlements": {"type": "array", "items": {
            "type": "object", "additionalProperties": false, "required": ["index", "token", "outcome"], "properties": {
                "index": {"type": "integer"}, "token": {"type": "string"}, "outcome": {"type": "string", "enum": ["processed", "retry", "dead"]},
                "delay_ms": {"type": "integer"}, "reason": {"type": "string"}}}}}},
        "ExtendRequest": {"type": "object", "additionalProperties": false, "required": ["leases"], "properties": {
            "leases": {"type": "array", "items": {"type": "object", "required": ["index", "token"], "properties": {"index": {"type": "integer"}, "token": {"type": "string"}}}},
            "lease_ms": {"type": "integer"}}},
    })
}

#[cfg(test)]
mod tests {
    use crate::http::route::ROUTES;

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let document = super::document();
        let paths = document["paths"].as_object().unwrap();
        let mut documented: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.to_uppercase(), path.clone()))
            })
            .collect();
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|route| (route.method.to_owned(), route.pattern.to_owned()))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
    }
}
