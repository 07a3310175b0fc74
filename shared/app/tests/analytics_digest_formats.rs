//! Digests written before the tenant's type dictionary (format 3: types named in full)
//! still serve the same figures on the real embedded store: a store without the
//! dictionary is recomputed by its next run, and format-3 digests beside a dictionary
//! (an older job still writing during an upgrade) are read as they are.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

use cjaas_app::analytics::{Analytics, RunSummary};
use cjaas_core::analytics::{basis, body_of, keys, PersonFold, Step};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, Expect, TapeStore};
use cjaas_core::tape::TapeEntry;
use cjaas_local::scheduler::LocalBus;
use cjaas_local::EmbeddedStore;
use common::tape_entry;

const TYPES: [&str; 5] = ["view", "cart", "buy", "chat", "call"];
const PERSONS: usize = 12;

fn entry(tenant: &TenantId, person: usize, time: DateTime<Utc>, n: usize) -> TapeEntry {
    let ty = TYPES[(n * 7 + n / 5) % 5];
    let event = json!({"specversion": "1.0", "id": format!("e{n}"), "source": "/s", "type": ty,
                       "person": format!("p{person}"), "time": time});
    tape_entry(tenant, event, time)
}

fn analytics(store: &Arc<EmbeddedStore>) -> Analytics {
    Analytics::new(store.clone(), store.clone(), Arc::new(LocalBus::default()))
        .with_watermark_lag(Duration::zero())
}

async fn run(store: &Arc<EmbeddedStore>, tenant: &TenantId, now: DateTime<Utc>) -> RunSummary {
    analytics(store).run(tenant, now).await.unwrap()
}

async fn reports(store: &Arc<EmbeddedStore>, tenant: &TenantId) -> Value {
    let mut out = BTreeMap::new();
    for window in ["24h", "7d", "30d"] {
        let report = analytics(store).report(tenant, window).await.unwrap();
        let mut report = serde_json::to_value(report).unwrap();
        report.as_object_mut().unwrap().remove("computed_at");
        out.insert(window, report);
    }
    serde_json::to_value(out).unwrap()
}

/// Replaces every stored digest by the one the previous code wrote (format 3, with
/// the type names in it), folded from the person's Tape with the job's settings.
async fn write_format_3(store: &Arc<EmbeddedStore>, tenant: &TenantId, now: DateTime<Utc>) {
    let job = analytics(store);
    let (settings, funnels) = (job.settings(tenant).await.unwrap(), Vec::new());
    let basis = basis(&settings, &funnels);
    let digests = keys::digests(tenant);
    let stored = store.list(&digests).await.unwrap();
    assert_eq!(stored.len(), PERSONS);
    for (sk, doc) in stored {
        assert!(doc.body.starts_with(r#"{"v":4,"#), "{}", doc.body);
        let person = PersonId::parse(&sk).unwrap();
        let mut fold = PersonFold::new(&settings, &funnels, now);
        let mut after = None;
        loop {
            let page = store
                .steps(tenant, &person, fold.read_from(), after)
                .await
                .unwrap();
            for step in &page.steps {
                let (time, ty) = (step.time, step.ty.as_str());
                fold.push(Step { time, ty });
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let body = body_of(fold.finish_stored(&basis, None).bytes());
        assert!(body.starts_with(r#"{"v":3,"#));
        let put = store.put(&digests, &sk, &body, Expect::Anything).await;
        assert!(put.unwrap());
    }
}

#[test]
fn format_3_digests_read_with_or_without_the_dictionary() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let tenant = TenantId::parse("acme").unwrap();
        let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
        let entries: Vec<TapeEntry> = (0..600)
            .map(|n| {
                // None at `now` itself: such a digest would hold no longer than now.
                let minutes = 1 + ((n * 53) % (35 * 24 * 60)) as i64;
                entry(&tenant, n % PERSONS, now - Duration::minutes(minutes), n)
            })
            .collect();
        store.append_batch(&entries).await;
        let first = run(&store, &tenant, now).await;
        assert!(first.full);
        let figures = reports(&store, &tenant).await;
        assert!(figures["30d"]["events"].as_u64().unwrap() > 400);
        let pk = keys::analytics(&tenant);
        let dictionary = store.get(&pk, keys::TYPES).await.unwrap().unwrap();
        assert!(dictionary.body.contains("\"view\""), "{}", dictionary.body);

        // A store as the previous code left it: format-3 digests, no dictionary. The
        // next run recomputes every person, to the same figures.
        write_format_3(&store, &tenant, now).await;
        store.delete(&pk, keys::TYPES).await.unwrap();
        let migrated = run(&store, &tenant, now).await;
        assert!(migrated.full, "no dictionary: every digest recomputed");
        assert_eq!(migrated.persons_refreshed, PERSONS as u64);
        assert_eq!(reports(&store, &tenant).await, figures);
        assert!(store.get(&pk, keys::TYPES).await.unwrap().is_some());

        // The dictionary gone under format-4 digests: recomputed, never misread.
        let stored = store.list(&keys::digests(&tenant)).await.unwrap();
        assert!(stored.iter().all(|(_, d)| d.body.starts_with(r#"{"v":4,"#)));
        store.delete(&pk, keys::TYPES).await.unwrap();
        let again = run(&store, &tenant, now).await;
        assert!(again.full);
        assert_eq!(reports(&store, &tenant).await, figures);

        // Format-3 digests beside the dictionary (an older job still writing during
        // an upgrade) are read, not recomputed.
        write_format_3(&store, &tenant, now).await;
        let mixed = run(&store, &tenant, now).await;
        assert!(!mixed.full);
        assert_eq!(mixed.persons_refreshed, 0, "format 3 read as it is");
        assert_eq!(mixed.persons, first.persons);
        assert_eq!(reports(&store, &tenant).await, figures);
    });
}
