//! RFC 9457 problem details: every error the API returns has this shape, with a stable
//! machine-readable `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::failure::{AppError, ErrorKind};

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable, machine-readable reason; also the tail of the `type` URN.
    pub code: &'static str,
    pub detail: String,
    /// Per-item problems, e.g. every bad event of a batch.
    pub errors: Option<Box<serde_json::Value>>,
    pub retry_after_secs: Option<u64>,
    /// Also carry the detail as `message`, as Segment's API does.
    pub with_message: bool,
}

/// The wire form (RFC 9457 members plus `code` and `errors`).
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: None,
            retry_after_secs: None,
            with_message: false,
        }
    }

    /// Adds Segment's `message` member (the detail) beside `code`.
    pub fn segment_compatible(mut self) -> Self {
        self.with_message = true;
        self
    }

    pub fn with_errors(mut self, errors: impl Serialize) -> Self {
        let errors = serde_json::to_value(errors).expect("problem errors serialize");
        self.errors = Some(Box::new(errors));
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// A header that may appear once was repeated: no value is picked silently.
    pub fn duplicate_header(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "duplicate_header",
            format!("the header {name} is given more than once; send it once"),
        )
    }

    pub fn bad_json(error: serde_json::Error) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", error.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ProblemBody {
            kind: format!("urn:cjaas:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            code: self.code,
            detail: &self.detail,
            errors: self.errors.as_deref(),
            message: self.with_message.then_some(self.detail.as_str()),
        })
        .expect("a problem serializes");
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The one HTTP status of each kind of error.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl Problem {
    /// The one conversion of an application error into its problem: the status
    /// of its kind, its code, and what it carries. An error that wraps another
    /// (a store failure) answers as that one.
    pub fn of(e: &dyn AppError) -> Self {
        if let Some(cause) = e.wraps() {
            return Problem::of(cause);
        }
        let (kind, code) = (e.kind(), e.code());
        if matches!(kind, ErrorKind::Unavailable | ErrorKind::Internal) {
            tracing::error!(code, error = %e, "request failed");
        }
        let mut problem = Problem::new(status_of(kind), code, e.public_detail());
        problem.errors = e.problems().map(Box::new);
        problem.retry_after_secs = e.retry_after();
        problem
    }
}

impl<E: AppError> From<E> for Problem {
    fn from(e: E) -> Self {
        Problem::of(&e)
    }
}
