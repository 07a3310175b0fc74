//! Erasure (GDPR): `DELETE /v1/persons/{person}` makes a job; a worker (the
//! `maintenance` function in AWS, a task locally) removes the person and every alias
//! of theirs from the Tape, the alias links, profile snapshots, analytics digests,
//! rules' state and delivery logs, dead letters, the archive and the embedded
//! default's local log, tombstones them for the stream's readers, then keeps a
//! receipt with no personal data.
//!
//! Every step is idempotent, so a job that fails halfway is simply run again.

use base64::Engine;
use chrono::Utc;
use std::collections::BTreeSet;
use std::sync::Arc;

use cjaas_core::analytics;
use cjaas_core::envelope::RecordEnvelope;
use cjaas_core::erasure::{
    jobs, new_job_id, subjects, valid_job_id, ErasureJob, JobStatus, Removed, Subject,
};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{
    Archive, BusEvent, DeadLetter, DeadLetterSink, DocumentStore, EventBus, EventLog, Expect,
    StoreError, TapeStore,
};
use cjaas_core::profile::keys;
use cjaas_core::rules;

use crate::deliveries::DeliveryLog;
use crate::documents::{decode, encode};
use crate::failure::{AppError, ErrorKind};
use crate::jobs::BusMessage;
use crate::profiles::Aliases;
use crate::tombstones::Tombstones;

mod archive_rewrite;

/// Archive objects rewritten at once.
const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("no erasure job {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ErasureError {
    pub fn code(&self) -> &'static str {
        match self {
            ErasureError::NotFound(_) => "erasure_not_found",
            ErasureError::Store(_) => "store_unavailable",
        }
    }
}

impl AppError for ErasureError {
    fn kind(&self) -> ErrorKind {
        match self {
            ErasureError::NotFound(_) => ErrorKind::NotFound,
            ErasureError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        ErasureError::code(self)
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            ErasureError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// Where a person's data lives.
pub struct Stores {
    pub tape: Arc<dyn TapeStore>,
    pub docs: Arc<dyn DocumentStore>,
    pub dead_letters: Arc<dyn DeadLetterSink>,
    pub archive: Arc<dyn Archive>,
    pub bus: Arc<dyn EventBus>,
    /// The embedded default's local stream and live log; `None` in AWS, where Kinesis
    /// cannot be rewritten and tombstones make its readers skip the person instead.
    pub log: Option<Arc<dyn EventLog>>,
}

pub struct Erasures {
    stores: Stores,
    aliases: Aliases,
    tombstones: Tombstones,
}

impl Erasures {
    pub fn new(stores: Stores) -> Self {
        let aliases = Aliases::new(stores.docs.clone());
        let tombstones = Tombstones::new(stores.docs.clone());
        Self {
            stores,
            aliases,
            tombstones,
        }
    }

    /// How long the stream's readers skip an erased person: at least the stream's
    /// retention.
    pub fn with_tombstone_ttl(mut self, ttl: chrono::Duration) -> Self {
        self.tombstones = self.tombstones.with_ttl(ttl);
        self
    }

    /// Records the job (the person in a subject document of its own) and asks a
    /// worker to run it.
    pub async fn request(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        requested_by: &str,
    ) -> Result<ErasureJob, ErasureError> {
        let job = ErasureJob {
            id: new_job_id(),
            status: JobStatus::Pending,
            requested_at: Utc::now(),
            requested_by: requested_by.to_owned(),
            completed_at: None,
            removed: Removed::default(),
            erased: false,
            subject: None,
        };
        let docs = &self.stores.docs;
        let subject = Subject {
            person: person.to_string(),
        };
        // The subject first: a job document never exists without its subject.
        docs.put(
            &subjects(tenant),
            &job.id,
            &encode(&subject),
            Expect::Absent,
        )
        .await?;
        if let Err(e) = docs
            .put(&jobs(tenant), &job.id, &encode(&job), Expect::Absent)
            .await
        {
            let _ = docs.delete(&subjects(tenant), &job.id).await;
            return Err(e.into());
        }
        let event = BusEvent::from(&BusMessage::ErasureRequested {
            tenant: tenant.clone(),
            job: job.id.clone(),
        });
        // If the bus is down the job stays pending; the daily sweep runs it.
        if let Err(e) = self.stores.bus.publish(&[event]).await {
            tracing::warn!(tenant = %tenant, job = %job.id, error = %e, "erasure request not published; the sweep will run it");
        }
        tracing::info!(tenant = %tenant, job = %job.id, "erasure requested");
        Ok(job.public())
    }

    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<ErasureJob, ErasureError> {
        Ok(self.stored(tenant, id).await?.0.public())
    }

    async fn stored(&self, tenant: &TenantId, id: &str) -> Result<(ErasureJob, u64), ErasureError> {
        if !valid_job_id(id) {
            return Err(ErasureError::NotFound(id.to_owned()));
        }
        let document = self
            .stores
            .docs
            .get(&jobs(tenant), id)
            .await?
            .ok_or_else(|| ErasureError::NotFound(id.to_owned()))?;
        Ok((decode(&document.body)?, document.revision))
    }

    /// The ids of jobs still pending, for the daily sweep, which also drops the
    /// tenant's expired tombstones.
    pub async fn pending(&self, tenant: &TenantId) -> Result<Vec<String>, ErasureError> {
        let pruned = self.tombstones.prune(tenant, Utc::now()).await?;
        if pruned > 0 {
            tracing::info!(tenant = %tenant, pruned, "expired erasure tombstones removed");
        }
        let mut ids = Vec::new();
        for (id, document) in self.stores.docs.list(&jobs(tenant)).await? {
            let job: ErasureJob = decode(&document.body)?;
            if job.status == JobStatus::Pending {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Runs a job to completion; running a completed job does nothing. Erases the
    /// person, records the receipt and drops the subject, then has the storage forget
    /// (the embedded store rewrites its file), and only then says `completed`.
    pub async fn run(&self, tenant: &TenantId, id: &str) -> Result<ErasureJob, ErasureError> {
        let (mut job, mut revision) = self.stored(tenant, id).await?;
        if job.status == JobStatus::Completed {
            return Ok(job.public());
        }
        if !job.erased {
            let subject = self.subject(tenant, &job).await?;
            job.removed = match subject {
                Some(person) => self.erase(tenant, &person).await?,
                None => {
                    tracing::warn!(tenant = %tenant, job = %job.id, "erasure job without a subject");
                    Removed::default()
                }
            };
            job.erased = true;
            job.subject = None;
            if !self.save(tenant, &job, revision).await? {
                // A concurrent run of the same job got there first; it finishes.
                return Ok(self.stored(tenant, id).await?.0.public());
            }
            revision += 1;
            self.stores.docs.delete(&subjects(tenant), &job.id).await?;
        }
        if let Some(log) = &self.stores.log {
            job.removed.storage_rewritten = log.purge().await?;
        }
        job.status = JobStatus::Completed;
        job.completed_at = Some(Utc::now());
        self.save(tenant, &job, revision).await?;
        tracing::info!(tenant = %tenant, job = %job.id, removed = ?job.removed, "erasure completed");
        Ok(job.public())
    }

    async fn save(
        &self,
        tenant: &TenantId,
        job: &ErasureJob,
        revision: u64,
    ) -> Result<bool, StoreError> {
        self.stores
            .docs
            .put(
                &jobs(tenant),
                &job.id,
                &encode(job),
                Expect::Revision(revision),
            )
            .await
    }

    /// The person to erase: the subject document, or the job itself for jobs made
    /// before subjects had documents of their own.
    async fn subject(
        &self,
        tenant: &TenantId,
        job: &ErasureJob,
    ) -> Result<Option<PersonId>, StoreError> {
        let raw = match self.stores.docs.get(&subjects(tenant), &job.id).await? {
            Some(document) => Some(decode::<Subject>(&document.body)?.person),
            None => job.subject.clone(),
        };
        raw.map(|raw| {
            PersonId::parse(&raw)
                .map_err(|e| StoreError::Transient(format!("bad erasure subject: {e}")))
        })
        .transpose()
    }

    /// Removes the person and every alias of theirs from every store; then tombstones
    /// them, so the stream's readers skip what reached the stream until now.
    async fn erase(&self, tenant: &TenantId, person: &PersonId) -> Result<Removed, StoreError> {
        let ids = self.ids(tenant, person).await?;
        let mut removed = Removed {
            ids: ids.len() as u64,
            ..Removed::default()
        };
        // The local log first: it waits for the batch in flight, so none lands after.
        if let Some(log) = &self.stores.log {
            let listed: Vec<PersonId> = ids.iter().cloned().collect();
            removed.local_log_records = log.erase(tenant, &listed).await?;
        }
        for id in &ids {
            removed.tape_events += self.stores.tape.erase(tenant, id).await?;
            removed.alias_links += self.erase_links(tenant, id).await?;
            removed.profile_snapshots += self.delete_all(&keys::snapshots(tenant, id)).await?;
            let digests = analytics::keys::digests(tenant);
            if self.stores.docs.get(&digests, id.as_str()).await?.is_some() {
                self.stores.docs.delete(&digests, id.as_str()).await?;
                removed.analytics_digests += 1;
            }
        }
        removed.rule_state = self.erase_rule_state(tenant, &ids).await?;
        removed.dead_letters = self.erase_dead_letters(tenant, &ids).await?;
        removed.audience_memberships =
            crate::audiences::erase_memberships(self.stores.docs.as_ref(), tenant, &ids).await?;
        removed.delivery_firings = DeliveryLog::new(self.stores.docs.clone())
            .erase(tenant, &ids)
            .await?;
        let archive = self.erase_archive(tenant, &ids).await?;
        removed.archive_objects_rewritten = archive.rewritten;
        removed.archive_objects_deleted = archive.deleted;
        removed.archive_events = archive.events;
        removed.stream_skipped_until =
            Some(self.tombstones.record(tenant, &ids, Utc::now()).await?);
        Ok(removed)
    }

    /// Rules' cooldowns of the ids (one per rule) and their absence timers.
    async fn erase_rule_state(
        &self,
        tenant: &TenantId,
        ids: &BTreeSet<PersonId>,
    ) -> Result<u64, StoreError> {
        let docs = &self.stores.docs;
        let mut removed = 0;
        for (rule, _) in docs.list(&rules::keys::rules(tenant)).await? {
            if rule == rules::keys::WEBHOOK_SECRET {
                continue;
            }
            let pk = rules::keys::cooldowns(tenant, &rule);
            for id in ids {
                if docs.get(&pk, id.as_str()).await?.is_some() {
                    docs.delete(&pk, id.as_str()).await?;
                    removed += 1;
                }
            }
        }
        let timers = rules::keys::timers(tenant);
        for (sk, document) in docs.list(&timers).await? {
            let person = serde_json::from_str::<serde_json::Value>(&document.body)
                .ok()
                .and_then(|timer| timer.get("person")?.as_str().map(str::to_owned));
            if person.is_some_and(|p| ids.iter().any(|id| id.as_str() == p)) {
                docs.delete(&timers, &sk).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The person and every id linked to them.
    async fn ids(
        &self,
        tenant: &TenantId,
        person: &PersonId,
    ) -> Result<BTreeSet<PersonId>, StoreError> {
        let mut ids = BTreeSet::from([person.clone()]);
        match self.aliases.group(tenant, person).await {
            Ok((root, members)) => {
                ids.insert(root);
                ids.extend(members);
            }
            Err(crate::profiles::ProfileError::Store(e)) => return Err(e),
            // A broken or oversized chain still erases what can be reached.
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "alias group not fully resolved")
            }
        }
        Ok(ids)
    }

    async fn delete_all(&self, pk: &str) -> Result<u64, StoreError> {
        let documents = self.stores.docs.list(pk).await?;
        for (sk, _) in &documents {
            self.stores.docs.delete(pk, sk).await?;
        }
        Ok(documents.len() as u64)
    }

    /// The id's own link (`alias → person`) and the links that point at it.
    async fn erase_links(&self, tenant: &TenantId, id: &PersonId) -> Result<u64, StoreError> {
        let own = self
            .stores
            .docs
            .get(&keys::alias(tenant, id), keys::ALIAS_TARGET)
            .await?;
        self.stores
            .docs
            .delete(&keys::alias(tenant, id), keys::ALIAS_TARGET)
            .await?;
        Ok(u64::from(own.is_some()) + self.delete_all(&keys::links(tenant, id)).await?)
    }

    async fn erase_dead_letters(
        &self,
        tenant: &TenantId,
        ids: &BTreeSet<PersonId>,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        for letter in self.stores.dead_letters.list(tenant).await? {
            if names_any(&letter, ids) {
                self.stores.dead_letters.remove(&letter).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Whether a dead letter's record names one of `ids` as its person.
fn names_any(letter: &DeadLetter, ids: &BTreeSet<PersonId>) -> bool {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&letter.payload_base64) else {
        return false;
    };
    let person = RecordEnvelope::parse(&bytes).ok().and_then(|envelope| {
        serde_json::from_str::<serde_json::Value>(envelope.event.get())
            .ok()?
            .get("person")?
            .as_str()
            .map(str::to_owned)
    });
    match person {
        Some(person) => ids.iter().any(|id| id.as_str() == person),
        // A record too broken to parse may still carry the id, as a JSON string.
        None => {
            let text = String::from_utf8_lossy(&bytes);
            ids.iter().any(|id| text.contains(&format!("\"{id}\"")))
        }
    }
}
