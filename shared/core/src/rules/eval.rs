//! Compiled rules and their evaluation against an event, the person's recent events
//! and their profiles.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use super::filters::{Filters, Memo};
use crate::view::{holds, CompiledFilter, Op};

/// A compiled condition; filters are ids into the rule's (or rule set's) [`Filters`].
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Event(usize),
    Count {
        of: usize,
        at_least: u32,
        within: Duration,
    },
    Profile {
        view: String,
        attribute: String,
        op: Op,
        value: Value,
    },
    /// Where the absence stood: true when the timer is evaluated.
    Absence,
}

#[derive(Debug, Clone)]
pub struct Absence {
    pub after: CompiledFilter,
    pub missing: CompiledFilter,
    pub within: Duration,
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub(crate) cond: Cond,
    pub(crate) filters: Filters,
    pub absence: Option<Absence>,
    pub cooldown: Duration,
    /// How far back the person's events must be read: the longest count window.
    pub lookback: Duration,
    /// The stored views whose profiles the conditions read.
    pub views: BTreeSet<String>,
    /// The rule's own caps (the tenant's are added when it fires).
    pub caps: Vec<super::caps::Cap>,
    /// Whether some filter reads a field of the event (a `where`).
    pub(crate) reads_fields: bool,
}

/// One of the person's events, as the evaluation sees it.
#[derive(Debug, Clone)]
pub struct Seen<'a> {
    pub time: DateTime<Utc>,
    pub event: &'a Value,
}

/// What a rule is evaluated against.
pub struct Facts<'a> {
    /// The triggering event and its time.
    pub event: &'a Value,
    pub time: DateTime<Utc>,
    /// The person's events up to and including the triggering one, in time order.
    pub history: &'a [Seen<'a>],
    /// view id → the profile's attributes.
    pub profiles: &'a BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Nothing,
    Fire,
    /// An absence rule's `after` event: evaluate again when the timer is due.
    WaitUntil(DateTime<Utc>),
}

impl Cond {
    pub(crate) fn holds(&self, memo: &mut Memo<'_, '_>, facts: &Facts<'_>) -> bool {
        match self {
            Cond::All(items) => items.iter().all(|c| c.holds(memo, facts)),
            Cond::Any(items) => items.iter().any(|c| c.holds(memo, facts)),
            Cond::Not(inner) => !inner.holds(memo, facts),
            Cond::Event(filter) => memo.event_matches(*filter),
            Cond::Count {
                of,
                at_least,
                within,
            } => memo.count(*of, *within) >= *at_least as usize,
            Cond::Profile {
                view,
                attribute,
                op,
                value,
            } => {
                let actual = facts.profiles.get(view).and_then(|p| p.get(attribute));
                holds(actual.filter(|v| !v.is_null()), *op, value)
            }
            Cond::Absence => true,
        }
    }

    /// The same condition with filter ids mapped through `map`.
    pub(crate) fn remap(&self, map: &[usize]) -> Cond {
        match self {
            Cond::All(items) => Cond::All(items.iter().map(|c| c.remap(map)).collect()),
            Cond::Any(items) => Cond::Any(items.iter().map(|c| c.remap(map)).collect()),
            Cond::Not(inner) => Cond::Not(Box::new(inner.remap(map))),
            Cond::Event(filter) => Cond::Event(map[*filter]),
            Cond::Count {
                of,
                at_least,
                within,
            } => Cond::Count {
                of: map[*of],
                at_least: *at_least,
                within: *within,
            },
            other => other.clone(),
        }
    }
}

impl CompiledRule {
    /// On an incoming event.
    pub fn on_event(&self, facts: &Facts<'_>) -> Verdict {
        let mut memo = Memo::new(&self.filters, facts);
        self.verdict(&self.cond, &mut memo, facts)
    }

    /// `cond` is this rule's condition, with ids into `memo`'s filters.
    pub(crate) fn verdict(
        &self,
        cond: &Cond,
        memo: &mut Memo<'_, '_>,
        facts: &Facts<'_>,
    ) -> Verdict {
        match &self.absence {
            Some(absence) if absence.after.matches(facts.event) => {
                Verdict::WaitUntil(facts.time + absence.within)
            }
            Some(_) => Verdict::Nothing,
            None if cond.holds(memo, facts) => Verdict::Fire,
            None => Verdict::Nothing,
        }
    }

    /// When an absence timer is due: `facts` describe the `after` event, and `history`
    /// must reach until the timer's due time.
    pub fn on_timer(&self, facts: &Facts<'_>) -> bool {
        let Some(absence) = &self.absence else {
            return false;
        };
        let until = facts.time + absence.within;
        let missing_came = facts
            .history
            .iter()
            .any(|s| s.time > facts.time && s.time <= until && absence.missing.matches(s.event));
        let mut memo = Memo::new(&self.filters, facts);
        !missing_came && self.cond.holds(&mut memo, facts)
    }

    /// Whether the rule reads nothing but each event's type, source and time (no
    /// `where` on a field, no profile): then the Tape's lean projection is enough to
    /// evaluate it.
    pub fn reads_only_steps(&self) -> bool {
        !self.reads_fields && self.views.is_empty()
    }
}
