//! The browser routes: `POST /v1/events` and the tracking API.
//!
//! - They answer CORS preflights, which carry no credential, for any origin.
//! - Their responses allow the request's origin, so a page can read them.
//! - A publishable key is then held to its own origins (and rate limit); any other
//!   credential works from any origin, as before.
//!
//! Every other route stays without CORS headers, so browsers keep refusing
//! cross-origin calls to them.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::options;
use axum::Router;
use std::sync::Arc;

use cjaas_core::auth::Principal;

use super::tracking::{is_read_path, tracking_paths, tracking_routes};
use super::Problem;
use crate::browser::BrowserGuard;
use crate::tracking::Tracking;

/// How long a browser may cache a preflight (Chromium caps it at 2 hours).
const PREFLIGHT_MAX_AGE_SECS: &str = "7200";
/// Request headers a page may send (besides the `ce-*` of binary mode and the `rsa-*`
/// retry headers below). RudderStack's browser SDK adds `AnonymousId` (its anonymous
/// id, base64) and `SentAt` to every call.
const ALLOWED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "content-encoding",
    "anonymousid",
    "sentat",
];
/// RudderStack's browser SDK describes its retries in `Rsa-Retry-Attempt`,
/// `Rsa-Since-Last-Attempt` and the like. They are informational; CJaaS ignores them.
const ALLOWED_HEADER_PREFIXES: [&str; 2] = ["ce-", "rsa-"];

/// Every browser path: the ingest route and the tracking API.
pub fn browser_paths() -> Vec<String> {
    let mut paths = tracking_paths();
    paths.push("/v1/events".to_owned());
    paths
}

/// Mounts `events` (the `POST /v1/events` routes, authenticated by `authenticate`:
/// bearer locally, the authorizer's context in AWS) and the tracking API as browser
/// routes.
pub fn browser_routes(
    events: Router,
    authenticate: impl FnOnce(Router) -> Router,
    tracking: Arc<Tracking>,
) -> Router {
    let guarded = events.layer(middleware::from_fn_with_state(
        tracking.guard().clone(),
        publishable_origin,
    ));
    let mut preflights = Router::new();
    for path in browser_paths() {
        // The settings routes are read with GET; every other browser route takes POST.
        let methods = if is_read_path(&path) { "GET" } else { "POST" };
        preflights = preflights.route(
            &path,
            options(move |headers: HeaderMap| preflight(headers, methods)),
        );
    }
    authenticate(guarded)
        .merge(tracking_routes(tracking))
        .merge(preflights)
        .layer(middleware::from_fn(allow_origin))
}

/// Holds a publishable key to its origins and rate limit (after authentication).
async fn publishable_origin(
    State(guard): State<Arc<BrowserGuard>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(principal) = request.extensions().get::<Principal>() {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok());
        if let Err(refusal) = guard.admit(principal, origin, true).await {
            return Problem::from(refusal).into_response();
        }
    }
    next.run(request).await
}

/// Lets the calling page read the response, whatever its origin: the credential, not
/// the origin, decides what is allowed (and a publishable key checks the origin).
async fn allow_origin(request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = next.run(request).await;
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
    }
    response
}

/// A CORS preflight: no credential, so any origin may go on to the real request.
async fn preflight(headers: HeaderMap, methods: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    let allow = format!("{methods}, OPTIONS");
    out.insert(
        header::ALLOW,
        HeaderValue::from_str(&allow).expect("a static method list"),
    );
    if headers.contains_key(header::ORIGIN) {
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        if let Some(allowed) = allowed_request_headers(&headers) {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        }
        out.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS),
        );
    }
    response
}

/// The requested headers that a page may send, lowercased.
fn allowed_request_headers(headers: &HeaderMap) -> Option<HeaderValue> {
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let allowed: Vec<String> = requested
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| {
            ALLOWED_HEADERS.contains(&h.as_str())
                || ALLOWED_HEADER_PREFIXES.iter().any(|p| h.starts_with(p))
        })
        .collect();
    let list = if allowed.is_empty() {
        ALLOWED_HEADERS.join(", ")
    } else {
        allowed.join(", ")
    };
    HeaderValue::from_str(&list).ok()
}
