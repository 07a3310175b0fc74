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
