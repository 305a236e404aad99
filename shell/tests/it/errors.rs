//! Every error status of SPEC §2, with its JSON body; none changes state.

use serde_json::{json, Value};

use crate::harness::{raw, send_raw, Server};

/// Sends a request and checks the status and error code of the answer.
fn check(
    server: &Server,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
    status: u16,
    code: &str,
) {
    let headers = [("content-type", content_type)];
    let (got_status, text) = raw(&server.addr, method, path, &headers, body.as_bytes());
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert_eq!(got_status, status, "{method} {path} {body}: {text}");
    assert_eq!(
        answer["error"]["code"], code,
        "{method} {path} {body}: {text}"
    );
    assert!(answer["error"]["message"].is_string(), "{text}");
}

const JSON: &str = "application/json";

#[test]
fn bad_requests_get_their_status_and_change_nothing() {
    // Proves: 400/404/405/409/413/415 with JSON bodies; the log is unchanged after them all.
    let server = Server::start(&["--batch-len-max", "3", "--body-bytes-max", "2000"]);
    server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}]}),
    );
    server.put("/v1/logs/jobs/groups/keyed", &json!({"ordering": "key"}));
    let append = "/v1/logs/jobs/messages";
    // 400: malformed or invalid
    check(
        &server,
        "POST",
        append,
        JSON,
        "{not json",
        400,
        "invalid_json",
    );
    check(
        &server,
        "POST",
        append,
        JSON,
        r#"{"messages":[],"extra":1}"#,
        400,
        "invalid_json",
    );
    check(
        &server,
        "POST",
        append,
        JSON,
        r#"{"messages":[{"payload":1,"colour":"red"}]}"#,
        400,
        "invalid_json",
    );
    // Payloads no consumer could parse back: too deep, or out of f64 range.
    let deep = format!(
        r#"{{"messages":[{{"payload":{}1{}}}]}}"#,
        "[".repeat(65),
        "]".repeat(65)
    );
    check(&server, "POST", append, JSON, &deep, 400, "invalid_payload");
    check(
        &server,
        "POST",
        append,
        JSON,
        r#"{"messages":[{"payload":{"n":1e400}}]}"#,
        400,
        "invalid_payload",
    );
    check(
        &server,
        "POST",
        append,
        JSON,
        r#"{"messages":[]}"#,
        400,
        "empty_batch",
    );
    check(
        &server,
        "POST",
        append,
        JSON,
        r#"{"messages":[{"key":"k"}]}"#,
        400,
        "invalid_payload",
    );
    check(
        &server,
        "POST",
        append,
        JSON,
        r#"{"messages":[{"payload_base64":"%%%"}]}"#,
        400,
        "invalid_base64",
    );
    check(&server, "POST", append, JSON, "", 400, "invalid_json");
    check(
        &server,
        "POST",
        "/v1/logs/bad%20name/messages",
        JSON,
        r#"{"messages":[{"payload":1}]}"#,
        400,
        "invalid_name",
    );
    check(
        &server,
        "POST",
        &format!("/v1/logs/{}/messages", "a".repeat(129)),
        JSON,
        "{}",
        400,
        "invalid_name",
    );
    check(
        &server,
        "GET",
        "/v1/logs/jobs/messages/minus-one",
        JSON,
        "",
        400,
        "invalid_index",
    );
    check(
        &server,
        "GET",
        "/v1/logs/jobs/groups/keyed/dead?limit=0",
        JSON,
        "",
        400,
        "invalid_query",
    );
    check(
        &server,
        "GET",
        "/v1/logs/jobs/groups/keyed/dead?colour=red",
        JSON,
        "",
        400,
        "invalid_query",
    );
    let acquire = "/v1/logs/jobs/groups/g/acquire";
    check(
        &server,
        "POST",
        acquire,
        JSON,
        r#"{"consumer":"c","max":0}"#,
        400,
        "acquire_max_out_of_range",
    );
    check(
        &server,
        "POST",
        acquire,
        JSON,
        r#"{"consumer":"c","lease_ms":1}"#,
        400,
        "lease_out_of_range",
    );
    check(
        &server,
        "POST",
        acquire,
        JSON,
        r#"{"consumer":"c","wait_ms":999999999}"#,
        400,
        "wait_out_of_range",
    );
    check(
        &server,
        "POST",
        acquire,
        JSON,
        r#"{"consumer":"a b"}"#,
        400,
        "invalid_name",
    );
    check(
        &server,
        "POST",
        acquire,
        JSON,
        r#"{"consumer":"c","max":-1}"#,
        400,
        "invalid_json",
    );
    let settle = "/v1/logs/jobs/groups/keyed/settle";
    check(
        &server,
        "POST",
        settle,
        JSON,
        r#"{"settlements":[{"index":0,"token":"nope","outcome":"processed"}]}"#,
        400,
        "invalid_token",
    );
    check(
        &server,
        "POST",
        settle,
        JSON,
        r#"{"settlements":[{"index":0,"token":"lt1","outcome":"maybe"}]}"#,
        400,
        "invalid_json",
    );
    let extend = "/v1/logs/jobs/groups/keyed/extend";
    check(
        &server,
        "POST",
        extend,
        JSON,
        r#"{"leases":[{"index":0,"token":"lt"}]}"#,
        400,
        "invalid_token",
    );
    check(
        &server,
        "POST",
        extend,
        JSON,
        r#"{"leases":[{"index":0,"token":7}]}"#,
        400,
        "invalid_json",
    );
    check(
        &server,
        "POST",
        settle,
        JSON,
        r#"{"settlements":[{"index":0,"token":"lt1","outcome":"processed","delay_ms":5}]}"#,
        400,
        "invalid_settlement",
    );
    check(
        &server,
        "POST",
        settle,
        JSON,
        r#"{"settlements":[]}"#,
        400,
        "empty_batch",
    );
    check(
        &server,
        "PUT",
        "/v1/logs/jobs/groups/g2",
        JSON,
        r#"{"max_attempts":0}"#,
        400,
        "invalid_config",
    );
    // 404: unknown log, group, index, route
    check(
        &server,
        "GET",
        "/v1/logs/nothing",
        JSON,
        "",
        404,
        "unknown_log",
    );
    check(
        &server,
        "GET",
        "/v1/logs/jobs/groups/nobody",
        JSON,
        "",
        404,
        "unknown_group",
    );
    check(
        &server,
        "GET",
        "/v1/logs/jobs/messages/5",
        JSON,
        "",
        404,
        "unknown_index",
    );
    check(
        &server,
        "POST",
        "/v1/logs/jobs/groups/nobody/settle",
        JSON,
        r#"{"settlements":[{"index":0,"token":"lt1","outcome":"processed"}]}"#,
        404,
        "unknown_group",
    );
    check(&server, "GET", "/v2/everything", JSON, "", 404, "no_route");
    // 405: a known path with another method
    check(
        &server,
        "DELETE",
        "/v1/logs/jobs",
        JSON,
        "",
        405,
        "method_not_allowed",
    );
    // 409: a field fixed at creation
    check(
        &server,
        "PUT",
        "/v1/logs/jobs/groups/keyed",
        JSON,
        r#"{"ordering":"none"}"#,
        409,
        "config_conflict",
    );
    // 413: batch over the limit, body over the limit
    let four = r#"{"messages":[{"payload":1},{"payload":2},{"payload":3},{"payload":4}]}"#;
    check(&server, "POST", append, JSON, four, 413, "batch_too_large");
    let big = format!(r#"{{"messages":[{{"payload":"{}"}}]}}"#, "x".repeat(3000));
    check(&server, "POST", append, JSON, &big, 413, "body_too_large");
    // 415: wrong content type
    check(
        &server,
        "POST",
        append,
        "text/plain",
        r#"{"messages":[{"payload":1}]}"#,
        415,
        "unsupported_media_type",
    );
    // Nothing above changed the log.
    let (_, log) = server.get("/v1/logs/jobs");
    assert_eq!(log["next_index"], 1);
    assert_eq!(log["groups"].as_array().unwrap().len(), 1);
}

#[test]
fn a_body_that_lies_about_its_length_or_never_ends_is_refused() {
    // Proves: a chunked body over the limit is cut off with 413, and garbage request lines get an answer, not a crash.
    let server = Server::start(&["--body-bytes-max", "100"]);
    let chunk = "x".repeat(200);
    let request = format!(
        "POST /v1/logs/jobs/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let (status, _) = send_raw(&server.addr, request.as_bytes());
    assert_eq!(status, 413);
    let (status, _) = send_raw(&server.addr, b"THIS IS NOT HTTP\r\n\r\n");
    assert!(status == 400 || status == 0, "got {status}");
    assert_eq!(server.get("/healthz").0, 200, "the server is still up");
}

#[test]
fn auth_is_required_on_the_api_when_a_token_is_set() {
    // Proves: 401 without or with a wrong bearer token; the right one works; healthz stays open.
    let server = Server::start(&["--auth-token", "s3cret"]);
    let body = r#"{"messages":[{"payload":1}]}"#;
    check(
        &server,
        "POST",
        "/v1/logs/jobs/messages",
        JSON,
        body,
        401,
        "unauthorized",
    );
    let wrong = [("content-type", JSON), ("authorization", "Bearer s3creT")];
    let (status, _) = raw(
        &server.addr,
        "POST",
        "/v1/logs/jobs/messages",
        &wrong,
        body.as_bytes(),
    );
    assert_eq!(status, 401);
    let (status, _) = raw(&server.addr, "GET", "/metrics", &[], b"");
    assert_eq!(status, 401);
    let right = [("content-type", JSON), ("authorization", "Bearer s3cret")];
    let (status, _) = raw(
        &server.addr,
        "POST",
        "/v1/logs/jobs/messages",
        &right,
        body.as_bytes(),
    );
    assert_eq!(status, 201);
    assert_eq!(raw(&server.addr, "GET", "/healthz", &[], b"").0, 200);
}

#[test]
fn too_many_waiters_is_429_and_the_server_stays_up() {
    // Proves: the waiter limit answers 429 too_many_waiters instead of growing.
    let server = Server::start(&["--waiters-max", "1"]);
    server.put("/v1/logs/jobs", &json!({}));
    let addr = server.addr.clone();
    let parked = std::thread::spawn(move || {
        let body = r#"{"consumer":"a","wait_ms":20000}"#;
        raw(
            &addr,
            "POST",
            "/v1/logs/jobs/groups/g/acquire",
            &[("content-type", JSON)],
            body.as_bytes(),
        )
    });
    // Wait until the first request is parked, then the second is over the limit.
    for _ in 0..500 {
        let (_, group) = server.get("/v1/logs/jobs/groups/g");
        if group["waiters"] == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    check(
        &server,
        "POST",
        "/v1/logs/jobs/groups/g/acquire",
        JSON,
        r#"{"consumer":"b","wait_ms":20000}"#,
        429,
        "too_many_waiters",
    );
    server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}]}),
    );
    let (status, text) = parked.join().unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("\"index\":0"), "{text}");
}

#[test]
fn a_message_with_more_headers_than_the_wal_could_count_is_refused_not_fatal() {
    // Proves a request the machine refuses never crashes the durable server,
    // even one shaped to break the WAL's binary encoding (70,000 headers).
    let server = Server::start(&[]);
    let headers: serde_json::Map<String, Value> =
        (0..70_000).map(|i| (format!("h{i}"), json!(""))).collect();
    let body = json!({"messages": [{"payload": 1, "headers": headers}]}).to_string();
    check(
        &server,
        "POST",
        "/v1/logs/jobs/messages",
        JSON,
        &body,
        413,
        "message_too_large",
    );
    let (status, _) = server.get("/healthz");
    assert_eq!(status, 200, "the server is still up");
    let (status, answer) = server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}]}),
    );
    assert_eq!((status, answer["first_index"].as_u64()), (201, Some(0)));
}
