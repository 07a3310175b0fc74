use super::*;
use crate::tape::{event_hash, time_key};
use crate::view::ViewDefinition;
use chrono::Duration;
use serde_json::{json, Map};

/// An event at minute `minute` past 10:00.
fn at(minute: i64, id: &str, ty: &str, data: Value) -> (String, DateTime<Utc>, Value) {
    let time: DateTime<Utc> =
        "2026-11-23T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minute);
    let key = format!("E#{}#{}", time_key(time), event_hash("/s", id));
    (
        key,
        time,
        json!({"id": id, "source": "/s", "type": ty, "time": time, "data": data}),
    )
}

fn profile(attribute: Value, events: &[(String, DateTime<Utc>, Value)], now_minute: i64) -> Value {
    let view: ViewDefinition =
        serde_json::from_value(json!({"name": "t", "attributes": [attribute]})).unwrap();
    let view = view.compile().unwrap();
    let now =
        "2026-11-23T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(now_minute);
    let mut sorted: Vec<_> = events.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut whole, mut windowed) = (ProfileState::new(&view), ProfileState::new(&view));
    for (key, time, event) in &sorted {
        let e = FoldEvent {
            sort_key: key,
            time: *time,
            event,
        };
        whole.fold(&view, Part::Unwindowed, &e, None);
        windowed.fold(&view, Part::Windowed { now }, &e, None);
    }
    finish(&view, &whole, &windowed).attributes["a"].clone()
}

#[test]
fn every_aggregation_over_the_same_events() {
    let events = [
        at(1, "e1", "view", json!({"path": "/home", "n": 5})),
        at(2, "e2", "view", json!({"path": "/pricing", "n": 1.5})),
        at(3, "e3", "buy", json!({"path": "/pay", "n": 10})),
        at(4, "e4", "view", json!({"path": "/home", "n": "NaN"})),
        at(5, "e5", "view", json!({"other": true})),
    ];
    let cases = [
        (
            json!({"aggregation": "latest", "field": "/data/path"}),
            json!("/home"),
        ),
        (
            json!({"aggregation": "first", "field": "/data/path"}),
            json!("/home"),
        ),
        (json!({"aggregation": "count"}), json!(5)),
        (
            json!({"aggregation": "count", "field": "/data/path"}),
            json!(4),
        ),
        (
            json!({"aggregation": "count", "filter": {"type": "view"}}),
            json!(4),
        ),
        (
            json!({"aggregation": "sum", "field": "/data/n"}),
            json!(16.5),
        ),
        (
            json!({"aggregation": "sum", "field": "/data/n", "filter": {"type": "buy"}}),
            json!(10),
        ),
        (
            json!({"aggregation": "avg", "field": "/data/n"}),
            json!(5.5),
        ),
        (
            json!({"aggregation": "min", "field": "/data/n"}),
            json!(1.5),
        ),
        (json!({"aggregation": "max", "field": "/data/n"}), json!(10)),
        (
            json!({"aggregation": "distinct", "field": "/data/path"}),
            json!(["/home", "/pay", "/pricing"]),
        ),
        (
            json!({"aggregation": "distinct", "field": "/data/path", "limit": 2}),
            json!(["/home", "/pay"]),
        ),
        (
            json!({"aggregation": "last_n", "field": "/data/path", "limit": 3}),
            json!(["/home", "/pay", "/pricing"]),
        ),
        (
            json!({"aggregation": "exists", "filter": {"type": "buy"}}),
            json!(true),
        ),
        (
            json!({"aggregation": "exists", "filter": {"type": "refund"}}),
            json!(false),
        ),
        (
            json!({"aggregation": "first_seen", "filter": {"type": "view"}}),
            json!("2026-11-23T10:01:00Z"),
        ),
        (
            json!({"aggregation": "last_seen", "filter": {"type": "view"}}),
            json!("2026-11-23T10:05:00Z"),
        ),
        (
            json!({"aggregation": "latest", "field": "/data/missing"}),
            Value::Null,
        ),
        (
            json!({"aggregation": "avg", "field": "/data/missing"}),
            Value::Null,
        ),
        (
            json!({"aggregation": "min", "field": "/data/missing"}),
            Value::Null,
        ),
    ];
    for (mut attribute, expected) in cases {
        attribute["name"] = json!("a");
        assert_eq!(
            profile(attribute.clone(), &events, 10),
            expected,
            "{attribute}"
        );
    }
}

#[test]
fn windows_count_only_recent_events() {
    let events = [
        at(0, "old", "view", json!({"n": 1})),
        at(50, "mid", "view", json!({"n": 2})),
        at(58, "new", "view", json!({"n": 4})),
    ];
    let cases = [
        ("5m", json!(4)),
        ("10m", json!(6)),
        ("60m", json!(7)),
        ("1h", json!(7)),
        ("1d", json!(7)),
    ];
    for (window, expected) in cases {
        let attribute =
            json!({"name": "a", "aggregation": "sum", "field": "/data/n", "window": window});
        assert_eq!(profile(attribute, &events, 60), expected, "{window}");
    }
    let none = json!({"name": "a", "aggregation": "latest", "field": "/data/n", "window": "1m"});
    assert_eq!(profile(none, &events, 60), Value::Null);
}

#[test]
fn a_late_event_wins_latest_only_if_it_is_really_later() {
    let on_time = at(5, "b", "view", json!({"v": "b"}));
    let late_but_older = at(1, "a", "view", json!({"v": "a"}));
    let attribute = json!({"name": "a", "aggregation": "latest", "field": "/data/v"});
    assert_eq!(
        profile(attribute.clone(), &[on_time.clone(), late_but_older], 10),
        json!("b")
    );
    // Two events at the same instant: the hash decides, whatever the arrival order.
    let (t1, t2) = (
        at(7, "x", "view", json!({"v": "x"})),
        at(7, "y", "view", json!({"v": "y"})),
    );
    let one = profile(attribute.clone(), &[t1.clone(), t2.clone()], 10);
    let other = profile(attribute, &[t2, t1], 10);
    assert_eq!(one, other);
}

#[test]
fn computed_attributes_use_cel_and_report_errors() {
    let view: ViewDefinition = serde_json::from_value(json!({"name": "t", "attributes": [
        {"name": "ltv", "field": "/data/total", "aggregation": "sum"},
        {"name": "device", "field": "/data/device", "aggregation": "latest"},
        {"name": "boosted", "expression": "device == 'iPhone' ? ltv * 1.5 : ltv"},
        {"name": "broken", "expression": "device + 1.0"},
        {"name": "big", "expression": "ltv > 99"},
    ]}))
    .unwrap();
    let view = view.compile().unwrap();
    let (key, time, event) = at(1, "e", "buy", json!({"total": 100.0, "device": "iPhone"}));
    let mut state = ProfileState::new(&view);
    state.fold(
        &view,
        Part::Unwindowed,
        &FoldEvent {
            sort_key: &key,
            time,
            event: &event,
        },
        None,
    );
    let profile = finish(&view, &state, &ProfileState::new(&view));
    assert_eq!(profile.attributes["boosted"], json!(150.0));
    assert_eq!(profile.attributes["broken"], Value::Null);
    assert!(profile.errors.contains_key("broken"));
    assert_eq!(
        profile.attributes.len(),
        5,
        "every attribute, computed or not"
    );
    assert_eq!(
        profile.attributes["big"],
        json!(true),
        "doubles compare with ints"
    );
}

#[test]
fn explain_lists_the_events_each_attribute_used() {
    let view: ViewDefinition = serde_json::from_value(json!({"name": "t", "attributes": [
        {"name": "last", "field": "/data/v", "aggregation": "latest"},
        {"name": "n", "aggregation": "count", "filter": {"type": "buy"}},
    ]}))
    .unwrap();
    let view = view.compile().unwrap();
    let events = [
        at(1, "e1", "view", json!({"v": 1})),
        at(2, "e2", "buy", json!({})),
        at(3, "e3", "buy", json!({"v": 3})),
    ];
    let mut state = ProfileState::new(&view);
    let mut explain = Explain::new(&view);
    for (key, time, event) in &events {
        state.fold(
            &view,
            Part::Unwindowed,
            &FoldEvent {
                sort_key: key,
                time: *time,
                event,
            },
            Some(&mut explain),
        );
    }
    let ids = |i: usize| {
        explain.events[i]
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(0), ["e3"]);
    assert_eq!(ids(1), ["e2", "e3"]);
}

#[test]
fn sort_keys_give_back_their_time() {
    let (key, time, _) = at(3, "e", "t", json!({}));
    assert_eq!(time_of_sort_key(&key), Some(time));
    assert_eq!(time_of_sort_key("garbage"), None);
}

#[test]
fn the_fixed_width_time_of_a_sort_key_reads_as_rfc3339_does() {
    for time in [
        "2026-11-23T10:00:00.000000Z",
        "1970-01-01T00:00:00.000001Z",
        "2024-02-29T23:59:59.999999Z",
        "2026-11-23T10:00:00Z",
        "2026-11-23T10:00:00.5+01:00",
        "2026-11-23T10:00:60.000000Z",
        "2026-02-30T10:00:00.000000Z",
        "2026-11-23t10:00:00.000000z",
        "2026-11-23T10:00:00.00000aZ",
    ] {
        let key = format!("E#{time}#{}", event_hash("/s", "e"));
        let general = DateTime::parse_from_rfc3339(time)
            .ok()
            .map(|t| t.with_timezone(&Utc));
        assert_eq!(time_of_sort_key(&key), general, "{time}");
    }
}

#[test]
fn times_read_in_a_row_are_those_read_one_by_one() {
    let hash = event_hash("/s", "e");
    let times = [
        "2026-11-23T10:00:00.000000Z",
        "2026-11-23T23:59:59.999999Z",
        "2026-11-23T24:00:00.000000Z",
        "2026-11-24T00:00:00.000001Z",
        "2026-02-30T10:00:00.000000Z",
        "2026-02-30T10:00:01.000000Z",
        "2026-11-24T00:00:00Z",
        "2026-11-24T00:00:00.5+01:00",
        "2026-11-24T00:00:61.000000Z",
        "2024-02-29T12:00:00.000000Z",
    ];
    let mut keys: Vec<String> = times.iter().map(|t| format!("E#{t}#{hash}")).collect();
    keys.extend([
        "E#2026-11-24T00:00:00.000001Z".into(),
        "E#".into(),
        "x".into(),
    ]);
    keys.push("E#2026-11-24T00:00:00.000001Zx#h".into());
    keys.push("E#2026-11-24T00:00:00.00000é#h".into());
    let mut in_a_row = SortKeyTimes::default();
    for key in &keys {
        assert_eq!(in_a_row.time_of(key), time_of_sort_key(key), "{key}");
    }
    assert!(in_a_row.time_of(&keys[0]).is_some());
    assert!(in_a_row.time_of(&keys[4]).is_none(), "February 30th");
}

/// Folds `events` (as JSON text) both ways, stored and parsed, and returns the profile
/// after checking that they agree.
fn both_ways(view: Value, events: &[&str]) -> Map<String, Value> {
    let view: ViewDefinition = serde_json::from_value(view).unwrap();
    let view = view.compile().unwrap();
    let keys: Vec<_> = (0..events.len())
        .map(|i| at(i as i64, "e", "t", json!({})))
        .collect();
    let mut parsed = ProfileState::new(&view);
    let mut stored = ProfileState::new(&view);
    let (mut parsed_explain, mut stored_explain) = (Explain::new(&view), Explain::new(&view));
    for ((key, time, _), text) in keys.iter().zip(events) {
        if let Ok(event) = serde_json::from_str::<Value>(text) {
            let fold = FoldEvent {
                sort_key: key,
                time: *time,
                event: &event,
            };
            parsed.fold(&view, Part::Unwindowed, &fold, Some(&mut parsed_explain));
        }
    }
    let stored_events = keys
        .iter()
        .zip(events)
        .map(|((key, time, _), json)| StoredFold {
            sort_key: key,
            time: *time,
            json,
            ty: None,
        });
    let skipped = stored.fold_stored(
        &view,
        Part::Unwindowed,
        stored_events,
        Some(&mut stored_explain),
    );
    assert_eq!(stored, parsed);
    assert_eq!(stored_explain.events, parsed_explain.events);
    assert_eq!(skipped as u64 + stored.folded, events.len() as u64);
    finish(&view, &stored, &ProfileState::new(&view)).attributes
}

#[test]
fn stored_text_folds_as_the_parsed_event_does() {
    let view = json!({"name": "t", "attributes": [
        {"name": "whole", "field": "/data", "aggregation": "latest"},
        {"name": "inner", "field": "/data/a/b", "aggregation": "latest"},
        {"name": "item", "field": "/data/list/1", "aggregation": "latest"},
        {"name": "slash", "field": "/data/x~1y", "aggregation": "latest"},
        {"name": "tilde", "field": "/data/x~0y", "aggregation": "last_n"},
        {"name": "n", "field": "/data/n", "aggregation": "sum"},
        {"name": "quoted", "filter": {"type": "t\"q", "where": {"field": "/data/d", "op": "eq", "value": "é\n"}}, "aggregation": "count"},
        {"name": "sources", "filter": {"source": "/s"}, "field": "/data/d", "aggregation": "distinct"},
    ]});
    let events = [
        r#"{"type":"t\"q","source":"/s","id":"1","data":{"a":{"b":[1,{"c":2}]},"list":[0,"one"],"x/y":"s","x~y":"t","n":2,"d":"\u00e9\n"}}"#,
        r#"{"type":"t\"q","source":"/s","id":"2","data":{"a":"flat","list":{"1":"key"},"n":1.5,"d":"é\n"}}"#,
        r#"{"type":"other","source":"\/s","id":"3","data":{"d":"é\n","n":-3,"a":{"b":null}}}"#,
        r#"{"type":"t\"q","id":"4","data":{"d":"x"},"data":{"n":1e2}}"#,
        r#"{"type":"t","source":"/s","id":"5","data":[1,2]}"#,
        r#"{"type":"t","source":"/s","id":"6","data":{"n":"7"}} trailing"#,
        r#"{"type":"t","source":"/s","id":"7","data":{"n":1}"#,
        r#"[1,2,3]"#,
        r#"{"type":"t","source":"/s","id":"8","data":{"\u0078\/y":"escaped key","n":18446744073709551615}}"#,
    ];
    let profile = both_ways(view, &events);
    assert_eq!(profile["n"], json!(1.8446744073709552e19));
    assert_eq!(profile["slash"], json!("escaped key"));
    assert_eq!(
        profile["quoted"],
        json!(2),
        "the last of two `data` keys counts"
    );
}

#[test]
fn an_event_of_a_type_no_aggregate_takes_is_counted_without_its_text_being_read() {
    let view = json!({"name": "t", "attributes": [
        {"name": "n", "filter": {"type": "buy"}, "aggregation": "count"},
    ]});
    let view = serde_json::from_value::<ViewDefinition>(view).unwrap();
    let view = view.compile().unwrap();
    let (key, time, _) = at(1, "e1", "view", json!({}));
    let texts = [("view", "not JSON"), ("buy", r#"{"type":"buy"}"#)];
    let events = texts.map(|(ty, json)| StoredFold {
        sort_key: &key,
        time,
        json,
        ty: Some(ty),
    });
    let mut state = ProfileState::new(&view);
    assert_eq!(state.fold_stored(&view, Part::Unwindowed, events, None), 0);
    assert_eq!(state.folded, 2);
    assert_eq!(state.states, vec![AggState::Count(1)]);
}
