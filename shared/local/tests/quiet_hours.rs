//! Quiet hours on the embedded default, over real HTTP: the policy's window is put
//! around now in Tokyo (UTC+9, no daylight saving), so a person whose profile says
//! `Asia/Tokyo` is inside it and persons in the default zone (UTC) are not. A held
//! firing is published once, with its action id, when the window ends; a dropping
//! rule never publishes; an ignoring rule publishes at once; an erasure removes a
//! held firing; invalid policies are refused field by field.

mod common;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::DocumentStore;
use cjaas_core::rules::quiet::keys;
use cjaas_local::EmbeddedStore;
use common::{start_with, Server};

/// Each webhook call's body and when it arrived.
type Calls = Arc<Mutex<Vec<(DateTime<Utc>, Value)>>>;

async fn receiver() -> (String, Calls) {
    let calls: Calls = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|State(calls): State<Calls>, body: String| async move {
                let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                calls.lock().unwrap().push((Utc::now(), body));
                "ok"
            }),
        )
        .with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

/// The calls of `rule` for `person`: (arrival, action id).
fn calls_of(calls: &Calls, rule: &str, person: &str) -> Vec<(DateTime<Utc>, String)> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, b)| b["rule"]["id"] == rule && b["person"] == person)
        .map(|(at, b)| (*at, b["action_id"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Polls `GET path` until `done` holds for its body.
async fn wait_for(server: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, body) = server.send(reqwest::Method::GET, path, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "timed out on {path}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn event(id: &str, ty: &str, person: &str, data: Value) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/shop", "type": ty, "person": person,
           "time": Utc::now(), "data": data})
}

/// `now + offset` on Tokyo's wall clock, `HH:MM:SS`.
fn tokyo(offset: Duration) -> String {
    (Utc::now() + Duration::hours(9) + offset)
        .format("%H:%M:%S")
        .to_string()
}

async fn put_policy(server: &Server, quiet_hours: Value) -> (u16, Value) {
    let body = json!({ "quiet_hours": quiet_hours });
    server
        .send(reqwest::Method::PUT, "/v1/orchestration/policy", Some(body))
        .await
}

async fn create_rule(server: &Server, name: &str, choice: Option<&str>, url: &str) -> String {
    let mut rule = json!({"name": name, "when": {"event": {"type": "order.placed"}},
                          "actions": [{"type": "webhook", "url": url}]});
    if let Some(choice) = choice {
        rule["quiet_hours"] = json!(choice);
    }
    let (status, rule) = server
        .send(reqwest::Method::POST, "/v1/rules", Some(rule))
        .await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(rule["quiet_hours"], choice.unwrap_or("hold"), "{rule}");
    rule["id"].as_str().unwrap().to_owned()
}

/// The rule's firing for `person` in its delivery log.
async fn firing_of(server: &Server, rule: &str, person: &str) -> Value {
    let path = format!("/v1/rules/{rule}/deliveries");
    let log = wait_for(server, &path, |log| {
        log["deliveries"]
            .as_array()
            .is_some_and(|d| d.iter().any(|f| f["person"] == person))
    })
    .await;
    log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["person"] == person)
        .unwrap()
        .clone()
}

async fn ingest(server: &Server, events: Vec<Value>) {
    let (status, body) = server
        .send(reqwest::Method::POST, "/v1/events", Some(json!(events)))
        .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn quiet_hours_hold_drop_or_ignore_in_the_persons_zone() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &[("CJAAS_ALLOW_PRIVATE_TARGETS", "1")]);
    let (url, calls) = receiver().await;
    let view = json!({"name": "zone", "attributes": [
        {"name": "tz", "filter": {"type": "profile.updated"}, "field": "/data/tz", "aggregation": "latest"}]});
    let (status, view) = server
        .send(reqwest::Method::POST, "/v1/views", Some(view))
        .await;
    assert_eq!(status, 201, "{view}");
    let view = view["id"].as_str().unwrap().to_owned();
    // Quiet in Tokyo from a minute ago until 15 seconds from now.
    let window = json!({"start": tokyo(Duration::minutes(-1)), "end": tokyo(Duration::seconds(15)),
                        "time_zone": {"view": view, "attribute": "tz"}});
    let (status, policy) = put_policy(&server, window.clone()).await;
    assert_eq!(status, 200, "{policy}");
    let mut stored = window.clone();
    stored["default_time_zone"] = json!("UTC");
    assert_eq!(policy["quiet_hours"], stored, "{policy}");

    let hold = create_rule(&server, "hold", None, &url).await;
    let dropping = create_rule(&server, "drop", Some("drop"), &url).await;
    let ignore = create_rule(&server, "ignore", Some("ignore"), &url).await;

    // ana lives in Tokyo; cy's zone is not one (the default applies); bob has none.
    ingest(
        &server,
        vec![
            event(
                "tz-ana",
                "profile.updated",
                "ana",
                json!({"tz": "Asia/Tokyo"}),
            ),
            event(
                "tz-cy",
                "profile.updated",
                "cy",
                json!({"tz": "Mars/Olympus"}),
            ),
        ],
    )
    .await;
    wait_for(
        &server,
        &format!("/v1/persons/ana/profile?view={view}"),
        |p| p["profile"]["attributes"]["tz"] == "Asia/Tokyo",
    )
    .await;
    let orders = ["ana", "bob", "cy"]
        .iter()
        .map(|p| event(&format!("order-{p}"), "order.placed", p, json!({})))
        .collect();
    ingest(&server, orders).await;

    // Outside quiet hours (bob, cy in UTC) every rule acts at once; in Tokyo only
    // the ignoring one does.
    eventually("the calls outside quiet hours", || {
        calls.lock().unwrap().len() >= 7
    })
    .await;
    for person in ["bob", "cy"] {
        for rule in [&hold, &dropping, &ignore] {
            assert_eq!(calls_of(&calls, rule, person).len(), 1, "{rule} {person}");
        }
        let firing = firing_of(&server, &hold, person).await;
        assert_eq!(firing["quiet_hours"], Value::Null, "{firing}");
    }
    assert_eq!(calls_of(&calls, &ignore, "ana").len(), 1);

    // The dropped firing says why, and never reaches the receiver.
    let dropped = firing_of(&server, &dropping, "ana").await;
    assert_eq!(dropped["actions"][0]["status"], "dropped", "{dropped}");
    assert_eq!(dropped["quiet_hours"]["reason"], "quiet_hours", "{dropped}");
    assert_eq!(
        dropped["quiet_hours"]["time_zone"], "Asia/Tokyo",
        "{dropped}"
    );

    // The held firing is published when quiet hours end, once, with its action id.
    let held = firing_of(&server, &hold, "ana").await;
    let note = &held["quiet_hours"];
    assert_eq!(note["time_zone"], "Asia/Tokyo", "{held}");
    let release_at: DateTime<Utc> = serde_json::from_value(note["release_at"].clone()).unwrap();
    let action_id = format!("{}.0", held["id"].as_str().unwrap());
    eventually("the held firing's release", || {
        !calls_of(&calls, &hold, "ana").is_empty()
    })
    .await;
    let released = calls_of(&calls, &hold, "ana");
    assert_eq!(released[0].1, action_id);
    assert!(
        released[0].0 >= release_at,
        "{released:?} before {release_at}"
    );
    let path = format!("/v1/rules/{hold}/deliveries");
    wait_for(&server, &path, |log| {
        log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["person"] == "ana" && f["actions"][0]["status"] == "delivered")
    })
    .await;
    // More runs of the timers job (every 5 s) publish nothing more.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(calls_of(&calls, &hold, "ana").len(), 1);
    assert!(calls_of(&calls, &dropping, "ana").is_empty());

    // A held firing is erased with its person.
    let window = json!({"start": tokyo(Duration::minutes(-1)), "end": tokyo(Duration::hours(2)),
                        "time_zone": {"view": view, "attribute": "tz"}});
    assert_eq!(put_policy(&server, window).await.0, 200);
    ingest(
        &server,
        vec![event("order-ana-2", "order.placed", "ana", json!({}))],
    )
    .await;
    let path = format!("/v1/rules/{hold}/deliveries");
    wait_for(&server, &path, |log| {
        log["deliveries"][0]["actions"][0]["status"] == "held"
    })
    .await;
    let (status, job) = server
        .send(reqwest::Method::DELETE, "/v1/persons/ana", None)
        .await;
    assert_eq!(status, 202, "{job}");
    let job = wait_for(
        &server,
        &format!("/v1/erasures/{}", job["id"].as_str().unwrap()),
        |j| j["status"] == "completed",
    )
    .await;
    assert_eq!(job["removed"]["rule_state"], 1, "the held firing: {job}");
    drop(server);
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let held = store
        .list(&keys::held(&TenantId::parse("dev").unwrap()))
        .await
        .unwrap();
    assert!(held.is_empty(), "{held:?}");
}

#[tokio::test]
async fn invalid_quiet_hours_are_refused_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &[]);
    let codes = |problem: &Value| -> Vec<(String, String)> {
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap().to_owned();
                (text("field"), text("code"))
            })
            .collect()
    };
    let (status, problem) = put_policy(
        &server,
        json!({"start": "25:00", "end": "8am", "default_time_zone": "Europe/Pariss"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_rule")),
        "{problem}"
    );
    let pair = |f: &str, c: &str| (f.to_owned(), c.to_owned());
    assert_eq!(
        codes(&problem),
        [
            pair("quiet_hours/start", "invalid_time"),
            pair("quiet_hours/end", "invalid_time"),
            pair("quiet_hours/default_time_zone", "unknown_time_zone"),
        ]
    );
    let (status, problem) = put_policy(
        &server,
        json!({"start": "21:00", "end": "21:00:00",
               "time_zone": {"view": "view-missing", "attribute": "tz"}}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        codes(&problem),
        [pair("quiet_hours/end", "empty_quiet_hours")]
    );
    let (status, problem) = put_policy(
        &server,
        json!({"start": "21:00", "end": "08:00",
               "time_zone": {"view": "view-missing", "attribute": "tz"}}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        codes(&problem),
        [pair("quiet_hours/time_zone/view", "unknown_view")]
    );
    // Nothing was stored.
    let (_, policy) = server
        .send(reqwest::Method::GET, "/v1/orchestration/policy", None)
        .await;
    assert_eq!(policy.get("quiet_hours"), None, "{policy}");

    // A rule's choice is one of hold, drop and ignore.
    let rule = json!({"name": "x", "when": {"event": {"type": "a"}}, "quiet_hours": "sometimes",
                      "actions": [{"type": "publish", "name": "x"}]});
    let (status, problem) = server
        .send(reqwest::Method::POST, "/v1/rules", Some(rule))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("malformed_json")),
        "{problem}"
    );
}
