//! Long polls: served when a message arrives, empty at their deadline, and
//! dropped without a lease when their client leaves.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{raw, Server};

fn wait_for_waiters(server: &Server, path: &str, count: u64) {
    for _ in 0..1000 {
        let (_, group) = server.get(path);
        if group["waiters"] == count {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the group never had {count} waiters");
}

#[test]
fn a_parked_acquire_is_served_by_the_next_append() {
    // Proves: wait_ms parks the request and an append serves it with a lease.
    let server = Server::start(&[]);
    server.put("/v1/logs/jobs", &json!({}));
    let addr = server.addr.clone();
    let parked = std::thread::spawn(move || {
        let body = r#"{"consumer":"w","max":5,"wait_ms":30000}"#;
        raw(
            &addr,
            "POST",
            "/v1/logs/jobs/groups/g/acquire",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    });
    wait_for_waiters(&server, "/v1/logs/jobs/groups/g", 1);
    server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": "hi"}]}),
    );
    let (status, text) = parked.join().unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(status, 200);
    assert_eq!(answer["leases"][0]["payload"], "hi");
}

#[test]
fn a_parked_acquire_returns_empty_at_its_deadline() {
    // Proves: a wait that finds nothing answers 200 with no leases.
    let server = Server::start(&[]);
    server.put("/v1/logs/jobs", &json!({}));
    let (status, answer) = server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "w", "wait_ms": 50}),
    );
    assert_eq!(
        (status, answer),
        (200, json!({"leases": [], "window_full": false}))
    );
}

#[test]
fn a_client_that_leaves_a_long_poll_gets_nothing_leased() {
    // Proves: disconnecting cancels the waiter; the next message goes to a live consumer at attempt 1.
    let server = Server::start(&[]);
    server.put("/v1/logs/jobs", &json!({}));
    let body = r#"{"consumer":"gone","wait_ms":60000}"#;
    let request = format!(
        "POST /v1/logs/jobs/groups/g/acquire HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    wait_for_waiters(&server, "/v1/logs/jobs/groups/g", 1);
    drop(stream);
    wait_for_waiters(&server, "/v1/logs/jobs/groups/g", 0);
    server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}]}),
    );
    let (_, leases) = server.get("/v1/logs/jobs/groups/g/leases");
    assert_eq!(
        leases["leases"],
        json!([]),
        "nothing was leased to the departed client"
    );
    let (_, acquired) = server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "alive"}),
    );
    assert_eq!(acquired["leases"][0]["attempt"], 1);
    let (_, metrics) = raw(&server.addr, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains("mamamia_waiters_cancelled_total 1"),
        "{metrics}"
    );
}
