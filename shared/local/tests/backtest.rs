//! Rule backtests on the embedded default, over real HTTP: a saved rule and an
//! unsaved one replayed over the Tape in event time, with the cooldown and the
//! tenant's caps, as jobs with progress; and every bad request refused with its code.

mod common;

use serde_json::{json, Value};
use std::time::{Duration, Instant};

use common::{start, Server};

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    server.send(method, path, body).await
}

/// `2026-11-20T{hh:mm}:00Z`
fn at(hh_mm: &str) -> String {
    format!("2026-11-20T{hh_mm}:00Z")
}

fn event(id: &str, person: &str, ty: &str, hh_mm: &str, path: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": person,
           "time": at(hh_mm), "data": {"path": path}})
}

/// Waits for the job to finish; returns it.
async fn finished(server: &Server, location: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, job) = send(server, reqwest::Method::GET, location, None).await;
        assert_eq!(status, 200, "{job}");
        if job["status"] == "completed" || job["status"] == "failed" {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "the backtest never finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn backtest(server: &Server, path: &str, body: Value) -> Value {
    let (status, job) = send(server, reqwest::Method::POST, path, Some(body)).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["status"], "pending");
    finished(
        server,
        &format!("/v1/backtests/{}", job["id"].as_str().unwrap()),
    )
    .await
}

fn fired(job: &Value) -> Vec<(String, String, bool)> {
    job["result"]["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["person"].as_str().unwrap().to_owned(),
                f["time"].as_str().unwrap().to_owned(),
                f["capped"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn backtests_replay_rules_in_event_time_with_cooldown_and_caps() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (status, rule) = send(
        &server,
        reqwest::Method::POST,
        "/v1/rules",
        Some(json!({
            "name": "two views", "cooldown_seconds": 600,
            "when": {"count": {"of": {"type": "page.viewed"}, "at_least": 2, "within": "10m"}},
            "actions": [{"type": "publish", "name": "nudge"}]
        })),
    )
    .await;
    assert_eq!(status, 201, "{rule}");
    let events = [
        event("a1", "ana", "page.viewed", "10:00", "/pricing"),
        event("a2", "ana", "page.viewed", "10:02", "/home"),
        event("a3", "ana", "page.viewed", "10:04", "/pricing"),
        event("a4", "ana", "page.viewed", "11:00", "/pricing"),
        event("a5", "ana", "page.viewed", "11:02", "/pricing"),
        event("b1", "bob", "page.viewed", "12:30", "/pricing"),
        event("b2", "bob", "page.viewed", "12:31", "/pricing"),
        event("c1", "cy", "cart.added", "12:00", "/cart"),
    ];
    assert_eq!(
        send(
            &server,
            reqwest::Method::POST,
            "/v1/events",
            Some(json!(events))
        )
        .await
        .0,
        202
    );
    // Fed live, the rule fires three times: the backtest below finds the same.
    let deliveries = format!("/v1/rules/{}/deliveries", rule["id"].as_str().unwrap());
    let live = |log: &Value| -> Vec<(String, String)> {
        let mut fired: Vec<_> = log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let time = d["triggering_event"]["time"].as_str().unwrap();
                (d["person"].as_str().unwrap().to_owned(), time.to_owned())
            })
            .collect();
        fired.sort();
        fired
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = send(&server, reqwest::Method::GET, &deliveries, None)
        .await
        .1;
    while live(&log).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the live firings never came: {log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        log = send(&server, reqwest::Method::GET, &deliveries, None)
            .await
            .1;
    }

    let path = format!("/v1/rules/{}/backtest", rule["id"].as_str().unwrap());
    let window = json!({"from": at("00:00"), "to": at("23:59")});

    // ana: 10:02 fires, 10:04 is in the cooldown, 11:00 has one view in 10m, 11:02
    // fires; bob: 12:31.
    let job = backtest(&server, &path, window.clone()).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["rule_id"], rule["id"]);
    let result = &job["result"];
    assert_eq!(
        (
            result["firings"].as_u64(),
            result["capped"].as_u64(),
            result["persons"].as_u64()
        ),
        (Some(3), Some(0), Some(2)),
        "{job}"
    );
    assert_eq!(
        result["read"], "projection",
        "type, source and time are enough"
    );
    assert_eq!(
        result["per_day"],
        json!([{"day": "2026-11-20", "firings": 3, "capped": 0, "persons": 2}])
    );
    assert_eq!(
        fired(&job),
        [
            ("ana".to_owned(), at("10:02"), false),
            ("ana".to_owned(), at("11:02"), false),
            ("bob".to_owned(), at("12:31"), false),
        ]
    );
    assert_eq!(
        result["sample"][0]["event"],
        json!({"type": "page.viewed", "source": "/web", "time": at("10:02")})
    );
    assert_eq!(
        (
            job["progress"]["persons_done"].as_u64(),
            job["progress"]["persons_total"].as_u64(),
            job["progress"]["events_read"].as_u64()
        ),
        (Some(3), Some(3), Some(8))
    );

    // The window bounds the triggering events; earlier events are still history.
    let late = backtest(
        &server,
        &path,
        json!({"from": at("10:03"), "to": at("11:01")}),
    )
    .await;
    // 10:02 is outside, so nothing cools 10:04 down: a backtest starts with no cooldown.
    assert_eq!(
        fired(&late),
        [("ana".to_owned(), at("10:04"), false)],
        "{late}"
    );

    // A tenant cap: one publish per person per day; ana's second firing is capped.
    let (status, bad) = send(
        &server,
        reqwest::Method::PUT,
        "/v1/orchestration/policy",
        Some(json!({"caps": [{"max": 0, "per": "1y", "channel": "sms"}]})),
    )
    .await;
    let codes: Vec<_> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        (status, bad["code"].as_str()),
        (422, Some("invalid_rule")),
        "{bad}"
    );
    assert_eq!(
        codes,
        [
            ("caps/0/per", "invalid_period"),
            ("caps/0/max", "invalid_cap"),
            ("caps/0/channel", "invalid_channel")
        ]
    );
    let (status, policy) = send(
        &server,
        reqwest::Method::PUT,
        "/v1/orchestration/policy",
        Some(json!({"caps": [{"max": 1, "per": "1d", "channel": "publish"}]})),
    )
    .await;
    assert_eq!(status, 200, "{policy}");
    assert_eq!(
        send(
            &server,
            reqwest::Method::GET,
            "/v1/orchestration/policy",
            None
        )
        .await
        .1["caps"],
        json!([{"max": 1, "per": "1d", "channel": "publish"}])
    );
    let capped = backtest(&server, &path, window.clone()).await;
    assert_eq!(
        (
            capped["result"]["firings"].as_u64(),
            capped["result"]["capped"].as_u64()
        ),
        (Some(2), Some(1)),
        "{capped}"
    );
    assert_eq!(fired(&capped)[1], ("ana".to_owned(), at("11:02"), true));
    send(
        &server,
        reqwest::Method::PUT,
        "/v1/orchestration/policy",
        Some(json!({"caps": []})),
    )
    .await;

    // An unsaved rule with a `where`: the entries are read, and the sample has ids.
    let inline = backtest(&server, "/v1/rules/backtest", json!({
        "rule": {"name": "pricing", "when": {"event": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}},
                 "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}]},
        "from": at("00:00"), "to": at("23:59")
    })).await;
    assert_eq!(
        (
            inline["result"]["firings"].as_u64(),
            inline["result"]["read"].as_str(),
            inline["rule_id"].clone()
        ),
        (Some(6), Some("entries"), Value::Null),
        "{inline}"
    );
    assert_eq!(inline["result"]["sample"][0]["event"]["id"], "a1");

    // An absence rule: cy added to the cart and never paid.
    let absence = backtest(&server, "/v1/rules/backtest", json!({
        "rule": {"name": "abandoned", "when": {"absence": {"after": {"type": "cart.added"}, "missing": {"type": "order.paid"}, "within": "30m"}},
                 "actions": [{"type": "publish", "name": "remind"}]},
        "from": at("00:00"), "to": at("23:59")
    })).await;
    assert_eq!(fired(&absence), [("cy".to_owned(), at("12:00"), false)]);

    // The backtests fired nothing: the delivery log holds the live firings only.
    let after = send(&server, reqwest::Method::GET, &deliveries, None)
        .await
        .1;
    assert_eq!(after, log);
    let expected: Vec<(String, String)> = fired(&job).into_iter().map(|(p, t, _)| (p, t)).collect();
    assert_eq!(live(&after), expected);
}

#[tokio::test]
async fn bad_backtest_requests_are_refused_with_their_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (_, rule) = send(&server, reqwest::Method::POST, "/v1/rules", Some(json!({
        "name": "r", "when": {"event": {"type": "a"}}, "actions": [{"type": "publish", "name": "x"}]
    }))).await;
    let path = format!("/v1/rules/{}/backtest", rule["id"].as_str().unwrap());
    let valid_rule = json!({"name": "r", "when": {"event": {"type": "a"}}, "actions": [{"type": "publish", "name": "x"}]});
    let cases: Vec<(&str, String, Value, u16, &str)> = vec![
        (
            "from after to",
            path.clone(),
            json!({"from": at("12:00"), "to": at("11:00")}),
            422,
            "invalid_window",
        ),
        (
            "over 90 days",
            path.clone(),
            json!({"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"}),
            422,
            "window_too_long",
        ),
        (
            "unknown rule",
            "/v1/rules/rule-nosuchrule/backtest".into(),
            json!({"from": at("10:00"), "to": at("11:00")}),
            404,
            "rule_not_found",
        ),
        (
            "not a time",
            path.clone(),
            json!({"from": "yesterday", "to": at("11:00")}),
            400,
            "malformed_json",
        ),
        (
            "unknown field",
            path.clone(),
            json!({"from": at("10:00"), "to": at("11:00"), "limit": 3}),
            400,
            "malformed_json",
        ),
        (
            "invalid inline rule",
            "/v1/rules/backtest".into(),
            json!({"rule": {"name": "", "when": {"count": {"of": {"type": "a"}, "at_least": 0, "within": "1h"}}, "actions": [{"type": "publish", "name": "x"}]}, "from": at("10:00"), "to": at("11:00")}),
            422,
            "invalid_rule",
        ),
        (
            "inline rule and bad window",
            "/v1/rules/backtest".into(),
            json!({"rule": valid_rule, "from": at("12:00"), "to": at("11:00")}),
            422,
            "invalid_window",
        ),
    ];
    for (name, path, body, status, code) in cases {
        let (got, problem) = send(&server, reqwest::Method::POST, &path, Some(body)).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{name}: {problem}"
        );
    }
    let (_, problem) = send(&server, reqwest::Method::POST, "/v1/rules/backtest", Some(json!({"rule": {"name": "", "when": {"count": {"of": {"type": "a"}, "at_least": 0, "within": "1h"}}, "actions": [{"type": "publish", "name": "x"}]}, "from": at("12:00"), "to": at("11:00")}))).await;
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("to", "invalid_window"),
            ("rule/name", "invalid_name"),
            ("rule/when/count", "invalid_count")
        ]
    );
    let (status, problem) = send(
        &server,
        reqwest::Method::GET,
        "/v1/backtests/backtest-nosuchjob",
        None,
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("backtest_not_found"))
    );
}
