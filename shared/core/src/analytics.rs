//! Journey analytics: where journeys break.
//!
//! A person's events in one window are folded, in Tape order, into a [`Tally`]:
//! counts by type, transitions, sessions with their entry and exit points, the first
//! steps of each session (paths) and funnel progress. Tallies add up, so a tenant's
//! figures are the sum of its persons' tallies, and a person's tally only changes when
//! their Tape changes or one of their events leaves a window ([`PersonDigest`]).
//! [`Tally::report`] turns a sum into what the API serves. The exact definitions are
//! in `docs/ANALYTICS.md`; the tests check them against SQL.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

use crate::ids::TenantId;
use crate::resource_id::{self, ResourceKind};

/// Where analytics keeps its documents (all under the tenant):
///
/// | document        | `pk`                     | `sk`                |
/// |-----------------|--------------------------|---------------------|
/// | settings        | `T#{tenant}#ANALYTICS`   | `SETTINGS`          |
/// | job state       | `T#{tenant}#ANALYTICS`   | `JOB`               |
/// | run request     | `T#{tenant}#ANALYTICS`   | `REQUEST`           |
/// | window report   | `T#{tenant}#ANALYTICS`   | `REPORT#{window}`   |
/// | funnel          | `T#{tenant}#FUNNELS`     | `{funnel id}`       |
/// | person digest   | `T#{tenant}#ADIGEST`     | `{person}`          |
pub mod keys {
    use super::*;

    pub fn analytics(tenant: &TenantId) -> String {
        format!("T#{tenant}#ANALYTICS")
    }
    pub const SETTINGS: &str = "SETTINGS";
    pub const JOB: &str = "JOB";
    pub const REQUEST: &str = "REQUEST";
    pub fn report(window: &str) -> String {
        format!("REPORT#{window}")
    }
    pub fn funnels(tenant: &TenantId) -> String {
        format!("T#{tenant}#FUNNELS")
    }
    pub fn digests(tenant: &TenantId) -> String {
        format!("T#{tenant}#ADIGEST")
    }
}

/// Every funnel id starts with this (the tenant's funnel limit counts them).
pub const FUNNEL_ID_PREFIX: &str = "funnel-";

pub fn new_funnel_id() -> String {
    ResourceKind::Funnel.new_id()
}

pub const DEFAULT_WINDOWS: [&str; 3] = ["24h", "7d", "30d"];
pub const DEFAULT_SESSION_GAP_SECONDS: u64 = 30 * 60;
pub const DEFAULT_TOP_PATHS: usize = 10;
pub const DEFAULT_PATH_STEPS: usize = 3;
pub const MAX_WINDOWS: usize = 8;
pub const MAX_WINDOW_DAYS: u64 = crate::window::ANALYTICS_WINDOWS.max_days as u64;
pub const MAX_FUNNELS: usize = 20;
pub const MAX_FUNNEL_STEPS: usize = 10;
pub const MAX_FUNNEL_WITHIN_SECONDS: u64 = 90 * 86_400;
/// How many steps the report lists as "valleys of doom".
pub const VALLEYS: usize = 10;

pub use crate::problem::FieldProblem;

fn problem(
    field: impl Into<String>,
    code: &'static str,
    detail: impl Into<String>,
) -> FieldProblem {
    FieldProblem::new(field, code, detail)
}

/// A lookback window such as `24h` or `7d`: whole hours or days, 1 hour to 400 days.
pub fn window_seconds(name: &str) -> Option<u64> {
    let window = crate::window::parse(name, &crate::window::ANALYTICS_WINDOWS)?;
    u64::try_from(window.num_seconds()).ok()
}

/// A tenant's analytics settings. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSettings {
    #[serde(default = "default_windows")]
    pub windows: Vec<String>,
    #[serde(default = "default_gap")]
    pub session_gap_seconds: u64,
    #[serde(default = "default_top_paths")]
    pub top_paths: usize,
    #[serde(default = "default_path_steps")]
    pub path_steps: usize,
}

fn default_windows() -> Vec<String> {
    DEFAULT_WINDOWS.iter().map(|w| w.to_string()).collect()
}
fn default_gap() -> u64 {
    DEFAULT_SESSION_GAP_SECONDS
}
fn default_top_paths() -> usize {
    DEFAULT_TOP_PATHS
}
fn default_path_steps() -> usize {
    DEFAULT_PATH_STEPS
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        Self {
            windows: default_windows(),
            session_gap_seconds: default_gap(),
            top_paths: default_top_paths(),
            path_steps: default_path_steps(),
        }
    }
}

impl AnalyticsSettings {
    pub fn validate(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if self.windows.is_empty() || self.windows.len() > MAX_WINDOWS {
            problems.push(problem(
                "windows",
                "window_count",
                format!("give 1 to {MAX_WINDOWS} windows"),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, window) in self.windows.iter().enumerate() {
            if window_seconds(window).is_none() {
                problems.push(problem(
                    format!("windows/{i}"),
                    "invalid_window",
                    format!("{window:?} is not a window: use whole hours or days such as 24h or 7d, at most {MAX_WINDOW_DAYS}d"),
                ));
            } else if !seen.insert(window) {
                problems.push(problem(
                    format!("windows/{i}"),
                    "duplicate_window",
                    format!("{window} is listed twice"),
                ));
            }
        }
        if !(60..=86_400).contains(&self.session_gap_seconds) {
            problems.push(problem(
                "session_gap_seconds",
                "invalid_gap",
                "the session gap is 60 to 86400 seconds",
            ));
        }
        if !(1..=100).contains(&self.top_paths) {
            problems.push(problem(
                "top_paths",
                "invalid_top_paths",
                "top_paths is 1 to 100",
            ));
        }
        if !(2..=10).contains(&self.path_steps) {
            problems.push(problem(
                "path_steps",
                "invalid_path_steps",
                "path_steps is 2 to 10",
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The longest window, in seconds.
    pub fn longest_window(&self) -> u64 {
        self.windows
            .iter()
            .filter_map(|w| window_seconds(w))
            .max()
            .unwrap_or(0)
    }
}

/// What a tenant sends to define a funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelDefinition {
    pub name: String,
    /// Event types, in order.
    pub steps: Vec<String>,
    /// Every step must happen within this many seconds of the first.
    pub within_seconds: u64,
}

impl FunnelDefinition {
    pub fn validate(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty()
            || self.name.len() > 200
            || self.name.chars().any(char::is_control)
        {
            problems.push(problem(
                "name",
                "invalid_name",
                "the name is 1 to 200 printable characters",
            ));
        }
        if !(2..=MAX_FUNNEL_STEPS).contains(&self.steps.len()) {
            problems.push(problem(
                "steps",
                "step_count",
                format!("a funnel has 2 to {MAX_FUNNEL_STEPS} steps"),
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            if step.is_empty() || step.len() > 256 || step.chars().any(char::is_control) {
                problems.push(problem(
                    format!("steps/{i}"),
                    "invalid_step",
                    "a step is an event type of 1 to 256 printable characters",
                ));
            }
        }
        if !(1..=MAX_FUNNEL_WITHIN_SECONDS).contains(&self.within_seconds) {
            problems.push(problem(
                "within_seconds",
                "invalid_time_limit",
                format!("within_seconds is 1 to {MAX_FUNNEL_WITHIN_SECONDS}"),
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// A stored funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funnel {
    pub id: String,
    #[serde(flatten)]
    pub definition: FunnelDefinition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn valid_funnel_id(id: &str) -> bool {
    resource_id::valid(id)
}

/// What digests were computed with: a change of settings or funnels recomputes all.
pub fn basis(settings: &AnalyticsSettings, funnels: &[Funnel]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(settings).expect("settings serialize"));
    for funnel in funnels {
        hasher.update(
            serde_json::to_vec(&(&funnel.id, &funnel.definition)).expect("funnels serialize"),
        );
    }
    hex::encode(&hasher.finalize()[..12])
}

// ---------------------------------------------------------------- tallies

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
            let mine = self.funnels.entry(id.clone()).or_default();
            if mine.reached.len() < f.reached.len() {
                mine.reached.resize(f.reached.len(), 0);
                mine.step_ms.resize(f.step_ms.len(), BTreeMap::new());
            }
            for (total, n) in mine.reached.iter_mut().zip(&f.reached) {
                *total += n;
            }
            for (total, durations) in mine.step_ms.iter_mut().zip(&f.step_ms) {
                for (ms, n) in durations {
                    *total.entry(*ms).or_default() += n;
                }
            }
        }
    }
}

/// The value under `key`, inserted as the default if missing: allocates the key only
/// when it is new (sums and folds mostly meet keys they have).
fn slot<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("just inserted")
}

// ---------------------------------------------------------------- one person

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

/// Funnel progress: greedy, from the person's first event of step 1 in the window.
#[derive(Debug, Clone, Default)]
struct FunnelProgress {
    start: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    matched: usize,
    /// Milliseconds from each matched step to the next.
    durations: Vec<u64>,
}

#[derive(Debug, Clone)]
struct OpenSession {
    last_time: DateTime<Utc>,
    last_type: String,
    path: Vec<String>,
}

/// One window's fold of one person: state bounded by the number of distinct types.
struct WindowFold {
    bounds: WindowBounds,
    tally: Tally,
    session: Option<OpenSession>,
    funnels: Vec<FunnelProgress>,
    earliest: Option<DateTime<Utc>>,
}

/// Folds one person's Tape, in Tape order, into a [`PersonDigest`].
pub struct PersonFold<'a> {
    settings: &'a AnalyticsSettings,
    funnels: &'a [Funnel],
    windows: Vec<WindowFold>,
    /// The first event past every window's end: it enters a window later on.
    next_future: Option<DateTime<Utc>>,
}

/// A person's tally per window, and until when it holds: the time at which one of
/// their events leaves (or enters) a window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonDigest {
    pub basis: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    pub windows: BTreeMap<String, Tally>,
}

impl<'a> PersonFold<'a> {
    pub fn new(settings: &'a AnalyticsSettings, funnels: &'a [Funnel], now: DateTime<Utc>) -> Self {
        let windows = windows_at(settings, now)
            .into_iter()
            .map(|bounds| WindowFold {
                bounds,
                tally: Tally::default(),
                session: None,
                funnels: vec![FunnelProgress::default(); funnels.len()],
                earliest: None,
            })
            .collect();
        Self {
            settings,
            funnels,
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
        let (settings, funnels) = (self.settings, self.funnels);
        for window in &mut self.windows {
            if step.time < window.bounds.from {
                continue;
            }
            if step.time >= window.bounds.to {
                self.next_future = Some(self.next_future.map_or(step.time, |t| t.min(step.time)));
                continue;
            }
            window.push(step, settings, funnels);
        }
    }

    pub fn finish(self, basis: String) -> PersonDigest {
        let mut valid_until = self.next_future;
        let mut windows = BTreeMap::new();
        for mut window in self.windows {
            let Some(earliest) = window.earliest else {
                continue;
            };
            let leaves = earliest + Duration::seconds(window.bounds.seconds as i64);
            valid_until = Some(valid_until.map_or(leaves, |t| t.min(leaves)));
            window.close_session();
            window.tally.persons = 1;
            for (funnel, progress) in self.funnels.iter().zip(&window.funnels) {
                if progress.matched > 0 {
                    window
                        .tally
                        .funnels
                        .insert(funnel.id.clone(), progress.tally(funnel));
                }
            }
            windows.insert(window.bounds.name.clone(), window.tally);
        }
        PersonDigest {
            basis,
            valid_until,
            windows,
        }
    }
}

impl WindowFold {
    fn push(&mut self, step: Step<'_>, settings: &AnalyticsSettings, funnels: &[Funnel]) {
        self.earliest.get_or_insert(step.time);
        let gap = Duration::seconds(settings.session_gap_seconds as i64);
        let continues = self
            .session
            .as_ref()
            .is_some_and(|s| step.time - s.last_time <= gap);
        if continues {
            let session = self.session.as_mut().expect("an open session");
            *slot(
                slot(&mut self.tally.transitions, &session.last_type),
                step.ty,
            ) += 1;
            if session.path.len() < settings.path_steps {
                session.path.push(step.ty.to_owned());
            }
            session.last_time = step.time;
            session.last_type.clear();
            session.last_type.push_str(step.ty);
        } else {
            self.close_session();
            self.tally.sessions += 1;
            slot(&mut self.tally.types, step.ty).entries += 1;
            self.session = Some(OpenSession {
                last_time: step.time,
                last_type: step.ty.to_owned(),
                path: vec![step.ty.to_owned()],
            });
        }
        self.tally.events += 1;
        let ty = slot(&mut self.tally.types, step.ty);
        ty.events += 1;
        ty.persons = 1;
        for (funnel, progress) in funnels.iter().zip(&mut self.funnels) {
            progress.push(funnel, step);
        }
    }

    fn close_session(&mut self) {
        if let Some(session) = self.session.take() {
            slot(&mut self.tally.types, &session.last_type).exits += 1;
            let path = serde_json::to_string(&session.path).expect("paths serialize");
            *self.tally.paths.entry(path).or_default() += 1;
        }
    }
}

impl FunnelProgress {
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

// ---------------------------------------------------------------- reports

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeReport {
    #[serde(rename = "type")]
    pub ty: String,
    pub events: u64,
    pub persons: u64,
    pub entries: u64,
    pub exits: u64,
    /// Share of this step's occurrences that ended a session: its drop-off.
    pub exit_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointReport {
    #[serde(rename = "type")]
    pub ty: String,
    pub sessions: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathReport {
    pub steps: Vec<String>,
    pub sessions: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelStepReport {
    #[serde(rename = "type")]
    pub ty: String,
    pub persons: u64,
    /// Persons at this step over persons at the first step.
    pub conversion: f64,
    /// Persons at this step over persons at the step before.
    pub step_conversion: f64,
    /// Lower median of the time from the step before, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_ms_from_previous: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelReport {
    pub id: String,
    pub name: String,
    pub within_seconds: u64,
    pub steps: Vec<FunnelStepReport>,
}

/// What `GET /v1/analytics?window=…` serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowReport {
    pub window: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub computed_at: DateTime<Utc>,
    pub session_gap_seconds: u64,
    pub persons: u64,
    pub sessions: u64,
    pub events: u64,
    /// By events, most first.
    pub event_types: Vec<TypeReport>,
    /// Sankey edges, most first.
    pub transitions: Vec<Transition>,
    pub entry_points: Vec<PointReport>,
    pub exit_points: Vec<PointReport>,
    /// The steps with the highest exit rate.
    pub valleys_of_doom: Vec<TypeReport>,
    pub top_paths: Vec<PathReport>,
    pub funnels: Vec<FunnelReport>,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The element at index `(n - 1) / 2` of the sorted multiset.
pub fn lower_median(counts: &BTreeMap<u64, u64>) -> Option<u64> {
    let total: u64 = counts.values().sum();
    if total == 0 {
        return None;
    }
    let mut rank = (total - 1) / 2;
    for (value, n) in counts {
        if rank < *n {
            return Some(*value);
        }
        rank -= n;
    }
    None
}

fn points(tally: &Tally, pick: impl Fn(&TypeTally) -> u64) -> Vec<PointReport> {
    let mut points: Vec<PointReport> = tally
        .types
        .iter()
        .filter(|(_, t)| pick(t) > 0)
        .map(|(ty, t)| PointReport {
            ty: ty.clone(),
            sessions: pick(t),
        })
        .collect();
    points.sort_by(|a, b| b.sessions.cmp(&a.sessions).then_with(|| a.ty.cmp(&b.ty)));
    points
}

impl Tally {
    /// The served report of a tenant's sum over one window.
    pub fn report(
        &self,
        window: &WindowBounds,
        settings: &AnalyticsSettings,
        funnels: &[Funnel],
        computed_at: DateTime<Utc>,
    ) -> WindowReport {
        let mut event_types: Vec<TypeReport> = self
            .types
            .iter()
            .map(|(ty, t)| TypeReport {
                ty: ty.clone(),
                events: t.events,
                persons: t.persons,
                entries: t.entries,
                exits: t.exits,
                exit_rate: ratio(t.exits, t.events),
            })
            .collect();
        event_types.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.ty.cmp(&b.ty)));
        let mut valleys = event_types.clone();
        valleys.sort_by(|a, b| {
            b.exit_rate
                .total_cmp(&a.exit_rate)
                .then_with(|| b.exits.cmp(&a.exits))
                .then_with(|| a.ty.cmp(&b.ty))
        });
        valleys.truncate(VALLEYS);
        let mut transitions: Vec<Transition> = self
            .transitions
            .iter()
            .flat_map(|(from, targets)| {
                targets.iter().map(move |(to, count)| Transition {
                    from: from.clone(),
                    to: to.clone(),
                    count: *count,
                })
            })
            .collect();
        transitions.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
        });
        let mut top_paths: Vec<PathReport> = self
            .paths
            .iter()
            .map(|(path, sessions)| PathReport {
                steps: serde_json::from_str(path).unwrap_or_default(),
                sessions: *sessions,
            })
            .collect();
        top_paths.sort_by(|a, b| {
            b.sessions
                .cmp(&a.sessions)
                .then_with(|| a.steps.cmp(&b.steps))
        });
        top_paths.truncate(settings.top_paths);
        WindowReport {
            window: window.name.clone(),
            from: window.from,
            to: window.to,
            computed_at,
            session_gap_seconds: settings.session_gap_seconds,
            persons: self.persons,
            sessions: self.sessions,
            events: self.events,
            entry_points: points(self, |t| t.entries),
            exit_points: points(self, |t| t.exits),
            event_types,
            transitions,
            valleys_of_doom: valleys,
            top_paths,
            funnels: funnels.iter().map(|f| self.funnel_report(f)).collect(),
        }
    }

    fn funnel_report(&self, funnel: &Funnel) -> FunnelReport {
        let empty = FunnelTally::default();
        let tally = self.funnels.get(&funnel.id).unwrap_or(&empty);
        let reached = |i: usize| tally.reached.get(i).copied().unwrap_or(0);
        let steps = funnel
            .definition
            .steps
            .iter()
            .enumerate()
            .map(|(i, ty)| FunnelStepReport {
                ty: ty.clone(),
                persons: reached(i),
                conversion: ratio(reached(i), reached(0)),
                step_conversion: if i == 0 {
                    ratio(reached(0), reached(0))
                } else {
                    ratio(reached(i), reached(i - 1))
                },
                median_ms_from_previous: i
                    .checked_sub(1)
                    .and_then(|prev| tally.step_ms.get(prev))
                    .and_then(lower_median),
            })
            .collect();
        FunnelReport {
            id: funnel.id.clone(),
            name: funnel.definition.name.clone(),
            within_seconds: funnel.definition.within_seconds,
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minute)
    }

    fn funnel(steps: &[&str], within_seconds: u64) -> Funnel {
        Funnel {
            id: "f".into(),
            definition: FunnelDefinition {
                name: "f".into(),
                steps: steps.iter().map(|s| s.to_string()).collect(),
                within_seconds,
            },
            created_at: at(0),
            updated_at: at(0),
        }
    }

    fn fold(events: &[(i64, &str)], funnels: &[Funnel], now: DateTime<Utc>) -> PersonDigest {
        let settings = AnalyticsSettings {
            windows: vec!["1d".into(), "7d".into()],
            ..Default::default()
        };
        let mut person = PersonFold::new(&settings, funnels, now);
        for (minute, ty) in events {
            person.push(Step {
                time: at(*minute),
                ty,
            });
        }
        person.finish("b".into())
    }

    #[test]
    fn windows_are_whole_hours_or_days() {
        assert_eq!(window_seconds("24h"), Some(86_400));
        assert_eq!(window_seconds("7d"), Some(604_800));
        for bad in [
            "",
            "h",
            "0d",
            "07d",
            "1w",
            "-1d",
            "401d",
            "1.5h",
            "99999999999999999999d",
            "7é",
            "µ",
        ] {
            assert_eq!(window_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_gap_longer_than_the_setting_starts_a_session() {
        let digest = fold(&[(0, "a"), (30, "b"), (61, "c"), (62, "a")], &[], at(100));
        let day = &digest.windows["1d"];
        assert_eq!(day.sessions, 2);
        assert_eq!(day.transitions["a"]["b"], 1);
        assert_eq!(day.transitions["c"]["a"], 1);
        assert!(
            !day.transitions.contains_key("b"),
            "no edge across sessions"
        );
        assert_eq!((day.types["a"].entries, day.types["c"].entries), (1, 1));
        assert_eq!((day.types["b"].exits, day.types["a"].exits), (1, 1));
        assert_eq!(day.types["a"].events, 2);
        assert_eq!(day.types["a"].persons, 1);
        assert_eq!(day.paths[r#"["a","b"]"#], 1);
        assert_eq!(day.paths[r#"["c","a"]"#], 1);
    }

    #[test]
    fn a_single_event_is_its_own_entry_and_exit() {
        let digest = fold(&[(5, "only")], &[], at(10));
        let tally = &digest.windows["1d"];
        assert_eq!((tally.sessions, tally.events, tally.persons), (1, 1, 1));
        assert_eq!(
            tally.types["only"],
            TypeTally {
                events: 1,
                persons: 1,
                entries: 1,
                exits: 1
            }
        );
        assert!(tally.transitions.is_empty());
    }

    #[test]
    fn digests_hold_until_the_first_event_leaves_a_window() {
        let now = at(3 * 24 * 60);
        let digest = fold(&[(0, "old"), (3 * 24 * 60 - 5, "new")], &[], now);
        assert_eq!(digest.windows["1d"].events, 1);
        assert_eq!(digest.windows["7d"].events, 2);
        // "new" leaves the 1d window a day after it happened; "old" leaves 7d later.
        assert_eq!(digest.valid_until, Some(at(4 * 24 * 60 - 5)));
        let future = fold(&[(0, "a"), (3 * 24 * 60 + 1, "later")], &[], now);
        assert_eq!(
            future.valid_until,
            Some(at(3 * 24 * 60 + 1)),
            "a future event enters later"
        );
    }

    #[test]
    fn funnels_match_greedily_within_the_time_limit() {
        let f = funnel(&["view", "cart", "buy"], 600);
        let digest = fold(
            &[(0, "view"), (2, "view"), (5, "cart"), (11, "buy")],
            std::slice::from_ref(&f),
            at(60),
        );
        let tally = &digest.windows["1d"].funnels["f"];
        assert_eq!(
            tally.reached,
            vec![1, 1, 0],
            "buy came 11 minutes after the first view"
        );
        assert_eq!(tally.step_ms[0], BTreeMap::from([(300_000, 1)]));
        let done = fold(&[(0, "view"), (5, "cart"), (9, "buy")], &[f], at(60));
        assert_eq!(done.windows["1d"].funnels["f"].reached, vec![1, 1, 1]);
    }

    #[test]
    fn tallies_add_and_report() {
        let f = funnel(&["a", "b"], 3600);
        let one = fold(&[(0, "a"), (1, "b")], std::slice::from_ref(&f), at(60));
        let two = fold(
            &[(0, "a"), (3, "b"), (200, "a")],
            std::slice::from_ref(&f),
            at(300),
        );
        let mut sum = Tally::default();
        sum.add(&one.windows["1d"]);
        sum.add(&two.windows["1d"]);
        let settings = AnalyticsSettings::default();
        let bounds = &windows_at(&settings, at(300))[0];
        let report = sum.report(bounds, &settings, &[f], at(300));
        assert_eq!((report.persons, report.sessions, report.events), (2, 3, 5));
        assert_eq!(
            report.transitions,
            vec![Transition {
                from: "a".into(),
                to: "b".into(),
                count: 2
            }]
        );
        let a = report.event_types.iter().find(|t| t.ty == "a").unwrap();
        assert_eq!((a.events, a.persons, a.exits), (3, 2, 1));
        assert_eq!(report.valleys_of_doom[0].ty, "b");
        assert_eq!(report.funnels[0].steps[1].persons, 2);
        assert_eq!(
            report.funnels[0].steps[1].median_ms_from_previous,
            Some(60_000)
        );
        assert_eq!(
            report.top_paths[0],
            PathReport {
                steps: vec!["a".into(), "b".into()],
                sessions: 2
            }
        );
    }

    #[test]
    fn lower_median_of_a_multiset() {
        assert_eq!(lower_median(&BTreeMap::new()), None);
        assert_eq!(lower_median(&BTreeMap::from([(5, 1)])), Some(5));
        assert_eq!(lower_median(&BTreeMap::from([(1, 1), (9, 1)])), Some(1));
        assert_eq!(
            lower_median(&BTreeMap::from([(1, 1), (4, 2), (9, 1)])),
            Some(4)
        );
    }

    #[test]
    fn settings_and_funnels_are_validated() {
        let bad = AnalyticsSettings {
            windows: vec!["7d".into(), "7d".into(), "2w".into()],
            session_gap_seconds: 1,
            top_paths: 0,
            path_steps: 11,
        };
        let codes: Vec<_> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|p| p.code)
            .collect();
        assert_eq!(
            codes,
            [
                "duplicate_window",
                "invalid_window",
                "invalid_gap",
                "invalid_top_paths",
                "invalid_path_steps"
            ]
        );
        let funnel = FunnelDefinition {
            name: " ".into(),
            steps: vec!["a".into()],
            within_seconds: 0,
        };
        let codes: Vec<_> = funnel
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|p| p.code)
            .collect();
        assert_eq!(codes, ["invalid_name", "step_count", "invalid_time_limit"]);
        assert!(AnalyticsSettings::default().validate().is_ok());
    }
}
