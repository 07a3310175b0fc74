//! Audiences on the emulator (DynamoDB documents and Tape, Kinesis, EventBridge), through
//! the real API router and the real `orchestrator` handler: entering on events,
//! exiting by time and by a late event, alias links, unlinks and `identify` calls
//! (their `AliasesChanged` taken off the bus as the functions published it), a
//! backfill that fires no rule, an erasure that leaves no membership of the person in
//! the config table, a deletion that exits every member once, and stalled jobs.

use base64::Engine;
use chrono::{Duration, Utc};
use cjaas_aws::lambda::with_authorizer_principal;
use cjaas_tests::{
    call, call_with_context, fixture, journey, post_batch, read_stream, receive, request,
    rule_to_queue, Stack,
};
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
    Unlink(&'static str, &'static str),
    /// A Segment `identify` (user id, anonymous id) through the `ingest` function.
    Identify(&'static str, &'static str),
}

/// A queue the bus fills with every `AliasesChanged`, as the orchestrator's rule is.
async fn alias_changes(stack: &Stack) -> String {
    let pattern = json!({"source": ["cjaas.audiences"], "detail-type": ["AliasesChanged"]});
    rule_to_queue(&stack.sdk, &stack.bus, pattern).await
}

/// Hands the `AliasesChanged` a function published on the bus to the orchestrator.
async fn relay_alias_changes(stack: &Stack, queue: &str, persons: [&str; 2]) {
    let messages = receive(&stack.sdk, queue, 1).await;
    let announced = messages.iter().any(|m| {
        let named = &m["detail"]["persons"];
        persons
            .iter()
            .all(|p| named.as_array().unwrap().contains(&json!(p)))
    });
    assert!(announced, "no AliasesChanged for {persons:?}: {messages:?}");
    for message in messages {
        let response = stack.orchestrate(message).await;
        assert!(response.get("errorType").is_none(), "{response}");
    }
}

/// `POST /v1/identify` with a write key, through the `ingest` function as the
/// template configures it.
async fn identify(stack: &Stack, write_key: &str, user: &str, anonymous: &str) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{write_key}:"));
    let body = json!({"userId": user, "anonymousId": anonymous, "messageId": format!("id-{user}")});
    let headers =
        json!({"content-type": "application/json", "authorization": format!("Basic {basic}")});
    let payload = request(
        "ingest-batch.json",
        "POST",
        "/v1/identify",
        headers,
        Some(body.to_string()),
    );
    let (status, _, body) = call_with_context(&stack.ingest_api(), payload, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
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
            "an alias link enters the group, an unlink leaves",
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
                (
                    Step::Unlink("dee", "dee-cookie"),
                    vec![("entered", "aliases"), ("exited", "aliases")],
                ),
            ],
        ),
        (
            "an identify through the ingest function enters the group",
            hesitators.clone(),
            "fay",
            vec![
                (
                    Step::Events(vec![pricing("fay", 1), pricing("fay-anon", 1)]),
                    vec![],
                ),
                (
                    Step::Identify("fay", "fay-anon"),
                    vec![("entered", "aliases")],
                ),
            ],
        ),
    ];
    let aliases = alias_changes(&stack).await;
    let write_key = stack.create_key(&token, &["events:write"]).await;
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
                    relay_alias_changes(&stack, &aliases, [person, alias]).await;
                }
                Step::Unlink(person, alias) => {
                    let path = format!("/v1/persons/{person}/aliases/{alias}");
                    let (status, _, body) = stack.call(&token, call("DELETE", &path, None)).await;
                    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
                    relay_alias_changes(&stack, &aliases, [person, alias]).await;
                }
                Step::Identify(user, anonymous) => {
                    // The link is announced before its event is on the Tape.
                    identify(&stack, &write_key, user, anonymous).await;
                    relay_alias_changes(&stack, &aliases, [user, anonymous]).await;
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
    assert_eq!(listed, ["ana", "fay"], "{members}");
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

#[tokio::test]
async fn deleting_an_audience_exits_every_member_once_on_dynamodb() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let pattern = json!({"source": ["cjaas.audiences"], "detail-type": ["AudienceMembershipChanged"],
                         "detail": {"change": ["exited"]}});
    let exits = rule_to_queue(&stack.sdk, &stack.bus, pattern).await;
    let viewers = create(
        &stack,
        &token,
        &tenant,
        "viewers",
        json!({"count": {"of": {"type": "page.viewed"}, "at_least": 1, "within": "7d"}}),
    )
    .await;
    let persons = ["gil", "hal"];
    let views: Vec<Value> = persons
        .iter()
        .map(|p| event(p, &format!("{p}-1"), "page.viewed", json!({}), 30))
        .collect();
    stack.call(&token, post_batch(&views)).await;
    settle(&stack).await;
    for person in persons {
        assert_eq!(
            changes(&stack, &token, person, &viewers).await,
            [("entered".to_owned(), "event".to_owned())]
        );
    }

    // Through the `audiences` function's routes, on the resources the template gives it.
    let audiences = stack
        .wiring_of("AudiencesFunction")
        .audience_router()
        .expect("the audiences function has what a deletion needs");
    let path = format!("/v1/audiences/{viewers}");
    let audiences = with_authorizer_principal(audiences);
    let context = stack.authorize(&token).await;
    let (status, _, body) =
        call_with_context(&audiences, call("DELETE", &path, None), context).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    settle(&stack).await;
    for person in persons {
        assert_eq!(
            changes(&stack, &token, person, &viewers).await,
            [
                ("entered".to_owned(), "event".to_owned()),
                ("exited".to_owned(), "audience_deleted".to_owned())
            ]
        );
    }
    // On the bus, once each, with the ids of the Tape's events.
    let published = receive(&stack.sdk, &exits, 2).await;
    let mut named: Vec<(&str, &str)> = published
        .iter()
        .map(|m| {
            assert_eq!(m["detail"]["backfill"], false, "{m}");
            (
                m["detail"]["person"].as_str().unwrap(),
                m["detail"]["reason"].as_str().unwrap(),
            )
        })
        .collect();
    named.sort();
    assert_eq!(
        named,
        [("gil", "audience_deleted"), ("hal", "audience_deleted")]
    );
    let (_, _, journey_body) = stack.call(&token, journey("gil", "limit=100")).await;
    let exit_id = journey_body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "cjaas.audience.exited")
        .map(|e| e["id"].clone())
        .unwrap();
    assert!(published
        .iter()
        .any(|m| m["detail"]["change_id"] == exit_id));
    for read in ["", "/members", "/status", "/versions/1"] {
        let (status, _, body) = stack
            .call(&token, call("GET", &format!("{path}{read}"), None))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("audience_not_found")),
            "{read}: {body}"
        );
    }
    let (status, _, _) = stack.call(&token, call("DELETE", &path, None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let config = stack.dump_table(&stack.config_table).await;
    assert!(
        !config.contains(&format!("AUDM#{viewers}")),
        "membership rows left"
    );
    assert!(
        !config.contains("AUDDELETED"),
        "the deletion did not finish"
    );
}

#[tokio::test]
async fn the_sweep_marks_a_crashed_workers_jobs_on_dynamodb() {
    use cjaas_app::wiring::Adapters;
    use cjaas_core::ports::{DocumentStore, Expect};
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let viewers = create(
        &stack,
        &token,
        &tenant,
        "viewers",
        json!({"count": {"of": {"type": "page.viewed"}, "at_least": 1, "within": "7d"}}),
    )
    .await;
    let rule = json!({"name": "r", "when": {"event": {"type": "page.viewed"}},
        "actions": [{"type": "publish", "name": "x"}]});
    let (_, _, rule) = stack
        .call(&token, call("POST", "/v1/rules", Some(rule)))
        .await;
    let now = Utc::now();
    let window = json!({"from": now - Duration::days(1), "to": now});
    let path = format!("/v1/rules/{}/backtest", rule["id"].as_str().unwrap());
    let (status, _, job) = stack.call(&token, call("POST", &path, Some(window))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let job_id = job["id"].as_str().unwrap();

    // As a worker that timed out mid-run leaves them: running, no heartbeat for an hour.
    let docs: std::sync::Arc<dyn DocumentStore> = stack.wiring().0.docs().unwrap();
    let hour_ago = json!(Utc::now() - Duration::hours(1));
    for (pk, sk, state) in [
        (
            format!("T#{tenant}#BACKTESTS"),
            job_id,
            ("status", "running"),
        ),
        (
            format!("T#{tenant}#AUDSTATUS"),
            viewers.as_str(),
            ("state", "running"),
        ),
    ] {
        let document = docs.get(&pk, sk).await.unwrap().unwrap();
        let mut body: Value = serde_json::from_str(&document.body).unwrap();
        body[state.0] = json!(state.1);
        body["started_at"] = hour_ago.clone();
        body["heartbeat_at"] = hour_ago.clone();
        let expect = Expect::Revision(document.revision);
        assert!(docs.put(&pk, sk, &body.to_string(), expect).await.unwrap());
    }

    // The maintenance function's schedule, as the template gives it.
    let report = stack.maintain(json!({"job": "sweep"})).await.unwrap();
    assert_eq!(
        (&report["backtests_stalled"], &report["backfills_stalled"]),
        (&json!(1), &json!(1)),
        "{report}"
    );
    let (_, _, failed) = stack
        .call(
            &token,
            call("GET", &format!("/v1/backtests/{job_id}"), None),
        )
        .await;
    assert_eq!(
        (failed["status"].as_str(), failed["reason"].as_str()),
        (Some("failed"), Some("stalled")),
        "{failed}"
    );
    let status_path = format!("/v1/audiences/{viewers}/status");
    let (_, _, status) = stack.call(&token, call("GET", &status_path, None)).await;
    assert_eq!(
        (
            status["state"].as_str(),
            status["reason"].as_str(),
            &status["stalls"]
        ),
        (Some("failed"), Some("stalled"), &json!(1)),
        "{status}"
    );
    // A second sweep finds nothing more; the backfill schedule runs the backfill again.
    let again = stack.maintain(json!({"job": "sweep"})).await.unwrap();
    assert_eq!(again["backtests_stalled"], 0, "{again}");
    let mut tick = fixture("orchestrator-audience-checks.json");
    tick["job"] = json!("audience_backfills");
    let resumed = stack.orchestrate(tick).await;
    assert!(resumed.get("failures").is_none(), "{resumed}");
    let (_, _, status) = stack.call(&token, call("GET", &status_path, None)).await;
    assert_eq!(status["state"], "done", "{status}");
}
