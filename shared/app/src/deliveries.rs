//! The per-rule delivery log (see [`cjaas_core::deliveries`]): what each firing of a
//! rule did, readable with `GET /v1/rules/{id}/deliveries`.
//!
//! The orchestrator records a firing before it publishes (so the actions runner,
//! which may run at once, finds it) and marks its actions published after; the
//! runner then records each action's attempts, status and latency. Updates are
//! conditional on the document's revision, so concurrent actions of one firing
//! never overwrite each other.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

use cjaas_core::deliveries::{
    encode_cursor, keys, ActionDelivery, Attempt, DeliveryStatus, Firing, PageQuery, QuietNote,
    TriggeringEvent, PRUNE_PER_FIRING, RETENTION_DAYS,
};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, Expect, StoreError};
use cjaas_core::rules::ActionSpec;

use crate::documents::{decode, encode};
use crate::orchestration::{ActionEvent, RuleError};

/// Conditional updates tried before giving up on a busy firing: more than a rule's
/// actions (at most 10), which may all finish at once.
const UPDATE_TRIES: u32 = 20;
/// Documents read at once when erasing or forgetting.
const SCAN_PAGE: usize = 500;

/// One page of a rule's firings, newest first.
#[derive(Debug, Serialize)]
pub struct DeliveryPage {
    pub rule: String,
    pub deliveries: Vec<Firing>,
    pub next_cursor: Option<String>,
}

pub struct DeliveryLog {
    docs: Arc<dyn DocumentStore>,
}

/// The `type` of an action, as rules name it.
pub fn kind_of(action: &ActionSpec) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.get("type")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn text(event: &Value, field: &str) -> String {
    event
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A firing to record: its rule, the event that triggered it, and its actions.
#[derive(Clone, Copy)]
pub struct NewFiring<'a> {
    pub rule: &'a str,
    pub hash: &'a str,
    pub person: &'a PersonId,
    pub event: &'a Value,
    pub event_time: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    pub actions: &'a [ActionSpec],
}

/// Why a firing's actions were not published.
pub enum Withheld {
    /// A cap had no room: every action `capped`, the cap named.
    Capped(String),
    /// Quiet hours held or dropped it: every action `status`, with the note.
    Quiet(DeliveryStatus, QuietNote),
}

/// A firing's record, every action `pending`.
fn new_firing(new: &NewFiring<'_>) -> Firing {
    let NewFiring {
        rule,
        hash,
        person,
        event,
        event_time,
        fired_at,
        actions,
    } = *new;
    Firing {
        id: format!("{rule}.{hash}"),
        rule: rule.to_owned(),
        person: person.to_string(),
        triggering_event: TriggeringEvent {
            id: text(event, "id"),
            ty: text(event, "type"),
            source: text(event, "source"),
            time: event_time,
        },
        fired_at,
        actions: actions
            .iter()
            .enumerate()
            .map(|(index, action)| ActionDelivery {
                index,
                action_id: format!("{rule}.{hash}.{index}"),
                kind: kind_of(action),
                status: DeliveryStatus::Pending,
                attempts: Vec::new(),
                latency_ms: None,
                updated_at: fired_at,
            })
            .collect(),
        cap: None,
        quiet_hours: None,
    }
}

impl DeliveryLog {
    pub fn new(docs: Arc<dyn DocumentStore>) -> Self {
        Self { docs }
    }

    /// A new firing, every action `pending`. A retried firing (same rule, event and
    /// time) keeps the record it already has.
    pub async fn record_firing(
        &self,
        tenant: &TenantId,
        firing: &NewFiring<'_>,
    ) -> Result<(), StoreError> {
        self.create(tenant, &new_firing(firing)).await
    }

    /// A new firing whose actions were `withheld`. Kept like `record_firing`.
    pub async fn record_withheld(
        &self,
        tenant: &TenantId,
        firing: &NewFiring<'_>,
        withheld: Withheld,
    ) -> Result<(), StoreError> {
        let mut record = new_firing(firing);
        let status = match withheld {
            Withheld::Capped(cap) => {
                record.cap = Some(cap);
                DeliveryStatus::Capped
            }
            Withheld::Quiet(status, note) => {
                record.quiet_hours = Some(note);
                status
            }
        };
        for action in &mut record.actions {
            action.status = status;
        }
        self.create(tenant, &record).await
    }

    async fn create(&self, tenant: &TenantId, firing: &Firing) -> Result<(), StoreError> {
        let sk = keys::firing(&firing.rule, firing.fired_at, firing.id_hash());
        self.docs
            .put(
                &keys::deliveries(tenant),
                &sk,
                &encode(firing),
                Expect::Absent,
            )
            .await?;
        Ok(())
    }

    /// The firing's record, if it is kept.
    pub async fn firing(
        &self,
        tenant: &TenantId,
        rule: &str,
        hash: &str,
        fired_at: DateTime<Utc>,
    ) -> Result<Option<Firing>, StoreError> {
        let sk = keys::firing(rule, fired_at, hash);
        match self.docs.get(&keys::deliveries(tenant), &sk).await? {
            Some(document) => Ok(Some(decode(&document.body)?)),
            None => Ok(None),
        }
    }

    /// A held firing's quiet hours ended: its `held` actions become `to` (`published`,
    /// or `dropped` with `reason`).
    pub async fn settle_held(
        &self,
        tenant: &TenantId,
        (rule, hash): (&str, &str),
        fired_at: DateTime<Utc>,
        to: DeliveryStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let sk = keys::firing(rule, fired_at, hash);
        let now = Utc::now();
        self.update(tenant, &sk, |firing| {
            let mut changed = false;
            for action in &mut firing.actions {
                if action.status == DeliveryStatus::Held {
                    action.status = to;
                    action.updated_at = now;
                    changed = true;
                }
            }
            if let (true, Some(note), Some(reason)) = (changed, &mut firing.quiet_hours, reason) {
                note.reason = Some(reason.to_owned());
            }
            changed
        })
        .await
    }

    /// The firing's actions are on the bus: `pending` ones become `published`.
    pub async fn published(
        &self,
        tenant: &TenantId,
        rule: &str,
        hash: &str,
        fired_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sk = keys::firing(rule, fired_at, hash);
        self.update(tenant, &sk, |firing| {
            let mut changed = false;
            for action in &mut firing.actions {
                if action.status == DeliveryStatus::Pending {
                    action.status = DeliveryStatus::Published;
                    changed = true;
                }
            }
            changed
        })
        .await
    }

    /// What one run of an action did: its attempts (numbered on from earlier runs',
    /// e.g. before a redrive), status and latency.
    pub async fn record_action(
        &self,
        action: &ActionEvent,
        status: DeliveryStatus,
        attempts: Vec<Attempt>,
        latency_ms: u64,
    ) -> Result<(), StoreError> {
        let tenant =
            TenantId::parse(&action.tenant).map_err(|e| StoreError::Rejected(e.to_string()))?;
        let Some((rule, hash, index)) = keys::parse_action_id(&action.action_id) else {
            return Err(StoreError::Rejected(format!(
                "unexpected action id {}",
                action.action_id
            )));
        };
        let sk = keys::firing(rule, action.fired_at, hash);
        let now = Utc::now();
        self.update(&tenant, &sk, |firing| {
            let Some(delivery) = firing.actions.get_mut(index) else {
                return false;
            };
            let before = delivery.attempts.len() as u32;
            delivery
                .attempts
                .extend(attempts.iter().cloned().map(|mut a| {
                    a.attempt += before;
                    a
                }));
            delivery.status = status;
            delivery.latency_ms = Some(latency_ms);
            delivery.updated_at = now;
            true
        })
        .await
    }

    /// Applies `change` to the stored firing, conditionally on its revision; a firing
    /// that is gone (expired, erased) is left gone.
    async fn update(
        &self,
        tenant: &TenantId,
        sk: &str,
        change: impl Fn(&mut Firing) -> bool,
    ) -> Result<(), StoreError> {
        let pk = keys::deliveries(tenant);
        for tries in 0..UPDATE_TRIES {
            if tries > 0 {
                let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=5 * tries);
                tokio::time::sleep(std::time::Duration::from_millis(jitter.into())).await;
            }
            let Some(document) = self.docs.get(&pk, sk).await? else {
                tracing::debug!(tenant = %tenant, sk, "no firing to update");
                return Ok(());
            };
            let mut firing: Firing = decode(&document.body)?;
            if !change(&mut firing) {
                return Ok(());
            }
            let expect = Expect::Revision(document.revision);
            if self.docs.put(&pk, sk, &encode(&firing), expect).await? {
                return Ok(());
            }
        }
        Err(StoreError::Transient(
            "the firing's record is too busy".into(),
        ))
    }

    /// One page of the rule's firings, newest first, leaving out expired ones.
    pub async fn page(
        &self,
        tenant: &TenantId,
        rule: &str,
        query: &PageQuery,
    ) -> Result<DeliveryPage, RuleError> {
        if !cjaas_core::resource_id::valid(rule)
            || self
                .docs
                .get(&cjaas_core::rules::keys::rules(tenant), rule)
                .await?
                .is_none()
        {
            return Err(RuleError::NotFound(rule.to_owned()));
        }
        let prefix = keys::rule_start(rule);
        let after = match &query.after {
            Some(position) => format!("{prefix}{position}"),
            None => prefix.clone(),
        };
        let now = Utc::now();
        let rows = self
            .docs
            .list_page(&keys::deliveries(tenant), Some(&after), query.limit + 1)
            .await?;
        let mut deliveries = Vec::new();
        let mut next_cursor = None;
        let mut last_position = None;
        for (sk, document) in rows {
            let Some(position) = sk.strip_prefix(&prefix) else {
                break; // the next rule's
            };
            let firing: Firing = decode(&document.body)?;
            if firing.expired(now) {
                break; // older ones follow
            }
            if deliveries.len() == query.limit {
                next_cursor = last_position.as_deref().map(encode_cursor);
                break;
            }
            last_position = Some(position.to_owned());
            deliveries.push(firing);
        }
        Ok(DeliveryPage {
            rule: rule.to_owned(),
            deliveries,
            next_cursor,
        })
    }

    /// Deletes up to [`PRUNE_PER_FIRING`] of the rule's firings past the retention.
    pub async fn prune(&self, tenant: &TenantId, rule: &str) -> Result<u64, StoreError> {
        let pk = keys::deliveries(tenant);
        let cutoff = Utc::now() - chrono::Duration::days(RETENTION_DAYS);
        let after = keys::older_than(rule, cutoff);
        let prefix = keys::rule_start(rule);
        let rows = self
            .docs
            .list_page(&pk, Some(&after), PRUNE_PER_FIRING)
            .await?;
        let mut pruned = 0;
        for (sk, _) in rows.iter().take_while(|(sk, _)| sk.starts_with(&prefix)) {
            self.docs.delete(&pk, sk).await?;
            pruned += 1;
        }
        Ok(pruned)
    }

    /// Deletes every firing whose person is one of `ids` (erasure).
    pub async fn erase(
        &self,
        tenant: &TenantId,
        ids: &BTreeSet<PersonId>,
    ) -> Result<u64, StoreError> {
        let names: BTreeSet<&str> = ids.iter().map(PersonId::as_str).collect();
        self.delete_where(tenant, None, |firing| {
            names.contains(firing.person.as_str())
        })
        .await
    }

    /// Deletes the rule's whole log (the rule was deleted).
    pub async fn forget_rule(&self, tenant: &TenantId, rule: &str) -> Result<u64, StoreError> {
        self.delete_where(tenant, Some(rule), |_| true).await
    }

    async fn delete_where(
        &self,
        tenant: &TenantId,
        rule: Option<&str>,
        doomed: impl Fn(&Firing) -> bool,
    ) -> Result<u64, StoreError> {
        let pk = keys::deliveries(tenant);
        let prefix = rule.map(keys::rule_start);
        let mut after = prefix.clone();
        let mut deleted = 0;
        loop {
            let rows = self
                .docs
                .list_page(&pk, after.as_deref(), SCAN_PAGE)
                .await?;
            let full = rows.len() == SCAN_PAGE;
            for (sk, document) in &rows {
                if prefix.as_ref().is_some_and(|p| !sk.starts_with(p)) {
                    return Ok(deleted);
                }
                if doomed(&decode(&document.body)?) {
                    self.docs.delete(&pk, sk).await?;
                    deleted += 1;
                }
            }
            match rows.last() {
                Some((sk, _)) if full => after = Some(sk.clone()),
                _ => return Ok(deleted),
            }
        }
    }
}
