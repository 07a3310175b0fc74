//! The backtest's promise, as a property on the real embedded store: replaying a rule
//! over a history gives the same firings as feeding that history live, one event at
//! a time, then running the absence timers once they are due; with the rule's caps
//! and the tenant's, the same firings are capped.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

use cjaas_app::jobs::{BacktestStatus, Backtests, BusMessage, Window};
use cjaas_app::orchestration::{Orchestrator, Policies, PolicyDefinition, Rules};
use cjaas_app::profiles::{Aliases, Profiles, Views};
use cjaas_core::ids::TenantId;
use cjaas_core::ports::TapeStore;
use cjaas_core::rules::caps::CapSpec;
use cjaas_core::rules::RuleDefinition;
use cjaas_core::tape::TapeEntry;
use cjaas_local::scheduler::LocalBus;
use cjaas_local::EmbeddedStore;
use common::tape_entry;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap()
}

fn entry(tenant: &TenantId, n: usize, (person, minute, ty, path): &(u8, i64, u8, u8)) -> TapeEntry {
    // Distinct times: the Tape's order is the feeding order.
    let time = start() + Duration::minutes(*minute) + Duration::milliseconds(n as i64);
    let event = json!({"specversion": "1.0", "id": format!("e{n}"), "source": "/web",
                       "type": format!("t{ty}"), "person": format!("p{person}"), "time": time,
                       "data": {"path": path}});
    tape_entry(tenant, event, time)
}

fn when() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0..3u8).prop_map(|t| json!({"event": {"type": format!("t{t}")}})),
        (1..4u32, prop_oneof![Just("5m"), Just("30m")]).prop_map(|(n, w)| {
            json!({"count": {"of": {"type": "t0"}, "at_least": n, "within": w}})
        }),
        (0..3u8).prop_map(|p| json!({"all": [
            {"event": {"where": {"field": "/data/path", "op": "eq", "value": p}}},
            {"not": {"count": {"of": {"type": "t2"}, "at_least": 1, "within": "10m"}}}
        ]})),
        prop_oneof![Just("5m"), Just("20m")].prop_map(|w| json!({"absence": {
            "after": {"type": "t1"}, "missing": {"type": "t2"}, "within": w}})),
    ]
}

/// A rule's caps, the tenant's caps and how many `publish` actions the rule has.
#[derive(Debug, Clone)]
struct Capping {
    rule: Vec<CapSpec>,
    tenant: Vec<CapSpec>,
    actions: usize,
}

fn cap(max: u32, per: &str, channel: Option<&str>) -> CapSpec {
    CapSpec {
        max,
        per: per.into(),
        channel: channel.map(str::to_owned),
    }
}

fn capping() -> impl Strategy<Value = Capping> {
    let per = || prop_oneof![Just("30m"), Just("1h"), Just("2h")];
    let rule = prop::collection::vec((1..4u32, per()), 0..2)
        .prop_map(|caps| caps.into_iter().map(|(m, p)| cap(m, p, None)).collect());
    let channel = prop_oneof![Just(None), Just(Some("publish")), Just(Some("webhook"))];
    let tenant = prop::collection::vec((1..6u32, per(), channel), 0..2)
        .prop_map(|caps| caps.into_iter().map(|(m, p, c)| cap(m, p, c)).collect());
    (rule, tenant, 1..3usize).prop_map(|(rule, tenant, actions)| Capping {
        rule,
        tenant,
        actions,
    })
}

/// The live firings and the replayed ones, each with how many were capped.
type Firings = (Vec<(String, String)>, u64);

async fn compare(
    when: Value,
    cooldown: u64,
    capping: Capping,
    events: Vec<(u8, i64, u8, u8)>,
) -> (Firings, Firings) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let bus = LocalBus::default();
    let mut published = bus.subscribe();
    let bus = Arc::new(bus);
    let profiles = || {
        Profiles::new(
            store.clone(),
            store.clone(),
            Arc::new(Aliases::new(store.clone())),
        )
    };
    let orchestrator = Orchestrator::new(
        store.clone(),
        store.clone(),
        bus.clone(),
        Views::new(store.clone()),
        profiles(),
    );
    let tenant = TenantId::parse("acme").unwrap();
    let actions: Vec<Value> = (0..capping.actions)
        .map(|i| json!({"type": "publish", "name": format!("x{i}")}))
        .collect();
    let rule: RuleDefinition = serde_json::from_value(json!({
        "name": "r", "cooldown_seconds": cooldown, "when": when,
        "caps": capping.rule, "actions": actions
    }))
    .unwrap();
    Policies::new(store.clone())
        .put(
            &tenant,
            PolicyDefinition {
                caps: capping.tenant,
                quiet_hours: None,
            },
        )
        .await
        .unwrap();
    let rule = Rules::new(store.clone())
        .create(&tenant, rule)
        .await
        .unwrap();

    let mut events = events;
    events.sort_by_key(|(_, minute, ..)| *minute);
    let mut capped = 0;
    for (n, event) in events.iter().enumerate() {
        let entry = entry(&tenant, n, event);
        store.append_batch(std::slice::from_ref(&entry)).await;
        capped += orchestrator
            .on_entries(&[entry])
            .await
            .unwrap()
            .skipped_capped;
    }
    capped += orchestrator
        .run_due_timers(&tenant, start() + Duration::days(3))
        .await
        .unwrap()
        .skipped_capped;
    let mut live = BTreeSet::new();
    while let Ok(event) = published.try_recv() {
        if let Ok(BusMessage::ActionTriggered(action)) = BusMessage::try_from(&event) {
            let time: DateTime<Utc> =
                serde_json::from_value(action.triggering_event["time"].clone()).unwrap();
            live.insert((action.person, time.to_rfc3339()));
        }
    }

    let backtests = Backtests::new(
        store.clone(),
        store.clone(),
        bus,
        Views::new(store.clone()),
        profiles(),
    );
    let window = Window {
        from: start() - Duration::hours(1),
        to: start() + Duration::days(2),
    };
    let job = backtests
        .request_saved(&tenant, &rule.id, window)
        .await
        .unwrap();
    let job = backtests.run(&tenant, &job.id).await.unwrap();
    assert_eq!(job.status, BacktestStatus::Completed, "{job:?}");
    let result = job.result.unwrap();
    let replayed: BTreeSet<(String, String)> = result
        .sample
        .iter()
        .filter(|f| !f.capped)
        .map(|f| (f.person.clone(), f.time.to_rfc3339()))
        .collect();
    assert_eq!(
        result.firings as usize,
        replayed.len(),
        "the sample holds every firing here"
    );
    (
        (live.into_iter().collect(), capped),
        (replayed.into_iter().collect(), result.capped),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn a_backtest_finds_the_live_firings(
        when in when(),
        cooldown in prop_oneof![Just(0u64), Just(300), Just(3600)],
        capping in capping(),
        events in prop::collection::vec((0..3u8, 0..240i64, 0..3u8, 0..3u8), 1..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (live, replayed) = runtime.block_on(compare(when.clone(), cooldown, capping, events));
        prop_assert_eq!(live, replayed, "{}", when);
    }
}
