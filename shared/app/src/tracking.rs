//! The Segment-compatible tracking API: each message becomes one CloudEvent on the
//! Tape through the same validation and the same [`Ingestor`] as `POST /v1/events`;
//! `identify` and `alias` then link ids softly, as `POST /v1/persons/{p}/aliases` does.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::auth::Authenticator;
use crate::browser::BrowserGuard;
use crate::failure::{AppError, OneOf};
use crate::ingest::{Ingestor, StreamUnavailable};
use crate::profiles::{Aliases, ProfileError};
use cjaas_core::event::validate_raw;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::StoreError;
use cjaas_core::segment::{map_payload, Link, Payload, SegmentError};

#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error(transparent)]
    Request(#[from] SegmentError),
    #[error(transparent)]
    Stream(#[from] StreamUnavailable),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OneOf for TrackingError {
    fn inner(&self) -> &dyn AppError {
        match self {
            TrackingError::Request(e) => e,
            TrackingError::Stream(e) => e,
            TrackingError::Store(e) => e,
        }
    }
}

pub struct Tracking {
    auth: Arc<Authenticator>,
    ingestor: Arc<Ingestor>,
    aliases: Arc<Aliases>,
    guard: Arc<BrowserGuard>,
}

impl Tracking {
    pub fn new(
        auth: Arc<Authenticator>,
        ingestor: Arc<Ingestor>,
        aliases: Arc<Aliases>,
        guard: Arc<BrowserGuard>,
    ) -> Self {
        Self {
            auth,
            ingestor,
            aliases,
            guard,
        }
    }

    /// Verifies write keys: the tracking routes take credentials the authorizer
    /// cannot see (HTTP Basic, or `writeKey` in the body).
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    pub fn guard(&self) -> &Arc<BrowserGuard> {
        &self.guard
    }

    /// Maps and validates every message, puts them all on the stream, then records
    /// the identity links. Nothing is written unless every message is valid; a
    /// resend after a failure writes each event once (same `messageId`).
    pub async fn accept(
        &self,
        tenant: &TenantId,
        payload: Payload,
        received_at: DateTime<Utc>,
    ) -> Result<usize, TrackingError> {
        let mapped = map_payload(payload, received_at)?;
        let mut events = Vec::with_capacity(mapped.len());
        let mut problems = Vec::new();
        for message in &mapped {
            match validate_raw(message.index, &message.event, received_at) {
                Ok(event) => events.push(event),
                Err(problem) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(SegmentError::InvalidMessages(problems).into());
        }
        self.ingestor.publish(tenant, received_at, &events).await?;
        let mut links: Vec<&Link> = mapped.iter().filter_map(|m| m.link.as_ref()).collect();
        links.dedup();
        for link in links {
            self.link(tenant, link).await?;
        }
        Ok(events.len())
    }

    /// Links `alias` to `person` unless it is linked elsewhere already: the first
    /// link wins (a shared device must not merge two users), and the events are in.
    async fn link(&self, tenant: &TenantId, link: &Link) -> Result<(), StoreError> {
        let aliases = std::slice::from_ref(&link.alias);
        match self
            .aliases
            .link(tenant, &link.person, aliases, false)
            .await
        {
            Ok(_) => Ok(()),
            Err(ProfileError::Store(e)) => Err(e),
            Err(other) => {
                tracing::info!(tenant = %tenant, code = other.code(), reason = %other, "identity link skipped");
                Ok(())
            }
        }
    }
}
