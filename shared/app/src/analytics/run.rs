//! One run of the analytics job: the stored digests page by page, the stale ones
//! refreshed from the Tape's lean projection, a batch of persons at a time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::{keys, Analytics, AnalyticsError, JobState, RunSummary, DIGEST_PAGE};
use crate::documents::encode;
use cjaas_core::analytics::{
    basis, body_of, windows_at, AnalyticsSettings, Funnel, PersonFold, Step, StoredDigest, Sums,
};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{Expect, StoreError};
use cjaas_core::projection::LeanStep;

/// At most about this many steps are read into memory at once.
pub(super) const STEP_BATCH: usize = 100_000;
/// Digests written per write transaction, at most (a few MB of bodies held).
const DIGEST_WRITES: usize = 10_000;

impl Analytics {
    /// One incremental run for a tenant, with windows ending at `now`.
    pub async fn run(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<RunSummary, AnalyticsError> {
        let started_at = Utc::now();
        let settings = self.settings(tenant).await?;
        let funnels = self.funnels(tenant).await?;
        let basis = basis(&settings, &funnels);
        let pk = keys::analytics(tenant);
        let job: JobState = self
            .read(&pk, keys::JOB)
            .await?
            .map(|(j, _)| j)
            .unwrap_or_default();
        let (types, dictionary) = TypeDictionary::read(self, tenant).await?;
        // Without the dictionary, type ids in stored digests (if any) name nothing
        // known: every digest is recomputed (a store written before format 4, too).
        let full = job.basis != basis || job.watermark.is_none() || dictionary.revision.is_none();
        let since = match (full, job.watermark) {
            (false, Some(w)) => Some(w - self.watermark_lag),
            _ => None,
        };
        let mut changed: BTreeSet<PersonId> = self
            .tape
            .changed_since(tenant, since)
            .await?
            .into_iter()
            .collect();
        let pass = Pass {
            analytics: self,
            tenant,
            settings: &settings,
            funnels: &funnels,
            basis: &basis,
            now,
        };
        // The tenant's figures by id: each digest is added once, names come back at
        // the reports.
        let mut sums = Sums::with_types(&types).ok_or_else(|| {
            StoreError::Rejected("the tenant's analytics type dictionary names a type twice".into())
        })?;
        let mut summary = RunSummary {
            started_at,
            full,
            ..Default::default()
        };
        let digests = keys::digests(tenant);
        let mut writes = DigestWrites {
            dictionary,
            ..Default::default()
        };
        let mut after: Option<String> = None;
        loop {
            let page = self
                .docs
                .list_page(&digests, after.as_deref(), DIGEST_PAGE)
                .await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            let mut stale = Vec::new();
            for (sk, doc) in page {
                let Ok(person) = PersonId::parse(&sk) else {
                    continue;
                };
                let was_changed = changed.remove(&person);
                let kept = (!was_changed && !full)
                    .then(|| sums.add_if_current(&doc.body, &basis, now))
                    .flatten();
                match kept {
                    Some(windows) => summary.persons += u64::from(windows),
                    None => stale.push(person),
                }
            }
            (pass.refresh_all(&stale, &mut sums, &mut summary, &mut writes)).await?;
        }
        let new_persons: Vec<PersonId> = changed.into_iter().collect();
        for chunk in new_persons.chunks(DIGEST_PAGE) {
            (pass.refresh_all(chunk, &mut sums, &mut summary, &mut writes)).await?;
        }
        // The digests' writes need no fsync of their own: the job state's durable
        // write below makes them durable too, and a crash before it leaves the previous
        // state, which claims none of them.
        writes.flush(self, tenant, sums.types()).await?;
        for window in windows_at(&settings, now) {
            let tally = sums.tally(&window.name);
            let report = tally.report(&window, &settings, &funnels, now);
            self.docs
                .put(
                    &pk,
                    &keys::report(&window.name),
                    &encode(&report),
                    Expect::Anything,
                )
                .await?;
        }
        summary.finished_at = Utc::now();
        let state = JobState {
            watermark: Some(started_at),
            basis,
            last_run: Some(summary.clone()),
        };
        self.docs
            .put(&pk, keys::JOB, &encode(&state), Expect::Anything)
            .await?;
        tracing::info!(tenant = %tenant, full, persons = summary.persons, refreshed = summary.persons_refreshed, events = summary.events_read, "analytics run finished");
        Ok(summary)
    }
}

/// One run's fixed inputs.
struct Pass<'a> {
    analytics: &'a Analytics,
    tenant: &'a TenantId,
    settings: &'a AnalyticsSettings,
    funnels: &'a [Funnel],
    basis: &'a str,
    now: DateTime<Utc>,
}

/// The tenant's type dictionary as stored (`keys::TYPES`): the names that digests of
/// format 4 give by id, in id order. It only grows.
#[derive(Serialize, Deserialize)]
struct TypeDictionary {
    names: Vec<String>,
}

/// What of the dictionary is stored: its revision, `None` if it is not, and how
/// many names.
#[derive(Default)]
struct StoredTypes {
    revision: Option<u64>,
    saved: usize,
}

impl TypeDictionary {
    async fn read(
        analytics: &Analytics,
        tenant: &TenantId,
    ) -> Result<(Vec<String>, StoredTypes), AnalyticsError> {
        let pk = keys::analytics(tenant);
        Ok(match analytics.read::<Self>(&pk, keys::TYPES).await? {
            Some((dictionary, revision)) => {
                let saved = dictionary.names.len();
                let revision = Some(revision);
                (dictionary.names, StoredTypes { revision, saved })
            }
            None => (Vec::new(), StoredTypes::default()),
        })
    }
}

impl StoredTypes {
    /// Stores `types` over the revision read; a run that finds it changed (another
    /// run of the tenant wrote it) fails, to be run again.
    async fn save(
        &mut self,
        analytics: &Analytics,
        tenant: &TenantId,
        types: &[String],
    ) -> Result<(), StoreError> {
        let pk = keys::analytics(tenant);
        let expect = self.revision.map_or(Expect::Absent, Expect::Revision);
        let body = encode(&TypeDictionary {
            names: types.to_vec(),
        });
        let written = (analytics.docs)
            .put(&pk, keys::TYPES, &body, expect)
            .await?;
        let stored = analytics.docs.get(&pk, keys::TYPES).await?;
        match stored {
            Some(doc) if written => {
                (self.revision, self.saved) = (Some(doc.revision), types.len());
                Ok(())
            }
            _ => Err(StoreError::Transient(
                "the tenant's analytics type dictionary changed during the run".into(),
            )),
        }
    }
}

/// Digests refreshed but not yet written: one write transaction per
/// [`DIGEST_WRITES`], not per page.
#[derive(Default)]
struct DigestWrites {
    puts: Vec<(String, String)>,
    deletes: Vec<String>,
    dictionary: StoredTypes,
}

impl DigestWrites {
    fn len(&self) -> usize {
        self.puts.len() + self.deletes.len()
    }

    /// Writes the queued digests, the dictionary first when it has grown: a stored
    /// digest never holds an id the stored dictionary lacks.
    async fn flush(
        &mut self,
        analytics: &Analytics,
        tenant: &TenantId,
        types: &[String],
    ) -> Result<(), StoreError> {
        if types.len() > self.dictionary.saved || self.dictionary.revision.is_none() {
            self.dictionary.save(analytics, tenant, types).await?;
        }
        if self.len() == 0 {
            return Ok(());
        }
        let (puts, deletes) = (
            std::mem::take(&mut self.puts),
            std::mem::take(&mut self.deletes),
        );
        (analytics.docs)
            .put_many_deferred(&keys::digests(tenant), puts, deletes)
            .await
    }
}

/// A person's fold in progress, with the first time one of their events expires.
struct Refresh<'f> {
    fold: PersonFold<'f>,
    expires_first: Option<i64>,
    read: u64,
}

impl<'f> Refresh<'f> {
    fn push(&mut self, time: DateTime<Utc>, ty: &str, expires_at: Option<i64>) {
        self.expires_first = expires_at.into_iter().chain(self.expires_first).min();
        self.fold.push(Step { time, ty });
        self.read += 1;
    }

    fn push_lean(&mut self, steps: &[LeanStep], types: &[String]) {
        for step in steps {
            self.expires_first = step.expires_at.into_iter().chain(self.expires_first).min();
            let (time, ty) = (step.time, types[step.ty as usize].as_str());
            self.fold.push_keyed(Step { time, ty }, step.ty);
            self.read += 1;
        }
    }

    /// The person's digest and the steps read, their figures added to `sums`; the
    /// fold starts over for the next.
    fn finish(&mut self, basis: &str, sums: &mut Sums) -> (StoredDigest, u64) {
        // An event leaving its tenant's retention changes the figures too.
        let expiry = (self.expires_first.take()).and_then(|t| DateTime::from_timestamp(t, 0));
        let read = std::mem::take(&mut self.read);
        (self.fold.finish_into(basis, expiry, sums), read)
    }
}

impl Pass<'_> {
    fn start(&self) -> Refresh<'_> {
        Refresh {
            fold: PersonFold::new(self.settings, self.funnels, self.now),
            expires_first: None,
            read: 0,
        }
    }

    /// Refreshes `persons` from their Tape's projection, a batch at a time, adds their
    /// figures to `sums` and queues their digests in `writes` (written once it holds
    /// [`DIGEST_WRITES`]).
    async fn refresh_all(
        &self,
        persons: &[PersonId],
        sums: &mut Sums,
        summary: &mut RunSummary,
        writes: &mut DigestWrites,
    ) -> Result<(), StoreError> {
        let tape = &self.analytics.tape;
        // One fold, reused person after person.
        let mut person = self.start();
        let from = person.fold.read_from();
        let mut refreshed: Vec<(StoredDigest, u64)> = Vec::with_capacity(persons.len());
        while refreshed.len() < persons.len() {
            let rest = &persons[refreshed.len()..];
            let batch = tape
                .steps_of_persons(self.tenant, rest, from, self.analytics.step_batch)
                .await?;
            let last = batch.persons.len().checked_sub(1);
            for (i, steps) in batch.persons.iter().enumerate() {
                person.push_lean(steps, batch.types.names());
                if Some(i) == last {
                    if let Some(after) = &batch.next {
                        self.read_rest(&mut person, &rest[i], from, after.clone())
                            .await?;
                    }
                }
                refreshed.push(person.finish(self.basis, sums));
            }
            if last.is_none() {
                return Err(StoreError::Transient("the store read no person".into()));
            }
        }
        // A person with nothing in any window has no digest.
        for (person, (digest, _)) in persons.iter().zip(&refreshed) {
            if digest.windows == 0 && digest.valid_until.is_none() {
                writes.deletes.push(person.to_string());
            } else {
                (writes.puts).push((person.to_string(), body_of(digest.bytes())));
            }
        }
        if writes.len() >= DIGEST_WRITES {
            writes
                .flush(self.analytics, self.tenant, sums.types())
                .await?;
        }
        summary.persons_refreshed += refreshed.len() as u64;
        for (digest, read) in &refreshed {
            summary.persons += u64::from(digest.windows > 0);
            summary.events_read += read;
        }
        Ok(())
    }

    /// The rest of a person's Tape past a batch's end, page by page.
    async fn read_rest(
        &self,
        person: &mut Refresh<'_>,
        id: &PersonId,
        from: Option<DateTime<Utc>>,
        after: String,
    ) -> Result<(), StoreError> {
        let mut after = Some(after);
        while let Some(cursor) = after.take() {
            let page = (self.analytics.tape)
                .steps(self.tenant, id, from, Some(cursor))
                .await?;
            for step in &page.steps {
                person.push(step.time, &step.ty, step.expires_at);
            }
            after = page.next;
        }
        Ok(())
    }
}
