//! Benchmark: the archive. (a) Throughput of archiving, in events per second per core
//! (CPU time), and compressed bytes per event, against a baseline measured in the same
//! run: writing the same events as plain NDJSON without compression. (b) The time to
//! erase one person out of 1 million archived events, against a baseline of reading
//! and decoding the whole archive once (what an erasure without person lists costs).
//!
//! cargo bench -p cjaas-local --bench archive_pass
//! (CJAAS_BENCH_PERSONS and CJAAS_BENCH_PER_PERSON scale it; defaults 50000 and 20.)

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{cpu_seconds, env_or};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

use cjaas_app::erasure::{Erasures, Stores};
use cjaas_core::archive::{self, ArchivedEvent, DATA_PREFIX};
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::Archive;
use cjaas_core::tape::TapeEntry;
use cjaas_local::scheduler::LocalBus;
use cjaas_local::{DirArchive, EmbeddedStore};

/// A batch as the stream hands it to the archiver.
const BATCH: usize = 500;

/// 1 million web events of 50,000 persons, interleaved in time as a stream carries
/// them: about 600 bytes each, like the ingest benchmark's typical event.
fn entries() -> Vec<TapeEntry> {
    let (persons, per_person) = (
        env_or("CJAAS_BENCH_PERSONS", 50_000),
        env_or("CJAAS_BENCH_PER_PERSON", 20),
    );
    let tenant = TenantId::parse("bench").unwrap();
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let total = persons * per_person;
    (0..total)
        .map(|n| {
            let person = format!("person-{:06}", (n * 7919) % persons);
            let time = start + Duration::milliseconds((n * 2_000) as i64);
            let id = format!("evt-{n:08}");
            let event = json!({"specversion": "1.0", "id": id, "source": "https://shop.example.com/web",
                "type": "com.example.page.viewed", "person": person, "time": time,
                "datacontenttype": "application/json",
                "data": {"path": format!("/products/{}", n % 500), "referrer": "https://search.example.org/?q=running+shoes",
                         "device": "mobile", "session": format!("s-{}", n / 40), "campaign": "winter-sale"}});
            TapeEntry {
                tenant: tenant.clone(),
                person: PersonId::parse(&person).unwrap(),
                time,
                received_at: time,
                ty: "com.example.page.viewed".into(),
                source: "https://shop.example.com/web".into(),
                id,
                expires_at: None,
                event: event.to_string(),
            }
        })
        .collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let entries = entries();
    let n = entries.len() as f64;

    // (a) Baseline: the same events as plain NDJSON, no compression.
    let (cpu, mut raw_bytes) = (cpu_seconds(), 0usize);
    for batch in entries.chunks(BATCH) {
        let mut out = Vec::new();
        for entry in batch {
            serde_json::to_writer(&mut out, &ArchivedEvent::from(entry)).unwrap();
            out.push(b'\n');
        }
        raw_bytes += std::hint::black_box(out).len();
    }
    let baseline_cpu = cpu_seconds() - cpu;

    // (a) The archive's objects: partitioned, gzip NDJSON, with person lists.
    let (cpu, mut gz_bytes, mut list_bytes) = (cpu_seconds(), 0usize, 0usize);
    let mut objects = Vec::new();
    for (i, batch) in entries.chunks(BATCH).enumerate() {
        for object in archive::objects(&format!("shard-{i:06}"), batch) {
            gz_bytes += object.data.len();
            list_bytes += object.persons.len();
            objects.push(object);
        }
    }
    let archive_cpu = cpu_seconds() - cpu;
    println!(
        "{}",
        json!({"bench": "archive", "events": n, "objects": objects.len(),
            "baseline_events_per_cpu_s": n / baseline_cpu.max(0.01), "archive_events_per_cpu_s": n / archive_cpu.max(0.01),
            "ratio": baseline_cpu / archive_cpu.max(0.01),
            "raw_bytes_per_event": raw_bytes as f64 / n, "gzip_bytes_per_event": gz_bytes as f64 / n,
            "person_list_bytes_per_event": list_bytes as f64 / n})
    );

    // (b) One person out of the whole archive, on disk.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let files = Arc::new(DirArchive::new(dir.path().join("archive")));
    runtime.block_on(async {
        for object in objects {
            files.put(&object.data_key, object.data).await.unwrap();
            files
                .put(&object.persons_key, object.persons)
                .await
                .unwrap();
        }
        let tenant = TenantId::parse("bench").unwrap();
        let wall = Instant::now();
        let mut scanned = 0;
        for key in files
            .list(&archive::tenant_prefix(DATA_PREFIX, &tenant))
            .await
            .unwrap()
        {
            scanned += archive::decode(&files.get(&key).await.unwrap().unwrap())
                .unwrap()
                .len();
        }
        let scan_s = wall.elapsed().as_secs_f64();
        let erasures = Erasures::new(Stores {
            tape: store.clone(),
            docs: store.clone(),
            dead_letters: store.clone(),
            archive: files.clone(),
            bus: Arc::new(LocalBus::default()),
            // The archive's part only: the database rewrite is not what this measures.
            log: None,
        });
        let person = PersonId::parse("person-001234").unwrap();
        let job = erasures.request(&tenant, &person, "bench").await.unwrap();
        let wall = Instant::now();
        let done = erasures.run(&tenant, &job.id).await.unwrap();
        let erase_s = wall.elapsed().as_secs_f64();
        println!(
            "{}",
            json!({"bench": "erase_one_person", "archived_events": scanned, "erase_s": erase_s,
                "archive_events_removed": done.removed.archive_events,
                "objects_rewritten": done.removed.archive_objects_rewritten,
                "objects_deleted": done.removed.archive_objects_deleted,
                "baseline_full_scan_s": scan_s, "ratio": erase_s / scan_s})
        );
    });
}
