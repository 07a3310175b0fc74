//! A backtest's run: person by person over the tenant's Tape, each person's events
//! replayed through [`replay_person`], with progress saved as it goes.
//!
//! **What it reads.** A rule that reads only each event's type, source and time
//! ([`CompiledRule::reads_only_steps`]) is replayed over the Tape's lean projection,
//! the steps analytics reads, which never decodes a CloudEvent. Any other rule (a
//! `where` on a field, a profile condition) reads the whole entries. Profiles are
//! the persons' profiles now: a backtest cannot rebuild past profiles.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use cjaas_core::fold::time_of_sort_key;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::StoreError;
use cjaas_core::rules::caps::Caps;
use cjaas_core::rules::replay::replay_person;
use cjaas_core::rules::{CompiledRule, Seen};
use cjaas_core::tape::{JourneyQuery, Order, MAX_PAGE};

use super::backtest::{
    BacktestError, BacktestJob, BacktestResult, BacktestStatus, Backtests, Day, SampleFiring,
    SAMPLE,
};
use crate::profiles::ProfileError;
use crate::tape_pages::for_each_page;

/// How often progress is saved.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// One person's events as the replay reads them: time, event, and the event as the
/// sample shows it.
struct Read {
    events: Vec<(DateTime<Utc>, Value)>,
    projection: bool,
}

#[derive(Default)]
struct Tally {
    firings: u64,
    capped: u64,
    persons: u64,
    days: BTreeMap<NaiveDate, Day>,
    sample: Vec<SampleFiring>,
}

impl Tally {
    fn add(
        &mut self,
        person: &PersonId,
        read: &Read,
        fired: &[cjaas_core::rules::replay::Replayed],
    ) {
        let mut days = BTreeSet::new();
        for firing in fired {
            let day = firing.time.date_naive();
            let entry = self.days.entry(day).or_insert(Day {
                day,
                firings: 0,
                capped: 0,
                persons: 0,
            });
            if firing.capped {
                self.capped += 1;
                entry.capped += 1;
            } else {
                self.firings += 1;
                entry.firings += 1;
                days.insert(day);
            }
            let event = &read.events[firing.index].1;
            self.sample.push(SampleFiring {
                person: person.to_string(),
                time: firing.time,
                event: shown(event, firing.time, read.projection),
                capped: firing.capped,
            });
        }
        for day in &days {
            self.days.get_mut(day).expect("counted above").persons += 1;
        }
        self.persons += u64::from(!days.is_empty());
        if self.sample.len() > 4 * SAMPLE {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.sample
            .sort_by(|a, b| (a.time, &a.person).cmp(&(b.time, &b.person)));
        self.sample.truncate(SAMPLE);
    }

    fn finish(mut self, projection: bool) -> BacktestResult {
        self.trim();
        BacktestResult {
            firings: self.firings,
            capped: self.capped,
            persons: self.persons,
            read: if projection { "projection" } else { "entries" }.into(),
            per_day: self.days.into_values().collect(),
            sample: self.sample,
        }
    }
}

/// The triggering event as a sample shows it.
fn shown(event: &Value, time: DateTime<Utc>, projection: bool) -> Value {
    let mut shown = json!({"type": event["type"], "source": event["source"], "time": time});
    if !projection {
        shown["id"] = event["id"].clone();
    }
    shown
}

impl Backtests {
    /// Runs the job to its end; a finished job is left as it is, and a job another
    /// run holds is left to it.
    pub async fn run(&self, tenant: &TenantId, id: &str) -> Result<BacktestJob, BacktestError> {
        let (mut job, mut revision) = self.stored(tenant, id).await?;
        if job.status != BacktestStatus::Pending {
            return Ok(job);
        }
        job.status = BacktestStatus::Running;
        job.started_at = Some(Utc::now());
        job.heartbeat_at = job.started_at;
        if !self.save(tenant, &job, revision).await? {
            return Ok(self.stored(tenant, id).await?.0);
        }
        revision += 1;
        let outcome = self.replay(tenant, &mut job, &mut revision).await;
        job.completed_at = Some(Utc::now());
        match outcome {
            Ok(Some(result)) => {
                job.status = BacktestStatus::Completed;
                job.result = Some(result);
            }
            // Another run took the job over.
            Ok(None) => return Ok(self.stored(tenant, id).await?.0),
            Err(e) => {
                tracing::warn!(tenant = %tenant, job = id, error = %e, "backtest failed");
                job.status = BacktestStatus::Failed;
                job.error = Some(e.to_string());
                job.reason = Some("run_failed".into());
            }
        }
        self.save(tenant, &job, revision).await?;
        tracing::info!(tenant = %tenant, job = id, status = ?job.status, events = job.progress.events_read, "backtest done");
        Ok(job)
    }

    async fn replay(
        &self,
        tenant: &TenantId,
        job: &mut BacktestJob,
        revision: &mut u64,
    ) -> Result<Option<BacktestResult>, StoreError> {
        let rule = match job.rule.compile() {
            Ok(rule) => rule,
            Err(problems) => {
                let fields: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.code))
                    .collect();
                return Err(StoreError::Rejected(format!(
                    "the rule no longer compiles ({})",
                    fields.join(", ")
                )));
            }
        };
        let mut caps = rule.caps.clone();
        caps.extend(self.policies.compiled(tenant).await?.caps);
        let caps = Caps(caps);
        let actions: Vec<&str> = job.rule.actions.iter().map(|a| a.channel()).collect();
        let projection = rule.reads_only_steps();
        let persons = self.tape.changed_since(tenant, None).await?;
        job.progress.persons_total = persons.len() as u64;
        let mut tally = Tally::default();
        let mut saved = Instant::now();
        for person in &persons {
            let read = self.read(tenant, person, &rule, job, projection).await?;
            let seen: Vec<Seen> = read
                .events
                .iter()
                .map(|(time, event)| Seen { time: *time, event })
                .collect();
            let profiles = self.profiles_of(tenant, person, &rule).await?;
            let fired = replay_person(&rule, &seen, &profiles, (job.from, job.to), &caps, &actions);
            tally.add(person, &read, &fired);
            job.progress.persons_done += 1;
            job.progress.events_read += read.events.len() as u64;
            if saved.elapsed() >= PROGRESS_EVERY {
                job.heartbeat_at = Some(Utc::now());
                if !self.save(tenant, job, *revision).await? {
                    return Ok(None);
                }
                *revision += 1;
                saved = Instant::now();
            }
        }
        Ok(Some(tally.finish(projection)))
    }

    /// The person's events from the rule's lookback before `from` until `to`.
    async fn read(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        rule: &CompiledRule,
        job: &BacktestJob,
        projection: bool,
    ) -> Result<Read, StoreError> {
        let start = job.from - rule.lookback;
        let mut events = Vec::new();
        if projection {
            let mut after = None;
            'pages: loop {
                let page = self.tape.steps(tenant, person, Some(start), after).await?;
                for step in page.steps {
                    if step.time > job.to {
                        break 'pages;
                    }
                    events.push((step.time, json!({"type": step.ty, "source": step.source})));
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        } else {
            let query = JourneyQuery {
                from: Some(start),
                to: Some(job.to + Duration::microseconds(1)),
                limit: MAX_PAGE,
                order: Order::Asc,
                ..JourneyQuery::default()
            };
            for_each_page(self.tape.as_ref(), tenant, person, query, |page| {
                for stored in &page {
                    if let (Some(time), Ok(event)) = (
                        time_of_sort_key(&stored.sort_key),
                        serde_json::from_str(&stored.event),
                    ) {
                        events.push((time, event));
                    }
                }
            })
            .await?;
        }
        Ok(Read { events, projection })
    }

    /// The person's profiles now, for the views the rule reads.
    async fn profiles_of(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        rule: &CompiledRule,
    ) -> Result<BTreeMap<String, Value>, StoreError> {
        let mut profiles = BTreeMap::new();
        for view in &rule.views {
            let built = self
                .profiles
                .for_stored_view(&self.views, tenant, person, view, None, false)
                .await;
            match built {
                Ok((_, built)) => {
                    profiles.insert(view.clone(), Value::Object(built.profile.attributes));
                }
                Err(ProfileError::Store(e)) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(profiles)
    }
}
