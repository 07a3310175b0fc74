//! One kind per application error, mapped once for every trigger: an HTTP route
//! answers an [`AppError`] with the RFC 9457 problem of its kind
//! (`http::Problem::from`), a job's trigger reports it as a [`Failure`] (the error a
//! non-HTTP Lambda returns, which the local scheduler logs).
//!
//! Each error type says its kind and its stable code once, next to its definition;
//! nothing else maps an error to a status.

use cjaas_core::auth::AuthError;
use cjaas_core::ports::StoreError;
use cjaas_core::segment::SegmentError;

use crate::analytics::AnalyticsError;

/// What kind of failure an error is. `http::problem` gives each kind its one
/// HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (400).
    BadRequest,
    /// No valid credential (401).
    Unauthenticated,
    /// The credential may not do this (403).
    Forbidden,
    /// What it names does not exist (404).
    NotFound,
    /// The state does not allow it, or a concurrent change won (409).
    Conflict,
    /// Well-formed but invalid; nothing was changed (422).
    Invalid,
    /// Too many requests; retry later (429).
    RateLimited,
    /// A store or the stream is unavailable; the same request may succeed later (503).
    Unavailable,
    /// A fault of ours (500).
    Internal,
}

impl ErrorKind {
    /// Whether doing the same thing again may succeed.
    pub fn transient(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::RateLimited)
    }
}

/// An application error: its kind and stable code, and what its problem carries.
pub trait AppError: std::error::Error {
    fn kind(&self) -> ErrorKind;
    /// Stable and machine-readable: the problem's `code`, the Lambda error type.
    fn code(&self) -> &'static str;
    /// The problem's `detail`; the error's text unless that shows internals.
    fn public_detail(&self) -> String {
        self.to_string()
    }
    /// Per-item problems (the problem's `errors`), e.g. every invalid field.
    fn problems(&self) -> Option<serde_json::Value> {
        None
    }
    /// Seconds a client should wait (the problem's `Retry-After`).
    fn retry_after(&self) -> Option<u64> {
        None
    }
    /// The error this one wraps and answers as (a store failure), if any.
    fn wraps(&self) -> Option<&dyn AppError> {
        None
    }
}

/// An error that is always one of other application errors (a service's error,
/// or a store failure), and answers as that one.
pub trait OneOf: std::error::Error {
    fn inner(&self) -> &dyn AppError;
}

impl<E: OneOf> AppError for E {
    fn kind(&self) -> ErrorKind {
        self.inner().kind()
    }
    fn code(&self) -> &'static str {
        self.inner().code()
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        Some(self.inner())
    }
}

/// `serde_json::to_value` of per-item problems.
pub(crate) fn problems(items: &impl serde::Serialize) -> Option<serde_json::Value> {
    Some(serde_json::to_value(items).expect("problems serialize"))
}

/// What a trigger other than HTTP reports for a failed job or command: the code
/// and kind of the error, and its full text (operators read it; no client does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Failure {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub detail: String,
}

impl Failure {
    /// The one conversion of an application error into a job's failure, logged
    /// here: as an error when it is ours to retry, as a warning when the request
    /// itself was refused.
    pub fn of(e: &dyn AppError) -> Self {
        let (kind, code) = (e.kind(), e.code());
        if kind.transient() || kind == ErrorKind::Internal {
            tracing::error!(code, error = %e, "job failed; it is retried");
        } else {
            tracing::warn!(code, error = %e, "job refused");
        }
        Failure {
            kind,
            code,
            detail: e.to_string(),
        }
    }

    /// A setting or adapter a job needs is missing (a deployment fault).
    pub fn wiring(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "a job's service cannot be built");
        Failure {
            kind: ErrorKind::Internal,
            code: "missing_setting",
            detail: e.to_string(),
        }
    }
}

impl<E: AppError> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::of(&e)
    }
}

impl AppError for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Transient(_) => ErrorKind::Unavailable,
            StoreError::Rejected(_) => ErrorKind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            StoreError::Transient(_) => "store_unavailable",
            StoreError::Rejected(_) => "internal",
        }
    }
    fn public_detail(&self) -> String {
        match self {
            StoreError::Transient(_) => "the store is unavailable; try again",
            StoreError::Rejected(_) => "the store refused the request",
        }
        .into()
    }
    fn retry_after(&self) -> Option<u64> {
        matches!(self, StoreError::Transient(_)).then_some(1)
    }
}

impl AppError for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthError::InsufficientScope(_) => ErrorKind::Forbidden,
            _ => ErrorKind::Unauthenticated,
        }
    }
    fn code(&self) -> &'static str {
        AuthError::code(self)
    }
}

/// Every tracking request problem is a 400: Segment's libraries drop a 400 and
/// retry a 5xx.
impl AppError for SegmentError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::BadRequest
    }
    fn code(&self) -> &'static str {
        SegmentError::code(self)
    }
    fn public_detail(&self) -> String {
        match self {
            SegmentError::InvalidMessages(items) => match items.first() {
                Some(first) => format!("{self}; message {}: {}", first.index, first.detail),
                None => self.to_string(),
            },
            _ => self.to_string(),
        }
    }
    fn problems(&self) -> Option<serde_json::Value> {
        match self {
            SegmentError::InvalidMessages(items) => problems(items),
            _ => None,
        }
    }
}

// Here rather than in `analytics.rs`, which is being split.
impl AppError for AnalyticsError {
    fn kind(&self) -> ErrorKind {
        match self {
            AnalyticsError::Invalid(_) => ErrorKind::Invalid,
            AnalyticsError::FunnelNotFound(_) | AnalyticsError::NotComputed(_) => {
                ErrorKind::NotFound
            }
            AnalyticsError::UnknownWindow(..) => ErrorKind::BadRequest,
            AnalyticsError::TooManyFunnels | AnalyticsError::Conflict => ErrorKind::Conflict,
            AnalyticsError::RateLimited { .. } => ErrorKind::RateLimited,
            AnalyticsError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        AnalyticsError::code(self)
    }
    fn public_detail(&self) -> String {
        match self {
            AnalyticsError::Invalid(_) => "the request is invalid; nothing was stored".into(),
            _ => self.to_string(),
        }
    }
    fn problems(&self) -> Option<serde_json::Value> {
        match self {
            AnalyticsError::Invalid(items) => problems(items),
            _ => None,
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            AnalyticsError::RateLimited { retry_at, .. } => {
                Some((*retry_at - chrono::Utc::now()).num_seconds().max(1) as u64)
            }
            _ => None,
        }
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            AnalyticsError::Store(e) => Some(e),
            _ => None,
        }
    }
}
