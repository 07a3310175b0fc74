//! Per-tenant limits hold under concurrency on the embedded default: many creates at
//! once, over real HTTP, never leave more than the limit.

mod common;

use futures::future::join_all;
use serde_json::{json, Value};

use common::{start, Server};

async fn send(
    http: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Sends `n` creates at once; returns (created ids, problem codes of the others).
async fn create_at_once(
    http: &reqwest::Client,
    server: &Server,
    path: &str,
    n: usize,
    body: impl Fn(usize) -> Value,
) -> (Vec<String>, Vec<String>) {
    let answers =
        join_all((0..n).map(|i| send(http, server, reqwest::Method::POST, path, Some(body(i)))))
            .await;
    let (mut created, mut refused) = (Vec::new(), Vec::new());
    for (status, answer) in answers {
        match status {
            201 => created.push(answer["id"].as_str().unwrap().to_owned()),
            _ => refused.push(format!(
                "{status} {}",
                answer["code"].as_str().unwrap_or("?")
            )),
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

#[tokio::test]
async fn concurrent_creates_never_pass_the_funnel_and_rule_limits() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let http = reqwest::Client::new();

    let (created, refused) = create_at_once(&http, &server, "/v1/funnels", 40, funnel).await;
    assert_eq!(created.len(), 20, "{refused:?}");
    assert!(
        refused.iter().all(|r| r == "409 too_many_funnels"),
        "{refused:?}"
    );
    let (_, listed) = send(&http, &server, reqwest::Method::GET, "/v1/funnels", None).await;
    assert_eq!(listed["funnels"].as_array().unwrap().len(), 20);

    // A delete makes room for exactly one more.
    let path = format!("/v1/funnels/{}", created[0]);
    let (status, _) = send(&http, &server, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (again, _) = create_at_once(&http, &server, "/v1/funnels", 5, funnel).await;
    assert_eq!(again.len(), 1);

    let (created, refused) = create_at_once(&http, &server, "/v1/rules", 240, rule).await;
    assert_eq!(created.len(), 200, "{:?}", &refused[..refused.len().min(5)]);
    assert!(
        refused.iter().all(|r| r == "409 too_many_rules"),
        "{refused:?}"
    );
    let (_, listed) = send(&http, &server, reqwest::Method::GET, "/v1/rules", None).await;
    assert_eq!(listed["rules"].as_array().unwrap().len(), 200);
    let path = format!("/v1/rules/{}", created[0]);
    let (status, _) = send(&http, &server, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (again, _) = create_at_once(&http, &server, "/v1/rules", 5, rule).await;
    assert_eq!(again.len(), 1);
}
