//! Live caps and cooldowns: whether a firing may go ahead, decided atomically per
//! person, with the replay's semantics ([`cjaas_core::rules::replay`]).
//!
//! - **One ledger document per person** (`T#{tenant}#RLEDGER` / `{person}`) holds the
//!   person's cap counters (the rules' caps and the tenant's, per event-time bucket),
//!   each rule's cooldown, and the firings that recently took from it. A firing reads
//!   it, decides, and takes with ONE conditional write (on the revision read); a lost
//!   race reads again, a bounded number of times.
//! - **Order.** A firing in its cooldown is skipped (nothing counted); one that a cap
//!   has no room for is capped (no cooldown started, nothing counted); any other takes
//!   room from every cap and starts the cooldown, in the same write.
//! - **Idempotent.** A retried firing (its fired mark not yet published) that finds
//!   itself among the takers, or holding its rule's cooldown, goes ahead without
//!   taking again.
//! - **Bounded.** Each write drops counters whose bucket ended a day before the event
//!   (or before now, if earlier), cooldowns that are over by then, and keeps the last
//!   [`TAKERS`] takers.
//! - **Migration.** A cooldown kept by the earlier per-rule document
//!   (`T#{tenant}#RCOOL#{rule}`) is read when the ledger has none for the rule, and that
//!   document is deleted once the ledger holds the cooldown.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{Expect, StoreError};
use cjaas_core::rules::caps::Cap;
use cjaas_core::rules::keys;

use crate::deliveries::{NewFiring, Withheld};
use crate::documents::{decode, encode};

use super::evaluate::{ActiveRule, OrchestrationReport, Orchestrator};
use super::CompiledPolicy;

/// Conditional writes tried before the batch is retried: more than the firings of
/// one person that usually meet.
const TRIES: u32 = 40;
/// The recent takers a ledger remembers (for retried firings).
const TAKERS: usize = 64;
/// How late (in event time) an event may come and still meet its counters.
const LATE: Duration = Duration::hours(24);

/// A firing about to be admitted.
pub(super) struct Candidate<'a> {
    pub tenant: &'a TenantId,
    pub person: &'a PersonId,
    pub rule: &'a ActiveRule,
    pub event: &'a Value,
    pub hash: &'a str,
    /// The triggering event's time: caps and cooldowns run in event time.
    pub time: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    /// The tenant's policy, read once for the firing.
    pub policy: &'a CompiledPolicy,
}

impl Candidate<'_> {
    /// The firing as the delivery log records it.
    pub fn new_firing(&self) -> NewFiring<'_> {
        let stored = &self.rule.stored;
        NewFiring {
            rule: &stored.id,
            hash: self.hash,
            person: self.person,
            event: self.event,
            event_time: self.time,
            fired_at: self.fired_at,
            actions: &stored.definition.actions,
        }
    }
}

/// What the ledger said.
#[derive(Debug, PartialEq, Eq)]
enum Admission {
    Go,
    Cooling,
    /// Held back by this cap: `caps/{i}` (the rule's) or `policy/caps/{i}` (the tenant's).
    Capped(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Ledger {
    /// `{cap counter}@{bucket start, unix seconds}`.
    #[serde(default)]
    counters: BTreeMap<String, Counter>,
    /// By rule id.
    #[serde(default)]
    cooldowns: BTreeMap<String, Cooldown>,
    /// Oldest first.
    #[serde(default)]
    takers: Vec<Taker>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Counter {
    ends: DateTime<Utc>,
    used: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Cooldown {
    /// The event time of the rule's last firing for the person.
    at: DateTime<Utc>,
    /// `at` plus the cooldown then: the entry is dropped once it is over.
    ends: DateTime<Utc>,
    /// Its event hash (empty when migrated from the per-rule document).
    #[serde(default)]
    hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Taker {
    /// `{rule}.{event hash}`.
    firing: String,
    time: DateTime<Utc>,
}

/// The per-rule cooldown document of earlier versions.
#[derive(Deserialize)]
struct OldCooldown {
    fired_at: DateTime<Utc>,
}

/// One cap this firing takes from.
struct Take {
    name: String,
    counter: String,
    ends: DateTime<Utc>,
    cost: u32,
    max: u32,
}

impl Take {
    /// `None` when the firing costs the cap nothing.
    fn of(cap: &Cap, rule: &str, time: DateTime<Utc>, actions: &[&str]) -> Option<Take> {
        let cost = cap.cost(actions);
        if cost == 0 {
            return None;
        }
        let index = &cap.key[1..];
        let (name, owner) = if cap.rule {
            (format!("caps/{index}"), rule)
        } else {
            (format!("policy/caps/{index}"), "policy")
        };
        let start = cap.bucket(time);
        let counter = format!(
            "{owner}/caps/{index}/{}s/{}@{}",
            cap.per.num_seconds(),
            cap.channel.as_deref().unwrap_or("*"),
            start.timestamp()
        );
        Some(Take {
            name,
            counter,
            ends: start + cap.per,
            cost,
            max: cap.max,
        })
    }
}

impl Ledger {
    /// The decision for `firing` (`{rule}.{hash}`), and the ledger after taking.
    fn admit(
        &mut self,
        rule: &str,
        hash: &str,
        cooldown: Duration,
        time: DateTime<Utc>,
        takes: &[Take],
    ) -> Admission {
        let last = self.cooldowns.get(rule);
        let cooling = last.is_some_and(|c| {
            !cooldown.is_zero() && time < c.at + cooldown && time >= c.at - cooldown
        });
        if cooling {
            return Admission::Cooling;
        }
        let full = takes.iter().find(|t| {
            let used = self.counters.get(&t.counter).map_or(0, |c| c.used);
            used + t.cost > t.max
        });
        if let Some(full) = full {
            return Admission::Capped(full.name.clone());
        }
        for take in takes {
            let counter = self
                .counters
                .entry(take.counter.clone())
                .or_insert(Counter {
                    ends: take.ends,
                    used: 0,
                });
            counter.used += take.cost;
        }
        if !cooldown.is_zero() {
            self.cooldowns.insert(
                rule.to_owned(),
                Cooldown {
                    at: time,
                    ends: time + cooldown,
                    hash: hash.to_owned(),
                },
            );
        }
        self.takers.push(Taker {
            firing: format!("{rule}.{hash}"),
            time,
        });
        Admission::Go
    }

    /// Whether this firing took already (a retry).
    fn took(&self, rule: &str, hash: &str) -> bool {
        let firing = format!("{rule}.{hash}");
        self.cooldowns.get(rule).is_some_and(|c| c.hash == hash)
            || self.takers.iter().any(|t| t.firing == firing)
    }

    /// Drops what no event at or after `horizon` can meet.
    fn prune(&mut self, horizon: DateTime<Utc>) {
        self.counters.retain(|_, c| c.ends > horizon);
        self.cooldowns.retain(|_, c| c.ends > horizon);
        self.takers.retain(|t| t.time > horizon);
        let excess = self.takers.len().saturating_sub(TAKERS);
        self.takers.drain(..excess);
    }
}

impl Orchestrator {
    /// Whether the firing goes ahead (`true`): not in its cooldown, and room in every
    /// cap, taken atomically. A capped firing is recorded in the delivery log as
    /// `capped`; either way a held one is counted in `report`.
    pub(super) async fn admit(
        &self,
        firing: &Candidate<'_>,
        report: &mut OrchestrationReport,
    ) -> Result<bool, StoreError> {
        match self.take(firing).await? {
            Admission::Go => Ok(true),
            Admission::Cooling => {
                report.skipped_cooldown += 1;
                Ok(false)
            }
            Admission::Capped(cap) => {
                self.record_capped(firing, &cap).await?;
                report.skipped_capped += 1;
                tracing::info!(tenant = %firing.tenant, rule = %firing.rule.stored.id, cap, "firing capped");
                Ok(false)
            }
        }
    }

    async fn take(&self, firing: &Candidate<'_>) -> Result<Admission, StoreError> {
        let rule = firing.rule;
        let id = rule.stored.id.as_str();
        let cooldown = rule.compiled.cooldown;
        let actions: Vec<&str> = rule
            .stored
            .definition
            .actions
            .iter()
            .map(|a| a.channel())
            .collect();
        let takes: Vec<Take> = rule
            .compiled
            .caps
            .iter()
            .chain(&firing.policy.caps)
            .filter_map(|cap| Take::of(cap, id, firing.time, &actions))
            .collect();
        if takes.is_empty() && cooldown.is_zero() {
            return Ok(Admission::Go);
        }
        let pk = keys::ledgers(firing.tenant);
        let sk = firing.person.as_str();
        let old_pk = keys::cooldowns(firing.tenant, id);
        let horizon = firing.time.min(Utc::now()) - LATE;
        for tries in 0..TRIES {
            if tries > 0 {
                let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=3 * tries);
                tokio::time::sleep(std::time::Duration::from_millis(jitter.into())).await;
            }
            let current = self.docs.get(&pk, sk).await?;
            let (mut ledger, expect) = match &current {
                Some(document) => (
                    decode::<Ledger>(&document.body)?,
                    Expect::Revision(document.revision),
                ),
                None => (Ledger::default(), Expect::Absent),
            };
            if ledger.took(id, firing.hash) {
                return Ok(Admission::Go);
            }
            let mut migrated = false;
            if !cooldown.is_zero() && !ledger.cooldowns.contains_key(id) {
                if let Some(old) = self.docs.get(&old_pk, sk).await? {
                    let old: OldCooldown = decode(&old.body)?;
                    if old.fired_at == firing.time {
                        // Claimed before the ledger existed, by this very firing.
                        return Ok(Admission::Go);
                    }
                    let migrated_cooldown = Cooldown {
                        at: old.fired_at,
                        ends: old.fired_at + cooldown,
                        hash: String::new(),
                    };
                    ledger.cooldowns.insert(id.to_owned(), migrated_cooldown);
                    migrated = true;
                }
            }
            let admission = ledger.admit(id, firing.hash, cooldown, firing.time, &takes);
            if admission != Admission::Go {
                return Ok(admission);
            }
            ledger.prune(horizon);
            if self.docs.put(&pk, sk, &encode(&ledger), expect).await? {
                if migrated {
                    if let Err(e) = self.docs.delete(&old_pk, sk).await {
                        tracing::warn!(tenant = %firing.tenant, rule = id, error = %e, "old cooldown not deleted");
                    }
                }
                return Ok(Admission::Go);
            }
        }
        Err(StoreError::Transient(
            "the person's cap ledger is too busy".into(),
        ))
    }

    /// The firing in the delivery log, its actions `capped` by `cap`; the rule's
    /// expired firings pruned (best effort).
    async fn record_capped(&self, firing: &Candidate<'_>, cap: &str) -> Result<(), StoreError> {
        let rule = firing.rule.stored.id.as_str();
        self.deliveries
            .record_withheld(
                firing.tenant,
                &firing.new_firing(),
                Withheld::Capped(cap.to_owned()),
            )
            .await?;
        if let Err(e) = self.deliveries.prune(firing.tenant, rule).await {
            tracing::warn!(tenant = %firing.tenant, rule, error = %e, "delivery log not pruned");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cjaas_core::rules::caps::{compile_caps, CapSpec};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 - 1_795_000_000 % 86_400, 0).unwrap()
            + Duration::minutes(minute)
    }

    fn takes(specs: &[(u32, &str, Option<&str>)], rule: bool, time: DateTime<Utc>) -> Vec<Take> {
        let specs: Vec<CapSpec> = specs
            .iter()
            .map(|(max, per, channel)| CapSpec {
                max: *max,
                per: (*per).into(),
                channel: channel.map(str::to_owned),
            })
            .collect();
        let caps = compile_caps(&specs, "caps", rule, &mut Vec::new());
        caps.iter()
            .filter_map(|cap| Take::of(cap, "rule-a", time, &["publish", "webhook"]))
            .collect()
    }

    #[test]
    fn the_cooldown_comes_first_and_a_capped_firing_takes_nothing() {
        let mut ledger = Ledger::default();
        let cooldown = Duration::minutes(10);
        let caps = |t| takes(&[(2, "1h", None)], true, t);
        assert_eq!(
            ledger.admit("rule-a", "h1", cooldown, at(0), &caps(at(0))),
            Admission::Go
        );
        assert_eq!(
            ledger.admit("rule-a", "h2", cooldown, at(5), &caps(at(5))),
            Admission::Cooling
        );
        assert_eq!(
            ledger.admit("rule-a", "h3", cooldown, at(20), &caps(at(20))),
            Admission::Go
        );
        assert_eq!(
            ledger.admit("rule-a", "h4", cooldown, at(40), &caps(at(40))),
            Admission::Capped("caps/0".into())
        );
        // Capped: no cooldown started, so the next hour's firing at 65 goes ahead.
        assert_eq!(
            ledger.admit("rule-a", "h5", cooldown, at(65), &caps(at(65))),
            Admission::Go
        );
        assert!(ledger.took("rule-a", "h1") && ledger.took("rule-a", "h5"));
        assert!(!ledger.took("rule-a", "h4"));
    }

    #[test]
    fn a_channel_cap_counts_its_actions_only_and_the_ledger_stays_bounded() {
        let webhooks = takes(
            &[
                (1, "1d", Some("webhook")),
                (9, "1d", Some("recommendation")),
            ],
            false,
            at(0),
        );
        assert_eq!(
            webhooks.len(),
            1,
            "a cap that counts none of the actions is left out"
        );
        assert_eq!(
            (webhooks[0].name.as_str(), webhooks[0].cost),
            ("policy/caps/0", 1)
        );
        let mut ledger = Ledger::default();
        for i in 0..100 {
            let time = at(i * 60);
            let takes = takes(&[(1, "1h", None)], true, time);
            assert_eq!(
                ledger.admit("rule-a", &format!("h{i}"), Duration::zero(), time, &takes),
                Admission::Go
            );
            ledger.prune(time - LATE);
        }
        assert_eq!(ledger.takers.len(), 24, "a day of takers");
        assert_eq!(
            ledger.counters.len(),
            25,
            "the last day's buckets and the current one"
        );
        for i in 0..100 {
            let takes = takes(&[(1000, "1d", None)], true, at(0));
            ledger.admit("rule-a", &format!("x{i}"), Duration::zero(), at(0), &takes);
            ledger.prune(at(0) - LATE);
        }
        assert_eq!(ledger.takers.len(), TAKERS);
    }
}
