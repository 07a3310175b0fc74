//! Properties of the stored-text fold against the parsed one, over generated events.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::tape::{event_hash, time_key};
use crate::view::ViewDefinition;

fn compile(view: Value) -> CompiledView {
    let view: ViewDefinition = serde_json::from_value(view).unwrap();
    view.compile().unwrap()
}

/// Values that `distinct` must tell apart or not: equal strings, `2` and `2.0`, and
/// non-strings that share the index's one hash.
fn pooled_value() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!("a"),
        json!("b"),
        json!("/p/1"),
        json!("/p/10"),
        json!("a longer value, past eight bytes"),
        json!(""),
        json!(2),
        json!(2.0),
        json!(-1),
        json!(null),
        json!(true),
        json!([1, "a"]),
        json!({"a": 1}),
    ])
}

/// Events as (minute, id, value), folded in the order given (late ones included).
fn events() -> impl Strategy<Value = Vec<(i64, u8, Value)>> {
    prop::collection::vec((0i64..40, 0u8..4, pooled_value()), 0..60)
}

fn keyed(events: &[(i64, u8, Value)]) -> Vec<(String, DateTime<Utc>, String)> {
    let start: DateTime<Utc> = "2026-11-23T23:30:00Z".parse().unwrap();
    events
        .iter()
        .map(|(minute, id, value)| {
            let time = start + chrono::Duration::minutes(*minute);
            let id = format!("e{id}");
            let key = format!("E#{}#{}", time_key(time), event_hash("/s", &id));
            let event = json!({"id": id, "source": "/s", "type": "t", "data": {"v": value}});
            (key, time, event.to_string())
        })
        .collect()
}

proptest! {
    /// `distinct` with its hash index (the stored fold, in calls of `chunk` events, each
    /// building the index again from the state) keeps what the plain search keeps.
    #[test]
    fn distinct_with_its_index_keeps_what_the_plain_search_keeps(
        events in events(),
        limit in 1usize..6,
        chunk in 1usize..9,
    ) {
        let view = compile(json!({"name": "v", "attributes": [
            {"name": "d", "field": "/data/v", "aggregation": "distinct", "limit": limit},
            {"name": "n", "field": "/data/v", "aggregation": "last_n", "limit": limit},
        ]}));
        let stored = keyed(&events);
        let mut parsed = ProfileState::new(&view);
        for (key, time, text) in &stored {
            let event: Value = serde_json::from_str(text).unwrap();
            let fold = FoldEvent { sort_key: key, time: *time, event: &event };
            parsed.fold(&view, Part::Unwindowed, &fold, None);
        }
        let mut from_text = ProfileState::new(&view);
        for events in stored.chunks(chunk) {
            let events = events.iter().map(|(key, time, text)| StoredFold {
                sort_key: key,
                time: *time,
                json: text,
                ty: None,
            });
            prop_assert_eq!(from_text.fold_stored(&view, Part::Unwindowed, events, None), 0);
        }
        prop_assert_eq!(from_text, parsed);
    }
}

/// Keys that the key matcher must tell apart: empty, one byte, eight and nine bytes,
/// sharing their first eight bytes, and with a `/` or `~` (escaped in pointers).
const KEYS: [&str; 10] = [
    "",
    "a",
    "type",
    "abcdefgh",
    "abcdefghi",
    "abcdefghj",
    "abcdefgh1234567890",
    "é",
    "a/b",
    "t~",
];

/// A JSON string for `key`, some of its characters written as `\u` escapes.
fn quoted(key: &str, escape: u8) -> String {
    let mut out = String::from("\"");
    for (i, c) in key.chars().enumerate() {
        match c {
            c if (escape >> (i % 8)) & 1 == 1 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An object's text from (key, how to escape it, value) members, nested one level.
fn object_text(members: &[(usize, u8, Value)], inner: &[(usize, u8, Value)]) -> String {
    let member = |(k, escape, value): &(usize, u8, Value)| {
        format!("{}: {}", quoted(KEYS[*k], *escape), value)
    };
    let mut parts: Vec<String> = members.iter().map(member).collect();
    let inner: Vec<String> = inner.iter().map(member).collect();
    parts.push(format!("{} : {{{}}}", quoted(KEYS[3], 0), inner.join(",")));
    format!("{{\"type\":\"t\",\"data\":{{ {} }}}}", parts.join(" ,"))
}

fn members() -> impl Strategy<Value = Vec<(usize, u8, Value)>> {
    prop::collection::vec((0..KEYS.len(), any::<u8>(), pooled_value()), 0..8)
}

proptest! {
    /// Every pointer into the data (one and two keys deep, over keys that differ only
    /// past their eighth byte, repeat or are written with escapes) reads what
    /// `Value::pointer` reads.
    #[test]
    fn keys_match_as_a_parsed_object_finds_them(
        events in prop::collection::vec((members(), members()), 1..6),
    ) {
        let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
        let mut attributes = Vec::new();
        for (i, key) in KEYS.iter().enumerate() {
            let deep = format!("/data/{}/{}", escape(KEYS[3]), escape(key));
            for (j, field) in [format!("/data/{}", escape(key)), deep].into_iter().enumerate() {
                attributes.push(json!({"name": format!("a{i}_{j}"), "field": field, "aggregation": "last_n", "limit": 10}));
            }
        }
        let view = compile(json!({"name": "v", "attributes": attributes}));
        let start: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let mut parsed = ProfileState::new(&view);
        let mut from_text = ProfileState::new(&view);
        for (i, (members, inner)) in events.iter().enumerate() {
            let text = object_text(members, inner);
            let event: Value = serde_json::from_str(&text).unwrap();
            let time = start + chrono::Duration::minutes(i as i64);
            let key = format!("E#{}#{}", time_key(time), event_hash("/s", "e"));
            parsed.fold(&view, Part::Unwindowed, &FoldEvent { sort_key: &key, time, event: &event }, None);
            let stored = StoredFold { sort_key: &key, time, json: &text, ty: None };
            prop_assert_eq!(from_text.fold_stored(&view, Part::Unwindowed, [stored], None), 0);
        }
        prop_assert_eq!(from_text, parsed);
    }
}
