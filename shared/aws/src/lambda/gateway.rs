//! An API router behind API Gateway's HTTP API (payload format 2.0), on
//! lambda_runtime. The request is lambda_http's conversion (its extensions carry the
//! request context the principal layer reads); the response is ours: CJaaS answers
//! in UTF-8 only, so a body is text when it is valid UTF-8 of a textual type with no
//! `Content-Encoding`, and base64 otherwise, never re-decoded. (lambda_http's own
//! conversion decodes text by its `charset`, which links every decoder of
//! `encoding_rs` into each HTTP function.)

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use axum::Router;
use lambda_http::request::LambdaRequest;
use lambda_http::RequestExt;
use lambda_runtime::{service_fn, LambdaEvent};
use tower::ServiceExt;

/// Serves the router until the runtime stops.
pub async fn serve_router(router: Router) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event| respond(&router, event))).await
}

/// One invocation: the gateway's request through the router, its answer for the
/// gateway. An error (a body that cannot be read) is the invocation's: a 502.
pub async fn respond(
    router: &Router,
    event: LambdaEvent<LambdaRequest>,
) -> Result<ApiGatewayV2httpResponse, lambda_runtime::Error> {
    let LambdaEvent { payload, context } = event;
    let mut request: lambda_http::Request = payload.into();
    if let Some(trace) = context.xray_trace_id.as_deref() {
        if let Ok(value) = HeaderValue::from_str(trace) {
            let name = HeaderName::from_static("x-amzn-trace-id");
            request.headers_mut().insert(name, value);
        }
    }
    let request = request
        .with_lambda_context(context)
        .map(axum::body::Body::new);
    let response = router.clone().oneshot(request).await?;
    gateway_response(response).await
}

/// The router's answer as API Gateway takes it: `Set-Cookie` headers as `cookies`,
/// the others as headers (repeated ones joined), the body as text or base64.
pub async fn gateway_response(
    response: Response,
) -> Result<ApiGatewayV2httpResponse, lambda_runtime::Error> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await?;
    let mut headers = parts.headers;
    let cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    headers.remove(SET_COOKIE);
    let headers = joined(&headers);
    let body = match textual(&headers).then(|| String::from_utf8(bytes.to_vec())) {
        Some(Ok(text)) => Body::Text(text),
        _ => Body::Binary(bytes.to_vec()),
    };
    let mut answer = ApiGatewayV2httpResponse::default();
    answer.status_code = i64::from(parts.status.as_u16());
    answer.is_base64_encoded = matches!(body, Body::Binary(_));
    answer.body = Some(body);
    answer.headers = headers;
    answer.cookies = cookies;
    Ok(answer)
}

/// One value per name, repeated values joined by `, ` (the event's serializer would
/// keep only the first).
fn joined(headers: &HeaderMap) -> HeaderMap {
    let mut one_each = HeaderMap::with_capacity(headers.keys_len());
    for name in headers.keys() {
        let values: Vec<&[u8]> = headers.get_all(name).iter().map(|v| v.as_bytes()).collect();
        if let Ok(value) = HeaderValue::from_bytes(&values.join(&b", "[..])) {
            one_each.insert(name.clone(), value);
        }
    }
    one_each
}

/// Whether the body is meant as text: not content-encoded, and no type, a `text/*`
/// type, or JSON, JavaScript, XML or YAML (also as a `+json`, `+xml`, `+yaml` suffix).
fn textual(headers: &HeaderMap) -> bool {
    if headers.contains_key(CONTENT_ENCODING) {
        return false;
    }
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    let mime = value.to_str().unwrap_or_default();
    let essence = mime.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    const TYPES: [&str; 4] = [
        "application/json",
        "application/javascript",
        "application/xml",
        "application/yaml",
    ];
    essence.starts_with("text/")
        || TYPES.contains(&essence.as_str())
        || ["+json", "+xml", "+yaml"]
            .iter()
            .any(|s| essence.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{self, StatusCode};

    async fn answer(response: http::response::Builder, body: Vec<u8>) -> ApiGatewayV2httpResponse {
        let response = response.body(axum::body::Body::from(body)).unwrap();
        gateway_response(response).await.unwrap()
    }

    #[tokio::test]
    async fn utf8_text_is_text_and_anything_else_is_base64() {
        let json = http::Response::builder()
            .status(StatusCode::CREATED)
            .header(CONTENT_TYPE, "application/problem+json");
        let created = answer(json, "{\"title\":\"é\"}".into()).await;
        assert_eq!(created.status_code, 201);
        assert!(!created.is_base64_encoded);
        assert_eq!(created.body, Some(Body::Text("{\"title\":\"é\"}".into())));

        let latin1 = http::Response::builder().header(CONTENT_TYPE, "text/plain; charset=latin1");
        let bytes = answer(latin1, vec![0x63, 0x61, 0x66, 0xe9]).await;
        assert!(
            bytes.is_base64_encoded,
            "not UTF-8: kept as bytes, not decoded"
        );
        assert_eq!(bytes.body, Some(Body::Binary(vec![0x63, 0x61, 0x66, 0xe9])));

        let gzip = http::Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip");
        assert!(answer(gzip, b"{}".to_vec()).await.is_base64_encoded);
        let png = http::Response::builder().header(CONTENT_TYPE, "image/png");
        assert!(answer(png, b"abc".to_vec()).await.is_base64_encoded);
        let untyped = answer(http::Response::builder(), b"plain".to_vec()).await;
        assert_eq!(untyped.body, Some(Body::Text("plain".into())));
    }

    #[tokio::test]
    async fn cookies_apart_and_repeated_headers_kept() {
        let response = http::Response::builder()
            .header(SET_COOKIE, "a=1")
            .header(SET_COOKIE, "b=2")
            .header("vary", "origin")
            .header("vary", "accept");
        let answered = answer(response, Vec::new()).await;
        assert_eq!(answered.cookies, ["a=1", "b=2"]);
        assert!(!answered.headers.contains_key(SET_COOKIE));
        let json = serde_json::to_value(&answered).unwrap();
        assert_eq!(json["headers"]["vary"], "origin, accept", "{json}");
        assert_eq!(json["body"], "", "{json}");
    }
}
