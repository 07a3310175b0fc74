//! A tenant's dead letters: listed for its admins (credentials redacted, see
//! [`cjaas_core::dead_letters`]) and redriven.
//!
//! - **A record** is rechecked first exactly as the Tape writer would check it. One
//!   that would be dead-lettered again (an invalid event, a credential without
//!   `events:write`, …) is refused as `not_redrivable`, with the reason it fails now.
//!   Otherwise its exact bytes go back on the stream, under the same partition key as
//!   at ingest, so the Tape writer takes it as before and its dedup mark keeps it
//!   once on the Tape however often it is redriven.
//! - **An action** (a webhook or enrichment call that failed) is published again on
//!   the bus with its action id, so the actions runner calls the tenant again and
//!   receivers can deduplicate by `cjaas-action-id`.
//! - The letter is removed only once its record is on the stream (or the bus). If
//!   the removal fails, the letter stays and a second redrive is harmless.

use serde::Serialize;
use std::sync::Arc;

use base64::Engine;
use cjaas_core::dead_letters::{kind_of, letter_id, origin_of, LetterKind, LetterView};
use cjaas_core::deliveries::{encode_cursor, PageQuery};
use cjaas_core::envelope::{partition_key, StreamRecord};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{BusEvent, DeadLetter, DeadLetterSink, EventBus, EventStream, StoreError};

use crate::failure::{AppError, ErrorKind};
use crate::jobs::BusMessage;
use crate::orchestration::ActionEvent;
use crate::writer::TapeWriter;

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("no dead letter {0}")]
    NotFound(String),
    /// Redriving it would only dead-letter it again.
    #[error("the letter cannot be redriven: {code}: {detail}")]
    NotRedrivable { code: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DeadLetterError {
    pub fn code(&self) -> &'static str {
        match self {
            DeadLetterError::NotFound(_) => "dead_letter_not_found",
            DeadLetterError::NotRedrivable { .. } => "not_redrivable",
            DeadLetterError::Store(_) => "store_unavailable",
        }
    }

    fn refused(code: &str, detail: impl Into<String>) -> Self {
        DeadLetterError::NotRedrivable {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }
}

impl AppError for DeadLetterError {
    fn kind(&self) -> ErrorKind {
        match self {
            DeadLetterError::NotFound(_) => ErrorKind::NotFound,
            DeadLetterError::NotRedrivable { .. } => ErrorKind::Conflict,
            DeadLetterError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        DeadLetterError::code(self)
    }
    /// Why it cannot be redriven: the code and detail it would be refused with.
    fn problems(&self) -> Option<serde_json::Value> {
        match self {
            DeadLetterError::NotRedrivable { code, detail } => {
                Some(serde_json::json!([{ "code": code, "detail": detail }]))
            }
            _ => None,
        }
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            DeadLetterError::Store(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LetterPage {
    pub dead_letters: Vec<LetterView>,
    pub next_cursor: Option<String>,
}

/// What a redrive did.
#[derive(Debug, Serialize)]
pub struct Redriven {
    pub id: String,
    pub kind: LetterKind,
    /// `stream` (records) or `bus` (actions).
    pub to: &'static str,
}

/// One letter's outcome in a bulk redrive.
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RedriveResult {
    Redriven {
        id: String,
        to: &'static str,
    },
    NotFound {
        id: String,
    },
    NotRedrivable {
        id: String,
        code: String,
        detail: String,
    },
}

/// The most letters one bulk redrive takes.
pub const MAX_BULK_REDRIVE: usize = 100;

pub struct DeadLetters {
    sink: Arc<dyn DeadLetterSink>,
    stream: Arc<dyn EventStream>,
    bus: Arc<dyn EventBus>,
    /// Rechecks records; never writes.
    writer: Arc<TapeWriter>,
}

impl DeadLetters {
    pub fn new(
        sink: Arc<dyn DeadLetterSink>,
        stream: Arc<dyn EventStream>,
        bus: Arc<dyn EventBus>,
        writer: Arc<TapeWriter>,
    ) -> Self {
        Self {
            sink,
            stream,
            bus,
            writer,
        }
    }

    pub async fn page(
        &self,
        tenant: &TenantId,
        query: &PageQuery,
    ) -> Result<LetterPage, DeadLetterError> {
        let mut letters = self
            .sink
            .page(tenant, query.after.as_deref(), query.limit + 1)
            .await?;
        let next_cursor = if letters.len() > query.limit {
            letters.truncate(query.limit);
            letters.last().map(|l| encode_cursor(&l.origin))
        } else {
            None
        };
        Ok(LetterPage {
            dead_letters: letters.iter().map(LetterView::of).collect(),
            next_cursor,
        })
    }

    async fn letter(&self, tenant: &TenantId, id: &str) -> Result<DeadLetter, DeadLetterError> {
        let origin = origin_of(id).ok_or_else(|| DeadLetterError::NotFound(id.to_owned()))?;
        self.sink
            .get(tenant, &origin)
            .await?
            .ok_or_else(|| DeadLetterError::NotFound(id.to_owned()))
    }

    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<LetterView, DeadLetterError> {
        Ok(LetterView::of(&self.letter(tenant, id).await?))
    }

    pub async fn redrive(&self, tenant: &TenantId, id: &str) -> Result<Redriven, DeadLetterError> {
        let letter = self.letter(tenant, id).await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&letter.payload_base64)
            .map_err(|e| DeadLetterError::refused("unreadable_letter", e.to_string()))?;
        let kind = kind_of(&letter);
        let to = match kind {
            LetterKind::Record => self.redrive_record(tenant, bytes).await?,
            LetterKind::Action => self.redrive_action(tenant, &bytes).await?,
        };
        self.sink.remove(&letter).await?;
        tracing::info!(tenant = %tenant, origin = %letter.origin, to, "dead letter redriven");
        Ok(Redriven {
            id: letter_id(&letter.origin),
            kind,
            to,
        })
    }

    /// Redrives each letter in turn, reporting each outcome in order. A store failure
    /// stops the batch (`Err`); the letters redriven so far are gone, so asking again
    /// reports them `not_found`.
    pub async fn redrive_all(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<RedriveResult>, StoreError> {
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            let result = match self.redrive(tenant, id).await {
                Ok(done) => RedriveResult::Redriven {
                    id: done.id,
                    to: done.to,
                },
                Err(DeadLetterError::NotFound(id)) => RedriveResult::NotFound { id },
                Err(DeadLetterError::NotRedrivable { code, detail }) => {
                    RedriveResult::NotRedrivable {
                        id: id.clone(),
                        code,
                        detail,
                    }
                }
                Err(DeadLetterError::Store(e)) => return Err(e),
            };
            results.push(result);
        }
        Ok(results)
    }

    async fn redrive_record(
        &self,
        tenant: &TenantId,
        data: Vec<u8>,
    ) -> Result<&'static str, DeadLetterError> {
        let entry = match self.writer.recheck(&data).await {
            Ok(Ok(entry)) => entry,
            Ok(Err(problem)) => return Err(DeadLetterError::refused(problem.code, problem.detail)),
            Err(e) => return Err(StoreError::Transient(e).into()),
        };
        if &entry.tenant != tenant {
            return Err(DeadLetterError::refused(
                "other_tenant",
                "the record belongs to another tenant",
            ));
        }
        let record = StreamRecord {
            partition_key: partition_key(&entry.tenant, &entry.person),
            data,
        };
        if !self.stream.put_records(&[record]).await?.is_empty() {
            return Err(StoreError::Transient("the stream did not take the record".into()).into());
        }
        Ok("stream")
    }

    async fn redrive_action(
        &self,
        tenant: &TenantId,
        bytes: &[u8],
    ) -> Result<&'static str, DeadLetterError> {
        let action: ActionEvent = serde_json::from_slice(bytes).map_err(|_| {
            DeadLetterError::refused(
                "not_an_action",
                "the letter holds the call's body only (written before redrives existed)",
            )
        })?;
        if action.tenant != tenant.as_str() {
            return Err(DeadLetterError::refused(
                "other_tenant",
                "the action belongs to another tenant",
            ));
        }
        let event = BusEvent::from(&BusMessage::ActionTriggered(action.clone()));
        self.bus.publish(&[event]).await?;
        tracing::debug!(action = %action.action_id, "action republished");
        Ok("bus")
    }
}
