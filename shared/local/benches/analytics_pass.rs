//! Benchmark: the full journey analytics pass over 1 million synthetic events of
//! 50,000 persons, in events per second per core (CPU time, not wall time) and peak
//! memory. Run by `scripts/bench-analytics`, which also times DuckDB computing the
//! same transitions and exit counts over the same events, in the same run.
//!
//! cargo bench -p cjaas-local --bench analytics_pass -- <mode> <dir>
//!   generate  writes <dir>/events.csv (person, t_ms, type; by person and time) and
//!             loads the same events into an embedded store in <dir>/store
//!   fold      streams events.csv one person at a time through the analytics fold
//!   job       runs the real analytics job (a full first run) on <dir>/store, which
//!             reads the Tape's lean projection
//!   job-full  the same first run over the full entries (the projection dropped, as
//!             before its backfill), then the backfill
//! Each mode prints one JSON line. CJAAS_BENCH_PERSONS and CJAAS_BENCH_PER_PERSON scale
//! it (defaults 50000 and 20); CJAAS_CACHE_MIB sets the job's store cache, as for the
//! server.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{cpu_seconds, env_or, peak_mib};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use cjaas_app::analytics::Analytics;
use cjaas_core::analytics::{basis, windows_at, AnalyticsSettings, PersonFold, Step, Tally};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{DocumentStore, TapeStore};
use cjaas_core::tape::TapeEntry;
use cjaas_local::scheduler::LocalBus;
use cjaas_local::EmbeddedStore;

const TYPES: [&str; 12] = [
    "page.viewed",
    "product.viewed",
    "search.done",
    "cart.added",
    "cart.removed",
    "checkout.started",
    "order.paid",
    "email.opened",
    "chat.started",
    "chat.ended",
    "survey.answered",
    "call.ended",
];
/// The session gap the DuckDB side uses too.
pub const GAP_MS: i64 = 30 * 60 * 1000;

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

/// The bench's fixed clock, so every mode sees the same windows.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

/// (person, time, type) in person and time order: sessions of steps seconds to
/// minutes apart, broken by gaps of up to 6 hours, over the last 30 days.
fn events() -> impl Iterator<Item = (String, DateTime<Utc>, &'static str)> {
    let (persons, per_person) = (
        env_or("CJAAS_BENCH_PERSONS", 50_000),
        env_or("CJAAS_BENCH_PER_PERSON", 20),
    );
    let mut rng = Lcg(42);
    (0..persons).flat_map(move |p| {
        // Starts 5 to 29 days ago; 20 steps never reach the present.
        let mut time = now() - Duration::minutes(5 * 24 * 60 + rng.next(24 * 24 * 60) as i64);
        let mut ty = rng.next(12) as usize;
        let steps: Vec<_> = (0..per_person)
            .map(|_| {
                // A journey mostly moves forward through the types, sometimes jumps.
                ty = if rng.next(4) == 0 {
                    rng.next(12) as usize
                } else {
                    (ty + 1) % 12
                };
                let step = (format!("person-{p:06}"), time, TYPES[ty]);
                time += if rng.next(5) == 0 {
                    Duration::minutes(40 + rng.next(300) as i64)
                } else {
                    Duration::seconds(5 + rng.next(400) as i64)
                };
                step
            })
            .collect();
        steps.into_iter().filter(|(_, t, _)| *t < now())
    })
}

fn entry(tenant: &TenantId, person: &str, time: DateTime<Utc>, ty: &str, n: u64) -> TapeEntry {
    let id = format!("e{n}");
    let event = json!({"specversion": "1.0", "id": id, "source": "/bench", "type": ty,
                       "person": person, "time": time, "data": {"path": "/p"}});
    TapeEntry {
        tenant: tenant.clone(),
        person: PersonId::parse(person).unwrap(),
        time,
        received_at: time,
        ty: ty.to_owned(),
        source: "/bench".into(),
        id,
        expires_at: None,
        event: event.to_string(),
    }
}

async fn generate(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut csv = BufWriter::new(std::fs::File::create(dir.join("events.csv")).unwrap());
    writeln!(csv, "person,t,type").unwrap();
    let store = EmbeddedStore::open(&dir.join("store")).unwrap();
    let tenant = TenantId::parse("bench").unwrap();
    let mut batch = Vec::new();
    let mut n = 0;
    for (person, time, ty) in events() {
        writeln!(csv, "{person},{},{ty}", time.timestamp_millis()).unwrap();
        batch.push(entry(&tenant, &person, time, ty, n));
        n += 1;
        if batch.len() == 20_000 {
            store.append_batch(&std::mem::take(&mut batch)).await;
        }
    }
    store.append_batch(&batch).await;
    csv.flush().unwrap();
    println!("{}", json!({"mode": "generate", "events": n}));
}

/// The analytics fold alone, streaming the CSV one person at a time.
fn fold(dir: &Path) {
    let settings = AnalyticsSettings::default();
    let (funnels, now) = (Vec::new(), now());
    let basis = basis(&settings, &funnels);
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let reader = std::io::BufReader::new(std::fs::File::open(dir.join("events.csv")).unwrap());
    let mut sums: BTreeMap<String, Tally> = BTreeMap::new();
    let mut current: Option<(String, PersonFold)> = None;
    let mut events = 0u64;
    let finish = |person: Option<(String, PersonFold)>, sums: &mut BTreeMap<String, Tally>| {
        if let Some((_, fold)) = person {
            for (window, tally) in fold.finish(basis.clone()).windows {
                sums.entry(window).or_default().add(&tally);
            }
        }
    };
    for line in reader.lines().skip(1) {
        let line = line.unwrap();
        let mut fields = line.split(',');
        let (person, t, ty) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        let time = DateTime::from_timestamp_millis(t.parse().unwrap()).unwrap();
        if current.as_ref().is_none_or(|(p, _)| p != person) {
            finish(current.take(), &mut sums);
            current = Some((person.to_owned(), PersonFold::new(&settings, &funnels, now)));
        }
        current.as_mut().unwrap().1.push(Step { time, ty });
        events += 1;
    }
    finish(current.take(), &mut sums);
    let thirty = windows_at(&settings, now)
        .into_iter()
        .find(|w| w.name == "30d")
        .unwrap();
    let report = sums
        .remove("30d")
        .unwrap_or_default()
        .report(&thirty, &settings, &[], now);
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    let transitions: u64 = report.transitions.iter().map(|t| t.count).sum();
    let exits: u64 = report.exit_points.iter().map(|p| p.sessions).sum();
    println!(
        "{}",
        json!({"mode": "fold", "events": events, "wall_s": wall, "cpu_s": cpu,
        "events_per_cpu_s": events as f64 / cpu.max(0.01), "peak_mib": peak_mib(),
        "transitions_30d": transitions, "exits_30d": exits, "sessions_30d": report.sessions})
    );
}

/// The real job: a full first run on the embedded store, as the local timer runs it.
async fn job(dir: &Path) {
    let cache_mib = env_or("CJAAS_CACHE_MIB", cjaas_local::DEFAULT_CACHE_MIB as u64) as usize;
    let store =
        Arc::new(EmbeddedStore::open_with_cache(&dir.join("store"), cache_mib << 20).unwrap());
    // One process, one clock: the rerun needs no watermark lag to skip old writes.
    let analytics = Analytics::new(store.clone(), store.clone(), Arc::new(LocalBus::default()))
        .with_watermark_lag(Duration::zero());
    let tenant = TenantId::parse("bench").unwrap();
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let summary = analytics.run(&tenant, now()).await.unwrap();
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    let report = analytics.report(&tenant, "30d").await.unwrap();
    let transitions: u64 = report.transitions.iter().map(|t| t.count).sum();
    // A second run with nothing new: the incremental case.
    let (cpu2, wall2) = (cpu_seconds(), Instant::now());
    let again = analytics.run(&tenant, now()).await.unwrap();
    let (cpu2, wall2) = (cpu_seconds() - cpu2, wall2.elapsed().as_secs_f64());
    println!(
        "{}",
        json!({"mode": "job", "events": summary.events_read, "persons": summary.persons,
        "wall_s": wall, "cpu_s": cpu, "events_per_cpu_s": summary.events_read as f64 / cpu.max(0.01),
        "peak_mib": peak_mib(), "transitions_30d": transitions, "sessions_30d": report.sessions,
        "rerun_wall_s": wall2, "rerun_cpu_s": cpu2, "rerun_events_read": again.events_read})
    );
}

/// The same first run over the full entries, as a store written before the
/// projection reads until its backfill: the projection is dropped and the job state
/// forgotten, so every person is read again. Then the backfill, timed too. Destroys
/// the projection of `<dir>/store` (the backfill puts it back).
async fn job_full(dir: &Path) {
    let store = Arc::new(EmbeddedStore::open(&dir.join("store")).unwrap());
    let analytics = Analytics::new(store.clone(), store.clone(), Arc::new(LocalBus::default()))
        .with_watermark_lag(Duration::zero());
    let tenant = TenantId::parse("bench").unwrap();
    store.drop_steps_for_migration_test().await.unwrap();
    let job = cjaas_core::analytics::keys::analytics(&tenant);
    store
        .delete(&job, cjaas_core::analytics::keys::JOB)
        .await
        .unwrap();
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    let summary = analytics.run(&tenant, now()).await.unwrap();
    let (cpu, wall) = (cpu_seconds() - cpu, wall.elapsed().as_secs_f64());
    let peak = peak_mib();
    let report = analytics.report(&tenant, "30d").await.unwrap();
    let transitions: u64 = report.transitions.iter().map(|t| t.count).sum();
    let (bcpu, bwall) = (cpu_seconds(), Instant::now());
    let written = store.backfill_steps().await.unwrap();
    let (bcpu, bwall) = (cpu_seconds() - bcpu, bwall.elapsed().as_secs_f64());
    println!(
        "{}",
        json!({"mode": "job-full", "events": summary.events_read, "full": summary.full,
        "wall_s": wall, "cpu_s": cpu, "events_per_cpu_s": summary.events_read as f64 / cpu.max(0.01),
        "peak_mib": peak, "transitions_30d": transitions, "sessions_30d": report.sessions,
        "backfill_written": written, "backfill_cpu_s": bcpu, "backfill_wall_s": bwall})
    );
}

fn main() {
    // `cargo bench` passes `--bench`; the mode and directory follow `--`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mode = args.first().map(String::as_str).unwrap_or("fold");
    let dir = PathBuf::from(
        args.get(1)
            .cloned()
            .unwrap_or_else(|| "target/analytics-bench".into()),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match mode {
        "generate" => runtime.block_on(generate(&dir)),
        "fold" => fold(&dir),
        "job" => runtime.block_on(job(&dir)),
        "job-full" => runtime.block_on(job_full(&dir)),
        other => panic!("unknown mode {other}: generate, fold, job or job-full"),
    }
}
