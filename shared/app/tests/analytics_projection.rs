//! The Tape's lean projection (`cjaas_core::projection`) on the real embedded store:
//! analytics over projections serves the same figures as analytics over the full
//! entries, entries written before the projection existed still read (by decoding the
//! full event), and the operator backfill gives them their projection.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

use cjaas_app::analytics::Analytics;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::TapeStore;
use cjaas_core::projection::{steps_from_entries, TapeStep};
use cjaas_core::tape::TapeEntry;
use cjaas_local::scheduler::LocalBus;
use cjaas_local::EmbeddedStore;
use common::tape_entry;

const TYPES: [&str; 4] = ["view", "cart", "buy", "chat"];

fn entry(tenant: &TenantId, person: usize, time: DateTime<Utc>, n: usize) -> TapeEntry {
    let event = json!({"specversion": "1.0", "id": format!("e{n}"), "type": TYPES[n % 4],
                       "source": format!("/s{}", n % 3), "person": format!("p{person}"),
                       "time": time, "data": {"n": n}});
    TapeEntry {
        // Some entries have left retention already, some will.
        expires_at: match n % 7 {
            0 => Some((time - Duration::days(400)).timestamp()),
            1 => Some((time + Duration::days(400)).timestamp()),
            _ => None,
        },
        ..tape_entry(tenant, event, time)
    }
}

/// 5 persons; person 0 has 2,500 entries (three pages), several at the same instant.
fn entries(tenant: &TenantId, now: DateTime<Utc>) -> Vec<TapeEntry> {
    (0..3_000)
        .map(|n| {
            let person = if n < 2_500 { 0 } else { 1 + n % 4 };
            let time = now - Duration::minutes(((n * 37) % (40 * 24 * 60)) as i64 / 3 * 3);
            entry(tenant, person, time, n)
        })
        .collect()
}

async fn all_steps(
    tape: &(impl TapeStore + ?Sized),
    tenant: &TenantId,
    person: &PersonId,
    from: Option<DateTime<Utc>>,
    full: bool,
) -> Vec<TapeStep> {
    let (mut after, mut steps) = (None, Vec::new());
    loop {
        let page = if full {
            steps_from_entries(tape, tenant, person, from, after).await
        } else {
            tape.steps(tenant, person, from, after).await
        }
        .unwrap();
        steps.extend(page.steps);
        match page.next {
            Some(next) => after = Some(next),
            None => return steps,
        }
    }
}

async fn all_steps_after(
    tape: &(impl TapeStore + ?Sized),
    tenant: &TenantId,
    person: &PersonId,
    from: Option<DateTime<Utc>>,
    after: &str,
) -> Vec<TapeStep> {
    let (mut after, mut steps) = (Some(after.to_owned()), Vec::new());
    while let Some(cursor) = after.take() {
        let page = tape
            .steps(tenant, person, from, Some(cursor))
            .await
            .unwrap();
        steps.extend(page.steps);
        after = page.next;
    }
    steps
}

async fn reports(store: &Arc<EmbeddedStore>, tenant: &TenantId, now: DateTime<Utc>) -> Value {
    reports_in_batches(store, tenant, now, 100_000).await
}

/// The reports of a full run that reads at most about `steps` steps at once.
async fn reports_in_batches(
    store: &Arc<EmbeddedStore>,
    tenant: &TenantId,
    now: DateTime<Utc>,
    steps: usize,
) -> Value {
    let analytics = Analytics::new(store.clone(), store.clone(), Arc::new(LocalBus::default()))
        .with_watermark_lag(Duration::zero())
        .with_step_batch(steps);
    // A new funnel changes the basis, so every run is a full one.
    let definition = serde_json::from_value(json!({"name": "f", "steps": ["view", "buy"],
        "within_seconds": 86_400}))
    .unwrap();
    analytics.create_funnel(tenant, definition).await.unwrap();
    analytics.run(tenant, now).await.unwrap();
    let mut out = BTreeMap::new();
    for window in ["24h", "7d", "30d"] {
        let mut report =
            serde_json::to_value(analytics.report(tenant, window).await.unwrap()).unwrap();
        let report = report.as_object_mut().unwrap();
        report.remove("computed_at");
        report.remove("funnels");
        out.insert(window, Value::Object(report.clone()));
    }
    serde_json::to_value(out).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn analytics_over_projections_equals_analytics_over_full_events() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let tenant = TenantId::parse("acme").unwrap();
        let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
        let entries = entries(&tenant, now);
        store.append_batch(&entries).await;
        let from = Some(now - Duration::days(30));
        for p in 0..5 {
            let person = PersonId::parse(&format!("p{p}")).unwrap();
            for from in [None, from] {
                let lean = all_steps(store.as_ref(), &tenant, &person, from, false).await;
                let full = all_steps(store.as_ref(), &tenant, &person, from, true).await;
                assert_eq!(lean, full, "person {p}, from {from:?}");
                assert!(!lean.is_empty());
            }
        }
        let lean = reports(&store, &tenant, now).await;
        // Batches that cut person 0's 2,500 entries short, or hold one step.
        for steps in [700, 1] {
            assert_eq!(reports_in_batches(&store, &tenant, now, steps).await, lean);
        }
        let persons: Vec<PersonId> = (0..5)
            .map(|p| PersonId::parse(&format!("p{p}")).unwrap())
            .collect();
        for max in [1, 700, 1_000, 100_000] {
            let mut read = 0;
            while read < persons.len() {
                let batch = store
                    .steps_of_persons(&tenant, &persons[read..], from, max)
                    .await
                    .unwrap();
                assert!(!batch.persons.is_empty());
                for (i, steps) in batch.persons.iter().enumerate() {
                    let person = &persons[read + i];
                    let mut got: Vec<(DateTime<Utc>, String, Option<i64>)> = (steps.iter())
                        .map(|s| {
                            (
                                s.time,
                                batch.types.names()[s.ty as usize].clone(),
                                s.expires_at,
                            )
                        })
                        .collect();
                    if i + 1 == batch.persons.len() {
                        if let Some(after) = &batch.next {
                            let rest =
                                all_steps_after(store.as_ref(), &tenant, person, from, after).await;
                            got.extend(rest.into_iter().map(|s| (s.time, s.ty, s.expires_at)));
                        }
                    }
                    let want: Vec<_> = all_steps(store.as_ref(), &tenant, person, from, true)
                        .await
                        .into_iter()
                        .map(|s| (s.time, s.ty, s.expires_at))
                        .collect();
                    assert_eq!(got, want, "person {person}, batches of {max}");
                }
                read += batch.persons.len();
            }
        }

        // The same figures from the full entries: a store whose projection is gone.
        store.drop_steps_for_migration_test().await.unwrap();
        assert_eq!(reports(&store, &tenant, now).await, lean);
        assert!(lean["30d"]["events"].as_u64().unwrap() > 2_000);
    });
}

#[test]
fn entries_written_before_the_projection_still_read_and_the_backfill_completes_it() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let tenant = TenantId::parse("acme").unwrap();
        let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
        let entries = entries(&tenant, now);
        let (old, new) = entries.split_at(2_000);
        store.append_batch(old).await;
        let before = reports(&store, &tenant, now).await;
        // As a store written by the previous version looks: entries, no projection.
        store.drop_steps_for_migration_test().await.unwrap();
        // Appends after the upgrade write their projection; the old entries have none.
        store.append_batch(new).await;
        let person = PersonId::parse("p0").unwrap();
        let steps = all_steps(store.as_ref(), &tenant, &person, None, false).await;
        let full = all_steps(store.as_ref(), &tenant, &person, None, true).await;
        assert_eq!(
            steps, full,
            "pre-projection entries read through their events"
        );
        let mixed = reports(&store, &tenant, now).await;
        assert_ne!(mixed, before, "the new entries count");

        let written = store.backfill_steps().await.unwrap();
        assert_eq!(written, 2_000, "one row per entry that had none");
        assert_eq!(
            store.backfill_steps().await.unwrap(),
            0,
            "a second run writes nothing"
        );
        let steps = all_steps(store.as_ref(), &tenant, &person, None, false).await;
        assert_eq!(steps, full);
        assert_eq!(reports(&store, &tenant, now).await, mixed);

        // Erasure takes the projection with the entries.
        store.erase(&tenant, &person).await.unwrap();
        assert!(all_steps(store.as_ref(), &tenant, &person, None, false)
            .await
            .is_empty());
    });
}
