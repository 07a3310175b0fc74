//! The HTTP edge of the embedded default: bodies of exactly the documented shape,
//! repeated headers refused, `source` checked, and the headers every response carries.

mod common;

use common::{start, Server};
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{json, Value};

fn request(server: &Server, method: Method, path: &str, token: &str) -> RequestBuilder {
    Client::new()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token)
}

async fn send(builder: RequestBuilder) -> (u16, Value) {
    let response = builder.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Sends `body` and expects `400 malformed_json` naming the member at `pointer`.
async fn assert_refused(builder: RequestBuilder, body: Value, pointer: &str) {
    let (status, problem) = send(builder.json(&body)).await;
    assert_eq!(
        (
            status,
            problem["code"].as_str(),
            problem["errors"][0]["pointer"].as_str()
        ),
        (400, Some("malformed_json"), Some(pointer)),
        "{body} → {problem}"
    );
}

fn event(id: &str, source: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": source, "type": "page.viewed", "person": "edge-1"})
}

#[tokio::test]
async fn bodies_must_have_their_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let key = server
        .first_key
        .clone()
        .expect("printed at the first start");
    let post = |path: &str| request(&server, Method::POST, path, &key);
    let put = |path: &str| request(&server, Method::PUT, path, &key);

    // serde takes an array for a struct, and an index for an enum tag behind `flatten`.
    assert_refused(post("/v1/tokens"), json!([["tape:read"], 60]), "").await;
    assert_refused(put("/v1/analytics/settings"), json!([["7d"], 60, 5, 3]), "").await;
    let view = json!({"name": "v", "attributes": [{"name": "n", "aggregation": "count", "filter": [null, null]}]});
    assert_refused(post("/v1/views"), view, "/attributes/0/filter").await;
    let forwarding = json!({"destinations": [{"id": "lake", "type": 0, "bucket": "lake-bucket", "prefix": "cj/"}]});
    assert_refused(put("/v1/forwarding"), forwarding, "/destinations/0/type").await;
    let (_, stored) = send(request(&server, Method::GET, "/v1/forwarding", &key)).await;
    assert_eq!(stored["destinations"], json!([]), "nothing was stored");

    // Wrong types name the member; so do unknown members.
    let key_request = json!({"scopes": ["tape:read"], "label": 5});
    assert_refused(post("/v1/keys"), key_request, "/label").await;
    let rule = json!({"name": "r", "when": {"event": {"type": "a"}}, "actions": [{"type": "webhook", "url": 7}]});
    // Inside an internally tagged enum, serde knows the element, not the member.
    assert_refused(post("/v1/rules"), rule, "/actions/0").await;
    let funnel = json!({"name": "f", "steps": ["a", "b"], "within_seconds": 60, "extra": 1});
    assert_refused(post("/v1/funnels"), funnel, "/extra").await;
    let link = json!({"aliases": "edge-2"});
    assert_refused(post("/v1/persons/edge-1/aliases"), link, "/aliases").await;

    // `null` on an optional member is the member left out: its default applies.
    let (status, token) =
        send(post("/v1/tokens").json(&json!({"scopes": ["tape:read"], "ttl_seconds": null}))).await;
    assert_eq!(status, 201, "{token}");
    let expires_at: chrono::DateTime<chrono::Utc> =
        token["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = (expires_at - chrono::Utc::now()).num_seconds();
    assert!(
        (890..=900).contains(&ttl),
        "the default ttl of 900 s: {ttl}"
    );
    let (status, created) = send(
        post("/v1/keys")
            .json(&json!({"scopes": ["tape:read"], "label": null, "expires_in_days": null})),
    )
    .await;
    assert_eq!(
        (status, created["label"].as_str()),
        (201, Some("")),
        "{created}"
    );
    // …and on a required one, it is missing.
    let (status, problem) = send(post("/v1/tokens").json(&json!({"scopes": null}))).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("malformed_json")),
        "{problem}"
    );
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("missing field `scopes`"));
}

#[tokio::test]
async fn repeated_headers_and_bad_sources_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let binary = |id: &str| {
        request(&server, Method::POST, "/v1/events", &server.token)
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-source", "/voice")
            .header("ce-type", "call.started")
            .header("ce-person", "edge-1")
            .body("{}")
    };
    let duplicate = |builder: RequestBuilder| async move {
        let (status, problem) = send(builder).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some("duplicate_header")),
            "{problem}"
        );
    };
    duplicate(binary("b-1").header("ce-id", "b-2")).await;
    duplicate(binary("b-1").header("ce-person", "edge-2")).await;
    duplicate(
        binary("b-1")
            .header("ce-color", "red")
            .header("ce-color", "blue"),
    )
    .await;
    duplicate(
        binary("b-1")
            .header("content-type", "application/json")
            .header("content-type", "text/plain"),
    )
    .await;
    let structured = request(&server, Method::POST, "/v1/events", &server.token)
        .header("content-type", "application/cloudevents+json")
        .header("content-type", "application/cloudevents+json")
        .body(event("s-1", "/web").to_string());
    duplicate(structured).await;
    let twice = Client::new()
        .post(format!("{}/v1/events", server.base))
        .header("authorization", format!("Bearer {}", server.token))
        .header("authorization", "Bearer cjk_other_k_s")
        .header("content-type", "application/cloudevents+json")
        .body(event("s-2", "/web").to_string());
    duplicate(twice).await;
    let joined = Client::new()
        .post(format!("{}/v1/events", server.base))
        .header(
            "authorization",
            format!("Bearer {}, Bearer {}", server.token, server.token),
        )
        .header("content-type", "application/cloudevents+json")
        .body(event("s-3", "/web").to_string());
    duplicate(joined).await;
    // Binary-mode headers beside a structured or batch body may mirror its attributes
    // (CloudEvents HTTP binding 3.2.3): they are not read, and the body is what is stored.
    for (content_type, body) in [
        ("application/cloudevents+json", event("s-5", "/web")),
        (
            "application/cloudevents-batch+json",
            json!([event("s-6", "/web")]),
        ),
    ] {
        let (status, body) = send(
            request(&server, Method::POST, "/v1/events", &server.token)
                .header("content-type", content_type)
                .header("ce-type", "com.example.not.this")
                .header("ce-id", "not-this")
                .body(body.to_string()),
        )
        .await;
        assert_eq!(
            (status, body["accepted"].as_u64()),
            (202, Some(1)),
            "{body}"
        );
    }

    let batch = json!([event("ok-1", "/web"), event("bad-1", "×ø\u{9b}")]);
    let (status, problem) = send(
        request(&server, Method::POST, "/v1/events", &server.token)
            .header("content-type", "application/cloudevents-batch+json")
            .body(batch.to_string()),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["index"], 1);
    assert_eq!(problem["errors"][0]["code"], "invalid_source");
    let (status, _) = send(binary("b-3").header("content-type", "application/json")).await;
    assert_eq!(status, 202, "a single binary event still goes in");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let path = "/v1/persons/edge-1/events";
    let (_, journey) = send(request(&server, Method::GET, path, &server.token)).await;
    let stored: Vec<(&str, &str)> = journey["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stored,
        [
            ("s-5", "page.viewed"),
            ("s-6", "page.viewed"),
            ("b-3", "call.started")
        ],
        "only the good requests were written, each as its body says"
    );
}

#[tokio::test]
async fn every_response_says_nosniff_and_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = Client::new();
    let cases = [
        client.get(format!("{}/healthz", server.base)),
        client
            .get(format!("{}/v1/views", server.base))
            .bearer_auth(&server.token),
        client.get(format!("{}/v1/views", server.base)),
        client
            .get(format!("{}/v1/views", server.base))
            .bearer_auth("cjk_dev_nokey_x"),
        client
            .get(format!("{}/v1/no-such-route", server.base))
            .bearer_auth(&server.token),
        client
            .delete(format!("{}/v1/events", server.base))
            .bearer_auth(&server.token),
        client
            .post(format!("{}/v1/views", server.base))
            .bearer_auth(&server.token)
            .body("["),
    ];
    let mut statuses = Vec::new();
    for case in cases {
        let response = case.send().await.expect("the server answers");
        let headers = response.headers();
        assert_eq!(
            headers["x-content-type-options"],
            "nosniff",
            "{}",
            response.url()
        );
        assert_eq!(headers["cache-control"], "no-store", "{}", response.url());
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 401, 401, 404, 405, 400]);
}
