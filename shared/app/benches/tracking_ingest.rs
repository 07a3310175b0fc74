//! Messages per second through `POST /v1/batch` (Segment) against `POST /v1/events`
//! (CloudEvents) for the same 100 events per request, in one run: the full axum
//! routes (bearer check, body read, mapping and validation, stamping), with a stream
//! that keeps nothing, to isolate the API's CPU from Kinesis or redb.
//!
//! cargo bench -p cjaas-app --bench tracking_ingest

use async_trait::async_trait;
use axum::body::Body;
use axum::Router;
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use std::hint::black_box;
use std::sync::Arc;
use tower::ServiceExt;

use cjaas_app::auth::Authenticator;
use cjaas_app::browser::BrowserGuard;
use cjaas_app::http::{browser_routes, ingest_routes, require_bearer};
use cjaas_app::ingest::{Ingestor, RetryPolicy};
use cjaas_app::profiles::Aliases;
use cjaas_app::tracking::Tracking;
use cjaas_core::auth::{Scope, SigningKeys};
use cjaas_core::envelope::StreamRecord;
use cjaas_core::ids::TenantId;
use cjaas_core::ports::{EventStream, StoreError};
use cjaas_local::EmbeddedStore;

const EVENTS: usize = 100;

/// Accepts every record and keeps nothing.
struct DiscardStream;

#[async_trait]
impl EventStream for DiscardStream {
    async fn put_records(&self, records: &[StreamRecord]) -> Result<Vec<usize>, StoreError> {
        black_box(records);
        Ok(Vec::new())
    }
}

fn properties(i: usize) -> Value {
    json!({"sku": format!("SKU-{i}"), "price": 49.0, "currency": "EUR", "path": "/pricing",
           "referrer": "https://search.example.org/?q=customer+journey"})
}

fn segment_batch() -> String {
    let messages: Vec<Value> = (0..EVENTS)
        .map(|i| json!({"type": "track", "event": "Product Viewed", "userId": format!("customer-{}", i % 10),
                        "messageId": format!("m-{i}"), "timestamp": "2026-11-23T10:15:30.123Z",
                        "properties": properties(i)}))
        .collect();
    json!({"batch": messages, "sentAt": "2026-11-23T10:15:31Z"}).to_string()
}

fn cloudevents_batch() -> String {
    let events: Vec<Value> = (0..EVENTS)
        .map(|i| json!({"specversion": "1.0", "id": format!("m-{i}"), "source": "segment", "type": "Product Viewed",
                        "person": format!("customer-{}", i % 10), "time": "2026-11-23T10:15:30.123Z",
                        "datacontenttype": "application/json", "data": properties(i)}))
        .collect();
    Value::Array(events).to_string()
}

fn router(store: &EmbeddedStore, keys: &SigningKeys) -> Router {
    let shared = Arc::new(store.clone());
    let auth = Arc::new(Authenticator::new(shared.clone(), keys.clone()));
    let ingestor = Arc::new(Ingestor::new(
        Arc::new(DiscardStream),
        keys.clone(),
        RetryPolicy::default(),
    ));
    let tracking = Arc::new(Tracking::new(
        auth.clone(),
        ingestor.clone(),
        Arc::new(Aliases::new(shared.clone())),
        Arc::new(BrowserGuard::new(shared)),
    ));
    browser_routes(
        ingest_routes(ingestor),
        |events| require_bearer(events, auth),
        tracking,
    )
}

fn request(path: &str, content_type: &str, token: &str, body: &str) -> http::Request<Body> {
    http::Request::post(path)
        .header("content-type", content_type)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn tracking_ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let keys = SigningKeys::generate("bench");
    let tenant = TenantId::parse("acme").unwrap();
    let (token, _) = keys.sign_token(
        &tenant,
        &[Scope::EventsWrite],
        chrono::Duration::hours(1),
        Utc::now(),
    );
    let app = router(&store, &keys);
    let (segment, cloudevents) = (segment_batch(), cloudevents_batch());

    let mut group = c.benchmark_group("ingest_100_events_per_request");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("segment_v1_batch", |b| {
        b.iter(|| {
            let req = request("/v1/batch", "application/json", &token, &segment);
            let response = runtime.block_on(app.clone().oneshot(req)).unwrap();
            assert_eq!(response.status(), 200);
        })
    });
    group.bench_function("cloudevents_v1_events", |b| {
        b.iter(|| {
            let req = request(
                "/v1/events",
                "application/cloudevents-batch+json",
                &token,
                &cloudevents,
            );
            let response = runtime.block_on(app.clone().oneshot(req)).unwrap();
            assert_eq!(response.status(), 202);
        })
    });
    group.finish();
}

criterion_group!(benches, tracking_ingest);
criterion_main!(benches);
