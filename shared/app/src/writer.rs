//! The Tape writer: stream records in, Tape entries out, exactly once.
//!
//! Each record ends in one of four ways: appended, already on the Tape, dead-lettered
//! with its full payload and reason (it can never be written), or handed back to be
//! retried (a store was unavailable). Nothing is dropped silently.

use base64::Engine;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use cjaas_core::auth::{AuthError, Principal, Scope};
use cjaas_core::envelope::{verified_stamp, Origin, RecordEnvelope, RecordProblem};
use cjaas_core::event::{decode_stamped, validate_raw};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{AppendOutcome, DeadLetter, DeadLetterSink, StoreError, TapeStore};
use cjaas_core::tape::TapeEntry;

use crate::auth::{AuthFailure, Authenticator};
use crate::tombstones::{Erased, Tombstones};

/// How many records of a batch are prepared at once (a direct producer's credential
/// may need a config lookup).
const CONCURRENCY: usize = 16;

/// When an event of `time` leaves a retention of `days`, in Unix seconds.
pub fn expiry(time: DateTime<Utc>, days: u32) -> i64 {
    (time + chrono::Duration::days(days.into())).timestamp()
}

/// A record as the stream delivered it.
#[derive(Debug, Clone)]
pub struct InputRecord {
    /// Unique per record, e.g. `{shard id}/{sequence number}`.
    pub origin: String,
    pub data: Vec<u8>,
    pub arrived_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    Appended,
    Duplicate,
    DeadLettered,
    /// The person was erased after the record reached the stream: acknowledged, not
    /// written (see [`crate::tombstones`]).
    Erased,
    Retry,
}

/// The result of one batch, in input order.
#[derive(Debug, Default, PartialEq)]
pub struct BatchReport {
    pub outcomes: Vec<RecordOutcome>,
    /// The batch's entries that are on the Tape, appended now or before (a retried
    /// batch's), in input order: what orchestration evaluates.
    pub on_tape: Vec<TapeEntry>,
}

impl BatchReport {
    pub fn count(&self, outcome: RecordOutcome) -> usize {
        self.outcomes.iter().filter(|o| **o == outcome).count()
    }

    /// Indices of the records to hand back for retry.
    pub fn retry_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| **o == RecordOutcome::Retry)
            .map(|(i, _)| i)
    }
}

pub struct TapeWriter {
    tape: Arc<dyn TapeStore>,
    dead_letters: Arc<dyn DeadLetterSink>,
    auth: Arc<Authenticator>,
    keys: cjaas_core::auth::SigningKeys,
    tombstones: Option<Tombstones>,
}

/// Verdicts on direct producers' credentials, kept for one batch: a producer usually
/// sends many records with one key, and each key check may cost a config lookup.
#[derive(Default)]
struct CredentialCache {
    verdicts: Mutex<HashMap<String, Result<Principal, AuthError>>>,
}

impl CredentialCache {
    async fn verify(
        &self,
        auth: &Authenticator,
        credential: &str,
    ) -> Result<Principal, AuthFailure> {
        if let Some(verdict) = self.verdicts.lock().expect("not poisoned").get(credential) {
            return verdict.clone().map_err(AuthFailure::Denied);
        }
        let verdict = auth.authenticate(credential).await;
        let cacheable = match &verdict {
            Ok(principal) => Some(Ok(principal.clone())),
            Err(AuthFailure::Denied(e)) => Some(Err(e.clone())),
            Err(AuthFailure::Store(_)) => None, // transient: ask again next time
        };
        if let Some(cacheable) = cacheable {
            self.verdicts
                .lock()
                .expect("not poisoned")
                .insert(credential.to_owned(), cacheable);
        }
        verdict
    }
}

/// What a batch's entries need of their tenant, read once per tenant per batch.
struct TenantPolicy {
    retention_days: Option<u32>,
    /// `None` for a writer that does not read tombstones.
    erased: Option<Erased>,
}

enum Failure {
    /// Never writable: dead-letter it.
    Permanent(Option<TenantId>, RecordProblem),
    /// Try again later.
    Transient(String),
    /// Its person was erased after it reached the stream.
    Erased,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Transient(e.to_string())
    }
}

impl TapeWriter {
    pub fn new(
        tape: Arc<dyn TapeStore>,
        dead_letters: Arc<dyn DeadLetterSink>,
        auth: Arc<Authenticator>,
        keys: cjaas_core::auth::SigningKeys,
    ) -> Self {
        Self {
            tape,
            dead_letters,
            auth,
            keys,
            tombstones: None,
        }
    }

    /// Records of persons erased after they reached the stream are not written (a
    /// record in flight during an erasure, or a stream read again from before it).
    pub fn with_tombstones(mut self, tombstones: Tombstones) -> Self {
        self.tombstones = Some(tombstones);
        self
    }

    /// Decodes and authenticates every record, in order.
    async fn prepare_all(&self, records: &[InputRecord]) -> Vec<Result<TapeEntry, Failure>> {
        // Collected first: a lazy `map` here trips a higher-ranked lifetime limitation
        // of rustc when the future is spawned.
        let credentials = CredentialCache::default();
        let preparing: Vec<_> = records
            .iter()
            .map(|r| self.prepare(r, &credentials))
            .collect();
        stream::iter(preparing)
            .buffered(CONCURRENCY)
            .collect()
            .await
    }

    /// The entries a batch holds, decoded and authenticated exactly as
    /// [`TapeWriter::write_batch`] does, without writing them. Records that can never
    /// be written are left out (the Tape writer dead-letters them); `Err` if a record
    /// must be retried.
    pub async fn decode_batch(&self, records: &[InputRecord]) -> Result<Vec<TapeEntry>, String> {
        let mut entries = Vec::with_capacity(records.len());
        for prepared in self.prepare_all(records).await {
            match prepared {
                Ok(entry) => entries.push(entry),
                Err(Failure::Permanent(..) | Failure::Erased) => {}
                Err(Failure::Transient(e)) => return Err(e),
            }
        }
        Ok(entries)
    }

    /// Whether `data` would be written now, decoded and authenticated exactly as
    /// [`TapeWriter::write_batch`] does, without writing it (a dead letter's redrive):
    /// the entry, or why it would be dead-lettered again; `Err` if that cannot be
    /// told now.
    pub async fn recheck(&self, data: &[u8]) -> Result<Result<TapeEntry, RecordProblem>, String> {
        let record = InputRecord {
            origin: "recheck".into(),
            data: data.to_vec(),
            arrived_at: Utc::now(),
        };
        match self.prepare(&record, &CredentialCache::default()).await {
            Ok(entry) => Ok(Ok(entry)),
            Err(Failure::Permanent(_, problem)) => Ok(Err(problem)),
            Err(Failure::Transient(e)) => Err(e),
            Err(Failure::Erased) => Err("the person was erased".into()),
        }
    }

    pub async fn write_batch(&self, records: &[InputRecord]) -> BatchReport {
        let prepared = self.prepare_all(records).await;
        let prepared = self.with_tenant_policies(prepared).await;
        // Entries go to the store by value; failures wait in their place in `prepared`.
        let mut entries = Vec::with_capacity(prepared.len());
        let prepared: Vec<Result<(), Failure>> = prepared
            .into_iter()
            .map(|p| p.map(|entry| entries.push(entry)))
            .collect();
        let stored = self.tape.append_batch(&entries).await;
        let mut on_tape = Vec::new();
        let mut stored = stored.into_iter().zip(entries);
        let mut outcomes = Vec::with_capacity(records.len());
        for (record, prepared) in records.iter().zip(prepared) {
            let result = prepared.and_then(|()| {
                let (stored, entry) = stored.next().expect("one outcome per entry");
                match stored {
                    Ok(outcome) => {
                        on_tape.push(entry);
                        Ok(outcome)
                    }
                    Err(StoreError::Rejected(reason)) => Err(Failure::Permanent(
                        Some(entry.tenant.clone()),
                        RecordProblem::new("store_rejected", reason),
                    )),
                    Err(e) => Err(e.into()),
                }
            });
            outcomes.push(self.settle(record, result).await);
        }
        let report = BatchReport { outcomes, on_tape };
        if !records.is_empty() {
            tracing::info!(
                records = records.len(),
                appended = report.count(RecordOutcome::Appended),
                duplicates = report.count(RecordOutcome::Duplicate),
                dead_lettered = report.count(RecordOutcome::DeadLettered),
                retry = report.count(RecordOutcome::Retry),
                "tape batch written"
            );
        }
        report
    }

    /// Stamps each entry with its tenant's retention (`expires_at`) and leaves out the
    /// entries of persons erased after they reached the stream, reading each tenant's
    /// settings and tombstones once per batch. A tenant that cannot be read makes its
    /// records retry.
    async fn with_tenant_policies(
        &self,
        prepared: Vec<Result<TapeEntry, Failure>>,
    ) -> Vec<Result<TapeEntry, Failure>> {
        let tenants: BTreeSet<TenantId> = prepared
            .iter()
            .filter_map(|p| p.as_ref().ok().map(|e| e.tenant.clone()))
            .collect();
        let mut policies = HashMap::new();
        for tenant in tenants {
            let policy = self.tenant_policy(&tenant).await.map_err(|e| e.to_string());
            policies.insert(tenant, policy);
        }
        prepared
            .into_iter()
            .map(|p| {
                let mut entry = p?;
                let policy = policies[&entry.tenant]
                    .as_ref()
                    .map_err(|e| Failure::Transient(e.clone()))?;
                if policy
                    .erased
                    .as_ref()
                    .is_some_and(|erased| erased.hides(&entry.person, entry.received_at))
                {
                    return Err(Failure::Erased);
                }
                entry.expires_at = policy.retention_days.map(|d| expiry(entry.time, d));
                Ok(entry)
            })
            .collect()
    }

    async fn tenant_policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError> {
        let record = self.auth.config().get_tenant(tenant).await?;
        let erased = match &self.tombstones {
            Some(tombstones) => Some(tombstones.load(tenant, Utc::now()).await?),
            None => None,
        };
        Ok(TenantPolicy {
            retention_days: record.and_then(|r| r.retention_days),
            erased,
        })
    }

    async fn settle(
        &self,
        record: &InputRecord,
        result: Result<AppendOutcome, Failure>,
    ) -> RecordOutcome {
        match result {
            Ok(AppendOutcome::Appended) => RecordOutcome::Appended,
            Ok(AppendOutcome::Duplicate) => RecordOutcome::Duplicate,
            Err(Failure::Transient(error)) => {
                tracing::warn!(origin = %record.origin, %error, "record will be retried");
                RecordOutcome::Retry
            }
            Err(Failure::Permanent(tenant, problem)) => {
                self.dead_letter(record, tenant, problem).await
            }
            Err(Failure::Erased) => {
                tracing::info!(origin = %record.origin, "record of an erased person skipped");
                RecordOutcome::Erased
            }
        }
    }

    /// Decodes a record and finds its tenant: everything short of writing it.
    async fn prepare(
        &self,
        record: &InputRecord,
        credentials: &CredentialCache,
    ) -> Result<TapeEntry, Failure> {
        // Ingest's own records: the stamp is checked over the raw bytes, unparsed.
        if let Some(stamped) = verified_stamp(&record.data, &self.keys) {
            return entry_of(stamped.tenant, stamped.event, stamped.received_at, true);
        }
        let envelope =
            RecordEnvelope::parse(&record.data).map_err(|p| Failure::Permanent(None, p))?;
        let (tenant, received_at, stamped) = self
            .tenant_of(&envelope, record.arrived_at, credentials)
            .await?;
        entry_of(tenant, envelope.event.get(), received_at, stamped)
    }

    /// The tenant comes from the ingest stamp or from the producer's own credential;
    /// the flag says whether ingest stamped the record.
    async fn tenant_of(
        &self,
        envelope: &RecordEnvelope<'_>,
        arrived_at: DateTime<Utc>,
        credentials: &CredentialCache,
    ) -> Result<(TenantId, DateTime<Utc>, bool), Failure> {
        match envelope
            .origin(&self.keys)
            .map_err(|p| Failure::Permanent(None, p))?
        {
            Origin::Ingest {
                tenant,
                received_at,
            } => Ok((tenant, received_at, true)),
            Origin::Direct { credential } => {
                let principal = match credentials.verify(&self.auth, credential).await {
                    Ok(principal) => principal,
                    Err(AuthFailure::Store(e)) => return Err(e.into()),
                    Err(AuthFailure::Denied(e)) => {
                        return Err(Failure::Permanent(
                            None,
                            RecordProblem::new(e.code(), e.to_string()),
                        ))
                    }
                };
                principal.require(Scope::EventsWrite).map_err(|e| {
                    Failure::Permanent(
                        Some(principal.tenant.clone()),
                        RecordProblem::new(e.code(), e.to_string()),
                    )
                })?;
                Ok((principal.tenant, arrived_at, false))
            }
        }
    }

    async fn dead_letter(
        &self,
        record: &InputRecord,
        tenant: Option<TenantId>,
        problem: RecordProblem,
    ) -> RecordOutcome {
        let letter = DeadLetter {
            origin: record.origin.clone(),
            tenant: tenant.map(|t| t.to_string()),
            code: problem.code.to_owned(),
            reason: problem.detail,
            failed_at: Utc::now(),
            payload_base64: base64::engine::general_purpose::STANDARD.encode(&record.data),
        };
        match self.dead_letters.put(&letter).await {
            Ok(()) => {
                tracing::warn!(origin = %letter.origin, code = %letter.code, tenant = ?letter.tenant, "record dead-lettered");
                RecordOutcome::DeadLettered
            }
            Err(error) => {
                tracing::error!(origin = %letter.origin, %error, "dead-letter sink failed; record will be retried");
                RecordOutcome::Retry
            }
        }
    }
}

/// The Tape entry of an event. A stamped event was validated and encoded at ingest (its
/// stamp proves it): it is decoded, not encoded again. A direct producer's is validated
/// whole.
fn entry_of(
    tenant: TenantId,
    json: &str,
    received_at: DateTime<Utc>,
    stamped: bool,
) -> Result<TapeEntry, Failure> {
    let valid = if stamped {
        decode_stamped(json, received_at)
    } else {
        validate_raw(0, json, received_at)
    };
    let valid = valid.map_err(|p| {
        Failure::Permanent(Some(tenant.clone()), RecordProblem::new(p.code, p.detail))
    })?;
    Ok(TapeEntry::from_valid(tenant, valid, received_at))
}
