//! Benchmark (issue 3a): fold throughput for a view of 10 attributes.
//!
//! - `baseline_serde_json_parse`: parsing the stored events' JSON text (which every
//!   read from the Tape has to do anyway).
//! - `fold_parsed`: folding already-parsed events into the 10 attributes.
//! - `parse_and_fold`: both, as a profile read did before issue 12 (a `Value` per
//!   event).
//! - `fold_stored` (issue 12): from the stored text as a profile read does now: the
//!   time from the sort key, then one pass over the JSON that keeps only what the view
//!   reads, folded into the 10 attributes.
//!
//! cargo bench -p cjaas-core --bench fold

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use std::hint::black_box;

use cjaas_core::fold::{finish, time_of_sort_key, FoldEvent, Part, ProfileState, StoredFold};
use cjaas_core::tape::{event_hash, time_key};
use cjaas_core::view::{CompiledView, ViewDefinition};

const EVENTS: usize = 10_000;

fn ten_attribute_view() -> CompiledView {
    let view: ViewDefinition = serde_json::from_value(json!({"name": "bench", "attributes": [
        {"name": "last_page", "filter": {"type": "page.viewed"}, "field": "/data/path", "aggregation": "latest"},
        {"name": "first_page", "filter": {"type": "page.viewed"}, "field": "/data/path", "aggregation": "first"},
        {"name": "orders", "filter": {"type": "order.paid"}, "aggregation": "count"},
        {"name": "ltv", "filter": {"type": "order.paid"}, "field": "/data/total", "aggregation": "sum"},
        {"name": "avg_order", "filter": {"type": "order.paid"}, "field": "/data/total", "aggregation": "avg"},
        {"name": "biggest", "field": "/data/total", "aggregation": "max"},
        {"name": "pages", "field": "/data/path", "aggregation": "distinct", "limit": 20},
        {"name": "recent", "field": "/data/path", "aggregation": "last_n", "limit": 10},
        {"name": "mobile", "filter": {"where": {"field": "/data/device", "op": "eq", "value": "iPhone"}}, "aggregation": "exists"},
        {"name": "vip", "expression": "ltv > 1000.0"},
    ]}))
    .unwrap();
    view.compile().unwrap()
}

/// Stored events as the Tape returns them: (sort key, JSON text).
fn stored_events() -> Vec<(String, DateTime<Utc>, String)> {
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    (0..EVENTS)
        .map(|i| {
            let time = start + Duration::seconds(i as i64 * 37);
            let id = format!("evt-{i}");
            let (ty, data) = if i % 10 == 0 {
                ("order.paid", json!({"total": (i % 97) as f64 * 3.5, "currency": "EUR", "device": "iPhone"}))
            } else {
                ("page.viewed", json!({"path": format!("/p/{}", i % 40), "referrer": "https://search.example.org/", "device": "Android"}))
            };
            let event = json!({"specversion": "1.0", "id": id, "source": "https://shop.example.com", "type": ty,
                "person": "alice", "time": time, "data": data});
            let key = format!("E#{}#{}", time_key(time), event_hash("https://shop.example.com", &id));
            (key, time, event.to_string())
        })
        .collect()
}

fn fold(c: &mut Criterion) {
    let view = ten_attribute_view();
    let stored = stored_events();
    let parsed: Vec<Value> = stored
        .iter()
        .map(|(_, _, text)| serde_json::from_str(text).unwrap())
        .collect();
    let (mut from_values, mut from_text) = (ProfileState::new(&view), ProfileState::new(&view));
    for ((key, time, text), event) in stored.iter().zip(&parsed) {
        let fold = FoldEvent {
            sort_key: key,
            time: *time,
            event,
        };
        from_values.fold(&view, Part::Unwindowed, &fold, None);
        let one = StoredFold {
            sort_key: key,
            time: *time,
            json: text,
        };
        from_text.fold_stored(&view, Part::Unwindowed, [one], None);
    }
    assert_eq!(from_values, from_text, "both folds agree");
    let mut group = c.benchmark_group("fold_10_attributes_10k_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("baseline_serde_json_parse", |b| {
        b.iter(|| {
            for (_, _, text) in black_box(&stored) {
                black_box(serde_json::from_str::<Value>(text).unwrap());
            }
        })
    });
    group.bench_function("fold_parsed", |b| {
        b.iter(|| {
            let mut state = ProfileState::new(&view);
            for ((key, time, _), event) in stored.iter().zip(&parsed) {
                state.fold(
                    &view,
                    Part::Unwindowed,
                    &FoldEvent {
                        sort_key: key,
                        time: *time,
                        event,
                    },
                    None,
                );
            }
            black_box(finish(&view, &state, &ProfileState::new(&view)))
        })
    });
    group.bench_function("parse_and_fold", |b| {
        b.iter(|| {
            let mut state = ProfileState::new(&view);
            for (key, time, text) in black_box(&stored) {
                let event: Value = serde_json::from_str(text).unwrap();
                state.fold(
                    &view,
                    Part::Unwindowed,
                    &FoldEvent {
                        sort_key: key,
                        time: *time,
                        event: &event,
                    },
                    None,
                );
            }
            black_box(finish(&view, &state, &ProfileState::new(&view)))
        })
    });
    group.bench_function("fold_stored", |b| {
        b.iter(|| {
            let mut state = ProfileState::new(&view);
            let events = black_box(&stored).iter().map(|(key, _, text)| StoredFold {
                sort_key: key,
                time: time_of_sort_key(key).unwrap(),
                json: text,
            });
            assert_eq!(state.fold_stored(&view, Part::Unwindowed, events, None), 0);
            black_box(finish(&view, &state, &ProfileState::new(&view)))
        })
    });
    group.finish();
}

criterion_group!(benches, fold);
criterion_main!(benches);
