//! Every endpoint's success path, through the client crate and raw HTTP.

use mamamia_client::{AcquireOptions, Client, NewMessage, Payload, Settlement};
use serde_json::{json, Value};

use crate::harness::Server;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_message_goes_from_append_to_processed_through_the_client() {
    // Proves: append, read, acquire, extend, settle, group and log views agree.
    let server = Server::start(&[]);
    runtime().block_on(async {
        let client = Client::new(&server.url()).unwrap();
        let messages = [
            NewMessage::json(json!({"order": 1, "items": [1, 2]})).with_key("customer-1"),
            NewMessage::binary(vec![0u8, 159, 146, 150]).with_header("kind", "raw"),
        ];
        let appended = client.append("orders", &messages).await.unwrap();
        assert_eq!(
            (appended.first_index, appended.count, appended.durable),
            (0, 2, true)
        );

        let first = client.message("orders", 0).await.unwrap();
        assert_eq!(
            first.payload,
            Payload::Json(json!({"order": 1, "items": [1, 2]}))
        );
        assert_eq!(first.key.as_deref(), Some("customer-1"));
        let second = client.message("orders", 1).await.unwrap();
        assert_eq!(second.payload, Payload::Binary(vec![0, 159, 146, 150]));
        assert_eq!(second.headers["kind"], "raw");

        let options = AcquireOptions {
            max: 5,
            lease_ms: Some(60_000),
            wait_ms: None,
        };
        let leases = client
            .acquire("orders", "billing", "worker-1", &options)
            .await
            .unwrap();
        assert_eq!(leases.len(), 2);
        assert_eq!((leases[0].index(), leases[0].attempt), (0, 1));
        assert_eq!(
            leases[1].message.payload,
            Payload::Binary(vec![0, 159, 146, 150])
        );

        let held: Vec<(u64, String)> = leases
            .iter()
            .map(|lease| (lease.index(), lease.token.clone()))
            .collect();
        let extended = client
            .extend("orders", "billing", &held, Some(120_000))
            .await
            .unwrap();
        assert!(extended
            .iter()
            .all(|item| item.is_ok() && item.expires_at_ms.unwrap() > leases[0].expires_at_ms));

        let retry = Settlement {
            outcome: "retry".into(),
            delay_ms: Some(60_000),
            reason: Some("flaky".into()),
            ..Settlement::processed(&leases[1])
        };
        let results = client
            .settle(
                "orders",
                "billing",
                &[Settlement::processed(&leases[0]), retry],
            )
            .await
            .unwrap();
        assert_eq!(results[0].state.as_deref(), Some("processed"));
        assert_eq!(results[1].state.as_deref(), Some("retry"));
        assert!(results[1].retry_at_ms.is_some());

        let group = client.group("orders", "billing").await.unwrap();
        assert_eq!(
            (
                group.base_offset,
                group.next_index,
                group.backoff,
                group.processed
            ),
            (1, 2, 1, 1)
        );
        let log = client.log("orders").await.unwrap();
        assert_eq!((log.next_index, log.groups.len()), (2, 1));
        assert_eq!(client.logs().await.unwrap().len(), 1);
    });
}

#[test]
fn stale_and_unknown_items_are_refused_per_item_without_failing_the_batch() {
    // Proves: settle answers per item: ok, stale_lease (with its refusal) or unknown_index.
    let server = Server::start(&[]);
    server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": 1}, {"payload": 2}]}),
    );
    let (_, acquired) = server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "c", "max": 1}),
    );
    let token = acquired["leases"][0]["token"].as_str().unwrap().to_owned();
    let settle = |token: &str| {
        server.post(
            "/v1/logs/jobs/groups/g/settle",
            &json!({"settlements": [
                {"index": 0, "token": token, "outcome": "processed"},
                {"index": 1, "token": token, "outcome": "processed"},
                {"index": 9, "token": token, "outcome": "processed"}]}),
        )
    };
    let (status, first) = settle(&token);
    assert_eq!(status, 200);
    assert_eq!(
        first["results"][0],
        json!({"index": 0, "status": "ok", "state": "processed"})
    );
    assert_eq!(first["results"][1]["status"], "stale_lease");
    assert_eq!(first["results"][2]["status"], "unknown_index");
    let (_, again) = settle(&token);
    assert_eq!(
        again["results"][0],
        json!({"index": 0, "status": "stale_lease", "refusal": "already_settled"})
    );
}

#[test]
fn dead_letters_are_listed_paged_and_redriven() {
    // Proves: settle dead lists the message with its reason; redrive makes it available again.
    let server = Server::start(&[]);
    let (status, created) = server.put("/v1/logs/jobs/groups/g", &json!({"max_attempts": 2}));
    assert_eq!((status, &created), (404, &created), "a group needs its log");
    assert_eq!(server.put("/v1/logs/jobs", &json!({})).0, 201);
    assert_eq!(
        server
            .put("/v1/logs/jobs", &json!({"retention_ms": null}))
            .0,
        200
    );
    assert_eq!(
        server
            .put("/v1/logs/jobs/groups/g", &json!({"max_attempts": 2}))
            .0,
        201
    );
    assert_eq!(
        server
            .put("/v1/logs/jobs/groups/g", &json!({"lease_ms": 5000}))
            .0,
        200
    );
    let payloads: Vec<Value> = (0..3).map(|n| json!({"payload": n})).collect();
    server.post("/v1/logs/jobs/messages", &json!({ "messages": payloads }));
    let (_, acquired) = server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "c", "max": 3}),
    );
    let settlements: Vec<Value> = acquired["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lease| json!({"index": lease["index"], "token": lease["token"], "outcome": "dead", "reason": "poison"}))
        .collect();
    server.post(
        "/v1/logs/jobs/groups/g/settle",
        &json!({ "settlements": settlements }),
    );
    let (status, page) = server.get("/v1/logs/jobs/groups/g/dead?limit=2");
    assert_eq!(status, 200);
    assert_eq!(page["dead"].as_array().unwrap().len(), 2);
    assert_eq!(page["dead"][0]["reason"], "poison");
    assert_eq!(page["next_after"], 1);
    let (_, rest) = server.get("/v1/logs/jobs/groups/g/dead?after=1");
    assert_eq!(rest["dead"][0]["index"], 2);
    let (status, redriven) = server.post(
        "/v1/logs/jobs/groups/g/dead/redrive",
        &json!({"indices": [1, 7]}),
    );
    assert_eq!(status, 200);
    assert_eq!(redriven, json!({"redriven": 1, "not_dead": [7]}));
    let (_, again) = server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "c", "max": 3}),
    );
    assert_eq!(again["leases"][0]["index"], 1);
    assert_eq!(again["leases"][0]["attempt"], 1);
    let (_, all) = server.request("POST", "/v1/logs/jobs/groups/g/dead/redrive", None);
    assert_eq!(all["redriven"], 2);
}

#[test]
fn leases_attempts_release_and_dedup_are_visible() {
    // Proves: lease listing, attempt history, release on leave and idempotent append.
    let server = Server::start(&[]);
    let (_, first) = server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": "a", "dedup_id": "x"}]}),
    );
    let (_, repeat) = server.post(
        "/v1/logs/jobs/messages",
        &json!({"messages": [{"payload": "a", "dedup_id": "x"}, {"payload": "b"}]}),
    );
    assert_eq!(first["first_index"], 0);
    assert_eq!(repeat["count"], 1);
    assert_eq!(repeat["first_index"], 1);
    assert_eq!(repeat["duplicates"], json!([{"position": 0, "index": 0}]));

    server.post(
        "/v1/logs/jobs/groups/g/acquire",
        &json!({"consumer": "w1", "max": 2}),
    );
    let (_, leases) = server.get("/v1/logs/jobs/groups/g/leases");
    assert_eq!(leases["leases"].as_array().unwrap().len(), 2);
    assert_eq!(leases["leases"][0]["consumer"], "w1");
    let (status, released) =
        server.request("POST", "/v1/logs/jobs/groups/g/consumers/w1/release", None);
    assert_eq!((status, released), (200, json!({"released": 2})));
    let (status, history) = server.get("/v1/logs/jobs/groups/g/messages/0/attempts");
    assert_eq!(status, 200);
    assert_eq!(history["attempts"][0]["consumer"], "w1");
    assert_eq!(history["attempts"][0]["outcome"], "released");
    let (_, group) = server.get("/v1/logs/jobs/groups/g");
    assert_eq!(
        (group["available"].clone(), group["leased"].clone()),
        (json!(2), json!(0))
    );
}

#[test]
fn the_consumer_helper_processes_everything_and_heartbeats_slow_work() {
    // Proves: Consumer settles every message, extends a lease while a slow handler runs past it, and releases on stop.
    let server = Server::start(&[]);
    runtime().block_on(async {
        let client = Client::new(&server.url()).unwrap();
        let messages: Vec<NewMessage> = (0..12).map(|n| NewMessage::json(json!(n))).collect();
        client.append("jobs", &messages).await.unwrap();
        let mut consumer = mamamia_client::Consumer::new(client.clone(), "jobs", "g", "helper");
        consumer.lease_ms = 300;
        consumer.wait_ms = 50;
        consumer.max = 4;
        let (done_sender, done) = tokio::sync::oneshot::channel::<()>();
        let done_sender = std::sync::Mutex::new(Some(done_sender));
        let handled = std::sync::atomic::AtomicU64::new(0);
        let settled = consumer
            .run(
                |lease| {
                    let count = handled.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if count == 12 {
                        if let Some(sender) = done_sender.lock().unwrap().take() {
                            let _ = sender.send(());
                        }
                    }
                    async move {
                        if lease.index() == 0 {
                            // Outlives the 300 ms lease twice over: only heartbeats keep it.
                            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
                        }
                        mamamia_client::Outcome::Processed
                    }
                },
                async {
                    let _ = done.await;
                },
            )
            .await
            .unwrap();
        assert_eq!(settled, 12);
        let group = client.group("jobs", "g").await.unwrap();
        assert_eq!(
            (group.processed, group.base_offset, group.leased),
            (12, 12, 0)
        );
        let error = client.group("jobs", "nobody").await.unwrap_err();
        assert_eq!(
            (error.status(), error.code()),
            (Some(404), Some("unknown_group"))
        );
    });
}

#[test]
fn pooled_connections_outlive_the_server_closing_idle_ones() {
    // Proves: after the server drops an idle keep-alive connection (header read timeout), the client's next requests still succeed.
    let server = Server::start(&["--header-read-timeout-ms", "100"]);
    runtime().block_on(async {
        let client = Client::new(&server.url()).unwrap();
        for round in 0..3 {
            client
                .append("jobs", &[NewMessage::json(json!(round))])
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        assert_eq!(client.log("jobs").await.unwrap().next_index, 3);
    });
}
