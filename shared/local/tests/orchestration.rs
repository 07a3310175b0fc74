//! Rules on the embedded default, end to end over real HTTP: events in, a rule
//! matches, a signed webhook reaches a receiver run by the test, a recommendation is
//! appended to the person's Tape, an absence timer fires, and neither a replay nor the
//! cooldown fires a rule twice.

mod common;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{start_with, Server};

type Calls = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A webhook receiver on a free port; returns its URL and what it received.
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
        // An enrichment endpoint: answers with fields to append.
        .route(
            "/enrich",
            post(|| async { axum::Json(json!({"segment": "vip", "score": 0.92})) }),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    server.send(method, path, body).await
}

fn event(id: &str, ty: &str, path: &str, minutes_ago: i64) -> Value {
    let time = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": "ana",
           "time": time, "data": {"path": path}})
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rule_calls(calls: &Calls, rule: &str) -> Vec<Value> {
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| serde_json::from_str::<Value>(body).unwrap())
        .filter(|b| b["rule"]["id"] == rule)
        .collect()
}

#[tokio::test]
async fn rules_fire_signed_actions_once_and_absence_timers_fire() {
    let dir = tempfile::tempdir().unwrap();
    // The receiver listens on loopback: a development target, allowed explicitly.
    let server = start_with(dir.path(), &[("CJAAS_ALLOW_PRIVATE_TARGETS", "1")]);
    let (url, calls) = receiver().await;

    let (status, bad) = send(&server, reqwest::Method::POST, "/v1/rules", Some(json!({
        "name": "x", "when": {"count": {"of": {"type": "a"}, "at_least": 0, "within": "99d"}}, "actions": []
    }))).await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (422, Some("invalid_rule")),
        "{bad}"
    );
    let reasons: Vec<_> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["invalid_count", "invalid_window", "action_count"]);

    let (status, pricing) = send(&server, reqwest::Method::POST, "/v1/rules", Some(json!({
        "name": "pricing hesitation", "cooldown_seconds": 3600,
        "when": {"all": [
            {"event": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}},
            {"count": {"of": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}, "at_least": 3, "within": "10m"}}
        ]},
        "actions": [{"type": "webhook", "url": url, "payload": {"bot": "sales"}},
                    {"type": "recommendation", "action": "offer-10"}]
    }))).await;
    assert_eq!(status, 201, "{pricing}");
    let pricing_id = pricing["id"].as_str().unwrap().to_owned();
    let (_, abandoned) = send(&server, reqwest::Method::POST, "/v1/rules", Some(json!({
        "name": "abandoned cart",
        "when": {"absence": {"after": {"type": "cart.added"}, "missing": {"type": "order.paid"}, "within": "1m"}},
        "actions": [{"type": "webhook", "url": url}]
    }))).await;
    let abandoned_id = abandoned["id"].as_str().unwrap().to_owned();
    let enrich_url = url.replace("/hook", "/enrich");
    let (status, _) = send(
        &server,
        reqwest::Method::POST,
        "/v1/rules",
        Some(json!({
            "name": "enrich checkouts", "when": {"event": {"type": "checkout.started"}},
            "actions": [{"type": "enrichment", "url": enrich_url}]
        })),
    )
    .await;
    assert_eq!(status, 201);
    let (_, secret) = send(
        &server,
        reqwest::Method::GET,
        "/v1/rules/webhook-secret",
        None,
    )
    .await;
    let secret = secret["secret"].as_str().unwrap().to_owned();

    let batch = json!([
        event("v1", "page.viewed", "/pricing", 6),
        event("v2", "page.viewed", "/pricing", 4),
        event("v3", "page.viewed", "/pricing", 2),
        event("c1", "cart.added", "/cart", 3),
        event("k1", "checkout.started", "/checkout", 1),
    ]);
    assert_eq!(
        send(
            &server,
            reqwest::Method::POST,
            "/v1/events",
            Some(batch.clone())
        )
        .await
        .0,
        202
    );

    // The third view matches: one signed webhook.
    wait_until("the pricing webhook", || {
        rule_calls(&calls, &pricing_id).len() == 1
    })
    .await;
    let (headers, body) = calls
        .lock()
        .unwrap()
        .iter()
        .find(|(_, b)| b.contains(&pricing_id))
        .cloned()
        .unwrap();
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
        cjaas_app::actions::signature(&secret, t, body.as_bytes())
    );
    let hook: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            hook["triggering_event"]["id"].as_str(),
            hook["payload"]["bot"].as_str()
        ),
        (Some("v3"), Some("sales"))
    );

    // The recommendation lands on the person's Tape as an event.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, journey) = send(
            &server,
            reqwest::Method::GET,
            "/v1/persons/ana/events?type=cjaas.recommendation",
            None,
        )
        .await;
        if let Some(first) = journey["events"].as_array().and_then(|e| e.first()) {
            assert_eq!(first["data"]["action"], "offer-10");
            break;
        }
        assert!(Instant::now() < deadline, "no recommendation on the Tape");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The enrichment endpoint's answer is appended as its own event.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, journey) = send(
            &server,
            reqwest::Method::GET,
            "/v1/persons/ana/events?type=cjaas.enrichment",
            None,
        )
        .await;
        if let Some(first) = journey["events"].as_array().and_then(|e| e.first()) {
            assert_eq!(
                first["data"]["fields"],
                json!({"segment": "vip", "score": 0.92})
            );
            assert_eq!(first["data"]["enriched_event"], "k1");
            break;
        }
        assert!(Instant::now() < deadline, "no enrichment on the Tape");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The cart was added 3 minutes ago with no purchase within 1 minute: the timer fires.
    wait_until("the absence webhook", || {
        rule_calls(&calls, &abandoned_id).len() == 1
    })
    .await;
    assert_eq!(
        rule_calls(&calls, &abandoned_id)[0]["triggering_event"]["id"],
        "c1"
    );

    // A replay of the same events and a fourth view inside the cooldown fire nothing.
    assert_eq!(
        send(&server, reqwest::Method::POST, "/v1/events", Some(batch))
            .await
            .0,
        202
    );
    let fourth = json!([event("v4", "page.viewed", "/pricing", 1)]);
    assert_eq!(
        send(&server, reqwest::Method::POST, "/v1/events", Some(fourth))
            .await
            .0,
        202
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, journey) = send(
            &server,
            reqwest::Method::GET,
            "/v1/persons/ana/events?type=page.viewed",
            None,
        )
        .await;
        if journey["events"].as_array().is_some_and(|e| e.len() == 4) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await; // a timer tick and then some
    assert_eq!(rule_calls(&calls, &pricing_id).len(), 1, "no second firing");
    assert_eq!(rule_calls(&calls, &abandoned_id).len(), 1);
}
