//! The distinct event filters of one rule or of a whole [`super::RuleSet`], and their
//! matches memoized per evaluated event: each distinct filter is tested once against
//! the incoming event, and once against each event of the history within its longest
//! `count` window; each distinct field pointer is resolved once per history event.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::HashMap;

use super::eval::Facts;
use crate::filter::{holds, CompiledFilter, Op};

/// A filter whose field pointer is an index into [`Filters::pointers`].
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    types: Vec<String>,
    source: Option<String>,
    condition: Option<(usize, Op, Value)>,
}

/// Distinct filters (by their compiled form) and pointers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filters {
    filters: Vec<Filter>,
    /// Per filter: its longest `count` window (zero if no count uses it).
    windows: Vec<Duration>,
    pointers: Vec<String>,
    by_key: HashMap<String, usize>,
}

impl Filters {
    /// The id of `filter`, added if it is new.
    pub(crate) fn intern(&mut self, filter: &CompiledFilter) -> usize {
        let key = format!("{filter:?}");
        if let Some(&id) = self.by_key.get(&key) {
            return id;
        }
        let condition = filter.condition.as_ref().map(|(pointer, op, value)| {
            let at = match self.pointers.iter().position(|p| p == pointer) {
                Some(at) => at,
                None => {
                    self.pointers.push(pointer.clone());
                    self.pointers.len() - 1
                }
            };
            (at, *op, value.clone())
        });
        self.filters.push(Filter {
            types: filter.types.clone(),
            source: filter.source.clone(),
            condition,
        });
        self.windows.push(Duration::zero());
        self.by_key.insert(key, self.filters.len() - 1);
        self.filters.len() - 1
    }

    /// Records that a `count` reads filter `id` over `within`.
    pub(crate) fn widen(&mut self, id: usize, within: Duration) {
        self.windows[id] = self.windows[id].max(within);
    }

    /// Adds `other`'s filters; the result maps `other`'s ids to ids here.
    pub(crate) fn merge(&mut self, other: &Filters) -> Vec<usize> {
        let mut map = Vec::with_capacity(other.filters.len());
        for (id, filter) in other.filters.iter().enumerate() {
            let compiled = CompiledFilter {
                types: filter.types.clone(),
                source: filter.source.clone(),
                condition: filter
                    .condition
                    .as_ref()
                    .map(|(p, op, v)| (other.pointers[*p].clone(), *op, v.clone())),
            };
            let mine = self.intern(&compiled);
            self.widen(mine, other.windows[id]);
            map.push(mine);
        }
        map
    }

    pub(crate) fn len(&self) -> usize {
        self.filters.len()
    }
}

fn text<'a>(event: &'a Value, name: &str) -> &'a str {
    event.get(name).and_then(Value::as_str).unwrap_or_default()
}

impl Filter {
    fn test<'a>(
        &self,
        ty: &str,
        source: &str,
        field: impl FnOnce(usize) -> Option<&'a Value>,
    ) -> bool {
        (self.types.is_empty() || self.types.iter().any(|t| t == ty))
            && self.source.as_deref().is_none_or(|s| s == source)
            && self
                .condition
                .as_ref()
                .is_none_or(|(pointer, op, value)| holds(field(*pointer), *op, value))
    }
}

/// The matches of one evaluated event, computed on first use.
pub(crate) struct Memo<'m, 'a> {
    filters: &'m Filters,
    facts: &'m Facts<'a>,
    /// Per filter: 0 not yet tested, 1 no, 2 yes.
    event: Vec<u8>,
    /// Per history event: type and source.
    meta: Option<Vec<(&'a str, &'a str)>>,
    /// Per pointer: the value at it in each history event.
    fields: Vec<Option<Vec<Option<&'a Value>>>>,
    /// Per filter: the times (µs, ascending) of its matches within its window.
    times: Vec<Option<Vec<i64>>>,
}

impl<'m, 'a> Memo<'m, 'a> {
    pub(crate) fn new(filters: &'m Filters, facts: &'m Facts<'a>) -> Self {
        Self {
            filters,
            facts,
            event: vec![0; filters.len()],
            meta: None,
            fields: vec![None; filters.pointers.len()],
            times: vec![None; filters.len()],
        }
    }

    /// Whether the incoming event matches filter `id`.
    pub(crate) fn event_matches(&mut self, id: usize) -> bool {
        if self.event[id] == 0 {
            let (filters, event) = (self.filters, self.facts.event);
            let pointers = &filters.pointers;
            let yes = filters.filters[id].test(text(event, "type"), text(event, "source"), |p| {
                event.pointer(&pointers[p])
            });
            self.event[id] = if yes { 2 } else { 1 };
        }
        self.event[id] == 2
    }

    /// How many history events match filter `id` in `(time − within, time]`.
    pub(crate) fn count(&mut self, id: usize, within: Duration) -> usize {
        let since = micros(self.facts.time - within);
        let times = self.times_of(id);
        times.len() - times.partition_point(|t| *t <= since)
    }

    fn times_of(&mut self, id: usize) -> &[i64] {
        if self.times[id].is_none() {
            let times = self.scan(id);
            self.times[id] = Some(times);
        }
        self.times[id].as_deref().unwrap_or_default()
    }

    fn scan(&mut self, id: usize) -> Vec<i64> {
        let (filters, history) = (self.filters, self.facts.history);
        let (to, since) = (self.facts.time, self.facts.time - filters.windows[id]);
        let filter = &filters.filters[id];
        if let Some((pointer, ..)) = filter.condition {
            self.resolve(pointer);
        }
        let meta = self.meta.get_or_insert_with(|| {
            history
                .iter()
                .map(|s| (text(s.event, "type"), text(s.event, "source")))
                .collect()
        });
        let fields = &self.fields;
        let mut times = Vec::new();
        for (i, seen) in history.iter().enumerate() {
            if seen.time <= since || seen.time > to {
                continue;
            }
            let (ty, source) = meta[i];
            if filter.test(ty, source, |p| fields[p].as_ref().and_then(|f| f[i])) {
                times.push(micros(seen.time));
            }
        }
        if !times.is_sorted() {
            times.sort_unstable();
        }
        times
    }

    fn resolve(&mut self, pointer: usize) {
        if self.fields[pointer].is_none() {
            let path = &self.filters.pointers[pointer];
            let values = self
                .facts
                .history
                .iter()
                .map(|s| s.event.pointer(path))
                .collect();
            self.fields[pointer] = Some(values);
        }
    }
}

fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}
