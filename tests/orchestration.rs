//! Orchestration on the emulator: events in, the `orchestrator` handler evaluates the
//! rules once the events are on the Tape, the action arrives on an SQS queue that an
//! EventBridge rule on the CJaaS bus targets, and the `actions` handler makes a
//! correctly signed call to a webhook receiver run by the test.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use chrono::{Duration, Utc};
use cjaas_tests::{
    call, fixture, post_batch, read_stream, receive, receive_briefly, rule_to_queue, Stack,
    TargetPolicy,
};
use http::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

type Calls = Arc<Mutex<Vec<(HeaderMap, String)>>>;

async fn receiver() -> (String, Calls) {
    let calls: Calls = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(calls): State<Calls>, headers: HeaderMap, body: String| async move {
                    calls.lock().unwrap().push((headers, body));
                    "ok"
                },
            ),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

fn event(id: &str, ty: &str, minutes_ago: i64) -> Value {
    let time = Utc::now() - Duration::minutes(minutes_ago);
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": "ana",
           "time": time, "data": {"path": "/pricing"}})
}

#[tokio::test]
async fn a_matching_rule_publishes_its_action_and_a_signed_webhook_follows() {
    let mut stack = Stack::create().await;
    // The receiver listens on loopback: a development target, allowed explicitly.
    stack.targets = TargetPolicy::allowing_private();
    let (_, token) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let (url, calls) = receiver().await;
    let queue = rule_to_queue(&stack.sdk, &stack.bus, json!({"source": ["cjaas.actions"]})).await;

    let rule = json!({"name": "two views", "cooldown_seconds": 600,
        "when": {"count": {"of": {"type": "page.viewed"}, "at_least": 2, "within": "10m"}},
        "actions": [{"type": "webhook", "url": url, "payload": {"bot": "sales"}}]});
    let (status, _, created) = stack
        .call(&token, call("POST", "/v1/rules", Some(rule)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let rule_id = created["id"].as_str().unwrap().to_owned();
    let absence = json!({"name": "abandoned",
        "when": {"absence": {"after": {"type": "cart.added"}, "missing": {"type": "order.paid"}, "within": "1m"}},
        "actions": [{"type": "publish", "name": "cart-reminder"}]});
    assert_eq!(
        stack
            .call(&token, call("POST", "/v1/rules", Some(absence)))
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, _, _) = stack
        .call(&other, call("GET", &format!("/v1/rules/{rule_id}"), None))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "rules are tenant-scoped");
    let unknown_view = json!({"name": "x", "when": {"profile": {"view": "view-nope", "attribute": "a", "op": "exists"}},
        "actions": [{"type": "publish", "name": "x"}]});
    let (status, _, problem) = stack
        .call(&token, call("POST", "/v1/rules", Some(unknown_view)))
        .await;
    assert_eq!(
        (status, problem["errors"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_view"))
    );

    let events = [
        event("v1", "page.viewed", 3),
        event("v2", "page.viewed", 2),
        event("c1", "cart.added", 3),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    let batch = read_stream(&stack.sdk, &stack.stream).await;

    // Ahead of the Tape writer: the batch is handed back and nothing fires.
    let early = stack.orchestrate(batch.clone()).await;
    assert_eq!(
        early["batchItemFailures"].as_array().unwrap().len(),
        1,
        "{early}"
    );
    assert!(receive_briefly(&stack.sdk, &queue).await.is_empty());

    assert!(stack
        .deliver(&stack.writer(), batch.clone())
        .await
        .is_empty());
    let done = stack.orchestrate(batch.clone()).await;
    assert_eq!(done["batchItemFailures"], json!([]), "{done}");
    let actions = receive(&stack.sdk, &queue, 1).await;
    assert_eq!(actions.len(), 1);
    let action = actions[0].clone();
    assert_eq!(
        (
            action["source"].as_str(),
            action["detail"]["rule"]["id"].as_str()
        ),
        (Some("cjaas.actions"), Some(rule_id.as_str()))
    );
    assert_eq!(action["detail"]["triggering_event"]["id"], "v2");

    // The actions handler calls the webhook, signed with the tenant's secret.
    assert_eq!(stack.act(action).await.unwrap()["outcome"], "delivered");
    let (headers, body) = calls.lock().unwrap()[0].clone();
    let (_, _, secret) = stack
        .call(&token, call("GET", "/v1/rules/webhook-secret", None))
        .await;
    let signed = headers["cjaas-signature"].to_str().unwrap();
    let t: i64 = signed
        .split(',')
        .next()
        .unwrap()
        .trim_start_matches("t=")
        .parse()
        .unwrap();
    assert_eq!(
        signed,
        cjaas_app::actions::signature(secret["secret"].as_str().unwrap(), t, body.as_bytes())
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["payload"]["bot"],
        "sales"
    );

    // A redelivered batch fires nothing again.
    stack.orchestrate(batch).await;
    assert!(
        receive_briefly(&stack.sdk, &queue).await.is_empty(),
        "no second firing"
    );

    // The absence timer is due (cart added 3 minutes ago, 1 minute allowed): it fires.
    let mut schedule = fixture("orchestrator-schedule.json");
    schedule["time"] = json!(Utc::now());
    assert_eq!(stack.orchestrate(schedule.clone()).await["timers_fired"], 1);
    let reminder = receive(&stack.sdk, &queue, 1).await;
    assert_eq!(
        reminder[0]["detail"]["action"],
        json!({"type": "publish", "name": "cart-reminder"})
    );
    assert_eq!(
        stack.orchestrate(schedule).await["timers_fired"],
        0,
        "a timer fires once"
    );
}

#[tokio::test]
async fn the_actions_handler_takes_the_fixture_payload() {
    let stack = Stack::create().await;
    let (tenant, _) = stack.create_tenant().await;
    let mut payload = fixture("actions-triggered.json");
    payload["detail"]["tenant"] = json!(tenant);
    assert_eq!(
        stack.act(payload.clone()).await.unwrap()["outcome"],
        "published"
    );
    payload["source"] = json!("someone.else");
    assert!(stack
        .act(payload)
        .await
        .unwrap_err()
        .starts_with("unexpected_event"));
}
