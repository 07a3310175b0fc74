//! The dead-letter sink of a function that only decodes records, never writes them
//! (the orchestrator, the live stream): [`TapeWriter::decode_batch`] leaves out what
//! cannot be written instead of dead-lettering it. The sink keeps nothing and
//! refuses every call as a transient failure, so a write through it would be
//! retried, never lost; such a function does not link the real store's client (in
//! AWS, aws-sdk-s3).
//!
//! [`TapeWriter::decode_batch`]: crate::writer::TapeWriter::decode_batch

use async_trait::async_trait;

use cjaas_core::ids::TenantId;
use cjaas_core::ports::{DeadLetter, DeadLetterSink, StoreError};

pub struct NoDeadLetters;

fn refused<T>() -> Result<T, StoreError> {
    Err(StoreError::Transient(
        "this function only decodes records and keeps no dead letters".into(),
    ))
}

#[async_trait]
impl DeadLetterSink for NoDeadLetters {
    async fn put(&self, _: &DeadLetter) -> Result<(), StoreError> {
        refused()
    }

    async fn list(&self, _: &TenantId) -> Result<Vec<DeadLetter>, StoreError> {
        refused()
    }

    async fn page(
        &self,
        _: &TenantId,
        _: Option<&str>,
        _: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        refused()
    }

    async fn get(&self, _: &TenantId, _: &str) -> Result<Option<DeadLetter>, StoreError> {
        refused()
    }

    async fn remove(&self, _: &DeadLetter) -> Result<(), StoreError> {
        refused()
    }
}
