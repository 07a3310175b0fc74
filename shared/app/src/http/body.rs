//! The one JSON body decoder every route uses.
//!
//! serde is lenient in ways the OpenAPI is not: a struct also deserializes from an
//! array (`[["tape:read"], 60]` is a token request), and an enum tag read through
//! `flatten` also takes the variant's index (`"type": 0` is the first variant). So a
//! body is decoded in three steps, and refused with `400 malformed_json` and the JSON
//! pointer of the member at fault if any of them fails:
//!
//! 1. it is a JSON object (every request body of the API is one), with no member
//!    given twice in one object;
//! 2. it deserializes into the request type (type errors name the member). A member
//!    given `null` is absent: where `null` does not fit the member's type, the member
//!    is dropped and decoding tried again, so its default applies (or, if it is
//!    required, it is missing);
//! 3. serialized back, every member the body gave has the JSON type it had in the
//!    body (`null` agrees with anything).
//!
//! An integral number with a fraction or an exponent (`60.0`) counts as an integer.

use axum::body::Body;
use axum::http::StatusCode;
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use super::{read_body, Problem};

/// Reads, parses and strictly decodes a JSON object body into `T`.
pub(crate) async fn read_json<T: DeserializeOwned + Serialize>(body: Body) -> Result<T, Problem> {
    let bytes = read_body(body).await?;
    decode_json(&bytes)
}

/// [`read_json`] on bytes already read.
pub(crate) fn decode_json<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Result<T, Problem> {
    let mut value = parse_unique(bytes)?;
    if !value.is_object() {
        return Err(shape_problem(
            String::new(),
            format!("the body must be a JSON object, not {}", kind(&value)),
        ));
    }
    // Each retry drops one `null` member, so this ends.
    let decoded: T = loop {
        match serde_path_to_error::deserialize(&value) {
            Ok(decoded) => break decoded,
            Err(e) => {
                let pointer = pointer_of(e.path());
                let null_refused = e.inner().to_string().starts_with("invalid type: null");
                if !(null_refused && drop_null_member(&mut value, &pointer)) {
                    return Err(shape_problem(pointer, e.inner().to_string()));
                }
            }
        }
    };
    let echoed = serde_json::to_value(&decoded).expect("a request type serializes");
    match mismatch(&value, &echoed, String::new()) {
        None => Ok(decoded),
        Some((pointer, detail)) => Err(shape_problem(pointer, detail)),
    }
}

/// Parses JSON, refusing a member name given twice in one object: serde_json would
/// keep the last, and the body would mean something its sender may not have meant.
fn parse_unique(bytes: &[u8]) -> Result<Value, Problem> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let Unique(value) =
        serde_path_to_error::deserialize(&mut json).map_err(|e| match e.inner().classify() {
            serde_json::error::Category::Data => {
                shape_problem(pointer_of(e.path()), e.inner().to_string())
            }
            _ => Problem::bad_json(e.into_inner()),
        })?;
    json.end().map_err(Problem::bad_json)?;
    Ok(value)
}

/// A JSON value whose objects have no member twice.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    /// An integral number written with a fraction or an exponent (`60.0`, `6e1`) is an
    /// integer, as JSON Schema's `integer` says, so integer members take it.
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact
        if v.fract() == 0.0 && v.abs() < EXACT {
            return Ok((v as i64).into());
        }
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                // Refused while reading the value, so that the path names the member.
                match map.next_value_seed(Twice(name))? {}
            }
            let Unique(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

/// Refuses the value of a member given twice.
struct Twice(String);

impl<'de> de::DeserializeSeed<'de> for Twice {
    type Value = std::convert::Infallible;

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<Self::Value, D::Error> {
        Err(de::Error::custom(format!(
            "the member `{}` is given twice",
            self.0
        )))
    }
}

fn shape_problem(pointer: String, detail: String) -> Problem {
    let at = if pointer.is_empty() { "/" } else { &pointer };
    Problem::new(
        StatusCode::BAD_REQUEST,
        "malformed_json",
        format!("{at}: {detail}"),
    )
    .with_errors([json!({ "pointer": pointer, "detail": detail })])
}

/// The JSON pointer (RFC 6901) of a serde path.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        let token = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.replace('~', "~0").replace('/', "~1"),
            Segment::Enum { .. } | Segment::Unknown => continue,
        };
        pointer.push('/');
        pointer.push_str(&token);
    }
    pointer
}

/// Removes the object member at `pointer` if it is `null`.
fn drop_null_member(value: &mut Value, pointer: &str) -> bool {
    let Some((parent, token)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = token.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(members)) if members.get(&key) == Some(&Value::Null) => {
            members.remove(&key);
            true
        }
        _ => false,
    }
}

/// Where the decoded request disagrees with the body on a member's JSON type.
fn mismatch(given: &Value, echoed: &Value, pointer: String) -> Option<(String, String)> {
    match (given, echoed) {
        (Value::Null, _) => None,
        (Value::Object(given), Value::Object(echoed)) => given.iter().find_map(|(key, value)| {
            let inner = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
            echoed
                .get(key)
                .and_then(|echo| mismatch(value, echo, inner))
        }),
        (Value::Array(given), Value::Array(echoed)) => given
            .iter()
            .zip(echoed)
            .enumerate()
            .find_map(|(i, (v, e))| mismatch(v, e, format!("{pointer}/{i}"))),
        (given, echoed) if kind(given) == kind(echoed) => None,
        (given, echoed) => Some((
            pointer,
            format!("expected {}, found {}", kind(echoed), kind(given)),
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        b: Option<String>,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Kind {
        First { x: u32 },
        Second,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Flat {
        id: String,
        #[serde(flatten)]
        kind: Kind,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        items: Vec<Flat>,
        #[serde(default = "seven")]
        days: u32,
    }

    fn seven() -> u32 {
        7
    }

    fn refused(body: Value) -> (String, String) {
        refused_text(&body.to_string())
    }

    fn refused_text(body: &str) -> (String, String) {
        let problem = decode_json::<Outer>(body.as_bytes()).unwrap_err();
        assert_eq!(
            (problem.status, problem.code),
            (StatusCode::BAD_REQUEST, "malformed_json")
        );
        let errors = problem.errors.expect("errors name the member");
        (
            errors[0]["pointer"].as_str().unwrap().to_owned(),
            problem.detail,
        )
    }

    #[test]
    fn an_integral_number_with_a_fraction_is_an_integer() {
        let outer: Outer = decode_json(br#"{"inner": {"a": 60.0}, "days": 3e1}"#).unwrap();
        assert_eq!((outer.inner.a, outer.days), (60, 30));
        assert_eq!(refused_text(r#"{"inner": {"a": 60.5}}"#).0, "/inner/a");
    }

    #[test]
    fn a_well_shaped_body_decodes_and_null_means_absent() {
        let body = json!({"inner": {"a": 1, "b": null}, "items": [{"id": "i", "type": "second"}]});
        let outer: Outer = decode_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(outer.inner, Inner { a: 1, b: None });
        assert_eq!(outer.items[0].kind, Kind::Second);
        let body = json!({"inner": {"a": 1}, "items": null, "days": null});
        let outer: Outer = decode_json(body.to_string().as_bytes()).unwrap();
        assert_eq!((outer.items.len(), outer.days), (0, 7));
    }

    #[test]
    fn shapes_serde_would_take_are_refused_with_the_member() {
        assert_eq!(refused(json!([{"a": 1}])).0, "");
        assert_eq!(refused(json!({"inner": [1]})).0, "/inner");
        assert_eq!(refused(json!({"inner": {"a": "1"}})).0, "/inner/a");
        let (pointer, detail) =
            refused(json!({"inner": {"a": 1}, "items": [{"id": "i", "type": 0, "x": 1}]}));
        assert_eq!(pointer, "/items/0/type");
        assert!(
            detail.contains("expected a string, found a number"),
            "{detail}"
        );
        assert_eq!(refused(json!({"inner": {"a": 1, "c": 2}})).0, "/inner/c");
        assert_eq!(refused(json!({"inner": {"a": 1, "c": null}})).0, "/inner/c");
        let (pointer, detail) = refused(json!({"inner": {"a": null}}));
        assert_eq!(pointer, "/inner");
        assert!(detail.contains("missing field `a`"), "{detail}");
        assert_eq!(
            refused(json!({"inner": {"a": 1}, "items": [null]})).0,
            "/items/0"
        );
    }

    #[test]
    fn not_json_stays_malformed_json_without_a_pointer() {
        for bad in [&b"{\"inner\":"[..], b"{} {}", b"{\"inner\": {\"a\": 01}}"] {
            let problem = decode_json::<Outer>(bad).unwrap_err();
            assert_eq!(problem.code, "malformed_json");
            assert!(problem.errors.is_none(), "{}", problem.detail);
        }
    }

    #[test]
    fn a_member_given_twice_is_refused() {
        let (pointer, detail) = refused_text(r#"{"inner": {"a": 1, "a": 2}}"#);
        assert_eq!(pointer, "/inner/a");
        assert!(detail.contains("given twice"), "{detail}");
        let (pointer, _) = refused_text(r#"{"inner": {"a": 1}, "days": 1, "days": 2}"#);
        assert_eq!(pointer, "/days");
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec![
            "name",
            "attributes",
            "aggregation",
            "filter",
            "type",
            "scopes",
            "ttl_seconds",
            "label",
            "destinations",
            "id",
            "bucket",
            "prefix",
            "when",
            "actions",
            "event",
            "windows",
            "steps",
            "within_seconds",
            "x",
            "",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            prop::sample::select(vec!["s3", "count", "tape:read", "7d", "x", ""])
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..4).prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    /// Decoding never panics, and what it accepts decodes again to the same.
    fn decodes_stably<T: DeserializeOwned + Serialize>(body: &Value) {
        if let Ok(decoded) = decode_json::<T>(body.to_string().as_bytes()) {
            let echo = serde_json::to_vec(&decoded).unwrap();
            let again: T = decode_json(&echo).expect("an accepted body's echo is accepted");
            assert_eq!(
                serde_json::to_value(again).unwrap(),
                serde_json::to_value(decoded).unwrap()
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 256, ..Default::default() })]

        #[test]
        fn every_request_type_decodes_without_panicking(body in json_value()) {
            use cjaas_core::{analytics, forwarding, rules, view};
            decodes_stably::<crate::admin::TokenRequest>(&body);
            decodes_stably::<crate::admin::KeyRequest>(&body);
            decodes_stably::<view::ViewDefinition>(&body);
            decodes_stably::<rules::RuleDefinition>(&body);
            decodes_stably::<forwarding::ForwardingConfig>(&body);
            decodes_stably::<analytics::AnalyticsSettings>(&body);
            decodes_stably::<analytics::FunnelDefinition>(&body);
        }
    }
}
