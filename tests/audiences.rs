//! Audiences on the emulator (DynamoDB documents and Tape, Kinesis, EventBridge), through
//! the real API router and the real `orchestrator` handler: entering on events,
//! exiting by time and by a late event, an alias link, a backfill that fires no rule,
//! and an erasure that leaves no membership of the person in the config table.

use chrono::{Duration, Utc};
use cjaas_tests::{call, fixture, journey, post_batch, read_stream, Stack};
use http::StatusCode;
use serde_json::{json, Value};

fn event(person: &str, id: &str, ty: &str, data: Value, seconds_ago: i64) -> Value {
    let time = Utc::now() - Duration::seconds(seconds_ago);
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": person,
           "time": time, "data": data})
}

/// The Tape writer, then the orchestrator (rules, then audiences) on the whole stream,
/// then the Tape writer again for what the audiences appended.
async fn settle(stack: &Stack) {
    for _ in 0..2 {
        assert!(stack.pump().await.is_empty(), "nothing is handed back");
        let batch = read_stream(&stack.sdk, &stack.stream).await;
        let response = stack.orchestrate(batch).await;
        assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    }
    assert!(stack.pump().await.is_empty());
}

/// An audience message on the bus, as EventBridge hands it to the orchestrator.
fn message(detail_type: &str, detail: Value) -> Value {
    let mut payload = fixture("maintenance-erasure-requested.json");
    payload["source"] = json!("cjaas.audiences");
    payload["detail-type"] = json!(detail_type);
    payload["detail"] = detail;
    payload
}

async fn changes(
    stack: &Stack,
    token: &str,
    person: &str,
    audience: &str,
) -> Vec<(String, String)> {
    let (status, _, body) = stack.call(token, journey(person, "limit=100")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["audience"]["id"] == audience)
        .map(|e| {
            let ty = e["type"]
                .as_str()
                .unwrap()
                .trim_start_matches("cjaas.audience.");
            (
                ty.to_owned(),
                e["data"]["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn create(stack: &Stack, token: &str, tenant: &str, name: &str, when: Value) -> String {
    let body = json!({"name": name, "when": when});
    let (status, _, created) = stack
        .call(token, call("POST", "/v1/audiences", Some(body)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let detail = json!({"tenant": tenant, "audience": id, "version": 1});
    stack
        .orchestrate(message("AudienceBackfillRequested", detail))
        .await;
    id
}

enum Step {
    Events(Vec<Value>),
    /// An event made when the step runs: (person, id, type, seconds ago).
    Fresh(&'static str, &'static str, &'static str, i64),
    Wait(u64),
    Link(&'static str, &'static str),
}

#[tokio::test]
async fn audiences_keep_membership_on_dynamodb() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let pricing = |person: &str, n: usize| {
        event(
            person,
            &format!("{person}-{n}"),
            "page.viewed",
            json!({"path": "/pricing"}),
            60,
        )
    };
    let view = json!({"name": "spend", "attributes": [
        {"name": "ltv", "filter": {"type": "order.paid"}, "field": "/data/total", "aggregation": "sum"}]});
    let (_, _, view) = stack
        .call(&token, call("POST", "/v1/views", Some(view)))
        .await;
    let hesitators = create(&stack, &token, &tenant, "hesitators", json!({"all": [
        {"count": {"of": {"type": "page.viewed"}, "at_least": 2, "within": "7d"}},
        {"not": {"profile": {"view": view["id"], "attribute": "ltv", "op": "gte", "value": 100}}}]})).await;
    let recent = create(
        &stack,
        &token,
        &tenant,
        "recent",
        json!({"count": {"of": {"type": "ping"}, "at_least": 1, "within": "1m"}}),
    )
    .await;

    type Case = (
        &'static str,
        String,
        &'static str,
        Vec<(Step, Vec<(&'static str, &'static str)>)>,
    );
    let cases: Vec<Case> = vec![
        (
            "enters on the second view",
            hesitators.clone(),
            "ana",
            vec![
                (Step::Events(vec![pricing("ana", 1)]), vec![]),
                (
                    Step::Events(vec![pricing("ana", 2)]),
                    vec![("entered", "event")],
                ),
            ],
        ),
        (
            "exits by a late event",
            hesitators.clone(),
            "bo",
            vec![
                (
                    Step::Events(vec![pricing("bo", 1), pricing("bo", 2)]),
                    vec![("entered", "event")],
                ),
                (
                    Step::Events(vec![event(
                        "bo",
                        "late",
                        "order.paid",
                        json!({"total": 500}),
                        86_400,
                    )]),
                    vec![("entered", "event"), ("exited", "event")],
                ),
            ],
        ),
        (
            "exits by time",
            recent.clone(),
            "cy",
            vec![
                (
                    Step::Fresh("cy", "ping", "ping", 45),
                    vec![("entered", "event")],
                ),
                (
                    Step::Wait(16),
                    vec![("entered", "event"), ("exited", "time")],
                ),
            ],
        ),
        (
            "an alias link enters the group",
            hesitators.clone(),
            "dee",
            vec![
                (
                    Step::Events(vec![pricing("dee", 1), pricing("dee-cookie", 1)]),
                    vec![],
                ),
                (
                    Step::Link("dee", "dee-cookie"),
                    vec![("entered", "aliases")],
                ),
            ],
        ),
    ];
    for (name, audience, person, steps) in cases {
        for (i, (step, expected)) in steps.into_iter().enumerate() {
            match step {
                Step::Events(events) => {
                    let (status, _, body) = stack.call(&token, post_batch(&events)).await;
                    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
                }
                Step::Fresh(person, id, ty, seconds_ago) => {
                    let events = [event(person, id, ty, json!({}), seconds_ago)];
                    let (status, _, body) = stack.call(&token, post_batch(&events)).await;
                    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
                }
                Step::Wait(seconds) => {
                    tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
                    let mut tick = fixture("orchestrator-audience-checks.json");
                    tick["time"] = json!(Utc::now());
                    let response = stack.orchestrate(tick).await;
                    assert_eq!(response["exited"], 1, "{response}");
                }
                Step::Link(person, alias) => {
                    let link = json!({"aliases": [alias]});
                    let path = format!("/v1/persons/{person}/aliases");
                    let (status, _, body) =
                        stack.call(&token, call("POST", &path, Some(link))).await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                    let detail = json!({"tenant": tenant, "persons": [person, alias]});
                    stack.orchestrate(message("AliasesChanged", detail)).await;
                }
            }
            settle(&stack).await;
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            assert_eq!(
                changes(&stack, &token, person, &audience).await,
                expected,
                "{name}, step {i}"
            );
        }
    }

    // Reads on DynamoDB.
    let path = format!("/v1/audiences/{hesitators}/members");
    let (status, _, members) = stack.call(&token, call("GET", &path, None)).await;
    assert_eq!(status, StatusCode::OK, "{members}");
    let listed: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["ana", "dee"], "{members}");
    let (_, _, size) = stack
        .call(
            &token,
            call("GET", &format!("/v1/audiences/{hesitators}/size"), None),
        )
        .await;
    assert_eq!(
        size["series"].as_array().unwrap().last().unwrap()["size"],
        2,
        "{size}"
    );

    // A backfill: a person already on the Tape enters, and a rule on entering does not
    // fire for it.
    let rule = json!({"name": "welcome", "when": {"event": {"type": "cjaas.audience.entered"}},
        "actions": [{"type": "publish", "name": "welcome"}]});
    let (status, _, rule) = stack
        .call(&token, call("POST", "/v1/rules", Some(rule)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    let docs: Vec<Value> = (1..=2)
        .map(|n| event("eve", &format!("doc-{n}"), "doc.read", json!({}), 30))
        .collect();
    stack.call(&token, post_batch(&docs)).await;
    settle(&stack).await;
    let readers = create(
        &stack,
        &token,
        &tenant,
        "readers",
        json!({"count": {"of": {"type": "doc.read"}, "at_least": 2, "within": "7d"}}),
    )
    .await;
    let (_, _, status) = stack
        .call(
            &token,
            call("GET", &format!("/v1/audiences/{readers}/status"), None),
        )
        .await;
    assert_eq!(
        (status["state"].as_str(), &status["entered"]),
        (Some("done"), &json!(1)),
        "{status}"
    );
    settle(&stack).await;
    assert_eq!(
        changes(&stack, &token, "eve", &readers).await,
        [("entered".to_owned(), "backfill".to_owned())]
    );
    let deliveries = format!("/v1/rules/{}/deliveries", rule["id"].as_str().unwrap());
    let (_, _, log) = stack.call(&token, call("GET", &deliveries, None)).await;
    let fired_for: Vec<&str> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["person"].as_str().unwrap())
        .collect();
    assert!(
        !fired_for.contains(&"eve"),
        "a backfill fires no rule: {log}"
    );

    // Erasure reaches the memberships.
    let (status, _, job) = stack
        .call(&token, call("DELETE", "/v1/persons/ana", None))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let mut requested = fixture("maintenance-erasure-requested.json");
    requested["detail"] = json!({"tenant": tenant, "job": job["id"]});
    let done = stack.maintain(requested).await.unwrap();
    assert!(
        done["erasure"]["removed"]["audience_memberships"]
            .as_u64()
            .unwrap()
            >= 1,
        "{done}"
    );
    let config = stack.dump_table(&stack.config_table).await;
    assert!(
        !config.contains("\"ana\"") && !config.contains("#ana"),
        "the config table still names the person"
    );
}
