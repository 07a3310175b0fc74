//! Views: a tenant's definition of a profile, as named attributes folded from a
//! person's Tape. A view is validated and compiled once; an invalid one is refused with
//! every problem named, and never stored.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) use crate::filter::{check_pointer, holds, Found};
pub use crate::filter::{CompiledFilter, Condition, EventFilter, OneOrMany, Op};

pub const MAX_ATTRIBUTES: usize = 100;
pub const MAX_EXPRESSION_BYTES: usize = 2048;
pub const MAX_LIST_LIMIT: usize = 100;
pub const DEFAULT_LIST_LIMIT: usize = 10;
const MAX_NAME_BYTES: usize = 64;
const MAX_WINDOW_DAYS: i64 = crate::window::VIEW_WINDOWS.max_days;

/// A view as tenants write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub attributes: Vec<AttributeDefinition>,
}

/// One attribute: an aggregation over matching events, or a CEL expression over other
/// attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventFilter>,
    /// A JSON pointer into the CloudEvent, e.g. `/data/total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<String>,
    /// For `distinct` and `last_n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Lookback, e.g. `90m`, `24h`, `30d`. None: the whole Tape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// A CEL expression over other attributes, instead of an aggregation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// What is wrong with a view, attribute by attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViewProblem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    pub code: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregation {
    Latest,
    First,
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Distinct(usize),
    LastN(usize),
    Exists,
    FirstSeen,
    LastSeen,
}

impl Aggregation {
    const NAMES: &'static str =
        "latest, first, count, sum, min, max, avg, distinct, last_n, exists, first_seen, last_seen";

    fn parse(name: &str, limit: usize) -> Option<Self> {
        Some(match name {
            "latest" => Self::Latest,
            "first" => Self::First,
            "count" => Self::Count,
            "sum" => Self::Sum,
            "min" => Self::Min,
            "max" => Self::Max,
            "avg" => Self::Avg,
            "distinct" => Self::Distinct(limit),
            "last_n" => Self::LastN(limit),
            "exists" => Self::Exists,
            "first_seen" => Self::FirstSeen,
            "last_seen" => Self::LastSeen,
            _ => return None,
        })
    }

    /// Whether the aggregation reads a field's value (others only count events).
    fn needs_field(self) -> bool {
        !matches!(
            self,
            Self::Count | Self::Exists | Self::FirstSeen | Self::LastSeen
        )
    }
}

/// An aggregation attribute, compiled.
#[derive(Debug, Clone)]
pub struct AggregateAttribute {
    pub name: String,
    pub filter: CompiledFilter,
    pub field: Option<String>,
    pub aggregation: Aggregation,
    pub window: Option<Duration>,
}

/// A computed attribute, compiled.
#[derive(Debug, Clone)]
pub struct ComputedAttribute {
    pub name: String,
    pub program: std::sync::Arc<cel::Program>,
}

/// A view ready to fold: aggregates, then computed attributes in dependency order.
#[derive(Debug, Clone)]
pub struct CompiledView {
    pub aggregates: Vec<AggregateAttribute>,
    pub computed: Vec<ComputedAttribute>,
}

impl CompiledView {
    /// Whether any aggregate has a lookback window.
    pub fn has_windows(&self) -> bool {
        self.aggregates.iter().any(|a| a.window.is_some())
    }
}

impl ViewDefinition {
    /// Validates and compiles the view, or names every problem.
    pub fn compile(&self) -> Result<CompiledView, Vec<ViewProblem>> {
        let mut problems = Vec::new();
        let mut problem = |attribute: Option<&str>, code, detail: String| {
            problems.push(ViewProblem {
                attribute: attribute.map(str::to_owned),
                code,
                detail,
            })
        };
        if !valid_name(&self.name, 200) {
            problem(
                None,
                "invalid_name",
                "a view needs a name of 1 to 200 printable bytes".into(),
            );
        }
        if self.attributes.is_empty() || self.attributes.len() > MAX_ATTRIBUTES {
            problem(
                None,
                "invalid_attributes",
                format!("a view has 1 to {MAX_ATTRIBUTES} attributes"),
            );
        }
        let mut seen = BTreeSet::new();
        let mut aggregates = Vec::new();
        let mut computed = Vec::new();
        for attribute in &self.attributes {
            let name = attribute.name.as_str();
            if !is_identifier(name) {
                problem(
                    Some(name),
                    "invalid_attribute_name",
                    format!("attribute names are identifiers ([A-Za-z_][A-Za-z0-9_]*, at most {MAX_NAME_BYTES} bytes), usable in expressions"),
                );
            }
            if !seen.insert(name) {
                problem(
                    Some(name),
                    "duplicate_attribute",
                    format!("{name} is defined twice"),
                );
            }
            match attribute.compile() {
                Ok(Compiled::Aggregate(a)) => aggregates.push(a),
                Ok(Compiled::Computed(c, references)) => computed.push((c, references)),
                Err(found) => {
                    for (code, detail) in found {
                        problem(Some(name), code, detail);
                    }
                }
            }
        }
        let ordered = order_computed(&aggregates, computed, &mut problem);
        if problems.is_empty() {
            Ok(CompiledView {
                aggregates,
                computed: ordered,
            })
        } else {
            Err(problems)
        }
    }
}

enum Compiled {
    Aggregate(AggregateAttribute),
    Computed(ComputedAttribute, Vec<String>),
}

impl AttributeDefinition {
    fn compile(&self) -> Result<Compiled, Found> {
        if let Some(expression) = &self.expression {
            let aggregate_parts = self.aggregation.is_some()
                || self.field.is_some()
                || self.filter.is_some()
                || self.window.is_some()
                || self.limit.is_some();
            if aggregate_parts {
                return Err(vec![(
                    "mixed_attribute",
                    "an attribute has either an expression or an aggregation, not both".into(),
                )]);
            }
            return compile_expression(&self.name, expression);
        }
        let mut found = Found::new();
        let limit = self.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            found.push((
                "invalid_limit",
                format!("limit must be 1 to {MAX_LIST_LIMIT}"),
            ));
        }
        let aggregation = match self.aggregation.as_deref() {
            None => {
                found.push((
                    "missing_aggregation",
                    format!(
                        "give an aggregation ({}) or an expression",
                        Aggregation::NAMES
                    ),
                ));
                None
            }
            Some(name) => Aggregation::parse(name, limit).or_else(|| {
                found.push((
                    "unknown_aggregation",
                    format!("{name:?} is not one of: {}", Aggregation::NAMES),
                ));
                None
            }),
        };
        if let Some(field) = &self.field {
            check_pointer(field, &mut found);
        } else if aggregation.is_some_and(Aggregation::needs_field) {
            found.push((
                "missing_field",
                "this aggregation reads a field: give `field` as a JSON pointer, e.g. /data/total"
                    .into(),
            ));
        }
        let window = self.window.as_deref().and_then(|w| {
            parse_window(w).or_else(|| {
                found.push((
                    "invalid_window",
                    format!(
                        "{w:?} is not a window like 90m, 24h or 30d (at most {MAX_WINDOW_DAYS}d)"
                    ),
                ));
                None
            })
        });
        let filter = self
            .filter
            .as_ref()
            .map(|f| f.compile(&mut found))
            .unwrap_or_default();
        match (aggregation, found.is_empty()) {
            (Some(aggregation), true) => Ok(Compiled::Aggregate(AggregateAttribute {
                name: self.name.clone(),
                filter,
                field: self.field.clone(),
                aggregation,
                window,
            })),
            _ => Err(found),
        }
    }
}

fn compile_expression(name: &str, expression: &str) -> Result<Compiled, Found> {
    if expression.len() > MAX_EXPRESSION_BYTES {
        return Err(vec![(
            "expression_too_long",
            format!("expressions are at most {MAX_EXPRESSION_BYTES} bytes"),
        )]);
    }
    let program = parse_bounded(expression).map_err(|found| vec![found])?;
    let mut free = BTreeSet::new();
    free_variables(program.expression(), &mut Vec::new(), &mut free);
    let references: Vec<String> = free.into_iter().collect();
    Ok(Compiled::Computed(
        ComputedAttribute {
            name: name.to_owned(),
            program: std::sync::Arc::new(program),
        },
        references,
    ))
}

/// Deepest expression tree accepted. Evaluation recurses once per level, on the
/// caller's (2 MiB) stack, so the depth is what bounds it.
pub const MAX_EXPRESSION_DEPTH: usize = 48;
/// Macros (`map`, `filter`, `exists`, …) may not nest: one level keeps an expression's
/// work linear in the size of the values it reads.
pub const MAX_MACRO_NESTING: usize = 1;

/// Parses on a thread with a large stack, so a hostile expression cannot overflow the
/// caller's; then checks the tree's depth and macro nesting before it leaves there.
fn parse_bounded(expression: &str) -> Result<cel::Program, (&'static str, String)> {
    let source = expression.to_owned();
    std::thread::Builder::new()
        .name("cel-parse".into())
        .stack_size(64 << 20)
        .spawn(move || {
            let program = cel::Program::compile(&source)
                .map_err(|e| ("invalid_expression", e.to_string()))?;
            let (depth, nesting) = shape(program.expression());
            if depth > MAX_EXPRESSION_DEPTH {
                return Err((
                    "expression_too_deep",
                    format!("expressions nest at most {MAX_EXPRESSION_DEPTH} levels deep"),
                ));
            }
            if nesting > MAX_MACRO_NESTING {
                return Err((
                    "expression_too_deep",
                    "macros such as map() and exists() may not nest".to_owned(),
                ));
            }
            Ok(program)
        })
        .map_err(|e| ("invalid_expression", e.to_string()))?
        .join()
        .unwrap_or_else(|_| {
            Err((
                "invalid_expression",
                "the expression could not be parsed".to_owned(),
            ))
        })
}

/// The depth of an expression tree and its deepest nesting of macros, without recursion.
fn shape(root: &cel::common::ast::IdedExpr) -> (usize, usize) {
    let (mut depth, mut nesting) = (0, 0);
    let mut stack = vec![(root, 1, 0)];
    while let Some((expr, level, macros)) = stack.pop() {
        depth = depth.max(level);
        nesting = nesting.max(macros);
        for (child, in_macro) in children(expr) {
            stack.push((child, level + 1, macros + usize::from(in_macro)));
        }
    }
    (depth, nesting)
}

/// An expression's direct children, each with whether a macro binds it.
fn children(expr: &cel::common::ast::IdedExpr) -> Vec<(&cel::common::ast::IdedExpr, bool)> {
    use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr};
    fn entries(entries: &[IdedEntryExpr]) -> Vec<&cel::common::ast::IdedExpr> {
        entries
            .iter()
            .flat_map(|e| match &e.expr {
                EntryExpr::StructField(f) => vec![&f.value],
                EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
            })
            .collect()
    }
    let plain: Vec<&cel::common::ast::IdedExpr> = match &expr.expr {
        Expr::Call(call) => call.target.iter().map(|t| &**t).chain(&call.args).collect(),
        Expr::Comprehension(comp) => {
            let parts = [
                &comp.iter_range,
                &comp.accu_init,
                &comp.loop_cond,
                &comp.loop_step,
                &comp.result,
            ];
            return parts.into_iter().map(|p| (p, true)).collect();
        }
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => entries(&map.entries),
        Expr::Struct(structure) => entries(&structure.entries),
        Expr::Select(select) => vec![&*select.operand],
        _ => Vec::new(),
    };
    plain.into_iter().map(|c| (c, false)).collect()
}

/// The identifiers an expression reads from outside: what macros such as
/// `exists(p, …)` bind is not a reference to an attribute.
fn free_variables(
    expr: &cel::common::ast::IdedExpr,
    bound: &mut Vec<String>,
    out: &mut BTreeSet<String>,
) {
    use cel::common::ast::{EntryExpr, Expr};
    let entries = |entries: &[cel::common::ast::IdedEntryExpr],
                   bound: &mut Vec<String>,
                   out: &mut BTreeSet<String>| {
        for entry in entries {
            match &entry.expr {
                EntryExpr::StructField(field) => free_variables(&field.value, bound, out),
                EntryExpr::MapEntry(pair) => {
                    free_variables(&pair.key, bound, out);
                    free_variables(&pair.value, bound, out);
                }
            }
        }
    };
    match &expr.expr {
        Expr::Ident(name) if !name.starts_with('@') && !bound.contains(name) => {
            out.insert(name.clone());
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                free_variables(target, bound, out);
            }
            for arg in &call.args {
                free_variables(arg, bound, out);
            }
        }
        Expr::Comprehension(comp) => {
            free_variables(&comp.iter_range, bound, out);
            free_variables(&comp.accu_init, bound, out);
            let scope = bound.len();
            bound.push(comp.iter_var.clone());
            bound.extend(comp.iter_var2.clone());
            bound.push(comp.accu_var.clone());
            for inner in [&comp.loop_cond, &comp.loop_step, &comp.result] {
                free_variables(inner, bound, out);
            }
            bound.truncate(scope);
        }
        Expr::List(list) => {
            for element in &list.elements {
                free_variables(element, bound, out);
            }
        }
        Expr::Map(map) => entries(&map.entries, bound, out),
        Expr::Struct(structure) => entries(&structure.entries, bound, out),
        Expr::Select(select) => free_variables(&select.operand, bound, out),
        _ => {}
    }
}

/// Orders computed attributes so each comes after what it reads; reports unknown
/// references and cycles.
fn order_computed(
    aggregates: &[AggregateAttribute],
    computed: Vec<(ComputedAttribute, Vec<String>)>,
    problem: &mut impl FnMut(Option<&str>, &'static str, String),
) -> Vec<ComputedAttribute> {
    let known: BTreeSet<String> = aggregates
        .iter()
        .map(|a| a.name.clone())
        .chain(computed.iter().map(|(c, _)| c.name.clone()))
        .collect();
    let mut pending: BTreeMap<String, (ComputedAttribute, Vec<String>)> = BTreeMap::new();
    for (attribute, references) in computed {
        for reference in &references {
            if !known.contains(reference) {
                problem(
                    Some(&attribute.name),
                    "unknown_reference",
                    format!("{reference} is not an attribute of this view"),
                );
            }
        }
        pending.insert(attribute.name.clone(), (attribute, references));
    }
    let mut done: BTreeSet<String> = aggregates.iter().map(|a| a.name.clone()).collect();
    let mut ordered = Vec::new();
    loop {
        let ready: Vec<String> = pending
            .iter()
            .filter(|(_, (_, refs))| refs.iter().all(|r| done.contains(r) || !known.contains(r)))
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for name in ready {
            let (attribute, _) = pending.remove(&name).expect("ready names are pending");
            done.insert(name);
            ordered.push(attribute);
        }
    }
    for name in pending.keys() {
        problem(
            Some(name),
            "cycle",
            format!("{name} depends on itself through other computed attributes"),
        );
    }
    ordered
}

/// `90m`, `24h`, `30d` (at most [`MAX_WINDOW_DAYS`] days).
pub fn parse_window(raw: &str) -> Option<Duration> {
    crate::window::parse(raw, &crate::window::VIEW_WINDOWS)
}

fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_NAME_BYTES
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_name(name: &str, max: usize) -> bool {
    !name.trim().is_empty() && name.len() <= max && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn numbers_are_equal_by_value_in_every_operator() {
        let cases = [
            (json!(2.0), Op::Eq, json!(2), true),
            (json!(2), Op::Ne, json!(2.0), false),
            (json!(3), Op::In, json!([1.0, 3.0]), true),
            (json!([1, 2.0]), Op::Contains, json!(2), true),
            (json!("2"), Op::Eq, json!(2), false),
        ];
        for (actual, op, expected, holds_now) in cases {
            assert_eq!(
                holds(Some(&actual), op, &expected),
                holds_now,
                "{actual} {op:?} {expected}"
            );
        }
    }

    fn view(attributes: Value) -> ViewDefinition {
        serde_json::from_value(json!({"name": "v", "attributes": attributes})).unwrap()
    }

    fn problems(attributes: Value) -> Vec<(Option<String>, &'static str)> {
        view(attributes)
            .compile()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.attribute, p.code))
            .collect()
    }

    #[test]
    fn a_valid_view_compiles_with_computed_attributes_in_dependency_order() {
        let compiled = view(json!([
            {"name": "boosted", "expression": "ltv * 1.5"},
            {"name": "ltv", "filter": {"type": "order.paid"}, "field": "/data/total", "aggregation": "sum"},
            {"name": "label", "expression": "boosted > 100.0 ? 'vip' : 'regular'"},
            {"name": "pages", "field": "/data/path", "aggregation": "distinct", "limit": 5, "window": "7d"},
        ]))
        .compile()
        .unwrap();
        assert_eq!(compiled.aggregates.len(), 2);
        let order: Vec<_> = compiled.computed.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, ["boosted", "label"]);
        assert_eq!(compiled.aggregates[1].aggregation, Aggregation::Distinct(5));
        assert_eq!(compiled.aggregates[1].window, Some(Duration::days(7)));
    }

    #[test]
    fn every_kind_of_mistake_is_named() {
        let cases = [
            (
                json!([{"name": "a", "aggregation": "median", "field": "/x"}]),
                "unknown_aggregation",
            ),
            (
                json!([{"name": "a", "aggregation": "sum"}]),
                "missing_field",
            ),
            (
                json!([{"name": "a", "aggregation": "sum", "field": "data.total"}]),
                "invalid_pointer",
            ),
            (
                json!([{"name": "a", "aggregation": "sum", "field": "/x~2"}]),
                "invalid_pointer",
            ),
            (
                json!([{"name": "a", "aggregation": "count", "window": "3w"}]),
                "invalid_window",
            ),
            (
                json!([{"name": "a", "aggregation": "count", "window": "0d"}]),
                "invalid_window",
            ),
            (
                json!([{"name": "a", "aggregation": "distinct", "field": "/x", "limit": 0}]),
                "invalid_limit",
            ),
            (
                json!([{"name": "a", "expression": "1 +"}]),
                "invalid_expression",
            ),
            (
                json!([{"name": "a", "expression": "b * 2"}]),
                "unknown_reference",
            ),
            (
                json!([{"name": "a", "expression": "b"}, {"name": "b", "expression": "a"}]),
                "cycle",
            ),
            (json!([{"name": "a", "expression": "a + 1"}]), "cycle"),
            (
                json!([{"name": "a", "aggregation": "count"}, {"name": "a", "aggregation": "count"}]),
                "duplicate_attribute",
            ),
            (
                json!([{"name": "a b", "aggregation": "count"}]),
                "invalid_attribute_name",
            ),
            (
                json!([{"name": "a", "aggregation": "count", "expression": "1"}]),
                "mixed_attribute",
            ),
            (json!([{"name": "a"}]), "missing_aggregation"),
            (
                json!([{"name": "a", "aggregation": "count", "filter": {"where": {"field": "/x", "op": "like", "value": 1}}}]),
                "unknown_operator",
            ),
            (
                json!([{"name": "a", "aggregation": "count", "filter": {"where": {"field": "/x", "op": "in", "value": 1}}}]),
                "invalid_condition",
            ),
            (
                json!([{"name": "a", "expression": "x".repeat(MAX_EXPRESSION_BYTES + 1)}]),
                "expression_too_long",
            ),
            (json!([]), "invalid_attributes"),
        ];
        for (attributes, code) in cases {
            let found = problems(attributes.clone());
            assert!(
                found.iter().any(|(_, c)| *c == code),
                "{attributes}: {found:?}"
            );
        }
    }

    #[test]
    fn hostile_expressions_are_refused_at_compile_time() {
        let deep = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
        let cases = [
            (deep, "invalid_expression"),
            ("[".repeat(MAX_EXPRESSION_BYTES), "invalid_expression"),
            (
                "true ? ".repeat(120) + "1" + &" : 2".repeat(120),
                "invalid_expression",
            ),
            ("1 + ".repeat(600) + "1", "expression_too_long"),
            ("1 + ".repeat(100) + "1", "expression_too_deep"),
            (
                "[1].map(x, [1].map(y, y))".to_owned(),
                "expression_too_deep",
            ),
        ];
        for (expression, code) in cases {
            let found = problems(json!([{"name": "a", "expression": expression}]));
            assert!(
                found.iter().any(|(_, c)| *c == code),
                "{}: {found:?}",
                &expression[..expression.len().min(40)]
            );
        }
    }

    #[test]
    fn macro_variables_are_not_attribute_references() {
        let ok = view(json!([
            {"name": "pages", "field": "/data/path", "aggregation": "distinct"},
            {"name": "saw_pricing", "expression": "pages.exists(p, p == '/pricing')"},
            {"name": "lengths", "expression": "pages.map(x, size(x))"},
        ]));
        assert!(ok.compile().is_ok(), "{:?}", ok.compile().err());
    }

    #[test]
    fn unknown_fields_in_a_definition_are_refused() {
        let raw = json!({"name": "v", "attributes": [{"name": "a", "aggregation": "count", "colour": 1}]});
        assert!(serde_json::from_value::<ViewDefinition>(raw).is_err());
    }

    #[test]
    fn filters_match_type_source_and_condition() {
        let event = json!({"type": "order.paid", "source": "/shop", "data": {"total": 120, "device": "iPhone", "tags": ["a"]}});
        let compile = |f: Value| {
            let filter: EventFilter = serde_json::from_value(f).unwrap();
            let mut found = Found::new();
            let compiled = filter.compile(&mut found);
            assert!(found.is_empty(), "{found:?}");
            compiled
        };
        let cases = [
            (json!({}), true),
            (json!({"type": ["x", "order.paid"]}), true),
            (json!({"type": "x"}), false),
            (json!({"source": "/shop"}), true),
            (
                json!({"where": {"field": "/data/total", "op": "gt", "value": 100}}),
                true,
            ),
            (
                json!({"where": {"field": "/data/total", "op": "lte", "value": 100}}),
                false,
            ),
            (
                json!({"where": {"field": "/data/device", "op": "in", "value": ["iPhone", "iPad"]}}),
                true,
            ),
            (
                json!({"where": {"field": "/data/device", "op": "contains", "value": "Pho"}}),
                true,
            ),
            (
                json!({"where": {"field": "/data/tags", "op": "contains", "value": "a"}}),
                true,
            ),
            (
                json!({"where": {"field": "/data/missing", "op": "exists"}}),
                false,
            ),
            (
                json!({"where": {"field": "/data/device", "op": "ne", "value": "Android"}}),
                true,
            ),
            (
                json!({"where": {"field": "/data/device", "op": "gt", "value": 3}}),
                false,
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(
                compile(filter.clone()).matches(&event),
                expected,
                "{filter}"
            );
        }
    }

    #[test]
    fn windows_parse_in_minutes_hours_and_days() {
        assert_eq!(parse_window("90m"), Some(Duration::minutes(90)));
        assert_eq!(
            parse_window("5µ"),
            None,
            "a multi-byte unit is refused, not a panic"
        );
        assert_eq!(parse_window("24h"), Some(Duration::hours(24)));
        assert_eq!(parse_window("30d"), Some(Duration::days(30)));
        for bad in [
            "",
            "d",
            "-1d",
            "1.5h",
            "30",
            "99999d",
            "999999999999d",
            "200000000000000m",
        ] {
            assert_eq!(parse_window(bad), None, "{bad}");
        }
    }
}
