//! The Tape end to end on the emulator: tenant-admin → authorizer → ingest → Kinesis →
//! tape-writer → query, through the real Lambda handlers and AWS adapters.

use cjaas_tests::{ids, journey as get_journey, post_batch, put_direct, read_stream, Stack};
use http::StatusCode;
use serde_json::{json, Value};

fn event(id: &str, person: &str, ty: &str, time: Option<&str>) -> Value {
    let mut e = json!({
        "specversion": "1.0", "id": id, "source": "https://shop.example.com/web",
        "type": ty, "person": person, "data": {"n": id}
    });
    if let Some(t) = time {
        e["time"] = json!(t);
    }
    e
}

#[tokio::test]
async fn events_flow_from_ingest_to_the_journey_in_event_time_order() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;

    let first = post_batch(&[
        event(
            "e2",
            "alice@example.com",
            "cart.added",
            Some("2026-11-23T10:02:00Z"),
        ),
        event(
            "e3",
            "alice@example.com",
            "page.viewed",
            Some("2026-11-23T10:03:00Z"),
        ),
    ]);
    let (status, _, body) = stack.call(&token, first).await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"accepted": 2}))
    );
    // A late event: sent after the others, but earlier in event time.
    let late = post_batch(&[event(
        "e1",
        "alice@example.com",
        "page.viewed",
        Some("2026-11-23T10:01:00Z"),
    )]);
    assert_eq!(stack.call(&token, late).await.0, StatusCode::ACCEPTED);
    // The fixture payloads themselves: structured and binary mode.
    let structured = cjaas_tests::fixture("ingest-structured.json");
    assert_eq!(stack.call(&token, structured).await.0, StatusCode::ACCEPTED);
    let binary = cjaas_tests::fixture("ingest-binary.json");
    assert_eq!(stack.call(&token, binary).await.0, StatusCode::ACCEPTED);

    assert_eq!(stack.pump().await, Vec::<String>::new(), "no record failed");

    let (status, _, body) = stack
        .call(&token, get_journey("alice@example.com", ""))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body), ["evt-0001", "e1", "e2", "e3", "chat-77"]);
    assert_eq!(body["events"][0]["data"]["path"], "/pricing");
    assert_eq!(body["events"][4]["data"]["text"], "Do you ship to Norway?");

    let (_, _, desc) = stack
        .call(
            &token,
            get_journey("alice@example.com", "order=desc&limit=2"),
        )
        .await;
    assert_eq!(ids(&desc), ["chat-77", "e3"]);
    let cursor = desc["next_cursor"].as_str().expect("more pages").to_owned();
    let (_, _, next) = stack
        .call(
            &token,
            get_journey(
                "alice@example.com",
                &format!("order=desc&limit=2&cursor={cursor}"),
            ),
        )
        .await;
    assert_eq!(ids(&next), ["e2", "e1"]);

    let (_, _, filtered) = stack
        .call(
            &token,
            get_journey(
                "alice@example.com",
                "type=page.viewed&type=cart.added&from=2026-11-23T10:01:30Z&to=2026-11-23T10:03:00Z",
            ),
        )
        .await;
    assert_eq!(ids(&filtered), ["e2"], "from is inclusive, to exclusive");
    let (_, _, by_source) = stack
        .call(
            &token,
            get_journey("alice@example.com", "source=https://chat.example.com"),
        )
        .await;
    assert_eq!(ids(&by_source), ["chat-77"]);
}

#[tokio::test]
async fn pagination_walks_every_event_exactly_once() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let events: Vec<Value> = (0..25)
        .map(|i| {
            event(
                &format!("p{i:02}"),
                "bob",
                if i % 3 == 0 { "rare" } else { "common" },
                None,
            )
        })
        .collect();
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    stack.pump().await;

    for (query, expected) in [("limit=4", 25), ("limit=3&type=rare", 9)] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("{query}&cursor={c}"),
                None => query.to_owned(),
            };
            let (status, _, page) = stack.call(&token, get_journey("bob", &q)).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), expected, "{query}: {seen:?}");
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "events without time keep their request order");
    }
}

#[tokio::test]
async fn every_event_lands_exactly_once_whatever_is_redelivered() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let timed = event("once", "carol", "page.viewed", Some("2026-01-01T09:00:00Z"));
    let untimed = event("untimed", "carol", "page.viewed", None);
    // The producer retries the whole request: new receive time, new sequence numbers.
    for _ in 0..3 {
        let (status, _, _) = stack
            .call(&token, post_batch(&[timed.clone(), untimed.clone()]))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    assert_eq!(batch["Records"].as_array().unwrap().len(), 6);
    let writer = stack.writer();
    // The event source mapping redelivers the same batch.
    assert!(stack.deliver(&writer, batch.clone()).await.is_empty());
    assert!(stack.deliver(&writer, batch).await.is_empty());

    let (_, _, body) = stack.call(&token, get_journey("carol", "")).await;
    assert_eq!(ids(&body), ["once", "untimed"]);
}

#[tokio::test]
async fn producers_may_write_to_kinesis_directly_with_a_credential() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let mut fixture = cjaas_tests::fixture("tape-writer-kinesis.json");
    // The fixture's first record carries a placeholder credential: use a real one.
    let record = &mut fixture["Records"][0]["kinesis"];
    let mut data: Value = decode(record["data"].as_str().unwrap());
    data["credential"] = json!(token);
    record["data"] = json!(encode(&data));
    let failed = stack.deliver(&stack.writer(), fixture).await;
    assert!(failed.is_empty());

    let (_, _, body) = stack
        .call(&token, get_journey("alice@example.com", ""))
        .await;
    assert_eq!(ids(&body), ["kin-0001"]);
    // The fixture's second record has neither stamp nor credential: dead-lettered whole.
    let letters = stack.dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["code"], "missing_credential");
    assert_eq!(
        decode::<Value>(letters[0]["payload_base64"].as_str().unwrap())["event"]["id"],
        "kin-0002"
    );
}

#[tokio::test]
async fn records_that_can_never_be_written_are_dead_lettered_with_their_reason() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let read_only = stack.create_key(&token, &["tape:read"]).await;
    let valid = event("ok", "dave", "page.viewed", None);
    let forged_stamp = json!({"v": 1, "tenant": tenant, "received_at": "2026-11-23T10:00:00Z", "stamp": "test-1.AAAA", "event": valid});
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not json at all".to_vec(), "malformed_record"),
        (
            json!({"credential": token, "event": event("bad", "", "t", None)})
                .to_string()
                .into_bytes(),
            "invalid_person",
        ),
        (
            json!({"credential": "cjk_nobody_x_y", "event": valid})
                .to_string()
                .into_bytes(),
            "invalid_credential",
        ),
        (
            json!({"credential": read_only, "event": valid})
                .to_string()
                .into_bytes(),
            "insufficient_scope",
        ),
        (forged_stamp.to_string().into_bytes(), "bad_stamp"),
    ];
    for (data, _) in &cases {
        put_direct(&stack.sdk, &stack.stream, data).await;
    }
    assert!(
        stack.pump().await.is_empty(),
        "dead letters are not retried"
    );
    let mut codes: Vec<String> = stack
        .dead_letters()
        .await
        .iter()
        .map(|l| l["code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    let mut expected: Vec<&str> = cases.iter().map(|(_, c)| *c).collect();
    expected.sort();
    assert_eq!(codes, expected);
    let (_, _, body) = stack.call(&token, get_journey("dave", "")).await;
    assert_eq!(ids(&body), Vec::<String>::new());
}

#[tokio::test]
async fn an_unavailable_tape_hands_every_record_back_for_retry() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let events = [
        event("r1", "erin", "t", None),
        event("r2", "erin", "t", None),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    let sequence_numbers: Vec<String> = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap().to_owned())
        .collect();

    let broken = stack.writer_on("no-such-table");
    assert_eq!(
        stack.deliver(&broken, batch.clone()).await,
        sequence_numbers
    );
    assert!(
        stack.dead_letters().await.is_empty(),
        "a transient failure is not dead-lettered"
    );
    // The retry, once the table is back, writes everything.
    assert!(stack.deliver(&stack.writer(), batch).await.is_empty());
    let (_, _, body) = stack.call(&token, get_journey("erin", "")).await;
    assert_eq!(ids(&body), ["r1", "r2"]);
}

fn decode<T: serde::de::DeserializeOwned>(b64: &str) -> T {
    use base64::Engine;
    serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

fn encode(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value.to_string())
}
