//! A person's digest, and the compact form it is stored in.
//!
//! Stored (format 2), every type and path is named once and referred to by its index:
//! `{"v":2,"basis":…,"valid_until":…,"names":[…],"windows":[[name, persons, sessions,
//! events, [[type, events, persons, entries, exits]…], [[from, to, count]…],
//! [[path, sessions]…], {funnel id: funnel tally}]…]}`. That is about a third of the
//! plain form's size (format 1, which spelled every key out). A digest of format 1
//! does not decode: the job then recomputes it from the Tape, as for any stale digest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};

use super::{FunnelTally, Tally, TypeTally};

/// A person's tally per window, and until when it holds: the time at which one of
/// their events leaves (or enters) a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonDigest {
    pub basis: String,
    pub valid_until: Option<DateTime<Utc>>,
    pub windows: BTreeMap<String, Tally>,
}

const FORMAT: u8 = 2;

type TypeRow = (u32, u64, u64, u64, u64);
type WindowRow<S, F> = (
    S,
    u64,
    u64,
    u64,
    Vec<TypeRow>,
    Vec<(u32, u32, u64)>,
    Vec<(u32, u64)>,
    F,
);

#[derive(Serialize)]
struct StoredRef<'a> {
    v: u8,
    basis: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<DateTime<Utc>>,
    names: Vec<&'a str>,
    windows: Vec<WindowRow<&'a str, &'a BTreeMap<String, FunnelTally>>>,
}

#[derive(Deserialize)]
struct Stored {
    v: u8,
    basis: String,
    #[serde(default)]
    valid_until: Option<DateTime<Utc>>,
    names: Vec<String>,
    windows: Vec<WindowRow<String, BTreeMap<String, FunnelTally>>>,
}

/// Gives each distinct name an index, in order of first use.
#[derive(Default)]
struct Names<'a> {
    list: Vec<&'a str>,
    index: HashMap<&'a str, u32>,
}

impl<'a> Names<'a> {
    fn id(&mut self, name: &'a str) -> u32 {
        *self.index.entry(name).or_insert_with(|| {
            self.list.push(name);
            self.list.len() as u32 - 1
        })
    }
}

impl Serialize for PersonDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut names = Names::default();
        let mut windows = Vec::with_capacity(self.windows.len());
        for (name, tally) in &self.windows {
            let types = (tally.types.iter())
                .map(|(ty, t)| (names.id(ty), t.events, t.persons, t.entries, t.exits))
                .collect();
            let mut transitions = Vec::new();
            for (from, targets) in &tally.transitions {
                let from = names.id(from);
                for (to, n) in targets {
                    transitions.push((from, names.id(to), *n));
                }
            }
            let paths = (tally.paths.iter())
                .map(|(path, n)| (names.id(path), *n))
                .collect();
            windows.push((
                name.as_str(),
                tally.persons,
                tally.sessions,
                tally.events,
                types,
                transitions,
                paths,
                &tally.funnels,
            ));
        }
        StoredRef {
            v: FORMAT,
            basis: &self.basis,
            valid_until: self.valid_until,
            names: names.list,
            windows,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PersonDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let stored = Stored::deserialize(deserializer)?;
        if stored.v != FORMAT {
            return Err(D::Error::custom(format!("digest format {}", stored.v)));
        }
        let names = &stored.names;
        let name = |i: u32| {
            (names.get(i as usize).cloned())
                .ok_or_else(|| D::Error::custom(format!("no name {i} in the digest")))
        };
        let mut windows = BTreeMap::new();
        for (window, persons, sessions, events, types, transitions, paths, funnels) in
            stored.windows
        {
            let mut tally = Tally {
                persons,
                sessions,
                events,
                funnels,
                ..Tally::default()
            };
            for (ty, events, persons, entries, exits) in types {
                let t = TypeTally {
                    events,
                    persons,
                    entries,
                    exits,
                };
                tally.types.insert(name(ty)?, t);
            }
            for (from, to, n) in transitions {
                let targets = tally.transitions.entry(name(from)?).or_default();
                targets.insert(name(to)?, n);
            }
            for (path, n) in paths {
                tally.paths.insert(name(path)?, n);
            }
            windows.insert(window, tally);
        }
        Ok(PersonDigest {
            basis: stored.basis,
            valid_until: stored.valid_until,
            windows,
        })
    }
}
