//! Benchmark: a rule backtest over 1 million events of 50,000 persons on the embedded
//! default, against a full fold of the same events in the same run (the analytics
//! job's first run, which reads the same lean projection).
//!
//! cargo bench -p cjaas-local --bench backtest_pass -- <dir>
//!
//! Writes the events into `<dir>/store` on first use, then, each in one process:
//! - baseline: the analytics job's full first run;
//! - a backtest of a rule that reads types and times only (over the projection);
//! - a backtest of a rule with a `where` (over the whole entries).
//!
//! Prints one JSON line per measure. CJAAS_BENCH_PERSONS and CJAAS_BENCH_PER_PERSON
//! scale it (defaults 50000 and 20).

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{cpu_seconds, env_or, peak_mib};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use cjaas_app::analytics::Analytics;
use cjaas_app::jobs::{Backtests, InlineBacktest};
use cjaas_app::profiles::{Aliases, Profiles, Views};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, TapeStore};
use cjaas_core::tape::TapeEntry;
use cjaas_local::scheduler::LocalBus;
use cjaas_local::EmbeddedStore;

const TYPES: [&str; 6] = [
    "page.viewed",
    "product.viewed",
    "cart.added",
    "checkout.started",
    "order.paid",
    "chat.started",
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

async fn generate(store: &EmbeddedStore, tenant: &TenantId) -> u64 {
    let (persons, per_person) = (
        env_or("CJAAS_BENCH_PERSONS", 50_000),
        env_or("CJAAS_BENCH_PER_PERSON", 20),
    );
    let mut rng = Lcg(7);
    let (mut batch, mut n) = (Vec::new(), 0u64);
    for p in 0..persons {
        let person = format!("person-{p:06}");
        let mut time = now() - Duration::minutes(60 + rng.next(28 * 24 * 60) as i64);
        for _ in 0..per_person {
            let ty = TYPES[rng.next(TYPES.len() as u64) as usize];
            let id = format!("e{n}");
            let path = format!("/p/{}", rng.next(10));
            let event = json!({"specversion": "1.0", "id": id, "source": "/web", "type": ty,
                               "person": person, "time": time, "data": {"path": path, "total": rng.next(200)}});
            batch.push(TapeEntry {
                tenant: tenant.clone(),
                person: PersonId::parse(&person).unwrap(),
                time,
                received_at: time,
                ty: ty.to_owned(),
                source: "/web".into(),
                id,
                expires_at: None,
                event: event.to_string(),
            });
            n += 1;
            time += Duration::seconds(5 + rng.next(600) as i64);
            if batch.len() == 20_000 {
                store.append_batch(&std::mem::take(&mut batch)).await;
            }
        }
    }
    store.append_batch(&batch).await;
    n
}

async fn backtest(backtests: &Backtests, tenant: &TenantId, name: &str, when: serde_json::Value) {
    let inline: InlineBacktest = serde_json::from_value(json!({
        "rule": {"name": name, "cooldown_seconds": 3600, "when": when,
                 "actions": [{"type": "publish", "name": "x"}]},
        "from": now() - Duration::days(30), "to": now()
    }))
    .unwrap();
    let job = backtests.request_inline(tenant, inline).await.unwrap();
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let job = backtests.run(tenant, &job.id).await.unwrap();
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    let result = job.result.expect("completed");
    let events = job.progress.events_read;
    println!(
        "{}",
        json!({"mode": name, "read": result.read, "events": events, "persons": job.progress.persons_done,
               "firings": result.firings, "wall_s": wall, "cpu_s": cpu,
               "events_per_cpu_s": events as f64 / cpu.max(0.01), "peak_mib": peak_mib()})
    );
}

async fn run(dir: &Path) {
    let tenant = TenantId::parse("bench").unwrap();
    let fresh = !dir.join("store").exists();
    std::fs::create_dir_all(dir).unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.join("store")).unwrap());
    if fresh {
        let n = generate(&store, &tenant).await;
        println!("{}", json!({"mode": "generate", "events": n}));
    }
    let bus = Arc::new(LocalBus::default());
    let analytics = Analytics::new(store.clone(), store.clone(), bus.clone())
        .with_watermark_lag(Duration::zero());
    store
        .delete(
            &cjaas_core::analytics::keys::analytics(&tenant),
            cjaas_core::analytics::keys::JOB,
        )
        .await
        .unwrap();
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let summary = analytics.run(&tenant, now()).await.unwrap();
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    println!(
        "{}",
        json!({"mode": "baseline: analytics full fold", "events": summary.events_read, "wall_s": wall,
               "cpu_s": cpu, "events_per_cpu_s": summary.events_read as f64 / cpu.max(0.01)})
    );
    let aliases = Arc::new(Aliases::new(store.clone()));
    let backtests = Backtests::new(
        store.clone(),
        store.clone(),
        bus,
        Views::new(store.clone()),
        Profiles::new(store.clone(), store.clone(), aliases),
    );
    backtest(&backtests, &tenant, "backtest: types only (projection)",
        json!({"all": [{"event": {"type": "cart.added"}},
                       {"not": {"count": {"of": {"type": "order.paid"}, "at_least": 1, "within": "1d"}}},
                       {"count": {"of": {"type": "page.viewed"}, "at_least": 2, "within": "30m"}}]})).await;
    backtest(&backtests, &tenant, "backtest: a where (entries)",
        json!({"all": [{"event": {"type": "page.viewed", "where": {"field": "/data/path", "op": "eq", "value": "/p/3"}}},
                       {"count": {"of": {"type": "page.viewed"}, "at_least": 2, "within": "30m"}}]})).await;
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = PathBuf::from(
        args.first()
            .cloned()
            .unwrap_or_else(|| "/tmp/cjaas-backtest-bench".into()),
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(&dir));
}
