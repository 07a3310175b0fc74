//! Quiet hours on the emulator: the policy in DynamoDB, the `orchestrator` handler
//! on a real Kinesis batch holds, drops or lets through each rule's firing in the
//! person's zone (Tokyo, from a profile attribute) or the default (UTC), and its
//! `timers` schedule, given a time after the quiet period, publishes the held firing
//! on the bus once, with the same action id, even when two runs race.

use chrono::{DateTime, Duration, Utc};
use cjaas_tests::{
    call, fixture, post_batch, read_stream, receive, receive_briefly, rule_to_queue, Stack,
};
use http::StatusCode;
use serde_json::{json, Value};

fn event(id: &str, ty: &str, person: &str, data: Value, seconds_ago: i64) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/shop", "type": ty, "person": person,
           "time": Utc::now() - Duration::seconds(seconds_ago), "data": data})
}

/// `now + offset` on Tokyo's wall clock (UTC+9, no daylight saving), `HH:MM:SS`.
fn tokyo(offset: Duration) -> String {
    (Utc::now() + Duration::hours(9) + offset)
        .format("%H:%M:%S")
        .to_string()
}

/// The names of the published actions in `messages`, with their persons, sorted.
fn published(messages: &[Value]) -> Vec<(String, String)> {
    let mut names: Vec<_> = messages
        .iter()
        .map(|m| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&m["detail"]["action"]["name"]),
                text(&m["detail"]["person"]),
            )
        })
        .collect();
    names.sort();
    names
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[tokio::test]
async fn quiet_hours_hold_drop_and_release_on_dynamodb_and_the_bus() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let queue = rule_to_queue(&stack.sdk, &stack.bus, json!({"source": ["cjaas.actions"]})).await;

    // Invalid quiet hours are refused, field by field, and nothing is stored.
    let bad =
        json!({"quiet_hours": {"start": "21:00", "end": "8", "default_time_zone": "Nowhere/Land"}});
    let (status, _, problem) = stack
        .call(&token, call("PUT", "/v1/orchestration/policy", Some(bad)))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_rule")),
        "{problem}"
    );
    let codes: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| pair(e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            pair("quiet_hours/end", "invalid_time"),
            pair("quiet_hours/default_time_zone", "unknown_time_zone")
        ]
    );

    let view = json!({"name": "zone", "attributes": [
        {"name": "tz", "filter": {"type": "profile.updated"}, "field": "/data/tz", "aggregation": "latest"}]});
    let (status, _, view) = stack
        .call(&token, call("POST", "/v1/views", Some(view)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    // Quiet in Tokyo for the next hour; not in UTC, nine hours behind.
    let policy = json!({"quiet_hours": {"start": tokyo(Duration::minutes(-5)), "end": tokyo(Duration::hours(1)),
        "time_zone": {"view": view["id"], "attribute": "tz"}}});
    let (status, _, stored) = stack
        .call(
            &token,
            call("PUT", "/v1/orchestration/policy", Some(policy)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["quiet_hours"]["default_time_zone"], "UTC");

    let mut rules = Vec::new();
    for choice in ["hold", "drop", "ignore"] {
        let rule = json!({"name": choice, "quiet_hours": choice,
            "when": {"event": {"type": "order.placed"}},
            "actions": [{"type": "publish", "name": choice}]});
        let (status, _, created) = stack
            .call(&token, call("POST", "/v1/rules", Some(rule)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        rules.push(created["id"].as_str().unwrap().to_owned());
    }

    // ana's profile says Tokyo; bob has no zone, so the default (UTC) applies.
    let events = [
        event(
            "tz-ana",
            "profile.updated",
            "ana",
            json!({"tz": "Asia/Tokyo"}),
            60,
        ),
        event("order-ana", "order.placed", "ana", json!({}), 1),
        event("order-bob", "order.placed", "bob", json!({}), 1),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    assert!(stack
        .deliver(&stack.writer(), batch.clone())
        .await
        .is_empty());
    let done = stack.orchestrate(batch).await;
    assert_eq!(done["batchItemFailures"], json!([]), "{done}");

    let now = receive(&stack.sdk, &queue, 4).await;
    assert_eq!(
        published(&now),
        [
            pair("drop", "bob"),
            pair("hold", "bob"),
            pair("ignore", "ana"),
            pair("ignore", "bob")
        ]
    );
    assert!(receive_briefly(&stack.sdk, &queue).await.is_empty());

    let log = |rule: &str| format!("/v1/rules/{rule}/deliveries");
    let firing_of = |log: &Value, person: &str| -> Value {
        log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["person"] == person)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let (_, _, dropped) = stack.call(&token, call("GET", &log(&rules[1]), None)).await;
    let dropped = firing_of(&dropped, "ana");
    assert_eq!(dropped["actions"][0]["status"], "dropped", "{dropped}");
    assert_eq!(dropped["quiet_hours"]["reason"], "quiet_hours");
    let (_, _, held) = stack.call(&token, call("GET", &log(&rules[0]), None)).await;
    assert_eq!(firing_of(&held, "bob")["quiet_hours"], Value::Null);
    let held = firing_of(&held, "ana");
    assert_eq!(held["actions"][0]["status"], "held", "{held}");
    assert_eq!(held["quiet_hours"]["time_zone"], "Asia/Tokyo", "{held}");
    let release_at: DateTime<Utc> =
        serde_json::from_value(held["quiet_hours"]["release_at"].clone()).unwrap();
    assert!(release_at > Utc::now() + Duration::minutes(50), "{held}");

    // Before the release nothing is published; after it, two racing runs publish once.
    let mut schedule = fixture("orchestrator-schedule.json");
    schedule["time"] = json!(Utc::now());
    assert_eq!(
        stack.orchestrate(schedule.clone()).await["held_released"],
        0
    );
    schedule["time"] = json!(release_at + Duration::seconds(1));
    let (a, b) = tokio::join!(
        stack.orchestrate(schedule.clone()),
        stack.orchestrate(schedule.clone())
    );
    assert_eq!(
        a["held_released"].as_u64().unwrap() + b["held_released"].as_u64().unwrap(),
        1,
        "{a} {b}"
    );
    let released = receive(&stack.sdk, &queue, 1).await;
    assert_eq!(published(&released), [pair("hold", "ana")]);
    let detail = &released[0]["detail"];
    assert_eq!(
        detail["action_id"].as_str().unwrap(),
        format!("{}.0", held["id"].as_str().unwrap())
    );
    assert_eq!(detail["fired_at"], held["fired_at"]);
    assert_eq!(detail["triggering_event"]["id"], "order-ana");
    assert_eq!(stack.orchestrate(schedule).await["held_released"], 0);
    assert!(receive_briefly(&stack.sdk, &queue).await.is_empty());

    // The actions handler records it in the same firing.
    assert_eq!(
        stack.act(released[0].clone()).await.unwrap()["outcome"],
        "published"
    );
    let (_, _, after) = stack.call(&token, call("GET", &log(&rules[0]), None)).await;
    let after = firing_of(&after, "ana");
    assert_eq!(after["actions"][0]["status"], "published", "{after}");
    assert_eq!(after["id"], held["id"]);
}
