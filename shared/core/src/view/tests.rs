use super::*;
use serde_json::{json, Value};

#[test]
fn numbers_are_equal_by_value_in_every_operator() {
    let cases = [
        (json!(2.0), Op::Eq, json!(2), true),
        (json!(2), Op::Ne, json!(2.0), false),
        (json!(3), Op::In, json!([1.0, 3.0]), true),
        (json!([1, 2.0]), Op::Contains, json!(2), true),
        (json!("2"), Op::Eq, json!(2), false),
    ];
    for (actual, op, expected, holds_now) in cases {
        assert_eq!(
            holds(Some(&actual), op, &expected),
            holds_now,
            "{actual} {op:?} {expected}"
        );
    }
}

fn view(attributes: Value) -> ViewDefinition {
    serde_json::from_value(json!({"name": "v", "attributes": attributes})).unwrap()
}

fn problems(attributes: Value) -> Vec<(Option<String>, &'static str)> {
    view(attributes)
        .compile()
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.attribute, p.code))
        .collect()
}

#[test]
fn a_valid_view_compiles_with_computed_attributes_in_dependency_order() {
    let compiled = view(json!([
        {"name": "boosted", "expression": "ltv * 1.5"},
        {"name": "ltv", "filter": {"type": "order.paid"}, "field": "/data/total", "aggregation": "sum"},
        {"name": "label", "expression": "boosted > 100.0 ? 'vip' : 'regular'"},
        {"name": "pages", "field": "/data/path", "aggregation": "distinct", "limit": 5, "window": "7d"},
    ]))
    .compile()
    .unwrap();
    assert_eq!(compiled.aggregates.len(), 2);
    let order: Vec<_> = compiled.computed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(order, ["boosted", "label"]);
    assert_eq!(compiled.aggregates[1].aggregation, Aggregation::Distinct(5));
    assert_eq!(compiled.aggregates[1].window, Some(Duration::days(7)));
}

#[test]
fn every_kind_of_mistake_is_named() {
    let cases = [
        (
            json!([{"name": "a", "aggregation": "median", "field": "/x"}]),
            "unknown_aggregation",
        ),
        (
            json!([{"name": "a", "aggregation": "sum"}]),
            "missing_field",
        ),
        (
            json!([{"name": "a", "aggregation": "sum", "field": "data.total"}]),
            "invalid_pointer",
        ),
        (
            json!([{"name": "a", "aggregation": "sum", "field": "/x~2"}]),
            "invalid_pointer",
        ),
        (
            json!([{"name": "a", "aggregation": "count", "window": "3w"}]),
            "invalid_window",
        ),
        (
            json!([{"name": "a", "aggregation": "count", "window": "0d"}]),
            "invalid_window",
        ),
        (
            json!([{"name": "a", "aggregation": "distinct", "field": "/x", "limit": 0}]),
            "invalid_limit",
        ),
        (
            json!([{"name": "a", "expression": "1 +"}]),
            "invalid_expression",
        ),
        (
            json!([{"name": "a", "expression": "b * 2"}]),
            "unknown_reference",
        ),
        (
            json!([{"name": "a", "expression": "b"}, {"name": "b", "expression": "a"}]),
            "cycle",
        ),
        (json!([{"name": "a", "expression": "a + 1"}]), "cycle"),
        (
            json!([{"name": "a", "aggregation": "count"}, {"name": "a", "aggregation": "count"}]),
            "duplicate_attribute",
        ),
        (
            json!([{"name": "a b", "aggregation": "count"}]),
            "invalid_attribute_name",
        ),
        (
            json!([{"name": "a", "aggregation": "count", "expression": "1"}]),
            "mixed_attribute",
        ),
        (json!([{"name": "a"}]), "missing_aggregation"),
        (
            json!([{"name": "a", "aggregation": "count", "filter": {"where": {"field": "/x", "op": "like", "value": 1}}}]),
            "unknown_operator",
        ),
        (
            json!([{"name": "a", "aggregation": "count", "filter": {"where": {"field": "/x", "op": "in", "value": 1}}}]),
            "invalid_condition",
        ),
        (
            json!([{"name": "a", "expression": "x".repeat(MAX_EXPRESSION_BYTES + 1)}]),
            "expression_too_long",
        ),
        (json!([]), "invalid_attributes"),
    ];
    for (attributes, code) in cases {
        let found = problems(attributes.clone());
        assert!(
            found.iter().any(|(_, c)| *c == code),
            "{attributes}: {found:?}"
        );
    }
}

#[test]
fn hostile_expressions_are_refused_at_compile_time() {
    let deep = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
    let cases = [
        (deep, "invalid_expression"),
        ("[".repeat(MAX_EXPRESSION_BYTES), "invalid_expression"),
        (
            "true ? ".repeat(120) + "1" + &" : 2".repeat(120),
            "invalid_expression",
        ),
        ("1 + ".repeat(600) + "1", "expression_too_long"),
        ("1 + ".repeat(100) + "1", "expression_too_deep"),
        (
            "[1].map(x, [1].map(y, y))".to_owned(),
            "expression_too_deep",
        ),
    ];
    for (expression, code) in cases {
        let found = problems(json!([{"name": "a", "expression": expression}]));
        assert!(
            found.iter().any(|(_, c)| *c == code),
            "{}: {found:?}",
            &expression[..expression.len().min(40)]
        );
    }
}

#[test]
fn macro_variables_are_not_attribute_references() {
    let ok = view(json!([
        {"name": "pages", "field": "/data/path", "aggregation": "distinct"},
        {"name": "saw_pricing", "expression": "pages.exists(p, p == '/pricing')"},
        {"name": "lengths", "expression": "pages.map(x, size(x))"},
    ]));
    assert!(ok.compile().is_ok(), "{:?}", ok.compile().err());
}

#[test]
fn unknown_fields_in_a_definition_are_refused() {
    let raw =
        json!({"name": "v", "attributes": [{"name": "a", "aggregation": "count", "colour": 1}]});
    assert!(serde_json::from_value::<ViewDefinition>(raw).is_err());
}

#[test]
fn filters_match_type_source_and_condition() {
    let event = json!({"type": "order.paid", "source": "/shop", "data": {"total": 120, "device": "iPhone", "tags": ["a"]}});
    let compile = |f: Value| {
        let filter: EventFilter = serde_json::from_value(f).unwrap();
        let mut found = Found::new();
        let compiled = filter.compile(&mut found);
        assert!(found.is_empty(), "{found:?}");
        compiled
    };
    let cases = [
        (json!({}), true),
        (json!({"type": ["x", "order.paid"]}), true),
        (json!({"type": "x"}), false),
        (json!({"source": "/shop"}), true),
        (
            json!({"where": {"field": "/data/total", "op": "gt", "value": 100}}),
            true,
        ),
        (
            json!({"where": {"field": "/data/total", "op": "lte", "value": 100}}),
            false,
        ),
        (
            json!({"where": {"field": "/data/device", "op": "in", "value": ["iPhone", "iPad"]}}),
            true,
        ),
        (
            json!({"where": {"field": "/data/device", "op": "contains", "value": "Pho"}}),
            true,
        ),
        (
            json!({"where": {"field": "/data/tags", "op": "contains", "value": "a"}}),
            true,
        ),
        (
            json!({"where": {"field": "/data/missing", "op": "exists"}}),
            false,
        ),
        (
            json!({"where": {"field": "/data/device", "op": "ne", "value": "Android"}}),
            true,
        ),
        (
            json!({"where": {"field": "/data/device", "op": "gt", "value": 3}}),
            false,
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            compile(filter.clone()).matches(&event),
            expected,
            "{filter}"
        );
    }
}

#[test]
fn windows_parse_in_minutes_hours_and_days() {
    assert_eq!(parse_window("90m"), Some(Duration::minutes(90)));
    assert_eq!(
        parse_window("5µ"),
        None,
        "a multi-byte unit is refused, not a panic"
    );
    assert_eq!(parse_window("24h"), Some(Duration::hours(24)));
    assert_eq!(parse_window("30d"), Some(Duration::days(30)));
    for bad in [
        "",
        "d",
        "-1d",
        "1.5h",
        "30",
        "99999d",
        "999999999999d",
        "200000000000000m",
    ] {
        assert_eq!(parse_window(bad), None, "{bad}");
    }
}
