//! The delivery log and dead letters on the emulator, through the real adapters and
//! Lambda handlers: the `orchestrator` records a firing, the `actions` handler each
//! attempt; the `admin-api` routes list a tenant's dead letters from S3 (credentials
//! redacted), refuse a redrive that would fail again, and redrive records onto
//! Kinesis (on the Tape once, however often) and actions onto the bus.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use base64::Engine;
use chrono::Utc;
use cjaas_aws::S3DeadLetters;
use cjaas_core::envelope::stamped_record;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DeadLetter, DeadLetterSink};
use cjaas_core::target::TargetPolicy;
use cjaas_tests::{
    call, fixture, ids, journey, post_batch, put_direct, read_stream, receive, rule_to_queue, Stack,
};
use http::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn event(id: &str, ty: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": "ana",
           "time": Utc::now(), "data": {}})
}

/// A webhook receiver that answers 503 until it is made healthy.
async fn receiver() -> (String, Arc<AtomicBool>) {
    let healthy = Arc::new(AtomicBool::new(false));
    let app = Router::new()
        .route(
            "/hook",
            post(|State(healthy): State<Arc<AtomicBool>>| async move {
                if healthy.load(Ordering::SeqCst) {
                    http::StatusCode::OK
                } else {
                    http::StatusCode::SERVICE_UNAVAILABLE
                }
            }),
        )
        .with_state(healthy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, healthy)
}

#[tokio::test]
async fn each_attempt_is_in_the_delivery_log_and_a_redriven_action_is_delivered() {
    let mut stack = Stack::create().await;
    // The webhook receiver is on loopback, as in tests/orchestration.rs.
    stack.targets = TargetPolicy::allowing_private();
    let (tenant, token) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let reader = stack.create_key(&token, &["tape:read"]).await;
    let (url, healthy) = receiver().await;
    let queue = rule_to_queue(&stack.sdk, &stack.bus, json!({"source": ["cjaas.actions"]})).await;
    let rule = json!({"name": "views", "when": {"event": {"type": "page.viewed"}},
        "actions": [{"type": "webhook", "url": url}, {"type": "publish", "name": "bot"}]});
    let (status, _, created) = stack
        .call(&token, call("POST", "/v1/rules", Some(rule)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let deliveries = format!("/v1/rules/{}/deliveries", created["id"].as_str().unwrap());

    let batch = post_batch(&[event("v1", "page.viewed")]);
    assert_eq!(stack.call(&token, batch).await.0, StatusCode::ACCEPTED);
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    assert!(stack
        .deliver(&stack.writer(), batch.clone())
        .await
        .is_empty());
    stack.orchestrate(batch).await;

    // The orchestrator recorded the firing; both actions are on the bus.
    let (status, _, log) = stack.call(&reader, call("GET", &deliveries, None)).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let firing = &log["deliveries"][0];
    assert_eq!(
        (
            firing["person"].as_str(),
            firing["triggering_event"]["id"].as_str()
        ),
        (Some("ana"), Some("v1"))
    );
    assert_eq!(firing["actions"][0]["status"], "published");
    assert_eq!(firing["actions"][1]["status"], "published");

    // The actions handler: the webhook fails 4 times and is dead-lettered.
    let actions = receive(&stack.sdk, &queue, 2).await;
    assert_eq!(actions.len(), 2);
    for action in actions {
        stack.act(action).await.unwrap();
    }
    let (_, _, log) = stack.call(&reader, call("GET", &deliveries, None)).await;
    let webhook = &log["deliveries"][0]["actions"][0];
    assert_eq!(webhook["status"], "dead_lettered", "{log}");
    let attempts = webhook["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4);
    assert!(attempts
        .iter()
        .all(|a| a["ok"] == false && a["error"].as_str().unwrap().contains("503")));
    assert_eq!(log["deliveries"][0]["actions"][1]["status"], "published");

    // Tenant-scoped, and admin only.
    assert_eq!(
        stack.call(&other, call("GET", &deliveries, None)).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, _, theirs) = stack
        .call(&other, call("GET", "/v1/dead-letters", None))
        .await;
    assert_eq!(theirs["dead_letters"], json!([]));
    let (status, _, problem) = stack
        .call(&reader, call("GET", "/v1/dead-letters", None))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope"))
    );
    let (status, _, letters) = stack
        .call(&token, call("GET", "/v1/dead-letters", None))
        .await;
    assert_eq!(status, StatusCode::OK, "{letters}");
    let letter = &letters["dead_letters"][0];
    assert_eq!(
        (letter["kind"].as_str(), letter["code"].as_str()),
        (Some("action"), Some("webhook_failed"))
    );
    assert_eq!(letter["record"]["action_id"], webhook["action_id"]);
    let redrive = format!(
        "/v1/dead-letters/{}/redrive",
        letter["id"].as_str().unwrap()
    );
    assert_eq!(
        stack.call(&other, call("POST", &redrive, None)).await.0,
        StatusCode::NOT_FOUND
    );

    // The receiver recovers: the redriven action comes back on the bus and is delivered.
    healthy.store(true, Ordering::SeqCst);
    let (status, _, redriven) = stack.call(&token, call("POST", &redrive, None)).await;
    assert_eq!(
        (status, redriven["to"].as_str()),
        (StatusCode::ACCEPTED, Some("bus"))
    );
    let again = receive(&stack.sdk, &queue, 1).await;
    assert_eq!(again[0]["detail"]["action_id"], webhook["action_id"]);
    assert_eq!(
        stack.act(again[0].clone()).await.unwrap()["outcome"],
        "delivered"
    );
    let (_, _, letters) = stack
        .call(&token, call("GET", "/v1/dead-letters", None))
        .await;
    assert_eq!(letters["dead_letters"], json!([]));
    let (_, _, log) = stack.call(&reader, call("GET", &deliveries, None)).await;
    let webhook = &log["deliveries"][0]["actions"][0];
    assert_eq!(webhook["status"], "delivered");
    assert_eq!(webhook["attempts"].as_array().unwrap().len(), 5);
    assert_eq!(webhook["attempts"][4]["ok"], true);

    // An erasure of the person removes their firings.
    let (status, _, job) = stack
        .call(&token, call("DELETE", "/v1/persons/ana", None))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut requested = fixture("maintenance-erasure-requested.json");
    requested["detail"] = json!({"tenant": tenant, "job": job["id"]});
    let done = stack.maintain(requested).await.unwrap();
    assert_eq!(done["erasure"]["removed"]["delivery_firings"], 1, "{done}");
    let (_, _, log) = stack.call(&reader, call("GET", &deliveries, None)).await;
    assert_eq!(log["deliveries"], json!([]));
    assert!(!stack
        .dump_table(&stack.config_table)
        .await
        .contains("\\\"ana\\\""));
}

/// A letter as the Tape writer keeps one after DynamoDB refused the item: a real
/// stamped record of `tenant`.
fn refused_record(stack: &Stack, tenant: &str, id: &str) -> DeadLetter {
    let tenant_id = TenantId::parse(tenant).unwrap();
    let now = Utc::now();
    let raw = event(id, "page.loaded").to_string();
    let valid = cjaas_core::event::validate_raw(0, &raw, now).unwrap();
    let record = stamped_record(&stack.keys, &tenant_id, now, &valid);
    DeadLetter {
        origin: "shardId-000000000000/4959".into(),
        tenant: Some(tenant.into()),
        code: "store_rejected".into(),
        reason: "Item size has exceeded the maximum allowed size".into(),
        failed_at: now,
        payload_base64: base64::engine::general_purpose::STANDARD.encode(&record.data),
    }
}

#[tokio::test]
async fn records_are_redriven_onto_the_stream_once_unless_they_would_fail_again() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let reader = stack.create_key(&token, &["tape:read"]).await;
    let direct = json!({"credential": reader, "event": event("d1", "page.viewed")});
    put_direct(&stack.sdk, &stack.stream, direct.to_string().as_bytes()).await;
    assert!(stack.pump().await.is_empty());
    let sink = S3DeadLetters::new(
        cjaas_aws::settings::s3_client(&stack.sdk),
        stack.bucket.clone(),
    );
    let refused = refused_record(&stack, &tenant, "r1");
    sink.put(&refused).await.unwrap();

    // Two letters, one page each; the direct producer's key never shows.
    let (status, _, first) = stack
        .call(&token, call("GET", "/v1/dead-letters?limit=1", None))
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, _, second) = stack
        .call(
            &token,
            call(
                "GET",
                &format!("/v1/dead-letters?limit=1&cursor={cursor}"),
                None,
            ),
        )
        .await;
    assert_eq!(second["next_cursor"], Value::Null);
    let letters = [
        first["dead_letters"][0].clone(),
        second["dead_letters"][0].clone(),
    ];
    let scoped = letters
        .iter()
        .find(|l| l["code"] == "insufficient_scope")
        .unwrap();
    let rejected = letters
        .iter()
        .find(|l| l["code"] == "store_rejected")
        .unwrap();
    assert_eq!(scoped["record"]["credential"], "[redacted]");
    assert!(!first.to_string().contains(&reader) && !second.to_string().contains(&reader));
    let (_, _, theirs) = stack
        .call(&other, call("GET", "/v1/dead-letters", None))
        .await;
    assert_eq!(theirs["dead_letters"], json!([]));

    // A key without events:write would be refused again: not redriven, letter kept.
    let path = format!(
        "/v1/dead-letters/{}/redrive",
        scoped["id"].as_str().unwrap()
    );
    let (status, _, problem) = stack.call(&token, call("POST", &path, None)).await;
    assert_eq!(
        (
            status,
            problem["code"].as_str(),
            problem["errors"][0]["code"].as_str()
        ),
        (
            StatusCode::CONFLICT,
            Some("not_redrivable"),
            Some("insufficient_scope")
        ),
        "{problem}"
    );
    let path = format!("/v1/dead-letters/{}", scoped["id"].as_str().unwrap());
    assert_eq!(
        stack.call(&token, call("GET", &path, None)).await.0,
        StatusCode::OK
    );

    // The refused record goes back on the stream, and through the Tape writer once,
    // however often it is redriven.
    let path = format!(
        "/v1/dead-letters/{}/redrive",
        rejected["id"].as_str().unwrap()
    );
    assert_eq!(
        stack.call(&other, call("POST", &path, None)).await.0,
        StatusCode::NOT_FOUND
    );
    for _ in 0..2 {
        sink.put(&refused).await.unwrap();
        let (status, _, redriven) = stack.call(&token, call("POST", &path, None)).await;
        assert_eq!(
            (status, redriven["to"].as_str()),
            (StatusCode::ACCEPTED, Some("stream")),
            "{redriven}"
        );
        assert!(sink
            .get(&TenantId::parse(&tenant).unwrap(), &refused.origin)
            .await
            .unwrap()
            .is_none());
        assert!(stack.pump().await.is_empty());
    }
    let records = read_stream(&stack.sdk, &stack.stream).await;
    let redriven: Vec<&Value> = records["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kinesis"]["data"].as_str() == Some(refused.payload_base64.as_str()))
        .collect();
    assert_eq!(redriven.len(), 2, "the exact bytes, twice on the stream");
    let (_, _, body) = stack.call(&token, journey("ana", "")).await;
    assert_eq!(ids(&body), ["r1"], "once on the Tape");

    // In bulk: an outcome per letter, in order.
    let bulk = json!({"ids": [scoped["id"], rejected["id"], "bm9wZQ"]});
    let (status, _, body) = stack
        .call(&token, call("POST", "/v1/dead-letters/redrive", Some(bulk)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcomes: Vec<_> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["outcome"].as_str().unwrap(), r["code"].as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("not_redrivable", Some("insufficient_scope")),
            ("not_found", None),
            ("not_found", None)
        ]
    );
    let empty = json!({"ids": []});
    let (status, _, problem) = stack
        .call(
            &token,
            call("POST", "/v1/dead-letters/redrive", Some(empty)),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_request"))
    );
    assert_eq!(
        stack.call(&token, call("POST", &path, None)).await.0,
        StatusCode::NOT_FOUND
    );
}
