//! Views: a tenant's definition of a profile, as named attributes folded from a
//! person's Tape. A view is validated and compiled once; an invalid one is refused with
//! every problem named, and never stored.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

mod expression;
mod plan;
#[cfg(test)]
mod tests;

use expression::{compile_expression, order_computed};
pub use expression::{MAX_EXPRESSION_DEPTH, MAX_MACRO_NESTING};
pub(crate) use plan::{key_prefix, PointerNode, ReadPlan, ID, SOURCE, TYPE};

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
    /// What a fold reads from each event, compiled once with the view.
    pub(crate) plan: ReadPlan,
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
                plan: ReadPlan::new(&aggregates),
                aggregates,
                computed: ordered,
            })
        } else {
            Err(problems)
        }
    }
}

pub(crate) enum Compiled {
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
