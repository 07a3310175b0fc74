//! Bad input gets a 4xx problem+json with a machine-readable code, and nothing from a
//! refused request reaches the stream.

use cjaas_tests::{call_with_context, read_stream, request, Stack};
use http::StatusCode;
use serde_json::{json, Value};

fn event(id: &str, person: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/s", "type": "t", "person": person})
}

fn post(content_type: &str, body: String) -> Value {
    request(
        "ingest-batch.json",
        "POST",
        "/v1/events",
        json!({"content-type": content_type}),
        Some(body),
    )
}

fn batch(events: &[Value]) -> Value {
    cjaas_tests::post_batch(events)
}

fn assert_problem(result: &(StatusCode, http::HeaderMap, Value), status: StatusCode, code: &str) {
    let (got, headers, body) = result;
    assert_eq!(
        (*got, body["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], format!("urn:cjaas:problem:{code}"));
}

async fn stream_is_empty(stack: &Stack) {
    let records = read_stream(&stack.sdk, &stack.stream).await;
    assert_eq!(records["Records"], json!([]), "nothing may be written");
}

#[tokio::test]
async fn invalid_events_are_named_by_index_and_nothing_is_written() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let huge = json!({"specversion": "1.0", "id": "big", "source": "/s", "type": "t", "person": "p",
        "data": {"blob": "x".repeat(256 * 1024)}});
    let result = stack
        .call(
            &token,
            batch(&[
                event("ok", "p"),
                huge,
                event("no-person", "p")
                    .as_object()
                    .map(|o| {
                        let mut o = o.clone();
                        o.remove("person");
                        Value::Object(o)
                    })
                    .unwrap(),
                event("ctl", "bad\u{1}id"),
                event("", "p"),
            ]),
        )
        .await;
    assert_problem(&result, StatusCode::UNPROCESSABLE_ENTITY, "invalid_events");
    let errors: Vec<(u64, &str)> = result.2["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [
            (1, "event_too_large"),
            (2, "missing_person"),
            (3, "invalid_person"),
            (4, "empty_attribute")
        ]
    );
    stream_is_empty(&stack).await;
}

#[tokio::test]
async fn oversized_malformed_and_unsupported_requests_are_refused_whole() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let too_many: Vec<Value> = (0..501).map(|i| event(&i.to_string(), "p")).collect();
    assert_problem(
        &stack.call(&token, batch(&too_many)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "batch_too_large",
    );
    let too_big = format!("[{}]", " ".repeat(5 * 1024 * 1024));
    assert_problem(
        &stack
            .call(&token, post("application/cloudevents-batch+json", too_big))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_too_large",
    );
    assert_problem(
        &stack
            .call(
                &token,
                post("application/cloudevents+json", "{\"id\":".into()),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );
    assert_problem(
        &stack
            .call(
                &token,
                post("application/cloudevents-batch+json", "[]".into()),
            )
            .await,
        StatusCode::BAD_REQUEST,
        "empty_batch",
    );
    assert_problem(
        &stack.call(&token, post("text/plain", "hello".into())).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let binary_without_person = request(
        "ingest-binary.json",
        "POST",
        "/v1/events",
        json!({"ce-person": null}),
        Some("{}".into()),
    );
    let mut binary_without_person = binary_without_person;
    binary_without_person["headers"]
        .as_object_mut()
        .unwrap()
        .remove("ce-person");
    assert_problem(
        &stack.call(&token, binary_without_person).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_events",
    );
    stream_is_empty(&stack).await;
}

#[tokio::test]
async fn credentials_are_checked_before_anything_else() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let one = batch(&[event("a", "p")]);
    assert_problem(
        &stack.call("garbage", one.clone()).await,
        StatusCode::UNAUTHORIZED,
        "malformed_credential",
    );
    let wrong_secret = format!("{}x", &token[..token.len() - 1]);
    assert_problem(
        &stack.call(&wrong_secret, one.clone()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credential",
    );
    // No authorizer context at all: the function refuses on its own.
    assert_problem(
        &call_with_context(&stack.api(), one.clone(), json!({})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credential",
    );
    // A read-only key cannot write, and a write-only token cannot read.
    let read_only = &stack.create_key(&token, &["tape:read"]).await;
    assert_problem(
        &stack.call(read_only, one.clone()).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    let (status, _, minted) = stack
        .call(&token, cjaas_tests::fixture("admin-mint-token.json"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let write_only = minted["token"].as_str().unwrap();
    assert_eq!(stack.call(write_only, one).await.0, StatusCode::ACCEPTED);
    let journey = request(
        "query-journey.json",
        "GET",
        "/v1/persons/p/events",
        json!({}),
        None,
    );
    assert_problem(
        &stack.call(write_only, journey).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    // A token cannot grant more than its holder has.
    let escalate = request(
        "admin-mint-token.json",
        "POST",
        "/v1/tokens",
        json!({}),
        Some(json!({"scopes": ["admin"]}).to_string()),
    );
    assert_problem(
        &stack.call(read_only, escalate).await,
        StatusCode::FORBIDDEN,
        "scope_not_held",
    );
    // A token cannot renew itself: only API keys mint credentials.
    let renew = cjaas_tests::fixture("admin-mint-token.json");
    assert_problem(
        &stack.call(write_only, renew).await,
        StatusCode::FORBIDDEN,
        "api_key_required",
    );
}

#[tokio::test]
async fn bad_queries_name_each_bad_parameter() {
    let stack = Stack::create().await;
    let (_, token) = stack.create_tenant().await;
    let journey = |q: &str| {
        request(
            "query-journey.json",
            "GET",
            &format!("/v1/persons/p/events?{q}"),
            json!({}),
            None,
        )
    };
    let result = stack
        .call(
            &token,
            journey("colour=red&from=yesterday&limit=5000&cursor=nope&order=up"),
        )
        .await;
    assert_problem(&result, StatusCode::BAD_REQUEST, "invalid_query");
    let params: Vec<&str> = result.2["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["parameter"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["colour", "from", "limit", "order", "cursor"]);
    let bad_person = request(
        "query-journey.json",
        "GET",
        "/v1/persons/bad%07id/events",
        json!({}),
        None,
    );
    assert_problem(
        &stack.call(&token, bad_person).await,
        StatusCode::BAD_REQUEST,
        "invalid_person",
    );
    let nowhere = request("query-journey.json", "GET", "/v1/nowhere", json!({}), None);
    assert_problem(
        &stack.call(&token, nowhere).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let wrong_method = request(
        "query-journey.json",
        "DELETE",
        "/v1/persons/p/events",
        json!({}),
        None,
    );
    assert_problem(
        &stack.call(&token, wrong_method).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let bad_json = request(
        "admin-create-key.json",
        "POST",
        "/v1/keys",
        json!({}),
        Some(json!({"scopes": ["root"]}).to_string()),
    );
    assert_problem(
        &stack.call(&token, bad_json).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );
}

#[tokio::test]
async fn an_unreachable_stream_is_a_503_with_retry_after() {
    let stack = Stack::create().await;
    let (tenant, _) = stack.create_tenant().await;
    let router = {
        let mut settings = stack.settings();
        settings.event_stream = Some("no-such-stream".into());
        let ingest = cjaas_aws::wiring::new(&stack.sdk, settings)
            .ingest_router(cjaas_aws::lambda::with_authorizer_principal)
            .expect("the ingest routes");
        cjaas_aws::lambda::behind_gateway(ingest)
    };
    let context = json!({"tenant": tenant, "scopes": "events:write", "credential": "k"});
    let result = call_with_context(&router, batch(&[event("a", "p")]), context).await;
    assert_problem(
        &result,
        StatusCode::SERVICE_UNAVAILABLE,
        "stream_unavailable",
    );
    assert_eq!(result.1["retry-after"], "1");
}
