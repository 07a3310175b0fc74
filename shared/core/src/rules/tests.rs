//! The rules' semantics, table by table.

use super::*;
use crate::target::TargetPolicy;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::minutes(minute)
}

fn rule(when: Value) -> CompiledRule {
    let definition: RuleDefinition = serde_json::from_value(json!({
        "name": "r", "when": when, "actions": [{"type": "publish", "name": "offer"}]
    }))
    .unwrap();
    definition.compile().unwrap()
}

fn page(path: &str) -> Value {
    json!({"type": "page.viewed", "data": {"path": path}})
}

/// (name, rule, history as (minute, event), profiles, verdict for the last event)
type Case = (&'static str, Value, Vec<(i64, Value)>, Value, Verdict);

#[test]
fn rules_evaluate_as_their_table_says() {
    let pricing = json!({"event": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}});
    let three = json!({"count": {"of": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/pricing"}}, "at_least": 3, "within": "10m"}});
    let no_orders = json!({"not": {"profile": {"view": "view-v", "attribute": "orders", "op": "gt", "value": 0}}});
    let vip =
        json!({"profile": {"view": "view-v", "attribute": "tier", "op": "eq", "value": "vip"}});
    let cases: Vec<Case> = vec![
        (
            "event matches",
            pricing.clone(),
            vec![(0, page("/pricing"))],
            json!({}),
            Verdict::Fire,
        ),
        (
            "event does not",
            pricing.clone(),
            vec![(0, page("/home"))],
            json!({}),
            Verdict::Nothing,
        ),
        (
            "3 in 10m",
            three.clone(),
            vec![
                (0, page("/pricing")),
                (4, page("/pricing")),
                (9, page("/pricing")),
            ],
            json!({}),
            Verdict::Fire,
        ),
        (
            "2 in 10m",
            three.clone(),
            vec![(0, page("/pricing")), (9, page("/pricing"))],
            json!({}),
            Verdict::Nothing,
        ),
        (
            "3 but over 10m",
            three.clone(),
            vec![
                (0, page("/pricing")),
                (5, page("/pricing")),
                (10, page("/pricing")),
            ],
            json!({}),
            Verdict::Nothing,
        ),
        (
            "later events do not count",
            three.clone(),
            vec![
                (0, page("/pricing")),
                (1, page("/pricing")),
                (2, page("/home")),
            ],
            json!({}),
            Verdict::Nothing,
        ),
        (
            "and + not profile",
            json!({"all": [pricing.clone(), no_orders.clone()]}),
            vec![(0, page("/pricing"))],
            json!({"view-v": {"orders": 0}}),
            Verdict::Fire,
        ),
        (
            "and fails on profile",
            json!({"all": [pricing.clone(), no_orders.clone()]}),
            vec![(0, page("/pricing"))],
            json!({"view-v": {"orders": 2}}),
            Verdict::Nothing,
        ),
        (
            "missing attribute is not > 0",
            json!({"all": [pricing.clone(), no_orders]}),
            vec![(0, page("/pricing"))],
            json!({}),
            Verdict::Fire,
        ),
        (
            "or",
            json!({"any": [vip.clone(), pricing.clone()]}),
            vec![(0, page("/home"))],
            json!({"view-v": {"tier": "vip"}}),
            Verdict::Fire,
        ),
        (
            "or, neither",
            json!({"any": [vip, pricing]}),
            vec![(0, page("/home"))],
            json!({"view-v": {"tier": "basic"}}),
            Verdict::Nothing,
        ),
        (
            "absence starts a timer",
            json!({"absence": {"after": {"type": "cart.added"}, "missing": {"type": "order.paid"}, "within": "30m"}}),
            vec![(0, json!({"type": "cart.added"}))],
            json!({}),
            Verdict::WaitUntil(at(30)),
        ),
        (
            "absence ignores others",
            json!({"absence": {"after": {"type": "cart.added"}, "missing": {"type": "order.paid"}, "within": "30m"}}),
            vec![(0, json!({"type": "page.viewed"}))],
            json!({}),
            Verdict::Nothing,
        ),
    ];
    for (name, when, history, profiles, expected) in cases {
        let rule = rule(when);
        let seen: Vec<Seen> = history
            .iter()
            .map(|(m, e)| Seen {
                time: at(*m),
                event: e,
            })
            .collect();
        let last = seen.last().unwrap();
        let profiles: BTreeMap<String, Value> = serde_json::from_value(profiles).unwrap();
        let facts = Facts {
            event: last.event,
            time: last.time,
            history: &seen,
            profiles: &profiles,
        };
        assert_eq!(rule.on_event(&facts), expected, "{name}");
    }
}

#[test]
fn absence_holds_only_if_nothing_came_in_time() {
    let rule = rule(json!({"all": [
        {"absence": {"after": {"type": "cart.added"}, "missing": {"type": "order.paid"}, "within": "30m"}},
        {"not": {"event": {"where": {"field": "/data/total", "op": "lt", "value": 10}}}}
    ]}));
    let cart = json!({"type": "cart.added", "data": {"total": 50}});
    let cheap = json!({"type": "cart.added", "data": {"total": 5}});
    let paid = json!({"type": "order.paid"});
    let cases = [
        ("no purchase", vec![(0, &cart)], &cart, true),
        (
            "purchase in time",
            vec![(0, &cart), (29, &paid)],
            &cart,
            false,
        ),
        (
            "purchase too late",
            vec![(0, &cart), (31, &paid)],
            &cart,
            true,
        ),
        (
            "purchase before the cart does not count",
            vec![(-5, &paid), (0, &cart)],
            &cart,
            true,
        ),
        (
            "other conditions still apply",
            vec![(0, &cheap)],
            &cheap,
            false,
        ),
    ];
    let profiles = BTreeMap::new();
    for (name, history, after, expected) in cases {
        let seen: Vec<Seen> = history
            .iter()
            .map(|(m, e)| Seen {
                time: at(*m),
                event: e,
            })
            .collect();
        let facts = Facts {
            event: after,
            time: at(0),
            history: &seen,
            profiles: &profiles,
        };
        assert_eq!(rule.on_timer(&facts), expected, "{name}");
    }
}

#[test]
fn invalid_rules_name_every_reason() {
    let definition: RuleDefinition = serde_json::from_value(json!({
        "name": "",
        "cooldown_seconds": 999_999_999,
        "when": {"any": [
            {"absence": {"after": {"type": "a"}, "missing": {"type": "b"}, "within": "90d"}},
            {"count": {"of": {"where": {"field": "data", "op": "eq", "value": 1}}, "at_least": 0, "within": "10m"}},
            {"profile": {"view": "View!", "attribute": "x", "op": "near", "value": 1}},
            {"all": []}
        ]},
        "actions": [{"type": "webhook", "url": "ftp://x"}]
    }))
    .unwrap();
    let problems = definition.compile().unwrap_err();
    let got: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.field.as_str(), p.code))
        .collect();
    assert_eq!(
        got,
        [
            ("name", "invalid_name"),
            ("when/any/0/absence", "misplaced_absence"),
            ("when/any/0/absence/within", "invalid_window"),
            ("when/any/1/count", "invalid_count"),
            ("when/any/1/count/of", "invalid_pointer"),
            ("when/any/2/profile", "invalid_view"),
            ("when/any/2/profile", "unknown_operator"),
            ("when/any/3", "empty_group"),
            ("cooldown_seconds", "invalid_cooldown"),
            ("actions/0/url", "invalid_url"),
        ]
    );
    let unknown = json!({"name": "r", "when": {"sometimes": {}}, "actions": []});
    assert!(serde_json::from_value::<RuleDefinition>(unknown).is_err());
}

#[test]
fn private_and_metadata_targets_are_named_by_field() {
    let definition: RuleDefinition = serde_json::from_value(json!({
        "name": "r", "when": {"event": {"type": "a"}},
        "actions": [
            {"type": "webhook", "url": "https://hooks.example.com/a"},
            {"type": "webhook", "url": "http://127.0.0.1:8080/hook"},
            {"type": "enrichment", "url": "http://169.254.169.254/latest/meta-data/"},
            {"type": "webhook", "url": "http://localhost/"},
            {"type": "enrichment", "url": "http://[::ffff:10.0.0.1]/"},
            {"type": "publish", "name": "x"}
        ]
    }))
    .unwrap();
    assert!(definition.compile().is_ok(), "the form is valid");
    let fields = |policy: &TargetPolicy| -> Vec<(String, &str)> {
        definition
            .target_problems(policy)
            .into_iter()
            .map(|p| (p.field, p.code))
            .collect()
    };
    assert_eq!(
        fields(&TargetPolicy::public_only()),
        [
            ("actions/1/url".to_owned(), "forbidden_target"),
            ("actions/2/url".to_owned(), "forbidden_target"),
            ("actions/3/url".to_owned(), "forbidden_target"),
            ("actions/4/url".to_owned(), "forbidden_target"),
        ]
    );
    assert_eq!(
        fields(&TargetPolicy::allowing_private()),
        [("actions/2/url".to_owned(), "forbidden_target")],
        "the metadata address stays refused"
    );
}

#[test]
fn a_rule_knows_what_it_reads() {
    let rule = rule(json!({"all": [
        {"count": {"of": {"type": "a"}, "at_least": 2, "within": "2h"}},
        {"profile": {"view": "view-one", "attribute": "x", "op": "exists"}},
        {"absence": {"after": {"type": "a"}, "missing": {"type": "b"}, "within": "3h"}}
    ]}));
    assert_eq!(rule.lookback, Duration::hours(3));
    assert_eq!(rule.views, BTreeSet::from(["view-one".to_owned()]));
}

mod rule_set {
    use super::*;
    use crate::view::EventFilter;
    use proptest::prelude::*;

    /// The reference: each condition read straight from its JSON, every filter
    /// matched anew.
    fn naive(spec: &ConditionSpec, facts: &Facts<'_>) -> bool {
        let compile = |f: &EventFilter| f.compile(&mut Vec::new());
        match spec {
            ConditionSpec::All(items) => items.iter().all(|c| naive(c, facts)),
            ConditionSpec::Any(items) => items.iter().any(|c| naive(c, facts)),
            ConditionSpec::Not(inner) => !naive(inner, facts),
            ConditionSpec::Event(filter) => compile(filter).matches(facts.event),
            ConditionSpec::Count(count) => {
                let (of, within) = (
                    compile(&count.of),
                    crate::view::parse_window(&count.within).unwrap(),
                );
                let n = facts
                    .history
                    .iter()
                    .filter(|s| {
                        s.time > facts.time - within && s.time <= facts.time && of.matches(s.event)
                    })
                    .count();
                n >= count.at_least as usize
            }
            ConditionSpec::Profile(p) => {
                let actual = facts
                    .profiles
                    .get(&p.view)
                    .and_then(|v| v.get(&p.attribute));
                let op = crate::view::Op::parse(&p.op).unwrap();
                crate::view::holds(
                    actual.filter(|v| !v.is_null()),
                    op,
                    p.value.as_ref().unwrap_or(&Value::Null),
                )
            }
            ConditionSpec::Absence(_) => true,
        }
    }

    fn filter() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0..3u8).prop_map(|t| json!({"type": format!("t{t}")})),
            (0..3u8).prop_map(|p| json!({"where": {"field": "/data/p", "op": "eq", "value": p}})),
            (0..3u8, 0..3u8).prop_map(|(t, p)| json!({"type": format!("t{t}"), "where": {"field": "/data/p", "op": "gte", "value": p}})),
            Just(json!({"source": "/a"})),
        ]
    }

    fn condition() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            filter().prop_map(|f| json!({"event": f})),
            (
                filter(),
                1..4u32,
                prop_oneof![Just("2m"), Just("5m"), Just("1h")]
            )
                .prop_map(|(f, n, w)| json!({"count": {"of": f, "at_least": n, "within": w}})),
            (0..3u8).prop_map(
                |n| json!({"profile": {"view": "view-v", "attribute": "n", "op": "gt", "value": n}})
            ),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..3).prop_map(|c| json!({"all": c})),
                prop::collection::vec(inner.clone(), 1..3).prop_map(|c| json!({"any": c})),
                inner.prop_map(|c| json!({"not": c})),
            ]
        })
    }

    fn event() -> impl Strategy<Value = (i64, Value)> {
        (0..20i64, 0..3u8, 0..3u8, any::<bool>()).prop_map(|(m, t, p, a)| {
            (m, json!({"type": format!("t{t}"), "source": if a { "/a" } else { "/b" }, "data": {"p": p}}))
        })
    }

    proptest! {
        #[test]
        fn a_rule_set_agrees_with_each_rule_read_naively(
            whens in prop::collection::vec(condition(), 1..8),
            mut history in prop::collection::vec(event(), 1..30),
            n in 0..4u8,
        ) {
            history.sort_by_key(|(m, _)| *m);
            let specs: Vec<RuleDefinition> = whens.iter().map(|when| serde_json::from_value(json!({
                "name": "r", "when": when, "actions": [{"type": "publish", "name": "x"}]
            })).unwrap()).collect();
            let compiled: Vec<CompiledRule> = specs.iter().map(|s| s.compile().unwrap()).collect();
            let set = RuleSet::new(&compiled);
            let seen: Vec<Seen> = history.iter().map(|(m, e)| Seen { time: at(*m), event: e }).collect();
            let profiles = BTreeMap::from([("view-v".to_owned(), json!({"n": n}))]);
            for last in 0..seen.len() {
                let facts = Facts { event: seen[last].event, time: seen[last].time, history: &seen[..=last], profiles: &profiles };
                let verdicts = set.on_event(&facts);
                for (i, spec) in specs.iter().enumerate() {
                    let expected = if naive(&spec.when, &facts) { Verdict::Fire } else { Verdict::Nothing };
                    prop_assert_eq!(verdicts[i], expected, "rule {} {}", i, whens[i]);
                    prop_assert_eq!(compiled[i].on_event(&facts), expected);
                }
            }
        }
    }

    #[test]
    fn each_distinct_filter_is_kept_once() {
        let rules: Vec<CompiledRule> = (0..10)
            .map(|i| rule(json!({"all": [
                {"event": {"type": "page.viewed"}},
                {"count": {"of": {"type": "page.viewed"}, "at_least": 1 + i, "within": "10m"}},
                {"count": {"of": {"where": {"field": "/data/path", "op": "eq", "value": format!("/p/{}", i % 2)}}, "at_least": 1, "within": "1h"}}
            ]})))
            .collect();
        assert_eq!(
            RuleSet::new(&rules).distinct_filters(),
            3,
            "page.viewed and two paths"
        );
    }

    #[test]
    fn a_rule_knows_whether_the_projection_is_enough() {
        let cases = [
            (
                json!({"count": {"of": {"type": "a", "source": "/s"}, "at_least": 2, "within": "2h"}}),
                true,
            ),
            (
                json!({"absence": {"after": {"type": "a"}, "missing": {"type": "b"}, "within": "3h"}}),
                true,
            ),
            (
                json!({"event": {"where": {"field": "/data/x", "op": "exists"}}}),
                false,
            ),
            (
                json!({"absence": {"after": {"type": "a"}, "missing": {"where": {"field": "/data/x", "op": "exists"}}, "within": "3h"}}),
                false,
            ),
            (
                json!({"profile": {"view": "view-one", "attribute": "x", "op": "exists"}}),
                false,
            ),
        ];
        for (when, expected) in cases {
            assert_eq!(rule(when.clone()).reads_only_steps(), expected, "{when}");
        }
    }
}

mod replaying {
    use super::*;
    use crate::rules::caps::{compile_caps, CapSpec, Caps};
    use crate::rules::replay::replay_person;

    fn tenant_caps(specs: Value) -> Vec<caps::Cap> {
        let specs: Vec<CapSpec> = serde_json::from_value(specs).unwrap();
        let mut problems = Vec::new();
        let caps = compile_caps(&specs, "caps", false, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        caps
    }

    /// (name, rule, extra rule fields, tenant caps, events as (minute, type), window
    /// in minutes, expected (minute, capped) firings)
    type Case = (
        &'static str,
        Value,
        Value,
        Value,
        Vec<(i64, &'static str)>,
        (i64, i64),
        Vec<(i64, bool)>,
    );

    #[test]
    fn a_replay_applies_the_window_cooldown_and_caps() {
        let view = json!({"event": {"type": "v"}});
        let absence = json!({"absence": {"after": {"type": "cart"}, "missing": {"type": "paid"}, "within": "30m"}});
        let views = vec![(0, "v"), (10, "v"), (20, "v"), (70, "v"), (80, "v")];
        let cases: Vec<Case> = vec![
            (
                "every match",
                view.clone(),
                json!({}),
                json!([]),
                views.clone(),
                (0, 100),
                vec![
                    (0, false),
                    (10, false),
                    (20, false),
                    (70, false),
                    (80, false),
                ],
            ),
            (
                "inside the window only",
                view.clone(),
                json!({}),
                json!([]),
                views.clone(),
                (10, 70),
                vec![(10, false), (20, false), (70, false)],
            ),
            (
                "cooldown of an hour",
                view.clone(),
                json!({"cooldown_seconds": 3600}),
                json!([]),
                views.clone(),
                (0, 100),
                vec![(0, false), (70, false)],
            ),
            (
                "rule cap: 2 per hour, then capped",
                view.clone(),
                json!({"caps": [{"max": 2, "per": "1h"}]}),
                json!([]),
                views.clone(),
                (0, 100),
                vec![
                    (0, false),
                    (10, false),
                    (20, true),
                    (70, false),
                    (80, false),
                ],
            ),
            (
                "tenant cap on the channel",
                view.clone(),
                json!({}),
                json!([{"max": 1, "per": "1h", "channel": "publish"}]),
                views.clone(),
                (0, 100),
                vec![(0, false), (10, true), (20, true), (70, false), (80, true)],
            ),
            (
                "tenant cap on another channel",
                view.clone(),
                json!({}),
                json!([{"max": 1, "per": "1h", "channel": "webhook"}]),
                views.clone(),
                (0, 100),
                vec![
                    (0, false),
                    (10, false),
                    (20, false),
                    (70, false),
                    (80, false),
                ],
            ),
            (
                "a capped firing starts no cooldown",
                view.clone(),
                json!({"cooldown_seconds": 600, "caps": [{"max": 1, "per": "1h"}]}),
                json!([]),
                vec![(0, "v"), (15, "v"), (30, "v")],
                (0, 100),
                vec![(0, false), (15, true), (30, true)],
            ),
            (
                "absence: the purchase came",
                absence.clone(),
                json!({}),
                json!([]),
                vec![(0, "cart"), (20, "paid")],
                (0, 100),
                vec![],
            ),
            (
                "absence: no purchase",
                absence.clone(),
                json!({}),
                json!([]),
                vec![(0, "cart"), (40, "paid")],
                (0, 100),
                vec![(0, false)],
            ),
            (
                "absence: not due by the end",
                absence,
                json!({}),
                json!([]),
                vec![(0, "cart")],
                (0, 20),
                vec![],
            ),
        ];
        for (name, when, extra, tenant, events, (from, to), expected) in cases {
            let mut definition =
                json!({"name": "r", "when": when, "actions": [{"type": "publish", "name": "x"}]});
            definition
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let definition: RuleDefinition = serde_json::from_value(definition).unwrap();
            let rule = definition.compile().unwrap();
            let mut caps = rule.caps.clone();
            caps.extend(tenant_caps(tenant));
            let values: Vec<Value> = events.iter().map(|(_, t)| json!({"type": t})).collect();
            let seen: Vec<Seen> = events
                .iter()
                .zip(&values)
                .map(|((m, _), e)| Seen {
                    time: at(*m),
                    event: e,
                })
                .collect();
            let got: Vec<(i64, bool)> = replay_person(
                &rule,
                &seen,
                &BTreeMap::new(),
                (at(from), at(to)),
                &Caps(caps),
                &["publish"],
            )
            .into_iter()
            .map(|r| ((r.time - at(0)).num_minutes(), r.capped))
            .collect();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn bad_caps_are_named_by_field() {
        let definition: RuleDefinition = serde_json::from_value(json!({
            "name": "r", "when": {"event": {"type": "a"}}, "actions": [{"type": "publish", "name": "x"}],
            "caps": [{"max": 0, "per": "1d"}, {"max": 1, "per": "90d"}, {"max": 1, "per": "1d", "channel": "webhook"}]
        })).unwrap();
        let got: Vec<(String, &str)> = definition
            .compile()
            .unwrap_err()
            .into_iter()
            .map(|p| (p.field, p.code))
            .collect();
        assert_eq!(
            got,
            [
                ("caps/0/max".to_owned(), "invalid_cap"),
                ("caps/1/per".to_owned(), "invalid_period"),
                ("caps/2/channel".to_owned(), "invalid_cap"),
            ]
        );
    }
}
