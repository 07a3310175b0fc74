//! The delivery log on the real embedded store: it is bounded (old firings hidden and
//! pruned, a deleted rule's log gone), and the actions of one firing that finish at
//! once all land in its record.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::sync::Arc;

use cjaas_app::deliveries::{DeliveryLog, NewFiring};
use cjaas_app::orchestration::{ActionEvent, RuleError, RuleRef, Rules};
use cjaas_core::deliveries::{keys, Attempt, DeliveryStatus, PageQuery};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::DocumentStore;
use cjaas_core::rules::{ActionSpec, RuleDefinition};
use cjaas_local::EmbeddedStore;

fn publish(i: usize) -> ActionSpec {
    ActionSpec::Publish {
        name: format!("a{i}"),
        payload: None,
    }
}

/// A firing of `rule` fired when its event happened.
fn firing<'a>(
    rule: &'a str,
    hash: &'a str,
    person: &'a PersonId,
    event: &'a serde_json::Value,
    at: DateTime<Utc>,
    actions: &'a [ActionSpec],
) -> NewFiring<'a> {
    NewFiring {
        rule,
        hash,
        person,
        event,
        event_time: at,
        fired_at: at,
        actions,
    }
}

async fn rule(rules: &Rules, tenant: &TenantId, actions: usize) -> String {
    let actions: Vec<_> = (0..actions)
        .map(|i| json!({"type": "publish", "name": format!("a{i}")}))
        .collect();
    let definition: RuleDefinition = serde_json::from_value(
        json!({"name": "r", "when": {"event": {"type": "t"}}, "actions": actions}),
    )
    .unwrap();
    rules.create(tenant, definition).await.unwrap().id
}

const PAGE: PageQuery = PageQuery {
    limit: 20,
    after: None,
};

#[tokio::test]
async fn old_firings_are_hidden_and_pruned_and_a_deleted_rule_forgets_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let (log, rules) = (DeliveryLog::new(store.clone()), Rules::new(store.clone()));
    let tenant = TenantId::parse("acme").unwrap();
    let person = PersonId::parse("ana").unwrap();
    let id = rule(&rules, &tenant, 1).await;
    let event = json!({"id": "e", "type": "t", "source": "/s"});
    let now = Utc::now();
    for (hash, age) in [
        ("aa", Duration::days(8)),
        ("bb", Duration::hours(1)),
        ("cc", Duration::zero()),
    ] {
        let at = now - age;
        let actions = [publish(0)];
        log.record_firing(&tenant, &firing(&id, hash, &person, &event, at, &actions))
            .await
            .unwrap();
    }
    let page = log.page(&tenant, &id, &PAGE).await.unwrap();
    let hashes: Vec<_> = page
        .deliveries
        .iter()
        .map(|f| f.id.rsplit('.').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        hashes,
        ["cc", "bb"],
        "newest first, the 8-day-old one hidden"
    );

    assert_eq!(log.prune(&tenant, &id).await.unwrap(), 1);
    assert_eq!(
        store.list(&keys::deliveries(&tenant)).await.unwrap().len(),
        2
    );

    let first = log
        .page(
            &tenant,
            &id,
            &PageQuery {
                limit: 1,
                after: None,
            },
        )
        .await
        .unwrap();
    let cursor = cjaas_core::deliveries::decode_cursor(first.next_cursor.as_deref().unwrap());
    let second = log
        .page(
            &tenant,
            &id,
            &PageQuery {
                limit: 1,
                after: cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!((second.deliveries.len(), second.next_cursor), (1, None));
    assert_ne!(first.deliveries[0].id, second.deliveries[0].id);

    let other = TenantId::parse("other").unwrap();
    assert!(matches!(
        log.page(&other, &id, &PAGE).await,
        Err(RuleError::NotFound(_))
    ));
    rules.delete(&tenant, &id).await.unwrap();
    assert!(store
        .list(&keys::deliveries(&tenant))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_of_one_firing_that_finish_at_once_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let log = Arc::new(DeliveryLog::new(store.clone()));
    let tenant = TenantId::parse("acme").unwrap();
    let person = PersonId::parse("ana").unwrap();
    let id = rule(&Rules::new(store.clone()), &tenant, 10).await;
    let specs: Vec<_> = (0..10).map(publish).collect();
    let fired_at = Utc::now();
    let event = json!({"id": "e", "type": "t", "source": "/s"});
    log.record_firing(
        &tenant,
        &firing(&id, "ab12", &person, &event, fired_at, &specs),
    )
    .await
    .unwrap();
    let runs: Vec<_> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let log = log.clone();
            let action = ActionEvent {
                action_id: format!("{id}.ab12.{i}"),
                tenant: tenant.to_string(),
                person: person.to_string(),
                rule: RuleRef {
                    id: id.clone(),
                    name: "r".into(),
                },
                fired_at,
                triggering_event: event.clone(),
                action: spec.clone(),
            };
            tokio::spawn(async move {
                let attempt = Attempt::new(1, Utc::now(), 3, None);
                log.record_action(&action, DeliveryStatus::Delivered, vec![attempt], 3)
                    .await
            })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let page = log.page(&tenant, &id, &PAGE).await.unwrap();
    let actions = &page.deliveries[0].actions;
    assert!(
        actions
            .iter()
            .all(|a| a.status == DeliveryStatus::Delivered && a.attempts.len() == 1),
        "{actions:?}"
    );
    // A late "published" never overrides what the runner recorded.
    log.published(&tenant, &id, "ab12", fired_at).await.unwrap();
    let page = log.page(&tenant, &id, &PAGE).await.unwrap();
    assert!(page.deliveries[0]
        .actions
        .iter()
        .all(|a| a.status == DeliveryStatus::Delivered));
}
