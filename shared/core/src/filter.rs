//! Event filters, shared by views (an aggregate's `filter`) and rules (a
//! condition's `event`): the definition as JSON, validated and compiled once.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// One type, or a list of types.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub types: Option<OneOrMany>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A condition on a field of the event.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// A JSON pointer, e.g. `/data/device`.
    pub field: String,
    /// `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `in`, `contains`, `exists`.
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Contains,
    Exists,
}

impl Op {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "in" => Self::In,
            "contains" => Self::Contains,
            "exists" => Self::Exists,
            _ => return None,
        })
    }
}

/// A filter ready to test events.
#[derive(Debug, Clone, Default)]
pub struct CompiledFilter {
    pub types: Vec<String>,
    pub source: Option<String>,
    pub condition: Option<(String, Op, Value)>,
}

impl CompiledFilter {
    pub fn matches(&self, event: &Value) -> bool {
        let text = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default();
        (self.types.is_empty() || self.types.iter().any(|t| t == text("type")))
            && self.source.as_deref().is_none_or(|s| s == text("source"))
            && self
                .condition
                .as_ref()
                .is_none_or(|(field, op, value)| holds(event.pointer(field), *op, value))
    }
}

pub(crate) fn holds(actual: Option<&Value>, op: Op, expected: &Value) -> bool {
    let Some(actual) = actual else {
        return false;
    };
    let ordering = || compare(actual, expected);
    match op {
        Op::Exists => true,
        Op::Eq => same(actual, expected),
        Op::Ne => !same(actual, expected),
        Op::Gt => ordering() == Some(std::cmp::Ordering::Greater),
        Op::Gte => ordering().is_some_and(|o| o.is_ge()),
        Op::Lt => ordering() == Some(std::cmp::Ordering::Less),
        Op::Lte => ordering().is_some_and(|o| o.is_le()),
        Op::In => expected
            .as_array()
            .is_some_and(|list| list.iter().any(|e| same(actual, e))),
        Op::Contains => match (actual, expected) {
            (Value::String(a), Value::String(e)) => a.contains(e.as_str()),
            (Value::Array(a), e) => a.iter().any(|item| same(item, e)),
            _ => false,
        },
    }
}

/// JSON equality, with numbers equal by value: `2` is `2.0`.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

pub(crate) type Found = Vec<(&'static str, String)>;

impl EventFilter {
    pub(crate) fn compile(&self, found: &mut Found) -> CompiledFilter {
        let types = match &self.types {
            None => Vec::new(),
            Some(OneOrMany::One(t)) => vec![t.clone()],
            Some(OneOrMany::Many(ts)) => ts.clone(),
        };
        if types.iter().any(String::is_empty) {
            found.push(("invalid_filter", "event types must not be empty".into()));
        }
        let condition = self.condition.as_ref().and_then(|c| {
            check_pointer(&c.field, found);
            let Some(op) = Op::parse(&c.op) else {
                found.push((
                    "unknown_operator",
                    format!(
                        "{:?} is not one of: eq, ne, gt, gte, lt, lte, in, contains, exists",
                        c.op
                    ),
                ));
                return None;
            };
            let value = c.value.clone().unwrap_or(Value::Null);
            let fits = match op {
                Op::Exists => true,
                Op::In => value.is_array(),
                _ => !value.is_null(),
            };
            if !fits {
                found.push((
                    "invalid_condition",
                    format!(
                        "operator {} needs a value{}",
                        c.op,
                        if op == Op::In { " list" } else { "" }
                    ),
                ));
                return None;
            }
            Some((c.field.clone(), op, value))
        });
        CompiledFilter {
            types,
            source: self.source.clone(),
            condition,
        }
    }
}

pub(crate) fn check_pointer(pointer: &str, found: &mut Found) {
    let well_formed = pointer.starts_with('/')
        && pointer
            .split('~')
            .skip(1)
            .all(|rest| rest.starts_with('0') || rest.starts_with('1'));
    if !well_formed {
        found.push((
            "invalid_pointer",
            format!("{pointer:?} is not a JSON pointer like /data/total"),
        ));
    }
}
