//! The Segment HTTP Tracking API, so that Segment's and RudderStack's libraries post to
//! CJaaS unchanged once their host is set to it.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/batch` (`/v1/b`, `/beacon/v1/batch`) | a batch of calls (the last is RudderStack's beacon path) |
//! | `POST /v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`, `/v1/group`, `/v1/alias` (`/v1/t`, `/v1/i`, `/v1/p`, `/v1/s`, `/v1/g`, `/v1/a`) | one call |
//! | `GET /v1/projects/{writeKey}/settings` | the settings analytics.js reads first |
//! | `GET /sourceConfig` (`/sourceConfig/`) | the source config RudderStack's browser SDK reads first |
//!
//! The write key is any credential with `events:write`: HTTP Basic (the key as the user
//! name), `Authorization: Bearer`, `writeKey` in the query (RudderStack's beacons and
//! source config), or `writeKey` in the body. These routes verify it
//! themselves: in AWS they have no authorizer, which cannot read a body.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use serde_json::json;
use std::sync::Arc;

use cjaas_core::auth::{AuthError, Principal, Scope};
use cjaas_core::event::MAX_REQUEST_BYTES;
use cjaas_core::segment::{
    gunzip, parse_payload, project_settings, source_config, Call, Route, SegmentError,
};

use super::{path_param, Problem};
use crate::tracking::Tracking;

/// The short paths analytics.js uses, by call.
fn short_path(call: Call) -> &'static str {
    match call {
        Call::Track => "/v1/t",
        Call::Identify => "/v1/i",
        Call::Page => "/v1/p",
        Call::Screen => "/v1/s",
        Call::Group => "/v1/g",
        Call::Alias => "/v1/a",
    }
}

pub const SETTINGS_PATH: &str = "/v1/projects/{write_key}/settings";
/// Where RudderStack's browser SDK sends batches with `navigator.sendBeacon` (its
/// `useBeacon` option): the write key in the query, the body `text/plain`.
const BEACON_PATH: &str = "/beacon/v1/batch";
/// RudderStack's browser SDK asks for `{configUrl}/sourceConfig/`, with the slash,
/// unless its `configUrl` already ends in `/sourceConfig`.
pub const SOURCE_CONFIG_PATHS: [&str; 2] = ["/sourceConfig", "/sourceConfig/"];

/// The tracking API's read routes, which browsers call with GET.
pub fn is_read_path(path: &str) -> bool {
    path == SETTINGS_PATH || SOURCE_CONFIG_PATHS.contains(&path)
}

/// Every path of the tracking API.
pub fn tracking_paths() -> Vec<String> {
    let mut paths = vec![
        "/v1/batch".to_owned(),
        "/v1/b".to_owned(),
        BEACON_PATH.to_owned(),
    ];
    for call in Call::ALL {
        paths.push(format!("/v1/{}", call.as_str()));
        paths.push(short_path(call).to_owned());
    }
    paths.push(SETTINGS_PATH.to_owned());
    paths.extend(SOURCE_CONFIG_PATHS.map(str::to_owned));
    paths
}

pub fn tracking_routes(tracking: Arc<Tracking>) -> Router {
    let mut router = Router::new()
        .route("/v1/batch", call(Route::Batch))
        .route("/v1/b", call(Route::Batch))
        .route(BEACON_PATH, call(Route::Batch));
    for c in Call::ALL {
        router = router
            .route(&format!("/v1/{}", c.as_str()), call(Route::Single(c)))
            .route(short_path(c), call(Route::Single(c)));
    }
    for path in SOURCE_CONFIG_PATHS {
        router = router.route(path, get(rudderstack_source_config));
    }
    router
        .route(SETTINGS_PATH, get(settings))
        .with_state(tracking)
}

fn call(route: Route) -> MethodRouter<Arc<Tracking>> {
    post(
        move |State(tracking): State<Arc<Tracking>>,
              RawQuery(query): RawQuery,
              headers: HeaderMap,
              body: Body| async move {
            let query_key = query_write_key(query);
            match accept(&tracking, route, &headers, query_key, body).await {
                Ok(()) => (StatusCode::OK, Json(json!({ "success": true }))).into_response(),
                Err(problem) => problem.segment_compatible().into_response(),
            }
        },
    )
}

async fn accept(
    tracking: &Tracking,
    route: Route,
    headers: &HeaderMap,
    query_key: Option<String>,
    body: Body,
) -> Result<(), Problem> {
    let received_at = Utc::now();
    // A credential in a header or the query is checked before the body is even read.
    let early = match header_credential(headers)?.or(query_key) {
        Some(token) => Some(authenticate(tracking, &token).await?),
        None => None,
    };
    check_media_type(headers)?;
    let body = read_decoded(headers, body).await?;
    let payload = parse_payload(&body, route).map_err(Problem::from)?;
    let principal = match early {
        Some(principal) => principal,
        None => {
            let key = payload.write_key.as_deref().ok_or(AuthError::Missing)?;
            authenticate(tracking, key).await?
        }
    };
    principal.require(Scope::EventsWrite)?;
    tracking
        .guard()
        .admit(&principal, origin(headers), true)
        .await?;
    let accepted = tracking
        .accept(&principal.tenant, payload, received_at)
        .await?;
    tracing::info!(tenant = %principal.tenant, credential = %principal.credential, accepted, "tracking calls accepted");
    Ok(())
}

/// `GET /v1/projects/{writeKey}/settings`: where analytics.js should send, i.e. here.
async fn settings(
    State(tracking): State<Arc<Tracking>>,
    write_key: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let key = path_param(write_key, "malformed_credential")?;
        verify_reader(&tracking, &key, &headers).await?;
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let protocol = match headers.get("x-forwarded-proto").map(|p| p.as_bytes()) {
            Some(b"https") => "https",
            _ => "http",
        };
        Ok::<_, Problem>(Json(project_settings(
            &key,
            &format!("{host}/v1"),
            protocol,
        )))
    };
    match answer.await {
        Ok(body) => body.into_response(),
        Err(problem) => problem.segment_compatible().into_response(),
    }
}

/// `GET /sourceConfig?writeKey=…`: the source config RudderStack's browser SDK loads
/// from its `configUrl` before it sends. The key comes from the query or, as the SDK
/// also sends it, from HTTP Basic.
async fn rudderstack_source_config(
    State(tracking): State<Arc<Tracking>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let key = match query_write_key(query) {
            Some(key) => key,
            None => header_credential(&headers)?.ok_or(AuthError::Missing)?,
        };
        let principal = verify_reader(&tracking, &key, &headers).await?;
        Ok::<_, Problem>(Json(source_config(
            &principal.credential,
            principal.tenant.as_str(),
        )))
    };
    match answer.await {
        Ok(body) => body.into_response(),
        Err(problem) => problem.segment_compatible().into_response(),
    }
}

/// The write key of a settings route, verified: `events:write`, and a publishable key
/// held to its origins, without counting towards its rate limit.
async fn verify_reader(
    tracking: &Tracking,
    key: &str,
    headers: &HeaderMap,
) -> Result<Principal, Problem> {
    let principal = authenticate(tracking, key).await?;
    principal.require(Scope::EventsWrite)?;
    tracking
        .guard()
        .admit(&principal, origin(headers), false)
        .await?;
    Ok(principal)
}

/// `writeKey` of the query string, if any.
fn query_write_key(query: Option<String>) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "writeKey")
        .map(|(_, key)| key.into_owned())
}

async fn authenticate(tracking: &Tracking, token: &str) -> Result<Principal, Problem> {
    Ok(tracking.auth().authenticate(token.trim()).await?)
}

/// `Authorization: Basic base64(key:)` (the key is the user name; any password is
/// ignored) or `Authorization: Bearer key`.
fn header_credential(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, rest) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    let token = match scheme.to_ascii_lowercase().as_str() {
        "bearer" => rest.trim().to_owned(),
        "basic" => {
            let decoded = STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(AuthError::Malformed)?;
            match decoded.split_once(':') {
                Some((user, _password)) => user.to_owned(),
                None => decoded,
            }
        }
        _ => return Err(AuthError::Malformed.into()),
    };
    if token.is_empty() {
        return Err(AuthError::Malformed.into());
    }
    Ok(Some(token))
}

fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())
}

/// The body is always read as JSON. It may be labelled JSON, `text/plain` (which
/// analytics.js sends to avoid a preflight), `application/x-www-form-urlencoded` (what
/// RudderStack's Node library sends, through axios's default, and what `curl -d`
/// sends), or not at all. Any other media type is refused.
fn check_media_type(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let content_type = String::from_utf8_lossy(value.as_bytes());
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    let read_as_json = [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
    ];
    if read_as_json
        .iter()
        .any(|accepted| media_type.eq_ignore_ascii_case(accepted))
    {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("unsupported content type {content_type:?}: send application/json or text/plain"),
    ))
}

/// The body, inflated if it came with `Content-Encoding: gzip`.
async fn read_decoded(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Problem> {
    let bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| Problem::from(SegmentError::BatchTooLarge))?;
    // Absent means identity; an empty or unreadable value is no coding at all.
    let encoding = match headers.get(header::CONTENT_ENCODING) {
        None => "identity".to_owned(),
        Some(value) => String::from_utf8_lossy(value.as_bytes())
            .trim()
            .to_ascii_lowercase(),
    };
    match encoding.as_str() {
        "gzip" | "x-gzip" => gunzip(&bytes).map_err(Problem::from),
        "identity" => Ok(bytes.to_vec()),
        other => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("unsupported content encoding {other:?}: send gzip or none"),
        )),
    }
}
