use super::*;
use crate::event::validate_raw;
use std::io::Write;

fn now() -> DateTime<Utc> {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn map(body: Value, route: Route) -> Result<Vec<Mapped>, SegmentError> {
    let payload = parse_payload(body.to_string().as_bytes(), route)?;
    map_payload(payload, now())
}

fn one(body: Value, route: Route) -> Value {
    let mapped = map(body, route).unwrap();
    assert_eq!(mapped.len(), 1);
    serde_json::from_str(&mapped[0].event).unwrap()
}

fn codes(error: SegmentError) -> Vec<(usize, &'static str)> {
    match error {
        SegmentError::InvalidMessages(problems) => {
            problems.iter().map(|p| (p.index, p.code)).collect()
        }
        other => panic!("expected invalid messages, got {other:?}"),
    }
}

#[test]
fn track_maps_to_a_cloudevent_named_after_the_event() {
    let event = one(
        json!({"userId": "u1", "anonymousId": "a1", "event": "Order Completed",
               "messageId": "m-1", "properties": {"total": 42}, "writeKey": "secret"}),
        Route::Single(Call::Track),
    );
    assert_eq!(event["id"], "m-1");
    assert_eq!(event["source"], SOURCE);
    assert_eq!(event["type"], "Order Completed");
    assert_eq!(
        event["person"], "u1",
        "the userId wins over the anonymousId"
    );
    assert_eq!(event["data"]["properties"]["total"], 42);
    assert_eq!(event["data"]["type"], "track");
    assert!(
        event["data"].get("writeKey").is_none(),
        "credentials never reach the Tape"
    );
    let valid = validate_raw(0, &event.to_string(), now()).unwrap();
    assert_eq!(valid.time, now(), "no timestamp: the receive time");
}

#[test]
fn other_calls_are_typed_by_the_call_and_fall_back_to_the_anonymous_id() {
    for call in [Call::Identify, Call::Page, Call::Screen, Call::Group] {
        let event = one(
            json!({"anonymousId": "a1", "messageId": "m"}),
            Route::Single(call),
        );
        assert_eq!(
            (event["type"].as_str(), event["person"].as_str()),
            (Some(call.as_str()), Some("a1"))
        );
    }
    let batch = map(
        json!({"batch": [
            {"type": "page", "userId": "u", "messageId": "1"},
            {"type": "track", "event": "Clicked", "userId": "u", "messageId": "2"},
            {"type": "alias", "userId": "u", "previousId": "old", "messageId": "3"}
        ]}),
        Route::Batch,
    )
    .unwrap();
    let types: Vec<Value> = batch
        .iter()
        .map(|m| serde_json::from_str::<Value>(&m.event).unwrap()["type"].clone())
        .collect();
    assert_eq!(types, [json!("page"), json!("Clicked"), json!("alias")]);
}

#[test]
fn clock_skew_is_corrected_from_sent_at() {
    // The device clock is 1 hour fast: it says it sent at 11:00:05 what happened at
    // 11:00:00, and the server received it at 10:00:00.
    let event = one(
        json!({"batch": [{"type": "track", "event": "e", "userId": "u", "messageId": "m",
                          "timestamp": "2026-11-23T11:00:00Z"}],
               "sentAt": "2026-11-23T11:00:05Z"}),
        Route::Batch,
    );
    assert_eq!(event["time"], "2026-11-23T09:59:55Z");
    // A message's own sentAt wins over the batch's.
    let event = one(
        json!({"batch": [{"type": "track", "event": "e", "userId": "u", "messageId": "m",
                          "timestamp": "2026-11-23T11:00:00.250Z", "sentAt": "2026-11-23T11:00:01Z"}],
               "sentAt": "2026-11-23T12:00:00Z"}),
        Route::Batch,
    );
    assert_eq!(event["time"], "2026-11-23T09:59:59.250Z");
    // Without sentAt, the timestamp is taken as is (historical imports).
    let event = one(
        json!({"userId": "u", "event": "e", "messageId": "m", "timestamp": "2020-01-01T00:00:00+02:00"}),
        Route::Single(Call::Track),
    );
    assert_eq!(event["time"], "2019-12-31T22:00:00Z");
    assert_eq!(
        corrected_time(now(), Some(now()), None),
        Ok(None),
        "no timestamp: the receive time applies"
    );
}

#[test]
fn a_corrected_time_outside_the_tape_years_is_time_out_of_range() {
    // A clock 3,665 years fast puts the corrected time before the year 0.
    let skewed = json!({"batch": [{"type": "page", "userId": "u", "messageId": "m",
                                   "timestamp": "0034-10-05T19:01:17.1-02:53",
                                   "sentAt": "3699-07-11T16:39:53.702Z"}]});
    assert_eq!(
        codes(map(skewed, Route::Batch).unwrap_err()),
        [(0, "time_out_of_range")]
    );
    let ancient = json!({"userId": "u", "timestamp": "0433-10-27T00:09:54.0Z"});
    assert_eq!(
        codes(map(ancient, Route::Single(Call::Page)).unwrap_err()),
        [(0, "time_out_of_range")]
    );
    // Only the event time's year is checked: an old clock that sent at once gives now.
    let old_clock = json!({"userId": "u", "timestamp": "0500-01-01T00:00:00Z",
                           "sentAt": "0500-01-01T00:00:00Z"});
    assert_eq!(
        one(old_clock, Route::Single(Call::Page))["time"],
        now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
}

#[test]
fn identify_and_alias_link_ids_softly() {
    let mapped = map(
        json!({"batch": [
            {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "1"},
            {"type": "identify", "userId": "u1", "messageId": "2"},
            {"type": "alias", "userId": "u1", "previousId": "old", "messageId": "3"},
            {"type": "identify", "userId": "same", "anonymousId": "same", "messageId": "4"},
            {"type": "track", "event": "e", "userId": "u1", "anonymousId": "a2", "messageId": "5"}
        ]}),
        Route::Batch,
    )
    .unwrap();
    let link = |p: &str, a: &str| {
        Some(Link {
            person: PersonId::parse(p).unwrap(),
            alias: PersonId::parse(a).unwrap(),
        })
    };
    let links: Vec<_> = mapped.iter().map(|m| m.link.clone()).collect();
    assert_eq!(
        links,
        [link("u1", "a1"), None, link("u1", "old"), None, None]
    );
}

#[test]
fn every_bad_message_is_named_by_index() {
    let error = map(
        json!({"batch": [
            {"type": "track", "event": "ok", "userId": "u", "messageId": "ok"},
            {"type": "track", "event": "e", "messageId": "1"},
            {"type": "track", "userId": "u"},
            {"type": "bogus", "userId": "u"},
            {"type": "alias", "userId": "u"},
            {"type": "page", "userId": "u", "timestamp": "yesterday"},
            {"type": "page", "userId": {"nested": true}},
            "not an object",
            {"type": "page", "userId": "u", "properties": {"blob": "x".repeat(MAX_MESSAGE_BYTES)}}
        ]}),
        Route::Batch,
    )
    .unwrap_err();
    assert_eq!(
        codes(error),
        [
            (1, "missing_identity"),
            (2, "missing_event"),
            (3, "invalid_type"),
            (4, "missing_previous_id"),
            (5, "invalid_timestamp"),
            (6, "invalid_identity"),
            (7, "invalid_message"),
            (8, "message_too_large"),
        ]
    );
}

#[test]
fn request_level_problems_come_first() {
    assert_eq!(
        parse_payload(b"{\"batch\": [", Route::Batch)
            .unwrap_err()
            .code(),
        "malformed_json"
    );
    assert_eq!(
        parse_payload(b"{\"batch\": {}}", Route::Batch)
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    assert_eq!(
        parse_payload(b"{\"batch\": []}", Route::Batch).unwrap_err(),
        SegmentError::EmptyBatch
    );
    for defaults in [r#""context": []"#, r#""integrations": "all""#] {
        let body = format!(r#"{{"batch": [{{"type": "page", "userId": "u"}}], {defaults}}}"#);
        assert_eq!(
            parse_payload(body.as_bytes(), Route::Batch)
                .unwrap_err()
                .code(),
            "invalid_request",
            "{defaults}"
        );
    }
    let nulls =
        br#"{"batch": [{"type": "page", "userId": "u"}], "context": null, "integrations": null}"#;
    assert!(parse_payload(nulls, Route::Batch).is_ok(), "null is absent");
    let huge = vec![b' '; MAX_BATCH_BYTES + 1];
    assert_eq!(
        parse_payload(&huge, Route::Batch).unwrap_err(),
        SegmentError::BatchTooLarge
    );
    let bad_original =
        json!({"userId": "u", "timestamp": "2026-11-23T10:00:00Z", "originalTimestamp": ""});
    assert_eq!(
        codes(map(bad_original, Route::Single(Call::Page)).unwrap_err()),
        [(0, "invalid_timestamp")],
        "both timestamps are checked, though timestamp wins"
    );
    let big_single = json!({"userId": "u", "event": "e", "p": "x".repeat(MAX_MESSAGE_BYTES)});
    assert_eq!(
        codes(map(big_single, Route::Single(Call::Track)).unwrap_err()),
        [(0, "message_too_large")]
    );
}

#[test]
fn the_write_key_is_read_from_the_body_and_the_batch_context_is_a_default() {
    let payload = parse_payload(
        json!({"batch": [{"type": "page", "userId": "u", "messageId": "1",
                          "context": {"ip": "own"}}],
               "writeKey": "cjk_acme_id_secret",
               "context": {"ip": "batch", "library": {"name": "x"}}})
        .to_string()
        .as_bytes(),
        Route::Batch,
    )
    .unwrap();
    assert_eq!(payload.write_key.as_deref(), Some("cjk_acme_id_secret"));
    let event: Value =
        serde_json::from_str(&map_payload(payload, now()).unwrap()[0].event).unwrap();
    assert_eq!(
        event["data"]["context"],
        json!({"ip": "own", "library": {"name": "x"}})
    );
    let single = parse_payload(
        br#"{"writeKey": "k", "userId": "u"}"#,
        Route::Single(Call::Page),
    )
    .unwrap();
    assert_eq!(single.write_key.as_deref(), Some("k"));
}

#[test]
fn a_message_without_message_id_gets_a_stable_derived_one() {
    let body = |sent_at: &str| {
        json!({"batch": [{"type": "track", "event": "e", "userId": "u", "properties": {"b": 1, "a": 2},
                          "timestamp": "2026-11-23T09:00:00Z"}],
               "sentAt": sent_at})
    };
    let first = one(body("2026-11-23T09:00:01Z"), Route::Batch);
    let resent = one(body("2026-11-23T09:05:00Z"), Route::Batch);
    assert_eq!(first["id"], resent["id"], "a resend dedups");
    assert!(first["id"].as_str().unwrap().starts_with("cjaas-"));
    let other = one(
        json!({"batch": [{"type": "track", "event": "e", "userId": "u", "properties": {"b": 1, "a": 3},
                          "timestamp": "2026-11-23T09:00:00Z"}]}),
        Route::Batch,
    );
    assert_ne!(first["id"], other["id"]);
}

#[test]
fn an_empty_message_id_counts_as_none() {
    let track = |message_id: Value| {
        let body = json!({"userId": "u", "event": "e", "messageId": message_id,
                          "timestamp": "2026-11-23T09:00:00Z"});
        one(body, Route::Single(Call::Track))["id"].clone()
    };
    let empty = track(json!(""));
    assert!(empty.as_str().unwrap().starts_with("cjaas-"));
    assert_eq!(empty, track(json!("")), "a resend dedups");
    assert_eq!(track(json!(" ")), " ", "only \"\" is empty");
}

#[test]
fn gzip_bodies_inflate_within_the_limit() {
    let zip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    assert_eq!(gunzip(&zip(b"{\"a\":1}")).unwrap(), b"{\"a\":1}");
    let bomb = zip(&vec![b' '; MAX_BATCH_BYTES + 1]);
    assert!(bomb.len() < 10_000);
    assert_eq!(gunzip(&bomb).unwrap_err(), SegmentError::BatchTooLarge);
    assert_eq!(gunzip(b"plain").unwrap_err().code(), "invalid_gzip");
}
