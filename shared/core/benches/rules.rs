//! Benchmark: rule evaluation, per event, with 100 active rules of one tenant: event
//! filters, counts over the person's last 50 events, AND/OR/NOT, profile conditions.
//! The rules are evaluated as one `RuleSet` (each distinct filter matched once per
//! event), and, for comparison, one by one. Baseline, in the same run: parsing the
//! same event from JSON (which the orchestrator does once per event anyway).
//!
//! cargo bench -p cjaas-core --bench rules

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::hint::black_box;

use cjaas_core::rules::{CompiledRule, Facts, RuleDefinition, RuleSet, Seen, Verdict};

fn rule(i: usize) -> CompiledRule {
    let path = format!("/p/{}", i % 20);
    let when = match i % 5 {
        0 => {
            json!({"event": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": path}}})
        }
        1 => {
            json!({"count": {"of": {"type": "page.viewed"}, "at_least": 3 + i % 5, "within": "10m"}})
        }
        2 => json!({"all": [
            {"event": {"type": ["page.viewed", "cart.added"]}},
            {"not": {"count": {"of": {"type": "order.paid"}, "at_least": 1, "within": "1d"}}}
        ]}),
        3 => json!({"any": [
            {"profile": {"view": "view-v", "attribute": "orders", "op": "gte", "value": i % 7}},
            {"event": {"source": "/app", "where": {"field": "/data/total", "op": "gt", "value": 100}}}
        ]}),
        _ => json!({"all": [
            {"event": {"type": "page.viewed", "where": {"field": "/data/path", "op": "contains", "value": "/p/"}}},
            {"profile": {"view": "view-v", "attribute": "tier", "op": "in", "value": ["gold", "vip"]}},
            {"count": {"of": {"where": {"field": "/data/path", "op": "eq", "value": path}}, "at_least": 2, "within": "30m"}}
        ]}),
    };
    let definition: RuleDefinition = serde_json::from_value(json!({
        "name": format!("rule {i}"), "when": when, "actions": [{"type": "publish", "name": "x"}]
    }))
    .unwrap();
    definition.compile().unwrap()
}

fn bench(c: &mut Criterion) {
    let now: DateTime<Utc> = Utc::now();
    let rules: Vec<CompiledRule> = (0..100).map(rule).collect();
    let events: Vec<Value> = (0..50)
        .map(|i| json!({"specversion": "1.0", "id": format!("e{i}"), "source": "/web", "type": if i % 9 == 0 { "cart.added" } else { "page.viewed" },
                        "person": "ana", "data": {"path": format!("/p/{}", i % 20), "total": i * 3}}))
        .collect();
    let history: Vec<Seen> = events
        .iter()
        .enumerate()
        .map(|(i, e)| Seen {
            time: now - Duration::seconds((50 - i as i64) * 20),
            event: e,
        })
        .collect();
    let profiles = BTreeMap::from([("view-v".to_owned(), json!({"orders": 3, "tier": "gold"}))]);
    let raw = serde_json::to_string(&events[49]).unwrap();

    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline: parse the event JSON", |b| {
        b.iter(|| black_box(serde_json::from_str::<Value>(black_box(&raw)).unwrap()))
    });
    let set = RuleSet::new(&rules);
    group.bench_function("evaluate 100 rules on one event", |b| {
        b.iter(|| {
            let facts = Facts {
                event: &events[49],
                time: history[49].time,
                history: &history,
                profiles: &profiles,
            };
            let verdicts = set.on_event(&facts);
            black_box(verdicts.iter().filter(|v| **v == Verdict::Fire).count())
        })
    });
    group.bench_function("100 rules one by one (no shared filters)", |b| {
        b.iter(|| {
            let facts = Facts {
                event: &events[49],
                time: history[49].time,
                history: &history,
                profiles: &profiles,
            };
            let fired = rules
                .iter()
                .filter(|r| r.on_event(&facts) == Verdict::Fire)
                .count();
            black_box(fired)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
