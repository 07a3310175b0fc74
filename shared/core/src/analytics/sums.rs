//! A tenant's sums over one run, by id: every type and path named once per run, so
//! adding a person's digest is integer work. Names come back once, in [`Sums::tally`].

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::digest::{Decoded, DecodedWindow};
use super::tallies::slot;
use super::{FunnelTally, Tally, TypeTally};

/// A fast hasher for the sums' own keys (ids the run gave out, not tenant input).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    fn finish(&self) -> u64 {
        // splitmix64's finaliser: every input bit reaches the low bits too.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// One window's sums.
#[derive(Default)]
struct WindowSum {
    persons: u64,
    sessions: u64,
    events: u64,
    /// By type id.
    types: Vec<TypeTally>,
    /// `from << 32 | to` → count.
    transitions: IdMap<u64, u64>,
    /// By path id.
    paths: Vec<u64>,
    funnels: BTreeMap<String, FunnelTally>,
}

/// A tenant's sums over the digests added so far, per window.
#[derive(Default)]
pub struct Sums {
    types: Vec<String>,
    type_ids: HashMap<String, u32>,
    /// A session's first steps, by type id → path id.
    path_ids: IdMap<Box<[u32]>, u32>,
    windows: Vec<(String, WindowSum)>,
    /// Scratch: a digest's name indexes → type ids, one path by type id, and a
    /// window's (path id, sessions).
    ids: Vec<u32>,
    path: Vec<u32>,
    window_paths: Vec<(usize, u64)>,
    /// Scratch: a stored digest's bytes.
    bytes: Vec<u8>,
}

impl Sums {
    /// Adds a stored digest (a document body) if it decodes, was computed on `basis`
    /// and still holds at `now`; returns whether it has any window, or `None` when it
    /// was not added (the person is to be recomputed).
    pub fn add_if_current(&mut self, body: &str, basis: &str, now: DateTime<Utc>) -> Option<bool> {
        let mut bytes = std::mem::take(&mut self.bytes);
        let added = match Decoded::of_body(body, &mut bytes) {
            Some(d) if d.basis == basis && d.valid_until.is_none_or(|t| t > now) => {
                Some(self.add(&d))
            }
            _ => None,
        };
        self.bytes = bytes;
        added
    }

    /// Adds a digest's bytes, as [`super::PersonFold::finish_stored`] made them;
    /// `false` (nothing added) for bytes it did not make.
    pub fn add_bytes(&mut self, bytes: &[u8]) -> bool {
        match Decoded::of_bytes(bytes) {
            Some(d) => {
                self.add(&d);
                true
            }
            None => false,
        }
    }

    /// Returns whether the digest has any window.
    pub(super) fn add(&mut self, digest: &Decoded<'_>) -> bool {
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(digest.names.iter().map(|name| self.type_id(name)));
        for window in &digest.windows {
            self.add_window(window, &ids);
        }
        self.ids = ids;
        !digest.windows.is_empty()
    }

    fn type_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.type_ids.get(name) {
            return id;
        }
        let id = self.types.len() as u32;
        self.types.push(name.to_owned());
        self.type_ids.insert(name.to_owned(), id);
        id
    }

    fn path_id(&mut self) -> usize {
        if let Some(&id) = self.path_ids.get(self.path.as_slice()) {
            return id as usize;
        }
        let id = self.path_ids.len();
        self.path_ids.insert(self.path.as_slice().into(), id as u32);
        id
    }

    fn window(&mut self, name: &str) -> usize {
        match self.windows.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.windows.push((name.to_owned(), WindowSum::default()));
                self.windows.len() - 1
            }
        }
    }

    fn add_window(&mut self, window: &DecodedWindow<'_>, ids: &[u32]) {
        let w = self.window(window.name);
        let mut path_ids = std::mem::take(&mut self.window_paths);
        path_ids.clear();
        for (steps, n) in &window.paths {
            self.path.clear();
            (self.path).extend(
                window.path_steps[steps.clone()]
                    .iter()
                    .map(|i| ids[*i as usize]),
            );
            path_ids.push((self.path_id(), *n));
        }
        let (types, sum) = (self.types.len(), &mut self.windows[w].1);
        sum.persons += window.persons;
        sum.sessions += window.sessions;
        sum.events += window.events;
        if sum.types.len() < types {
            sum.types.resize(types, TypeTally::default());
        }
        for (ty, t) in &window.types {
            let mine = &mut sum.types[ids[*ty as usize] as usize];
            mine.events += t.events;
            mine.persons += t.persons;
            mine.entries += t.entries;
            mine.exits += t.exits;
        }
        for (from, to, n) in &window.transitions {
            let key = u64::from(ids[*from as usize]) << 32 | u64::from(ids[*to as usize]);
            *sum.transitions.entry(key).or_default() += n;
        }
        for (path, n) in &path_ids {
            if sum.paths.len() <= *path {
                sum.paths.resize(path + 1, 0);
            }
            sum.paths[*path] += n;
        }
        for (id, f) in &window.funnels {
            slot(&mut sum.funnels, id).add(f);
        }
        self.window_paths = path_ids;
    }

    /// The sum over `window`, names put back (empty if no digest had it).
    pub fn tally(&self, window: &str) -> Tally {
        let Some((_, sum)) = self.windows.iter().find(|(n, _)| n == window) else {
            return Tally::default();
        };
        let mut tally = Tally {
            persons: sum.persons,
            sessions: sum.sessions,
            events: sum.events,
            funnels: sum.funnels.clone(),
            ..Tally::default()
        };
        for (id, t) in sum.types.iter().enumerate() {
            if t.events > 0 {
                tally.types.insert(self.types[id].clone(), t.clone());
            }
        }
        for (key, n) in &sum.transitions {
            let (from, to) = ((key >> 32) as usize, (key & 0xffff_ffff) as usize);
            let targets = slot(&mut tally.transitions, &self.types[from]);
            *slot(targets, &self.types[to]) += n;
        }
        for (path, id) in &self.path_ids {
            let n = sum.paths.get(*id as usize).copied().unwrap_or(0);
            if n > 0 {
                let steps: Vec<&str> = (path.iter())
                    .map(|ty| self.types[*ty as usize].as_str())
                    .collect();
                let key = serde_json::to_string(&steps).expect("paths serialize");
                tally.paths.insert(key, n);
            }
        }
        tally
    }
}
