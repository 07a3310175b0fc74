//! Benchmark (a): ingest validation plus encoding of a typical 1 KiB CloudEvent, against
//! plain serde_json parse plus serialize of the same bytes (the baseline).
//!
//! cargo bench -p cjaas-core --bench ingest_validation

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

use cjaas_core::auth::SigningKeys;
use cjaas_core::envelope::{stamped_record, stamped_records};
use cjaas_core::event::{parse_batch, parse_structured};
use cjaas_core::ids::TenantId;

/// A realistic web event of about 1 KiB.
fn typical_event(i: usize) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "id": format!("0b9f6a1e-4d2c-4f8a-9b1e-{i:012}"),
        "source": "https://shop.example.com/web/checkout",
        "type": "com.example.checkout.step.viewed",
        "person": "customer-8d2f61c4@example.com",
        "time": "2026-11-23T10:15:30.123456Z",
        "subject": "checkout/step/payment",
        "datacontenttype": "application/json",
        "channel": "web",
        "data": {
            "path": "/checkout/payment",
            "referrer": "https://shop.example.com/checkout/shipping?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday-2026",
            "session": "s-5f0c1a9e7b3d4c2a",
            "device": {"kind": "mobile", "os": "iOS 19.1", "browser": "Safari", "screen": "1179x2556"},
            "cart": {"items": 3, "value": 184.97, "currency": "EUR", "skus": ["PRO-PLAN-12M", "ADDON-SEATS-5", "SUPPORT-GOLD"]},
            "geo": {"country": "DE", "region": "BE", "city": "Berlin"},
            "experiment": {"id": "exp-checkout-one-page", "variant": "B"},
            "consent": {"analytics": true, "marketing": false},
            "latency_ms": 182,
            "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 19_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.1 Mobile/15E148 Safari/604.1"
        }
    })
}

fn single_event(c: &mut Criterion) {
    let bytes = serde_json::to_vec(&typical_event(0)).unwrap();
    let keys = SigningKeys::generate("bench");
    let tenant = TenantId::parse("acme").unwrap();
    let now = Utc::now();
    let mut group = c.benchmark_group(format!("ingest_one_event_{}_bytes", bytes.len()));
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline_serde_json_parse_serialize", |b| {
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_slice(black_box(&bytes)).unwrap();
            black_box(serde_json::to_vec(&value).unwrap())
        })
    });
    group.bench_function("cjaas_validate_and_encode", |b| {
        b.iter(|| {
            let event = parse_structured(black_box(&bytes), now).unwrap();
            black_box(stamped_record(&keys, &tenant, now, &event))
        })
    });
    group.finish();
}

fn batch_of_500(c: &mut Criterion) {
    let events: Vec<_> = (0..500).map(typical_event).collect();
    let bytes = serde_json::to_vec(&events).unwrap();
    let keys = SigningKeys::generate("bench");
    let tenant = TenantId::parse("acme").unwrap();
    let now = Utc::now();
    let mut group = c.benchmark_group("ingest_batch_500");
    group.throughput(Throughput::Elements(500));
    group.bench_function("baseline_serde_json_parse_serialize", |b| {
        b.iter(|| {
            let values: Vec<serde_json::Value> = serde_json::from_slice(black_box(&bytes)).unwrap();
            black_box(
                values
                    .iter()
                    .map(|v| serde_json::to_vec(v).unwrap())
                    .collect::<Vec<_>>(),
            )
        })
    });
    group.bench_function("cjaas_validate_and_encode", |b| {
        b.iter(|| {
            let valid = parse_batch(black_box(&bytes), now).unwrap();
            black_box(stamped_records(&keys, &tenant, now, &valid))
        })
    });
    group.finish();
}

criterion_group!(benches, single_event, batch_of_500);
criterion_main!(benches);
