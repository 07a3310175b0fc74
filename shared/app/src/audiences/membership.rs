//! Membership kept current: a person (their alias group) is evaluated against the
//! tenant's audiences when an event lands, when a time check is due, when the group
//! changes and during a backfill; each change is appended, published and recorded
//! exactly once (see the module docs of [`super`]).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cjaas_core::audience::{
    change_id, is_audience_event, keys, source, CompiledAudience, Seen, StoredAudience, ENTERED,
    EXITED,
};
use cjaas_core::event::validate_raw;
use cjaas_core::fold::time_of_sort_key;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{BusEvent, DocumentStore, EventBus, Expect, StoreError, TapeStore};
use cjaas_core::tape::{JourneyQuery, Order, TapeEntry, MAX_PAGE};

use crate::documents::{decode, encode};
use crate::ingest::Ingestor;
use crate::jobs::BusMessage;
use crate::profiles::{Aliases, ProfileError, Profiles, Views};
use crate::tape_pages::for_each_page;

use super::reads::adjust_size;

/// Why a membership was evaluated; it is the `reason` of the change's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Event,
    Time,
    Aliases,
    Backfill,
}

/// A person's row in an audience (kept after an exit: its sequence numbers the
/// person's next change).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Member {
    pub(super) member: bool,
    pub(super) seq: u64,
    /// When the current stint (in or out) began.
    pub(super) since: DateTime<Utc>,
    pub(super) version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceRef {
    pub id: String,
    pub name: String,
    pub version: u32,
}

/// What the bus carries for one membership change (`AudienceMembershipChanged`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceChange {
    /// The appended event's id: stable across retries, so consumers can deduplicate.
    pub change_id: String,
    pub tenant: TenantId,
    pub person: PersonId,
    pub audience: AudienceRef,
    /// `entered` or `exited`.
    pub change: String,
    pub at: DateTime<Utc>,
    pub reason: Cause,
    /// Made by a backfill (rules do not fire for it).
    pub backfill: bool,
}

/// What an evaluation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MembershipReport {
    pub evaluations: u64,
    pub entered: u64,
    pub exited: u64,
}

/// An audience ready to evaluate.
pub(crate) struct Active {
    pub(crate) stored: StoredAudience,
    pub(crate) compiled: CompiledAudience,
}

pub struct Membership {
    pub(super) tape: Arc<dyn TapeStore>,
    pub(super) docs: Arc<dyn DocumentStore>,
    bus: Arc<dyn EventBus>,
    ingestor: Arc<Ingestor>,
    pub(super) aliases: Arc<Aliases>,
    views: Views,
    profiles: Profiles,
}

/// A conditional write lost this many times in a row is a transient failure.
const MAX_RACES: usize = 5;

fn profile_error(e: ProfileError) -> StoreError {
    match e {
        ProfileError::Store(e) => e,
        other => StoreError::Transient(other.to_string()),
    }
}

impl Membership {
    pub fn new(
        tape: Arc<dyn TapeStore>,
        docs: Arc<dyn DocumentStore>,
        bus: Arc<dyn EventBus>,
        ingestor: Arc<Ingestor>,
        aliases: Arc<Aliases>,
    ) -> Self {
        Self {
            profiles: Profiles::new(tape.clone(), docs.clone(), aliases.clone()),
            views: Views::new(docs.clone()),
            tape,
            docs,
            bus,
            ingestor,
            aliases,
        }
    }

    /// The tenant's audiences, compiled.
    pub(crate) async fn active(&self, tenant: &TenantId) -> Result<Vec<Active>, StoreError> {
        let mut active = Vec::new();
        for stored in super::definitions::list(self.docs.as_ref(), tenant).await? {
            match stored.definition.compile() {
                Ok(compiled) => active.push(Active { stored, compiled }),
                Err(problems) => {
                    tracing::warn!(tenant = %tenant, audience = %stored.id, ?problems, "stored audience no longer compiles; skipped")
                }
            }
        }
        Ok(active)
    }

    /// Evaluates the persons of entries already on the Tape (their own
    /// `cjaas.audience.*` events aside). `Err` means retry: nothing changes twice.
    pub async fn on_entries(&self, entries: &[TapeEntry]) -> Result<MembershipReport, StoreError> {
        let mut persons: BTreeMap<&TenantId, BTreeSet<&PersonId>> = BTreeMap::new();
        for entry in entries.iter().filter(|e| !is_audience_event(&e.ty)) {
            persons
                .entry(&entry.tenant)
                .or_default()
                .insert(&entry.person);
        }
        let mut report = MembershipReport::default();
        for (tenant, persons) in persons {
            let active = self.active(tenant).await?;
            if active.is_empty() {
                continue;
            }
            for person in persons {
                self.evaluate(tenant, person, Cause::Event, &active, &mut report)
                    .await?;
            }
        }
        Ok(report)
    }

    /// Evaluates `persons` again after their alias groups changed.
    pub async fn on_aliases(
        &self,
        tenant: &TenantId,
        persons: &[PersonId],
    ) -> Result<MembershipReport, StoreError> {
        let active = self.active(tenant).await?;
        let mut report = MembershipReport::default();
        for person in persons {
            self.evaluate(tenant, person, Cause::Aliases, &active, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Evaluates `person`'s group against `audiences` now. A person that is not its
    /// group's root first leaves the audiences it was in on its own.
    pub(crate) async fn evaluate(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        cause: Cause,
        audiences: &[Active],
        report: &mut MembershipReport,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let (root, group) = self
            .aliases
            .group(tenant, person)
            .await
            .map_err(profile_error)?;
        if &root != person {
            let reason = if cause == Cause::Backfill {
                Cause::Backfill
            } else {
                Cause::Aliases
            };
            for audience in audiences {
                self.apply(tenant, audience, person, false, now, reason, report)
                    .await?;
            }
        }
        let lookback = audiences
            .iter()
            .map(|a| a.compiled.lookback)
            .max()
            .unwrap_or_else(Duration::zero);
        let history = self.history(tenant, &group, now - lookback, now).await?;
        let seen: Vec<Seen> = history
            .iter()
            .map(|(time, event)| Seen { time: *time, event })
            .collect();
        let profiles = self.profiles_for(tenant, &root, audiences).await?;
        for audience in audiences {
            report.evaluations += 1;
            let evaluation = audience.compiled.evaluate(now, &seen, &profiles);
            self.apply(
                tenant,
                audience,
                &root,
                evaluation.member,
                now,
                cause,
                report,
            )
            .await?;
            if let Some(due) = evaluation.next_check {
                let sk = keys::timer(due, &audience.stored.id, &root);
                self.docs
                    .put(&keys::timers(tenant), &sk, "{}", Expect::Anything)
                    .await?;
            }
        }
        Ok(())
    }

    /// The group's events in `[from, to]`, in time order, without audience events.
    async fn history(
        &self,
        tenant: &TenantId,
        group: &[PersonId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Value)>, StoreError> {
        let mut events = Vec::new();
        for member in group {
            let query = JourneyQuery {
                types: Vec::new(),
                source: None,
                from: Some(from),
                to: Some(to + Duration::microseconds(1)),
                limit: MAX_PAGE,
                order: Order::Asc,
                after: None,
            };
            for_each_page(self.tape.as_ref(), tenant, member, query, |page| {
                for stored in &page {
                    let event: Option<Value> = serde_json::from_str(&stored.event).ok();
                    if let (Some(time), Some(event)) = (time_of_sort_key(&stored.sort_key), event) {
                        let ty = event
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if !is_audience_event(ty) {
                            events.push((time, event));
                        }
                    }
                }
            })
            .await?;
        }
        events.sort_by_key(|(time, _)| *time);
        Ok(events)
    }

    /// The profiles the audiences read, by view id (a missing view reads as none).
    async fn profiles_for(
        &self,
        tenant: &TenantId,
        root: &PersonId,
        audiences: &[Active],
    ) -> Result<BTreeMap<String, Value>, StoreError> {
        let mut profiles = BTreeMap::new();
        for view in audiences.iter().flat_map(|a| a.compiled.views.iter()) {
            if profiles.contains_key(view) {
                continue;
            }
            match self
                .profiles
                .for_stored_view(&self.views, tenant, root, view, None, false)
                .await
            {
                Ok((_, built)) => {
                    profiles.insert(view.clone(), Value::Object(built.profile.attributes));
                }
                Err(ProfileError::Store(e)) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(profiles)
    }

    /// Makes `person`'s membership `member`: if that is a change, its event goes on
    /// the stream and the bus, then the row is written conditionally (a lost race
    /// reads the row again).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply(
        &self,
        tenant: &TenantId,
        audience: &Active,
        person: &PersonId,
        member: bool,
        at: DateTime<Utc>,
        cause: Cause,
        report: &mut MembershipReport,
    ) -> Result<(), StoreError> {
        let pk = keys::members(tenant, &audience.stored.id);
        for _ in 0..MAX_RACES {
            let current = self.docs.get(&pk, person.as_str()).await?;
            let (row, expect) = match &current {
                Some(document) => (
                    Some(decode::<Member>(&document.body)?),
                    Expect::Revision(document.revision),
                ),
                None => (None, Expect::Absent),
            };
            let was = row.as_ref().is_some_and(|r| r.member);
            if was == member {
                return Ok(());
            }
            let seq = row.as_ref().map_or(0, |r| r.seq) + 1;
            let version = audience.stored.version;
            let id = change_id(&audience.stored.id, version, person, seq);
            let entered_at = row.as_ref().filter(|r| r.member).map(|r| r.since);
            self.announce(tenant, audience, person, &id, member, at, cause, entered_at)
                .await?;
            let next = Member {
                member,
                seq,
                since: at,
                version,
            };
            if self
                .docs
                .put(&pk, person.as_str(), &encode(&next), expect)
                .await?
            {
                let delta = if member { 1 } else { -1 };
                adjust_size(self.docs.as_ref(), tenant, &audience.stored.id, delta, at).await?;
                match member {
                    true => report.entered += 1,
                    false => report.exited += 1,
                }
                tracing::info!(tenant = %tenant, audience = %audience.stored.id, member, ?cause, "audience membership changed");
                return Ok(());
            }
        }
        Err(StoreError::Transient(
            "audience membership kept changing concurrently".into(),
        ))
    }

    /// The change's event on the stream (so on the Tape, the live stream and, unless
    /// a backfill made it, to rules), and its message on the bus.
    #[allow(clippy::too_many_arguments)]
    async fn announce(
        &self,
        tenant: &TenantId,
        audience: &Active,
        person: &PersonId,
        id: &str,
        member: bool,
        at: DateTime<Utc>,
        cause: Cause,
        entered_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let backfill = cause == Cause::Backfill;
        let reference = AudienceRef {
            id: audience.stored.id.clone(),
            name: audience.stored.definition.name.clone(),
            version: audience.stored.version,
        };
        let mut data = json!({"audience": reference, "reason": cause});
        if let Some(entered_at) = entered_at {
            data["entered_at"] = json!(entered_at);
        }
        let ty = if member { ENTERED } else { EXITED };
        let event = json!({
            "specversion": "1.0", "id": id, "type": ty,
            "source": source(&audience.stored.id, backfill),
            "person": person, "time": at, "datacontenttype": "application/json", "data": data,
        });
        let now = Utc::now();
        let valid =
            validate_raw(0, &event.to_string(), now).map_err(|p| StoreError::Rejected(p.detail))?;
        self.ingestor
            .publish(tenant, now, &[valid])
            .await
            .map_err(|e| StoreError::Transient(e.to_string()))?;
        let change = AudienceChange {
            change_id: id.to_owned(),
            tenant: tenant.clone(),
            person: person.clone(),
            audience: reference,
            change: if member { "entered" } else { "exited" }.into(),
            at,
            reason: cause,
            backfill,
        };
        let message = BusMessage::AudienceMembershipChanged(change);
        self.bus.publish(&[BusEvent::from(&message)]).await
    }

    /// Runs the tenant's time checks due by `now`: each evaluates one person in one
    /// audience again, then is removed.
    pub async fn run_due_checks(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<MembershipReport, StoreError> {
        const PAGE: usize = 100;
        let mut report = MembershipReport::default();
        let pk = keys::timers(tenant);
        let horizon = cjaas_core::tape::time_key(now);
        let page = self.docs.list_page(&pk, None, PAGE).await?;
        let due: Vec<String> = page
            .into_iter()
            .map(|(sk, _)| sk)
            .take_while(|sk| sk.as_str() <= horizon.as_str())
            .collect();
        if due.is_empty() {
            return Ok(report);
        }
        let active = self.active(tenant).await?;
        for sk in due {
            let found = keys::timer_parts(&sk).and_then(|(audience, person)| {
                let audience = active.iter().position(|a| a.stored.id == audience)?;
                Some((audience, PersonId::parse(person).ok()?))
            });
            if let Some((index, person)) = found {
                let one = &active[index..=index];
                self.evaluate(tenant, &person, Cause::Time, one, &mut report)
                    .await?;
            }
            self.docs.delete(&pk, &sk).await?;
        }
        Ok(report)
    }
}
