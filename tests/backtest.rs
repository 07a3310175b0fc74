//! Rule backtests on the emulator: the job is a DynamoDB document, requested over the
//! API, run by the `backtests` handler on the `BacktestRequested` bus message, over
//! the Tape's projection in DynamoDB; the tenant policy's caps are applied; jobs are
//! tenant-scoped.

use chrono::{Duration, TimeZone, Utc};
use cjaas_aws::lambda::with_authorizer_principal;
use cjaas_tests::{call, call_with_context, fixture, post_batch, read_stream, Stack};
use http::StatusCode;
use serde_json::{json, Value};

fn event(id: &str, person: &str, minute: i64) -> Value {
    let time = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap() + Duration::minutes(minute);
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": "page.viewed",
           "person": person, "time": time, "data": {"path": "/pricing"}})
}

#[tokio::test]
async fn a_backtest_runs_on_dynamodb_with_the_policy_caps() {
    let stack = Stack::create().await;
    let (tenant, token) = stack.create_tenant().await;
    let (_, other) = stack.create_tenant().await;
    let events = [
        event("a1", "ana", 0),
        event("a2", "ana", 2),
        event("a3", "ana", 60),
        event("a4", "ana", 62),
        event("b1", "bob", 5),
        event("b2", "bob", 6),
    ];
    assert_eq!(
        stack.call(&token, post_batch(&events)).await.0,
        StatusCode::ACCEPTED
    );
    let batch = read_stream(&stack.sdk, &stack.stream).await;
    assert!(stack.deliver(&stack.writer(), batch).await.is_empty());

    let rule = json!({"name": "two views",
        "when": {"count": {"of": {"type": "page.viewed"}, "at_least": 2, "within": "10m"}},
        "actions": [{"type": "publish", "name": "nudge"}]});
    let (status, _, created) = stack
        .call(&token, call("POST", "/v1/rules", Some(rule)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/v1/rules/{}/backtest", created["id"].as_str().unwrap());
    let policy = json!({"caps": [{"max": 1, "per": "1d"}]});
    let (status, _, stored) = stack
        .call(
            &token,
            call("PUT", "/v1/orchestration/policy", Some(policy)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let (_, _, read) = stack
        .call(&token, call("GET", "/v1/orchestration/policy", None))
        .await;
    assert_eq!(read["caps"], json!([{"max": 1, "per": "1d"}]));

    let window = json!({"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"});
    // Requested through the `rules-api` function's routes, on the resources the
    // template gives it.
    let rules_api = stack
        .wiring_of("RulesApiFunction")
        .rules_router()
        .expect("the rules-api function has what a backtest request needs");
    let rules_api = with_authorizer_principal(rules_api);
    let context = stack.authorize(&token).await;
    let (status, headers, job) =
        call_with_context(&rules_api, call("POST", &path, Some(window)), context).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/v1/backtests/{id}").as_str());
    let (status, _, _) = stack
        .call(&other, call("GET", &format!("/v1/backtests/{id}"), None))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "jobs are tenant-scoped");

    // The worker gets the request from the bus.
    let mut requested = fixture("backtests-requested.json");
    requested["detail"] = json!({"tenant": tenant, "job": id});
    let done = stack.backtest(requested.clone()).await.unwrap();
    assert_eq!(done["backtest"]["status"], "completed", "{done}");
    let (status, _, job) = stack
        .call(&token, call("GET", &format!("/v1/backtests/{id}"), None))
        .await;
    assert_eq!(status, StatusCode::OK);
    let result = &job["result"];
    // ana fires at 10:02 and is capped at 11:02 (one a day); bob fires at 10:06.
    assert_eq!(
        (
            result["firings"].as_u64(),
            result["capped"].as_u64(),
            result["persons"].as_u64(),
            result["read"].as_str()
        ),
        (Some(2), Some(1), Some(2), Some("projection")),
        "{job}"
    );
    let sample: Vec<(&str, bool)> = result["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["person"].as_str().unwrap(),
                f["capped"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(sample, [("ana", false), ("bob", false), ("ana", true)]);
    assert_eq!(job["progress"]["events_read"], 6);

    // A second delivery of the message leaves the finished job as it is.
    let again = stack.backtest(requested).await.unwrap();
    assert_eq!(again["backtest"]["completed_at"], job["completed_at"]);

    let (status, _, problem) = stack
        .call(
            &token,
            call(
                "POST",
                &path,
                Some(json!({"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"})),
            ),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_window"))
    );
    let (status, _, problem) = stack
        .call(
            &token,
            call(
                "POST",
                "/v1/rules/rule-nosuchrule/backtest",
                Some(json!({"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"})),
            ),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("rule_not_found"))
    );
}
