//! The HTTP edge in AWS: the API Lambdas behind API Gateway and the authorizer, and the
//! Tape writer on records put straight on the stream.

use cjaas_tests::{call_with_context, put_direct, request, Stack};
use http::StatusCode;
use serde_json::{json, Value};

fn assert_edge_headers(headers: &http::HeaderMap) {
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
}

fn post(fixture_name: &str, path: &str, body: Value) -> Value {
    request(
        fixture_name,
        "POST",
        path,
        json!({}),
        Some(body.to_string()),
    )
}

#[tokio::test]
async fn lambda_routes_take_bodies_of_their_documented_shape_only() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let cases = [
        post("admin-mint-token.json", "/v1/tokens", json!([["tape:read"], 60])),
        request(
            "admin-mint-token.json",
            "PUT",
            "/v1/forwarding",
            json!({}),
            Some(json!({"destinations": [{"id": "lake", "type": 0, "bucket": "lake-bucket", "prefix": "cj/"}]}).to_string()),
        ),
    ];
    for (case, pointer) in cases.into_iter().zip(["", "/destinations/0/type"]) {
        let (status, headers, problem) = stack.call(&token, case).await;
        assert_eq!(
            (
                status,
                problem["code"].as_str(),
                problem["errors"][0]["pointer"].as_str()
            ),
            (
                StatusCode::BAD_REQUEST,
                Some("malformed_json"),
                Some(pointer)
            ),
            "{problem}"
        );
        assert_edge_headers(&headers);
    }
    let minted = post(
        "admin-mint-token.json",
        "/v1/tokens",
        json!({"scopes": ["tape:read"], "ttl_seconds": null}),
    );
    let (status, headers, body) = stack.call(&token, minted).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_edge_headers(&headers);
}

#[tokio::test]
async fn a_repeated_authorization_header_is_refused_and_every_answer_has_the_edge_headers() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    // API Gateway joins a repeated header's values with a comma.
    let context = stack.authorize(&format!("{token}, Bearer {token}")).await;
    assert_eq!(context, json!({"denied": "duplicate_header"}));
    let journey = request(
        "query-journey.json",
        "GET",
        "/v1/persons/p/events",
        json!({}),
        None,
    );
    let (status, headers, problem) =
        call_with_context(&stack.api(), journey.clone(), context).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("duplicate_header"))
    );
    assert_edge_headers(&headers);
    // A refused credential and no authorizer context at all: problems from the glue.
    for context in [stack.authorize("garbage").await, json!({})] {
        let (status, headers, _) = call_with_context(&stack.api(), journey.clone(), context).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_edge_headers(&headers);
    }
    let (status, headers, _) = stack.call(&token, journey).await;
    assert_eq!(status, StatusCode::OK);
    assert_edge_headers(&headers);
    let unknown = request(
        "query-journey.json",
        "GET",
        "/v1/nothing-here",
        json!({}),
        None,
    );
    let (status, headers, _) = stack.call(&token, unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_edge_headers(&headers);
}

#[tokio::test]
async fn a_source_that_is_no_uri_reference_is_refused_at_ingest_and_on_the_stream() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let event = json!({"specversion": "1.0", "id": "u-1", "source": "×ø\u{9b}", "type": "t", "person": "uri-1"});
    let (status, _, problem) = stack
        .call(
            &token,
            cjaas_tests::post_batch(std::slice::from_ref(&event)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["code"], "invalid_source");
    let direct = json!({"credential": token, "event": event});
    put_direct(&stack.sdk, &stack.stream, direct.to_string().as_bytes()).await;
    assert!(
        stack.pump().await.is_empty(),
        "dead letters are not retried"
    );
    let codes: Vec<Value> = stack
        .dead_letters()
        .await
        .iter()
        .map(|l| l["code"].clone())
        .collect();
    assert_eq!(codes, [json!("invalid_source")]);
}

#[tokio::test]
async fn the_stream_function_answers_with_the_edge_headers_too() {
    use tower::ServiceExt;
    let stack = Stack::create().await;
    let router =
        cjaas_aws::wiring::stream_router(&stack.wiring(), std::time::Duration::from_millis(100))
            .expect("the stream function");
    for (path, status) in [
        ("/v1/stream", StatusCode::UNAUTHORIZED),
        ("/v1/elsewhere", StatusCode::NOT_FOUND),
    ] {
        let request = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_edge_headers(response.headers());
    }
}
