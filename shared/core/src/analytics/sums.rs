//! A tenant's sums over one run, by id: every type and path named once per run, so
//! adding a person's digest is integer work. Names come back once, in [`Sums::tally`].

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::digest::{bytes_of_body, walk, Check, Visit};
use super::tallies::slot;
use super::{FunnelTally, Tally, TypeTally};
use crate::type_ids::TypeIds;

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
    types: TypeIds,
    /// A session's first steps, by type id → path id.
    path_ids: IdMap<Box<[u32]>, u32>,
    windows: Vec<(String, WindowSum)>,
    /// Adding a digest: its name indexes → type ids, and the window being added.
    ids: Vec<u32>,
    current: usize,
    /// Scratch: one path by name index, the same by type id, a stored digest's bytes.
    steps: Vec<u32>,
    path: Vec<u32>,
    bytes: Vec<u8>,
}

impl Sums {
    /// Sums whose type ids start as the tenant's dictionary, `types` in id order
    /// (`None` if a name comes twice); ids for new types follow.
    pub fn with_types(types: &[String]) -> Option<Self> {
        let mut sums = Self::default();
        for (i, name) in types.iter().enumerate() {
            (sums.types.id(name) as usize == i).then_some(())?;
        }
        Some(sums)
    }

    /// Every type met so far, by id: the tenant's dictionary as it now stands.
    pub fn types(&self) -> &[String] {
        self.types.names()
    }

    /// Adds a stored digest (a document body) if it decodes, was computed on `basis`
    /// and still holds at `now`; returns whether it has any window, or `None` when it
    /// was not added (the person is to be recomputed).
    pub fn add_if_current(&mut self, body: &str, basis: &str, now: DateTime<Utc>) -> Option<bool> {
        let mut bytes = std::mem::take(&mut self.bytes);
        let current = bytes_of_body(body, &mut bytes)
            .and_then(|()| walk(&bytes, &mut Check(self.types().len()), &mut self.path))
            .filter(|h| h.basis == basis && h.valid_until.is_none_or(|t| t > now));
        let added = current.map(|head| {
            self.add_checked(&bytes);
            head.windows > 0
        });
        self.bytes = bytes;
        added
    }

    /// Adds a digest's bytes, as [`super::PersonFold::finish_stored`] made them;
    /// `false` (nothing added) for bytes it did not make.
    pub fn add_bytes(&mut self, bytes: &[u8]) -> bool {
        if walk(bytes, &mut Check(self.types().len()), &mut self.path).is_none() {
            return false;
        }
        self.add_checked(bytes);
        true
    }

    /// Adds one person's parts as `visit` hands them over (a fold's own, in its
    /// digest's order: [`super::PersonFold::finish_into`]).
    pub(super) fn add_visit(&mut self, visit: impl FnOnce(&mut Self)) {
        self.ids.clear();
        visit(self);
    }

    /// The type ids of the digest added last, in its index order.
    pub(super) fn digest_ids(&self) -> &[u32] {
        &self.ids
    }

    /// Adds bytes that [`walk`] has checked: it cannot stop half way.
    fn add_checked(&mut self, bytes: &[u8]) {
        self.ids.clear();
        let mut steps = std::mem::take(&mut self.steps);
        let walked = walk(bytes, self, &mut steps);
        debug_assert!(walked.is_some(), "the bytes were checked");
        self.steps = steps;
    }

    fn path_id(&mut self) -> usize {
        if let Some(&id) = self.path_ids.get(self.path.as_slice()) {
            return id as usize;
        }
        let id = self.path_ids.len();
        self.path_ids.insert(self.path.as_slice().into(), id as u32);
        id
    }

    fn window_index(&mut self, name: &str) -> usize {
        match self.windows.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.windows.push((name.to_owned(), WindowSum::default()));
                self.windows.len() - 1
            }
        }
    }

    fn current(&mut self) -> &mut WindowSum {
        &mut self.windows[self.current].1
    }
}

/// Adding a digest: its names become run-wide ids, then each window's figures are
/// added under them.
impl<'a> Visit<'a> for Sums {
    fn name(&mut self, name: &'a [u8]) -> Option<()> {
        let id = self.types.id_of_bytes(name)?;
        self.ids.push(id);
        Some(())
    }

    fn id(&mut self, id: u64) -> Option<()> {
        let id = u32::try_from(id).ok()?;
        ((id as usize) < self.types.names().len()).then_some(())?;
        self.ids.push(id);
        Some(())
    }

    fn window(&mut self, name: &'a str, persons: u64, sessions: u64, events: u64) {
        self.current = self.window_index(name);
        let types = self.types.names().len();
        let sum = self.current();
        sum.persons += persons;
        sum.sessions += sessions;
        sum.events += events;
        if sum.types.len() < types {
            sum.types.resize(types, TypeTally::default());
        }
    }

    fn ty(&mut self, ty: u32, t: &TypeTally) {
        let id = self.ids[ty as usize] as usize;
        let mine = &mut self.current().types[id];
        mine.events += t.events;
        mine.persons += t.persons;
        mine.entries += t.entries;
        mine.exits += t.exits;
    }

    fn transition(&mut self, from: u32, to: u32, n: u64) {
        let key = u64::from(self.ids[from as usize]) << 32 | u64::from(self.ids[to as usize]);
        *self.current().transitions.entry(key).or_default() += n;
    }

    fn path(&mut self, steps: &[u32], n: u64) {
        self.path.clear();
        let ids = &self.ids;
        (self.path).extend(steps.iter().map(|i| ids[*i as usize]));
        let path = self.path_id();
        let sum = self.current();
        if sum.paths.len() <= path {
            sum.paths.resize(path + 1, 0);
        }
        sum.paths[path] += n;
    }

    fn funnel(&mut self, id: &'a str, f: &FunnelTally) {
        slot(&mut self.current().funnels, id).add(f);
    }
}

impl Sums {
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
                tally
                    .types
                    .insert(self.types.names()[id].clone(), t.clone());
            }
        }
        for (key, n) in &sum.transitions {
            let (from, to) = ((key >> 32) as usize, (key & 0xffff_ffff) as usize);
            let targets = slot(&mut tally.transitions, &self.types.names()[from]);
            *slot(targets, &self.types.names()[to]) += n;
        }
        for (path, id) in &self.path_ids {
            let n = sum.paths.get(*id as usize).copied().unwrap_or(0);
            if n > 0 {
                let steps: Vec<&str> = (path.iter())
                    .map(|ty| self.types.names()[*ty as usize].as_str())
                    .collect();
                let key = serde_json::to_string(&steps).expect("paths serialize");
                tally.paths.insert(key, n);
            }
        }
        tally
    }
}
