//! The HTTP API as axum routers. Each Lambda mounts the routes it serves; the local
//! server mounts them all. Handlers always answer: every error is a problem response,
//! never an `Err` (which API Gateway would turn into a bare 502).

mod admin;
mod analytics;
mod assets;
mod audiences;
mod backtest;
mod body;
mod browser;
mod dashboard;
mod dead_letters;
mod deliveries;
mod erasure;
mod forwarding;
mod ingest;
mod live;
mod person;
mod problem;
mod profiles;
mod query;
mod rules;
mod tag;
mod tracking;
mod validators;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;

use cjaas_core::auth::{AuthError, Principal};
use cjaas_core::event::MAX_REQUEST_BYTES;

pub use admin::admin_routes;
pub use analytics::analytics_routes;
pub use assets::{asset_paths, asset_routes};
pub use audiences::{audience_routes, AudienceApi};
pub use backtest::backtest_routes;
pub use browser::{browser_paths, browser_routes};
pub use dashboard::{with_dashboard_origins, DashboardOrigins};
pub use dead_letters::dead_letter_routes;
pub use deliveries::delivery_routes;
pub use erasure::erasure_routes;
pub use forwarding::forwarding_routes;
pub use ingest::ingest_routes;
pub use live::{live_routes, HEARTBEAT};
pub use problem::{Problem, PROBLEM_JSON};
pub use profiles::{profile_routes, ProfileApi};
pub use query::query_routes;
pub use rules::rule_routes;
pub use tag::{tag_routes, TAG_JS, TAG_PATH};
pub use tracking::{tracking_paths, tracking_routes};

use crate::auth::Authenticator;
pub(crate) use body::read_json;

/// The verified caller. An auth layer puts the [`Principal`] into the request
/// extensions: [`require_bearer`] locally, the API Gateway authorizer context in AWS.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| AuthError::Missing.into())
    }
}

/// Verifies `Authorization: Bearer …` on every route of `router`.
pub fn require_bearer(router: Router, auth: Arc<Authenticator>) -> Router {
    router.layer(middleware::from_fn_with_state(auth, verify_bearer))
}

async fn verify_bearer(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    if repeated_authorization(request.headers()) {
        return Problem::duplicate_header(header::AUTHORIZATION.as_str()).into_response();
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query_token(&request));
    match auth.authenticate_header(header.as_deref()).await {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(failure) => Problem::from(failure).into_response(),
    }
}

/// Whether `Authorization` is given more than once: as two headers, or as one whose
/// values a proxy joined with a comma (API Gateway and function URLs do; no credential
/// holds a comma).
pub fn repeated_authorization(headers: &axum::http::HeaderMap) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    values.next().is_some() || first.is_some_and(|v| v.as_bytes().contains(&b','))
}

/// `access_token=` of a live stream route, as `Bearer …`: browsers' `EventSource`
/// cannot set headers. Other routes take the header only (tokens in URLs get logged).
fn query_token(request: &Request) -> Option<String> {
    if !request.uri().path().ends_with("/stream") {
        return None;
    }
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "access_token")
        .map(|(_, token)| format!("Bearer {token}"))
}

/// Answers unknown routes and methods with problems instead of empty responses.
pub fn with_problem_fallback(router: Router) -> Router {
    router
        .fallback(|| async { Problem::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
}

/// A single path parameter; a bad one (e.g. broken percent-encoding) is a 400 `code`.
pub(crate) fn path_param(
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    code: &'static str,
) -> Result<String, Problem> {
    path.map(|axum::extract::Path(raw)| raw)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, code, e.body_text()))
}

/// Reads a body of at most [`MAX_REQUEST_BYTES`].
pub(crate) async fn read_body(body: Body) -> Result<Bytes, Problem> {
    axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!("the request body exceeds {MAX_REQUEST_BYTES} bytes"),
            )
        })
}

/// The headers every response carries, errors and 404s included: `nosniff`, and
/// `no-store` because API responses carry credentials and personal data, unless the
/// handler set its own `Cache-Control` (public static files: the tag, the console).
/// Apply it last (outermost), so that it also covers what the auth layers answer.
pub fn with_edge_headers(router: Router) -> Router {
    router.layer(middleware::map_response(edge_headers))
}

async fn edge_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
