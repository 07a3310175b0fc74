//! One person's fold: their Tape, in Tape order, into a tally per window.
//!
//! The fold counts by small type ids (the person's distinct types, in order of first
//! sight), so a step costs a few index operations per window and allocates nothing;
//! the strings are put back once per distinct key when the fold finishes.

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};

use super::digest::{Visit, Writer, FORMAT, NAMED};
use super::tallies::slot;
use super::TypeTally;
use super::{window_seconds, AnalyticsSettings, Funnel, FunnelTally, PersonDigest, Sums, Tally};

/// One Tape entry, as analytics sees it.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub time: DateTime<Utc>,
    pub ty: &'a str,
}

/// A window's bounds in one run: events with `from <= time < to` count.
#[derive(Debug, Clone)]
pub struct WindowBounds {
    pub name: String,
    pub seconds: u64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The windows of a run that ends at `now`.
pub fn windows_at(settings: &AnalyticsSettings, now: DateTime<Utc>) -> Vec<WindowBounds> {
    settings
        .windows
        .iter()
        .filter_map(|name| {
            let seconds = window_seconds(name)?;
            Some(WindowBounds {
                name: name.clone(),
                seconds,
                from: now - Duration::seconds(seconds as i64),
                to: now,
            })
        })
        .collect()
}

/// A person's distinct types get ids in order of first sight; past this many a hash
/// index replaces the linear search.
const LINEAR_TYPES: usize = 16;

/// The person's distinct types: the first `len` of `names` (the rest are kept for
/// the next person's, so a fold reused person after person allocates no names).
#[derive(Default)]
struct Types {
    names: Vec<String>,
    len: usize,
    index: HashMap<String, u32>,
    /// The caller's type keys (see [`PersonFold::push_keyed`]) → ids; `u32::MAX` unseen.
    by_key: Vec<u32>,
    /// Whether a type came by name (not by key) since the last clear.
    by_name: bool,
}

impl Types {
    fn id_of_key(&mut self, key: u32, ty: &str) -> u32 {
        let key = key as usize;
        match self.by_key.get(key) {
            Some(&id) if id != u32::MAX => id,
            _ => {
                // Distinct keys name distinct types: while every type came by key, an
                // unseen key is a new type, no name to compare.
                let id = if self.by_name {
                    self.id(ty)
                } else {
                    self.add(ty)
                };
                if self.by_key.len() <= key {
                    self.by_key.resize(key + 1, u32::MAX);
                }
                self.by_key[key] = id;
                id
            }
        }
    }

    fn names(&self) -> &[String] {
        &self.names[..self.len]
    }

    fn id_of_name(&mut self, ty: &str) -> u32 {
        self.by_name = true;
        self.id(ty)
    }

    fn id(&mut self, ty: &str) -> u32 {
        if self.len <= LINEAR_TYPES {
            if let Some(i) = self.names().iter().position(|n| n == ty) {
                return i as u32;
            }
        } else if let Some(&i) = self.index.get(ty) {
            return i;
        }
        self.add(ty)
    }

    /// Gives `ty`, not among the names, the next id.
    fn add(&mut self, ty: &str) -> u32 {
        let id = self.len as u32;
        match self.names.get_mut(self.len) {
            Some(spare) => ty.clone_into(spare),
            None => self.names.push(ty.to_owned()),
        }
        self.len += 1;
        if self.len > LINEAR_TYPES {
            if self.index.is_empty() {
                let all = self.names().iter().enumerate();
                self.index = all.map(|(i, n)| (n.clone(), i as u32)).collect();
            } else {
                self.index.insert(ty.to_owned(), id);
            }
        }
        id
    }

    /// Forgets the types, keeping the allocations.
    fn clear(&mut self) {
        self.len = 0;
        self.index.clear();
        self.by_key.fill(u32::MAX);
        self.by_name = false;
    }
}

/// Funnel progress: greedy, from the person's first event of step 1 in the window.
#[derive(Debug, Clone, Default)]
struct FunnelProgress {
    start: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    matched: usize,
    /// Milliseconds from each matched step to the next.
    durations: Vec<u64>,
}

/// One window's fold of one person, by type id: state bounded by the number of
/// distinct types (and of distinct session paths). Zeroed entries count as absent,
/// so a reused fold keeps its vectors.
struct WindowFold {
    bounds: WindowBounds,
    sessions: u64,
    events: u64,
    types: Vec<TypeTally>,
    /// from id → (to id, count), between consecutive events of one session.
    transitions: Vec<Vec<(u32, u64)>>,
    /// A session's first steps → sessions.
    paths: BTreeMap<Vec<u32>, u64>,
    /// Path keys of earlier persons, for reuse.
    spare_paths: Vec<Vec<u32>>,
    /// The open session: its last step and its first steps.
    open: Option<(DateTime<Utc>, u32)>,
    path: Vec<u32>,
    funnels: Vec<FunnelProgress>,
    earliest: Option<DateTime<Utc>>,
}

/// Folds one person's Tape, in Tape order, into a [`PersonDigest`].
pub struct PersonFold<'a> {
    funnels: &'a [Funnel],
    gap: Duration,
    path_steps: usize,
    types: Types,
    windows: Vec<WindowFold>,
    /// The first event past every window's end: it enters a window later on.
    next_future: Option<DateTime<Utc>>,
}

impl<'a> PersonFold<'a> {
    pub fn new(settings: &'a AnalyticsSettings, funnels: &'a [Funnel], now: DateTime<Utc>) -> Self {
        let windows = windows_at(settings, now)
            .into_iter()
            .map(|bounds| WindowFold {
                bounds,
                sessions: 0,
                events: 0,
                types: Vec::new(),
                transitions: Vec::new(),
                paths: BTreeMap::new(),
                spare_paths: Vec::new(),
                open: None,
                path: Vec::new(),
                funnels: vec![FunnelProgress::default(); funnels.len()],
                earliest: None,
            })
            .collect();
        Self {
            funnels,
            gap: Duration::seconds(settings.session_gap_seconds as i64),
            path_steps: settings.path_steps,
            types: Types::default(),
            windows,
            next_future: None,
        }
    }

    /// Where the Tape must be read from to see every window.
    pub fn read_from(&self) -> Option<DateTime<Utc>> {
        self.windows.iter().map(|w| w.bounds.from).min()
    }

    /// Takes the next event; events must come in Tape order.
    pub fn push(&mut self, step: Step<'_>) {
        self.push_typed(step, None);
    }

    /// [`Self::push`], with the caller's small key for the step's type (the same key
    /// always names the same type): the type is then found by index, not by name.
    pub fn push_keyed(&mut self, step: Step<'_>, key: u32) {
        self.push_typed(step, Some(key));
    }

    fn push_typed(&mut self, step: Step<'_>, key: Option<u32>) {
        let mut id = None;
        for window in &mut self.windows {
            if step.time < window.bounds.from {
                continue;
            }
            if step.time >= window.bounds.to {
                self.next_future = Some(self.next_future.map_or(step.time, |t| t.min(step.time)));
                continue;
            }
            let ty = *id.get_or_insert_with(|| match key {
                Some(key) => self.types.id_of_key(key, step.ty),
                None => self.types.id_of_name(step.ty),
            });
            window.push(step, ty, self.gap, self.path_steps);
            for (funnel, progress) in self.funnels.iter().zip(&mut window.funnels) {
                progress.push(funnel, step);
            }
        }
    }

    /// Closes the open sessions; returns until when the figures hold.
    fn settle(&mut self) -> Option<DateTime<Utc>> {
        let mut valid_until = self.next_future;
        for window in &mut self.windows {
            let Some(earliest) = window.earliest else {
                continue;
            };
            let leaves = earliest + Duration::seconds(window.bounds.seconds as i64);
            valid_until = Some(valid_until.map_or(leaves, |t| t.min(leaves)));
            window.close_session();
        }
        valid_until
    }

    /// Readies the fold for the next person, keeping its allocations.
    fn restart(&mut self) {
        self.types.clear();
        self.next_future = None;
        for window in &mut self.windows {
            window.restart();
        }
    }

    /// The person's digest, in its plain form.
    pub fn finish(mut self, basis: String) -> PersonDigest {
        let valid_until = self.settle();
        let mut windows = BTreeMap::new();
        for window in self.windows.iter().filter(|w| w.earliest.is_some()) {
            let mut tally = window.tally(self.types.names());
            for (funnel, progress) in self.funnels.iter().zip(&window.funnels) {
                if progress.matched > 0 {
                    tally
                        .funnels
                        .insert(funnel.id.clone(), progress.tally(funnel));
                }
            }
            windows.insert(window.bounds.name.clone(), tally);
        }
        PersonDigest {
            basis,
            valid_until,
            windows,
        }
    }

    /// The person's digest in its stored form of format 3 (types named in full, as
    /// written before the tenant's type dictionary; [`super::digest`]), valid until
    /// `expiry` at the latest (when one of their events leaves its retention). The fold
    /// then starts over, empty, for the next person (of the same run). The job writes
    /// format 4 ([`Self::finish_into`]); this one is kept to test stores written before.
    pub fn finish_stored(&mut self, basis: &str, expiry: Option<DateTime<Utc>>) -> StoredDigest {
        let valid_until = self.valid_until(expiry);
        let digest = self.stored(basis, valid_until, None);
        self.restart();
        digest
    }

    /// [`Self::finish_stored`] in format 4, the person's figures also added to `sums` straight
    /// from the fold: what [`Sums::add_bytes`] adds from the digest, without walking it.
    pub fn finish_into(
        &mut self,
        basis: &str,
        expiry: Option<DateTime<Utc>>,
        sums: &mut Sums,
    ) -> StoredDigest {
        let valid_until = self.valid_until(expiry);
        sums.add_visit(|sums| self.visit(sums));
        let digest = self.stored(basis, valid_until, Some(sums.digest_ids()));
        self.restart();
        digest
    }

    /// Settles the fold: until when its figures hold, `expiry` at the latest.
    fn valid_until(&mut self, expiry: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match (self.settle(), expiry) {
            (Some(t), Some(e)) => Some(t.min(e)),
            (t, e) => t.or(e),
        }
    }

    /// The windows with any event of the person.
    fn active(&self) -> impl Iterator<Item = &WindowFold> {
        self.windows.iter().filter(|w| w.earliest.is_some())
    }

    /// The settled fold's digest bytes: its types as `ids` into the tenant's
    /// dictionary (format 4), or named (format 3) without.
    fn stored(
        &self,
        basis: &str,
        valid_until: Option<DateTime<Utc>>,
        ids: Option<&[u32]>,
    ) -> StoredDigest {
        let format = if ids.is_some() { FORMAT } else { NAMED };
        let mut w = Writer::new(format, basis, valid_until);
        w.u(self.types.len as u64);
        match ids {
            Some(ids) => ids.iter().for_each(|id| w.u(u64::from(*id))),
            None => self.types.names().iter().for_each(|name| w.str(name)),
        }
        let windows = self.active().count();
        w.u(windows as u64);
        for window in self.active() {
            window.write(&mut w);
            let funnels = self.funnels.iter().zip(&window.funnels);
            let matched: Vec<_> = funnels.filter(|(_, p)| p.matched > 0).collect();
            w.u(matched.len() as u64);
            for (funnel, progress) in matched {
                w.funnel(&funnel.id, &progress.tally(funnel));
            }
        }
        StoredDigest {
            bytes: w.0,
            valid_until,
            windows,
        }
    }

    /// Hands the settled fold's parts to `visit` in the order [`super::digest::walk`]
    /// hands over those of its digest.
    fn visit<'s>(&'s self, visit: &mut impl Visit<'s>) {
        for name in self.types.names() {
            // Names are strings: no visitor refuses one.
            let _ = visit.name(name.as_bytes());
        }
        for window in self.active() {
            window.visit(visit);
            for (funnel, progress) in self.funnels.iter().zip(&window.funnels) {
                if progress.matched > 0 {
                    visit.funnel(&funnel.id, &progress.tally(funnel));
                }
            }
        }
    }
}

/// A digest's stored bytes ([`super::digest::body_of`] makes the document), made by
/// [`PersonFold::finish_stored`] or [`PersonFold::finish_into`].
#[derive(Debug, Clone)]
pub struct StoredDigest {
    bytes: Vec<u8>,
    pub valid_until: Option<DateTime<Utc>>,
    /// Windows with any event of the person.
    pub windows: usize,
}

impl StoredDigest {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl WindowFold {
    fn restart(&mut self) {
        self.sessions = 0;
        self.events = 0;
        self.types.fill(TypeTally::default());
        self.transitions.iter_mut().for_each(Vec::clear);
        let paths = std::mem::take(&mut self.paths);
        self.spare_paths.extend(paths.into_keys());
        self.open = None;
        self.path.clear();
        self.funnels.iter_mut().for_each(FunnelProgress::restart);
        self.earliest = None;
    }

    fn push(&mut self, step: Step<'_>, ty: u32, gap: Duration, path_steps: usize) {
        self.earliest.get_or_insert(step.time);
        if self.types.len() <= ty as usize {
            self.types.resize(ty as usize + 1, TypeTally::default());
        }
        match self.open {
            Some((last_time, last_type)) if step.time - last_time <= gap => {
                if self.transitions.len() <= last_type as usize {
                    self.transitions.resize(last_type as usize + 1, Vec::new());
                }
                let targets = &mut self.transitions[last_type as usize];
                match targets.iter_mut().find(|(to, _)| *to == ty) {
                    Some((_, n)) => *n += 1,
                    None => targets.push((ty, 1)),
                }
                if self.path.len() < path_steps {
                    self.path.push(ty);
                }
            }
            _ => {
                self.close_session();
                self.sessions += 1;
                self.types[ty as usize].entries += 1;
                self.path.push(ty);
            }
        }
        self.open = Some((step.time, ty));
        self.events += 1;
        let tally = &mut self.types[ty as usize];
        tally.events += 1;
        tally.persons = 1;
    }

    fn close_session(&mut self) {
        if let Some((_, last_type)) = self.open.take() {
            self.types[last_type as usize].exits += 1;
            match self.paths.get_mut(self.path.as_slice()) {
                Some(n) => *n += 1,
                None => {
                    let mut key = self.spare_paths.pop().unwrap_or_default();
                    key.clone_from(&self.path);
                    self.paths.insert(key, 1);
                }
            }
            self.path.clear();
        }
    }

    /// The window's figures by type id, funnels aside ([`super::digest`]'s layout).
    fn write(&self, w: &mut Writer) {
        w.str(&self.bounds.name);
        w.u(1);
        w.u(self.sessions);
        w.u(self.events);
        let types = self.types.iter().enumerate().filter(|(_, t)| t.events > 0);
        w.u(types.clone().count() as u64);
        for (id, t) in types {
            for v in [id as u64, t.events, t.persons, t.entries, t.exits] {
                w.u(v);
            }
        }
        w.u(self.transitions.iter().map(Vec::len).sum::<usize>() as u64);
        for (from, targets) in self.transitions.iter().enumerate() {
            for (to, n) in targets {
                w.u(from as u64);
                w.u(u64::from(*to));
                w.u(*n);
            }
        }
        w.u(self.paths.len() as u64);
        for (path, n) in &self.paths {
            w.u(path.len() as u64);
            for ty in path {
                w.u(u64::from(*ty));
            }
            w.u(*n);
        }
    }

    /// The window's figures, funnels aside, in [`Self::write`]'s order.
    fn visit<'s>(&'s self, visit: &mut impl Visit<'s>) {
        visit.window(&self.bounds.name, 1, self.sessions, self.events);
        for (id, t) in self.types.iter().enumerate() {
            if t.events > 0 {
                visit.ty(id as u32, t);
            }
        }
        for (from, targets) in self.transitions.iter().enumerate() {
            for (to, n) in targets {
                visit.transition(from as u32, *to, *n);
            }
        }
        for (path, n) in &self.paths {
            visit.path(path, *n);
        }
    }

    /// The window's figures with the type names put back.
    fn tally(&self, names: &[String]) -> Tally {
        let mut tally = Tally {
            persons: 1,
            sessions: self.sessions,
            events: self.events,
            ..Tally::default()
        };
        for (id, types) in self.types.iter().enumerate() {
            if types.events > 0 {
                tally.types.insert(names[id].clone(), types.clone());
            }
        }
        for (from, targets) in self.transitions.iter().enumerate() {
            if targets.is_empty() {
                continue;
            }
            let mine = slot(&mut tally.transitions, &names[from]);
            for (to, n) in targets {
                *slot(mine, &names[*to as usize]) += n;
            }
        }
        for (path, n) in &self.paths {
            let steps: Vec<&str> = path.iter().map(|id| names[*id as usize].as_str()).collect();
            let key = serde_json::to_string(&steps).expect("paths serialize");
            *tally.paths.entry(key).or_default() += n;
        }
        tally
    }
}

impl FunnelProgress {
    fn restart(&mut self) {
        (self.start, self.last, self.matched) = (None, None, 0);
        self.durations.clear();
    }

    fn push(&mut self, funnel: &Funnel, step: Step<'_>) {
        let steps = &funnel.definition.steps;
        if self.matched == steps.len() || step.ty != steps[self.matched] {
            return;
        }
        match self.start {
            None => self.start = Some(step.time),
            Some(start) => {
                let limit = Duration::seconds(funnel.definition.within_seconds as i64);
                if step.time - start > limit {
                    return;
                }
            }
        }
        self.matched += 1;
        if let Some(last) = self.last {
            self.durations
                .push((step.time - last).num_milliseconds().max(0) as u64);
        }
        self.last = Some(step.time);
    }

    fn tally(&self, funnel: &Funnel) -> FunnelTally {
        let steps = funnel.definition.steps.len();
        let mut reached = vec![0; steps];
        reached[..self.matched].fill(1);
        let mut step_ms = vec![BTreeMap::new(); steps - 1];
        for (slot, ms) in step_ms.iter_mut().zip(&self.durations) {
            slot.insert(*ms, 1);
        }
        FunnelTally { reached, step_ms }
    }
}
