//! The cooldown and the fired marks under concurrency, on the real embedded store:
//! many events of one person evaluated at once fire the rule once, and evaluating the
//! same events again fires nothing.

mod common;

use chrono::{Duration, Utc};
use serde_json::json;
use std::sync::Arc;

use cjaas_app::orchestration::{Orchestrator, Rules};
use cjaas_app::profiles::{Aliases, Profiles, Views};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::TapeStore;
use cjaas_core::rules::RuleDefinition;
use cjaas_core::tape::TapeEntry;
use cjaas_local::scheduler::LocalBus;
use cjaas_local::EmbeddedStore;
use common::tape_entry;

fn entry(tenant: &TenantId, id: usize) -> TapeEntry {
    let time = Utc::now() - Duration::seconds(30 - id as i64);
    let event = json!({"specversion": "1.0", "id": format!("e{id}"), "source": "/web",
                       "type": "page.viewed", "person": "ana", "time": time});
    tape_entry(tenant, event, time)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_matches_of_one_person_fire_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let bus = LocalBus::default();
    let mut published = bus.subscribe();
    let aliases = Arc::new(Aliases::new(store.clone()));
    let orchestrator = Arc::new(Orchestrator::new(
        store.clone(),
        store.clone(),
        Arc::new(bus),
        Views::new(store.clone()),
        Profiles::new(store.clone(), store.clone(), aliases),
    ));
    let tenant = TenantId::parse("acme").unwrap();
    let rule: RuleDefinition = serde_json::from_value(json!({
        "name": "any view", "cooldown_seconds": 3600,
        "when": {"event": {"type": "page.viewed"}},
        "actions": [{"type": "publish", "name": "nudge"}]
    }))
    .unwrap();
    Rules::new(store.clone())
        .create(&tenant, rule)
        .await
        .unwrap();
    let entries: Vec<TapeEntry> = (0..16).map(|i| entry(&tenant, i)).collect();
    store.append_batch(&entries).await;

    // Sixteen matching events, evaluated at once: the cooldown lets one through.
    let runs: Vec<_> = entries
        .iter()
        .cloned()
        .map(|e| {
            let orchestrator = orchestrator.clone();
            tokio::spawn(async move { orchestrator.on_entries(&[e]).await.unwrap() })
        })
        .collect();
    let mut fired = 0;
    for run in runs {
        fired += run.await.unwrap().fired;
    }
    assert_eq!(fired, 1);
    // Evaluating them all again (a redelivery) fires nothing.
    let again = orchestrator.on_entries(&entries).await.unwrap();
    assert_eq!((again.fired, again.skipped_replay), (0, 16));
    let mut actions = 0;
    while published.try_recv().is_ok() {
        actions += 1;
    }
    assert_eq!(actions, 1, "one action event on the bus");
}
