//! A finished profile: the aggregates' values, then the computed attributes.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{AggState, ProfileState};
use crate::view::{Aggregation, CompiledView};

/// A finished profile: every attribute's value, and errors of computed ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub attributes: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub errors: Map<String, Value>,
}

/// Reads the aggregates' values (each from the state of its part) and evaluates the
/// computed attributes in dependency order.
pub fn finish(view: &CompiledView, unwindowed: &ProfileState, windowed: &ProfileState) -> Profile {
    let mut values = Map::new();
    for (i, attribute) in view.aggregates.iter().enumerate() {
        let state = if attribute.window.is_some() {
            &windowed.states[i]
        } else {
            &unwindowed.states[i]
        };
        values.insert(
            attribute.name.clone(),
            value_of(state, attribute.aggregation),
        );
    }
    let mut errors = Map::new();
    for computed in &view.computed {
        let value = evaluate(&computed.program, &values).unwrap_or_else(|error| {
            errors.insert(computed.name.clone(), Value::String(error));
            Value::Null
        });
        values.insert(computed.name.clone(), value);
    }
    Profile {
        attributes: values,
        errors,
    }
}

fn value_of(state: &AggState, aggregation: Aggregation) -> Value {
    match (state, aggregation) {
        (AggState::Pick(picked), _) => picked.as_ref().map_or(Value::Null, |s| s.value.clone()),
        (AggState::Count(n), Aggregation::Exists) => Value::Bool(*n > 0),
        (AggState::Count(n), _) => Value::from(*n),
        (AggState::Sum { sum, .. }, Aggregation::Sum) => number(*sum),
        (AggState::Sum { sum, count }, _) if *count > 0 => number(*sum / *count as f64),
        (AggState::Sum { .. }, _) => Value::Null,
        (AggState::Extreme(x), _) => x.map_or(Value::Null, number),
        (AggState::Recent(items), _) => {
            Value::Array(items.iter().map(|s| s.value.clone()).collect())
        }
    }
}

/// Whole numbers print as integers.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// Evaluates a CEL program over the attributes. CEL has no loops beyond macros over
/// the (bounded) values given, and no I/O: time and memory are bounded by the
/// expression's length and the attribute values.
///
/// Numbers reach expressions as doubles, so `ltv * 1.5` works whether `ltv` summed to
/// a whole number or not (CEL does not mix int and double arithmetic).
fn evaluate(program: &cel::Program, values: &Map<String, Value>) -> Result<Value, String> {
    let mut context = cel::Context::default();
    for (name, value) in values {
        let value = cel::to_value(as_doubles(value)).map_err(|e| e.to_string())?;
        context.add_variable_from_value(name.clone(), value);
    }
    let result = program.execute(&context).map_err(|e| e.to_string())?;
    result.json().map_err(|e| e.to_string())
}

fn as_doubles(value: &Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or(Value::Null, |x| {
            serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
        }),
        Value::Array(items) => Value::Array(items.iter().map(as_doubles).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), as_doubles(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
