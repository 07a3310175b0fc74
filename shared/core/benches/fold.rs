//! Benchmark (issue 3a): fold throughput for a view of 10 attributes.
//!
//! - `baseline_serde_json_parse`: parsing the stored events' JSON text (which every
//!   read from the Tape has to do anyway).
//! - `fold_parsed`: folding already-parsed events into the 10 attributes.
//! - `parse_and_fold`: both, as a profile read did before issue 12 (a `Value` per
//!   event).
//! - `fold_stored` (issue 12): from the stored entries as a profile read does now (a
//!   `TapeFold` over borrowed rows): the time from the sort key, then one pass over the
//!   JSON that keeps only what the view reads, folded into the 10 attributes.
//!
//! cargo bench -p cjaas-core --bench fold
//!
//! With `FOLD_CPU_ROUNDS=n`, instead of criterion's wall-clock timing, each of the four
//! runs n times, interleaved, timed in this process's CPU time (from `/proc`), and
//! reported as events per CPU-second: on a shared machine that is the figure per core.
//! `FOLD_CPU_ONLY=<name>` runs only that one (to profile it).

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, Criterion, Throughput};
use serde_json::{json, Value};
use std::hint::black_box;
use std::sync::Arc;

use cjaas_core::fold::{finish, FoldEvent, Part, ProfileState, StoredFold, TapeFold, TapeRow};
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

/// The type of the `i`th event (a Tape entry stores it apart from the event's text).
fn type_of(i: usize) -> &'static str {
    if i.is_multiple_of(10) {
        "order.paid"
    } else {
        "page.viewed"
    }
}

/// The fold of a profile read: the stored entries as the store hands them over (sort
/// key, type, expiry and text, borrowed), the time read from the sort key.
fn fold_rows(view: &Arc<CompiledView>, stored: &[(String, DateTime<Utc>, String)]) -> TapeFold {
    let mut fold = TapeFold::new(view.clone(), Part::Unwindowed, false);
    fold.fold(
        stored
            .iter()
            .enumerate()
            .map(|(i, (key, _, text))| TapeRow {
                sort_key: key,
                ty: type_of(i),
                expires_at: None,
                json: text,
            }),
    );
    fold
}

/// Stored events as the Tape returns them: (sort key, JSON text).
fn stored_events() -> Vec<(String, DateTime<Utc>, String)> {
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    (0..EVENTS)
        .map(|i| {
            let time = start + Duration::seconds(i as i64 * 37);
            let id = format!("evt-{i}");
            let ty = type_of(i);
            let data = if i % 10 == 0 {
                json!({"total": (i % 97) as f64 * 3.5, "currency": "EUR", "device": "iPhone"})
            } else {
                json!({"path": format!("/p/{}", i % 40), "referrer": "https://search.example.org/", "device": "Android"})
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
    for (i, ((key, time, text), event)) in stored.iter().zip(&parsed).enumerate() {
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
            ty: Some(type_of(i)),
        };
        from_text.fold_stored(&view, Part::Unwindowed, [one], None);
    }
    assert_eq!(from_values, from_text, "both folds agree");
    let shared = Arc::new(view.clone());
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
            let fold = fold_rows(&shared, black_box(&stored));
            assert_eq!(fold.skipped, 0);
            black_box(finish(&view, &fold.state, &ProfileState::new(&view)))
        })
    });
    group.finish();
}

/// CPU seconds this process has used (user + system), in 10 ms ticks.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn cpu_rounds(rounds: usize) {
    let view = ten_attribute_view();
    let stored = stored_events();
    let parsed: Vec<Value> = stored
        .iter()
        .map(|(_, _, t)| serde_json::from_str(t).unwrap())
        .collect();
    let baseline = || {
        for (_, _, text) in black_box(&stored) {
            black_box(serde_json::from_str::<Value>(text).unwrap());
        }
    };
    let fold_parsed = || {
        let mut state = ProfileState::new(&view);
        for ((key, time, _), event) in stored.iter().zip(&parsed) {
            let fold = FoldEvent {
                sort_key: key,
                time: *time,
                event,
            };
            state.fold(&view, Part::Unwindowed, &fold, None);
        }
        black_box(finish(&view, &state, &ProfileState::new(&view)));
    };
    let parse_and_fold = || {
        let mut state = ProfileState::new(&view);
        for (key, time, text) in black_box(&stored) {
            let event: Value = serde_json::from_str(text).unwrap();
            let fold = FoldEvent {
                sort_key: key,
                time: *time,
                event: &event,
            };
            state.fold(&view, Part::Unwindowed, &fold, None);
        }
        black_box(finish(&view, &state, &ProfileState::new(&view)));
    };
    let shared = Arc::new(view.clone());
    let fold_stored = || {
        let fold = fold_rows(&shared, black_box(&stored));
        black_box(finish(&view, &fold.state, &ProfileState::new(&view)));
    };
    let runs: [(&str, &dyn Fn()); 4] = [
        ("baseline_serde_json_parse", &baseline),
        ("fold_parsed", &fold_parsed),
        ("parse_and_fold", &parse_and_fold),
        ("fold_stored", &fold_stored),
    ];
    // `FOLD_CPU_ONLY=fold_stored` runs one workload alone, for a profiler.
    let only = std::env::var("FOLD_CPU_ONLY").ok();
    let mut cpu = [0.0f64; 4];
    for _ in 0..rounds {
        for (i, (name, run)) in runs.iter().enumerate() {
            if only.as_deref().is_some_and(|only| only != *name) {
                continue;
            }
            let start = cpu_seconds();
            for _ in 0..10 {
                run();
            }
            cpu[i] += cpu_seconds() - start;
        }
    }
    let events = (rounds * 10 * EVENTS) as f64;
    for (i, (name, _)) in runs.iter().enumerate() {
        if cpu[i] == 0.0 {
            continue;
        }
        println!(
            "{name:<28} {:>8.3} ms CPU per 10,000 events  {:>10.0} events per CPU-second  {:.2}x the baseline's CPU time",
            cpu[i] / events * EVENTS as f64 * 1000.0,
            events / cpu[i],
            cpu[i] / cpu[0],
        );
    }
}

criterion_group!(benches, fold);

fn main() {
    match std::env::var("FOLD_CPU_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(rounds) => cpu_rounds(rounds),
        None => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
