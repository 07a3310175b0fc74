//! Absence timers: set when an `after` event matches, run when due.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{Expect, StoreError};
use cjaas_core::rules::{keys, Facts, Seen};
use cjaas_core::tape::TapeEntry;

use crate::documents::{decode, encode};

use super::evaluate::{OrchestrationReport, Orchestrator, Timer};

impl Orchestrator {
    pub(super) async fn set_timer(
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
    pub(super) async fn due_timers(
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
}
