//! The `stream` function's router on the emulator, read by a real SSE client: it tails
//! Kinesis, shows only the caller's tenant, takes the token in the query, and resumes
//! from `Last-Event-ID` exactly.

use axum::body::Body;
use cjaas_tests::{post_batch, Stack};
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use http::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tower::ServiceExt;

fn event(id: &str, person: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": "page.viewed", "person": person})
}

async fn open(
    stack: &Stack,
    token: &str,
    path: &str,
    last_event_id: Option<&str>,
) -> (StatusCode, impl Stream<Item = Event> + Unpin) {
    let router = cjaas_aws::wiring::stream_router(&stack.wiring(), Duration::from_millis(100))
        .expect("the stream function");
    let mut request = http::Request::get(format!("{path}?access_token={token}"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = router
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let events = response
        .into_body()
        .into_data_stream()
        .eventsource()
        .map(|e| e.expect("well-formed SSE"));
    (status, Box::pin(events))
}

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
async fn the_stream_function_tails_kinesis_for_the_callers_tenant() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let (denied, _) = open(&stack, "nope", "/v1/stream", None).await;
    assert_eq!(denied, StatusCode::UNAUTHORIZED);

    let (status, mut mine) = open(&stack, &token, "/v1/stream", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, mut ana) = open(&stack, &token, "/v1/persons/ana/stream", None).await;
    let (_, mut theirs) = open(&stack, &other, "/v1/stream", None).await;
    // The tails start at the stream's end once polled; let them get there first.
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(
        stack
            .call(&other, post_batch(&[event("o1", "ana")]))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack
            .call(
                &token,
                post_batch(&[event("d1", "ana"), event("d2", "ben"), event("d3", "ana")])
            )
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let seen = next(&mut mine, 3).await;
    assert_eq!(
        seen.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>(),
        ["d1", "d2", "d3"]
    );
    assert_eq!(
        next(&mut ana, 2)
            .await
            .iter()
            .map(|(_, id)| id.as_str())
            .collect::<Vec<_>>(),
        ["d1", "d3"]
    );
    assert_eq!(next(&mut theirs, 1).await[0].1, "o1");

    let (_, mut resumed) = open(&stack, &token, "/v1/stream", Some(&seen[0].0)).await;
    assert_eq!(
        next(&mut resumed, 2)
            .await
            .iter()
            .map(|(_, id)| id.as_str())
            .collect::<Vec<_>>(),
        ["d2", "d3"]
    );
}

#[tokio::test]
async fn a_position_that_is_not_the_streams_starts_now_and_says_so() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let router = cjaas_aws::wiring::stream_router(&stack.wiring(), Duration::from_millis(100))
        .expect("the stream function");
    // A local server's numeric position, sent to AWS: not one of this stream's.
    let request = http::Request::get(format!("/v1/stream?access_token={token}"))
        .header("last-event-id", "999999")
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let raw = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let tap = raw.clone();
    let mut events = Box::pin(
        response
            .into_body()
            .into_data_stream()
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        stack
            .call(&token, post_batch(&[event("n1", "ana")]))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let got = tokio::time::timeout(Duration::from_secs(30), next(&mut events, 1))
        .await
        .expect("new events arrive, not only heartbeats");
    assert_eq!(got[0].1, "n1");
    let text = raw.lock().unwrap().clone();
    assert!(
        text.starts_with(": Last-Event-ID is not a position of this stream: following from now\n"),
        "{text}"
    );
}

/// A `Last-Event-ID` from another stream (e.g. before the stream was re-created) is a
/// position Kinesis never issued on this one: the stream still opens and delivers new
/// events. (LocalStack's kinesis-mock refuses such a position, as AWS does; moto does
/// not check it, and so may also skip the first records.)
#[tokio::test]
async fn a_last_event_id_from_another_stream_starts_at_the_end() {
    let elsewhere = Stack::create().await;
    let (_, their_token) = elsewhere.create_tenant().await;
    let (_, mut theirs) = open(&elsewhere, &their_token, "/v1/stream", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    elsewhere
        .call(&their_token, post_batch(&[event("x1", "ana")]))
        .await;
    let foreign_id = next(&mut theirs, 1).await.remove(0).0;

    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let earlier = post_batch(&[event("n0", "ben")]);
    assert_eq!(stack.call(&token, earlier).await.0, StatusCode::ACCEPTED);
    let (status, mut resumed) = open(&stack, &token, "/v1/stream", Some(&foreign_id)).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let batch: Vec<Value> = (1..=3).map(|i| event(&format!("n{i}"), "ben")).collect();
    assert_eq!(
        stack.call(&token, post_batch(&batch)).await.0,
        StatusCode::ACCEPTED
    );
    let mut last = String::new();
    while last != "n3" {
        last = next(&mut resumed, 1).await.remove(0).1;
    }
}
