//! Audiences: a condition in the rules' language (counts within windows, their
//! absence as `not count`, and profile attributes of stored views) that holds for a
//! person at a given time. Membership is the condition's value now; it changes when
//! an event lands, when an alias group changes, and when time lets an event slide
//! out of a window ([`Evaluation::next_check`]).
//!
//! ```json
//! {"name": "pricing hesitators",
//!  "when": {"all": [
//!     {"count": {"of": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}},
//!                "at_least": 3, "within": "7d"}},
//!     {"profile": {"view": "view-…", "attribute": "ltv", "op": "lt", "value": 100}}]}}
//! ```
//!
//! The condition is compiled by the rules' own compiler ([`RuleDefinition::compile`])
//! and evaluated by [`CompiledRule::on_event`] at the evaluation time: nothing of the
//! condition language is written twice. An audience has no triggering event, so the
//! `event` and `absence` conditions are refused (`not_for_audiences`).

mod evaluate;
pub mod keys;

pub use evaluate::{Evaluation, Seen};
pub use keys::{change_id, fires_rules, is_audience_event, source, ENTERED, EXITED};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::filter::CompiledFilter;
use crate::problem::FieldProblem;
use crate::rules::{ActionSpec, CompiledRule, ConditionSpec, RuleDefinition};
use crate::view::parse_window;

/// Every audience id starts with this (the tenant's audience limit counts them).
pub const AUDIENCE_ID_PREFIX: &str = "audience-";
/// Audiences per tenant.
pub const MAX_AUDIENCES: usize = 50;

pub fn new_audience_id() -> String {
    crate::resource_id::new_id("audience")
}

/// What a tenant writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceDefinition {
    pub name: String,
    pub when: ConditionSpec,
}

/// A stored audience: its latest version (the head) or an archived one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAudience {
    pub id: String,
    pub version: u32,
    #[serde(flatten)]
    pub definition: AudienceDefinition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An audience ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledAudience {
    rule: CompiledRule,
    /// Every `count`'s filter and window: what can change with time alone.
    windows: Vec<(CompiledFilter, Duration)>,
    /// How far back a person's events must be read: the longest window.
    pub lookback: Duration,
    /// The stored views whose profiles the condition reads.
    pub views: BTreeSet<String>,
}

impl AudienceDefinition {
    /// Validates with the rules' compiler, plus what audiences refuse.
    pub fn compile(&self) -> Result<CompiledAudience, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut windows = Vec::new();
        walk(&self.when, "when", &mut problems, &mut windows);
        let as_rule = RuleDefinition {
            name: self.name.clone(),
            active: true,
            when: self.when.clone(),
            cooldown_seconds: 0,
            caps: Vec::new(),
            actions: vec![ActionSpec::Publish {
                name: "audience".into(),
                payload: None,
            }],
        };
        let rule = match as_rule.compile() {
            Ok(rule) => rule,
            Err(found) => {
                problems.extend(found);
                return Err(problems);
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(CompiledAudience {
            lookback: rule.lookback,
            views: rule.views.clone(),
            rule,
            windows,
        })
    }
}

/// Refuses the conditions that need a triggering event, and collects the windows.
fn walk(
    spec: &ConditionSpec,
    field: &str,
    problems: &mut Vec<FieldProblem>,
    windows: &mut Vec<(CompiledFilter, Duration)>,
) {
    let refuse = |problems: &mut Vec<FieldProblem>, what: &str, detail: &str| {
        problems.push(FieldProblem {
            field: format!("{field}/{what}"),
            code: "not_for_audiences",
            detail: detail.to_owned(),
        })
    };
    match spec {
        ConditionSpec::All(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{field}/all/{i}"), problems, windows);
            }
        }
        ConditionSpec::Any(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{field}/any/{i}"), problems, windows);
            }
        }
        ConditionSpec::Not(inner) => walk(inner, &format!("{field}/not"), problems, windows),
        ConditionSpec::Event(_) => refuse(
            problems,
            "event",
            "an audience has no incoming event: use count (e.g. at_least 1 within 30d)",
        ),
        ConditionSpec::Absence(_) => refuse(
            problems,
            "absence",
            "write an absence as not count (e.g. no order.paid within 30d)",
        ),
        ConditionSpec::Count(count) => {
            let mut found = Vec::new();
            let filter = count.of.compile(&mut found);
            if let Some(window) = parse_window(&count.within) {
                windows.push((filter, window));
            }
        }
        ConditionSpec::Profile(_) => {}
    }
}
