//! Live caps on the embedded default. Over real HTTP: a rule's cap, the tenant's cap
//! across two rules and a channel cap hold firings back, and the delivery log shows
//! them `capped`, naming the cap; other persons and tenants are unaffected. On the
//! real redb store: twenty concurrent firings of one person under a cap of three
//! publish exactly three, and neither a redelivered batch nor a retried publish
//! takes from the caps again.

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use cjaas_app::deliveries::DeliveryLog;
use cjaas_app::orchestration::{Orchestrator, Rules};
use cjaas_app::profiles::{Aliases, Profiles, Views};
use cjaas_core::deliveries::{DeliveryStatus, PageQuery};
use cjaas_core::event::validate_raw;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{BusEvent, EventBus, StoreError, TapeStore};
use cjaas_core::rules::RuleDefinition;
use cjaas_core::tape::TapeEntry;
use cjaas_local::scheduler::LocalBus;
use cjaas_local::EmbeddedStore;

use common::start;

/// Early in a UTC day that began at least an hour ago: every event of a test falls in
/// one `1d` bucket.
fn base() -> DateTime<Utc> {
    (Utc::now() - Duration::hours(1))
        .duration_trunc(Duration::days(1))
        .unwrap()
        + Duration::minutes(1)
}

fn event(id: &str, ty: &str, person: &str, second: i64) -> Value {
    let time = base() + Duration::seconds(second);
    json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty, "person": person,
           "time": time, "data": {}})
}

async fn send(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        let content_type = if path == "/v1/events" {
            "application/cloudevents-batch+json"
        } else {
            "application/json"
        };
        request = request
            .header("content-type", content_type)
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn create_tenant(dir: &std::path::Path, name: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cjaas-local"))
        .env("CJAAS_DATA_DIR", dir)
        .args(["create-tenant", name])
        .output()
        .unwrap();
    assert!(output.status.success());
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    created["token"].as_str().unwrap().to_owned()
}

async fn create_rule(base: &str, token: &str, rule: Value) -> String {
    let (status, created) = send(base, token, "POST", "/v1/rules", Some(rule)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// The rule's delivery log as (triggering event id, cap, action statuses), oldest
/// first, once it has `want` firings whose actions are past `pending`.
async fn log_of(
    base: &str,
    token: &str,
    rule: &str,
    want: usize,
) -> Vec<(String, Value, Vec<String>)> {
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, page) = send(
            base,
            token,
            "GET",
            &format!("/v1/rules/{rule}/deliveries"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let mut firings: Vec<_> = page["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let statuses = f["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["status"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>();
                (
                    f["triggering_event"]["id"].as_str().unwrap().to_owned(),
                    f["cap"].clone(),
                    statuses,
                )
            })
            .collect();
        firings.reverse();
        let settled = firings
            .iter()
            .all(|(_, _, s)| s.iter().all(|s| s != "pending"));
        if firings.len() >= want && settled {
            return firings;
        }
        assert!(Instant::now() < deadline, "timed out: {firings:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn published(id: &str) -> (String, Value, Vec<String>) {
    (id.to_owned(), Value::Null, vec!["published".to_owned()])
}

fn capped(id: &str, cap: &str) -> (String, Value, Vec<String>) {
    (id.to_owned(), json!(cap), vec!["capped".to_owned()])
}

#[tokio::test]
async fn caps_hold_firings_back_and_the_delivery_log_says_which() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path())); // makes the `dev` tenant
    let other = create_tenant(dir.path(), "acme");
    let server = start(dir.path());
    let (url, token) = (server.base.as_str(), server.token.as_str());

    let policy = json!({"caps": [{"max": 3, "per": "1d"},
                                 {"max": 1, "per": "1d", "channel": "recommendation"}]});
    let (status, saved) = send(url, token, "PUT", "/v1/orchestration/policy", Some(policy)).await;
    assert_eq!(status, 200, "{saved}");
    let views = json!({"name": "views", "when": {"event": {"type": "page.viewed"}},
        "caps": [{"max": 2, "per": "1d"}], "actions": [{"type": "publish", "name": "nudge"}]});
    let views = create_rule(url, token, views).await;
    let clicks = json!({"name": "clicks", "when": {"event": {"type": "link.clicked"}},
        "actions": [{"type": "publish", "name": "thanks"}]});
    let clicks = create_rule(url, token, clicks).await;
    let carts = json!({"name": "carts", "when": {"event": {"type": "cart.added"}},
        "actions": [{"type": "recommendation", "action": "offer-10"}]});
    let carts = create_rule(url, token, carts).await;
    // The other tenant: the same rule, no policy.
    let theirs = json!({"name": "views", "when": {"event": {"type": "page.viewed"}},
        "caps": [{"max": 2, "per": "1d"}], "actions": [{"type": "publish", "name": "nudge"}]});
    let theirs = create_rule(url, &other, theirs).await;

    // ana: two views fire, the third meets the rule's cap; one click fires (three
    // actions today), the second meets the tenant's cap across rules.
    // bob: one cart fires, the second meets the recommendation channel's cap; his view
    // fires (ana's counters are hers).
    let batch = json!([
        event("v1", "page.viewed", "ana", 0),
        event("v2", "page.viewed", "ana", 1),
        event("v3", "page.viewed", "ana", 2),
        event("c1", "link.clicked", "ana", 3),
        event("c2", "link.clicked", "ana", 4),
        event("k1", "cart.added", "bob", 5),
        event("k2", "cart.added", "bob", 6),
        event("b1", "page.viewed", "bob", 7),
    ]);
    assert_eq!(
        send(url, token, "POST", "/v1/events", Some(batch.clone()))
            .await
            .0,
        202
    );
    let ana_views = [
        event("a1", "page.viewed", "ana", 0),
        event("a2", "page.viewed", "ana", 1),
        event("a3", "page.viewed", "ana", 2),
    ];
    assert_eq!(
        send(url, &other, "POST", "/v1/events", Some(json!(ana_views)))
            .await
            .0,
        202
    );

    let mut log = log_of(url, token, &views, 4).await;
    log.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        log,
        [
            published("b1"),
            published("v1"),
            published("v2"),
            capped("v3", "caps/0")
        ]
    );
    assert_eq!(
        log_of(url, token, &clicks, 2).await,
        [published("c1"), capped("c2", "policy/caps/0")]
    );
    let carts_log = log_of(url, token, &carts, 2).await;
    assert_eq!(carts_log[1], capped("k2", "policy/caps/1"));
    assert_eq!(
        (carts_log[0].0.as_str(), carts_log[0].1.clone()),
        ("k1", Value::Null)
    );
    assert_ne!(carts_log[0].2, ["capped"]);
    assert_eq!(
        log_of(url, &other, &theirs, 3).await,
        [published("a1"), published("a2"), capped("a3", "caps/0")],
        "the other tenant's counters are its own"
    );

    // The same batch again fires nothing and records nothing new.
    assert_eq!(
        send(url, token, "POST", "/v1/events", Some(batch)).await.0,
        202
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(log_of(url, token, &views, 4).await.len(), 4);
    assert_eq!(log_of(url, token, &clicks, 2).await.len(), 2);
}

/// A bus that fails until it is made healthy.
#[derive(Default)]
struct FlakyBus {
    inner: LocalBus,
    healthy: AtomicBool,
}

#[async_trait]
impl EventBus for FlakyBus {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), StoreError> {
        if !self.healthy.load(Ordering::SeqCst) {
            return Err(StoreError::Transient("the bus is down".into()));
        }
        self.inner.publish(events).await
    }
}

fn entry(tenant: &TenantId, person: &str, id: usize) -> TapeEntry {
    let time = base() + Duration::seconds(id as i64);
    let event = json!({"specversion": "1.0", "id": format!("e{id}"), "source": "/web",
                       "type": "page.viewed", "person": person, "time": time});
    let valid = validate_raw(0, &event.to_string(), time).expect("a valid CloudEvent");
    TapeEntry::from_valid(tenant.clone(), valid, time)
}

struct World {
    store: Arc<EmbeddedStore>,
    bus: Arc<FlakyBus>,
    orchestrator: Arc<Orchestrator>,
}

fn world(dir: &std::path::Path) -> World {
    let store = Arc::new(EmbeddedStore::open(dir).unwrap());
    let bus = Arc::new(FlakyBus::default());
    bus.healthy.store(true, Ordering::SeqCst);
    let aliases = Arc::new(Aliases::new(store.clone()));
    let orchestrator = Arc::new(Orchestrator::new(
        store.clone(),
        store.clone(),
        bus.clone(),
        Views::new(store.clone()),
        Profiles::new(store.clone(), store.clone(), aliases),
    ));
    World {
        store,
        bus,
        orchestrator,
    }
}

async fn capped_rule(world: &World, tenant: &TenantId, max: u32) -> String {
    let rule: RuleDefinition = serde_json::from_value(json!({
        "name": "any view", "when": {"event": {"type": "page.viewed"}},
        "caps": [{"max": max, "per": "1d"}],
        "actions": [{"type": "publish", "name": "nudge"}]
    }))
    .unwrap();
    Rules::new(world.store.clone())
        .create(tenant, rule)
        .await
        .unwrap()
        .id
}

/// The rule's firings by status of their only action.
async fn statuses(world: &World, tenant: &TenantId, rule: &str) -> (usize, usize) {
    let query = PageQuery {
        limit: 100,
        after: None,
    };
    let page = DeliveryLog::new(world.store.clone())
        .page(tenant, rule, &query)
        .await
        .unwrap();
    let capped = page
        .deliveries
        .iter()
        .filter(|f| {
            f.actions[0].status == DeliveryStatus::Capped && f.cap.as_deref() == Some("caps/0")
        })
        .count();
    (page.deliveries.len() - capped, capped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_firings_of_one_person_take_exactly_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let world = world(dir.path());
    let mut bus = world.bus.inner.subscribe();
    let tenant = TenantId::parse("dev").unwrap();
    let rule = capped_rule(&world, &tenant, 3).await;
    let entries: Vec<TapeEntry> = (0..20).map(|i| entry(&tenant, "ana", i)).collect();
    world.store.append_batch(&entries).await;

    let runs: Vec<_> = entries
        .iter()
        .cloned()
        .map(|e| {
            let orchestrator = world.orchestrator.clone();
            tokio::spawn(async move { orchestrator.on_entries(&[e]).await.unwrap() })
        })
        .collect();
    let (mut fired, mut held) = (0, 0);
    for run in runs {
        let report = run.await.unwrap();
        (fired, held) = (fired + report.fired, held + report.skipped_capped);
    }
    assert_eq!((fired, held), (3, 17));
    let mut actions = 0;
    while bus.try_recv().is_ok() {
        actions += 1;
    }
    assert_eq!(actions, 3, "three action events on the bus");
    assert_eq!(statuses(&world, &tenant, &rule).await, (3, 17));

    // A redelivery: every firing is a replay; nothing is taken or recorded again.
    let again = world.orchestrator.on_entries(&entries).await.unwrap();
    assert_eq!(
        (again.fired, again.skipped_capped, again.skipped_replay),
        (0, 0, 20)
    );
    assert_eq!(statuses(&world, &tenant, &rule).await, (3, 17));

    // Another person and another tenant have room of their own.
    let bob = entry(&tenant, "bob", 30);
    let acme = TenantId::parse("acme").unwrap();
    capped_rule(&world, &acme, 3).await;
    let theirs = entry(&acme, "ana", 31);
    world
        .store
        .append_batch(&[bob.clone(), theirs.clone()])
        .await;
    let report = world.orchestrator.on_entries(&[bob, theirs]).await.unwrap();
    assert_eq!((report.fired, report.skipped_capped), (2, 0));
}

#[tokio::test]
async fn a_retried_publish_does_not_take_from_the_cap_again() {
    let dir = tempfile::tempdir().unwrap();
    let world = world(dir.path());
    let tenant = TenantId::parse("dev").unwrap();
    let rule = capped_rule(&world, &tenant, 2).await;
    let first = entry(&tenant, "ana", 0);
    let second = entry(&tenant, "ana", 1);
    let third = entry(&tenant, "ana", 2);
    world
        .store
        .append_batch(&[first.clone(), second.clone(), third.clone()])
        .await;

    // The bus is down: the firing took its room, then failed to publish.
    world.bus.healthy.store(false, Ordering::SeqCst);
    assert!(world
        .orchestrator
        .on_entries(std::slice::from_ref(&first))
        .await
        .is_err());
    world.bus.healthy.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        // The retry publishes (once), and a second retry is a replay.
        world
            .orchestrator
            .on_entries(std::slice::from_ref(&first))
            .await
            .unwrap();
    }
    // Room for one more: the retry did not take again.
    let report = world
        .orchestrator
        .on_entries(&[second, third])
        .await
        .unwrap();
    assert_eq!((report.fired, report.skipped_capped), (1, 1));
    assert_eq!(statuses(&world, &tenant, &rule).await, (2, 1));
}

#[tokio::test]
async fn a_cooldown_kept_by_the_old_per_rule_document_still_holds_and_moves_to_the_ledger() {
    use cjaas_core::ports::{DocumentStore, Expect};
    let dir = tempfile::tempdir().unwrap();
    let world = world(dir.path());
    let tenant = TenantId::parse("dev").unwrap();
    let rule: RuleDefinition = serde_json::from_value(json!({
        "name": "any view", "cooldown_seconds": 600, "when": {"event": {"type": "page.viewed"}},
        "actions": [{"type": "publish", "name": "nudge"}]
    }))
    .unwrap();
    let rule = Rules::new(world.store.clone())
        .create(&tenant, rule)
        .await
        .unwrap()
        .id;
    // Written by the earlier version: ana's last firing, at base().
    let old_pk = cjaas_core::rules::keys::cooldowns(&tenant, &rule);
    let old = json!({"fired_at": base()}).to_string();
    assert!(world
        .store
        .put(&old_pk, "ana", &old, Expect::Absent)
        .await
        .unwrap());

    let inside = entry(&tenant, "ana", 60);
    let after = entry(&tenant, "ana", 700);
    let later = entry(&tenant, "ana", 800);
    world
        .store
        .append_batch(&[inside.clone(), after.clone(), later.clone()])
        .await;
    let report = world.orchestrator.on_entries(&[inside]).await.unwrap();
    assert_eq!(
        (report.fired, report.skipped_cooldown),
        (0, 1),
        "the old cooldown holds"
    );
    let report = world.orchestrator.on_entries(&[after]).await.unwrap();
    assert_eq!(report.fired, 1);
    assert!(
        world.store.get(&old_pk, "ana").await.unwrap().is_none(),
        "migrated"
    );
    let report = world.orchestrator.on_entries(&[later]).await.unwrap();
    assert_eq!(
        (report.fired, report.skipped_cooldown),
        (0, 1),
        "the ledger's cooldown holds"
    );
}
