//! A value a fold reads from an event: borrowed from the parsed event, or from its
//! JSON text where that text has no escapes, so most reads allocate nothing.

use serde_json::{Number, Value};
use std::borrow::Cow;

use crate::view::{holds, Op};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Leaf<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    /// Inside a parsed event.
    Ref(&'a Value),
    /// An array or object (or anything below one), parsed on its own.
    Owned(Value),
}

impl Leaf<'_> {
    fn value(&self) -> Option<&Value> {
        match self {
            Leaf::Ref(value) => Some(value),
            Leaf::Owned(value) => Some(value),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Leaf::Str(s) => Some(s),
            other => other.value().and_then(Value::as_str),
        }
    }

    /// The string, or `""` for anything else.
    pub fn text(&self) -> &str {
        self.as_str().unwrap_or_default()
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Leaf::Number(n) => n.as_f64(),
            other => other.value().and_then(Value::as_f64),
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Leaf::Null => Value::Null,
            Leaf::Bool(b) => Value::Bool(*b),
            Leaf::Number(n) => Value::Number(n.clone()),
            Leaf::Str(s) => Value::String(s.as_ref().to_owned()),
            Leaf::Ref(value) => (*value).clone(),
            Leaf::Owned(value) => value.clone(),
        }
    }

    /// Sets `target` to this value, reusing its string's buffer when both are strings.
    pub fn write_into(&self, target: &mut Value) {
        match (self, &mut *target) {
            (Leaf::Str(s), Value::String(t)) => {
                t.clear();
                t.push_str(s);
            }
            _ => *target = self.to_value(),
        }
    }

    /// JSON equality, exactly as `Value`'s (`2` is not `2.0`).
    pub fn same_as(&self, other: &Value) -> bool {
        match self {
            Leaf::Null => other.is_null(),
            Leaf::Bool(b) => other.as_bool() == Some(*b),
            Leaf::Number(n) => matches!(other, Value::Number(m) if m == n),
            Leaf::Str(s) => other.as_str() == Some(s),
            Leaf::Ref(value) => *value == other,
            Leaf::Owned(value) => value == other,
        }
    }

    /// Whether a condition holds, as [`holds`] decides it for the same value.
    pub fn holds(&self, op: Op, expected: &Value) -> bool {
        match self {
            Leaf::Str(s) => string_holds(s, op, expected),
            Leaf::Ref(value) => holds(Some(value), op, expected),
            Leaf::Owned(value) => holds(Some(value), op, expected),
            // Null, booleans and numbers become a `Value` without allocating.
            scalar => holds(Some(&scalar.to_value()), op, expected),
        }
    }
}

/// [`holds`] for a string, without making it a `Value`.
fn string_holds(actual: &str, op: Op, expected: &Value) -> bool {
    let ordering = || expected.as_str().map(|e| actual.cmp(e));
    match op {
        Op::Exists => true,
        Op::Eq => expected.as_str() == Some(actual),
        Op::Ne => expected.as_str() != Some(actual),
        Op::Gt => ordering().is_some_and(|o| o.is_gt()),
        Op::Gte => ordering().is_some_and(|o| o.is_ge()),
        Op::Lt => ordering().is_some_and(|o| o.is_lt()),
        Op::Lte => ordering().is_some_and(|o| o.is_le()),
        Op::In => expected
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e.as_str() == Some(actual))),
        Op::Contains => expected.as_str().is_some_and(|e| actual.contains(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_string_leaf_holds_exactly_when_its_value_does() {
        let ops = [
            Op::Exists,
            Op::Eq,
            Op::Ne,
            Op::Gt,
            Op::Gte,
            Op::Lt,
            Op::Lte,
            Op::In,
            Op::Contains,
        ];
        let expected = [
            json!("iPhone"),
            json!("iP"),
            json!("a"),
            json!("z"),
            json!(""),
            json!(3),
            json!(null),
            json!(["x", "iPhone"]),
            json!(["x", 1]),
            json!({"a": 1}),
        ];
        for actual in ["iPhone", "", "b", "iPhones"] {
            let value = json!(actual);
            let leaf = Leaf::Str(Cow::Borrowed(actual));
            for op in ops {
                for e in &expected {
                    assert_eq!(
                        leaf.holds(op, e),
                        holds(Some(&value), op, e),
                        "{actual:?} {op:?} {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn leaves_compare_as_their_values_do() {
        let values = [
            json!(null),
            json!(true),
            json!(false),
            json!(2),
            json!(2.0),
            json!(-2),
            json!("2"),
            json!(""),
            json!([2]),
            json!({"a": 2}),
        ];
        for a in &values {
            let leaves = [
                match a {
                    Value::Null => Leaf::Null,
                    Value::Bool(b) => Leaf::Bool(*b),
                    Value::Number(n) => Leaf::Number(n.clone()),
                    Value::String(s) => Leaf::Str(Cow::Borrowed(s)),
                    other => Leaf::Owned(other.clone()),
                },
                Leaf::Ref(a),
            ];
            for leaf in &leaves {
                assert_eq!(&leaf.to_value(), a);
                assert_eq!(leaf.as_f64(), a.as_f64());
                assert_eq!(leaf.text(), a.as_str().unwrap_or_default());
                for b in &values {
                    assert_eq!(leaf.same_as(b), a == b, "{a} == {b}");
                    let mut target = b.clone();
                    leaf.write_into(&mut target);
                    assert_eq!(&target, a);
                }
            }
        }
    }
}
