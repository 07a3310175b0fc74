//! Additive figures of one window: one person's, or a tenant's sum.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One event type's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeTally {
    pub events: u64,
    pub persons: u64,
    /// Sessions that began with this type.
    pub entries: u64,
    /// Sessions that ended with this type.
    pub exits: u64,
}

/// A funnel's figures: persons reaching each step, and the time from each step to the
/// next (milliseconds → persons), kept whole so that medians stay exact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelTally {
    pub reached: Vec<u64>,
    pub step_ms: Vec<BTreeMap<u64, u64>>,
}

/// Additive figures of one window: one person's, or a tenant's sum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub persons: u64,
    pub sessions: u64,
    pub events: u64,
    pub types: BTreeMap<String, TypeTally>,
    /// from → to → count, between consecutive events of one session.
    pub transitions: BTreeMap<String, BTreeMap<String, u64>>,
    /// A session's first steps (JSON array of types) → sessions.
    pub paths: BTreeMap<String, u64>,
    pub funnels: BTreeMap<String, FunnelTally>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.persons += other.persons;
        self.sessions += other.sessions;
        self.events += other.events;
        for (ty, t) in &other.types {
            let mine = slot(&mut self.types, ty);
            mine.events += t.events;
            mine.persons += t.persons;
            mine.entries += t.entries;
            mine.exits += t.exits;
        }
        for (from, targets) in &other.transitions {
            let mine = slot(&mut self.transitions, from);
            for (to, n) in targets {
                *slot(mine, to) += n;
            }
        }
        for (path, n) in &other.paths {
            *slot(&mut self.paths, path) += n;
        }
        for (id, f) in &other.funnels {
            slot(&mut self.funnels, id).add(f);
        }
    }
}

impl FunnelTally {
    pub fn add(&mut self, other: &FunnelTally) {
        if self.reached.len() < other.reached.len() {
            self.reached.resize(other.reached.len(), 0);
            self.step_ms.resize(other.step_ms.len(), BTreeMap::new());
        }
        for (total, n) in self.reached.iter_mut().zip(&other.reached) {
            *total += n;
        }
        for (total, durations) in self.step_ms.iter_mut().zip(&other.step_ms) {
            for (ms, n) in durations {
                *total.entry(*ms).or_default() += n;
            }
        }
    }
}

/// The value under `key`, inserted as the default if missing: allocates the key only
/// when it is new (sums and folds mostly meet keys they have).
pub(super) fn slot<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("just inserted")
}
