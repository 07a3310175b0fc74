//! A stand-in for the HTTP API in front of the `ingest` function, on a loopback port,
//! so that real HTTP clients (the Segment library, reqwest) reach the real handler
//! with real API Gateway v2 payloads.
//!
//! As infra/template.yaml configures it: `POST /v1/events` runs the authorizer (and a
//! request without `Authorization` gets API Gateway's own 401); the tracking API and
//! every browser route's `OPTIONS` have no authorizer, nor has `GET /v1/tag.js`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use http::StatusCode;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Map, Value};
use std::sync::Arc;

use cjaas_app::auth::Authenticator;
use cjaas_app::http::{browser_paths, tracking_paths, with_problem_fallback, TAG_PATH};
use cjaas_aws::lambda::{handle_authorizer, respond};

use crate::{fixture, Stack};

/// The running stand-in; `base` is `http://127.0.0.1:{port}`.
pub struct Gateway {
    pub base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Front {
    function: Router,
    authorizer: Authenticator,
}

impl Gateway {
    /// Serves the stack's `ingest` function.
    pub async fn start(stack: &Stack) -> Self {
        let front = Arc::new(Front {
            function: with_problem_fallback(stack.ingest_api()),
            authorizer: stack.wiring().authenticator().expect("an authenticator"),
        });
        let app = Router::new().fallback(forward).with_state(front);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, server }
    }
}

/// Whether the template puts the authorizer in front of this route.
fn has_authorizer(method: &str, path: &str) -> bool {
    let browser = browser_paths().iter().any(|p| matches(p, path));
    let tracking = tracking_paths().iter().any(|p| matches(p, path));
    !(method == "OPTIONS" && browser || tracking || path == TAG_PATH)
}

/// Matches a route template (`{param}` segments) against a path.
fn matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

async fn forward(State(front): State<Arc<Front>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap();
    let (method, path) = (parts.method.as_str(), parts.uri.path());
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        headers.insert(name.as_str().to_owned(), json!(values.join(",")));
    }
    headers.insert("x-forwarded-proto".into(), json!("http"));
    let mut payload = fixture("ingest-batch.json");
    payload["routeKey"] = json!(format!("{method} {path}"));
    payload["rawPath"] = json!(path);
    payload["rawQueryString"] = json!(parts.uri.query().unwrap_or_default());
    payload["headers"] = Value::Object(headers);
    payload["requestContext"]["http"]["method"] = json!(method);
    payload["requestContext"]["http"]["path"] = json!(path);
    payload["requestContext"]["routeKey"] = payload["routeKey"].clone();
    let context = payload["requestContext"].as_object_mut().unwrap();
    context.remove("authorizer");
    if has_authorizer(method, path) {
        let Some(authorization) = parts.headers.get("authorization") else {
            let body = json!({"message": "Unauthorized"}).to_string();
            return (StatusCode::UNAUTHORIZED, body).into_response();
        };
        let verdict = authorize(&front.authorizer, authorization.to_str().unwrap()).await;
        payload["requestContext"]["authorizer"] = json!({ "lambda": verdict });
    }
    match std::str::from_utf8(&body) {
        Ok(text) => {
            payload["body"] = json!(text);
            payload["isBase64Encoded"] = json!(false);
        }
        Err(_) => {
            payload["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
            payload["isBase64Encoded"] = json!(true);
        }
    }
    let event = serde_json::from_str(&payload.to_string()).expect("a v2 payload");
    let event = LambdaEvent::new(event, Context::default());
    let answer = respond(&front.function, event)
        .await
        .expect("the function answers");
    from_gateway(&serde_json::to_value(answer).unwrap())
}

/// What API Gateway makes of a function's answer (as JSON, the way Lambda hands it
/// over): the status, the headers and cookies, the body, base64-decoded if it says so.
pub fn from_gateway(answer: &Value) -> Response {
    let text = answer["body"].as_str().unwrap_or_default();
    let body = match answer["isBase64Encoded"].as_bool().unwrap_or_default() {
        true => base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64"),
        false => text.as_bytes().to_vec(),
    };
    let mut response = Response::new(Body::from(body));
    let status = answer["statusCode"].as_u64().expect("a status") as u16;
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    let headers = response.headers_mut();
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        headers.insert(name, value.as_str().unwrap().parse().unwrap());
    }
    for cookie in answer["cookies"].as_array().into_iter().flatten() {
        let cookie = cookie.as_str().unwrap().parse().unwrap();
        headers.append(http::header::SET_COOKIE, cookie);
    }
    response
}

/// The authorizer Lambda on a real authorizer payload; its context.
async fn authorize(auth: &Authenticator, authorization: &str) -> Value {
    let mut payload = fixture("authorizer-request.json");
    payload["headers"]["authorization"] = json!(authorization);
    payload["identitySource"] = json!([authorization]);
    let event = serde_json::from_value(payload).expect("an authorizer request");
    let response = handle_authorizer(auth, LambdaEvent::new(event, Context::default()))
        .await
        .expect("the authorizer answers");
    response.context
}

/// Runs tests/node/send.mjs: one journey through a real tracking library, `segment`
/// (`@segment/analytics-node`) or `rudderstack` (`@rudderstack/rudder-sdk-node`), on a
/// blocking thread, so that this runtime keeps serving the gateway.
pub async fn run_node_client(host: &str, write_key: &str, run: &str, library: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    assert!(
        dir.join("node_modules/@rudderstack/rudder-sdk-node").exists(),
        "the tracking clients are not installed: run `npm ci --prefix tests/node` (scripts/test does)"
    );
    let args = [host, write_key, run, library].map(str::to_owned);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(dir.join("send.mjs"))
            .args(args)
            .output()
            .expect("node 20 is installed")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the {library} client failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
