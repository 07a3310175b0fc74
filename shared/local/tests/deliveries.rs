//! The delivery log and dead letters on the embedded default, over real HTTP: a rule
//! fires, its webhook fails and is dead-lettered, every attempt shows in the rule's
//! delivery log; the letters are listed (tenant-scoped), redriven (a record back onto
//! the stream and on the Tape once, an action back onto the bus and delivered), and
//! an erasure removes the person's firings.

mod common;

use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cjaas_core::auth::SigningKeys;
use cjaas_core::envelope::stamped_record;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DeadLetter, DeadLetterSink};
use cjaas_local::EmbeddedStore;
use common::{start, start_with};

#[derive(Clone, Default)]
struct Hook {
    healthy: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

/// A webhook receiver that answers 503 until it is made healthy.
async fn receiver() -> (String, Hook) {
    let hook = Hook::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|State(hook): State<Hook>| async move {
                hook.calls.fetch_add(1, Ordering::SeqCst);
                if hook.healthy.load(Ordering::SeqCst) {
                    AxumStatus::OK
                } else {
                    AxumStatus::SERVICE_UNAVAILABLE
                }
            }),
        )
        .with_state(hook.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hook)
}

async fn send(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        let content_type = if path == "/v1/events" {
            "application/cloudevents-batch+json"
        } else {
            "application/json"
        };
        request = request
            .header("content-type", content_type)
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `GET path` until `done` holds for its body.
async fn wait_for(base: &str, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = send(base, token, "GET", path, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "timed out on {path}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event(id: &str, ty: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": "ana",
           "time": chrono::Utc::now(), "data": {}})
}

/// Puts a letter in the stopped store, as the Tape writer would after DynamoDB
/// refused an item: a real stamped record of tenant `dev`.
async fn put_rejected_record(dir: &std::path::Path, keys: &SigningKeys) {
    let store = EmbeddedStore::open(dir).unwrap();
    let dev = TenantId::parse("dev").unwrap();
    let now = chrono::Utc::now();
    let raw = event("redriven-1", "page.loaded").to_string();
    let valid = cjaas_core::event::validate_raw(0, &raw, now).unwrap();
    let record = stamped_record(keys, &dev, now, &valid);
    let letter = DeadLetter {
        origin: "local/999999".into(),
        tenant: Some("dev".into()),
        code: "store_rejected".into(),
        reason: "the item was refused".into(),
        failed_at: now,
        payload_base64: base64::engine::general_purpose::STANDARD.encode(&record.data),
    };
    store.put(&letter).await.unwrap();
}

fn create_tenant(dir: &std::path::Path, name: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cjaas-local"))
        .env("CJAAS_DATA_DIR", dir)
        .args(["create-tenant", name])
        .output()
        .unwrap();
    assert!(output.status.success());
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    created["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn deliveries_and_dead_letters_are_visible_redrivable_and_tenant_scoped() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path())); // makes the `dev` tenant and the signing keys
    let keys = EmbeddedStore::open(dir.path())
        .unwrap()
        .signing_keys()
        .unwrap();
    put_rejected_record(dir.path(), &keys).await;
    let other = create_tenant(dir.path(), "acme");
    // The webhook receiver is on loopback: an operator's switch allows it.
    let server = start_with(dir.path(), &[("CJAAS_ALLOW_PRIVATE_TARGETS", "1")]);
    let (base, token) = (server.base.as_str(), server.token.as_str());
    let (url, hook) = receiver().await;

    let rule = json!({"name": "pricing", "when": {"event": {"type": "page.viewed"}},
        "actions": [{"type": "webhook", "url": url},
                    {"type": "recommendation", "action": "offer-10"},
                    {"type": "publish", "name": "bot"}]});
    let (status, created) = send(base, token, "POST", "/v1/rules", Some(rule)).await;
    assert_eq!(status, 201, "{created}");
    let rule_id = created["id"].as_str().unwrap().to_owned();
    let deliveries = format!("/v1/rules/{rule_id}/deliveries");
    let batch = json!([event("v1", "page.viewed")]);
    assert_eq!(
        send(base, token, "POST", "/v1/events", Some(batch)).await.0,
        202
    );

    // The webhook fails 4 times and is dead-lettered; each attempt is in the log.
    let log = wait_for(base, token, &deliveries, |b| {
        b["deliveries"][0]["actions"][0]["status"] == "dead_lettered"
            && b["deliveries"][0]["actions"][1]["status"] == "appended"
    })
    .await;
    let firing = &log["deliveries"][0];
    assert_eq!(
        (
            firing["person"].as_str(),
            firing["triggering_event"]["id"].as_str()
        ),
        (Some("ana"), Some("v1"))
    );
    let webhook = &firing["actions"][0];
    let attempts = webhook["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "{webhook}");
    assert!(attempts.iter().all(|a| a["ok"] == false
        && a["error"].as_str().unwrap().contains("503")
        && a["latency_ms"].is_u64()));
    assert!(
        webhook["latency_ms"].as_u64().unwrap() >= 1400,
        "three backoffs"
    );
    assert_eq!(firing["actions"][2]["status"], "published");
    assert_eq!(log["next_cursor"], Value::Null);

    // Another tenant sees neither the rule's log nor the letters.
    assert_eq!(send(base, &other, "GET", &deliveries, None).await.0, 404);
    let (status, theirs) = send(base, &other, "GET", "/v1/dead-letters", None).await;
    assert_eq!((status, theirs["dead_letters"].clone()), (200, json!([])));

    // The tenant's letters: the refused record and the webhook.
    let (status, letters) = send(base, token, "GET", "/v1/dead-letters?limit=1", None).await;
    assert_eq!(status, 200, "{letters}");
    let first = letters["dead_letters"][0].clone();
    let cursor = letters["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = send(
        base,
        token,
        "GET",
        &format!("/v1/dead-letters?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(rest["next_cursor"], Value::Null);
    let second = rest["dead_letters"][0].clone();
    let (record, action) = if first["kind"] == "record" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(
        (record["code"].as_str(), action["code"].as_str()),
        (Some("store_rejected"), Some("webhook_failed"))
    );
    assert_eq!(record["record"]["event"]["id"], "redriven-1");
    assert_eq!(action["record"]["action_id"], webhook["action_id"]);

    for letter in [&record, &action] {
        let path = format!(
            "/v1/dead-letters/{}/redrive",
            letter["id"].as_str().unwrap()
        );
        let (status, problem) = send(base, &other, "POST", &path, None).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("dead_letter_not_found"))
        );
    }
    let ids = json!({"ids": [record["id"], action["id"]]});
    let (status, bulk) = send(base, &other, "POST", "/v1/dead-letters/redrive", Some(ids)).await;
    assert_eq!(status, 200, "{bulk}");
    assert!(bulk["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["outcome"] == "not_found"));
    let (status, problem) = send(base, token, "GET", "/v1/dead-letters?limit=0&x=1", None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_query")),
        "{problem}"
    );

    // The record goes back on the stream and onto the Tape.
    let path = format!(
        "/v1/dead-letters/{}/redrive",
        record["id"].as_str().unwrap()
    );
    let (status, redriven) = send(base, token, "POST", &path, None).await;
    assert_eq!(
        (status, redriven["to"].as_str()),
        (202, Some("stream")),
        "{redriven}"
    );
    wait_for(
        base,
        token,
        "/v1/persons/ana/events?type=page.loaded",
        |b| {
            b["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["id"] == "redriven-1"))
        },
    )
    .await;
    assert_eq!(
        send(base, token, "POST", &path, None).await.0,
        404,
        "removed once on the stream"
    );

    // The receiver recovers; the redriven action is delivered with a fifth attempt.
    hook.healthy.store(true, Ordering::SeqCst);
    let path = format!(
        "/v1/dead-letters/{}/redrive",
        action["id"].as_str().unwrap()
    );
    let (status, redriven) = send(base, token, "POST", &path, None).await;
    assert_eq!(
        (status, redriven["to"].as_str()),
        (202, Some("bus")),
        "{redriven}"
    );
    let log = wait_for(base, token, &deliveries, |b| {
        b["deliveries"][0]["actions"][0]["status"] == "delivered"
    })
    .await;
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 1, "one firing");
    let attempts = log["deliveries"][0]["actions"][0]["attempts"]
        .as_array()
        .unwrap();
    assert_eq!(
        (
            attempts.len(),
            attempts[4]["attempt"].as_u64(),
            attempts[4]["ok"].as_bool()
        ),
        (5, Some(5), Some(true))
    );
    assert_eq!(hook.calls.load(Ordering::SeqCst), 5);
    let (_, letters) = send(base, token, "GET", "/v1/dead-letters", None).await;
    assert_eq!(letters["dead_letters"], json!([]), "{letters}");

    // An erasure of the person removes their firings.
    let (status, job) = send(base, token, "DELETE", "/v1/persons/ana", None).await;
    assert_eq!(status, 202, "{job}");
    let job = wait_for(
        base,
        token,
        &format!("/v1/erasures/{}", job["id"].as_str().unwrap()),
        |j| j["status"] == "completed",
    )
    .await;
    assert!(
        job["removed"]["delivery_firings"].as_u64().unwrap() >= 1,
        "{job}"
    );
    let (_, log) = send(base, token, "GET", &deliveries, None).await;
    assert_eq!(log["deliveries"], json!([]));
}
