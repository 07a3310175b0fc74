//! Webhook and enrichment targets on the emulator, through the real rules routes and
//! the real `actions` handler: with private targets not allowed (as deployed),
//! loopback and metadata URLs are refused when a rule is stored, and an action that
//! names one anyway (stored earlier) is refused at delivery and dead-lettered to S3.

use chrono::Utc;
use cjaas_tests::{call, fixture, Stack, TargetPolicy};
use http::StatusCode;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

async fn receiver() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[tokio::test]
async fn private_targets_are_refused_when_stored_and_when_delivered() {
    let mut stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let (url, calls) = receiver().await;

    let rule = json!({"name": "r", "when": {"event": {"type": "a"}}, "actions": [
        {"type": "webhook", "url": url},
        {"type": "enrichment", "url": "http://169.254.169.254/latest/meta-data/"},
        {"type": "webhook", "url": "http://[::ffff:10.0.0.1]/"},
        {"type": "webhook", "url": "https://hooks.example.com/ok"}]});
    let (status, _, problem) = stack
        .call(&token, call("POST", "/v1/rules", Some(rule)))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_rule")),
        "{problem}"
    );
    let reasons: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("actions/0/url", "forbidden_target"),
            ("actions/1/url", "forbidden_target"),
            ("actions/2/url", "forbidden_target")
        ]
    );

    // An action that names loopback anyway (a rule stored before targets were
    // checked, or while private targets were allowed) is refused, not retried.
    let mut payload = fixture("actions-triggered.json");
    payload["detail"]["tenant"] = json!(tenant);
    payload["detail"]["action_id"] = json!(format!("rule-x.{}.0", Utc::now().timestamp_micros()));
    payload["detail"]["action"] = json!({"type": "webhook", "url": url});
    let outcome = stack.act(payload.clone()).await.unwrap();
    assert_eq!(outcome["outcome"], "dead_lettered", "{outcome}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "nothing reached the receiver"
    );
    let letters = stack.dead_letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("forbidden_target: "), "{reason}");
    assert_eq!(letters[0]["code"], "webhook_failed");

    // The switch allows it (for test receivers), the template never sets it.
    stack.targets = TargetPolicy::allowing_private();
    payload["detail"]["action_id"] = json!(format!("rule-x.{}.1", Utc::now().timestamp_micros()));
    assert_eq!(stack.act(payload).await.unwrap()["outcome"], "delivered");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
