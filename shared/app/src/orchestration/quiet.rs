//! Quiet hours at firing time, and the release of held firings (see
//! `cjaas_core::rules::quiet`).
//!
//! - **Judged once.** A firing is judged on the wall clock when it was claimed
//!   (`fired_at`, kept across retries) in the person's zone. The verdict is written
//!   with the firing's delivery record, in one write: a retried firing reads it back
//!   and never judges again, so it is never both held and published.
//! - **Held** firings are documents `T#{t}#RHELD` / `{release}#{rule}#{hash}`,
//!   with the actions as they were when it fired. The `timers` job publishes the due
//!   ones with the same action ids and `fired_at`, then deletes them.
//! - **Exactly once across runs.** A run claims a held firing with a conditional
//!   write (its `claimed_at`) before publishing; a concurrent run loses the claim and
//!   leaves it. A claim older than [`CLAIM_LEASE_SECONDS`] (a run that died) may be
//!   taken again; the firing's record then says whether it was already published.

use chrono::{DateTime, Duration, Utc};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use cjaas_core::deliveries::{DeliveryStatus, Firing, QuietNote};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{BusEvent, Document, Expect, StoreError};
use cjaas_core::rules::quiet::{
    keys, local_time, zone_name, QuietChoice, QuietHours, QuietVerdict,
};
use cjaas_core::rules::{ActionSpec, StoredRule};

use crate::deliveries::Withheld;
use crate::documents::{decode, encode};
use crate::jobs::BusMessage;
use crate::profiles::ProfileError;

use super::caps::Candidate;
use super::evaluate::{OrchestrationReport, Orchestrator};
use super::{ActionEvent, RuleRef};

/// How long a release run's claim on a held firing stands.
pub const CLAIM_LEASE_SECONDS: i64 = 60;
/// Held firings read at once.
const PAGE: usize = 100;
/// Why a held firing was dropped when its quiet hours ended.
const RULE_INACTIVE: &str = "rule_inactive";

/// A firing held until its quiet hours end.
#[derive(Serialize, Deserialize)]
struct HeldFiring {
    rule: String,
    name: String,
    person: PersonId,
    hash: String,
    fired_at: DateTime<Utc>,
    triggering_event: Value,
    release_at: DateTime<Utc>,
    actions: Vec<ActionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claimed_at: Option<DateTime<Utc>>,
}

impl Orchestrator {
    /// Applies the tenant's quiet hours to a firing about to publish: `true` when
    /// they held or dropped it (recorded in the delivery log); the caller then
    /// publishes nothing.
    pub(super) async fn quiet_hours(
        &self,
        firing: &Candidate<'_>,
        report: &mut OrchestrationReport,
    ) -> Result<bool, StoreError> {
        let stored = &firing.rule.stored;
        let choice = stored.definition.quiet_hours;
        if choice == QuietChoice::Ignore {
            return Ok(false);
        }
        let Some(hours) = &firing.policy.quiet_hours else {
            return Ok(false);
        };
        let recorded = self
            .deliveries
            .firing(firing.tenant, &stored.id, firing.hash, firing.fired_at)
            .await?;
        let (verdict, note) = match recorded {
            // A retry: the verdict was written with the record.
            Some(record) => match verdict_of(&record) {
                Some(verdict) => (verdict, None),
                None => return Ok(false),
            },
            None => self.judge(firing, hours, choice).await?,
        };
        match verdict {
            QuietVerdict::Send => return Ok(false),
            QuietVerdict::Hold { until } => {
                if let Some(note) = note {
                    self.record_quiet(firing, DeliveryStatus::Held, note)
                        .await?;
                }
                self.hold(firing, until).await?;
                report.held += 1;
                tracing::info!(tenant = %firing.tenant, rule = %stored.id, release_at = %until, "quiet hours: firing held");
            }
            QuietVerdict::Drop => {
                if let Some(note) = note {
                    self.record_quiet(firing, DeliveryStatus::Dropped, note)
                        .await?;
                }
                report.dropped += 1;
                tracing::info!(tenant = %firing.tenant, rule = %stored.id, "quiet hours: firing dropped");
            }
        }
        Ok(true)
    }

    /// The verdict at `fired_at` in the person's zone, and the note to record.
    async fn judge(
        &self,
        firing: &Candidate<'_>,
        hours: &QuietHours,
        choice: QuietChoice,
    ) -> Result<(QuietVerdict, Option<QuietNote>), StoreError> {
        let named = self.zone_name(firing.tenant, firing.person, hours).await?;
        let (zone, known) = hours.zone(named.as_deref());
        if let (Some(named), false) = (&named, known) {
            tracing::warn!(tenant = %firing.tenant, rule = %firing.rule.stored.id, zone = %named, default = zone_name(&zone), "unknown time zone in the profile; the policy's default applies");
        }
        let verdict = hours.judge(choice, firing.fired_at, &zone);
        let note = QuietNote {
            time_zone: zone_name(&zone).to_owned(),
            local_time: local_time(firing.fired_at, &zone),
            release_at: match verdict {
                QuietVerdict::Hold { until } => Some(until),
                _ => None,
            },
            reason: (verdict == QuietVerdict::Drop).then(|| "quiet_hours".to_owned()),
        };
        Ok((verdict, Some(note)))
    }

    /// The zone name in the person's profile attribute, if the policy names one.
    async fn zone_name(
        &self,
        tenant: &TenantId,
        person: &PersonId,
        hours: &QuietHours,
    ) -> Result<Option<String>, StoreError> {
        let Some(attribute) = &hours.time_zone else {
            return Ok(None);
        };
        let built = self
            .profiles
            .for_stored_view(&self.views, tenant, person, &attribute.view, None, false)
            .await;
        match built {
            Ok((_, built)) => Ok(built
                .profile
                .attributes
                .get(&attribute.attribute)
                .and_then(Value::as_str)
                .map(str::to_owned)),
            Err(ProfileError::Store(e)) => Err(e),
            Err(e) => {
                tracing::warn!(tenant = %tenant, view = %attribute.view, error = %e, "time zone view unreadable; the policy's default applies");
                Ok(None)
            }
        }
    }

    async fn record_quiet(
        &self,
        firing: &Candidate<'_>,
        status: DeliveryStatus,
        note: QuietNote,
    ) -> Result<(), StoreError> {
        self.deliveries
            .record_withheld(
                firing.tenant,
                &firing.new_firing(),
                Withheld::Quiet(status, note),
            )
            .await
    }

    /// Keeps the held firing until `until` (the same document on a retry).
    async fn hold(&self, firing: &Candidate<'_>, until: DateTime<Utc>) -> Result<(), StoreError> {
        let stored = &firing.rule.stored;
        let held = HeldFiring {
            rule: stored.id.clone(),
            name: stored.definition.name.clone(),
            person: firing.person.clone(),
            hash: firing.hash.to_owned(),
            fired_at: firing.fired_at,
            triggering_event: firing.event.clone(),
            release_at: until,
            actions: stored.definition.actions.clone(),
            claimed_at: None,
        };
        let sk = keys::held_firing(until, &stored.id, firing.hash);
        self.docs
            .put(
                &keys::held(firing.tenant),
                &sk,
                &encode(&held),
                Expect::Absent,
            )
            .await?;
        Ok(())
    }

    /// Publishes the tenant's held firings whose quiet hours ended by `now`.
    pub async fn release_held(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<OrchestrationReport, StoreError> {
        let mut report = OrchestrationReport::default();
        let pk = keys::held(tenant);
        let horizon = cjaas_core::tape::time_key(now);
        let mut after: Option<String> = None;
        loop {
            let page = self.docs.list_page(&pk, after.as_deref(), PAGE).await?;
            let full = page.len() == PAGE;
            for (sk, document) in page {
                if sk.as_str() > horizon.as_str() {
                    return Ok(report);
                }
                after = Some(sk.clone());
                if let Some(held) = self.claim(&pk, &sk, document, now).await? {
                    self.release(tenant, &pk, &sk, held, &mut report).await?;
                }
            }
            if !full {
                return Ok(report);
            }
        }
    }

    /// Claims a due held firing for this run; `None` if another run holds it.
    async fn claim(
        &self,
        pk: &str,
        sk: &str,
        document: Document,
        now: DateTime<Utc>,
    ) -> Result<Option<HeldFiring>, StoreError> {
        let mut held: HeldFiring = decode(&document.body)?;
        if held
            .claimed_at
            .is_some_and(|at| now < at + Duration::seconds(CLAIM_LEASE_SECONDS))
        {
            return Ok(None);
        }
        held.claimed_at = Some(now);
        let expect = Expect::Revision(document.revision);
        let won = self.docs.put(pk, sk, &encode(&held), expect).await?;
        Ok(won.then_some(held))
    }

    /// Publishes a claimed held firing (unless its rule was deleted or deactivated
    /// meanwhile, or a run before this one published it), then deletes it.
    async fn release(
        &self,
        tenant: &TenantId,
        pk: &str,
        sk: &str,
        held: HeldFiring,
        report: &mut OrchestrationReport,
    ) -> Result<(), StoreError> {
        let ids = (held.rule.as_str(), held.hash.as_str());
        let rule = self
            .docs
            .get(&cjaas_core::rules::keys::rules(tenant), &held.rule)
            .await?;
        let active = match rule {
            Some(document) => decode::<StoredRule>(&document.body)?.definition.active,
            None => {
                // Deleted: its log went with it.
                self.docs.delete(pk, sk).await?;
                return Ok(());
            }
        };
        if !active {
            self.deliveries
                .settle_held(
                    tenant,
                    ids,
                    held.fired_at,
                    DeliveryStatus::Dropped,
                    Some(RULE_INACTIVE),
                )
                .await?;
            self.docs.delete(pk, sk).await?;
            report.dropped += 1;
            return Ok(());
        }
        let record = self
            .deliveries
            .firing(tenant, &held.rule, &held.hash, held.fired_at)
            .await?;
        let done_before =
            record.is_some_and(|r| r.actions.iter().all(|a| a.status != DeliveryStatus::Held));
        if !done_before {
            self.bus.publish(&action_events(tenant, &held)).await?;
            if let Err(e) = self
                .deliveries
                .settle_held(tenant, ids, held.fired_at, DeliveryStatus::Published, None)
                .await
            {
                tracing::warn!(tenant = %tenant, rule = %held.rule, error = %e, "released firing not marked published");
            }
            report.released += 1;
            tracing::info!(tenant = %tenant, rule = %held.rule, actions = held.actions.len(), "quiet hours ended: held firing published");
        }
        self.docs.delete(pk, sk).await
    }
}

/// The verdict a recorded firing carries: held (until its release), dropped, or
/// `None` when quiet hours let it through.
fn verdict_of(record: &Firing) -> Option<QuietVerdict> {
    let note = record.quiet_hours.as_ref()?;
    Some(match note.release_at {
        Some(until) => QuietVerdict::Hold { until },
        None => QuietVerdict::Drop,
    })
}

/// The held firing's actions, with the ids and `fired_at` they had when it fired.
fn action_events(tenant: &TenantId, held: &HeldFiring) -> Vec<BusEvent> {
    held.actions
        .iter()
        .enumerate()
        .map(|(i, action)| {
            let detail = ActionEvent {
                action_id: format!("{}.{}.{i}", held.rule, held.hash),
                tenant: tenant.to_string(),
                person: held.person.to_string(),
                rule: RuleRef {
                    id: held.rule.clone(),
                    name: held.name.clone(),
                },
                fired_at: held.fired_at,
                triggering_event: held.triggering_event.clone(),
                action: action.clone(),
            };
            BusEvent::from(&BusMessage::ActionTriggered(detail))
        })
        .collect()
}
