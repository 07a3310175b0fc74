//! What the API serves: a tenant's sum over one window, as a report.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{AnalyticsSettings, Funnel, FunnelTally, Tally, TypeTally, WindowBounds, VALLEYS};

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
