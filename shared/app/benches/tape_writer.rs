//! Benchmark (b): Tape writer CPU per event for a 500-record Kinesis batch.
//!
//! - `baseline_serde_json_parse_serialize`: parse and re-serialize the 500 records.
//! - `writer_cpu_only`: the writer's own work (decode, stamp check, validation, entry
//!   encoding) with a Tape that keeps nothing, to isolate CPU from storage.
//! - `writer_on_embedded_store`: the same batch onto the real embedded store (redb,
//!   one transaction and fsync per batch), fresh events every iteration.
//!
//! cargo bench -p cjaas-app --bench tape_writer
//! (with `CJAAS_BENCH_COUNT`, see `count_only`, for callgrind.)

use async_trait::async_trait;
use chrono::Utc;
use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;

use cjaas_app::auth::Authenticator;
use cjaas_app::writer::{InputRecord, RecordOutcome, TapeWriter};
use cjaas_core::auth::SigningKeys;
use cjaas_core::envelope::stamped_record;
use cjaas_core::event::parse_structured;
use cjaas_core::ids::{PersonId, TenantId};
use cjaas_core::ports::{AppendOutcome, StoreError, TapeStore};
use cjaas_core::tape::{JourneyPage, JourneyQuery, TapeEntry};
use cjaas_local::EmbeddedStore;

/// Accepts every entry and keeps nothing: isolates the writer's CPU from storage.
struct DiscardTape;

#[async_trait]
impl TapeStore for DiscardTape {
    async fn append_batch(&self, entries: &[TapeEntry]) -> Vec<Result<AppendOutcome, StoreError>> {
        entries
            .iter()
            .map(|e| {
                black_box(e);
                Ok(AppendOutcome::Appended)
            })
            .collect()
    }
    async fn count(&self, _: &TenantId, _: &PersonId) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn query(
        &self,
        _: &TenantId,
        _: &PersonId,
        _: &JourneyQuery,
    ) -> Result<JourneyPage, StoreError> {
        Ok(JourneyPage::default())
    }
    async fn changed_since(
        &self,
        _: &TenantId,
        _: Option<chrono::DateTime<Utc>>,
    ) -> Result<Vec<PersonId>, StoreError> {
        Ok(Vec::new())
    }
    async fn erase(&self, _: &TenantId, _: &PersonId) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn holds(&self, _: &TapeEntry) -> Result<bool, StoreError> {
        Ok(true)
    }
}

fn records(keys: &SigningKeys, batch: usize) -> Vec<InputRecord> {
    let tenant = TenantId::parse("acme").unwrap();
    let now = Utc::now();
    (0..500)
        .map(|i| {
            let body = serde_json::json!({
                "specversion": "1.0", "id": format!("b{batch}-e{i}"), "source": "https://shop.example.com/web",
                "type": "com.example.page.viewed", "person": format!("customer-{}", i % 50),
                "time": "2026-11-23T10:15:30.123456Z",
                "data": {"path": "/pricing", "referrer": "https://search.example.org/?q=customer+journey", "device": "mobile",
                         "cart": {"items": 3, "value": 184.97, "currency": "EUR"}, "padding": "x".repeat(600)}
            });
            let event = parse_structured(&serde_json::to_vec(&body).unwrap(), now).unwrap();
            InputRecord {
                origin: format!("shardId-000000000000:{batch:08}{i:04}"),
                data: stamped_record(keys, &tenant, now, &event).data,
                arrived_at: now,
            }
        })
        .collect()
}

/// The baseline: a serde_json parse and serialize of every record.
fn baseline(batch: &[InputRecord]) {
    for record in black_box(batch) {
        let value: serde_json::Value = serde_json::from_slice(&record.data).unwrap();
        black_box(serde_json::to_string(&value).unwrap());
    }
}

fn tape_writer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let keys = SigningKeys::generate("bench");
    let auth = Arc::new(Authenticator::new(Arc::new(store.clone()), keys.clone()));
    let cpu_only = TapeWriter::new(
        Arc::new(DiscardTape),
        Arc::new(store.clone()),
        auth.clone(),
        keys.clone(),
    );
    let on_store = TapeWriter::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        auth,
        keys.clone(),
    );
    let batch = records(&keys, 0);

    let mut group = c.benchmark_group("tape_writer_batch_500");
    group.throughput(Throughput::Elements(500));
    group.bench_function("baseline_serde_json_parse_serialize", |b| {
        b.iter(|| baseline(&batch))
    });
    group.bench_function("writer_cpu_only", |b| {
        b.iter(|| {
            let report = runtime.block_on(cpu_only.write_batch(black_box(&batch)));
            assert_eq!(report.count(RecordOutcome::Appended), 500);
        })
    });
    let mut n = 0;
    group.sample_size(20);
    group.bench_function("writer_on_embedded_store", |b| {
        b.iter_batched(
            || {
                n += 1;
                records(&keys, n)
            },
            |fresh| {
                let report = runtime.block_on(on_store.write_batch(&fresh));
                assert_eq!(report.count(RecordOutcome::Appended), 500);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// `CJAAS_BENCH_COUNT=baseline:N` or `writer:N` runs N batches of that variant and
/// nothing else, for an instruction count under callgrind (load-independent): the
/// difference between N and 0 batches, per record, is each variant's cost.
fn count_only(spec: &str) {
    let (variant, n) = spec.split_once(':').expect("variant:count");
    let n: usize = n.parse().expect("a count");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let keys = SigningKeys::generate("bench");
    let auth = Arc::new(Authenticator::new(Arc::new(store.clone()), keys.clone()));
    let writer = TapeWriter::new(Arc::new(DiscardTape), Arc::new(store), auth, keys.clone());
    let batch = records(&keys, 0);
    for _ in 0..n {
        match variant {
            "baseline" => baseline(&batch),
            "writer" => {
                let report = runtime.block_on(writer.write_batch(black_box(&batch)));
                assert_eq!(report.count(RecordOutcome::Appended), 500);
            }
            other => panic!("unknown variant {other}"),
        }
    }
}

criterion_group!(benches, tape_writer);

fn main() {
    match std::env::var("CJAAS_BENCH_COUNT") {
        Ok(spec) => count_only(&spec),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
