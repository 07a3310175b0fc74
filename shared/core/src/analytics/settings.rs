//! A tenant's analytics settings and funnels, and their validation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

use crate::resource_id::{self, ResourceKind};

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
