//! The live stream over real HTTP with a real SSE client: only the caller's tenant,
//! filters, the token in the query (as browsers' EventSource needs), resumption with
//! Last-Event-ID, and heartbeats.

mod common;

use common::{start, Server};
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

fn event(id: &str, person: &str, ty: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": person})
}

async fn post(server: &Server, token: &str, events: Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/events", server.base))
        .bearer_auth(token)
        .header("content-type", "application/cloudevents-batch+json")
        .body(events.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

/// Opens an SSE stream with the token in the query.
async fn open(
    server: &Server,
    token: &str,
    path_and_query: &str,
    last_event_id: Option<&str>,
) -> impl Stream<Item = Event> + Unpin {
    let separator = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut request = reqwest::Client::new().get(format!(
        "{}{path_and_query}{separator}access_token={token}",
        server.base
    ));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    Box::pin(
        response
            .bytes_stream()
            .eventsource()
            .map(|e| e.expect("well-formed SSE")),
    )
}

/// The next `n` CloudEvents (skipping heartbeats): their SSE ids and CloudEvent ids.
async fn next(stream: &mut (impl Stream<Item = Event> + Unpin), n: usize) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an event in time")
            .expect("open");
        if event.event == "cloudevent" {
            let body: Value = serde_json::from_str(&event.data).unwrap();
            got.push((event.id, body["id"].as_str().unwrap().to_owned()));
        }
    }
    got
}

#[tokio::test]
async fn the_live_stream_shows_only_the_tenants_events_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path()));
    let output = Command::new(env!("CARGO_BIN_EXE_cjaas-local"))
        .env("CJAAS_DATA_DIR", dir.path())
        .args(["create-tenant", "other"])
        .output()
        .unwrap();
    let other: Value = serde_json::from_slice(&output.stdout).unwrap();
    let other = other["token"].as_str().unwrap().to_owned();
    let server = start(dir.path());

    let unauthorised = reqwest::get(format!("{}/v1/stream?access_token=nope", server.base))
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), 401);
    let mut all = open(&server, &server.token, "/v1/stream", None).await;
    let mut ana_views = open(
        &server,
        &server.token,
        "/v1/persons/ana/stream?type=page.viewed",
        None,
    )
    .await;
    let mut theirs = open(&server, &other, "/v1/stream", None).await;

    post(&server, &other, json!([event("o1", "ana", "page.viewed")])).await;
    post(
        &server,
        &server.token,
        json!([
            event("d1", "ana", "page.viewed"),
            event("d2", "ben", "page.viewed"),
            event("d3", "ana", "cart.added")
        ]),
    )
    .await;
    let seen = next(&mut all, 3).await;
    assert_eq!(
        seen.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>(),
        ["d1", "d2", "d3"]
    );
    assert_eq!(next(&mut ana_views, 1).await[0].1, "d1");
    assert_eq!(
        next(&mut theirs, 1).await[0].1,
        "o1",
        "the other tenant sees only its own"
    );

    // Resuming after the first event replays the rest, then continues live.
    let mut resumed = open(&server, &server.token, "/v1/stream", Some(&seen[0].0)).await;
    assert_eq!(
        next(&mut resumed, 2)
            .await
            .iter()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>(),
        ["d2", "d3"]
    );
    post(
        &server,
        &server.token,
        json!([event("d4", "ana", "page.viewed")]),
    )
    .await;
    assert_eq!(next(&mut resumed, 1).await[0].1, "d4");
    assert_eq!(next(&mut ana_views, 1).await[0].1, "d4");

    // A heartbeat arrives while nothing happens.
    let heartbeat = tokio::time::timeout(Duration::from_secs(20), all.next())
        .await
        .unwrap()
        .unwrap();
    let heartbeat = if heartbeat.event == "cloudevent" {
        tokio::time::timeout(Duration::from_secs(20), all.next())
            .await
            .unwrap()
            .unwrap()
    } else {
        heartbeat
    };
    assert_eq!(heartbeat.event, "heartbeat");
}

#[tokio::test]
async fn a_position_beyond_the_newest_starts_now_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    post(
        &server,
        &server.token,
        json!([event("p1", "ana", "page.viewed")]),
    )
    .await;
    let mut all = open(&server, &server.token, "/v1/stream", Some("0")).await;
    assert_eq!(next(&mut all, 1).await[0].1, "p1");

    // What a real SSE client parses, and the raw text beside it (comments are not events).
    let response = reqwest::Client::new()
        .get(format!(
            "{}/v1/stream?access_token={}",
            server.base, server.token
        ))
        .header("last-event-id", "999999")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let raw = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let tap = raw.clone();
    let mut beyond = Box::pin(
        response
            .bytes_stream()
            .inspect(move |chunk| {
                if let Ok(chunk) = chunk {
                    tap.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(chunk));
                }
            })
            .eventsource()
            .map(|e| e.expect("well-formed SSE")),
    );
    post(
        &server,
        &server.token,
        json!([event("p2", "ana", "page.viewed")]),
    )
    .await;
    // Heartbeats keep `next` waiting: bound the whole wait.
    let (id, cloud_event) = tokio::time::timeout(Duration::from_secs(30), next(&mut beyond, 1))
        .await
        .expect("new events arrive, not only heartbeats")
        .remove(0);
    assert_eq!(cloud_event, "p2", "new events arrive");
    assert!(id.parse::<u64>().unwrap() < 999_999);
    let text = raw.lock().unwrap().clone();
    assert!(
        text.starts_with(
            ": Last-Event-ID 999999 is beyond the newest position 1: following from now\n"
        ),
        "{text}"
    );
    // A position that is no number starts now too.
    let mut odd = open(&server, &server.token, "/v1/stream", Some("not-a-position")).await;
    post(
        &server,
        &server.token,
        json!([event("p3", "ana", "page.viewed")]),
    )
    .await;
    assert_eq!(next(&mut odd, 1).await[0].1, "p3");
}
