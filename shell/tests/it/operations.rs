//! What operators rely on: health, metrics, the OpenAPI document, slow
//! clients, restarts, in-memory mode and graceful shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use mamamia_shell::http::route::ROUTES;
use serde_json::{json, Value};

use crate::harness::{raw, Server};

#[test]
fn the_openapi_document_matches_the_routes_the_server_answers() {
    // Proves: /openapi.json lists exactly the routed operations, and each one is routed (not 404 no_route / 405).
    let server = Server::start(&[]);
    let (status, document) = server.get("/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.0.3");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    let mut routed: Vec<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.pattern.to_owned()))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(documented, routed);
    for (method, pattern) in routed {
        let path = pattern
            .replace("{log}", "l")
            .replace("{group}", "g")
            .replace("{consumer}", "c")
            .replace("{index}", "0");
        let (status, text) = raw(
            &server.addr,
            &method,
            &path,
            &[("content-type", "application/json")],
            b"{}",
        );
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_ne!(answer["error"]["code"], "no_route", "{method} {path}");
        assert_ne!(status, 405, "{method} {path}");
    }
}

#[test]
fn health_metrics_and_dashboard_answer() {
    // Proves: /healthz is ok, /metrics has counters and per-log/group gauges, / serves HTML.
    let server = Server::start(&[]);
    assert_eq!(server.get("/healthz"), (200, json!({"status": "ok"})));
    server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}, {"payload": 2}]}),
    );
    server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "c", "max": 1}),
    );
    let (status, text) = raw(&server.addr, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    for line in [
        "mamamia_appended_messages_total 2",
        "mamamia_leases_granted_total 1",
        "mamamia_leases_in_flight 1",
        "mamamia_log_next_index{log=\"jobs\"} 2",
        "mamamia_group_lag{log=\"jobs\",group=\"g\"} 2",
        "mamamia_group_base_offset{log=\"jobs\",group=\"g\"} 0",
        "mamamia_settles_total{outcome=\"processed\"} 0",
        "mamamia_fsync_seconds_count",
        "mamamia_request_seconds_bucket{route=\"POST /v1/logs/{log}/messages\",le=\"+Inf\"} 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let (status, page) = raw(&server.addr, "GET", "/", &[], b"");
    assert_eq!(status, 200);
    assert!(page.contains("<title>Mamamia</title>"));
}

/// A counter's value in Prometheus text.
fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

#[test]
fn polling_an_empty_group_writes_nothing_to_the_wal() {
    // Proves: an acquire that leases nothing and does not wait is not
    // logged, so a busy-polling consumer costs no fsync; one that leases is.
    let server = Server::start(&[]);
    assert_eq!(server.put("/v1/logs/jobs", &json!({})).0, 201);
    let acquire = json!({"consumer": "c", "max": 10});
    assert_eq!(
        server.post("/v1/logs/jobs/groups/g/acquire", &acquire).0,
        200
    );
    let wal_bytes = |server: &Server| {
        let (_, text) = raw(&server.addr, "GET", "/metrics", &[], b"");
        (
            counter(&text, "mamamia_wal_bytes_total"),
            counter(&text, "mamamia_fsyncs_total"),
        )
    };
    let before = wal_bytes(&server);
    for _ in 0..20 {
        let (status, answer) = server.post("/v1/logs/jobs/groups/g/acquire", &acquire);
        assert_eq!((status, &answer["leases"]), (200, &json!([])));
    }
    assert_eq!(wal_bytes(&server), before, "20 empty polls wrote nothing");

    server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}]}),
    );
    let after_append = wal_bytes(&server);
    let (_, answer) = server.post("/v1/logs/jobs/groups/g/acquire", &acquire);
    assert_eq!(answer["leases"].as_array().map(Vec::len), Some(1));
    let (bytes, fsyncs) = wal_bytes(&server);
    assert!(
        bytes > after_append.0 && fsyncs > after_append.1,
        "a lease is logged"
    );
}

#[test]
fn leases_a_timer_hands_to_a_waiter_are_made_durable_first() {
    // Proves: when an expiry (then its backoff end) serves a parked long
    // poll, the server logs and fsyncs a record of that time before it
    // answers, though no request arrived: a restart then reaches that time
    // again however the wall clock moved, and never reissues the lease.
    let server = Server::start(&[]);
    let settings =
        json!({"lease_ms": 200, "backoff": {"initial_ms": 1, "multiplier": 1.0, "cap_ms": 1}});
    assert_eq!(server.put("/v1/logs/jobs", &json!({})).0, 201);
    assert_eq!(server.put("/v1/logs/jobs/groups/g", &settings).0, 201);
    server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}]}),
    );
    let (_, first) = server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "a", "max": 1}),
    );
    assert_eq!(first["leases"].as_array().map(Vec::len), Some(1));
    let fsyncs = |server: &Server| {
        let (_, text) = raw(&server.addr, "GET", "/metrics", &[], b"");
        counter(&text, "mamamia_fsyncs_total")
    };
    let before = fsyncs(&server);
    let (status, second) = server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "b", "max": 1, "wait_ms": 5000}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        second["leases"][0]["attempt"], 2,
        "served after the expiry: {second}"
    );
    // One fsync for parking the long poll, one for the time it was served.
    assert!(
        fsyncs(&server) >= before + 2.0,
        "{} -> {}",
        before,
        fsyncs(&server)
    );
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    // Proves: the header read timeout closes a slow client's connection and the server keeps serving.
    let server = Server::start(&["--header-read-timeout-ms", "200"]);
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = Vec::new();
    let read = slow.read_to_end(&mut answer);
    assert!(read.is_ok(), "the server closed the connection: {read:?}");
    assert_eq!(server.get("/healthz").0, 200);
}

#[test]
fn a_body_that_trickles_in_too_slowly_gets_408_and_changes_nothing() {
    // Proves: the body read timeout answers 408 body_timeout instead of holding the connection; nothing is appended.
    let server = Server::start(&["--body-read-timeout-ms", "200"]);
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    slow.write_all(b"POST /v1/logs/jobs/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"messages\":").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert_eq!(server.get("/v1/logs/jobs").0, 404, "nothing was appended");
}

#[test]
fn state_survives_a_clean_restart_and_in_memory_mode_forgets() {
    // Proves: durable mode keeps messages and group state over SIGTERM + restart; --in-memory does not persist.
    let mut server = Server::start(&[]);
    server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}, {"payload": 2}]}),
    );
    let (_, acquired) = server.post("/v1/logs/jobs/groups/g/acquire", &json!({"consumer": "c"}));
    let token = acquired["leases"][0]["token"].clone();
    server.post(
        "/v1/logs/jobs/groups/g/settle",
        &json!({"settlements": [{"index": 0, "token": token, "outcome": "processed"}]}),
    );
    terminate(&mut server);
    server.crash_and_restart();
    let (_, group) = server.get("/v1/logs/jobs/groups/g");
    assert_eq!(
        (group["base_offset"].clone(), group["next_index"].clone()),
        (json!(1), json!(2))
    );

    let mut memory = Server::start(&["--in-memory"]);
    let (_, appended) = memory.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}]}),
    );
    assert_eq!(appended["durable"], false);
    memory.crash_and_restart();
    assert_eq!(memory.get("/v1/logs/jobs").0, 404);
}

#[test]
fn the_acquire_byte_budget_is_fixed_with_the_data_directory() {
    // Proves: --acquire-bytes-max cuts an acquire to the lowest messages that fit, and a restart with another value keeps the recorded one.
    let mut server = Server::start(&["--acquire-bytes-max", "10"]);
    let payloads: Vec<Value> = (1000..1006).map(|n| json!({ "payload": n })).collect();
    server.post("/v1/logs/jobs/messages", &json!({ "messages": payloads }));
    let indices = |server: &Server, consumer: &str| -> Vec<u64> {
        let body = json!({"consumer": consumer, "max": 10});
        let (status, acquired) = server.post("/v1/logs/jobs/groups/g/acquire", &body);
        assert_eq!(status, 200, "{acquired}");
        let leases = acquired["leases"].as_array().unwrap();
        leases
            .iter()
            .map(|l| l["index"].as_u64().unwrap())
            .collect()
    };
    // Each payload is four bytes of JSON: two fit in ten.
    assert_eq!(indices(&server, "a"), vec![0, 1]);
    server.kill();
    let restarted = Server::start_in(server.data_dir.clone(), &["--acquire-bytes-max", "1000"]);
    assert_eq!(indices(&restarted, "b"), vec![2, 3]);
}

/// Sends SIGTERM and checks the server exits 0.
fn terminate(server: &mut Server) {
    // SAFETY: kill(2) on the pid of our own child.
    let sent = unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn sigterm_answers_parked_waiters_and_exits_zero() {
    // Proves: graceful shutdown answers a long poll (empty), flushes, and exits 0; a second server is refused the locked dir meanwhile.
    let mut server = Server::start(&[]);
    server.put("/v1/logs/jobs", &json!({}));
    let addr = server.addr.clone();
    let parked = std::thread::spawn(move || {
        let body = r#"{"consumer":"w","wait_ms":60000}"#;
        raw(
            &addr,
            "POST",
            "/v1/logs/jobs/groups/g/acquire",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    });
    for _ in 0..1000 {
        if server.get("/v1/logs/jobs/groups/g").1["waiters"] == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_mamamia"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("another mamamia process"));
    terminate(&mut server);
    let (status, text) = parked.join().unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"leases\":[]"), "{text}");
}

#[test]
fn every_fsync_policy_keeps_acknowledged_appends_over_a_process_crash() {
    // Proves: with always, batch-ms and never, SIGKILL loses nothing acknowledged (written bytes outlive the process); only always claims durable.
    for policy in ["always", "batch-ms=5", "never"] {
        let mut server = Server::start(&["--fsync", policy]);
        for number in 0..20 {
            let (status, appended) = server.post(
                "/v1/logs/jobs/messages",
                &json!({"messages": [{"payload": number}]}),
            );
            assert_eq!(status, 201);
            assert_eq!(appended["durable"], policy == "always", "{policy}");
        }
        server.crash_and_restart();
        let (_, log) = server.get("/v1/logs/jobs");
        assert_eq!(log["next_index"], 20, "{policy}");
        assert_eq!(
            server.get("/v1/logs/jobs/messages/19").1["payload"],
            19,
            "{policy}"
        );
    }
}

#[test]
fn retention_drops_messages_every_group_settled() {
    // Proves: the periodic retention pass drops settled messages past the log's byte budget; unsettled ones stay.
    let server = Server::start(&["--retention-interval-ms", "20"]);
    server.put("/v1/logs/jobs", &json!({"retention_bytes": 0}));
    // The group must exist first: a log without groups keeps nothing back.
    server.put("/v1/logs/jobs/groups/g", &json!({}));
    let payloads: Vec<Value> = (0..4).map(|n| json!({ "payload": n })).collect();
    server.post("/v1/logs/jobs/messages", &json!({ "messages": payloads }));
    let (_, acquired) = server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "c", "max": 2}),
    );
    let settlements: Vec<Value> = acquired["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lease| json!({"index": lease["index"], "token": lease["token"], "outcome": "processed"}))
        .collect();
    server.post(
        "/v1/logs/jobs/groups/g/settle",
        &json!({ "settlements": settlements }),
    );
    let mut first_index = json!(0);
    for _ in 0..500 {
        first_index = server.get("/v1/logs/jobs").1["first_index"].clone();
        if first_index == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        first_index, 2,
        "settled messages 0 and 1 were dropped, 2 and 3 kept"
    );
    let (status, answer) = server.get("/v1/logs/jobs/messages/0");
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (404, json!("index_not_retained"))
    );
}

#[test]
fn logs_spread_over_several_owners_survive_a_crash_and_the_count_is_fixed() {
    // Proves: with --owners 3 on 2 threads (so requests also cross threads) every log works and is listed, state survives SIGKILL, and another owner count is refused.
    let mut server = Server::start(&["--owners", "3", "--threads", "2"]);
    let names: Vec<String> = (0..9).map(|n| format!("log-{n}")).collect();
    for (position, name) in names.iter().enumerate() {
        let payloads: Vec<Value> = (0..=position).map(|n| json!({ "payload": n })).collect();
        let (status, _) = server.post(
            &format!("/v1/logs/{name}/messages"),
            &json!({ "messages": payloads }),
        );
        assert_eq!(status, 201);
        let (_, acquired) = server.post(
            &format!("/v1/logs/{name}/groups/g/acquire"),
            &json!({"consumer": "c"}),
        );
        let token = acquired["leases"][0]["token"].clone();
        let settle = json!({"settlements": [{"index": 0, "token": token, "outcome": "processed"}]});
        assert_eq!(
            server
                .post(&format!("/v1/logs/{name}/groups/g/settle"), &settle)
                .1["results"][0]["status"],
            "ok"
        );
    }
    server.crash_and_restart();
    let (_, listed) = server.get("/v1/logs");
    let listed: Vec<(String, u64)> = listed["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|log| {
            (
                log["name"].as_str().unwrap().to_owned(),
                log["next_index"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = names
        .iter()
        .enumerate()
        .map(|(n, name)| (name.clone(), n as u64 + 1))
        .collect();
    assert_eq!(listed, expected);
    for name in &names {
        assert_eq!(
            server.get(&format!("/v1/logs/{name}/groups/g")).1["base_offset"],
            1,
            "{name}"
        );
    }
    let shards = std::fs::read_dir(&server.data_dir)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("shard-"))
        .count();
    assert_eq!(shards, 3);
    server.kill();
    let other = std::process::Command::new(env!("CARGO_BIN_EXE_mamamia"))
        .args(["--addr", "127.0.0.1:0", "--owners", "2", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("--owners 3"));
}
