//! Orchestration rules: conditions over the incoming event, the person's recent
//! events and their profile, and the actions a match triggers.
//!
//! ```json
//! {"name": "pricing hesitation", "cooldown_seconds": 3600,
//!  "when": {"all": [
//!     {"event": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}},
//!     {"count": {"of": {"type": "page.viewed"}, "at_least": 3, "within": "10m"}},
//!     {"not": {"profile": {"view": "view-…", "attribute": "orders", "op": "gt", "value": 0}}}]},
//!  "actions": [{"type": "webhook", "url": "https://bots.example.com/hook"}]}
//! ```
//!
//! An `absence` condition ("added to cart and no purchase within 30m") makes the rule
//! wait: its `after` event starts a timer, and when the timer is due the rule holds if
//! no `missing` event came in between and the rest of its conditions hold for the
//! `after` event. Absence may appear once, at the top or directly under a top `all`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use crate::problem::FieldProblem;
use crate::target::{Refusal, TargetPolicy};
use crate::view::{holds, parse_window, CompiledFilter, EventFilter, Found, Op};

pub const MAX_ACTIONS: usize = 10;
pub const MAX_NODES: usize = 32;
pub const MAX_DEPTH: usize = 8;
pub const MAX_LOOKBACK_DAYS: i64 = 30;
pub const MAX_COOLDOWN_SECONDS: u64 = 90 * 86_400;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConditionSpec {
    All(Vec<ConditionSpec>),
    Any(Vec<ConditionSpec>),
    Not(Box<ConditionSpec>),
    /// The incoming event matches.
    Event(EventFilter),
    /// At least `at_least` of the person's events match within `within` before (and
    /// including) the incoming event.
    Count(CountSpec),
    /// An `after` event and no `missing` event within `within` of it.
    Absence(AbsenceSpec),
    /// An attribute of the person's profile, folded with a stored view.
    Profile(ProfileSpec),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountSpec {
    pub of: EventFilter,
    pub at_least: u32,
    pub within: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsenceSpec {
    pub after: EventFilter,
    pub missing: EventFilter,
    pub within: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    pub view: String,
    pub attribute: String,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// What a match does. Every action is published on the CJaaS bus; `webhook`,
/// `recommendation` and `enrichment` are also carried out by CJaaS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionSpec {
    /// A signed POST to the tenant's endpoint.
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
    /// A next-best-action suggestion, appended to the person's Tape as an event.
    Recommendation {
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
    /// The tenant's endpoint receives the event and may return fields, appended as a
    /// separate event.
    Enrichment { url: String },
    /// Only published, for the tenant's own consumers (a bot, a survey, an offer, a
    /// hand-off to a human…).
    Publish {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDefinition {
    pub name: String,
    #[serde(default = "active")]
    pub active: bool,
    pub when: ConditionSpec,
    #[serde(default)]
    pub cooldown_seconds: u64,
    pub actions: Vec<ActionSpec>,
}

fn active() -> bool {
    true
}

// ------------------------------------------------------------------ compiled

#[derive(Debug, Clone)]
enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Event(CompiledFilter),
    Count {
        of: CompiledFilter,
        at_least: u32,
        within: Duration,
    },
    Profile {
        view: String,
        attribute: String,
        op: Op,
        value: Value,
    },
    /// Where the absence stood: true when the timer is evaluated.
    Absence,
}

#[derive(Debug, Clone)]
pub struct Absence {
    pub after: CompiledFilter,
    pub missing: CompiledFilter,
    pub within: Duration,
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    cond: Cond,
    pub absence: Option<Absence>,
    pub cooldown: Duration,
    /// How far back the person's events must be read: the longest count window.
    pub lookback: Duration,
    /// The stored views whose profiles the conditions read.
    pub views: BTreeSet<String>,
}

/// One of the person's events, as the evaluation sees it.
#[derive(Debug, Clone)]
pub struct Seen<'a> {
    pub time: DateTime<Utc>,
    pub event: &'a Value,
}

/// What a rule is evaluated against.
pub struct Facts<'a> {
    /// The triggering event and its time.
    pub event: &'a Value,
    pub time: DateTime<Utc>,
    /// The person's events up to and including the triggering one, in time order.
    pub history: &'a [Seen<'a>],
    /// view id → the profile's attributes.
    pub profiles: &'a BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Nothing,
    Fire,
    /// An absence rule's `after` event: evaluate again when the timer is due.
    WaitUntil(DateTime<Utc>),
}

struct Compiler {
    problems: Vec<FieldProblem>,
    nodes: usize,
    absences: usize,
    lookback: Duration,
    views: BTreeSet<String>,
    absence: Option<Absence>,
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
        compiled
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
                Cond::Event(self.filter(&format!("{field}/event"), filter))
            }
            ConditionSpec::Count(count) => {
                let field = format!("{field}/count");
                if count.at_least == 0 {
                    self.problem(&field, "invalid_count", "at_least is 1 or more");
                }
                let within = self.window(&format!("{field}/within"), &count.within);
                self.lookback = self.lookback.max(within);
                Cond::Count {
                    of: self.filter(&format!("{field}/of"), &count.of),
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
            lookback: c.lookback.max(absence_window),
            absence: c.absence,
            cooldown: Duration::seconds(self.cooldown_seconds as i64),
            views: c.views,
        })
    }
}

impl Cond {
    fn holds(&self, facts: &Facts<'_>) -> bool {
        match self {
            Cond::All(items) => items.iter().all(|c| c.holds(facts)),
            Cond::Any(items) => items.iter().any(|c| c.holds(facts)),
            Cond::Not(inner) => !inner.holds(facts),
            Cond::Event(filter) => filter.matches(facts.event),
            Cond::Count {
                of,
                at_least,
                within,
            } => {
                let since = facts.time - *within;
                let n = facts
                    .history
                    .iter()
                    .filter(|s| s.time > since && s.time <= facts.time && of.matches(s.event))
                    .count();
                n >= *at_least as usize
            }
            Cond::Profile {
                view,
                attribute,
                op,
                value,
            } => {
                let actual = facts.profiles.get(view).and_then(|p| p.get(attribute));
                holds(actual.filter(|v| !v.is_null()), *op, value)
            }
            Cond::Absence => true,
        }
    }
}

impl CompiledRule {
    /// On an incoming event.
    pub fn on_event(&self, facts: &Facts<'_>) -> Verdict {
        match &self.absence {
            Some(absence) if absence.after.matches(facts.event) => {
                Verdict::WaitUntil(facts.time + absence.within)
            }
            Some(_) => Verdict::Nothing,
            None if self.cond.holds(facts) => Verdict::Fire,
            None => Verdict::Nothing,
        }
    }

    /// When an absence timer is due: `facts` describe the `after` event, and `history`
    /// must reach until the timer's due time.
    pub fn on_timer(&self, facts: &Facts<'_>) -> bool {
        let Some(absence) = &self.absence else {
            return false;
        };
        let until = facts.time + absence.within;
        let missing_came = facts
            .history
            .iter()
            .any(|s| s.time > facts.time && s.time <= until && absence.missing.matches(s.event));
        !missing_came && self.cond.holds(facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minute)
    }

    fn rule(when: Value) -> CompiledRule {
        let definition: RuleDefinition = serde_json::from_value(json!({
            "name": "r", "when": when, "actions": [{"type": "publish", "name": "offer"}]
        }))
        .unwrap();
        definition.compile().unwrap()
    }

    fn page(path: &str) -> Value {
        json!({"type": "page.viewed", "data": {"path": path}})
    }

    /// (name, rule, history as (minute, event), profiles, verdict for the last event)
    type Case = (&'static str, Value, Vec<(i64, Value)>, Value, Verdict);

    #[test]
    fn rules_evaluate_as_their_table_says() {
        let pricing = json!({"event": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}});
        let three = json!({"count": {"of": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}, "at_least": 3, "within": "10m"}});
        let no_orders = json!({"not": {"profile": {"view": "view-v", "attribute": "orders", "op": "gt", "value": 0}}});
        let vip =
            json!({"profile": {"view": "view-v", "attribute": "tier", "op": "eq", "value": "vip"}});
        let cases: Vec<Case> = vec![
            (
                "event matches",
                pricing.clone(),
                vec![(0, page("/pricing"))],
                json!({}),
                Verdict::Fire,
            ),
            (
                "event does not",
                pricing.clone(),
                vec![(0, page("/home"))],
                json!({}),
                Verdict::Nothing,
            ),
            (
                "3 in 10m",
                three.clone(),
                vec![
                    (0, page("/pricing")),
                    (4, page("/pricing")),
                    (9, page("/pricing")),
                ],
                json!({}),
                Verdict::Fire,
            ),
            (
                "2 in 10m",
                three.clone(),
                vec![(0, page("/pricing")), (9, page("/pricing"))],
                json!({}),
                Verdict::Nothing,
            ),
            (
                "3 but over 10m",
                three.clone(),
                vec![
                    (0, page("/pricing")),
                    (5, page("/pricing")),
                    (10, page("/pricing")),
                ],
                json!({}),
                Verdict::Nothing,
            ),
            (
                "later events do not count",
                three.clone(),
                vec![
                    (0, page("/pricing")),
                    (1, page("/pricing")),
                    (2, page("/home")),
                ],
                json!({}),
                Verdict::Nothing,
            ),
            (
                "and + not profile",
                json!({"all": [pricing.clone(), no_orders.clone()]}),
                vec![(0, page("/pricing"))],
                json!({"view-v": {"orders": 0}}),
                Verdict::Fire,
            ),
            (
                "and fails on profile",
                json!({"all": [pricing.clone(), no_orders.clone()]}),
                vec![(0, page("/pricing"))],
                json!({"view-v": {"orders": 2}}),
                Verdict::Nothing,
            ),
            (
                "missing attribute is not > 0",
                json!({"all": [pricing.clone(), no_orders]}),
                vec![(0, page("/pricing"))],
                json!({}),
                Verdict::Fire,
            ),
            (
                "or",
                json!({"any": [vip.clone(), pricing.clone()]}),
                vec![(0, page("/home"))],
                json!({"view-v": {"tier": "vip"}}),
                Verdict::Fire,
            ),
            (
                "or, neither",
                json!({"any": [vip, pricing]}),
                vec![(0, page("/home"))],
                json!({"view-v": {"tier": "basic"}}),
                Verdict::Nothing,
            ),
            (
                "absence starts a timer",
                json!({"absence": {"after": {"type": "cart.added"}, "missing": {"type": "order.paid"}, "within": "30m"}}),
                vec![(0, json!({"type": "cart.added"}))],
                json!({}),
                Verdict::WaitUntil(at(30)),
            ),
            (
                "absence ignores others",
                json!({"absence": {"after": {"type": "cart.added"}, "missing": {"type": "order.paid"}, "within": "30m"}}),
                vec![(0, json!({"type": "page.viewed"}))],
                json!({}),
                Verdict::Nothing,
            ),
        ];
        for (name, when, history, profiles, expected) in cases {
            let rule = rule(when);
            let seen: Vec<Seen> = history
                .iter()
                .map(|(m, e)| Seen {
                    time: at(*m),
                    event: e,
                })
                .collect();
            let last = seen.last().unwrap();
            let profiles: BTreeMap<String, Value> = serde_json::from_value(profiles).unwrap();
            let facts = Facts {
                event: last.event,
                time: last.time,
                history: &seen,
                profiles: &profiles,
            };
            assert_eq!(rule.on_event(&facts), expected, "{name}");
        }
    }

    #[test]
    fn absence_holds_only_if_nothing_came_in_time() {
        let rule = rule(json!({"all": [
            {"absence": {"after": {"type": "cart.added"}, "missing": {"type": "order.paid"}, "within": "30m"}},
            {"not": {"event": {"where": {"field": "/data/total", "op": "lt", "value": 10}}}}
        ]}));
        let cart = json!({"type": "cart.added", "data": {"total": 50}});
        let cheap = json!({"type": "cart.added", "data": {"total": 5}});
        let paid = json!({"type": "order.paid"});
        let cases = [
            ("no purchase", vec![(0, &cart)], &cart, true),
            (
                "purchase in time",
                vec![(0, &cart), (29, &paid)],
                &cart,
                false,
            ),
            (
                "purchase too late",
                vec![(0, &cart), (31, &paid)],
                &cart,
                true,
            ),
            (
                "purchase before the cart does not count",
                vec![(-5, &paid), (0, &cart)],
                &cart,
                true,
            ),
            (
                "other conditions still apply",
                vec![(0, &cheap)],
                &cheap,
                false,
            ),
        ];
        let profiles = BTreeMap::new();
        for (name, history, after, expected) in cases {
            let seen: Vec<Seen> = history
                .iter()
                .map(|(m, e)| Seen {
                    time: at(*m),
                    event: e,
                })
                .collect();
            let facts = Facts {
                event: after,
                time: at(0),
                history: &seen,
                profiles: &profiles,
            };
            assert_eq!(rule.on_timer(&facts), expected, "{name}");
        }
    }

    #[test]
    fn invalid_rules_name_every_reason() {
        let definition: RuleDefinition = serde_json::from_value(json!({
            "name": "",
            "cooldown_seconds": 999_999_999,
            "when": {"any": [
                {"absence": {"after": {"type": "a"}, "missing": {"type": "b"}, "within": "90d"}},
                {"count": {"of": {"where": {"field": "data", "op": "eq", "value": 1}}, "at_least": 0, "within": "10m"}},
                {"profile": {"view": "View!", "attribute": "x", "op": "near", "value": 1}},
                {"all": []}
            ]},
            "actions": [{"type": "webhook", "url": "ftp://x"}]
        }))
        .unwrap();
        let problems = definition.compile().unwrap_err();
        let got: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.code))
            .collect();
        assert_eq!(
            got,
            [
                ("name", "invalid_name"),
                ("when/any/0/absence", "misplaced_absence"),
                ("when/any/0/absence/within", "invalid_window"),
                ("when/any/1/count", "invalid_count"),
                ("when/any/1/count/of", "invalid_pointer"),
                ("when/any/2/profile", "invalid_view"),
                ("when/any/2/profile", "unknown_operator"),
                ("when/any/3", "empty_group"),
                ("cooldown_seconds", "invalid_cooldown"),
                ("actions/0/url", "invalid_url"),
            ]
        );
        let unknown = json!({"name": "r", "when": {"sometimes": {}}, "actions": []});
        assert!(serde_json::from_value::<RuleDefinition>(unknown).is_err());
    }

    #[test]
    fn private_and_metadata_targets_are_named_by_field() {
        let definition: RuleDefinition = serde_json::from_value(json!({
            "name": "r", "when": {"event": {"type": "a"}},
            "actions": [
                {"type": "webhook", "url": "https://hooks.example.com/a"},
                {"type": "webhook", "url": "http://127.0.0.1:8080/hook"},
                {"type": "enrichment", "url": "http://169.254.169.254/latest/meta-data/"},
                {"type": "webhook", "url": "http://localhost/"},
                {"type": "enrichment", "url": "http://[::ffff:10.0.0.1]/"},
                {"type": "publish", "name": "x"}
            ]
        }))
        .unwrap();
        assert!(definition.compile().is_ok(), "the form is valid");
        let fields = |policy: &TargetPolicy| -> Vec<(String, &str)> {
            definition
                .target_problems(policy)
                .into_iter()
                .map(|p| (p.field, p.code))
                .collect()
        };
        assert_eq!(
            fields(&TargetPolicy::public_only()),
            [
                ("actions/1/url".to_owned(), "forbidden_target"),
                ("actions/2/url".to_owned(), "forbidden_target"),
                ("actions/3/url".to_owned(), "forbidden_target"),
                ("actions/4/url".to_owned(), "forbidden_target"),
            ]
        );
        assert_eq!(
            fields(&TargetPolicy::allowing_private()),
            [("actions/2/url".to_owned(), "forbidden_target")],
            "the metadata address stays refused"
        );
    }

    #[test]
    fn a_rule_knows_what_it_reads() {
        let rule = rule(json!({"all": [
            {"count": {"of": {"type": "a"}, "at_least": 2, "within": "2h"}},
            {"profile": {"view": "view-one", "attribute": "x", "op": "exists"}},
            {"absence": {"after": {"type": "a"}, "missing": {"type": "b"}, "within": "3h"}}
        ]}));
        assert_eq!(rule.lookback, Duration::hours(3));
        assert_eq!(rule.views, BTreeSet::from(["view-one".to_owned()]));
    }
}

/// Where orchestration keeps its documents (all under the tenant):
///
/// | document          | `pk`                       | `sk`                                  |
/// |-------------------|----------------------------|---------------------------------------|
/// | rule              | `T#{tenant}#RULES`         | `{rule id}`                           |
/// | fired (replays)   | `T#{tenant}#RFIRED#{rule}` | `{event hash}`                        |
/// | cooldown          | `T#{tenant}#RCOOL#{rule}`  | `{person}`                            |
/// | absence timer     | `T#{tenant}#RTIMERS`       | `{due time}#{rule}#{event hash}`      |
/// | webhook secret    | `T#{tenant}#RULES`         | `~SECRET` (sorts after every rule id) |
/// | rule count (AWS)  | `T#{tenant}#RULES#COUNT`   | `rule-` (see `ports::Limit`)          |
pub mod keys {
    use crate::ids::TenantId;

    pub fn rules(tenant: &TenantId) -> String {
        format!("T#{tenant}#RULES")
    }
    pub const WEBHOOK_SECRET: &str = "~SECRET";
    pub fn fired(tenant: &TenantId, rule: &str) -> String {
        format!("T#{tenant}#RFIRED#{rule}")
    }
    pub fn cooldowns(tenant: &TenantId, rule: &str) -> String {
        format!("T#{tenant}#RCOOL#{rule}")
    }
    pub fn timers(tenant: &TenantId) -> String {
        format!("T#{tenant}#RTIMERS")
    }
    pub fn timer(due: chrono::DateTime<chrono::Utc>, rule: &str, event_hash: &str) -> String {
        format!("{}#{rule}#{event_hash}", crate::tape::time_key(due))
    }
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRule {
    pub id: String,
    #[serde(flatten)]
    pub definition: RuleDefinition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every rule id starts with this (the tenant's rule limit counts them).
pub const RULE_ID_PREFIX: &str = "rule-";

pub fn new_rule_id() -> String {
    crate::resource_id::ResourceKind::Rule.new_id()
}
