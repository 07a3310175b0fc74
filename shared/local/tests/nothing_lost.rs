//! Nothing lost, nothing leaked, on the real `cjaas-local` binary: archive objects are
//! never overwritten by later batches (restarts included), and an erasure leaves no
//! byte of the person in any file of the data directory, nor in any API.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{start, Server};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn event(id: &str, person: &str, ty: &str, time: DateTime<Utc>) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": person,
           "time": time, "data": {"note": "payload-91c4e"}})
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(server: &Server, events: &[Value]) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/events", server.base))
        .bearer_auth(&server.token)
        .header("content-type", "application/cloudevents-batch+json")
        .body(Value::from(events.to_vec()).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

async fn journey(server: &Server, person: &str) -> Vec<String> {
    let (status, body) = send(
        server,
        reqwest::Method::GET,
        &format!("/v1/persons/{person}/events"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until `check` holds (the poller works in the background).
async fn eventually<F: Fn() -> bool>(what: &str, check: F) {
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The tenant's archive: data object → event ids, in order.
fn archive(dir: &Path) -> BTreeMap<PathBuf, Vec<String>> {
    files(&dir.join("archive/archive/tenant=dev"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .map(|p| {
            let events = cjaas_core::archive::decode(&std::fs::read(&p).unwrap()).unwrap();
            (p, events.into_iter().map(|e| e.id).collect())
        })
        .collect()
}

fn archived_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = archive(dir).into_values().flatten().collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn archive_objects_are_never_overwritten_by_later_batches() {
    let dir = tempfile::tempdir().unwrap();
    let hour: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
    let server = start(dir.path());
    post(&server, &[event("e1", "ana", "page.viewed", hour)]).await;
    eventually("the first batch archived", || {
        archived_ids(dir.path()) == ["e1"]
    })
    .await;
    let first = archive(dir.path());
    drop(server); // SIGKILL, then a restart on the same data

    let server = start(dir.path());
    post(
        &server,
        &[event(
            "e2",
            "ana",
            "page.viewed",
            hour + Duration::minutes(5),
        )],
    )
    .await;
    eventually("the second batch archived", || {
        archived_ids(dir.path()) == ["e1", "e2"]
    })
    .await;
    let second = archive(dir.path());
    assert_eq!(second.len(), 2, "a new object beside the first: {second:?}");

    // A late event for the same old hour, after the stream drained: one more object.
    post(
        &server,
        &[event(
            "e3",
            "ben",
            "page.viewed",
            hour + Duration::minutes(1),
        )],
    )
    .await;
    eventually("the late event archived", || {
        archived_ids(dir.path()) == ["e1", "e2", "e3"]
    })
    .await;
    let third = archive(dir.path());
    assert_eq!(third.len(), 3, "{third:?}");
    for (path, ids) in first.iter().chain(&second) {
        assert_eq!(&third[path], ids, "{} kept as it was", path.display());
    }
    let names: Vec<String> = third
        .keys()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]) && names[0].starts_with("local-"),
        "names follow the stream: {names:?}"
    );
    // Each accepted event once, and the Tape agrees.
    assert_eq!(journey(&server, "ana").await, ["e1", "e2"]);
}

/// Which files under `dir` hold which of `needles`: their raw bytes, and the lines
/// of archive objects (gzip would hide them from a raw scan).
fn leaks(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in files(dir) {
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(events) = cjaas_core::archive::decode(&bytes) {
            for event in events {
                bytes.extend(serde_json::to_vec(&event).unwrap());
            }
        }
        let name = path.file_name().unwrap().to_string_lossy();
        for needle in needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(format!("{name}: {needle}"));
            }
        }
    }
    found
}

/// The live stream from position `after`: (position, CloudEvent id) until `until` is seen.
async fn replay_live(server: &Server, after: &str, until: &str) -> Vec<(u64, String)> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/stream", server.base))
        .bearer_auth(&server.token)
        .header("last-event-id", after)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = response.bytes_stream().eventsource();
    let mut seen = Vec::new();
    while seen.last().is_none_or(|(_, id)| id != until) {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        if event.event == "cloudevent" {
            let body: Value = serde_json::from_str(&event.data).unwrap();
            seen.push((
                event.id.parse().unwrap(),
                body["id"].as_str().unwrap().to_owned(),
            ));
        }
    }
    seen
}

#[tokio::test]
async fn an_erased_person_is_in_no_file_and_no_api_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (subject, alias, bystander) = ("erase-me-7f3a", "cookie-erase-me-9b2c", "stays-4d1e");
    let secret = ["erase-me-7f3a", "cookie-erase-me-9b2c", "payload-91c4e"];
    let now = Utc::now();
    // Rules keep per-person state: a cooldown, and an absence timer.
    for rule in [
        json!({"name": "seen", "cooldown_seconds": 3600, "when": {"event": {"type": "page.viewed"}},
               "actions": [{"type": "publish", "name": "n"}]}),
        json!({"name": "left", "when": {"absence": {"after": {"type": "cart.added"},
               "missing": {"type": "order.paid"}, "within": "30d"}}, "actions": [{"type": "publish", "name": "n"}]}),
    ] {
        let (status, body) = send(&server, reqwest::Method::POST, "/v1/rules", Some(rule)).await;
        assert_eq!(status, 201, "{body}");
    }
    post(
        &server,
        &[
            event("s1", subject, "page.viewed", now - Duration::hours(2)),
            event("s2", subject, "cart.added", now - Duration::hours(1)),
            event("a1", alias, "page.viewed", now - Duration::hours(1)),
            json!({"specversion": "1.0", "id": "b1", "source": "/web", "type": "page.viewed",
                   "person": bystander, "time": now - Duration::hours(1)}),
        ],
    )
    .await;
    eventually("the archive", || archived_ids(dir.path()).len() == 4).await;
    let link = json!({"aliases": [alias]});
    let (status, body) = send(
        &server,
        reqwest::Method::POST,
        &format!("/v1/persons/{subject}/aliases"),
        Some(link),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let view = json!({"name": "v", "attributes": [{"name": "n", "aggregation": "count"}]});
    let (_, view) = send(&server, reqwest::Method::POST, "/v1/views", Some(view)).await;
    let profile = format!(
        "/v1/persons/{subject}/profile?view={}",
        view["id"].as_str().unwrap()
    );
    let (status, body) = send(&server, reqwest::Method::GET, &profile, None).await;
    assert_eq!(
        (status, body["profile"]["attributes"]["n"].clone()),
        (200, json!(3)),
        "{body}"
    );
    let before = replay_live(&server, "0", "b1").await;
    assert_eq!(before.len(), 4, "{before:?}");
    let seen = leaks(dir.path(), &secret);
    for needle in secret {
        assert!(seen.contains(&format!("cjaas.redb: {needle}")), "{seen:?}");
        assert!(
            seen.iter().any(|l| l.ends_with(".json.gz: payload-91c4e")),
            "{seen:?}"
        );
    }

    let (status, job) = send(
        &server,
        reqwest::Method::DELETE,
        &format!("/v1/persons/{subject}"),
        None,
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let path = format!("/v1/erasures/{}", job["id"].as_str().unwrap());
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    let job = loop {
        let (_, job) = send(&server, reqwest::Method::GET, &path, None).await;
        if job["status"] == "completed" {
            break job;
        }
        assert!(Instant::now() < deadline, "{job}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let removed = &job["removed"];
    assert_eq!(
        [
            &removed["ids"],
            &removed["tape_events"],
            &removed["archive_events"],
            &removed["local_log_records"],
            &removed["rule_state"],
            &removed["storage_rewritten"]
        ],
        [
            &json!(2),
            &json!(3),
            &json!(3),
            &json!(3),
            &json!(3),
            &json!(true)
        ],
        "{job}"
    );
    assert!(removed["stream_skipped_until"].is_string(), "{job}");
    assert!(!job.to_string().contains(subject));

    assert_eq!(
        leaks(dir.path(), &secret),
        Vec::<String>::new(),
        "after the erasure"
    );
    for person in [subject, alias] {
        assert_eq!(journey(&server, person).await, Vec::<String>::new());
    }
    let (_, aliases) = send(
        &server,
        reqwest::Method::GET,
        &format!("/v1/persons/{subject}/aliases"),
        None,
    )
    .await;
    assert_eq!(aliases["aliases"], json!([]), "{aliases}");
    // Resuming the live stream from before the erasure: only the bystander, and new
    // events get positions never used before.
    post(&server, &[json!({"specversion": "1.0", "id": "b2", "source": "/web", "type": "page.viewed", "person": bystander})]).await;
    let after = replay_live(&server, "0", "b2").await;
    let ids: Vec<&str> = after.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["b1", "b2"]);
    assert!(after[1].0 > before.iter().map(|(p, _)| *p).max().unwrap());
    // A live row comes before the archive (which follows in the poller's next turn).
    eventually("b2 archived", || archived_ids(dir.path()) == ["b1", "b2"]).await;
    drop(server);

    // The operator replay brings nothing of the person back.
    let output = Command::new(env!("CARGO_BIN_EXE_cjaas-local"))
        .env("CJAAS_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .args([
            "replay",
            "--tenant",
            "dev",
            "--from",
            &(now - Duration::days(1)).to_rfc3339(),
            "--to",
            &(now + Duration::days(1)).to_rfc3339(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["events_replayed"], 2, "{report}");
    let server = start(dir.path());
    eventually("the replay archived", || {
        archived_ids(dir.path()) == ["b1", "b1", "b2", "b2"]
    })
    .await;
    assert_eq!(journey(&server, bystander).await, ["b1", "b2"]);
    assert_eq!(journey(&server, subject).await, Vec::<String>::new());
    assert_eq!(
        leaks(dir.path(), &secret),
        Vec::<String>::new(),
        "after a restart and a replay"
    );
}
