//! The Segment-compatible tracking API and publishable keys on the embedded default:
//! the real `cjaas-local` binary over real HTTP, the real `@segment/analytics-node`
//! client (installed into tests/node by scripts/test), and raw HTTP for the protocol.

mod common;

use common::{start, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn journey(server: &Server, person: &str) -> Vec<Value> {
    let response = client()
        .get(format!("{}/v1/persons/{person}/events", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    body["events"].as_array().unwrap().clone()
}

/// Polls a journey until it holds `n` events (the Tape writer runs in the background).
async fn wait_for(server: &Server, person: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = journey(server, person).await;
        if events.len() >= n || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

/// Sends a request; returns status, headers and the JSON answer (or null).
async fn send(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn segment(server: &Server, path: &str) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}{path}", server.base))
        .header("content-type", "application/json")
}

/// Runs tests/node/send.mjs: one journey through a real tracking library (`segment` or
/// `rudderstack`).
pub fn run_node_client(host: &str, write_key: &str, run: &str, library: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    assert!(
        dir.join("node_modules/@rudderstack/rudder-sdk-node").exists(),
        "the tracking clients are not installed: run `npm ci --prefix tests/node` (scripts/test does)"
    );
    let output = std::process::Command::new("node")
        .arg(dir.join("send.mjs"))
        .args([host, write_key, run, library])
        .output()
        .expect("node 20 is installed");
    assert!(
        output.status.success(),
        "the {library} client failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The journey send.mjs sends, as the user's Tape holds it once both links are made.
const SENT_TYPES: [&str; 7] = [
    "page",
    "Product Viewed",
    "identify",
    "Order Completed",
    "screen",
    "group",
    "alias",
];

#[tokio::test]
async fn the_real_segment_client_writes_a_journey_that_spans_the_anonymous_visit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let write_key = server.create_key(json!({"scopes": ["events:write"]})).await;
    run_node_client(&server.base, &write_key, "r1", "segment");

    // identify linked anon-r1, alias linked legacy-r1: the user's journey spans both.
    let events = wait_for(&server, "user-r1", 7).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, SENT_TYPES);
    assert!(events.iter().all(|e| e["source"] == "segment"));
    assert_eq!(events[0]["person"], "anon-r1");
    assert_eq!(events[3]["data"]["properties"]["total"], 49);
    assert_eq!(
        events[3]["data"]["context"]["library"]["name"],
        "@segment/analytics-node"
    );
    assert!(events[3]["data"].get("writeKey").is_none());
    let aliases: Value = client()
        .get(format!("{}/v1/persons/user-r1/aliases", server.base))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(aliases["aliases"], json!(["anon-r1", "legacy-r1"]));

    // Undone like any alias: the anonymous events leave the user's journey.
    let unlink = client()
        .delete(format!(
            "{}/v1/persons/user-r1/aliases/anon-r1",
            server.base
        ))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(unlink.status().as_u16(), 204);
    assert_eq!(journey(&server, "user-r1").await.len(), 5);
}

/// RudderStack's Node library gzips each batch and, through axios's default, labels it
/// `application/x-www-form-urlencoded`: the body is still read as the JSON it is.
#[tokio::test]
async fn the_real_rudderstack_client_writes_the_same_journey() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let write_key = server.create_key(json!({"scopes": ["events:write"]})).await;
    run_node_client(&server.base, &write_key, "rs", "rudderstack");

    let events = wait_for(&server, "user-rs", 7).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, SENT_TYPES);
    assert_eq!(events[0]["person"], "anon-rs");
    assert_eq!(events[3]["data"]["properties"]["total"], 49);
    assert_eq!(events[2]["data"]["traits"]["email"], "rs@example.com");
    let ids: std::collections::HashSet<&str> = ids(&events).into_iter().collect();
    assert_eq!(ids.len(), 7, "each call has its own messageId");
}

#[tokio::test]
async fn the_segment_protocol_over_raw_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let key = server.create_key(json!({"scopes": ["events:write"]})).await;
    let reader = server.create_key(json!({"scopes": ["tape:read"]})).await;

    // Clock skew: the device is an hour fast; the event happened 10 s before sending.
    let device_now = chrono::Utc::now() + chrono::Duration::hours(1);
    let batch = json!({
        "batch": [{"type": "track", "event": "Signed Up", "userId": "skewed", "messageId": "skew-1",
                   "timestamp": (device_now - chrono::Duration::seconds(10)).to_rfc3339()}],
        "sentAt": device_now.to_rfc3339()
    });
    let (status, _, body) = send(
        segment(&server, "/v1/batch")
            .basic_auth(&key, Some(""))
            .body(batch.to_string()),
    )
    .await;
    assert_eq!((status, body), (200, json!({"success": true})));
    // Resending the same batch (as a client retry does) dedups on messageId.
    let (status, _, _) = send(
        segment(&server, "/v1/batch")
            .basic_auth(&key, Some(""))
            .body(batch.to_string()),
    )
    .await;
    assert_eq!(status, 200);
    let events = wait_for(&server, "skewed", 1).await;
    assert_eq!(ids(&events), ["skew-1"]);
    let time: chrono::DateTime<chrono::Utc> = events[0]["time"].as_str().unwrap().parse().unwrap();
    let expected = chrono::Utc::now() - chrono::Duration::seconds(10);
    assert!(
        (time - expected).num_seconds().abs() <= 5,
        "{time} is not about {expected}"
    );

    // Gzip, text/plain with the write key in the body (analytics.js), a Bearer key.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zipped = json!({"batch": [{"type": "page", "userId": "p", "messageId": "gz-1"}]});
    gz.write_all(zipped.to_string().as_bytes()).unwrap();
    let (status, _, body) = send(
        segment(&server, "/v1/b")
            .basic_auth(&key, None::<&str>)
            .header("content-encoding", "gzip")
            .body(gz.finish().unwrap()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let plain = json!({"writeKey": key, "userId": "p", "event": "Clicked", "messageId": "tp-1"});
    let (status, _, body) = send(
        client()
            .post(format!("{}/v1/t", server.base))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(plain.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = send(
        segment(&server, "/v1/identify")
            .bearer_auth(&key)
            .body(json!({"userId": "p", "messageId": "id-1", "traits": {"a": 1}}).to_string()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&wait_for(&server, "p", 3).await).len(), 3);

    // Limits and bad input: 400 with Segment's code and message, nothing written.
    let too_big = json!({"batch": [
        {"type": "track", "event": "kept?", "userId": "limits", "messageId": "small"},
        {"type": "track", "event": "big", "userId": "limits", "properties": {"x": "y".repeat(33 * 1024)}}
    ]});
    for (body, code) in [
        (too_big.to_string(), "invalid_messages"),
        (json!({"batch": [{"type": "track", "event": "e", "messageId": "anon-less"}]}).to_string(), "invalid_messages"),
        (json!({"batch": vec![json!({"type": "track", "event": "e", "userId": "limits", "p": "x".repeat(30 * 1024)}); 20]}).to_string(), "batch_too_large"),
        ("{\"batch\": [".to_owned(), "malformed_json"),
    ] {
        let (status, _, problem) = send(segment(&server, "/v1/batch").basic_auth(&key, Some("")).body(body)).await;
        assert_eq!((status, problem["code"].as_str()), (400, Some(code)), "{problem}");
        assert_eq!(problem["message"], problem["detail"], "Segment's message key");
    }
    // A media type that is not JSON in disguise is a 415; none at all is read as JSON.
    let xml = client()
        .post(format!("{}/v1/track", server.base))
        .header("content-type", "application/xml")
        .basic_auth(&key, Some(""))
        .body(json!({"userId": "limits", "event": "e", "messageId": "xml"}).to_string());
    let (status, _, problem) = send(xml).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{problem}"
    );
    let unlabelled = client()
        .post(format!("{}/v1/track", server.base))
        .basic_auth(&key, Some(""))
        .body(json!({"userId": "unlabelled", "event": "e", "messageId": "unlabelled"}).to_string());
    assert_eq!(send(unlabelled).await.0, 200);
    assert_eq!(
        ids(&wait_for(&server, "unlabelled", 1).await),
        ["unlabelled"]
    );
    let marker = json!({"userId": "limits", "event": "marker", "messageId": "marker"});
    let (status, _, _) = send(
        segment(&server, "/v1/track")
            .bearer_auth(&key)
            .body(marker.to_string()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        ids(&wait_for(&server, "limits", 1).await),
        ["marker"],
        "nothing of a refused request"
    );

    // Credentials: none or a wrong one is a 401, one without events:write a 403.
    let one = json!({"userId": "u", "event": "e"}).to_string();
    for (request, status) in [
        (segment(&server, "/v1/track").body(one.clone()), 401),
        (
            segment(&server, "/v1/track")
                .basic_auth("cjk_dev_nope_nope", Some(""))
                .body(one.clone()),
            401,
        ),
        (
            segment(&server, "/v1/track")
                .header("authorization", "Basic !!!")
                .body(one.clone()),
            401,
        ),
        (
            segment(&server, "/v1/track")
                .basic_auth(&reader, Some(""))
                .body(one.clone()),
            403,
        ),
    ] {
        let (got, _, problem) = send(request).await;
        assert_eq!(got, status, "{problem}");
        assert!(
            problem["code"].is_string() && problem["message"].is_string(),
            "{problem}"
        );
    }

    // The settings analytics.js reads first point it here.
    let settings: Value = client()
        .get(format!("{}/v1/projects/{key}/settings", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let host = server.base.trim_start_matches("http://");
    assert_eq!(
        settings["integrations"]["Segment.io"]["apiHost"],
        format!("{host}/v1")
    );
    assert_eq!(
        settings["integrations"]["Segment.io"]["apiKey"],
        key.as_str()
    );
    let refused = client()
        .get(format!(
            "{}/v1/projects/cjk_dev_nope_nope/settings",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
}

#[tokio::test]
async fn publishable_keys_write_only_from_their_origins_and_within_their_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    for bad in [
        json!({"kind": "publishable", "allowed_origins": []}),
        json!({"kind": "publishable", "scopes": ["tape:read"], "allowed_origins": ["https://shop.example.com"]}),
        json!({"kind": "publishable", "allowed_origins": ["shop.example.com"]}),
        json!({"scopes": ["events:write"], "allowed_origins": ["https://shop.example.com"]}),
    ] {
        let response = client()
            .post(format!("{}/v1/keys", server.base))
            .bearer_auth(server.first_key.as_ref().unwrap())
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 422, "{bad}");
    }
    let key = server.create_key(json!({"kind": "publishable", "allowed_origins": ["https://shop.example.com"], "rate_limit_per_minute": 5}),
    )
    .await;
    assert!(key.starts_with("cjp_dev_"));
    let shop = "https://shop.example.com";

    // A preflight carries no credential: it is answered for any origin.
    let preflight = client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/events", server.base),
        )
        .header("origin", "https://elsewhere.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, anonymousid, x-unknown",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 204);
    let allow =
        |r: &reqwest::Response, h: &str| r.headers().get(h).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        allow(&preflight, "access-control-allow-origin").as_deref(),
        Some("https://elsewhere.example")
    );
    assert_eq!(
        allow(&preflight, "access-control-allow-headers").as_deref(),
        Some("authorization, content-type, anonymousid"),
        "RudderStack's browser SDK sends AnonymousId; unknown headers are not allowed"
    );

    // The real request: only from an allowed origin (and never without one).
    let event = |id: &str| {
        json!({"specversion": "1.0", "id": id, "source": "/web", "type": "t", "person": "web"})
            .to_string()
    };
    let ingest = |origin: Option<&str>, token: &str, id: &str| {
        let mut request = client()
            .post(format!("{}/v1/events", server.base))
            .bearer_auth(token)
            .header("content-type", "application/cloudevents+json")
            .body(event(id));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
    };
    for origin in [
        Some("https://evil.example"),
        Some("http://shop.example.com"),
        None,
    ] {
        let (status, headers, problem) = send(ingest(origin, &key, "x")).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("origin_not_allowed")),
            "{origin:?}"
        );
        if let Some(origin) = origin {
            assert_eq!(
                headers["access-control-allow-origin"], origin,
                "the page may read the refusal"
            );
        }
    }
    let (status, headers, _) = send(ingest(Some(shop), &key, "w-1")).await;
    assert_eq!(status, 202);
    assert_eq!(headers["access-control-allow-origin"], shop);
    let page = json!({"writeKey": key, "anonymousId": "web", "messageId": "w-2"}).to_string();
    let browser_post = client()
        .post(format!("{}/v1/p", server.base))
        .header("content-type", "text/plain")
        .header("origin", shop);
    let (status, _, _) = send(browser_post.body(page)).await;
    assert_eq!(status, 200);
    let foreign = client()
        .post(format!("{}/v1/p", server.base))
        .header("content-type", "text/plain")
        .header("origin", "https://evil.example");
    let (status, _, _) =
        send(foreign.body(json!({"writeKey": key, "anonymousId": "web"}).to_string())).await;
    assert_eq!(status, 403);

    // Secret credentials keep working from any origin.
    let (status, _, _) = send(ingest(
        Some("https://evil.example"),
        &server.token,
        "admin-1",
    ))
    .await;
    assert_eq!(status, 202);
    // A publishable key neither reads nor mints an unbound token.
    let read = client()
        .get(format!("{}/v1/persons/web/events", server.base))
        .bearer_auth(&key)
        .header("origin", shop)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 403);
    assert!(
        read.headers().get("access-control-allow-origin").is_none(),
        "other routes stay same-origin"
    );
    let mint = client()
        .post(format!("{}/v1/tokens", server.base))
        .bearer_auth(&key)
        .json(&json!({"scopes": ["events:write"]}))
        .send()
        .await
        .unwrap();
    let mint_status = mint.status().as_u16();
    let mint: Value = mint.json().await.unwrap();
    assert_eq!(
        (mint_status, mint["code"].as_str()),
        (403, Some("publishable_key"))
    );
    let other_preflight = client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/persons/web/events", server.base),
        )
        .header("origin", shop)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(other_preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // The rate limit (5 a minute; 2 used) holds under concurrency: exactly 3 more pass.
    let seconds = chrono::Utc::now().timestamp() % 60;
    if seconds >= 50 {
        tokio::time::sleep(Duration::from_secs((61 - seconds) as u64)).await;
        // A new window: 5 again.
        let (status, _, _) = send(ingest(Some(shop), &key, "w-3")).await;
        assert_eq!(status, 202);
        let (status, _, _) = send(ingest(Some(shop), &key, "w-4")).await;
        assert_eq!(status, 202);
    }
    let attempts = (0..12).map(|i| {
        let request = ingest(Some(shop), &key, &format!("burst-{i}"));
        async move { request.send().await.unwrap() }
    });
    let responses = futures::future::join_all(attempts).await;
    let admitted = responses
        .iter()
        .filter(|r| r.status().as_u16() == 202)
        .count();
    let limited: Vec<_> = responses
        .iter()
        .filter(|r| r.status().as_u16() == 429)
        .collect();
    assert_eq!((admitted, limited.len()), (3, 9));
    assert!(limited[0].headers().contains_key("retry-after"));
}
