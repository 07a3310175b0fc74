//! Orchestration: tenants' rules evaluated on every event once it is on the Tape, and
//! on absence timers; a match publishes one action event per action on the CJaaS bus.
//!
//! - **Exactly one firing per (rule, event).** A `fired` mark is claimed with a
//!   conditional write before anything is published, so a replayed or redelivered
//!   event never fires again. A mark whose publishing failed is published again on
//!   the retry, with the same action ids (at least once on the bus, deduplicable).
//! - **Cooldown per person under concurrency.** Firing claims the person's cooldown
//!   document with a conditional write; of two concurrent firings only one wins.
//! - **No loops.** Events CJaaS itself appends (source `cjaas://…`, e.g.
//!   recommendations) are not evaluated.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cjaas_core::analytics::FieldProblem;
use cjaas_core::fold::time_of_sort_key;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{
    BusEvent, DocumentStore, EventBus, Expect, Limit, LimitedOutcome, LimitedWrite, StoreError,
    TapeStore,
};
use cjaas_core::rules::{
    keys, new_rule_id, ActionSpec, CompiledRule, Facts, RuleDefinition, Seen, StoredRule, Verdict,
    RULE_ID_PREFIX,
};
use cjaas_core::tape::{JourneyQuery, Order, TapeEntry, MAX_PAGE};
use cjaas_core::target::TargetPolicy;

use crate::deliveries::DeliveryLog;
use crate::documents::{decode, encode};
use crate::jobs::BusMessage;
use crate::profiles::{ProfileError, Profiles, ViewKey, Views};

/// Sources of events CJaaS appends itself; rules never see them.
pub const OWN_SOURCE_PREFIX: &str = "cjaas://";
pub const MAX_RULES: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("the rule is invalid; nothing was stored")]
    Invalid(Vec<FieldProblem>),
    #[error("no rule {0}")]
    NotFound(String),
    #[error("a tenant has at most {MAX_RULES} rules")]
    TooMany,
    #[error("a concurrent change won; read the current state and try again")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RuleError {
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::Invalid(_) => "invalid_rule",
            RuleError::NotFound(_) => "rule_not_found",
            RuleError::TooMany => "too_many_rules",
            RuleError::Conflict => "conflict",
            RuleError::Store(_) => "store_unavailable",
        }
    }
}

/// What the bus carries for one action of one firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionEvent {
    /// Stable across retries: `{rule}.{event hash}.{action index}`.
    pub action_id: String,
    pub tenant: String,
    pub person: String,
    pub rule: RuleRef,
    pub fired_at: DateTime<Utc>,
    /// The CloudEvent that triggered the rule (for absence: the `after` event).
    pub triggering_event: Value,
    pub action: ActionSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRef {
    pub id: String,
    pub name: String,
}

// ------------------------------------------------------------------ CRUD

pub struct Rules {
    docs: Arc<dyn DocumentStore>,
    views: Views,
    targets: TargetPolicy,
}

/// The tenant's rules, counted against [`MAX_RULES`].
fn rules_limit(tenant: &TenantId) -> Limit {
    Limit {
        pk: keys::rules(tenant),
        prefix: RULE_ID_PREFIX,
        max: MAX_RULES,
    }
}

impl Rules {
    /// Rules whose webhook and enrichment URLs must be public targets.
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self::with_targets(docs, TargetPolicy::public_only())
    }

    /// Rules whose URLs `targets` allows (see `cjaas_core::target`).
    pub fn with_targets(docs: Arc<dyn DocumentStore>, targets: TargetPolicy) -> Self {
        let views = Views::new(docs.clone());
        Self {
            docs,
            views,
            targets,
        }
    }

    /// Compiles the rule, checks its action URLs against the target policy and that
    /// the views it reads exist.
    async fn validate(
        &self,
        tenant: &TenantId,
        definition: &RuleDefinition,
    ) -> Result<(), RuleError> {
        let targets = definition.target_problems(&self.targets);
        let compiled = definition.compile().map_err(|mut problems| {
            problems.extend(targets.iter().cloned());
            RuleError::Invalid(problems)
        })?;
        if !targets.is_empty() {
            return Err(RuleError::Invalid(targets));
        }
        let mut problems = Vec::new();
        for view in &compiled.views {
            match self.views.get(tenant, view, None).await {
                Ok(_) => {}
                Err(ProfileError::Store(e)) => return Err(e.into()),
                Err(_) => problems.push(FieldProblem {
                    field: "when".into(),
                    code: "unknown_view",
                    detail: format!("no view {view} in this tenant"),
                }),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RuleError::Invalid(problems))
        }
    }

    pub async fn create(
        &self,
        tenant: &TenantId,
        definition: RuleDefinition,
    ) -> Result<StoredRule, RuleError> {
        self.validate(tenant, &definition).await?;
        let now = Utc::now();
        let rule = StoredRule {
            id: new_rule_id(),
            definition,
            created_at: now,
            updated_at: now,
        };
        let body = encode(&rule);
        let create = LimitedWrite::Create {
            sk: &rule.id,
            body: &body,
        };
        match self
            .docs
            .write_limited(&rules_limit(tenant), create)
            .await?
        {
            LimitedOutcome::Done => Ok(rule),
            LimitedOutcome::LimitReached => Err(RuleError::TooMany),
            LimitedOutcome::Unchanged => Err(RuleError::Conflict),
        }
    }

    async fn stored(&self, tenant: &TenantId, id: &str) -> Result<(StoredRule, u64), RuleError> {
        if !cjaas_core::profile::valid_view_id(id) {
            return Err(RuleError::NotFound(id.to_owned()));
        }
        let document = self
            .docs
            .get(&keys::rules(tenant), id)
            .await?
            .ok_or_else(|| RuleError::NotFound(id.to_owned()))?;
        Ok((decode(&document.body)?, document.revision))
    }

    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<StoredRule, RuleError> {
        Ok(self.stored(tenant, id).await?.0)
    }

    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<StoredRule>, RuleError> {
        let mut rules = Vec::new();
        for (sk, document) in self.docs.list(&keys::rules(tenant)).await? {
            if sk != keys::WEBHOOK_SECRET {
                rules.push(decode(&document.body)?);
            }
        }
        Ok(rules)
    }

    pub async fn update(
        &self,
        tenant: &TenantId,
        id: &str,
        definition: RuleDefinition,
    ) -> Result<StoredRule, RuleError> {
        self.validate(tenant, &definition).await?;
        let (mut rule, revision) = self.stored(tenant, id).await?;
        rule.definition = definition;
        rule.updated_at = Utc::now();
        if !self
            .docs
            .put(
                &keys::rules(tenant),
                id,
                &encode(&rule),
                Expect::Revision(revision),
            )
            .await?
        {
            return Err(RuleError::Conflict);
        }
        Ok(rule)
    }

    pub async fn delete(&self, tenant: &TenantId, id: &str) -> Result<(), RuleError> {
        self.stored(tenant, id).await?;
        // The log first: if that fails, the rule is still there to delete again.
        DeliveryLog::new(self.docs.clone())
            .forget_rule(tenant, id)
            .await?;
        let delete = LimitedWrite::Delete { sk: id };
        match self
            .docs
            .write_limited(&rules_limit(tenant), delete)
            .await?
        {
            LimitedOutcome::Unchanged => Err(RuleError::NotFound(id.to_owned())),
            _ => Ok(()),
        }
    }

    /// The tenant's secret for signing webhooks and enrichment calls, made on first use.
    pub async fn webhook_secret(&self, tenant: &TenantId) -> Result<String, StoreError> {
        webhook_secret(self.docs.as_ref(), tenant).await
    }
}

#[derive(Serialize, Deserialize)]
struct Secret {
    secret: String,
}

/// The tenant's webhook signing secret; the first caller makes it, concurrent callers
/// agree on one.
pub async fn webhook_secret(
    docs: &dyn DocumentStore,
    tenant: &TenantId,
) -> Result<String, StoreError> {
    let pk = keys::rules(tenant);
    if let Some(document) = docs.get(&pk, keys::WEBHOOK_SECRET).await? {
        return Ok(decode::<Secret>(&document.body)?.secret);
    }
    use rand::Rng;
    let bytes: [u8; 32] = rand::thread_rng().gen();
    let secret = Secret {
        secret: format!("whsec_{}", hex::encode(bytes)),
    };
    docs.put(&pk, keys::WEBHOOK_SECRET, &encode(&secret), Expect::Absent)
        .await?;
    let document = docs
        .get(&pk, keys::WEBHOOK_SECRET)
        .await?
        .ok_or_else(|| StoreError::Transient("webhook secret vanished".into()))?;
    Ok(decode::<Secret>(&document.body)?.secret)
}

// ------------------------------------------------------------------ evaluation

/// A tenant's active rules, compiled once per batch.
struct ActiveRule {
    stored: StoredRule,
    compiled: CompiledRule,
}

/// What a batch (or a timer sweep) did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OrchestrationReport {
    pub evaluations: u64,
    pub fired: u64,
    pub timers_set: u64,
    pub skipped_cooldown: u64,
    pub skipped_replay: u64,
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
struct Cooldown {
    fired_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct Timer {
    rule: String,
    person: PersonId,
    /// The `after` event: its time and CloudEvent.
    time: DateTime<Utc>,
    event: Value,
}

pub struct Orchestrator {
    tape: Arc<dyn TapeStore>,
    docs: Arc<dyn DocumentStore>,
    bus: Arc<dyn EventBus>,
    views: Views,
    profiles: Profiles,
    deliveries: DeliveryLog,
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

    async fn active_rules(&self, tenant: &TenantId) -> Result<Vec<ActiveRule>, StoreError> {
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
        let mut rules: HashMap<TenantId, Vec<ActiveRule>> = HashMap::new();
        for entry in entries {
            if entry.source.starts_with(OWN_SOURCE_PREFIX) {
                continue;
            }
            if !rules.contains_key(&entry.tenant) {
                rules.insert(
                    entry.tenant.clone(),
                    self.active_rules(&entry.tenant).await?,
                );
            }
            let active = &rules[&entry.tenant];
            if active.is_empty() {
                continue;
            }
            let event: Value = serde_json::from_str(&entry.event)
                .map_err(|e| StoreError::Transient(format!("unreadable stored event: {e}")))?;
            let lookback = active
                .iter()
                .map(|r| r.compiled.lookback)
                .max()
                .unwrap_or_else(Duration::zero);
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
            for rule in active {
                report.evaluations += 1;
                match rule.compiled.on_event(&facts) {
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
    async fn history(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Value)>, StoreError> {
        let mut query = JourneyQuery {
            types: Vec::new(),
            source: None,
            from: Some(from),
            to: Some(to + Duration::microseconds(1)),
            limit: MAX_PAGE,
            order: Order::Asc,
            after: None,
        };
        let mut events = Vec::new();
        loop {
            let page = self.tape.query(tenant, person, &query).await?;
            for stored in &page.events {
                if let (Some(time), Ok(event)) = (
                    time_of_sort_key(&stored.sort_key),
                    serde_json::from_str(&stored.event),
                ) {
                    events.push((time, event));
                }
            }
            match page.next {
                Some(cursor) => query.after = Some(cursor.after),
                None => return Ok(events),
            }
        }
    }

    /// The profiles the rules read, by view id (a missing view reads as no attributes).
    async fn profiles_for<'a>(
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
            let stored = match self.views.get(tenant, view_id, None).await {
                Ok(stored) => stored,
                Err(ProfileError::Store(e)) => return Err(e),
                Err(_) => continue,
            };
            let Ok(view) = stored.definition.compile() else {
                continue;
            };
            let key = ViewKey {
                id: stored.id.clone(),
                version: stored.version,
            };
            let built = match self
                .profiles
                .build(tenant, person, &view, Some(&key), false)
                .await
            {
                Ok(built) => built,
                Err(ProfileError::Store(e)) => return Err(e),
                Err(_) => continue,
            };
            profiles.insert(view_id.clone(), Value::Object(built.profile.attributes));
        }
        Ok(profiles)
    }

    async fn set_timer(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        rule: &str,
        due: DateTime<Utc>,
        entry: &TapeEntry,
        event: &Value,
    ) -> Result<(), StoreError> {
        let timer = Timer {
            rule: rule.to_owned(),
            person: person.clone(),
            time: entry.time,
            event: event.clone(),
        };
        let sk = keys::timer(due, rule, &entry.event_hash());
        self.docs
            .put(
                &keys::timers(tenant),
                &sk,
                &encode(&timer),
                Expect::Anything,
            )
            .await?;
        Ok(())
    }

    /// The timers keyed at or before `horizon`. Keys start with the due time, so pages
    /// are read in due order and the read stops at the first timer not yet due.
    async fn due_timers(
        &self,
        pk: &str,
        horizon: &str,
    ) -> Result<Vec<(String, Timer)>, StoreError> {
        const PAGE: usize = 100;
        let mut due = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.docs.list_page(pk, after.as_deref(), PAGE).await?;
            let full = page.len() == PAGE;
            for (sk, document) in page {
                if sk.as_str() > horizon {
                    return Ok(due);
                }
                after = Some(sk.clone());
                due.push((sk, decode(&document.body)?));
            }
            if !full {
                return Ok(due);
            }
        }
    }

    /// Runs the tenant's absence timers that are due by `now`.
    pub async fn run_due_timers(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<OrchestrationReport, StoreError> {
        let mut report = OrchestrationReport::default();
        let pk = keys::timers(tenant);
        let horizon = cjaas_core::tape::time_key(now);
        let due = self.due_timers(&pk, &horizon).await?;
        if due.is_empty() {
            return Ok(report);
        }
        let rules = self.active_rules(tenant).await?;
        for (sk, timer) in due {
            if let Some(rule) = rules.iter().find(|r| r.stored.id == timer.rule) {
                let until = timer.time
                    + rule
                        .compiled
                        .absence
                        .as_ref()
                        .map_or(Duration::zero(), |a| a.within);
                let from = timer.time - rule.compiled.lookback;
                let history = self.history(tenant, &timer.person, from, until).await?;
                let profiles = self
                    .profiles_for(tenant, &timer.person, std::iter::once(&rule.compiled))
                    .await?;
                let seen: Vec<Seen> = history
                    .iter()
                    .map(|(time, event)| Seen { time: *time, event })
                    .collect();
                let facts = Facts {
                    event: &timer.event,
                    time: timer.time,
                    history: &seen,
                    profiles: &profiles,
                };
                report.evaluations += 1;
                if rule.compiled.on_timer(&facts) {
                    let entry_hash = sk.rsplit('#').next().unwrap_or_default().to_owned();
                    self.fire_for(
                        tenant,
                        &timer.person,
                        rule,
                        &timer.event,
                        &entry_hash,
                        timer.time,
                        &mut report,
                    )
                    .await?;
                }
            }
            self.docs.delete(&pk, &sk).await?;
        }
        Ok(report)
    }

    async fn fire(
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

    /// Claims the firing (replays stop here), then the cooldown (concurrent firings
    /// stop here), then publishes; a failed publish is redone by the retry.
    #[allow(clippy::too_many_arguments)]
    async fn fire_for(
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
        } else if !self.claim_cooldown(tenant, person, rule, time).await? {
            self.docs
                .put(&fired, hash, &encode(&FiredMark::done()), Expect::Anything)
                .await?;
            report.skipped_cooldown += 1;
            return Ok(());
        }
        let actions = &rule.stored.definition.actions;
        self.deliveries
            .record_firing(
                tenant,
                &rule.stored.id,
                hash,
                person,
                event,
                time,
                fired_at,
                actions,
            )
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

    /// `true` if this firing may go ahead: the person's last firing of the rule is a
    /// cooldown ago (or never), and no concurrent firing claimed it first.
    async fn claim_cooldown(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        rule: &ActiveRule,
        time: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if rule.compiled.cooldown.is_zero() {
            return Ok(true);
        }
        let pk = keys::cooldowns(tenant, &rule.stored.id);
        let current = self.docs.get(&pk, person.as_str()).await?;
        let expect = match &current {
            Some(document) => {
                let last: Cooldown = decode(&document.body)?;
                if time < last.fired_at + rule.compiled.cooldown
                    && time >= last.fired_at - rule.compiled.cooldown
                {
                    return Ok(false);
                }
                Expect::Revision(document.revision)
            }
            None => Expect::Absent,
        };
        self.docs
            .put(
                &pk,
                person.as_str(),
                &encode(&Cooldown { fired_at: time }),
                expect,
            )
            .await
    }
}
