//! Backtesting: one rule replayed over a person's recorded events, in event time, as
//! the live evaluation would have seen them when they were fed in that order, with
//! the rule's cooldown and caps. Pure: it fires nothing and marks nothing.
//!
//! - **An event** is evaluated with the events before it (in the given order) within
//!   the rule's lookback, as the orchestrator reads them after writing it.
//! - **An absence timer** runs once all the events are known, as a sweep after its
//!   due time does: a timer is due when its due time is at or before `to`.
//! - **Cooldown** in event time, both ways, as `claim_cooldown`; a firing it blocks
//!   is skipped, not reported.
//! - **Caps** ([`super::caps`]): a firing that would exceed one is reported as
//!   capped; it neither starts the cooldown nor counts against the caps.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

use super::caps::{CapLedger, Caps};
use super::eval::{CompiledRule, Facts, Seen, Verdict};

/// One firing the replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The index of the triggering event (for absence: the `after` event).
    pub index: usize,
    /// Its event time.
    pub time: DateTime<Utc>,
    /// Held back by a cap.
    pub capped: bool,
}

/// Replays `rule` over one person's `events` (in Tape order: by time). Only
/// triggering events with a time in `[from, to]` fire; earlier ones are history.
/// `actions` are the rule's action types, counted by the tenant's caps.
pub fn replay_person(
    rule: &CompiledRule,
    events: &[Seen<'_>],
    profiles: &BTreeMap<String, Value>,
    window: (DateTime<Utc>, DateTime<Utc>),
    caps: &Caps,
    actions: &[&str],
) -> Vec<Replayed> {
    let (from, to) = window;
    let mut triggers = Vec::new();
    let mut timers = Vec::new();
    for (i, seen) in events.iter().enumerate() {
        if seen.time < from || seen.time > to {
            continue;
        }
        let start = events[..i].partition_point(|s| s.time < seen.time - rule.lookback);
        let facts = Facts {
            event: seen.event,
            time: seen.time,
            history: &events[start..=i],
            profiles,
        };
        match rule.on_event(&facts) {
            Verdict::Nothing => {}
            Verdict::Fire => triggers.push(i),
            Verdict::WaitUntil(due) if due <= to => timers.push((due, i)),
            Verdict::WaitUntil(_) => {}
        }
    }
    // Timers run in due order, each reading every event up to its due time.
    timers.sort_by_key(|(due, _)| *due);
    for (due, i) in timers {
        let seen = &events[i];
        let start = events.partition_point(|s| s.time < seen.time - rule.lookback);
        let end = events.partition_point(|s| s.time <= due);
        let facts = Facts {
            event: seen.event,
            time: seen.time,
            history: &events[start..end.max(i + 1)],
            profiles,
        };
        if rule.on_timer(&facts) {
            triggers.push(i);
        }
    }
    let mut last: Option<DateTime<Utc>> = None;
    let mut ledger = CapLedger::default();
    let mut fired = Vec::new();
    for i in triggers {
        let time = events[i].time;
        let cooling = last.is_some_and(|at| {
            !rule.cooldown.is_zero() && time < at + rule.cooldown && time >= at - rule.cooldown
        });
        if cooling {
            continue;
        }
        let capped = !ledger.take(caps, time, actions);
        if !capped {
            last = Some(time);
        }
        fired.push(Replayed {
            index: i,
            time,
            capped,
        });
    }
    fired
}
