//! Property: an incremental analytics run (only changed and expired persons are read
//! again) serves the same figures as folding every person's whole Tape, whatever
//! arrives late, however much time passes between runs, and when funnels change.
//! Runs on the real embedded store.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

use cjaas_app::analytics::Analytics;
use cjaas_core::analytics::{basis, windows_at, FunnelDefinition, PersonFold, Step, Tally};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::TapeStore;
use cjaas_core::tape::TapeEntry;
use cjaas_local::scheduler::LocalBus;
use cjaas_local::EmbeddedStore;
use common::tape_entry;

const TYPES: [&str; 4] = ["view", "cart", "buy", "chat"];

#[derive(Debug, Clone)]
struct Round {
    /// Events to append: (person, minutes before the round's clock, type).
    events: Vec<(u8, i64, u8)>,
    /// Hours the clock moves before the run.
    hours_later: i64,
    add_funnel: bool,
}

fn round() -> impl Strategy<Value = Round> {
    (
        prop::collection::vec((0u8..6, -60i64..40 * 24 * 60, 0u8..4), 0..10),
        prop::sample::select(vec![0i64, 1, 5, 30, 24 * 8]),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(events, hours_later, add_funnel)| Round {
            events,
            hours_later,
            add_funnel,
        })
}

fn entry(tenant: &TenantId, person: u8, time: DateTime<Utc>, ty: u8, n: usize) -> TapeEntry {
    let event = json!({"specversion": "1.0", "id": format!("e{n}"), "source": "/s",
                       "type": TYPES[ty as usize], "person": format!("p{person}"), "time": time});
    tape_entry(tenant, event, time)
}

/// Every window's report from a fold of everything, without `computed_at`.
fn full_fold(
    analytics_input: &[TapeEntry],
    funnels: &[cjaas_core::analytics::Funnel],
    now: DateTime<Utc>,
) -> BTreeMap<String, Value> {
    let settings = Default::default();
    let mut by_person: BTreeMap<&str, Vec<&TapeEntry>> = BTreeMap::new();
    for e in analytics_input {
        by_person.entry(e.person.as_str()).or_default().push(e);
    }
    let mut sums: BTreeMap<String, Tally> = BTreeMap::new();
    for entries in by_person.values_mut() {
        entries.sort_by_key(|e| e.sort_key());
        let mut fold = PersonFold::new(&settings, funnels, now);
        for e in entries.iter() {
            fold.push(Step {
                time: e.time,
                ty: &e.ty,
            });
        }
        for (window, tally) in fold.finish(basis(&settings, funnels)).windows {
            sums.entry(window).or_default().add(&tally);
        }
    }
    windows_at(&settings, now)
        .iter()
        .map(|w| {
            let report = sums
                .remove(&w.name)
                .unwrap_or_default()
                .report(w, &settings, funnels, now);
            (
                w.name.clone(),
                without_computed_at(serde_json::to_value(report).unwrap()),
            )
        })
        .collect()
}

fn without_computed_at(mut report: Value) -> Value {
    report.as_object_mut().unwrap().remove("computed_at");
    report
}

fn check(rounds: Vec<Round>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let analytics = Analytics::new(store.clone(), store.clone(), Arc::new(LocalBus::default()))
            .with_watermark_lag(Duration::zero());
        let tenant = TenantId::parse("acme").unwrap();
        // Whole seconds: the Tape keeps event times to the microsecond.
        let mut clock = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
        let mut tape = Vec::new();
        for (i, round) in rounds.into_iter().enumerate() {
            clock += Duration::hours(round.hours_later);
            let entries: Vec<TapeEntry> = round
                .events
                .iter()
                .enumerate()
                .map(|(k, &(p, minutes, ty))| {
                    entry(
                        &tenant,
                        p,
                        clock - Duration::minutes(minutes),
                        ty,
                        tape.len() + k,
                    )
                })
                .collect();
            store.append_batch(&entries).await;
            tape.extend(entries);
            if round.add_funnel {
                let definition = FunnelDefinition {
                    name: "f".into(),
                    steps: vec!["view".into(), "buy".into()],
                    within_seconds: 86_400,
                };
                analytics.create_funnel(&tenant, definition).await.unwrap();
            }
            // The change feed is by write time: let the clock tick past the last write.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            let summary = analytics.run(&tenant, clock).await.unwrap();
            if i > 0 && round.events.is_empty() && round.hours_later == 0 && !round.add_funnel {
                prop_assert_eq!(
                    summary.persons_refreshed,
                    0,
                    "nothing changed, nothing is read"
                );
            }
            let funnels = analytics.funnels(&tenant).await.unwrap();
            let expected = full_fold(&tape, &funnels, clock);
            for (window, expected) in expected {
                let served =
                    serde_json::to_value(analytics.report(&tenant, &window).await.unwrap())
                        .unwrap();
                prop_assert_eq!(without_computed_at(served), expected, "window {}", window);
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn incremental_runs_equal_full_folds(rounds in prop::collection::vec(round(), 1..6)) {
        check(rounds)?;
    }
}

/// A second run with nothing new reads no Tape at all; a late event re-reads one person.
#[test]
fn runs_read_only_what_changed() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let analytics = Analytics::new(store.clone(), store.clone(), Arc::new(LocalBus::default()))
            .with_watermark_lag(Duration::zero());
        let tenant = TenantId::parse("acme").unwrap();
        let now = Utc::now();
        let entries: Vec<_> = (0..40)
            .map(|n| {
                entry(
                    &tenant,
                    (n % 5) as u8,
                    now - Duration::minutes(n as i64 * 7),
                    (n % 4) as u8,
                    n,
                )
            })
            .collect();
        store.append_batch(&entries).await;
        let first = analytics.run(&tenant, now).await.unwrap();
        assert_eq!(
            (first.full, first.persons_refreshed, first.events_read),
            (true, 5, 40)
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let second = analytics.run(&tenant, now).await.unwrap();
        assert_eq!(
            (second.full, second.persons_refreshed, second.events_read),
            (false, 0, 0)
        );
        store
            .append_batch(&[entry(&tenant, 2, now - Duration::days(3), 1, 999)])
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let third = analytics.run(&tenant, now).await.unwrap();
        assert_eq!((third.persons_refreshed, third.events_read), (1, 9));
        assert_eq!(analytics.report(&tenant, "30d").await.unwrap().events, 41);
    });
}
