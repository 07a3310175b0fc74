//! Benchmark (issue 12; issue 3b before it): reading the profile of a person with
//! 10,000 events on the embedded default, with the 10-attribute view of the fold bench,
//! through `Profiles::build` (the code behind `GET /v1/persons/{p}/profile`).
//!
//! - cold: a view with no snapshot yet, so the whole Tape is read and folded, and the
//!   snapshot saved;
//! - repeated: the same view again, with nothing new, then with 10 new events each time.
//!
//! Baselines in the same run: a serde_json parse (`Value`) of the same 10,000 events'
//! text, already in memory; and paging through the same events as a journey.
//!
//! nice -n 10 cargo bench -p cjaas-local --bench profile_read
//! (PROFILE_READ_RUNS sets the number of cold reads, 31 by default.)

mod common;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use cjaas_app::profiles::{Aliases, Profiles, ViewKey};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::TapeStore;
use cjaas_core::tape::{JourneyQuery, StoredEvent, TapeEntry, MAX_PAGE};
use cjaas_core::view::{CompiledView, ViewDefinition};
use cjaas_local::EmbeddedStore;

const EVENTS: usize = 10_000;

fn view() -> CompiledView {
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

/// The events of the issue 3 benchmark (`tests/benches/profile_read.rs`).
fn entries(tenant: &TenantId, person: &PersonId, from: usize, count: usize) -> Vec<TapeEntry> {
    let start: DateTime<Utc> = Utc::now() - Duration::days(10);
    (from..from + count)
        .map(|i| {
            let time = start + Duration::seconds(i as i64 * 37);
            let id = format!("evt-{i}");
            let (ty, data) = if i % 10 == 0 {
                ("order.paid", json!({"total": (i % 97) as f64 * 3.5, "device": "iPhone"}))
            } else {
                ("page.viewed", json!({"path": format!("/p/{}", i % 40), "referrer": "https://search.example.org/", "device": "Android"}))
            };
            let event = json!({"specversion": "1.0", "id": id, "source": "https://shop.example.com", "type": ty,
                "person": person.as_str(), "time": time, "data": data});
            TapeEntry {
                tenant: tenant.clone(),
                person: person.clone(),
                time,
                received_at: time,
                ty: ty.into(),
                source: "https://shop.example.com".into(),
                id,
                expires_at: None,
                event: event.to_string(),
            }
        })
        .collect()
}

/// Milliseconds of each run.
struct Sample(Vec<f64>);

impl Sample {
    fn p(&self, q: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() - 1) as f64 * q).round() as usize]
    }

    fn print(&self, name: &str, baseline: f64, events_read: u64) {
        println!(
            "  {name:<44} n={:<4} p50={:>8.2} ms  p99={:>8.2} ms  events read={events_read:<6} ratio to the parse (p50)={:.2}",
            self.0.len(),
            self.p(0.5),
            self.p(0.99),
            self.p(0.5) / baseline,
        );
    }
}

async fn time<T, F: std::future::Future<Output = T>>(read: F) -> (f64, T) {
    let start = Instant::now();
    let out = read.await;
    (start.elapsed().as_secs_f64() * 1000.0, out)
}

async fn journey(tape: &dyn TapeStore, tenant: &TenantId, person: &PersonId) -> Vec<StoredEvent> {
    let mut query = JourneyQuery {
        limit: MAX_PAGE,
        ..JourneyQuery::default()
    };
    let mut events = Vec::new();
    loop {
        let page = tape.query(tenant, person, &query).await.unwrap();
        events.extend(page.events);
        match page.next {
            Some(c) => query.after = Some(c.after),
            None => return events,
        }
    }
}

#[tokio::main]
async fn main() {
    let runs = common::env_or("PROFILE_READ_RUNS", 31) as usize;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let tape: Arc<dyn TapeStore> = store.clone();
    let (tenant, alice) = (
        TenantId::parse("bench").unwrap(),
        PersonId::parse("alice").unwrap(),
    );
    for chunk in entries(&tenant, &alice, 0, EVENTS).chunks(500) {
        let outcomes = tape.append_batch(chunk).await;
        assert!(outcomes.iter().all(Result::is_ok), "appended");
    }
    let profiles = Profiles::new(
        tape.clone(),
        store.clone(),
        Arc::new(Aliases::new(store.clone())),
    );
    let view = view();
    println!(
        "embedded default (redb): profile of a person with {EVENTS} events, 10-attribute view"
    );

    let (mut parse, mut pages, mut cold) = (Sample(vec![]), Sample(vec![]), Sample(vec![]));
    let mut cold_read = 0;
    // Interleaved, so that a change in the machine's load hits every series alike.
    for run in 0..runs {
        let (ms, events) = time(journey(tape.as_ref(), &tenant, &alice)).await;
        assert_eq!(events.len(), EVENTS, "the whole history is readable");
        pages.0.push(ms);
        let (ms, ()) = time(async {
            for event in black_box(&events) {
                black_box(serde_json::from_str::<Value>(&event.event).unwrap());
            }
        })
        .await;
        parse.0.push(ms);
        let key = ViewKey {
            id: format!("cold-{run}"),
            version: 1,
        };
        let read = profiles.build(&tenant, &alice, &view, Some(&key), false);
        let (ms, result) = time(read).await;
        cold_read = result.unwrap().stats.events_read;
        cold.0.push(ms);
    }
    let baseline = parse.p(0.5);
    parse.print("baseline: serde_json parse of the events", baseline, 0);
    pages.print(
        "baseline: page through the journey",
        baseline,
        EVENTS as u64,
    );
    cold.print("cold (no snapshot: full fold, saved)", baseline, cold_read);

    let key = ViewKey {
        id: "warm".into(),
        version: 1,
    };
    let (mut repeated, mut with_new) = (Sample(vec![]), Sample(vec![]));
    profiles
        .build(&tenant, &alice, &view, Some(&key), false)
        .await
        .unwrap();
    let (mut warm_read, mut new_read) = (0, 0);
    for i in 0..100 {
        let (ms, result) = time(profiles.build(&tenant, &alice, &view, Some(&key), false)).await;
        warm_read = result.unwrap().stats.events_read;
        repeated.0.push(ms);
        let batch = entries(&tenant, &alice, EVENTS + i * 10, 10);
        assert!(tape.append_batch(&batch).await.iter().all(Result::is_ok));
        let (ms, result) = time(profiles.build(&tenant, &alice, &view, Some(&key), false)).await;
        new_read = result.unwrap().stats.events_read;
        with_new.0.push(ms);
    }
    repeated.print("repeated, nothing new", baseline, warm_read);
    with_new.print("repeated, 10 new events since", baseline, new_read);
}
