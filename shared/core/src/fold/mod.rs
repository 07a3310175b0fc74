//! Folding a Tape into a profile, in event time.
//!
//! Each aggregate keeps a small state that is updated by one event at a time. Values
//! carry the event's sort key (event time, then hash), so "latest" means latest in event
//! time, ties are broken deterministically, and a late event changes "latest" only if it
//! really is later. A state can be saved (a snapshot) and folded further later.
//!
//! Events come either parsed ([`FoldEvent`]) or as the stored JSON text
//! ([`StoredFold`]). The text is read in one pass that keeps only the values the view's
//! plan names (borrowed where the JSON has no escapes) and skips the rest, so a fold
//! from the Tape never builds a `serde_json::Value` of a whole event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::view::{AggregateAttribute, Aggregation, CompiledView, ID, SOURCE, TYPE};

mod distinct;
mod explain;
mod extract;
mod finish;
mod leaf;
#[cfg(test)]
mod proptests;
mod scan;
mod tape;
#[cfg(test)]
mod tests;
mod time;
mod update;

pub use explain::{EventRef, Explain, MAX_EXPLAINED_EVENTS};
pub use finish::{finish, Profile};
pub use tape::{TapeFold, TapeRow};
pub use time::{time_of_sort_key, SortKeyTimes};

use distinct::DistinctIndex;
use leaf::Leaf;

/// One event from the Tape, parsed, ready to fold.
pub struct FoldEvent<'a> {
    pub sort_key: &'a str,
    pub time: DateTime<Utc>,
    /// The CloudEvent as JSON.
    pub event: &'a Value,
}

/// One event from the Tape as stored: its CloudEvent as JSON text.
#[derive(Debug, Clone, Copy)]
pub struct StoredFold<'a> {
    pub sort_key: &'a str,
    pub time: DateTime<Utc>,
    pub json: &'a str,
    /// The event's type, where the Tape entry stores it apart (it equals the JSON's
    /// `type`): an event of a type no aggregate takes is counted without its JSON
    /// being read.
    pub ty: Option<&'a str>,
}

/// A value and the sort key of the event it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    pub key: String,
    pub value: Value,
}

/// The running state of one aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", content = "v", rename_all = "snake_case")]
pub enum AggState {
    /// latest, first, first_seen, last_seen
    Pick(Option<Stamped>),
    /// count, exists
    Count(u64),
    /// sum, avg
    Sum { sum: f64, count: u64 },
    /// min, max
    Extreme(Option<f64>),
    /// distinct (one entry per value) and last_n: newest first, at most `limit`
    Recent(Vec<Stamped>),
}

impl AggState {
    fn new(aggregation: Aggregation) -> Self {
        match aggregation {
            Aggregation::Latest
            | Aggregation::First
            | Aggregation::FirstSeen
            | Aggregation::LastSeen => AggState::Pick(None),
            Aggregation::Count | Aggregation::Exists => AggState::Count(0),
            Aggregation::Sum | Aggregation::Avg => AggState::Sum { sum: 0.0, count: 0 },
            Aggregation::Min | Aggregation::Max => AggState::Extreme(None),
            Aggregation::Distinct(_) | Aggregation::LastN(_) => AggState::Recent(Vec::new()),
        }
    }
}

/// The state of every aggregate of a view, in view order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileState {
    pub states: Vec<AggState>,
    /// Events folded into this state.
    pub folded: u64,
}

/// Which aggregates a fold updates.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// Aggregates over the whole Tape: the part that snapshots keep.
    Unwindowed,
    /// Aggregates with a lookback window, relative to `now`.
    Windowed { now: DateTime<Utc> },
}

impl Part {
    fn covers(self, attribute: &AggregateAttribute, time: DateTime<Utc>) -> bool {
        match (self, attribute.window) {
            (Part::Unwindowed, None) => true,
            (Part::Windowed { now }, Some(window)) => time >= now - window,
            _ => false,
        }
    }

    /// The earliest event time this part can use (`None`: all of them).
    pub fn since(self, view: &CompiledView) -> Option<DateTime<Utc>> {
        match self {
            Part::Unwindowed => None,
            Part::Windowed { now } => view
                .aggregates
                .iter()
                .filter_map(|a| a.window)
                .max()
                .map(|w| now - w),
        }
    }
}

impl ProfileState {
    pub fn new(view: &CompiledView) -> Self {
        Self {
            states: view
                .aggregates
                .iter()
                .map(|a| AggState::new(a.aggregation))
                .collect(),
            folded: 0,
        }
    }

    /// Folds one parsed event into the aggregates of `part`. With `explain`, also
    /// records which events each aggregate used.
    pub fn fold(
        &mut self,
        view: &CompiledView,
        part: Part,
        event: &FoldEvent<'_>,
        explain: Option<&mut Explain>,
    ) {
        let slots: Vec<Option<Leaf<'_>>> = view
            .plan
            .pointers
            .iter()
            .map(|pointer| event.event.pointer(pointer).map(Leaf::Ref))
            .collect();
        let event_at = (event.sort_key, event.time);
        self.fold_slots(view, part, event_at, &slots, explain, None);
    }

    /// Folds stored events, in the order given, into the aggregates of `part`, reading
    /// from each only what the view needs. An event whose text is not JSON is skipped
    /// (not counted; unless its type, given apart, is one no aggregate takes, when its
    /// text is not read); returns how many were.
    pub fn fold_stored<'a>(
        &mut self,
        view: &CompiledView,
        part: Part,
        events: impl IntoIterator<Item = StoredFold<'a>>,
        mut explain: Option<&mut Explain>,
    ) -> usize {
        let mut slots: Vec<Option<Leaf<'a>>> = Vec::with_capacity(view.plan.pointers.len());
        let mut skipped = 0;
        let mut index = DistinctIndex::new(view, &self.states);
        for event in events {
            if event
                .ty
                .is_some_and(|ty| view.plan.aggregates_of_type(ty).is_empty())
            {
                self.folded += 1;
                continue;
            }
            if extract::extract(&view.plan, event.json, &mut slots).is_err() {
                skipped += 1;
                continue;
            }
            let (explain, event_at) = (explain.as_deref_mut(), (event.sort_key, event.time));
            self.fold_slots(view, part, event_at, &slots, explain, Some(&mut index));
        }
        skipped
    }

    /// Folds one event (its sort key and time), given as the values of the view's plan.
    /// `index`: the `distinct` states' hashes, kept in step with them.
    fn fold_slots(
        &mut self,
        view: &CompiledView,
        part: Part,
        (sort_key, time): (&str, DateTime<Utc>),
        slots: &[Option<Leaf<'_>>],
        mut explain: Option<&mut Explain>,
        mut index: Option<&mut DistinctIndex>,
    ) {
        self.folded += 1;
        let text = |slot: usize| slots[slot].as_ref().map_or("", Leaf::text);
        let (ty, source) = (text(TYPE), text(SOURCE));
        let plan = &view.plan;
        for &i in plan.aggregates_of_type(ty) {
            let attribute = &view.aggregates[i];
            let filter = &attribute.filter;
            let matches = part.covers(attribute, time)
                && filter.source.as_deref().is_none_or(|s| s == source)
                && filter.condition.as_ref().is_none_or(|(_, op, expected)| {
                    plan.condition[i]
                        .and_then(|slot| slots[slot].as_ref())
                        .is_some_and(|actual| actual.holds(*op, expected))
                });
            if !matches {
                continue;
            }
            let value = match plan.field[i] {
                Some(slot) => match &slots[slot] {
                    Some(value) => value,
                    None => continue,
                },
                None => &Leaf::Null,
            };
            let hashes = index.as_deref_mut().map(|index| index.of(i));
            let state = &mut self.states[i];
            let counted =
                update::update(state, attribute.aggregation, sort_key, time, value, hashes);
            if counted {
                if let Some(explain) = explain.as_deref_mut() {
                    explain.record(i, attribute.aggregation, source, text(ID));
                }
            }
        }
    }
}
