//! The Segment-compatible tracking API and publishable keys on the emulator: real HTTP
//! clients (the real `@segment/analytics-node`, reqwest) through an API Gateway
//! stand-in to the real `ingest` handler and authorizer, then Kinesis, the Tape writer
//! and the query function.

use cjaas_tests::gateway::{run_node_client, Gateway};
use cjaas_tests::{ids, journey, read_stream, request, Stack};
use http::StatusCode;
use serde_json::{json, Value};
use std::io::Write;

async fn send(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post(gateway: &Gateway, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}{path}", gateway.base))
        .header("content-type", "application/json")
}

async fn records_on_stream(stack: &Stack) -> usize {
    read_stream(&stack.sdk, &stack.stream).await["Records"]
        .as_array()
        .unwrap()
        .len()
}

/// Segment's and RudderStack's Node libraries, each through the ingest function (the
/// latter gzips and labels its batches `application/x-www-form-urlencoded`).
#[tokio::test]
async fn the_real_tracking_clients_reach_the_tape_through_the_ingest_function() {
    let stack = Stack::create().await;
    let (_, admin) = stack.create_tenant().await;
    let write_key = stack.create_key(&admin, &["events:write"]).await;
    let gateway = Gateway::start(&stack).await;
    for (library, run) in [("segment", "aws"), ("rudderstack", "aws-rs")] {
        run_node_client(&gateway.base, &write_key, run, library).await;
        assert_eq!(stack.pump().await, Vec::<String>::new(), "no record failed");

        let (status, _, body) = stack
            .call(&admin, journey(&format!("user-{run}"), ""))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let types: Vec<&str> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "page",
                "Product Viewed",
                "identify",
                "Order Completed",
                "screen",
                "group",
                "alias"
            ],
            "{library}: identify and alias linked the anonymous and the legacy id"
        );
        let aliases = request(
            "query-journey.json",
            "GET",
            &format!("/v1/persons/user-{run}/aliases"),
            json!({}),
            None,
        );
        let (_, _, aliases) = stack.call(&admin, aliases).await;
        assert_eq!(
            aliases["aliases"],
            json!([format!("anon-{run}"), format!("legacy-{run}")])
        );
    }
}

#[tokio::test]
async fn the_tracking_protocol_on_the_ingest_function() {
    let stack = Stack::create().await;
    let (_, admin) = stack.create_tenant().await;
    let key = stack.create_key(&admin, &["events:write"]).await;
    let reader = stack.create_key(&admin, &["tape:read"]).await;
    let gateway = Gateway::start(&stack).await;

    // Basic auth with a skewed device clock, sent twice (a client retry).
    let device_now = chrono::Utc::now() - chrono::Duration::hours(3);
    let batch = json!({
        "batch": [{"type": "track", "event": "Signed Up", "userId": "u", "messageId": "m-1",
                   "timestamp": (device_now - chrono::Duration::seconds(30)).to_rfc3339()}],
        "sentAt": device_now.to_rfc3339()
    })
    .to_string();
    for _ in 0..2 {
        let (status, _, body) = send(
            post(&gateway, "/v1/batch")
                .basic_auth(&key, Some(""))
                .body(batch.clone()),
        )
        .await;
        assert_eq!((status, body), (200, json!({"success": true})));
    }
    // text/plain with the key in the body; gzip with a Bearer key.
    let plain = json!({"writeKey": key, "userId": "u", "name": "Home", "messageId": "m-2"});
    let request = reqwest::Client::new()
        .post(format!("{}/v1/p", gateway.base))
        .header("content-type", "text/plain")
        .body(plain.to_string());
    assert_eq!(send(request).await.0, 200);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(
        json!({"userId": "u", "event": "Zipped", "messageId": "m-3"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let zipped = post(&gateway, "/v1/track")
        .bearer_auth(&key)
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap());
    let (status, _, body) = send(zipped).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stack.pump().await, Vec::<String>::new());
    let (_, _, body) = stack.call(&admin, journey("u", "")).await;
    assert_eq!(
        ids(&body),
        ["m-1", "m-2", "m-3"],
        "the resend was deduplicated"
    );
    let time: chrono::DateTime<chrono::Utc> =
        body["events"][0]["time"].as_str().unwrap().parse().unwrap();
    let expected = chrono::Utc::now() - chrono::Duration::seconds(30);
    assert!(
        (time - expected).num_seconds().abs() <= 10,
        "skew corrected: {time} vs {expected}"
    );

    // Refusals: nothing reaches the stream.
    let before = records_on_stream(&stack).await;
    let one = json!({"userId": "u", "event": "e"}).to_string();
    let oversize = json!({"userId": "u", "event": "e", "p": "x".repeat(40 * 1024)}).to_string();
    for (request, status, code) in [
        (
            post(&gateway, "/v1/track").body(one.clone()),
            401,
            "missing_credential",
        ),
        (
            post(&gateway, "/v1/track")
                .basic_auth("cjk_nope_x_y", Some(""))
                .body(one.clone()),
            401,
            "invalid_credential",
        ),
        (
            post(&gateway, "/v1/track")
                .basic_auth(&reader, Some(""))
                .body(one.clone()),
            403,
            "insufficient_scope",
        ),
        (
            post(&gateway, "/v1/track")
                .basic_auth(&key, Some(""))
                .body(oversize),
            400,
            "invalid_messages",
        ),
        (
            post(&gateway, "/v1/track")
                .basic_auth(&key, Some(""))
                .body("{"),
            400,
            "malformed_json",
        ),
    ] {
        let (got, _, problem) = send(request).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{problem}"
        );
        assert_eq!(problem["message"], problem["detail"]);
    }
    assert_eq!(records_on_stream(&stack).await, before);

    // The settings analytics.js reads, without an authorizer: they point it here.
    let settings = reqwest::Client::new()
        .get(format!("{}/v1/projects/{key}/settings", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status().as_u16(), 200);
    let settings: Value = settings.json().await.unwrap();
    let host = gateway.base.trim_start_matches("http://");
    assert_eq!(
        settings["integrations"]["Segment.io"]["apiHost"],
        format!("{host}/v1")
    );
    let (status, _, problem) =
        send(reqwest::Client::new().get(format!("{}/v1/projects/{reader}/settings", gateway.base)))
            .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
}

#[tokio::test]
async fn publishable_keys_are_bound_to_their_origins_behind_the_authorizer_too() {
    let stack = Stack::create().await;
    let (_, admin) = stack.create_tenant().await;
    let body = json!({"kind": "publishable", "allowed_origins": ["https://shop.example.com"],
                      "rate_limit_per_minute": 3})
    .to_string();
    let create = request(
        "admin-create-key.json",
        "POST",
        "/v1/keys",
        json!({}),
        Some(body),
    );
    let (status, _, created) = stack.call(&admin, create).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kind"], "publishable");
    let key = created["token"].as_str().unwrap().to_owned();
    let gateway = Gateway::start(&stack).await;

    // The preflight has no credential and no authorizer.
    let preflight = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/events", gateway.base),
        )
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );

    let event = |id: &str| {
        json!({"specversion": "1.0", "id": id, "source": "/web", "type": "t", "person": "web"})
            .to_string()
    };
    let ingest = |origin: &str, id: &str| {
        reqwest::Client::new()
            .post(format!("{}/v1/events", gateway.base))
            .bearer_auth(&key)
            .header("origin", origin)
            .header("content-type", "application/cloudevents+json")
            .body(event(id))
    };
    let (status, _, problem) = send(ingest("https://evil.example", "x")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("origin_not_allowed"))
    );
    let (status, headers, _) = send(ingest("https://shop.example.com", "w-1")).await;
    assert_eq!(status, 202);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let page = json!({"writeKey": key, "anonymousId": "web", "messageId": "w-2"}).to_string();
    let browser_page = reqwest::Client::new()
        .post(format!("{}/v1/p", gateway.base))
        .header("content-type", "text/plain")
        .header("origin", "https://shop.example.com")
        .body(page);
    assert_eq!(send(browser_page).await.0, 200);

    // The limit (3 a minute) is counted in DynamoDB, across both routes.
    let seconds = chrono::Utc::now().timestamp() % 60;
    if seconds < 58 {
        let (status, _, _) = send(ingest("https://shop.example.com", "w-3")).await;
        assert_eq!(status, 202);
        let (status, headers, problem) = send(ingest("https://shop.example.com", "w-4")).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (429, Some("rate_limited"))
        );
        assert!(headers.contains_key("retry-after"));
    }
}

#[tokio::test]
async fn the_ingest_function_serves_the_browser_tag_without_a_credential() {
    let stack = Stack::create().await;
    let gateway = Gateway::start(&stack).await;
    let url = format!("{}{}", gateway.base, cjaas_app::http::TAG_PATH);
    let response = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-type"], "text/javascript; charset=utf-8",
        "{headers:?}"
    );
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("public, max-age="));
    let body = response.bytes().await.unwrap();
    assert_eq!(&body[..], cjaas_app::http::TAG_JS);

    let etag = headers["etag"].to_str().unwrap();
    let cached = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status().as_u16(), 304);

    let gzipped = reqwest::Client::new()
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gzipped.bytes().await.unwrap()[..]),
        &mut inflated,
    )
    .unwrap();
    assert_eq!(inflated, cjaas_app::http::TAG_JS, "binary through Lambda");
}
