//! `GET /sourceConfig`, what RudderStack's browser SDK loads from its `configUrl`
//! before it sends, its beacon path, and the preflights of the headers it adds, on the real
//! `cjaas-local` binary over real HTTP. (tests/browser/rudderstack.test.mjs drives the
//! SDK itself in Chromium.)

mod common;

use common::start;
use serde_json::{json, Value};

async fn get(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_source_config_names_an_enabled_source_with_no_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let key = server.create_key(json!({"scopes": ["events:write"]})).await;
    let reader = server.create_key(json!({"scopes": ["tape:read"]})).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);

    // The SDK's own request: the key in the query, with the slash and its other parameters.
    let (status, _, config) = get(http.get(url(&format!(
        "/sourceConfig/?p=npm&v=3.34.1&build=modern&writeKey={key}&lockIntegrationsVersion=true"
    ))))
    .await;
    assert_eq!(status, 200, "{config}");
    let source = &config["source"];
    assert_eq!(source["enabled"], true);
    assert_eq!(source["destinations"], json!([]));
    assert_eq!(source["workspaceId"], "dev");
    let key_id = key.split('_').nth(2).unwrap();
    assert_eq!(source["id"], key_id, "the source is the key, by its id");
    assert!(
        !config.to_string().contains(&key),
        "the secret is not echoed"
    );
    assert_eq!(
        source["config"]["statsCollection"],
        json!({"errors": {"enabled": false}, "metrics": {"enabled": false}}),
        "the SDK reports nothing to RudderStack's own services"
    );

    // HTTP Basic (the key as the user name), without the slash.
    let (status, _, again) = get(http.get(url("/sourceConfig")).basic_auth(&key, Some(""))).await;
    assert_eq!((status, &again), (200, &config));

    // Refusals are problems in the Segment-compatible shape (code and message).
    for (request, expected) in [
        (http.get(url("/sourceConfig")), 401),
        (
            http.get(url("/sourceConfig?writeKey=cjk_dev_nope_nope")),
            401,
        ),
        (
            http.get(url(&format!("/sourceConfig?writeKey={reader}"))),
            403,
        ),
    ] {
        let (status, headers, problem) = get(request).await;
        assert_eq!(status, expected, "{problem}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(problem["code"].is_string() && problem["message"].is_string());
    }
}

#[tokio::test]
async fn a_publishable_key_reads_its_source_config_from_its_own_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let shop = "https://shop.example.com";
    let key = server
        .create_key(json!({"kind": "publishable", "allowed_origins": [shop]}))
        .await;
    let http = reqwest::Client::new();
    let config = format!("{}/sourceConfig/?writeKey={key}", server.base);

    // The SDK's preflights: GET, and the headers it adds to every call.
    for path in ["/sourceConfig/", "/v1/track"] {
        let (status, headers, _) = get(
            http.request(reqwest::Method::OPTIONS, format!("{}{path}", server.base))
                .header("origin", shop)
                .header("access-control-request-method", "GET")
                .header(
                    "access-control-request-headers",
                    "authorization, sentat, anonymousid, rsa-retry-attempt, rsa-since-last-attempt, x-unknown",
                ),
        )
        .await;
        assert_eq!(status, 204, "{path}");
        assert_eq!(
            headers["access-control-allow-headers"],
            "authorization, sentat, anonymousid, rsa-retry-attempt, rsa-since-last-attempt",
            "{path}: RudderStack's headers are allowed; unknown ones are not"
        );
        let methods = if path == "/v1/track" { "POST" } else { "GET" };
        assert_eq!(headers["access-control-allow-methods"], methods);
    }

    let (status, headers, body) = get(http.get(&config).header("origin", shop)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["access-control-allow-origin"], shop);
    assert_eq!(body["source"]["enabled"], true);

    for origin in [Some("https://elsewhere.example"), None] {
        let mut request = http.get(&config);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let (status, _, problem) = get(request).await;
        assert_eq!(status, 403, "{origin:?}: {problem}");
        assert_eq!(problem["code"], "origin_not_allowed");
    }
}

#[tokio::test]
async fn a_beacon_batch_carries_its_key_in_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let key = server.create_key(json!({"scopes": ["events:write"]})).await;
    let http = reqwest::Client::new();
    let beacon = |key: &str| {
        let batch = json!({"batch": [{"type": "track", "event": "Beaconed", "userId": "beacon-user",
                                      "messageId": "beacon-1"}], "sentAt": chrono::Utc::now()});
        http.post(format!("{}/beacon/v1/batch?writeKey={key}", server.base))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(batch.to_string())
    };
    let (status, _, problem) = get(beacon("cjk_dev_nope_nope")).await;
    assert_eq!(
        (status, &problem["code"]),
        (401, &json!("invalid_credential")),
        "{problem}"
    );
    for _ in 0..2 {
        let (status, _, body) = get(beacon(&key)).await;
        assert_eq!((status, body), (200, json!({"success": true})));
    }
    let journey = || server.send(reqwest::Method::GET, "/v1/persons/beacon-user/events", None);
    let mut tries = 0;
    while journey().await.1["events"].as_array().unwrap().is_empty() {
        tries += 1;
        assert!(tries < 200, "the beacon reaches the Tape within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Give the resend time to reach the Tape too, were it not deduplicated.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let events = journey().await.1["events"].clone();
    let ids: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["beacon-1"],
        "the resent beacon dedups on its messageId"
    );
}
