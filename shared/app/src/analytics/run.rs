//! One run of the analytics job: the stored digests page by page, the stale ones
//! refreshed from the Tape's lean projection, a batch of persons at a time.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

use super::{keys, Analytics, AnalyticsError, JobState, RunSummary, DIGEST_PAGE};
use crate::documents::{decode, encode};
use cjaas_core::analytics::{
    basis, windows_at, AnalyticsSettings, Funnel, PersonDigest, PersonFold, Step, Tally,
};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{Expect, StoreError};
use cjaas_core::projection::LeanStep;

/// At most about this many steps are read into memory at once.
pub(super) const STEP_BATCH: usize = 100_000;

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
        let full = job.basis != basis || job.watermark.is_none();
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
        let mut sums: BTreeMap<String, Tally> = BTreeMap::new();
        let mut summary = RunSummary {
            started_at,
            full,
            ..Default::default()
        };
        let digests = keys::digests(tenant);
        let mut after: Option<String> = None;
        loop {
            let page = self
                .docs
                .list_page(&digests, after.as_deref(), DIGEST_PAGE)
                .await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            let mut kept = Vec::new();
            let mut stale = Vec::new();
            for (sk, doc) in page {
                let Ok(person) = PersonId::parse(&sk) else {
                    continue;
                };
                let was_changed = changed.remove(&person);
                match decode::<PersonDigest>(&doc.body) {
                    Ok(digest)
                        if !was_changed
                            && !full
                            && digest.basis == basis
                            && digest.valid_until.is_none_or(|t| t > now) =>
                    {
                        kept.push(digest)
                    }
                    _ => stale.push(person),
                }
            }
            kept.extend(pass.refresh_all(stale, &mut summary).await?);
            for digest in kept {
                pass.add(&mut sums, &digest, &mut summary);
            }
        }
        let new_persons: Vec<PersonId> = changed.into_iter().collect();
        for chunk in new_persons.chunks(DIGEST_PAGE) {
            for digest in pass.refresh_all(chunk.to_vec(), &mut summary).await? {
                pass.add(&mut sums, &digest, &mut summary);
            }
        }
        for window in windows_at(&settings, now) {
            let tally = sums.remove(&window.name).unwrap_or_default();
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
            self.push(step.time, &types[step.ty as usize], step.expires_at);
        }
    }

    fn finish(self, basis: &str) -> (PersonDigest, u64) {
        let mut digest = self.fold.finish(basis.to_owned());
        // An event leaving its tenant's retention changes the figures too.
        if let Some(expiry) = self
            .expires_first
            .and_then(|t| DateTime::from_timestamp(t, 0))
        {
            digest.valid_until = Some(digest.valid_until.map_or(expiry, |t| t.min(expiry)));
        }
        (digest, self.read)
    }
}

impl Pass<'_> {
    fn add(
        &self,
        sums: &mut BTreeMap<String, Tally>,
        digest: &PersonDigest,
        summary: &mut RunSummary,
    ) {
        if !digest.windows.is_empty() {
            summary.persons += 1;
        }
        for (window, tally) in &digest.windows {
            match sums.get_mut(window) {
                Some(sum) => sum.add(tally),
                None => {
                    sums.insert(window.clone(), tally.clone());
                }
            }
        }
    }

    fn start(&self) -> Refresh<'_> {
        Refresh {
            fold: PersonFold::new(self.settings, self.funnels, self.now),
            expires_first: None,
            read: 0,
        }
    }

    /// Refreshes `persons` from their Tape's projection, a batch at a time, and writes
    /// their digests in one batch.
    async fn refresh_all(
        &self,
        persons: Vec<PersonId>,
        summary: &mut RunSummary,
    ) -> Result<Vec<PersonDigest>, StoreError> {
        let tape = &self.analytics.tape;
        let from = self.start().fold.read_from();
        let mut refreshed: Vec<(PersonDigest, u64)> = Vec::with_capacity(persons.len());
        while refreshed.len() < persons.len() {
            let rest = &persons[refreshed.len()..];
            let batch = tape
                .steps_of_persons(self.tenant, rest, from, self.analytics.step_batch)
                .await?;
            let last = batch.persons.len().checked_sub(1);
            for (i, steps) in batch.persons.iter().enumerate() {
                let mut person = self.start();
                person.push_lean(steps, &batch.types);
                if Some(i) == last {
                    if let Some(after) = &batch.next {
                        self.read_rest(&mut person, &rest[i], from, after.clone())
                            .await?;
                    }
                }
                refreshed.push(person.finish(self.basis));
            }
            if last.is_none() {
                return Err(StoreError::Transient("the store read no person".into()));
            }
        }
        // The digests of the page in one batch: a person with nothing in any window
        // has none.
        let (mut puts, mut deletes) = (Vec::new(), Vec::new());
        for (person, (digest, _)) in persons.iter().zip(&refreshed) {
            if digest.windows.is_empty() && digest.valid_until.is_none() {
                deletes.push(person.to_string());
            } else {
                puts.push((person.to_string(), encode(digest)));
            }
        }
        self.analytics
            .docs
            .put_many(&keys::digests(self.tenant), &puts, &deletes)
            .await?;
        summary.persons_refreshed += refreshed.len() as u64;
        summary.events_read += refreshed.iter().map(|(_, n)| n).sum::<u64>();
        Ok(refreshed.into_iter().map(|(d, _)| d).collect())
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
