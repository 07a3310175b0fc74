//! Live caps on the emulator, through the real `orchestrator` handler on real Kinesis
//! batches and the DynamoDB adapter: a rule's cap, the tenant's cap across rules and
//! a channel cap hold firings back (the delivery log says `capped` and which cap, and
//! nothing reaches the bus); a redelivered batch takes nothing again; twenty
//! concurrent batches of one person under a cap of three publish exactly three;
//! another person and another tenant are unaffected; erasure removes the ledger.

use chrono::{DateTime, Duration, DurationRound, Utc};
use cjaas_tests::{
    call, fixture, post_batch, read_stream, receive, receive_briefly, rule_to_queue, Stack,
};
use futures::future::join_all;
use http::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Early in a UTC day that began at least an hour ago: one `1d` bucket for the test.
fn base() -> DateTime<Utc> {
    (Utc::now() - Duration::hours(1))
        .duration_trunc(Duration::days(1))
        .unwrap()
        + Duration::minutes(1)
}

fn event(id: &str, ty: &str, person: &str, second: i64) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": person,
           "time": base() + Duration::seconds(second), "data": {}})
}

/// Ingests `events`, runs the Tape writer on the new records; returns them as one
/// Lambda Kinesis batch.
async fn ingest(stack: &Stack, token: &str, events: &[Value], seen: &mut usize) -> Value {
    assert_eq!(
        stack.call(token, post_batch(events)).await.0,
        StatusCode::ACCEPTED
    );
    let mut batch = read_stream(&stack.sdk, &stack.stream).await;
    let records: Vec<Value> = batch["Records"].as_array().unwrap()[*seen..].to_vec();
    *seen += records.len();
    assert_eq!(records.len(), events.len());
    batch["Records"] = json!(records);
    assert!(stack
        .deliver(&stack.writer(), batch.clone())
        .await
        .is_empty());
    batch
}

async fn orchestrate(stack: &Stack, batch: Value) {
    let done = stack.orchestrate(batch).await;
    assert_eq!(done["batchItemFailures"], json!([]), "{done}");
}

async fn create_rule(stack: &Stack, token: &str, rule: Value) -> String {
    let (status, _, created) = stack
        .call(token, call("POST", "/v1/rules", Some(rule)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// The rule's delivery log, oldest first: (triggering event id, cap, statuses).
async fn log_of(stack: &Stack, token: &str, rule: &str) -> Vec<(String, Value, Vec<String>)> {
    let path = format!("/v1/rules/{rule}/deliveries?limit=100");
    let (status, _, page) = stack.call(token, call("GET", &path, None)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut firings: Vec<_> = page["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let statuses = f["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["status"].as_str().unwrap().to_owned())
                .collect();
            (
                f["triggering_event"]["id"].as_str().unwrap().to_owned(),
                f["cap"].clone(),
                statuses,
            )
        })
        .collect();
    firings.sort_by(|a, b| a.0.cmp(&b.0));
    firings
}

fn published(id: &str) -> (String, Value, Vec<String>) {
    (id.to_owned(), Value::Null, vec!["published".to_owned()])
}

fn capped(id: &str, cap: &str) -> (String, Value, Vec<String>) {
    (id.to_owned(), json!(cap), vec!["capped".to_owned()])
}

fn views_rule() -> Value {
    json!({"name": "views", "when": {"event": {"type": "page.viewed"}},
           "caps": [{"max": 2, "per": "1d"}], "actions": [{"type": "publish", "name": "nudge"}]})
}

#[tokio::test]
async fn caps_hold_live_firings_back_atomically_and_say_which() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let queue = rule_to_queue(&stack.sdk, &stack.bus, json!({"source": ["cjaas.actions"]})).await;
    let policy = json!({"caps": [{"max": 3, "per": "1d"},
                                 {"max": 1, "per": "1d", "channel": "recommendation"}]});
    let (status, _, saved) = stack
        .call(
            &token,
            call("PUT", "/v1/orchestration/policy", Some(policy)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let views = create_rule(&stack, &token, views_rule()).await;
    let clicks = create_rule(&stack, &token, json!({"name": "clicks",
        "when": {"event": {"type": "link.clicked"}}, "actions": [{"type": "publish", "name": "thanks"}]})).await;
    let carts = create_rule(&stack, &token, json!({"name": "carts",
        "when": {"event": {"type": "cart.added"}}, "actions": [{"type": "recommendation", "action": "offer-10"}]})).await;
    let bursts = create_rule(
        &stack,
        &token,
        json!({"name": "bursts",
        "when": {"event": {"type": "burst"}}, "caps": [{"max": 3, "per": "1d"}],
        "actions": [{"type": "publish", "name": "burst"}]}),
    )
    .await;
    let theirs = create_rule(&stack, &other, views_rule()).await;
    let mut seen = 0;

    // One view of ana's, delivered twice: it fires once and takes once.
    let first = ingest(
        &stack,
        &token,
        &[event("v1", "page.viewed", "ana", 0)],
        &mut seen,
    )
    .await;
    orchestrate(&stack, first.clone()).await;
    orchestrate(&stack, first).await;

    // ana: the second view fires (the redelivery took nothing), the third meets the
    // rule's cap; one click fires (her third action today), the second meets the
    // tenant's cap across rules. bob: one cart fires, the second meets the
    // recommendation channel's cap; his view fires (ana's counters are hers).
    let second = [
        event("v2", "page.viewed", "ana", 1),
        event("v3", "page.viewed", "ana", 2),
        event("c1", "link.clicked", "ana", 3),
        event("c2", "link.clicked", "ana", 4),
        event("k1", "cart.added", "bob", 5),
        event("k2", "cart.added", "bob", 6),
        event("b1", "page.viewed", "bob", 7),
    ];
    let second = ingest(&stack, &token, &second, &mut seen).await;
    orchestrate(&stack, second).await;
    // The other tenant: ana's view fires under its own rule and counters.
    let third = ingest(
        &stack,
        &other,
        &[event("w1", "page.viewed", "ana", 8)],
        &mut seen,
    )
    .await;
    orchestrate(&stack, third).await;

    assert_eq!(
        log_of(&stack, &token, &views).await,
        [
            published("b1"),
            published("v1"),
            published("v2"),
            capped("v3", "caps/0")
        ]
    );
    assert_eq!(
        log_of(&stack, &token, &clicks).await,
        [published("c1"), capped("c2", "policy/caps/0")]
    );
    assert_eq!(
        log_of(&stack, &token, &carts).await,
        [published("k1"), capped("k2", "policy/caps/1")]
    );
    assert_eq!(log_of(&stack, &other, &theirs).await, [published("w1")]);

    // Twenty bursts of cy's, each its own batch, all at once: three fire.
    let burst: Vec<Value> = (0..20)
        .map(|i| event(&format!("u{i:02}"), "burst", "cy", 10 + i))
        .collect();
    let burst = ingest(&stack, &token, &burst, &mut seen).await;
    let batches: Vec<Value> = burst["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| json!({"Records": [record]}))
        .collect();
    join_all(batches.into_iter().map(|b| orchestrate(&stack, b))).await;
    let log = log_of(&stack, &token, &bursts).await;
    let fired: Vec<_> = log.iter().filter(|f| f.2 == ["published"]).collect();
    let held = log
        .iter()
        .filter(|f| f.2 == ["capped"] && f.1 == "caps/0")
        .count();
    assert_eq!((fired.len(), held), (3, 17), "{log:?}");

    // On the bus: exactly the firings that were not capped.
    let messages = receive(&stack.sdk, &queue, 9).await;
    let mut on_bus: BTreeSet<String> = BTreeSet::new();
    for message in &messages {
        let id = message["detail"]["triggering_event"]["id"]
            .as_str()
            .unwrap();
        assert!(on_bus.insert(id.to_owned()), "{id} published twice");
    }
    let mut expected: BTreeSet<String> = ["v1", "v2", "c1", "k1", "b1", "w1"]
        .map(String::from)
        .into();
    expected.extend(fired.iter().map(|f| f.0.clone()));
    assert_eq!(on_bus, expected);
    assert!(receive_briefly(&stack.sdk, &queue).await.is_empty());

    // Erasing ana removes her ledger with the rest of her rule state.
    let (status, _, job) = stack
        .call(&token, call("DELETE", "/v1/persons/ana", None))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut requested = fixture("maintenance-erasure-requested.json");
    requested["detail"] = json!({"tenant": tenant, "job": job["id"]});
    let done = stack.maintain(requested).await.unwrap();
    assert_eq!(done["erasure"]["removed"]["rule_state"], 1, "{done}");
}
