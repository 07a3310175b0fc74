//! Property: a profile read from a snapshot plus the events added since equals a full
//! fold of the Tape, whatever arrives late, in whatever batches, across alias changes.
//! Runs on the real embedded store.

mod common;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::Arc;

use cjaas_app::profiles::{Aliases, Profiles, SnapshotUse, ViewKey};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::TapeStore;
use cjaas_core::tape::TapeEntry;
use cjaas_core::view::{CompiledView, ViewDefinition};
use cjaas_local::EmbeddedStore;
use common::tape_entry;

/// Ten attributes: every kind of aggregation, a filter, a window and a computed one.
fn ten_attribute_view() -> CompiledView {
    let view: ViewDefinition = serde_json::from_value(json!({"name": "p", "attributes": [
        {"name": "last_page", "filter": {"type": "view"}, "field": "/data/v", "aggregation": "latest"},
        {"name": "first_page", "filter": {"type": "view"}, "field": "/data/v", "aggregation": "first"},
        {"name": "orders", "filter": {"type": "buy"}, "aggregation": "count"},
        {"name": "spend", "filter": {"type": "buy"}, "field": "/data/n", "aggregation": "sum"},
        {"name": "avg_n", "field": "/data/n", "aggregation": "avg"},
        {"name": "low", "field": "/data/n", "aggregation": "min"},
        {"name": "high", "field": "/data/n", "aggregation": "max"},
        {"name": "pages", "field": "/data/v", "aggregation": "distinct", "limit": 3},
        {"name": "recent", "field": "/data/v", "aggregation": "last_n", "limit": 4, "window": "30d"},
        {"name": "vip", "expression": "spend > 100.0"},
    ]}))
    .unwrap();
    view.compile().unwrap()
}

#[derive(Debug, Clone)]
struct Step {
    /// Events to append: (minutes before now, type, number, label).
    events: Vec<(i64, u8, i64, u8)>,
    /// Link the second person to the first before this read.
    link: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop::collection::vec((0i64..60 * 24 * 60, 0u8..3, -50i64..200, 0u8..6), 0..8),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(events, link)| Step { events, link })
}

fn entry(
    tenant: &TenantId,
    person: &PersonId,
    now: DateTime<Utc>,
    n: usize,
    e: &(i64, u8, i64, u8),
) -> TapeEntry {
    let (minutes_ago, kind, number, label) = *e;
    let ty = ["view", "buy", "other"][kind as usize];
    let time = now - Duration::minutes(minutes_ago);
    let event = json!({
        "specversion": "1.0", "id": format!("e{n}"), "source": "/p", "type": ty,
        "person": person.as_str(), "time": time,
        "data": {"n": number as f64 / 4.0, "v": format!("page-{label}")}
    });
    tape_entry(tenant, event, now)
}

fn check(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let aliases = Arc::new(Aliases::new(store.clone()));
        let profiles = Profiles::new(store.clone(), store.clone(), aliases.clone());
        let tenant = TenantId::parse("acme").unwrap();
        let (alice, bob) = (
            PersonId::parse("alice").unwrap(),
            PersonId::parse("bob").unwrap(),
        );
        let view = ten_attribute_view();
        let key = ViewKey {
            id: "view-p".into(),
            version: 1,
        };
        let now = Utc::now();
        let mut n = 0;
        for step in steps {
            let entries: Vec<TapeEntry> = step
                .events
                .iter()
                .map(|e| {
                    n += 1;
                    entry(&tenant, if n % 3 == 0 { &bob } else { &alice }, now, n, e)
                })
                .collect();
            store.append_batch(&entries).await;
            if step.link {
                aliases
                    .link(&tenant, &alice, std::slice::from_ref(&bob), false)
                    .await
                    .unwrap();
            }
            let incremental = profiles
                .build(&tenant, &alice, &view, Some(&key), false)
                .await
                .unwrap();
            let full = profiles
                .build(&tenant, &alice, &view, None, false)
                .await
                .unwrap();
            prop_assert_eq!(&incremental.profile, &full.profile);
            prop_assert_ne!(incremental.stats.snapshot, SnapshotUse::None);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn snapshot_reads_equal_full_folds(steps in prop::collection::vec(step(), 1..6)) {
        check(steps)?;
    }
}

/// Without late events, a repeated read folds only what is new.
#[test]
fn repeated_reads_fold_only_new_events() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let aliases = Arc::new(Aliases::new(store.clone()));
        let profiles = Profiles::new(store.clone(), store.clone(), aliases);
        let tenant = TenantId::parse("acme").unwrap();
        let alice = PersonId::parse("alice").unwrap();
        let view: ViewDefinition = serde_json::from_value(json!({"name": "p", "attributes": [
            {"name": "spend", "field": "/data/n", "aggregation": "sum"}
        ]}))
        .unwrap();
        let view = view.compile().unwrap();
        let key = ViewKey {
            id: "view-p".into(),
            version: 1,
        };
        let read = || profiles.build(&tenant, &alice, &view, Some(&key), false);
        let read = || async { read().await.unwrap() };
        let now = Utc::now();
        let history: Vec<TapeEntry> = (0..500)
            .map(|i| {
                entry(
                    &tenant,
                    &alice,
                    now - Duration::days(1),
                    i,
                    &(i as i64, 1, 4, 0),
                )
            })
            .collect();
        store.append_batch(&history).await;

        let first = read().await;
        assert_eq!(
            (first.stats.snapshot, first.stats.events_read),
            (SnapshotUse::Refolded, 500)
        );
        let again = read().await;
        assert_eq!(
            (again.stats.snapshot, again.stats.events_read),
            (SnapshotUse::Incremental, 0)
        );

        let newer: Vec<TapeEntry> = (500..503)
            .map(|i| entry(&tenant, &alice, now, i, &(0, 1, 4, 0)))
            .collect();
        store.append_batch(&newer).await;
        let third = read().await;
        assert_eq!(
            (third.stats.snapshot, third.stats.events_read),
            (SnapshotUse::Incremental, 3)
        );
        assert_eq!(third.profile.attributes["spend"], Value::from(503));

        let late = vec![entry(
            &tenant,
            &alice,
            now - Duration::days(30),
            900,
            &(0, 1, 4, 0),
        )];
        store.append_batch(&late).await;
        let fourth = read().await;
        assert_eq!(
            fourth.stats.snapshot,
            SnapshotUse::Refolded,
            "a late event forces a refold"
        );
        assert_eq!(fourth.profile.attributes["spend"], Value::from(504));
    });
}
