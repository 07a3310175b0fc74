//! RFC 9457 problem details: every error the API returns has this shape, with a stable
//! machine-readable `code`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use cjaas_core::auth::AuthError;
use cjaas_core::ports::StoreError;

use crate::admin::AdminError;
use crate::auth::AuthFailure;

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

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        match e {
            StoreError::Transient(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the store is unavailable; try again",
            )
            .retry_after(1),
            StoreError::Rejected(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the store refused the request",
            ),
        }
    }
}

impl From<AuthFailure> for Problem {
    fn from(e: AuthFailure) -> Self {
        match e {
            AuthFailure::Denied(e) => e.into(),
            AuthFailure::Store(e) => e.into(),
        }
    }
}

impl From<AdminError> for Problem {
    fn from(e: AdminError) -> Self {
        let status = match &e {
            AdminError::TenantExists(_) => StatusCode::CONFLICT,
            AdminError::UnknownTenant(_) | AdminError::KeyNotFound(_) => StatusCode::NOT_FOUND,
            AdminError::ScopeNotHeld(_)
            | AdminError::ApiKeyRequired
            | AdminError::PublishableKey => StatusCode::FORBIDDEN,
            AdminError::InvalidRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AdminError::Store(e) => return e.clone().into(),
        };
        Problem::new(status, e.code(), e.to_string())
    }
}
