//! `POST /v1/events`: structured, binary and batch CloudEvents.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;
use std::sync::Arc;

use cjaas_core::auth::Scope;
use cjaas_core::event::{
    parse_batch, parse_binary, parse_structured, repeated_header, RequestError, ValidEvent,
    BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE,
};

use super::{read_body, Caller, Problem};
use crate::ingest::Ingestor;

pub fn ingest_routes(ingestor: Arc<Ingestor>) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .with_state(ingestor)
}

async fn post_events(
    State(ingestor): State<Arc<Ingestor>>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    caller.require(Scope::EventsWrite)?;
    let body = read_body(body).await?;
    let received_at = Utc::now();
    let events = parse_request(&headers, &body, received_at).map_err(request_problem)?;
    let accepted = ingestor
        .publish(&caller.tenant, received_at, &events)
        .await
        .inspect_err(|e| tracing::error!(tenant = %caller.tenant, error = %e, "ingest could not reach the stream"))?;
    tracing::info!(tenant = %caller.tenant, credential = %caller.credential, accepted, "events accepted");
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))).into_response())
}

fn parse_request(
    headers: &HeaderMap,
    body: &[u8],
    received_at: chrono::DateTime<Utc>,
) -> Result<Vec<ValidEvent>, RequestError> {
    if let Some(name) = repeated_header(headers, false) {
        return Err(RequestError::DuplicateHeader(name));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    // In structured and batch mode the body carries every attribute, and `ce-*` headers
    // beside it may mirror them (CloudEvents HTTP binding 3.2.3): they are not read.
    if media_type == BATCH_CONTENT_TYPE {
        parse_batch(body, received_at)
    } else if media_type == STRUCTURED_CONTENT_TYPE {
        parse_structured(body, received_at).map(|e| vec![e])
    } else if headers.contains_key("ce-specversion") {
        parse_binary(headers, body, received_at).map(|e| vec![e])
    } else {
        Err(RequestError::UnsupportedMediaType(content_type.to_owned()))
    }
}

fn request_problem(error: RequestError) -> Problem {
    let detail = error.to_string();
    match error {
        RequestError::TooLarge { .. } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large", detail)
        }
        RequestError::TooManyEvents { .. } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large", detail)
        }
        RequestError::EmptyBatch => Problem::new(StatusCode::BAD_REQUEST, "empty_batch", detail),
        RequestError::DuplicateHeader(name) => Problem::duplicate_header(&name),
        RequestError::MalformedJson(_) => {
            Problem::new(StatusCode::BAD_REQUEST, "malformed_json", detail)
        }
        RequestError::UnsupportedMediaType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            detail,
        ),
        RequestError::InvalidEvents(problems) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_events",
            format!("{detail}; nothing from this request was written"),
        )
        .with_errors(problems),
    }
}
