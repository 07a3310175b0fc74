//! Rules evaluated on each event once it is on the Tape; a match fires its actions
//! on the CJaaS bus, once per (rule, event), within the rule's cooldown.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cjaas_core::fold::time_of_sort_key;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{BusEvent, DocumentStore, EventBus, Expect, StoreError, TapeStore};
use cjaas_core::rules::{keys, CompiledRule, Facts, RuleSet, Seen, StoredRule, Verdict};
use cjaas_core::tape::{JourneyQuery, Order, TapeEntry, MAX_PAGE};

use crate::deliveries::DeliveryLog;
use crate::documents::{decode, encode};
use crate::jobs::BusMessage;
use crate::profiles::{ProfileError, Profiles, Views};
use crate::tape_pages::for_each_page;

use super::caps::Candidate;
use super::{ActionEvent, Policies, RuleRef, OWN_SOURCE_PREFIX};

/// A tenant's active rules, compiled once per batch.
pub(super) struct ActiveRule {
    pub(super) stored: StoredRule,
    pub(super) compiled: CompiledRule,
}

/// What a batch (or a timer sweep) did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OrchestrationReport {
    pub evaluations: u64,
    pub fired: u64,
    pub timers_set: u64,
    pub skipped_cooldown: u64,
    pub skipped_replay: u64,
    /// Held back by a cap (recorded as `capped` in the delivery log).
    pub skipped_capped: u64,
    /// Quiet hours: firings held, dropped, and held ones published.
    pub held: u64,
    pub dropped: u64,
    pub released: u64,
}

#[derive(Serialize, Deserialize)]
struct FiredMark {
    published: bool,
    /// When it was claimed: a retried publish keeps the firing's time (and its
    /// delivery-log record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fired_at: Option<DateTime<Utc>>,
}

impl FiredMark {
    fn done() -> Self {
        FiredMark {
            published: true,
            fired_at: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct Timer {
    pub(super) rule: String,
    pub(super) person: PersonId,
    /// The `after` event: its time and CloudEvent.
    pub(super) time: DateTime<Utc>,
    pub(super) event: Value,
}

pub struct Orchestrator {
    pub(super) tape: Arc<dyn TapeStore>,
    pub(super) docs: Arc<dyn DocumentStore>,
    pub(super) bus: Arc<dyn EventBus>,
    pub(super) views: Views,
    pub(super) profiles: Profiles,
    pub(super) deliveries: DeliveryLog,
}

impl Orchestrator {
    /// `views` and `profiles` are the same services the HTTP routes use (see
    /// `crate::wiring`).
    pub fn new(
        tape: Arc<dyn TapeStore>,
        docs: Arc<dyn DocumentStore>,
        bus: Arc<dyn EventBus>,
        views: Views,
        profiles: Profiles,
    ) -> Self {
        Self {
            views,
            profiles,
            deliveries: DeliveryLog::new(docs.clone()),
            tape,
            docs,
            bus,
        }
    }

    pub(super) async fn active_rules(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<ActiveRule>, StoreError> {
        let mut active = Vec::new();
        for (sk, document) in self.docs.list(&keys::rules(tenant)).await? {
            if sk == keys::WEBHOOK_SECRET {
                continue;
            }
            let stored: StoredRule = decode(&document.body)?;
            if !stored.definition.active {
                continue;
            }
            match stored.definition.compile() {
                Ok(compiled) => active.push(ActiveRule { stored, compiled }),
                Err(problems) => {
                    tracing::warn!(tenant = %tenant, rule = %stored.id, ?problems, "stored rule no longer compiles; skipped")
                }
            }
        }
        Ok(active)
    }

    /// Evaluates every active rule of each entry's tenant. The entries must be on the
    /// Tape already. `Err` means retry the batch: nothing fires twice.
    pub async fn on_entries(
        &self,
        entries: &[TapeEntry],
    ) -> Result<OrchestrationReport, StoreError> {
        let mut report = OrchestrationReport::default();
        let mut rules: HashMap<TenantId, (Vec<ActiveRule>, RuleSet)> = HashMap::new();
        for entry in entries {
            // CJaaS's own events are not evaluated, except live audience changes.
            if entry.source.starts_with(OWN_SOURCE_PREFIX)
                && !cjaas_core::audience::fires_rules(&entry.source)
            {
                continue;
            }
            if !rules.contains_key(&entry.tenant) {
                let active = self.active_rules(&entry.tenant).await?;
                let set = RuleSet::new(active.iter().map(|r| &r.compiled));
                rules.insert(entry.tenant.clone(), (active, set));
            }
            let (active, set) = &rules[&entry.tenant];
            if active.is_empty() {
                continue;
            }
            let event: Value = serde_json::from_str(&entry.event)
                .map_err(|e| StoreError::Transient(format!("unreadable stored event: {e}")))?;
            let lookback = set.lookback();
            let history = self
                .history(
                    &entry.tenant,
                    &entry.person,
                    entry.time - lookback,
                    entry.time,
                )
                .await?;
            let profiles = self
                .profiles_for(
                    &entry.tenant,
                    &entry.person,
                    active.iter().map(|r| &r.compiled),
                )
                .await?;
            let seen: Vec<Seen> = history
                .iter()
                .map(|(time, event)| Seen { time: *time, event })
                .collect();
            let facts = Facts {
                event: &event,
                time: entry.time,
                history: &seen,
                profiles: &profiles,
            };
            for (rule, verdict) in active.iter().zip(set.on_event(&facts)) {
                report.evaluations += 1;
                match verdict {
                    Verdict::Nothing => {}
                    Verdict::Fire => {
                        self.fire(
                            &entry.tenant,
                            &entry.person,
                            rule,
                            &event,
                            entry,
                            &mut report,
                        )
                        .await?
                    }
                    Verdict::WaitUntil(due) => {
                        self.set_timer(
                            &entry.tenant,
                            &entry.person,
                            &rule.stored.id,
                            due,
                            entry,
                            &event,
                        )
                        .await?;
                        report.timers_set += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// The person's events in `[from, to]` (time, CloudEvent), in Tape order.
    pub(super) async fn history(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Value)>, StoreError> {
        let query = JourneyQuery {
            types: Vec::new(),
            source: None,
            from: Some(from),
            to: Some(to + Duration::microseconds(1)),
            limit: MAX_PAGE,
            order: Order::Asc,
            after: None,
        };
        let mut events = Vec::new();
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
        Ok(events)
    }

    /// The profiles the rules read, by view id (a missing view reads as no attributes).
    pub(super) async fn profiles_for<'a>(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        rules: impl Iterator<Item = &'a CompiledRule>,
    ) -> Result<BTreeMap<String, Value>, StoreError> {
        let mut profiles = BTreeMap::new();
        for view_id in rules.flat_map(|r| r.views.iter()) {
            if profiles.contains_key(view_id) {
                continue;
            }
            let built = self
                .profiles
                .for_stored_view(&self.views, tenant, person, view_id, None, false)
                .await;
            let built = match built {
                Ok((_, built)) => built,
                Err(ProfileError::Store(e)) => return Err(e),
                Err(_) => continue,
            };
            profiles.insert(view_id.clone(), Value::Object(built.profile.attributes));
        }
        Ok(profiles)
    }

    pub(super) async fn fire(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        rule: &ActiveRule,
        event: &Value,
        entry: &TapeEntry,
        report: &mut OrchestrationReport,
    ) -> Result<(), StoreError> {
        self.fire_for(
            tenant,
            person,
            rule,
            event,
            &entry.event_hash(),
            entry.time,
            report,
        )
        .await
    }

    /// Claims the firing (replays stop here), then takes the cooldown and the caps
    /// (concurrent firings and capped ones stop here, see `caps`), then publishes; a
    /// failed publish is redone by the retry, which does not take again.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fire_for(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        rule: &ActiveRule,
        event: &Value,
        hash: &str,
        time: DateTime<Utc>,
        report: &mut OrchestrationReport,
    ) -> Result<(), StoreError> {
        let fired = keys::fired(tenant, &rule.stored.id);
        let mut fired_at = Utc::now();
        let unpublished = FiredMark {
            published: false,
            fired_at: Some(fired_at),
        };
        if !self
            .docs
            .put(&fired, hash, &encode(&unpublished), Expect::Absent)
            .await?
        {
            let mark: FiredMark = match self.docs.get(&fired, hash).await? {
                Some(document) => decode(&document.body)?,
                None => FiredMark::done(),
            };
            if mark.published {
                report.skipped_replay += 1;
                return Ok(());
            }
            fired_at = mark.fired_at.unwrap_or(fired_at);
        }
        let policy = Policies::new(self.docs.clone()).compiled(tenant).await?;
        let candidate = Candidate {
            tenant,
            person,
            rule,
            event,
            hash,
            time,
            fired_at,
            policy: &policy,
        };
        if !self.admit(&candidate, report).await? {
            self.docs
                .put(&fired, hash, &encode(&FiredMark::done()), Expect::Anything)
                .await?;
            return Ok(());
        }
        if self.quiet_hours(&candidate, report).await? {
            self.docs
                .put(&fired, hash, &encode(&FiredMark::done()), Expect::Anything)
                .await?;
            return Ok(());
        }
        self.deliveries
            .record_firing(tenant, &candidate.new_firing())
            .await?;
        let events: Vec<BusEvent> = rule
            .stored
            .definition
            .actions
            .iter()
            .enumerate()
            .map(|(i, action)| {
                let detail = ActionEvent {
                    action_id: format!("{}.{hash}.{i}", rule.stored.id),
                    tenant: tenant.to_string(),
                    person: person.to_string(),
                    rule: RuleRef {
                        id: rule.stored.id.clone(),
                        name: rule.stored.definition.name.clone(),
                    },
                    fired_at,
                    triggering_event: event.clone(),
                    action: action.clone(),
                };
                BusEvent::from(&BusMessage::ActionTriggered(detail))
            })
            .collect();
        self.bus.publish(&events).await?;
        self.after_publish(tenant, &rule.stored.id, hash, fired_at)
            .await;
        self.docs
            .put(&fired, hash, &encode(&FiredMark::done()), Expect::Anything)
            .await?;
        report.fired += 1;
        tracing::info!(tenant = %tenant, rule = %rule.stored.id, actions = events.len(), "rule fired");
        Ok(())
    }

    /// Marks the firing's actions published in the delivery log and prunes the
    /// rule's expired firings. Best effort: failing here must not publish the actions
    /// again, the runner records each action's outcome anyway, and the next firing
    /// prunes again.
    async fn after_publish(
        &self,
        tenant: &TenantId,
        rule: &str,
        hash: &str,
        fired_at: DateTime<Utc>,
    ) {
        if let Err(e) = self
            .deliveries
            .published(tenant, rule, hash, fired_at)
            .await
        {
            tracing::warn!(tenant = %tenant, rule, error = %e, "firing not marked published");
        }
        if let Err(e) = self.deliveries.prune(tenant, rule).await {
            tracing::warn!(tenant = %tenant, rule, error = %e, "delivery log not pruned");
        }
    }
}
