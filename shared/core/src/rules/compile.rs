//! Validation and compilation of a [`RuleDefinition`]: every problem named by its field
//! path, and each distinct filter kept once.

use chrono::Duration;
use serde_json::Value;
use std::collections::BTreeSet;

use super::eval::{Absence, CompiledRule, Cond};
use super::filters::Filters;
use super::spec::{ActionSpec, ConditionSpec, RuleDefinition};
use super::{MAX_ACTIONS, MAX_COOLDOWN_SECONDS, MAX_DEPTH, MAX_LOOKBACK_DAYS, MAX_NODES};
use crate::problem::FieldProblem;
use crate::target::{Refusal, TargetPolicy};
use crate::view::{parse_window, CompiledFilter, EventFilter, Found, Op};

struct Compiler {
    problems: Vec<FieldProblem>,
    nodes: usize,
    absences: usize,
    lookback: Duration,
    views: BTreeSet<String>,
    absence: Option<Absence>,
    filters: Filters,
    reads_fields: bool,
}

impl Compiler {
    fn problem(&mut self, field: &str, code: &'static str, detail: impl Into<String>) {
        self.problems.push(FieldProblem {
            field: field.to_owned(),
            code,
            detail: detail.into(),
        });
    }

    fn found(&mut self, field: &str, found: Found) {
        for (code, detail) in found {
            self.problem(field, code, detail);
        }
    }

    fn filter(&mut self, field: &str, filter: &EventFilter) -> CompiledFilter {
        let mut found = Found::new();
        let compiled = filter.compile(&mut found);
        self.found(field, found);
        self.reads_fields |= compiled.condition.is_some();
        compiled
    }

    /// The id of the filter, kept once however many conditions use it.
    fn filter_id(&mut self, field: &str, filter: &EventFilter) -> usize {
        let compiled = self.filter(field, filter);
        self.filters.intern(&compiled)
    }

    fn window(&mut self, field: &str, raw: &str) -> Duration {
        match parse_window(raw).filter(|w| *w <= Duration::days(MAX_LOOKBACK_DAYS)) {
            Some(window) => window,
            None => {
                self.problem(
                    field,
                    "invalid_window",
                    format!(
                        "{raw:?} is not a window like 10m, 2h or 7d (at most {MAX_LOOKBACK_DAYS}d)"
                    ),
                );
                Duration::zero()
            }
        }
    }

    /// `top`: directly at the top, or in the top `all` (where an absence may stand).
    fn condition(&mut self, spec: &ConditionSpec, field: &str, depth: usize, top: bool) -> Cond {
        self.nodes += 1;
        if depth > MAX_DEPTH {
            self.problem(
                field,
                "too_deep",
                format!("conditions nest at most {MAX_DEPTH} deep"),
            );
            return Cond::All(Vec::new());
        }
        match spec {
            ConditionSpec::All(items) | ConditionSpec::Any(items) if items.is_empty() => {
                self.problem(
                    field,
                    "empty_group",
                    "all and any need at least one condition",
                );
                Cond::All(Vec::new())
            }
            ConditionSpec::All(items) => Cond::All(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        self.condition(c, &format!("{field}/all/{i}"), depth + 1, top && depth == 0)
                    })
                    .collect(),
            ),
            ConditionSpec::Any(items) => Cond::Any(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.condition(c, &format!("{field}/any/{i}"), depth + 1, false))
                    .collect(),
            ),
            ConditionSpec::Not(inner) => Cond::Not(Box::new(self.condition(
                inner,
                &format!("{field}/not"),
                depth + 1,
                false,
            ))),
            ConditionSpec::Event(filter) => {
                Cond::Event(self.filter_id(&format!("{field}/event"), filter))
            }
            ConditionSpec::Count(count) => {
                let field = format!("{field}/count");
                if count.at_least == 0 {
                    self.problem(&field, "invalid_count", "at_least is 1 or more");
                }
                let within = self.window(&format!("{field}/within"), &count.within);
                self.lookback = self.lookback.max(within);
                let of = self.filter_id(&format!("{field}/of"), &count.of);
                self.filters.widen(of, within);
                Cond::Count {
                    of,
                    at_least: count.at_least,
                    within,
                }
            }
            ConditionSpec::Absence(absence) => {
                let field = format!("{field}/absence");
                self.absences += 1;
                if !top {
                    self.problem(&field, "misplaced_absence", "an absence stands at the top, or directly in the top all (not under any or not)");
                }
                let compiled = Absence {
                    after: self.filter(&format!("{field}/after"), &absence.after),
                    missing: self.filter(&format!("{field}/missing"), &absence.missing),
                    within: self.window(&format!("{field}/within"), &absence.within),
                };
                self.absence = Some(compiled);
                Cond::Absence
            }
            ConditionSpec::Profile(profile) => {
                let field = format!("{field}/profile");
                if !crate::profile::valid_view_id(&profile.view) {
                    self.problem(
                        &field,
                        "invalid_view",
                        format!("{:?} is not a view id", profile.view),
                    );
                }
                let op = Op::parse(&profile.op).unwrap_or_else(|| {
                    self.problem(
                        &field,
                        "unknown_operator",
                        format!(
                            "{:?} is not one of: eq, ne, gt, gte, lt, lte, in, contains, exists",
                            profile.op
                        ),
                    );
                    Op::Exists
                });
                let value = profile.value.clone().unwrap_or(Value::Null);
                if (op == Op::In && !value.is_array())
                    || (op != Op::Exists && op != Op::In && value.is_null())
                {
                    self.problem(
                        &field,
                        "invalid_condition",
                        format!("operator {} needs a value", profile.op),
                    );
                }
                self.views.insert(profile.view.clone());
                Cond::Profile {
                    view: profile.view.clone(),
                    attribute: profile.attribute.clone(),
                    op,
                    value,
                }
            }
        }
    }
}

fn valid_url(url: &str) -> bool {
    crate::target::parse(url).is_ok()
}

impl RuleDefinition {
    /// The action URLs `policy` refuses (`forbidden_target`), checked when a rule is
    /// stored; URLs that are not valid at all are [`RuleDefinition::compile`]'s.
    pub fn target_problems(&self, policy: &TargetPolicy) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        for (i, action) in self.actions.iter().enumerate() {
            if let ActionSpec::Webhook { url, .. } | ActionSpec::Enrichment { url } = action {
                if let Err(refusal @ Refusal::Forbidden(_)) = policy.check_url(url) {
                    problems.push(FieldProblem {
                        field: format!("actions/{i}/url"),
                        code: refusal.code(),
                        detail: refusal.to_string(),
                    });
                }
            }
        }
        problems
    }

    pub fn compile(&self) -> Result<CompiledRule, Vec<FieldProblem>> {
        let mut c = Compiler {
            problems: Vec::new(),
            nodes: 0,
            absences: 0,
            lookback: Duration::zero(),
            views: BTreeSet::new(),
            absence: None,
            filters: Filters::default(),
            reads_fields: false,
        };
        if self.name.trim().is_empty()
            || self.name.len() > 200
            || self.name.chars().any(char::is_control)
        {
            c.problem(
                "name",
                "invalid_name",
                "the name is 1 to 200 printable characters",
            );
        }
        let cond = c.condition(&self.when, "when", 0, true);
        if c.nodes > MAX_NODES {
            c.problem(
                "when",
                "too_many_conditions",
                format!("a rule has at most {MAX_NODES} conditions"),
            );
        }
        if c.absences > 1 {
            c.problem(
                "when",
                "too_many_absences",
                "a rule has at most one absence",
            );
        }
        if self.cooldown_seconds > MAX_COOLDOWN_SECONDS {
            c.problem(
                "cooldown_seconds",
                "invalid_cooldown",
                format!("the cooldown is 0 to {MAX_COOLDOWN_SECONDS} seconds"),
            );
        }
        let caps = super::caps::compile_caps(&self.caps, "caps", true, &mut c.problems);
        if self.actions.is_empty() || self.actions.len() > MAX_ACTIONS {
            c.problem(
                "actions",
                "action_count",
                format!("a rule has 1 to {MAX_ACTIONS} actions"),
            );
        }
        for (i, action) in self.actions.iter().enumerate() {
            let field = format!("actions/{i}");
            match action {
                ActionSpec::Webhook { url, .. } | ActionSpec::Enrichment { url }
                    if !valid_url(url) =>
                {
                    c.problem(
                        &format!("{field}/url"),
                        "invalid_url",
                        "an http(s) URL of at most 2048 characters",
                    );
                }
                ActionSpec::Recommendation { action: name, .. }
                | ActionSpec::Publish { name, .. }
                    if name.trim().is_empty() || name.len() > 200 =>
                {
                    c.problem(
                        &field,
                        "invalid_action_name",
                        "a name of 1 to 200 characters",
                    );
                }
                _ => {}
            }
        }
        if !c.problems.is_empty() {
            return Err(c.problems);
        }
        // An absence timer reads the events up to its due time.
        let absence_window = c.absence.as_ref().map_or(Duration::zero(), |a| a.within);
        Ok(CompiledRule {
            cond,
            filters: c.filters,
            reads_fields: c.reads_fields,
            caps,
            lookback: c.lookback.max(absence_window),
            absence: c.absence,
            cooldown: Duration::seconds(self.cooldown_seconds as i64),
            views: c.views,
        })
    }
}
