//! Audiences on the embedded default, over real HTTP against the real binary:
//! entering on events, exiting by time and by a late event, alias links and unlinks,
//! a backfill that fires no rule, the reads (members, a person's audiences, the size
//! series, the backfill status), the live stream, and erasure leaving no byte of the
//! person in the data folder.

mod common;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

use common::{start, Server};

async fn send(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    server.send(method, path, body).await
}

fn event(person: &str, id: &str, ty: &str, data: Value, seconds_ago: i64) -> Value {
    let time = chrono::Utc::now() - chrono::Duration::seconds(seconds_ago);
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": person,
           "time": time, "data": data})
}

fn pricing(person: &str, n: usize) -> Value {
    event(
        person,
        &format!("{person}-pricing-{n}"),
        "page.viewed",
        json!({"path": "/pricing"}),
        60,
    )
}

async fn post_events(server: &Server, events: Vec<Value>) {
    let (status, body) = send(server, "POST", "/v1/events", Some(Value::Array(events))).await;
    assert_eq!(status, 202, "{body}");
}

/// The person's Tape, oldest first.
async fn tape(server: &Server, person: &str) -> Vec<Value> {
    let (status, body) = send(
        server,
        "GET",
        &format!("/v1/persons/{person}/events?limit=100"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().cloned().unwrap_or_default()
}

/// The audience's changes on the person's Tape: (type, reason).
async fn changes(server: &Server, person: &str, audience: &str) -> Vec<(String, String)> {
    tape(server, person)
        .await
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

async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(40);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_audience(server: &Server, name: &str, when: Value) -> String {
    let (status, body) = send(
        server,
        "POST",
        "/v1/audiences",
        Some(json!({"name": name, "when": when})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 1);
    body["id"].as_str().unwrap().to_owned()
}

async fn wait_backfilled(server: &Server, audience: &str, version: u64) -> Value {
    wait_for(
        server,
        &format!("/v1/audiences/{audience}/status"),
        |status| status["state"] == "done" && status["version"] == version,
    )
    .await
}

/// Polls `GET path` until `done` holds for its body.
async fn wait_for(server: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (status, body) = send(server, "GET", path, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "timed out on {path}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

enum Step {
    Events(Vec<Value>),
    Link(&'static str, &'static str),
    Unlink(&'static str, &'static str),
    /// A Segment `identify` with a user id and an anonymous id, with a write key.
    Identify(&'static str, &'static str),
}

/// Whether the changes are the expected ones; a `*` reason matches any (an
/// `identify` is both an event and a link, and either may evaluate the group first).
fn matches(got: &[(String, String)], expected: &[(&str, &str)]) -> bool {
    got.len() == expected.len()
        && got
            .iter()
            .zip(expected)
            .all(|((ty, reason), (want_ty, want_reason))| {
                ty == want_ty && (reason == want_reason || *want_reason == "*")
            })
}

/// A write key, minted with the API key the first start printed.
async fn write_key(server: &Server) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/keys", server.base))
        .bearer_auth(
            server
                .first_key
                .as_ref()
                .expect("the first start prints a key"),
        )
        .json(&json!({"scopes": ["events:write"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let key: Value = response.json().await.unwrap();
    key["token"].as_str().unwrap().to_owned()
}

/// (name, audience, person, steps, the changes each step must have made by then)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(Step, Vec<(&'static str, &'static str)>)>,
);

#[tokio::test]
async fn audiences_enter_exit_follow_aliases_and_backfill_without_firing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());

    // Refused definitions name every reason.
    let (status, bad) = send(
        &server,
        "POST",
        "/v1/audiences",
        Some(json!({"name": "x", "when": {"all": [
        {"event": {"type": "a"}},
        {"profile": {"view": "view-missing", "attribute": "x", "op": "exists"}}]}})),
    )
    .await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (422, Some("invalid_audience")),
        "{bad}"
    );
    assert_eq!(bad["errors"][0]["field"], "when/all/0/event", "{bad}");
    assert_eq!(bad["errors"][0]["code"], "not_for_audiences", "{bad}");

    let view = json!({"name": "spend", "attributes": [
        {"name": "ltv", "filter": {"type": "order.paid"}, "field": "/data/total", "aggregation": "sum"}]});
    let (status, view) = send(&server, "POST", "/v1/views", Some(view)).await;
    assert_eq!(status, 201, "{view}");
    let view = view["id"].as_str().unwrap().to_owned();
    let pricing_views = json!({"count": {"of": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}, "at_least": 3, "within": "7d"}});
    let hesitators = create_audience(
        &server,
        "pricing hesitators",
        json!({"all": [
        pricing_views,
        {"not": {"profile": {"view": view, "attribute": "ltv", "op": "gte", "value": 100}}}]}),
    )
    .await;
    let recent = create_audience(
        &server,
        "pinged in the last minute",
        json!({"count": {"of": {"type": "ping"}, "at_least": 1, "within": "1m"}}),
    )
    .await;
    let pair = create_audience(
        &server,
        "two pricing views",
        json!({"count": {"of": {"type": "page.viewed"}, "at_least": 2, "within": "7d"}}),
    )
    .await;
    for audience in [&hesitators, &recent, &pair] {
        wait_backfilled(&server, audience, 1).await;
    }
    // A rule on entering: membership changes trigger rules (but not a backfill's).
    let (status, rule) = send(
        &server,
        "POST",
        "/v1/rules",
        Some(json!({
        "name": "welcome", "when": {"event": {"type": "cjaas.audience.entered"}},
        "actions": [{"type": "recommendation", "action": "welcome"}]})),
    )
    .await;
    assert_eq!(status, 201, "{rule}");

    // The live stream shows the changes.
    let live = reqwest::Client::new()
        .get(format!(
            "{}/v1/persons/aud-enter-5c1f/stream?type=cjaas.audience.entered",
            server.base
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let mut live = Box::pin(live.bytes_stream().eventsource());

    let audience_of = |key: &str| match key {
        "hesitators" => hesitators.clone(),
        "recent" => recent.clone(),
        _ => pair.clone(),
    };
    let cases: Vec<Case> = vec![
        (
            "enters on the third view",
            "hesitators",
            "aud-enter-5c1f",
            vec![
                (
                    Step::Events(vec![
                        pricing("aud-enter-5c1f", 1),
                        pricing("aud-enter-5c1f", 2),
                    ]),
                    vec![],
                ),
                (
                    Step::Events(vec![pricing("aud-enter-5c1f", 3)]),
                    vec![("entered", "event")],
                ),
            ],
        ),
        (
            "exits by a late event",
            "hesitators",
            "aud-late-8d2e",
            vec![
                (
                    Step::Events((1..=3).map(|n| pricing("aud-late-8d2e", n)).collect()),
                    vec![("entered", "event")],
                ),
                (
                    Step::Events(vec![event(
                        "aud-late-8d2e",
                        "late-order",
                        "order.paid",
                        json!({"total": 500}),
                        3 * 86_400,
                    )]),
                    vec![("entered", "event"), ("exited", "event")],
                ),
            ],
        ),
        (
            "exits by time",
            "recent",
            "aud-time-3b7a",
            vec![
                (
                    Step::Events(vec![event(
                        "aud-time-3b7a",
                        "ping-1",
                        "ping",
                        json!({}),
                        50,
                    )]),
                    vec![("entered", "event")],
                ),
                (
                    Step::Events(vec![]),
                    vec![("entered", "event"), ("exited", "time")],
                ),
            ],
        ),
        (
            "an identify links the anonymous id: the group enters",
            "pair",
            "aud-user-4d1a",
            vec![
                (
                    Step::Events(vec![
                        pricing("aud-user-4d1a", 1),
                        pricing("aud-anon-9c3b", 1),
                    ]),
                    vec![],
                ),
                (
                    Step::Identify("aud-user-4d1a", "aud-anon-9c3b"),
                    vec![("entered", "*")],
                ),
            ],
        ),
        (
            "an alias link enters the group, an unlink leaves",
            "pair",
            "aud-root-6e4c",
            vec![
                (
                    Step::Events(vec![
                        pricing("aud-root-6e4c", 1),
                        pricing("aud-alias-2f9d", 1),
                    ]),
                    vec![],
                ),
                (
                    Step::Link("aud-root-6e4c", "aud-alias-2f9d"),
                    vec![("entered", "aliases")],
                ),
                (
                    Step::Unlink("aud-root-6e4c", "aud-alias-2f9d"),
                    vec![("entered", "aliases"), ("exited", "aliases")],
                ),
            ],
        ),
    ];
    let write_key = write_key(&server).await;
    for (name, key, person, steps) in cases {
        let audience = audience_of(key);
        for (i, (step, expected)) in steps.into_iter().enumerate() {
            match step {
                Step::Events(events) if events.is_empty() => {}
                Step::Events(events) => post_events(&server, events).await,
                Step::Link(to, alias) => {
                    let path = format!("/v1/persons/{to}/aliases");
                    let (status, body) =
                        send(&server, "POST", &path, Some(json!({"aliases": [alias]}))).await;
                    assert_eq!(status, 200, "{body}");
                }
                Step::Unlink(from, alias) => {
                    let path = format!("/v1/persons/{from}/aliases/{alias}");
                    let (status, body) = send(&server, "DELETE", &path, None).await;
                    assert_eq!(status, 204, "{body}");
                }
                Step::Identify(user, anonymous) => {
                    let body = json!({"userId": user, "anonymousId": anonymous,
                                      "messageId": format!("identify-{user}")});
                    let response = reqwest::Client::new()
                        .post(format!("{}/v1/identify", server.base))
                        .basic_auth(&write_key, Some(""))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                }
            }
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(40);
            loop {
                // Let the poller and the scheduler catch up, then compare.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let now = changes(&server, person, &audience).await;
                if matches(&now, &expected) || Instant::now() > deadline {
                    got = now;
                    break;
                }
                got.clone_from(&now);
            }
            assert!(matches(&got, &expected), "{name}, step {i}: {got:?}");
        }
    }

    // The live stream showed the change as it was appended.
    let entered = loop {
        let next = tokio::time::timeout(Duration::from_secs(20), live.next())
            .await
            .expect("live")
            .unwrap()
            .unwrap();
        let body: Value = if next.event == "cloudevent" {
            serde_json::from_str(&next.data).unwrap()
        } else {
            continue;
        };
        if body["data"]["audience"]["id"] == hesitators.as_str() {
            break body;
        }
    };
    assert_eq!(
        entered["data"]["audience"]["id"],
        hesitators.as_str(),
        "{entered}"
    );
    assert_eq!(entered["source"], format!("cjaas://audiences/{hesitators}"));

    // Reads: members with entered-at, the person's audiences, the size series.
    let (status, members) = send(
        &server,
        "GET",
        &format!("/v1/audiences/{hesitators}/members?limit=10"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{members}");
    let listed: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["aud-enter-5c1f"], "{members}");
    assert_eq!(
        members["members"][0]["entered_at"], entered["time"],
        "{members}"
    );
    let (status, mine) = send(&server, "GET", "/v1/persons/aud-enter-5c1f/audiences", None).await;
    assert_eq!(status, 200, "{mine}");
    let mut ids: Vec<&str> = mine["audiences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![hesitators.as_str(), pair.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "{mine}");
    let (status, size) = send(
        &server,
        "GET",
        &format!("/v1/audiences/{hesitators}/size"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{size}");
    let series = size["series"].as_array().unwrap();
    assert_eq!(series.len(), 30);
    assert_eq!(series.last().unwrap()["size"], 1, "{size}");
    let (status, _) = send(
        &server,
        "GET",
        &format!("/v1/audiences/{hesitators}/size?from=2026-02-30"),
        None,
    )
    .await;
    assert_eq!(status, 400);

    // The live change fired the rule: a recommendation on the person's Tape.
    eventually("the welcome recommendation", || async {
        tape(&server, "aud-enter-5c1f")
            .await
            .iter()
            .any(|e| e["type"] == "cjaas.recommendation")
    })
    .await;

    // Backfill: a person already on the Tape enters a new version; no rule fires.
    let docs = |n| {
        event(
            "aud-backfill-7a1b",
            &format!("doc-{n}"),
            "doc.read",
            json!({}),
            60,
        )
    };
    post_events(&server, (1..=2).map(docs).collect()).await;
    eventually("the events on the Tape", || async {
        tape(&server, "aud-backfill-7a1b").await.len() == 2
    })
    .await;
    // The poller finishes a batch (Tape, rules, audiences) before it writes the next:
    // once a later event is on the Tape, the docs' batch has met the old version.
    let sentinel = event("aud-sentinel-3e9d", "sentinel-1", "doc.read", json!({}), 60);
    post_events(&server, vec![sentinel]).await;
    eventually("a later batch on the Tape", || async {
        tape(&server, "aud-sentinel-3e9d").await.len() == 1
    })
    .await;
    let (status, updated) = send(&server, "PUT", &format!("/v1/audiences/{pair}"), Some(json!({
        "name": "two docs read", "when": {"count": {"of": {"type": "doc.read"}, "at_least": 2, "within": "7d"}}}))).await;
    assert_eq!((status, &updated["version"]), (200, &json!(2)), "{updated}");
    let status = wait_backfilled(&server, &pair, 2).await;
    assert!(status["persons_total"].as_u64().unwrap() >= 1, "{status}");
    assert_eq!(status["persons_done"], status["persons_total"], "{status}");
    assert_eq!(
        changes(&server, "aud-backfill-7a1b", &pair).await,
        [("entered".to_owned(), "backfill".to_owned())]
    );
    let backfilled = tape(&server, "aud-backfill-7a1b").await;
    let change = backfilled
        .iter()
        .find(|e| e["type"] == "cjaas.audience.entered")
        .unwrap();
    assert_eq!(
        change["source"],
        format!("cjaas://audiences/{pair}/backfill")
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !tape(&server, "aud-backfill-7a1b")
            .await
            .iter()
            .any(|e| e["type"] == "cjaas.recommendation"),
        "a backfill fires no rule"
    );
    let (status, v1) = send(
        &server,
        "GET",
        &format!("/v1/audiences/{pair}/versions/1"),
        None,
    )
    .await;
    assert_eq!((status, &v1["version"]), (200, &json!(1)), "{v1}");

    // Erasure reaches the memberships: no byte of the person is left in the folder.
    let (status, job) = send(&server, "DELETE", "/v1/persons/aud-enter-5c1f", None).await;
    assert_eq!(status, 202, "{job}");
    let job_path = format!("/v1/erasures/{}", job["id"].as_str().unwrap());
    let done = wait_for(&server, &job_path, |job| job["status"] == "completed").await;
    assert!(
        done["removed"]["audience_memberships"].as_u64().unwrap() >= 1,
        "{done}"
    );
    let (_, members) = send(
        &server,
        "GET",
        &format!("/v1/audiences/{hesitators}/members"),
        None,
    )
    .await;
    assert_eq!(members["members"], json!([]), "{members}");
    drop(server);
    for path in files(dir.path()) {
        let bytes = std::fs::read(&path).unwrap();
        let needle = b"aud-enter-5c1f";
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} still holds the erased person",
            path.display()
        );
    }
}

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn deleting_an_audience_exits_every_member_once_and_fires_no_rule() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let when = json!({"count": {"of": {"type": "page.viewed"}, "at_least": 1, "within": "7d"}});
    let audience = create_audience(&server, "viewers", when).await;
    wait_backfilled(&server, &audience, 1).await;
    let rule = json!({"name": "goodbye", "when": {"event": {"type": "cjaas.audience.exited"}},
        "actions": [{"type": "recommendation", "action": "goodbye"}]});
    let (status, rule) = send(&server, "POST", "/v1/rules", Some(rule)).await;
    assert_eq!(status, 201, "{rule}");
    let persons = ["del-one-1a2b", "del-two-3c4d"];
    post_events(&server, persons.iter().map(|p| pricing(p, 1)).collect()).await;
    for person in persons {
        eventually("the entry", || async {
            changes(&server, person, &audience).await == [("entered".into(), "event".into())]
        })
        .await;
    }

    let (status, body) = send(
        &server,
        "DELETE",
        &format!("/v1/audiences/{audience}"),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let exited = || ("exited".to_owned(), "audience_deleted".to_owned());
    for person in persons {
        eventually("the exit", || async {
            changes(&server, person, &audience).await.len() == 2
        })
        .await;
        assert_eq!(
            changes(&server, person, &audience).await,
            [("entered".into(), "event".into()), exited()]
        );
        let tape = tape(&server, person).await;
        let exit = tape
            .iter()
            .find(|e| e["type"] == "cjaas.audience.exited")
            .unwrap();
        assert_eq!(
            exit["source"],
            format!("cjaas://audiences/{audience}/deleted")
        );
        assert!(exit["data"]["entered_at"].is_string(), "{exit}");
        let (_, mine) = send(
            &server,
            "GET",
            &format!("/v1/persons/{person}/audiences"),
            None,
        )
        .await;
        assert_eq!(mine["audiences"], json!([]), "{mine}");
    }
    for path in ["", "/members", "/size", "/status", "/versions/1"] {
        let (status, body) = send(
            &server,
            "GET",
            &format!("/v1/audiences/{audience}{path}"),
            None,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("audience_not_found")),
            "{path}: {body}"
        );
    }
    let (status, body) = send(
        &server,
        "DELETE",
        &format!("/v1/audiences/{audience}"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("audience_not_found"))
    );
    // Exactly once, and no rule fired for an exit the deletion made.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for person in persons {
        let tape = tape(&server, person).await;
        let exits = tape
            .iter()
            .filter(|e| e["type"] == "cjaas.audience.exited")
            .count();
        assert_eq!(exits, 1, "{tape:?}");
        assert!(
            !tape.iter().any(|e| e["type"] == "cjaas.recommendation"),
            "a deletion's exit fires no rule: {tape:?}"
        );
    }
}

/// Rewrites a stored document of tenant `dev` in the stopped store.
async fn rewrite(dir: &std::path::Path, pk: &str, sk: &str, change: impl Fn(&mut Value)) {
    use cjaas_core::ports::{DocumentStore, Expect};
    let store = cjaas_local::EmbeddedStore::open(dir).unwrap();
    let document = store.get(pk, sk).await.unwrap().expect("the document");
    let mut body: Value = serde_json::from_str(&document.body).unwrap();
    change(&mut body);
    let written = store
        .put(
            pk,
            sk,
            &body.to_string(),
            Expect::Revision(document.revision),
        )
        .await
        .unwrap();
    assert!(written);
}

#[tokio::test]
async fn a_crashed_workers_backtest_fails_and_its_backfill_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let when = json!({"count": {"of": {"type": "page.viewed"}, "at_least": 1, "within": "7d"}});
    let audience = create_audience(&server, "viewers", when).await;
    wait_backfilled(&server, &audience, 1).await;
    post_events(&server, vec![pricing("stall-ana-5e6f", 1)]).await;
    eventually("the entry", || async {
        changes(&server, "stall-ana-5e6f", &audience).await.len() == 1
    })
    .await;
    let rule = json!({"name": "r", "when": {"event": {"type": "page.viewed"}},
        "actions": [{"type": "publish", "name": "x"}]});
    let (_, rule) = send(&server, "POST", "/v1/rules", Some(rule)).await;
    let now = chrono::Utc::now();
    let window = json!({"from": now - chrono::Duration::days(1), "to": now});
    let path = format!("/v1/rules/{}/backtest", rule["id"].as_str().unwrap());
    let (status, job) = send(&server, "POST", &path, Some(window.clone())).await;
    assert_eq!(status, 202, "{job}");
    let job_path = format!("/v1/backtests/{}", job["id"].as_str().unwrap());
    wait_for(&server, &job_path, |job| job["status"] == "completed").await;
    let (_, lost) = send(&server, "POST", &path, Some(window)).await;
    let lost_path = format!("/v1/backtests/{}", lost["id"].as_str().unwrap());
    wait_for(&server, &lost_path, |job| job["status"] == "completed").await;
    drop(server);

    // As a worker killed mid-run leaves them: running, last heartbeat an hour ago.
    let hour_ago = json!(chrono::Utc::now() - chrono::Duration::hours(1));
    rewrite(
        dir.path(),
        "T#dev#BACKTESTS",
        job["id"].as_str().unwrap(),
        |job| {
            job["status"] = json!("running");
            job["heartbeat_at"] = hour_ago.clone();
            let job = job.as_object_mut().unwrap();
            job.remove("result");
            job.remove("completed_at");
        },
    )
    .await;
    // As a lost request leaves one: pending, requested an hour ago.
    rewrite(
        dir.path(),
        "T#dev#BACKTESTS",
        lost["id"].as_str().unwrap(),
        |job| {
            job["status"] = json!("pending");
            job["requested_at"] = hour_ago.clone();
            let job = job.as_object_mut().unwrap();
            for field in ["result", "completed_at", "started_at", "heartbeat_at"] {
                job.remove(field);
            }
        },
    )
    .await;
    rewrite(dir.path(), "T#dev#AUDSTATUS", &audience, |status| {
        status["state"] = json!("running");
        status["heartbeat_at"] = hour_ago.clone();
        status.as_object_mut().unwrap().remove("finished_at");
    })
    .await;

    // The sweep at start marks both; the backfill schedule then runs the backfill again.
    let server = start(dir.path());
    let failed = wait_for(&server, &job_path, |job| job["status"] != "running").await;
    assert_eq!(
        (failed["status"].as_str(), failed["reason"].as_str()),
        (Some("failed"), Some("stalled")),
        "{failed}"
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("no progress since"),
        "{failed}"
    );
    let never = wait_for(&server, &lost_path, |job| job["status"] != "pending").await;
    assert_eq!(
        (never["status"].as_str(), never["reason"].as_str()),
        (Some("failed"), Some("stalled")),
        "{never}"
    );
    assert!(
        never["error"].as_str().unwrap().contains("never started"),
        "{never}"
    );
    let status = wait_backfilled(&server, &audience, 1).await;
    assert_eq!(status["stalls"], 1, "{status}");
    // Run again, the backfill found the member in and appended nothing.
    assert_eq!(
        changes(&server, "stall-ana-5e6f", &audience).await,
        [("entered".to_owned(), "event".to_owned())]
    );
}

#[tokio::test]
async fn views_and_audiences_read_version_paths_one_way() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let view = json!({"name": "v", "attributes": [
        {"name": "n", "filter": {"type": "x"}, "aggregation": "count"}]});
    let (status, view) = send(&server, "POST", "/v1/views", Some(view)).await;
    assert_eq!(status, 201, "{view}");
    let audience = create_audience(
        &server,
        "a",
        json!({"count": {"of": {"type": "x"}, "at_least": 1, "within": "1d"}}),
    )
    .await;
    for base in [
        format!("/v1/views/{}", view["id"].as_str().unwrap()),
        format!("/v1/audiences/{audience}"),
    ] {
        let cases = [
            ("1", 200, None),
            ("0", 400, Some("invalid_version")),
            ("00", 400, Some("invalid_version")),
            ("-1", 400, Some("invalid_version")),
            ("+1", 400, Some("invalid_version")),
            ("latest", 400, Some("invalid_version")),
            ("4294967296", 400, Some("invalid_version")),
            ("7", 404, Some("version_not_found")),
        ];
        for (version, want, code) in cases {
            let (status, body) =
                send(&server, "GET", &format!("{base}/versions/{version}"), None).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (want, code),
                "{base} {version}: {body}"
            );
        }
    }
}
