//! What a publishable key may do: write from its allowed origins, within its rate limit.
//! Other credentials pass untouched, from any origin.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::documents::{decode, encode};
use crate::failure::{AppError, ErrorKind};
use cjaas_core::auth::Principal;
use cjaas_core::browser::{count_request, rate_windows_pk, RateDecision, RateWindow};
use cjaas_core::ports::{DocumentStore, Expect, StoreError};

/// Conditional writes lost in a row before the limiter gives up (503, retryable).
const MAX_CAS_ATTEMPTS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum BrowserRefusal {
    #[error("this publishable key may not be used from origin {0:?}")]
    OriginNotAllowed(String),
    #[error("this publishable key's rate limit is reached; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppError for BrowserRefusal {
    fn kind(&self) -> ErrorKind {
        match self {
            BrowserRefusal::OriginNotAllowed(_) => ErrorKind::Forbidden,
            BrowserRefusal::RateLimited { .. } => ErrorKind::RateLimited,
            BrowserRefusal::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            BrowserRefusal::OriginNotAllowed(_) => "origin_not_allowed",
            BrowserRefusal::RateLimited { .. } => "rate_limited",
            BrowserRefusal::Store(e) => e.code(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            BrowserRefusal::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            BrowserRefusal::Store(e) => Some(e),
            _ => None,
        }
    }
}

pub struct BrowserGuard {
    docs: Arc<dyn DocumentStore>,
}

impl BrowserGuard {
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self { docs }
    }

    /// Checks the origin of a publishable key's request and, if `count` and the key
    /// has a limit, counts the request.
    pub async fn admit(
        &self,
        principal: &Principal,
        origin: Option<&str>,
        count: bool,
    ) -> Result<(), BrowserRefusal> {
        let Some(binding) = &principal.browser else {
            return Ok(());
        };
        if !binding.allows(origin) {
            tracing::info!(tenant = %principal.tenant, credential = %principal.credential, ?origin, "publishable key used from a foreign origin");
            return Err(BrowserRefusal::OriginNotAllowed(
                origin.unwrap_or("(none)").to_owned(),
            ));
        }
        match binding.rate_limit_per_minute {
            Some(limit) if count => self.count(principal, limit, Utc::now()).await,
            _ => Ok(()),
        }
    }

    /// One request more in the key's window: a read, then a write conditional on the
    /// revision read, retried when another instance won. Atomic across instances.
    async fn count(
        &self,
        principal: &Principal,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(), BrowserRefusal> {
        let pk = rate_windows_pk(&principal.tenant);
        let sk = principal.credential.as_str();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (current, expect) = match self.docs.get(&pk, sk).await? {
                Some(doc) => (
                    Some(decode::<RateWindow>(&doc.body)?),
                    Expect::Revision(doc.revision),
                ),
                None => (None, Expect::Absent),
            };
            match count_request(current.as_ref(), now, limit) {
                RateDecision::Refuse { retry_after_secs } => {
                    return Err(BrowserRefusal::RateLimited { retry_after_secs })
                }
                RateDecision::Admit(window) => {
                    if self.docs.put(&pk, sk, &encode(&window), expect).await? {
                        return Ok(());
                    }
                }
            }
        }
        Err(StoreError::Transient("the rate-limit window is too contended".into()).into())
    }
}
