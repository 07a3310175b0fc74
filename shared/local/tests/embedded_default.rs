//! The embedded default as a user runs it: the real `cjaas-local` binary, real HTTP,
//! and a data directory that must survive a crash and a restart.

mod common;

use common::{start, Server};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

async fn post_batch(server: &Server, token: &str, events: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/events", server.base))
        .bearer_auth(token)
        .header("content-type", "application/cloudevents-batch+json")
        .body(events.to_string())
        .send()
        .await
        .expect("the server answers")
}

async fn journey(server: &Server, token: &str, person: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/persons/{person}/events", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers");
    (
        response.status().as_u16(),
        response.json().await.expect("JSON"),
    )
}

/// Polls the journey until it holds `n` events (the Tape writer runs in the background).
async fn wait_for(server: &Server, token: &str, person: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = journey(server, token, person).await;
        assert_eq!(status, 200, "{body}");
        let ids: Vec<String> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        if ids.len() >= n || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn event(id: &str, person: &str, time: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": "page.viewed", "person": person, "time": time})
}

#[tokio::test]
async fn the_local_server_keeps_its_data_across_a_crash_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let admin_key = server
        .first_key
        .clone()
        .expect("the first start prints the dev tenant's key");
    let batch = json!([
        event("b", "alice", "2026-11-23T10:02:00Z"),
        event("a", "alice", "2026-11-23T10:01:00Z"),
    ]);
    assert_eq!(
        post_batch(&server, &server.token, &batch).await.status(),
        202
    );
    assert_eq!(
        wait_for(&server, &server.token, "alice", 2).await,
        ["a", "b"]
    );
    drop(server); // SIGKILL: no graceful shutdown

    let server = start(dir.path());
    assert_eq!(server.first_key, None, "the dev tenant is made once");
    // The API key from the first start is still valid: it was stored (hashed).
    assert_eq!(wait_for(&server, &admin_key, "alice", 2).await, ["a", "b"]);
    // Sending the same batch again changes nothing.
    assert_eq!(post_batch(&server, &admin_key, &batch).await.status(), 202);
    let more = json!([event("c", "alice", "2026-11-23T10:03:00Z")]);
    assert_eq!(post_batch(&server, &admin_key, &more).await.status(), 202);
    assert_eq!(
        wait_for(&server, &admin_key, "alice", 3).await,
        ["a", "b", "c"]
    );
}

#[tokio::test]
async fn local_tenants_are_isolated_and_bad_requests_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = reqwest::Client::new();
    let batch = json!([event("dev-1", "alice", "2026-11-23T10:00:00Z")]);
    assert_eq!(
        post_batch(&server, &server.token, &batch).await.status(),
        202
    );
    assert_eq!(
        wait_for(&server, &server.token, "alice", 1).await,
        ["dev-1"]
    );
    let dev_admin_key = server
        .first_key
        .clone()
        .expect("printed at the first start");
    drop(server);

    // A second tenant, made with the operator CLI while the server is stopped.
    let output = Command::new(env!("CARGO_BIN_EXE_cjaas-local"))
        .env("CJAAS_DATA_DIR", dir.path())
        .args(["create-tenant", "other"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let other: Value = serde_json::from_slice(&output.stdout).unwrap();
    let other = other["token"].as_str().unwrap().to_owned();
    let server = start(dir.path());
    let (status, body) = journey(&server, &other, "alice").await;
    assert_eq!(
        (status, body["events"].clone()),
        (200, json!([])),
        "same person id, other tenant"
    );
    let same_id = json!([event("dev-1", "alice", "2026-11-23T11:00:00Z")]);
    assert_eq!(post_batch(&server, &other, &same_id).await.status(), 202);
    assert_eq!(wait_for(&server, &other, "alice", 1).await, ["dev-1"]);
    let (_, dev_view) = journey(&server, &server.token, "alice").await;
    assert_eq!(
        dev_view["events"][0]["time"], "2026-11-23T10:00:00Z",
        "dev's copy untouched"
    );
    assert_eq!(dev_view["events"].as_array().unwrap().len(), 1);

    let response = client
        .post(format!("{}/v1/keys", server.base))
        .bearer_auth(&dev_admin_key)
        .json(&json!({"scopes": ["events:write"], "label": "tag"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let write_only: Value = response.json().await.unwrap();
    let refused = client
        .post(format!("{}/v1/keys", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"scopes": ["events:write"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        403,
        "a short-lived token cannot mint keys"
    );
    let write_only = write_only["token"].as_str().unwrap();
    let (status, body) = journey(&server, write_only, "alice").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("insufficient_scope"))
    );

    let response = client
        .post(format!("{}/v1/events", server.base))
        .bearer_auth(write_only)
        .header("content-type", "application/cloudevents+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let unauthenticated = client
        .get(format!("{}/v1/persons/alice/events", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("the server answers");
    (
        response.status().as_u16(),
        response.json().await.expect("JSON"),
    )
}

#[tokio::test]
async fn the_local_server_runs_analytics_on_demand_and_keeps_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let now = chrono::Utc::now();
    let at = |minutes: i64| (now - chrono::Duration::minutes(minutes)).to_rfc3339();
    let batch = json!([
        event("1", "ana", &at(50)),
        {"specversion": "1.0", "id": "2", "source": "/web", "type": "cart.added", "person": "ana", "time": at(45)},
        event("3", "ben", &at(20)),
    ]);
    assert_eq!(
        post_batch(&server, &server.token, &batch).await.status(),
        202
    );
    wait_for(&server, &server.token, "ana", 2).await;
    wait_for(&server, &server.token, "ben", 1).await;

    let client = reqwest::Client::new();
    let request_run = || {
        client
            .post(format!("{}/v1/analytics/runs", server.base))
            .bearer_auth(&server.token)
            .send()
    };
    assert_eq!(request_run().await.unwrap().status(), 202);
    let limited = request_run().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));

    // The in-process bus wakes the local job; the report appears shortly after.
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let (status, report) = get(&server, "/v1/analytics?window=24h").await;
        if (status == 200 && report["events"] == 3) || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (report["persons"].clone(), report["sessions"].clone()),
        (json!(2), json!(2)),
        "{report}"
    );
    assert_eq!(
        report["transitions"],
        json!([{"from": "page.viewed", "to": "cart.added", "count": 1}])
    );
    drop(server);

    // The reports are stored: they survive a restart.
    let server = start(dir.path());
    let (status, again) = get(&server, "/v1/analytics?window=24h").await;
    assert_eq!(
        (status, again["computed_at"].clone()),
        (200, report["computed_at"].clone())
    );
}

#[tokio::test]
async fn the_local_server_archives_to_disk_and_erases_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let batch = json!([
        event("1", "gone-3e1f", "2026-11-23T10:01:00Z"),
        event("2", "kept-8a2b", "2026-11-23T10:02:00Z"),
    ]);
    assert_eq!(
        post_batch(&server, &server.token, &batch).await.status(),
        202
    );
    wait_for(&server, &server.token, "kept-8a2b", 1).await;
    let partition = dir
        .path()
        .join("archive/archive/tenant=dev/date=2026-11-23/hour=10");
    let files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&partition)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while files().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let archived = std::fs::read(&files()[0]).unwrap();
    let events = cjaas_core::archive::decode(&archived).unwrap();
    assert_eq!(events.len(), 2);

    let client = reqwest::Client::new();
    let job: Value = client
        .delete(format!("{}/v1/persons/gone-3e1f", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/v1/erasures/{}", job["id"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, job) = get(&server, &path).await;
        assert_eq!(status, 200, "{job}");
        if job["status"] == "completed" || Instant::now() > deadline {
            assert_eq!(job["removed"]["archive_events"], 1, "{job}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, journey) = journey(&server, &server.token, "gone-3e1f").await;
    assert_eq!(journey["events"], json!([]));
    let left = cjaas_core::archive::decode(&std::fs::read(&files()[0]).unwrap()).unwrap();
    assert_eq!(
        left.iter().map(|e| e.person.as_str()).collect::<Vec<_>>(),
        ["kept-8a2b"]
    );
}
