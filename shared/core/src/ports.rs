//! The ports: small traits that the AWS and embedded adapters implement.
//! Application code depends on these only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::ApiKeyRecord;
use crate::envelope::StreamRecord;
use crate::fold::{TapeFold, TapeRow};
use crate::ids::{PersonId, TenantId};
use crate::tape::{JourneyPage, JourneyQuery, TapeEntry, MAX_PAGE};

/// A failure of a store, classified by whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Throttling, a network fault, a conflicting transaction: try again later.
    #[error("transient store failure: {0}")]
    Transient(String),
    /// The store refuses this input for good (e.g. an item over its size limit).
    #[error("the store rejected the item: {0}")]
    Rejected(String),
}

/// What happened to one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    Appended,
    /// The event (same tenant, source and id) is already on the Tape.
    Duplicate,
}

/// The Tape: append once, read in event-time order.
#[async_trait]
pub trait TapeStore: Send + Sync {
    /// Appends each entry unless its (tenant, source, id) is already on the Tape,
    /// reporting one outcome per entry, in order. Entries may repeat within a batch.
    async fn append_batch(&self, entries: &[TapeEntry]) -> Vec<Result<AppendOutcome, StoreError>>;

    /// How many entries a person's Tape holds (kept with every append).
    async fn count(&self, tenant: &TenantId, person: &PersonId) -> Result<u64, StoreError>;

    /// Reads one page of a person's journey.
    async fn query(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        query: &JourneyQuery,
    ) -> Result<JourneyPage, StoreError>;

    /// Folds a person's entries from `fold.since()` on, in sort-key order (leaving out
    /// those past their retention, as journey reads do). The default pages through
    /// [`TapeStore::query`], the next page read while the last one folds; the embedded
    /// store folds its rows in one read transaction, borrowed, without copying them out.
    async fn fold_tape(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        mut fold: TapeFold,
    ) -> Result<TapeFold, StoreError> {
        let mut query = JourneyQuery {
            from: fold.since(),
            limit: MAX_PAGE,
            ..JourneyQuery::default()
        };
        let mut page = self.query(tenant, person, &query).await?;
        loop {
            let Some(cursor) = page.next.take() else {
                fold.fold(page.events.iter().map(TapeRow::of));
                return Ok(fold);
            };
            query.after = Some(cursor.after);
            let folding = async { fold.fold(page.events.iter().map(TapeRow::of)) };
            let (next, ()) = futures::join!(self.query(tenant, person, &query), folding);
            page = next?;
        }
    }

    /// The persons whose Tape was appended to at or after `since` (by the writer's
    /// clock), or every person of the tenant when `since` is `None`.
    async fn changed_since(
        &self,
        tenant: &TenantId,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<PersonId>, StoreError>;

    /// Whether this event (tenant, source, id) is on the Tape: consumers that run
    /// beside the Tape writer wait for it.
    async fn holds(&self, entry: &TapeEntry) -> Result<bool, StoreError>;

    /// Deletes everything of one person id: entries, their dedup marks and the
    /// counter (so the id's next events are a new person). Returns the entries removed.
    async fn erase(&self, tenant: &TenantId, person: &PersonId) -> Result<u64, StoreError>;

    /// One page of the lean projection of a person's Tape from `from`, resuming after
    /// the sort key `after` (see `cjaas_core::projection`). The default decodes the
    /// full entries; stores override it to read their projection.
    async fn steps(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        from: Option<DateTime<Utc>>,
        after: Option<String>,
    ) -> Result<crate::projection::StepPage, StoreError> {
        crate::projection::steps_from_entries(self, tenant, person, from, after).await
    }

    /// Removes the entries past their retention, for a store with no expiry of its
    /// own (DynamoDB's TTL does it in AWS: nothing to do). Returns how many went.
    async fn expire(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let _ = now;
        Ok(0)
    }

    /// Gives the entries written before the lean projection existed theirs, for up
    /// to about `budget` (`None`: until done), resuming where the last call stopped.
    /// A store without a projection has nothing to migrate.
    async fn backfill_projection(
        &self,
        budget: Option<std::time::Duration>,
    ) -> Result<crate::projection::BackfillReport, StoreError> {
        let _ = budget;
        Ok(crate::projection::BackfillReport {
            complete: true,
            ..Default::default()
        })
    }

    /// The steps from `from` of the first persons of `persons` (at least one when there
    /// are any), read together: about `max_steps` at most, the last person's cut short
    /// when theirs go past it (see `StepBatch::next`). The default reads person by
    /// person through [`TapeStore::steps`]; the embedded store reads its projection in
    /// one transaction.
    async fn steps_of_persons(
        &self,
        tenant: &TenantId,
        persons: &[PersonId],
        from: Option<DateTime<Utc>>,
        max_steps: usize,
    ) -> Result<crate::projection::StepBatch, StoreError> {
        crate::projection::steps_of_persons_by_page(self, tenant, persons, from, max_steps).await
    }
}

/// The ordered, partitioned event stream between ingest and the Tape.
#[async_trait]
pub trait EventStream: Send + Sync {
    /// Puts records in order. Returns the indices of records that were not accepted and
    /// may be retried (Kinesis reports failures per record); `Err` means none were.
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<usize>, StoreError>;
}

/// A record that can never be written, kept with its full payload and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where it came from, e.g. `shardId-000…/49590…` for Kinesis: unique per record.
    pub origin: String,
    pub tenant: Option<String>,
    pub code: String,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
    /// The record's bytes, base64.
    pub payload_base64: String,
}

/// Where dead letters go.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    /// Keeps the letter. Idempotent per `origin`.
    async fn put(&self, letter: &DeadLetter) -> Result<(), StoreError>;
    /// A tenant's dead letters (for erasure).
    async fn list(&self, tenant: &TenantId) -> Result<Vec<DeadLetter>, StoreError>;
    /// Up to `limit` of the tenant's letters after the one from `after` (an origin),
    /// in the store's own stable order.
    async fn page(
        &self,
        tenant: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError>;
    /// The tenant's letter from `origin`, if there is one.
    async fn get(&self, tenant: &TenantId, origin: &str) -> Result<Option<DeadLetter>, StoreError>;
    async fn remove(&self, letter: &DeadLetter) -> Result<(), StoreError>;
}

/// The archive: objects under keys laid out by `cjaas_core::archive` (S3 in AWS, a
/// directory locally).
#[async_trait]
pub trait Archive: Send + Sync {
    /// Writes the object whole, replacing any object under the same key.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every key under `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// A tenant as the config store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub tenant: TenantId,
    pub created_at: DateTime<Utc>,
    /// Events older than this (by event time) expire from the Tape and the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

/// Tenants and API keys. Every key lookup is scoped by tenant.
#[async_trait]
pub trait ConfigStore: Send + Sync {
    /// Creates a tenant; `false` if it already exists.
    async fn create_tenant(&self, tenant: &TenantRecord) -> Result<bool, StoreError>;
    /// Every tenant, for operators and scheduled jobs.
    async fn list_tenants(&self) -> Result<Vec<TenantId>, StoreError>;
    async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<TenantRecord>, StoreError>;
    /// Replaces an existing tenant's record (e.g. its retention).
    async fn update_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError>;
    async fn put_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn get_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError>;
}

/// A small JSON document with a revision, for optimistic concurrency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub body: String,
    pub revision: u64,
}

/// What a conditional write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Anything,
    Absent,
    Revision(u64),
}

/// A per-tenant limit: at most `max` documents of partition `pk` whose sort keys
/// start with `prefix` (e.g. a tenant's rules, `rule-…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub pk: String,
    pub prefix: &'static str,
    pub max: usize,
}

impl Limit {
    /// Where a store that keeps a counter keeps it: its own partition, beside `pk`
    /// and tenant-scoped like it, so listing `pk` never sees it.
    pub fn counter_key(&self) -> (String, String) {
        (format!("{}#COUNT", self.pk), self.prefix.to_owned())
    }
}

/// A write counted against a [`Limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedWrite<'a> {
    /// Creates document `sk` (revision 1), which must be absent, if fewer than `max`
    /// documents exist.
    Create { sk: &'a str, body: &'a str },
    /// Deletes document `sk`.
    Delete { sk: &'a str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedOutcome {
    Done,
    /// A create found `max` documents already.
    LimitReached,
    /// A create found `sk` taken; a delete found no `sk`.
    Unchanged,
}

/// Views, aliases and profile snapshots: documents under tenant-scoped keys that the
/// domain builds (see `cjaas_core::profile::keys`); adapters store them as given.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Document>, StoreError>;
    /// Writes `body` (revision + 1) if `expect` holds; `Ok(false)` if it does not.
    async fn put(&self, pk: &str, sk: &str, body: &str, expect: Expect)
        -> Result<bool, StoreError>;
    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError>;
    /// Every document of partition `pk`, by sort key.
    async fn list(&self, pk: &str) -> Result<Vec<(String, Document)>, StoreError>;
    /// Up to `limit` documents of partition `pk` whose sort key is above `after`.
    async fn list_page(
        &self,
        pk: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Document)>, StoreError>;
    /// Writes (`Expect::Anything`) and deletes several documents of partition `pk`.
    /// Not atomic as a whole; each document is. Stores may batch it; the default
    /// writes them one by one.
    async fn put_many(
        &self,
        pk: &str,
        puts: &[(String, String)],
        deletes: &[String],
    ) -> Result<(), StoreError> {
        for (sk, body) in puts {
            self.put(pk, sk, body, Expect::Anything).await?;
        }
        for sk in deletes {
            self.delete(pk, sk).await?;
        }
        Ok(())
    }
    /// [`Self::put_many`] of owned documents whose writes need not be durable on their
    /// own: a crash may lose them unless a later write of this store was durable, and
    /// the store keeps writes in order, so a later durable write makes them durable
    /// too. For data that can be recomputed (the analytics digests). The default is
    /// [`Self::put_many`].
    async fn put_many_deferred(
        &self,
        pk: &str,
        puts: Vec<(String, String)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        self.put_many(pk, &puts, &deletes).await
    }
    /// Creates or deletes a document counted against `limit`, atomically with the
    /// count: of concurrent creates, never more than `max` documents result. Documents
    /// written before the store kept a count are counted on first use.
    async fn write_limited(
        &self,
        limit: &Limit,
        write: LimitedWrite<'_>,
    ) -> Result<LimitedOutcome, StoreError>;
}

/// Delivers archive objects to a tenant's own destinations (see
/// `cjaas_core::forwarding`).
#[async_trait]
pub trait Forwarder: Send + Sync {
    /// Delivers one archive object (gzip NDJSON under `archive_key`); returns the
    /// number of events delivered.
    async fn deliver(
        &self,
        target: &crate::forwarding::Target,
        archive_key: &str,
        data: &[u8],
    ) -> Result<u64, StoreError>;
}

/// One event of a live feed, with its position (for `Last-Event-ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub id: String,
    pub person: PersonId,
    pub ty: String,
    pub source: String,
    /// The CloudEvent in structured-mode JSON.
    pub event: String,
}

pub type LiveStream = futures::stream::BoxStream<'static, Result<LiveEvent, StoreError>>;

/// A follower's stream, and why it does not start where it was asked to, if it does
/// not (e.g. a `Last-Event-ID` beyond the newest position: it starts now).
pub struct Following {
    pub events: LiveStream,
    pub notice: Option<String>,
}

/// A tenant's events as they arrive (in AWS, tailing the stream; locally, pushed by
/// the Tape writer).
#[async_trait]
pub trait LiveFeed: Send + Sync {
    /// The tenant's events after position `after` (as far back as the feed keeps
    /// them), then each new one as it arrives. A position the feed cannot resume from
    /// starts now, with a notice saying so.
    async fn follow(
        &self,
        tenant: &TenantId,
        after: Option<String>,
    ) -> Result<Following, StoreError>;
}

/// Copies of recent events that a deployment keeps beside the Tape and can rewrite:
/// the embedded default's local stream and live log. (Kinesis cannot be rewritten;
/// erasure tombstones make its readers skip an erased person instead.)
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Removes every record of the tenant's `ids`; returns how many went.
    async fn erase(&self, tenant: &TenantId, ids: &[PersonId]) -> Result<u64, StoreError>;
    /// Makes what was removed unrecoverable from the storage itself (the embedded store
    /// rewrites its file, so no freed page keeps a copy). Returns whether it did.
    async fn purge(&self) -> Result<bool, StoreError>;
}

/// An event for the CJaaS event bus (EventBridge in AWS, in-process locally).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusEvent {
    /// e.g. `cjaas.analytics`.
    pub source: String,
    /// e.g. `AnalyticsRunRequested`.
    pub detail_type: String,
    /// A JSON object.
    pub detail: String,
}

/// Publishes events for other parts of CJaaS and for tenants' integrations.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes every event, retrying the ones the bus did not take; `Err` if some
    /// still failed.
    async fn publish(&self, events: &[BusEvent]) -> Result<(), StoreError>;
}
