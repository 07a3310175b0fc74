//! The archive (see `cjaas_core::archive` for the layout and format): archiving the
//! stream's batches, replaying a time range back through ingest, and applying each
//! tenant's retention to the archive.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cjaas_core::archive::{self, date_of_key, tenant_prefix, DATA_PREFIX, PERSONS_PREFIX};
use cjaas_core::event::revalidate;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{Archive, ConfigStore, StoreError};
use cjaas_core::tape::TapeEntry;

use crate::failure::{AppError, ErrorKind};
use crate::forwarding::Forwarding;
use crate::ingest::Ingestor;
use crate::tombstones::Tombstones;
use crate::writer::{InputRecord, TapeWriter};

/// Objects written or read at once.
const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Invalid(String),
    #[error("a record must be retried: {0}")]
    Retry(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stream did not take the replay: {0}")]
    Stream(String),
}

impl AppError for ArchiveError {
    fn kind(&self) -> ErrorKind {
        match self {
            ArchiveError::Invalid(_) => ErrorKind::Invalid,
            ArchiveError::Retry(_) | ArchiveError::Stream(_) => ErrorKind::Unavailable,
            ArchiveError::Store(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            ArchiveError::Invalid(_) => "invalid_request",
            ArchiveError::Retry(_) => "store_unavailable",
            ArchiveError::Stream(_) => "stream_unavailable",
            ArchiveError::Store(e) => e.code(),
        }
    }
    fn wraps(&self) -> Option<&dyn AppError> {
        match self {
            ArchiveError::Store(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveReport {
    pub objects: usize,
    pub events: usize,
}

pub struct Archiver {
    writer: Arc<TapeWriter>,
    archive: Arc<dyn Archive>,
    forwarding: Option<Arc<Forwarding>>,
    tombstones: Option<Tombstones>,
}

impl Archiver {
    /// `writer` decodes and authenticates records exactly as the Tape does.
    pub fn new(writer: Arc<TapeWriter>, archive: Arc<dyn Archive>) -> Self {
        Self {
            writer,
            archive,
            forwarding: None,
            tombstones: None,
        }
    }

    /// Leaves out erased persons' records that the stream still holds (a batch
    /// archived, or archived again, after the erasure ran).
    pub fn with_tombstones(mut self, tombstones: Tombstones) -> Self {
        self.tombstones = Some(tombstones);
        self
    }

    /// Forwards each archived object to its tenant's destinations.
    pub fn with_forwarding(mut self, forwarding: Arc<Forwarding>) -> Self {
        self.forwarding = Some(forwarding);
        self
    }

    /// Archives one batch of the stream. `batch` names its first record's position
    /// (e.g. `{shard}-{sequence}`): a retry starts at the same record, so it rewrites
    /// the same objects instead of adding new ones. `Err` means retry the whole batch.
    pub async fn archive_batch(
        &self,
        batch: &str,
        records: &[InputRecord],
    ) -> Result<ArchiveReport, ArchiveError> {
        let entries = self
            .writer
            .decode_batch(records)
            .await
            .map_err(ArchiveError::Retry)?;
        self.archive_entries(batch, entries).await
    }

    /// [`Archiver::archive_batch`] for a batch the Tape writer has just decoded and
    /// written: `entries` are its entries that are on the Tape, in stream order.
    pub async fn archive_entries(
        &self,
        batch: &str,
        entries: Vec<TapeEntry>,
    ) -> Result<ArchiveReport, ArchiveError> {
        let entries = self.without_erased(entries).await?;
        let objects = archive::objects(batch, &entries);
        let report = ArchiveReport {
            objects: objects.len(),
            events: entries.len(),
        };
        // Collected first: a lazy `map` here trips a higher-ranked lifetime limitation
        // of rustc when the future is spawned.
        let writes: Vec<_> = objects.iter().map(|o| self.write(o)).collect();
        stream::iter(writes)
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        if let Some(forwarding) = &self.forwarding {
            forwarding.forward(&objects).await;
        }
        if report.events > 0 {
            tracing::info!(
                batch,
                objects = report.objects,
                events = report.events,
                "batch archived"
            );
        }
        Ok(report)
    }
}

impl Archiver {
    /// The entries whose person no tombstone of their tenant covers.
    async fn without_erased(&self, entries: Vec<TapeEntry>) -> Result<Vec<TapeEntry>, StoreError> {
        let Some(tombstones) = &self.tombstones else {
            return Ok(entries);
        };
        let tenants: BTreeSet<&TenantId> = entries.iter().map(|e| &e.tenant).collect();
        let mut erased = BTreeMap::new();
        for tenant in tenants {
            let loaded = tombstones.load(tenant, Utc::now()).await?;
            if !loaded.is_empty() {
                erased.insert(tenant.clone(), loaded);
            }
        }
        if erased.is_empty() {
            return Ok(entries);
        }
        Ok(entries
            .into_iter()
            .filter(|e| {
                erased
                    .get(&e.tenant)
                    .is_none_or(|t| !t.hides(&e.person, e.received_at))
            })
            .collect())
    }

    /// Data first: a person list never names a missing object.
    async fn write(&self, object: &archive::ArchiveObject) -> Result<(), StoreError> {
        self.archive
            .put(&object.data_key, object.data.clone())
            .await?;
        self.archive
            .put(&object.persons_key, object.persons.clone())
            .await
    }
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub objects_read: usize,
    pub events_replayed: usize,
}

/// Replays archived events back through ingest. The Tape keeps one copy per (source,
/// id), so replaying what is already there adds nothing. An erased person's events
/// that an object still holds (one archived from the stream after the erasure ran)
/// are left out while their tombstone lasts.
pub struct Replayer {
    archive: Arc<dyn Archive>,
    ingestor: Arc<Ingestor>,
    tombstones: Tombstones,
}

impl Replayer {
    pub fn new(archive: Arc<dyn Archive>, ingestor: Arc<Ingestor>, tombstones: Tombstones) -> Self {
        Self {
            archive,
            ingestor,
            tombstones,
        }
    }

    /// Every archived event of `tenant` with `from <= time < to`, in archive order.
    pub async fn replay(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ReplayReport, ArchiveError> {
        if from >= to {
            return Err(ArchiveError::Invalid("`from` must be before `to`".into()));
        }
        let keys: Vec<String> = self
            .archive
            .list(&tenant_prefix(DATA_PREFIX, tenant))
            .await?
            .into_iter()
            .filter(|key| hour_overlaps(key, from, to))
            .collect();
        let erased = self.tombstones.load(tenant, Utc::now()).await?;
        let mut report = ReplayReport::default();
        for key in keys {
            let Some(bytes) = self.archive.get(&key).await? else {
                continue;
            };
            let events = archive::decode(&bytes)
                .map_err(|e| ArchiveError::Store(StoreError::Transient(e.to_string())))?;
            let batch: Vec<_> = events
                .iter()
                .filter(|e| e.tenant == tenant.as_str() && e.time >= from && e.time < to)
                .filter(|e| {
                    PersonId::parse(&e.person).is_ok_and(|p| !erased.hides(&p, e.received_at))
                })
                .filter_map(|e| {
                    let valid = revalidate(0, e.event.get(), e.received_at).ok()?;
                    Some((e.received_at, valid))
                })
                .collect();
            report.objects_read += 1;
            report.events_replayed += self
                .ingestor
                .republish(tenant, &batch)
                .await
                .map_err(|e| ArchiveError::Stream(e.to_string()))?;
        }
        tracing::info!(tenant = %tenant, objects = report.objects_read, events = report.events_replayed, "archive replayed");
        Ok(report)
    }
}

/// Whether the hour partition of `key` can hold events in `[from, to)`.
fn hour_overlaps(key: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    let Some(date) = date_of_key(key) else {
        return false;
    };
    let hour: u32 = key
        .split("/hour=")
        .nth(1)
        .and_then(|h| h.get(..2))
        .and_then(|h| h.parse().ok())
        .unwrap_or(0);
    let start = date
        .and_hms_opt(hour, 0, 0)
        .expect("a valid hour")
        .and_utc();
    start < to && start + Duration::hours(1) > from
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub objects_deleted: usize,
}

/// Applies each tenant's retention to the archive: partitions whose whole day is past
/// the retention go (the Tape's own copies expire through TTL).
pub struct ArchiveRetention {
    archive: Arc<dyn Archive>,
    config: Arc<dyn ConfigStore>,
}

impl ArchiveRetention {
    pub fn new(archive: Arc<dyn Archive>, config: Arc<dyn ConfigStore>) -> Self {
        Self { archive, config }
    }

    pub async fn sweep(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<SweepReport, ArchiveError> {
        let Some(days) = self
            .config
            .get_tenant(tenant)
            .await?
            .and_then(|t| t.retention_days)
        else {
            return Ok(SweepReport::default());
        };
        // A day partition goes once its last moment is past the retention.
        let keep_from: NaiveDate = (now - Duration::days(days.into())).date_naive();
        let mut expired = Vec::new();
        for prefix in [DATA_PREFIX, PERSONS_PREFIX] {
            for key in self.archive.list(&tenant_prefix(prefix, tenant)).await? {
                if date_of_key(&key).is_some_and(|date| date < keep_from) {
                    expired.push(key);
                }
            }
        }
        let report = SweepReport {
            objects_deleted: expired.len(),
        };
        stream::iter(expired)
            .map(|key| async move { self.archive.delete(&key).await })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(report)
    }
}
