//! Robustness as a standing check: bounded property-based fuzzing of everything that
//! parses untrusted input. Each property only asks that nothing panics (and that what
//! is accepted is consistent); the cases are few enough for CI in debug builds.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use cjaas_core::event::{parse_batch, parse_binary, parse_structured, MAX_ATTRIBUTE_BYTES};
use cjaas_core::fold::{finish, FoldEvent, Part, ProfileState, StoredFold};
use cjaas_core::rules::{Facts, RuleDefinition, Seen};
use cjaas_core::tape::{Cursor, JourneyQuery};
use cjaas_core::view::{parse_window, ViewDefinition};

const CASES: u32 = 256;

fn now() -> DateTime<Utc> {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

/// Strings that are often almost right: pieces of the grammars involved, mixed with
/// arbitrary characters.
fn tricky_string() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "",
        "1.0",
        "0.3",
        "/web",
        "a b",
        "×ø\u{9b}",
        "%",
        "%zz",
        "http://[::1",
        "urn:x",
        "2026-11-23T10:00:00Z",
        "9999-12-31T23:59:59Z",
        "-1",
        "0",
        "1e999",
        "7d",
        "24h",
        "90m",
        "0d",
        "3651d",
        "+5d",
        "9999999999999999999d",
        "d",
        "€d",
        "E#",
        "#",
        "\u{0}",
        "alice",
        "{",
        "[",
        "\"",
        "\\",
        ".",
        "..",
        "/data/x",
        "~",
        "~1",
        "null",
    ]);
    prop_oneof![
        3 => prop::collection::vec(pieces, 0..4).prop_map(|p| p.concat()),
        1 => any::<String>(),
        1 => "[ -~]{0,40}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        tricky_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(tricky_string(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An event object whose attributes are each sometimes absent, right, or anything.
fn event_value() -> impl Strategy<Value = Value> {
    let attribute = |good: &'static str| {
        prop_oneof![
            2 => Just(Some(json!(good))),
            1 => Just(None),
            2 => json_value().prop_map(Some),
        ]
    };
    (
        attribute("1.0"),
        attribute("e-1"),
        attribute("/web"),
        attribute("page.viewed"),
        attribute("alice"),
        attribute("2026-11-23T10:00:00Z"),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
    )
        .prop_map(|(spec, id, source, ty, person, time, data, extra)| {
            let mut event = Map::new();
            for (name, value) in [
                ("specversion", spec),
                ("id", id),
                ("source", source),
                ("type", ty),
                ("person", person),
                ("time", time),
                ("data", data),
                ("datacontenttype", extra),
            ] {
                if let Some(value) = value {
                    event.insert(name.to_owned(), value);
                }
            }
            Value::Object(event)
        })
}

fn check_accepted(valid: &cjaas_core::event::ValidEvent) {
    assert!(!valid.id().is_empty() && valid.id().len() <= MAX_ATTRIBUTE_BYTES);
    assert!(!valid.source().is_empty() && valid.source().is_ascii());
    let json: Value = serde_json::from_str(&valid.to_json()).expect("stored form is JSON");
    assert_eq!(json["person"], valid.person.as_str());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn structured_mode_never_panics(event in event_value(), raw in any::<Vec<u8>>()) {
        let _ = parse_structured(&raw, now());
        if let Ok(valid) = parse_structured(event.to_string().as_bytes(), now()) {
            check_accepted(&valid);
        }
    }

    #[test]
    fn batch_mode_never_panics(events in prop::collection::vec(prop_oneof![4 => event_value(), 1 => json_value()], 0..6)) {
        let body = Value::Array(events).to_string();
        if let Ok(valid) = parse_batch(body.as_bytes(), now()) {
            valid.iter().for_each(check_accepted);
        }
    }

    #[test]
    fn binary_mode_never_panics(
        headers in prop::collection::vec((
            prop::sample::select(vec![
                "ce-specversion", "ce-id", "ce-source", "ce-type", "ce-person", "ce-time",
                "ce-dataschema", "ce-subject", "ce-color", "content-type",
            ]),
            prop_oneof![
                3 => tricky_string(),
                1 => prop::sample::select(vec!["1.0", "e-1", "/voice", "call.started", "bob", "application/json"]).prop_map(str::to_owned),
            ],
        ), 0..10),
        body in any::<Vec<u8>>(),
    ) {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            if let Ok(value) = http::HeaderValue::from_bytes(value.as_bytes()) {
                map.append(name, value);
            }
        }
        if let Ok(valid) = parse_binary(&map, &body, now()) {
            check_accepted(&valid);
        }
    }

    #[test]
    fn cursors_and_journey_queries_never_panic(
        raw in tricky_string(),
        pairs in prop::collection::vec((
            prop::sample::select(vec!["from", "to", "type", "source", "order", "limit", "cursor", "other"]),
            tricky_string(),
        ), 0..6),
    ) {
        if let Some(cursor) = Cursor::decode(&raw) {
            prop_assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        }
        let with_cursor = pairs
            .iter()
            .map(|(k, v)| (*k, if *k == "cursor" { raw.as_str() } else { v.as_str() }));
        if let Ok(query) = JourneyQuery::from_pairs(with_cursor) {
            let _ = query.key_range();
        }
    }

    #[test]
    fn window_strings_never_panic(raw in tricky_string()) {
        if let Some(window) = parse_window(&raw) {
            prop_assert!(window > Duration::zero(), "{raw:?}");
        }
        let _ = cjaas_core::analytics::window_seconds(&raw);
    }
}

/// A view: aggregates and a computed attribute, each member sometimes anything.
fn view_value() -> impl Strategy<Value = Value> {
    let aggregation = prop::sample::select(vec![
        "latest",
        "first",
        "count",
        "sum",
        "min",
        "max",
        "avg",
        "distinct",
        "last_n",
        "exists",
        "first_seen",
        "last_seen",
        "median",
    ]);
    let attribute = (
        prop_oneof![
            8 => Just(None),
            1 => prop::sample::select(vec!["a", "ltv", "x y", ""]).prop_map(Some),
        ],
        aggregation,
        prop::option::weighted(
            0.8,
            prop::sample::select(vec!["/data/x", "/data", "", "data", "/data/~2"]),
        ),
        prop::option::weighted(0.3, prop_oneof![Just("30d".to_owned()), tricky_string()]),
        prop::option::weighted(
            0.3,
            prop_oneof![Just(json!({"type": "order.paid"})), json_value()],
        ),
        prop::option::weighted(0.2, prop_oneof![1..=100i32, any::<i32>()]),
    )
        .prop_map(|(name, aggregation, field, window, filter, limit)| {
            // Named by position below unless given a name (maybe a clash, maybe bad).
            let mut attribute = json!({"aggregation": aggregation});
            if let Some(name) = name {
                attribute["name"] = json!(name);
            }
            if let Some(field) = field {
                attribute["field"] = json!(field);
            }
            if let Some(window) = window {
                attribute["window"] = json!(window);
            }
            if let Some(filter) = filter {
                attribute["filter"] = filter;
            }
            if let Some(limit) = limit {
                attribute["limit"] = json!(limit);
            }
            attribute
        });
    (
        prop::collection::vec(attribute, 0..4),
        cel_expression(),
        prop::option::weighted(0.1, json_value()),
    )
        .prop_map(|(mut attributes, expression, noise)| {
            for (attribute, name) in attributes.iter_mut().zip(["a", "b", "ltv", "d"]) {
                if attribute.get("name").is_none() {
                    attribute["name"] = json!(name);
                }
            }
            attributes.push(json!({"name": "c", "expression": expression}));
            attributes.extend(noise);
            json!({"name": "fuzz", "attributes": attributes})
        })
}

/// CEL-like text: tokens of the language in random order, nesting included.
fn cel_expression() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "a",
        "b",
        "ltv",
        "c",
        "x",
        "1",
        "1.5",
        "-",
        "+",
        "*",
        "/",
        "%",
        "==",
        "!=",
        "<",
        ">=",
        "&&",
        "||",
        "!",
        "?",
        ":",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ".",
        "'s'",
        "\"",
        "size(",
        "has(a.b)",
        ".exists(x, ",
        ".all(x, ",
        ".map(x, ",
        ".filter(x, ",
        "int(",
        "double(",
        "string(",
        "null",
        "true",
        "9223372036854775807",
        "18446744073709551615u",
        "1e308",
        "b\"\\xff\"",
        "timestamp('2026-01-01T00:00:00Z')",
        "duration('1s')",
        " ",
    ]);
    let whole = prop::sample::select(vec![
        "a + 1.0",
        "b.exists(x, x == 1)",
        "size(b) > 0 ? a : 0.0",
        "[a, b].map(x, x)",
        "has(b.y)",
        "a / 0.0",
        "int(a) / 0",
        "int(a) % 0",
        "9223372036854775807 + 1",
        "-9223372036854775808 / -1",
        "int(1e300)",
        "uint(-1.0)",
        "string(b)",
        "b[0]",
        "b['k']",
        "a < 'x'",
        "{'k': a}.k",
        "duration('999999999999h')",
        "timestamp(b)",
        "'x'.matches('(')",
        "size('é')",
        "b.all(x, x > 0)",
        "double(b) * 2.0",
    ]);
    prop_oneof![
        3 => whole.prop_map(str::to_owned),
        3 => prop::collection::vec(token, 1..12).prop_map(|t| t.concat()),
        1 => tricky_string(),
    ]
}

fn fold_events() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        (
            json_value(),
            prop::sample::select(vec!["page.viewed", "order.paid"]),
        )
            .prop_map(|(x, ty)| json!({"type": ty, "source": "/web", "data": {"x": x}})),
        0..5,
    )
}

/// Runs `check` on `CASES` generated inputs; `check` tells whether the input was valid
/// (and so reached evaluation). At least `min_valid` must be, or the fuzzing is too
/// shallow to mean much (about 10% are valid; the floor is far below, so that a run
/// never fails by chance).
fn fuzz<S: Strategy>(strategy: S, min_valid: u32, check: impl Fn(S::Value) -> bool) {
    let config = ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    };
    let valid = AtomicU32::new(0);
    TestRunner::new(config)
        .run(&strategy, |input| {
            if check(input) {
                valid.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    let valid = valid.into_inner();
    eprintln!("{valid} of {CASES} generated inputs were valid");
    assert!(
        valid >= min_valid,
        "only {valid} of {CASES} inputs were valid"
    );
}

#[test]
fn views_and_cel_expressions_never_panic() {
    fuzz(
        (view_value(), fold_events()),
        CASES / 64,
        |(view, events)| {
            let Ok(definition) = serde_json::from_value::<ViewDefinition>(view) else {
                return false;
            };
            let Ok(compiled) = definition.compile() else {
                return false;
            };
            let (mut unwindowed, mut windowed) =
                (ProfileState::new(&compiled), ProfileState::new(&compiled));
            for (i, event) in events.iter().enumerate() {
                let key = format!("E#2026-11-23T09:00:00.{i:06}Z#{i:032x}");
                let fold = FoldEvent {
                    sort_key: &key,
                    time: now() - Duration::minutes(5),
                    event,
                };
                unwindowed.fold(&compiled, Part::Unwindowed, &fold, None);
                windowed.fold(&compiled, Part::Windowed { now: now() }, &fold, None);
            }
            let profile = finish(&compiled, &unwindowed, &windowed);
            assert!(profile.attributes.contains_key("c") || profile.errors.contains_key("c"));
            true
        },
    );
}

/// Folding the stored text (one pass that keeps only what the view reads) gives the
/// same states as folding the parsed events.
#[test]
fn stored_events_fold_exactly_as_parsed_ones() {
    fuzz(
        (view_value(), fold_events()),
        CASES / 64,
        |(view, events)| {
            let Ok(definition) = serde_json::from_value::<ViewDefinition>(view) else {
                return false;
            };
            let Ok(compiled) = definition.compile() else {
                return false;
            };
            let texts: Vec<String> = events.iter().map(Value::to_string).collect();
            let keys: Vec<String> = (0..texts.len())
                .map(|i| format!("E#2026-11-23T09:00:00.{i:06}Z#{i:032x}"))
                .collect();
            let time = now() - Duration::minutes(5);
            for part in [Part::Unwindowed, Part::Windowed { now: now() }] {
                let mut parsed = ProfileState::new(&compiled);
                for (key, text) in keys.iter().zip(&texts) {
                    let event: Value = serde_json::from_str(text).unwrap();
                    let fold = FoldEvent {
                        sort_key: key,
                        time,
                        event: &event,
                    };
                    parsed.fold(&compiled, part, &fold, None);
                }
                let mut stored = ProfileState::new(&compiled);
                // Half with the type given apart, as the Tape entry stores it.
                let events = keys.iter().zip(&texts).zip(&events).enumerate();
                let events = events.map(|(i, ((key, text), event))| StoredFold {
                    sort_key: key,
                    time,
                    json: text,
                    ty: event["type"].as_str().filter(|_| i.is_multiple_of(2)),
                });
                assert_eq!(stored.fold_stored(&compiled, part, events, None), 0);
                assert_eq!(stored, parsed);
            }
            true
        },
    );
}

#[test]
fn rules_never_panic() {
    fuzz(
        (rule_value(), fold_events()),
        CASES / 64,
        |(rule, events)| {
            let Ok(definition) = serde_json::from_value::<RuleDefinition>(rule) else {
                return false;
            };
            let Ok(compiled) = definition.compile() else {
                return false;
            };
            let seen: Vec<Seen<'_>> = events
                .iter()
                .enumerate()
                .map(|(i, event)| Seen {
                    time: now() + Duration::seconds(i as i64),
                    event,
                })
                .collect();
            let profiles = BTreeMap::from([("v".to_owned(), json!({"ltv": 5}))]);
            for (i, event) in events.iter().enumerate() {
                let facts = Facts {
                    event,
                    time: seen[i].time,
                    history: &seen[..=i],
                    profiles: &profiles,
                };
                let _ = compiled.on_event(&facts);
                let _ = compiled.on_timer(&facts);
            }
            true
        },
    );
}

/// A rule: nested conditions and actions, each member sometimes anything.
fn rule_value() -> impl Strategy<Value = Value> {
    let filter = prop_oneof![
        2 => Just(json!({})),
        2 => Just(json!({"type": "order.paid"})),
        2 => Just(
            json!({"type": ["page.viewed"], "where": {"field": "/data/x", "op": "gt", "value": 1}})
        ),
        1 => json_value(),
    ];
    let leaf = (
        filter.clone(),
        filter,
        prop_oneof![Just("1h".to_owned()), tricky_string()],
        prop_oneof![1..=5u32, any::<u32>()],
        json_value(),
    )
        .prop_flat_map(|(of, missing, within, at_least, value)| {
            prop::sample::select(vec![
                json!({"event": of}),
                json!({"count": {"of": of, "at_least": at_least, "within": within}}),
                json!({"absence": {"after": of, "missing": missing, "within": within}}),
                json!({"profile": {"view": "v", "attribute": "ltv", "op": "gte", "value": value}}),
            ])
        });
    let when = leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|c| json!({"all": c})),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|c| json!({"any": c})),
            inner.prop_map(|c| json!({"not": c})),
        ]
    });
    let action = prop_oneof![
        tricky_string().prop_map(|url| json!({"type": "webhook", "url": url})),
        Just(json!({"type": "recommendation", "action": "offer"})),
        json_value()
            .prop_map(|payload| json!({"type": "publish", "name": "nudge", "payload": payload})),
        Just(json!({"type": "webhook", "url": "https://hooks.example.com/cj"})),
        json_value(),
    ];
    (when, prop::collection::vec(action, 1..3), prop_oneof![3 => 0..=7_776_000u64, 1 => any::<u64>()]).prop_map(
        |(when, actions, cooldown)| {
            json!({"name": "fuzz", "when": when, "actions": actions, "cooldown_seconds": cooldown})
        },
    )
}
