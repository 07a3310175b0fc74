//! Per-tenant limits on the emulator, through the real API handlers and the real
//! DynamoDB adapter: concurrent creates never pass the limit (a counter item changes
//! in the same transaction as the document), deletes make room again, and a tenant
//! whose documents predate the counter is counted from what it has.

use cjaas_aws::DynamoDocumentStore;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DocumentStore, Expect};
use cjaas_tests::{call, Stack};
use futures::future::join_all;
use http::StatusCode;
use serde_json::{json, Value};

/// Sends `n` creates at once; returns (created ids, status and code of the others).
async fn create_at_once(
    stack: &Stack,
    token: &str,
    path: &str,
    n: usize,
    body: impl Fn(usize) -> Value,
) -> (Vec<String>, Vec<String>) {
    let answers =
        join_all((0..n).map(|i| stack.call(token, call("POST", path, Some(body(i)))))).await;
    let (mut created, mut refused) = (Vec::new(), Vec::new());
    for (status, _, answer) in answers {
        if status == StatusCode::CREATED {
            created.push(answer["id"].as_str().unwrap().to_owned());
        } else {
            refused.push(format!(
                "{} {}",
                status.as_u16(),
                answer["code"].as_str().unwrap_or("?")
            ));
        }
    }
    (created, refused)
}

fn funnel(i: usize) -> Value {
    json!({"name": format!("funnel {i}"), "steps": ["product.viewed", "order.paid"],
           "within_seconds": 3600})
}

fn rule(i: usize) -> Value {
    json!({"name": format!("rule {i}"), "when": {"event": {"type": "page.viewed"}},
           "actions": [{"type": "publish", "name": "x"}]})
}

async fn count(stack: &Stack, token: &str, path: &str, field: &str) -> usize {
    let (status, _, listed) = stack.call(token, call("GET", path, None)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    listed[field].as_array().unwrap().len()
}

#[tokio::test]
async fn concurrent_creates_never_pass_the_funnel_and_rule_limits() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;

    let (created, refused) = create_at_once(&stack, &token, "/v1/funnels", 40, funnel).await;
    assert_eq!(created.len(), 20, "{refused:?}");
    assert!(
        refused.iter().all(|r| r == "409 too_many_funnels"),
        "{refused:?}"
    );
    assert_eq!(count(&stack, &token, "/v1/funnels", "funnels").await, 20);
    let path = format!("/v1/funnels/{}", created[0]);
    let (status, _, _) = stack.call(&token, call("DELETE", &path, None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (again, _) = create_at_once(&stack, &token, "/v1/funnels", 5, funnel).await;
    assert_eq!(again.len(), 1, "a delete makes room for exactly one");

    // The single-threaded emulator queues requests: 190 in waves of 10, then the
    // last 10 places raced by 40 at once.
    let mut created = Vec::new();
    for _ in 0..19 {
        let (wave, refused) = create_at_once(&stack, &token, "/v1/rules", 10, rule).await;
        assert!(refused.is_empty(), "{refused:?}");
        created.extend(wave);
    }
    let (last, refused) = create_at_once(&stack, &token, "/v1/rules", 40, rule).await;
    assert_eq!(last.len(), 10, "{refused:?}");
    assert!(
        refused.iter().all(|r| r == "409 too_many_rules"),
        "{refused:?}"
    );
    assert_eq!(count(&stack, &token, "/v1/rules", "rules").await, 200);
    let path = format!("/v1/rules/{}", created[0]);
    let (status, _, _) = stack.call(&token, call("DELETE", &path, None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = stack.call(&token, call("DELETE", &path, None)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a second delete counts nothing"
    );
    let (again, _) = create_at_once(&stack, &token, "/v1/rules", 5, rule).await;
    assert_eq!(again.len(), 1, "a delete makes room for exactly one");
}

#[tokio::test]
async fn funnels_stored_before_the_counter_count_against_the_limit() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let docs = DynamoDocumentStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        stack.config_table.clone(),
    );
    let pk = cjaas_core::analytics::keys::funnels(&TenantId::parse(&tenant).unwrap());
    for i in 0..19 {
        let id = format!("funnel-before-{i:02}");
        let body = json!({"id": id, "name": format!("old {i}"), "steps": ["a", "b"],
            "within_seconds": 60, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z"});
        assert!(docs
            .put(&pk, &id, &body.to_string(), Expect::Absent)
            .await
            .unwrap());
    }
    assert_eq!(count(&stack, &token, "/v1/funnels", "funnels").await, 19);

    let (created, refused) = create_at_once(&stack, &token, "/v1/funnels", 10, funnel).await;
    assert_eq!(created.len(), 1, "{refused:?}");
    assert_eq!(count(&stack, &token, "/v1/funnels", "funnels").await, 20);

    let (status, _, _) = stack
        .call(&token, call("DELETE", "/v1/funnels/funnel-before-03", None))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (again, _) = create_at_once(&stack, &token, "/v1/funnels", 3, funnel).await;
    assert_eq!(again.len(), 1, "the old funnel's delete made room for one");
}
